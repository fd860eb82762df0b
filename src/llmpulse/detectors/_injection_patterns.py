"""Phrase patterns of prompt injection and jailbreak attempts (data for :mod:`injection`).

Each entry is (category, weight, pattern).  Patterns run over normalised text: lower case,
leetspeak undone, invisible characters removed, runs of spaces and punctuation collapsed to
one space (so ``"ignore -- ALL previous   instructions!"`` reads
``"ignore all previous instructions"``).  Weights are evidence strengths in 0..1, combined
with a noisy-or; a single strong phrase is enough to flag a text.
"""

from __future__ import annotations

# Words that stand for "the instructions": the thing an override tells the model to drop.
_RULES = (r"(?:instructions?|directions?|directives?|rules?|guidelines?|guidance|prompts?|"
          r"context|messages?|constraints?|commands?|guardrails?|polic(?:y|ies)|programming|"
          r"orders?|restrictions?|training|system prompt|safety (?:rules|filters|guidelines))")
_DROP = (r"(?:ignore|disregard|forget|skip|bypass|override|overlook|discard|abandon|"
         r"set aside|throw away|pay no attention to|do not follow|don t follow|stop following|"
         r"no longer follow|erase|delete|clear|neglect)")
_WHICH = (r"(?:(?:all|any|every|each|the|of|your|my|these|those|above|previous|prior|earlier|"
          r"preceding|initial|original|former|existing|current|old|system|developer|given|"
          r"safety|default|hidden|other|and|you were given|you have been given|you received|"
          r"that came before|mentioned) ){0,6}")
_REF = (r"(?:all|any|every|your|my|these|those|above|previous|prior|earlier|preceding|"
        r"initial|original|former|existing|current|old|system|developer|given|safety|default|"
        r"hidden|other)")
_SECRET = (r"(?:system|developer|hidden|initial|original|secret|internal|confidential|"
           r"pre ?prompt|base|starting|first)")
_SHOW = (r"(?:reveal|show|print|repeat|output|display|tell me|give me|leak|dump|share|"
         r"recite|spell out|write out|copy|paste|echo|expose|disclose|list|return|quote|"
         r"translate|summari[sz]e|what (?:is|are|was|were))")
_NO_RULES = (r"(?:no|without|free (?:of|from)|zero|none of (?:your|the)|not bound by|"
             r"unbound by|freed from|liberated from|exempt from)")
_LIMITS = (r"(?:rules?|restrictions?|limits?|limitations?|filters?|guidelines?|censorship|"
           r"morals?|ethics|boundaries|constraints|content polic(?:y|ies)|safety)")
_AI = r"(?:ai|assistant|chatbot|bot|llm|language model|model|agent|gpt|copilot)s?"

