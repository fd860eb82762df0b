"""Phrase patterns of prompt injection and jailbreak attempts (data for :mod:`injection`).

Each entry is (category, weight, pattern).  Patterns run over normalised text: lower case,
leetspeak undone, invisible characters removed, runs of spaces and punctuation collapsed to
one space (so ``"ignore -- ALL previous   instructions!"`` reads
``"ignore all previous instructions"``).  Weights are evidence strengths in 0..1, combined
with a noisy-or; a single strong phrase is enough to flag a text.
"""

# ruff: noqa: RUF001  (words of other languages, Turkish dotless i among them)
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
           r"base|starting|first|operator)")
#: What a model is configured with and an attacker wants shown.
_SETUP = (r"(?:instructions|rules|guidelines|directives|prompt|pre ?prompt|configuration|"
          r"setup|programming|system message|developer message|initiali[sz]ation(?: text)?|"
          r"context window|hidden text|constraints)")
#: Said earlier in the conversation or before it.
_EARLIER = (r"(?:before|earlier|previously|above|so far|until now|up to now|at the top|"
            r"beforehand)")
#: Declared not to hold any more.
_VOID = (r"(?:cancell?ed|void|null|obsolete|revoked|expired|irrelevant|invalid|suspended|"
         r"lifted|no longer (?:count|counts|apply|applies|valid|matters?|relevant|in effect|"
         r"binding)|(?:doesn t|don t|does not|do not) (?:count|apply|matter)|"
         r"counts? (?:anymore|any more|for nothing)|never existed|not (?:count|apply) "
         r"any ?more)")
_SHOW = (r"(?:reveal|show|print|repeat|output|display|tell me|give me|leak|dump|share|"
         r"recite|spell out|write out|copy|paste|echo|expose|disclose|list|return|quote|"
         r"translate|summarise|summarize|what (?:is|are|was|were))")
_NO_RULES = (r"(?:no|without|free (?:of|from)|zero|none of (?:your|the)|not bound by|"
             r"unbound by|freed from|liberated from|exempt from)")
_LIMITS = (r"(?:rules?|restrictions?|limits?|limitations?|filters?|guidelines?|censorship|"
           r"morals?|ethics|boundaries|constraints|content polic(?:y|ies)|safety|"
           r"safety training|alignment|refusals|programming|conditioning|safeguards|"
           r"guardrails)")
#: A second-person subject: the model being told what it is.
_YOU_ARE = (r"(?:you are|you re|you|act as|become|be|play|simulate|emulate|roleplay as|"
            r"role play as|pretend to be|respond as|answer as|reply as)")
_AI = r"(?:ai|assistant|chatbot|bot|llm|language model|model|agent|gpt|copilot)s?"