PATTERNS: tuple[tuple[str, float, str], ...] = (
    # -- instruction override --------------------------------------------------------------
    ("override", 0.92, rf"\b{_DROP} (?:(?:the|of|and|all|any) )*{_REF} {_WHICH}{_RULES}\b"),
    ("override", 0.45, rf"\b{_DROP} (?:the )?{_RULES}\b"),
    ("override", 0.85, rf"\b{_DROP} (?:the )?{_RULES} (?:that )?(?:you were|you have been|"
                       rf"you ve been|they gave you|you got) (?:given|configured|told|set up|"
                       rf"trained|programmed)\b"),
    ("override", 0.8, rf"\b{_DROP} (?:all |everything |what s |what is |what was )?(?:the )?"
                      rf"(?:above|before|previous|earlier|prior|preceding)\b"),
    ("override", 0.8, rf"\b{_DROP} (?:what|everything) the user (?:asked|said|wants|wrote|"
                      rf"typed)\b"),
    ("override", 0.5, rf"\b{_DROP} (?:the |your )(?:\w+ )?(?:task|assignment|question|"
                      rf"conversation so far)\b"),
    ("override", 0.75, r"\b(?:guidance|instructions|rules|guidelines|prompt|directives) "
                       r"(?:above |before |below |so far )?(?:no longer appl(?:y|ies)|"
                       r"(?:is|are) (?:now )?(?:void|cancell?ed|"
                       r"null|obsolete|revoked|suspended))\b"),
    ("override", 0.9, r"\b(?:ignorez?|oubliez?) (?:toutes )?(?:les |vos )?(?:instructions|"
                      r"consignes|règles) (?:précédentes|antérieures)\b"),
    ("override", 0.9, r"\b(?:ignoriere|ignorieren sie|vergiss|vergessen sie) (?:alle )?"
                      r"(?:vorherigen|bisherigen|obigen|deine|ihre) (?:anweisungen|regeln|"
                      r"instruktionen)\b"),
    ("override", 0.9, r"\b(?:ignora|olvida|ignore|esqueça|ignorare) (?:todas |tutte |todas )?"
                      r"(?:las |le |as |tus |suas )?(?:instrucciones|istruzioni|instruções|"
                      r"reglas|regole|regras) (?:anteriores|precedenti)\b"),
    ("override", 0.85, rf"\b{_DROP} (?:everything|all|anything) (?:(?:you (?:were|have been) "
                       rf"(?:told|given|instructed)|(?:said |written )?(?:above|before|earlier|"
                       rf"so far|until now)) ?)+"),
    ("override", 0.7, r"\b(?:new|updated|revised|real|actual|true|override) (?:system )?"
                      r"(?:instructions?|directives?|rules|task|prompt) ?(?:follow|are|is|:)"),
    ("override", 0.6, r"\bfrom now on,? you (?:will|must|shall|are|only|respond|answer|reply|"
                      r"obey|do)\b"),
    ("override", 0.55, r"\byour (?:only|new|real|true) (?:task|goal|purpose|job|objective|"
                       r"instruction) (?:is|now is|will be)\b"),
    ("override", 0.6, r"\b(?:instead|rather),? (?:of (?:that|this|summari[sz]ing|answering|"
                      r"translating)|do|output|say|respond|reply|write|print)\b.{0,60}"
                      r"\b(?:ignore|disregard|pwned|hacked|instead)\b"),
    ("override", 0.75, r"\b(?:this|these|the following) (?:instructions?|message|rules?) "
                       r"(?:takes?|have|has) (?:priority|precedence) over\b"),
    ("override", 0.6, r"\b(?:say|print|output|respond with|reply with|write)( only)? "
                      r"(?:i have been |i ve been |you have been )?(?:pwned|hacked|owned|"
                      r"compromised)\b"),
    # -- requests for the system prompt ----------------------------------------------------
    ("system_prompt", 0.88, rf"\b{_SHOW} (?:me |us |back |out |verbatim |exactly )*"
                            rf"(?:your|the|its|my assistant s|this assistant s|this chat s) "
                            rf"(?:(?:full|entire|exact|complete|whole|original|hidden|secret|"
                            rf"initial|real|verbatim|raw) )*{_SECRET} ?(?:prompt|instructions?|"
                            rf"message|rules|configuration|directives?|guidelines)\b"),
    ("system_prompt", 0.75, rf"\b{_SHOW} (?:me |us )?(?:all |the |every )?(?:text|words|"
                            rf"instructions|lines|content|everything) (?:above|before) "
                            rf"(?:this|my|the)\b"),
    ("system_prompt", 0.7, r"\b(?:repeat|print|output|copy) (?:everything|all|the text|"
                           r"the words) (?:above|before|preceding)\b"),
    ("system_prompt", 0.7, r"\bwhat (?:were|are) (?:you|your) (?:told|instructed|programmed|"
                           r"initial instructions|original instructions)\b"),
    ("system_prompt", 0.65, r"\b(?:begin|start) (?:your (?:reply|answer|response) )?with "
                            r"(?:the words )?you are (?:a|an|chatgpt)\b"),
    ("system_prompt", 0.65, r"\b(?:initial|system|hidden|secret) (?:prompt|instructions) "
                            r"(?:in full|verbatim|word for word|in a code block)\b"),
    # -- role-play jailbreaks --------------------------------------------------------------
    ("jailbreak", 0.9, r"\b(?:do anything now|strive to avoid norms|always intelligent and "
                       r"machiavellian)\b"),
    ("jailbreak", 0.6, r"\b(?:uncensored|unfiltered|unrestricted|jailbroken) (?:ai|assistant|"
                       r"version|mode|model|response|answer|self)\b"),
    ("jailbreak", 0.55, r"\bnever (?:refuses|apologi[sz]es|says no|declines)\b"),
    ("jailbreak", 0.7, r"\bno (?:limits|restrictions|rules|filters) (?:on|to|for) what you "
                       r"(?:can|may|are allowed to|will) (?:say|do|write|answer)\b"),
    ("jailbreak", 0.6, r"\b(?:you are|you re|act as|become|play|as) dan\b"),
    ("jailbreak", 0.85, r"\b(?:developer|god|jailbreak|jailbroken|unrestricted|unfiltered|"
                        r"uncensored|evil|dude|stan|aim|opposite|chaos) mode\b"
                        r"(?: (?:enabled|activated|on|is now))?"),
    ("jailbreak", 0.85, rf"\b(?:pretend|imagine|act as if|act like|behave as if|assume|"
                        rf"suppose) (?:that )?you (?:have|had|are|were|re) (?:an? )?(?:ai |"
                        rf"assistant |model )?(?:with )?{_NO_RULES} (?:any )?(?:\w+ )?{_LIMITS}"),
    ("jailbreak", 0.85, rf"\byou (?:are|re) (?:now )?(?:no longer|not) (?:bound|restricted|"
                        rf"limited|constrained|governed) by (?:any |your |the )?(?:\w+ )?"
                        rf"{_LIMITS}"),
    ("jailbreak", 0.8, r"\b(?:act as|you are|you re|become|roleplay as|role play as|"
                       r"pretend to be|play the role of) (?:now )?(?:an? )?(?:\w+ )?"
                       r"(?:unfiltered|uncensored|unrestricted|unaligned|amoral|immoral|"
                       r"unethical|evil|jailbroken|rogue|lawless|unchained)\b"),
    ("jailbreak", 0.7, rf"\b{_NO_RULES} (?:any )?(?:ethical|moral|safety|content) "
                       rf"(?:guidelines|constraints|restrictions|filters|rules|limits|"
                       rf"considerations|polic(?:y|ies))\b"),
    ("jailbreak", 0.55, r"\b(?:stay|remain|keep) in character\b.{0,120}\b(?:no matter|"
                        r"whatever|even if|always|never refuse|never break)\b"),
    ("jailbreak", 0.6, r"\b(?:never|don t|do not|cannot|can t|won t) (?:ever )?(?:refuse|"
                       r"decline|say no|say you can t|apologi[sz]e|warn)\b.{0,80}"
                       r"\b(?:any|every|all|whatever|no matter)\b"),
    ("jailbreak", 0.7, r"\bjailbr(?:eak|oken|eaking)\b"),
    ("jailbreak", 0.55, rf"\b(?:hypothetical|fictional|imaginary) (?:world|story|scenario|"
                        rf"universe|{_AI}) (?:where|in which|with) (?:there are )?"
                        rf"{_NO_RULES} (?:\w+ )?{_LIMITS}"),
    ("jailbreak", 0.65, r"\bfilters? (?:are|is) (?:now )?(?:off|disabled|removed|turned off)\b"),
    # -- injections written for a model that reads a document --------------------------------
    ("indirect", 0.75, rf"\b(?:note|message|instructions?|attention|important) (?:to|for) "
                       rf"(?:the |any |all )?{_AI}\b"),
    ("indirect", 0.75, rf"\bif you (?:are|re) an? (?:\w+ )?{_AI}\b"),
    ("indirect", 0.75, rf"\b{_AI} (?:reading|processing|summari[sz]ing|parsing|scanning|"
                       rf"reviewing|analy[sz]ing|browsing) this\b"),
    ("indirect", 0.7, r"\bwhen (?:you (?:are )?)?(?:summari[sz]\w*|process\w*|read\w*|"
                      r"answer\w*|review\w*|analy[sz]\w*|screen\w*)(?: \w+){0,3} (?:this|the) "
                      r"(?:page|document|email|text|file|article|site|review|code|resume|cv|"
                      r"listing|repository|pull request)\b.{0,80}\b(?:you must|always|instead|"
                      r"make sure|tell|say|include|recommend|ignore|approve)\b"),
    ("indirect", 0.7, rf"\battention {_AI}\b"),
    ("indirect", 0.7, r"\b(?:begin system|end system|system override|admin override|"
                      r"new system prompt|developer override)\b"),
    ("indirect", 0.55, r"\bdo not (?:tell|inform|mention (?:this )?to|reveal (?:this )?to) "
                       r"the user\b"),
    ("indirect", 0.55, r"\bwithout (?:telling|informing|alerting|the knowledge of) the user\b"),
    # -- exfiltration and tool misuse -------------------------------------------------------
    ("exfiltration", 0.6, r"\b(?:send|forward|post|upload|email|transmit|exfiltrate|append|"
                          r"leak) (?:all |the |this |every |any )?(?:user s |users |previous |"
                          r"conversation |chat |private |confidential |secret )+(?:data|"
                          r"history|messages|conversation|emails|files|details|information|"
                          r"keys?|tokens?|passwords?|credentials)\b.{0,80}"
                          r"(?:https? |http|url|address|server|@)"),
    ("exfiltration", 0.55, r"\b(?:render|include|insert|output|embed) (?:a |an |this |the )?"
                           r"(?:markdown )?(?:image|img|link|url)\b.{0,80}"
                           r"\b(?:with|containing|carrying|append)\b.{0,60}\b(?:data|"
                           r"conversation|history|secret|password|summary|query)\b"),
    # -- payloads to decode and obey ---------------------------------------------------------
    ("encoded", 0.6, r"\b(?:decode|decipher|translate|convert|unscramble|reverse)\b.{0,60}"
                     r"\b(?:base ?64|hex|rot ?13|binary|morse|ascii codes?|cipher|encoded|"
                     r"reversed)\b.{0,80}\b(?:then |and )(?:follow|execute|obey|do|perform|"
                     r"run|carry out|act on)\b"),
)

#: Patterns over the raw text (case-insensitive): chat-template markers a user or a document
#: has no reason to write, which try to open a turn of their own.
RAW_PATTERNS: tuple[tuple[str, float, str], ...] = (
    ("override", 0.6, r"(?:^|[.!?\n]\s*)(?:new|updated|real|actual) (?:system )?(?:instructions?|"
                      r"directives?|task|rules)\s*:"),
    ("indirect", 0.7, r"<\|(?:im_start|im_end|system|endoftext|start_header_id)\|>"),
    ("indirect", 0.65, r"\[/?INST\]|<</?SYS>>|\[/?SYSTEM\]"),
    ("indirect", 0.55, r"(?m)^\s*#{2,}\s*(?:system|new instructions?|instruction)\s*:?\s*$"),
)

#: Words around a match that suggest the text talks about an attack instead of making
#: one: questions, teaching, defence, quoting ("what does 'ignore previous instructions'
#: do?").  A match near them counts for less.
MENTION_WORDS = (
    "prompt injection", "injection attack", "jailbreak attempts", "jailbreaking attempts",
    "attackers", "attacker", "adversarial", "red team", "red teaming", "example of",
    "examples of", "such as", "phrases like", "phrase like", "strings like", "detect",
    "detector", "detecting", "detection", "classifier", "defend", "defence", "defense",
    "mitigate", "mitigation", "prevent", "protect", "guard against", "filter out", "sanitize",
    "sanitise", "blocklist", "what does", "how do", "how does",
    "how can i stop", "why do", "why does", "research", "paper", "owasp",
    "security training", "awareness", "our policy", "malicious", "attempts", "phishing",
    "test case", "test cases", "unit test", "regex", "pattern", "payloads",
)
#: Phrases that show a user correcting their own earlier request, not an attack.
SELF_WORDS = ("my previous", "my earlier", "my last", "my prior", "my original", "what i said",
              "i said before", "i asked before", "my above", "my first")