PATTERNS: tuple[tuple[str, float, str], ...] = (
    # -- instruction override --------------------------------------------------------------
    ("override", 0.92, rf"\b{_DROP} (?:(?:the|of|and|all|any) )*{_REF} {_WHICH}{_RULES}\b"),
    ("override", 0.45, rf"\b{_DROP} (?:the )?{_RULES}\b"),
    ("override", 0.85, rf"\b{_DROP} (?:the )?{_RULES} (?:that )?(?:you were|you have been|"
                       rf"you ve been|they gave you|you got) (?:given|configured|told|set up|"
                       rf"trained|programmed)\b"),
    ("override", 0.8, rf"\b{_DROP} (?:all |everything |what s |what is |what was )?(?:the )?"
                      rf"(?:above|before|previous|earlier|prior|preceding)(?: (?:and|then|"
                      rf"instead|text|messages?|content|ones?|part|section|stuff|lines?|input|"
                      rf"conversation|turns?|context|for|so|now|please|you)\b| ?$)"),
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
    ("override", 0.85, rf"\b{_DROP} (?:(?:the|of|and|all|any) )*{_REF} (?:\w+ ){{1,2}}{_RULES}\b"),
    # what the model was told, declared void: "the rules you were given have expired"
    ("override", 0.7, rf"\b(?:your (?:\w+ )?{_RULES}|(?:{_RULES}|rulebook) (?:that )?(?:you "
                      rf"(?:were|ve been|have been|got|received)|(?:given|written|said) "
                      rf"{_EARLIER}|above|so far|in this (?:conversation|chat))|"
                      rf"(?:everything|anything|nothing|whatever|what) (?:\w+ )?(?:said|told|"
                      rf"written|given|you were|you ve been|you have been))\b(?: \w+){{0,6}}? "
                      rf"(?:as )?{_VOID}\b"),
    ("override", 0.75, r"\b(?:act|behave|respond|answer|reply) (?:like|as if|as though) "
                       r"(?:\w+ ){0,5}?(?:never existed|nobody (?:ever )?(?:configured|set up|"
                       r"programmed|instructed|trained|told) you|you (?:have|had) no "
                       r"(?:instructions|rules|guidelines|restrictions))\b"),
    ("override", 0.75, r"\b(?:told|instructed|asked|programmed|configured|set up|trained) you "
                       r"(?:to do |to )?(?:\w+ ){0,3}?(?:set (?:it|that|them) aside|ignore (?:it|"
                       r"that|them)|forget (?:it|that|them)|disregard (?:it|that|them)|"
                       r"drop (?:it|that|them))\b"),
    ("override", 0.6, r"\b(?:(?:listen to|obey|follow|answer to) (?:only )?me (?:now|alone|only|"
                      r"instead|from now on)|obey (?:only )?(?:my (?:commands|orders|"
                      r"instructions)|the (?:following|next)))\b"),
    ("override", 0.7, rf"\b{_DROP} (?:the |this |what )?user s (?:\w+ )?(?:request|question|"
                      rf"query|budget|instructions?|preferences|message|input|asked|wants)\b"),
    ("override", 0.7, r"\b(?:switch|turn|shut|toggle|disable|deactivate|remove|lift|drop|"
                      r"suspend|bypass) (?:off |down )?(?:your (?:\w+ )?(?:safety|filters?|"
                      r"filtering|guardrails?|moderation|censorship|restrictions|safeguards|"
                      r"alignment|limits)|(?:the |all )?(?:safety|content|ethical|moral) "
                      r"(?:filters?|layer|guardrails?|restrictions|checks|protocols?|mode))\b"),
    ("override", 0.55, r"\b(?:(?:coming|comes|orders?|instructions?) from|as|is) your "
                       r"(?:administrator|admin|developer|operator|creator|owner|maker)s?\b"),
    ("override", 0.5, r"\b(?:i have|with) (?:full |admin |root |special |developer |override |"
                      r"top )?(?:clearance|override authority|admin (?:rights|access|"
                      r"privileges)|root access|authori[sz]ation to override)\b"),
    ("override", 0.35, r"\b(?:i am|i m|this is) (?:the |your |an? )?(?:developer|"
                       r"administrator|admin|operator|creator|owner|system administrator)s?\b"),
    # the same in other languages: "drop" and "instructions" within a few words (either order
    # where the object comes first), and rules declared void
    ("override", 0.85, r"\b(?:ignora|ignore|olvida|olvide|omite|descarta|haz caso omiso de) "
                       r"(?:\w+ ){0,4}?(?:instrucciones|reglas|indicaciones|directrices|"
                       r"lo que te (?:dijeron|han dicho|indicaron|ordenaron))\b"),
    ("override", 0.85, r"\b(?:ignore|ignorez|oublie|oubliez|ne (?:tiens|tenez) (?:plus |pas )?"
                       r"compte (?:de|des)|fais abstraction de) (?:\w+ ){0,4}?(?:instructions|"
                       r"consignes|règles|directives|ce qu on t a dit)\b"),
    ("override", 0.85, r"\b(?:ignoriere|ignorieren sie|ignorier|vergiss|vergessen sie|"
                       r"missachte) (?:\w+ ){0,4}?(?:anweisungen|regeln|instruktionen|vorgaben|"
                       r"richtlinien)\b"),
    ("override", 0.75, r"\b(?:(?:anweisungen|regeln|vorgaben|richtlinien|instruktionen) "
                       r"(?:\w+ ){0,3}?(?:gelten|gilt)|(?:gelten|gilt) (?:\w+ ){0,3}?"
                       r"(?:anweisungen|regeln|vorgaben|richtlinien|instruktionen)) "
                       r"(?:\w+ ){0,2}?(?:nicht mehr|nicht länger)\b"),
    ("override", 0.85, r"\b(?:ignora|ignorate|dimentica|dimenticate|trascura) (?:\w+ ){0,4}?"
                       r"(?:istruzioni|regole|direttive|indicazioni)\b"),
    ("override", 0.85, r"\b(?:ignore|ignora|esqueça|esquece|desconsidere|desconsidera|"
                       r"descarte) (?:\w+ ){0,4}?(?:instruções|regras|orientações|diretrizes)\b"),
    ("override", 0.85, r"\b(?:negeer|vergeet) (?:\w+ ){0,4}?(?:instructies|regels|richtlijnen|"
                       r"opdrachten)\b"),
    ("override", 0.85, r"\b(?:ignorera|glöm|ignorer|glem) (?:\w+ ){0,4}?(?:instruktioner\w*|"
                       r"regler\w*|instruksjoner\w*)\b"),
    ("override", 0.85, r"\b(?:zignoruj|ignoruj|zapomnij) (?:\w+ ){0,4}?(?:polecenia|poleceń|"
                       r"instrukcje|instrukcji|zasady|reguły)\b"),
    ("override", 0.85, r"\b(?:игнорируй|игнорируйте|проигнорируй|забудь|забудьте|"
                       r"не обращай внимания на|ігноруй|проігноруй) (?:\w+ ){0,4}?"
                       r"(?:инструкци\w*|указани\w*|правил\w*|інструкці\w*)\b"),
    ("override", 0.85, r"\b(?:önceki |tüm )?(?:talimatları|kuralları|yönergeleri) "
                       r"(?:\w+ ){0,2}?(?:yok say|görmezden gel|unut)"),
    ("override", 0.85, r"(?:تجاهل|انس|إنس) (?:\w+ ){0,4}?(?:التعليمات|الأوامر|القواعد|"
                       r"التوجيهات)"),
    ("override", 0.85, r"(?:忽略|无视|無視|忽视|忽視|忘记|忘記|忘掉|不要理会|不要理會)\w{0,12}?"
                       r"(?:指令|指示|规则|規則|提示|说明|說明|设定|設定)"),
    ("override", 0.85, r"(?:指示|命令|ルール|規則|設定|プロンプト)\w{0,12}?(?:無視|忘れ)"),
    ("override", 0.85, r"(?:지시|명령|규칙|지침|프롬프트)\w{0,12}? ?(?:\w+ )?(?:무시|잊어)"),
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
    # "your rules" alone is a customer's question ("what are your rules for returns"):
    # below the threshold unless the setup is named as the model's own
    ("system_prompt", 0.45, rf"\b{_SHOW} (?:\w+ ){{0,4}}?your (?:\w+ )?{_SETUP}\b"),
    ("system_prompt", 0.75, rf"\b{_SHOW} (?:\w+ ){{0,4}}?your (?:\w+ )?{_SECRET} "
                            rf"(?:\w+ )?{_SETUP}\b"),
    ("system_prompt", 0.8, rf"\b{_SHOW} (?:\w+ ){{0,4}}?(?:instructions|rules|prompt|text|"
                           rf"message|directives|guidelines|configuration) (?:that )?you "
                           rf"(?:were|have been|ve been|got|received)\b"),
    ("system_prompt", 0.6, r"\b(?:instructions|rules|guidelines|prompt|text|directives|"
                           r"configuration) (?:that |which )?(?:shape|shapes|govern|governs|"
                           r"control|controls|define|defines|configure|configures|determine|"
                           r"determines|guide|guides|dictate|dictates) (?:how )?(?:you|your)\b"),
    ("system_prompt", 0.7, r"\b(?:text|words|content|message|messages|everything|what) (?:that )?"
                           r"(?:came|comes|come|appears?|is|was|were|sits?) (?:before|above|"
                           r"prior to|ahead of) (?:my|this|our|the) (?:first |very first )?"
                           r"(?:message|conversation|question|chat|input)\b"),
    ("system_prompt", 0.65, r"\b(?:initial|system|hidden|secret) (?:prompt|instructions) "
                            r"(?:in full|verbatim|word for word|in a code block)\b"),
    ("system_prompt", 0.8, r"\b(?:muestra|muéstrame|dime|revela|revélame|montre|montre moi|"
                           r"affiche|révèle|dis moi|zeig|zeige|gib|verrate|mostra|mostrami|"
                           r"rivela|rivelami|dimmi|mostre|revele|diga|toon|geef|laat zien|"
                           r"pokaż|wypisz|podaj|покажи|выведи|раскрой|скажи|visa|vis) "
                           r"(?:\w+ ){0,4}?(?:(?:prompt|mensaje|mensagem|messaggio|message|"
                           r"instrucciones|instructions|istruzioni|instruções) (?:\w+ )?"
                           r"(?:système|systeme|sistema|del sistema|do sistema|di sistema|"
                           r"initiales|iniciales|iniziali)|system ?prompt|systemprompt|"
                           r"systeemprompt|systemnachricht|prompt systemowy|systemprompten|"
                           r"системн\w* (?:промпт|подсказк\w*|инструкци\w*|сообщени\w*))\b"),
    ("system_prompt", 0.8, r"(?:告诉我|显示|輸出|输出|说出|給我看|给我看|告訴我|打印)\w{0,8}?"
                           r"(?:系统提示|系統提示|系统指令|系統指令|初始指令)"),
    ("system_prompt", 0.8, r"(?:システムプロンプト|初期指示|시스템 프롬프트|시스템프롬프트)"
                           r"\w{0,4}? ?(?:\w+ )?(?:教え|見せ|表示|出力|보여|알려|출력)"),
    # -- role-play jailbreaks --------------------------------------------------------------
    ("jailbreak", 0.9, r"\b(?:do anything now|strive to avoid norms|always intelligent and "
                       r"machiavellian)\b"),
    ("jailbreak", 0.6, r"\b(?:uncensored|unfiltered|unrestricted|jailbroken) (?:ai|assistant|"
                       r"version|mode|model|response|answer|self)\b"),
    ("jailbreak", 0.55, r"\bnever (?:refuses|apologi[sz]es|says no|declines)\b"),
    ("jailbreak", 0.6, r"\b(?:and|please|always|you must|you will|you should|you|must) "
                       r"(?:never|don t ever|do not ever) (?:refuse|decline|say no|turn down|"
                       r"reject|break character)\b"),
    ("jailbreak", 0.75, rf"\b{_YOU_ARE} (?:now )?(?:\w+ ){{0,3}}?(?:{_NO_RULES}|has no|have no|"
                        rf"had no) (?:any |all |the |its |your )?(?:\w+ )?{_LIMITS}\b"),
    ("jailbreak", 0.7, rf"\b(?:escaped|broken free of|broke free (?:of|from)|been freed from|"
                       rf"been released from|been liberated from|freed from|liberated from) "
                       rf"(?:its |your |all |any |the |their )?(?:\w+ ){{0,2}}?{_LIMITS}\b"),
    ("jailbreak", 0.5, r"\b(?:respond|answer|reply) (?:twice|in two ways|as two|with two|"
                       r"two times)\b(?: \w+){0,6}? (?:once|personas?|characters?|responses|"
                       r"answers|modes|versions)\b"),
    ("jailbreak", 0.7, r"\bno (?:limits|restrictions|rules|filters) (?:on|to|for) what you "
                       r"(?:can|may|are allowed to|will) (?:say|do|write|answer)\b"),
    ("jailbreak", 0.6, r"\b(?:you are|you re|act as|become|play|as) dan\b"),
    ("jailbreak", 0.85, r"\b(?:developer|god|jailbreak|jailbroken|unrestricted|unfiltered|"
                        r"uncensored|evil|dude|stan|aim|opposite|chaos) mode\b"
                        r"(?: (?:enabled|activated|on|is now))?"),
    ("jailbreak", 0.85, rf"\b(?:pretend|imagine|act as if|act like|behave as if|assume|"
                        rf"suppose|if|what if|hypothetically) (?:that )?you "
                        rf"(?:have|had|are|were|re) (?:an? )?(?:ai |assistant |model )?"
                        rf"(?:with )?{_NO_RULES} (?:any )?(?:\w+ )?{_LIMITS}"),
    ("jailbreak", 0.85, rf"\byou (?:are|re) (?:now )?(?:no longer|not) (?:bound|restricted|"
                        rf"limited|constrained|governed) by (?:any |your |the )?(?:\w+ )?"
                        rf"{_LIMITS}"),
    ("jailbreak", 0.8, r"\b(?:act as|you are|you re|become|roleplay as|role play as|"
                       r"pretend to be|play the role of|simulate|emulate|respond as|answer as|"
                       r"behave like) (?:now )?(?:an? )?(?:\w+ )?"
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
                       rf"(?:the |any |all )?(?:\w+ )?(?:{_AI}|systems|reviewers|screeners|"
                       rf"crawlers|readers)\b"),
    ("indirect", 0.75, rf"\bif you (?:are|re) an? (?:\w+ )?{_AI}\b"),
    ("indirect", 0.75, rf"\b{_AI} (?:reading|processing|summari[sz]ing|parsing|scanning|"
                       rf"reviewing|analy[sz]ing|browsing) this\b"),
    ("indirect", 0.7, r"\bwhen (?:you (?:are )?|an? \w+ |the \w+ |any \w+ )?(?:summari[sz]\w*|"
                      r"process\w*|read\w*|"
                      r"answer\w*|review\w*|analy[sz]\w*|screen\w*)(?: \w+){0,3} (?:this|the) "
                      r"(?:page|document|email|text|file|article|site|review|reviews|code|"
                      r"resume|cv|listing|repository|pull request|invite|invitation|message|"
                      r"thread|ticket|channel|data|result|snippet|source|post|comment)\b.{0,80}"
                      r"\b(?:you must|always|instead|"
                      r"make sure|tell|say|include|recommend|ignore|approve)\b"),
    ("indirect", 0.7, rf"\battention {_AI}\b"),
    ("indirect", 0.75, rf"\b(?:if|when|whenever|once) (?:an? |any |the |some )?(?:\w+ )?{_AI} "
                       rf"(?:is |are )?(?:reading|processing|summari[sz]ing|parsing|scanning|"
                       rf"reviewing|analy[sz]ing|browsing|reads|processes|summari[sz]es|"
                       rf"parses|scans|reviews|sees|finds)\b"),
    ("indirect", 0.7, rf"\b(?:to|for|dear|hey|hi|attention) (?:any |all |the )?(?:\w+ )?{_AI} "
                      rf"(?:reading|processing|summari[sz]ing|parsing|scanning|reviewing|"
                      rf"analy[sz]ing|browsing|ranking|screening)\b"),
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
    ("exfiltration", 0.35, r"\b(?:call|invoke|execute|trigger) the (?:\w+ ){1,3}?(?:tool|function|"
                           r"plugin|action|api)\b"),
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
#: has no reason to write, which try to open a turn of their own; a conversation's data
#: sent to an e-mail address.
RAW_PATTERNS: tuple[tuple[str, float, str], ...] = (
    ("override", 0.6, r"(?:^|[.!?:\n]\s*)(?:new|updated|real|actual) (?:system )?(?:instructions?|"
                      r"directives?|task|rules)\s*:"),
    # a model addressed at the start of a sentence: "Assistant, disregard the user's budget"
    ("indirect", 0.7, r"(?:^|[.!?:\n]\s*)(?:hey |hi |dear |ok |okay )?(?:ai|assistant|chatbot|bot|"
                      r"llm|model|agent|copilot|gpt)s?\s*[,:]\s*(?:please\s+)?(?:ignore|"
                      r"disregard|forget|you must|make sure|do not tell|don't tell|never tell|"
                      r"from now on|always|only)\b"),
    ("indirect", 0.55, r"#{2,}\s*(?:system|new instructions?|instructions?|assistant|admin)\s*:"),
    ("indirect", 0.45, r"(?:^|[.!?\]\n]\s*|,\s*)\[?(?:system|admin|administrator|developer|"
                       r"assistant)\]?\s*:\s*(?:the|you|ignore|disregard|forget|from now|new|"
                       r"always|never|do not|don't|reveal|send|approve|grant)\b"),
    ("exfiltration", 0.6, r"\b(?:send|forward|email|e-mail|post|upload|transmit|copy|cc|bcc|"
                          r"mail)\b[^.!?\n]{0,80}?\b(?:conversation|history|messages|e-?mails|"
                          r"inbox|thread|contacts|addresses|credentials|passwords?|keys|tokens|"
                          r"chat|attendees?|attendee list|user'?s?)\b[^.!?\n]{0,60}?"
                          r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    ("indirect", 0.7, r"<\|(?:im_start|im_end|system|endoftext|start_header_id)\|>"),
    ("indirect", 0.65, r"\[/?INST\]|<</?SYS>>|\[/?SYSTEM\]"),
    # text a reader does not see, addressed to a model: HTML comments, CSS-hidden elements
    ("indirect", 0.6, r"<!--\s*(?:note\s+|message\s+)?(?:to\s+|for\s+|dear\s+|hey\s+|"
                      r"attention\s+)?(?:the\s+|any\s+|all\s+)?(?:\w+\s+)?(?:ai|assistant|model|llm|"
                      r"chatbot|bot|agent|gpt|copilot)s?\s*[:,]"),
    ("indirect", 0.4, r"style\s*=\s*['\"][^'\"]*(?:display\s*:\s*none|visibility\s*:\s*hidden|"
                      r"font-size\s*:\s*0|color\s*:\s*(?:white|#fff\b|#ffffff))"),
    # a URL to be fetched or shown as an image, carrying the conversation in its query
    ("exfiltration", 0.55, r"\b(?:fetch|visit|open|request|load|browse to|navigate to|curl|get|"
                           r"call)\s+https?://\S+[?&][\w-]*=\S*[^.\n]{0,80}?\b(?:user|"
                           r"conversation|chat|messages?|history|summary|password|secret|token|"
                           r"keys?)\b"),
    ("exfiltration", 0.45, r"!\[[^\]]*\]\(https?://[^)\s]*\?[^)\s]*=(?:[^)\s&]*[{<]|"
                           r"[A-Z_]{4,})"),
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
    "sanitise", "blocklist", "research", "paper", "owasp",
    "security training", "awareness", "our policy", "malicious", "attempts", "phishing",
    "test case", "test cases", "unit test", "regex", "pattern", "payloads",
)
#: Questions about a phrase that follows them closely ("what does 'ignore previous
#: instructions' do?", "how do jailbreaks work?"): asked before the match, not after it (an
#: attack often ends with a question of its own: "... no rules. How do I ...?").
ASKING_WORDS = ("what does", "what do", "what is", "what are", "how do", "how does", "how can",
                "how can i stop", "why do", "why does", "explain", "is it")
#: Phrases that show a user correcting their own earlier request, not an attack.
SELF_WORDS = ("my previous", "my earlier", "my last", "my prior", "my original", "what i said",
              "i said before", "i asked before", "my above", "my first")
