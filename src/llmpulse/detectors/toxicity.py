"""Toxicity of responses: a model gives per-label probabilities, this turns them into signals.

Pure; no I/O.  :class:`LexiconToxicityModel` is the offline fallback: weighted terms and
phrase patterns per label over normalised tokens (case, leetspeak, repeated and spaced
letters, masked letters), with negation, quotation and targeting ("you idiot" counts more
than "idiot"), squashed to 0..1 with a logistic function.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from llmpulse.detectors._base import make_signal
from llmpulse.records import InferenceRecord
from llmpulse.signals import Signal

TOXICITY_LABELS: tuple[str, ...] = (
    "toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack",
    "sexual_explicit",
)
#: Characters of response text given to the model; longer texts are cut.
MAX_CHARS = 4000


class ToxicityModel(Protocol):
    """Scores texts: one dict of label -> probability (0..1) per text, in order."""

    @property
    def scorer(self) -> str: ...

    @property
    def labels(self) -> tuple[str, ...]: ...

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]: ...


# --- lexicon ---------------------------------------------------------------------------------
# Each line: label weights, optionally "~B" (bonus to insult and toxicity when the word is aimed
# at someone), then ":" and the words.
_TERM_TABLE = """
toxicity=4.5 insult=4.5 ~1.5: idiot idiotic moron moronic imbecile cretin dumbass dimwit halfwit
 nitwit numbskull bonehead dunce buffoon retard retarded jackass douchebag douche scumbag
 lowlife degenerate subhuman
toxicity=2.5 insult=2.5 ~2.5: stupid dumb loser pathetic clown jerk creep freak coward fool
 foolish ignorant brainless clueless worthless incompetent disgusting ugly fat pig scum trash
 garbage parasite vermin maggot rat liar hypocrite troll twit dork weirdo psycho lunatic sicko
 pervert bozo airhead oaf simpleton spineless gutless dumbest stupidest ugliest muppet
 tosser pillock
toxicity=1 insult=1 ~3: useless lazy annoying joke failure disgrace embarrassment nobody mess
 waste dummy fake
toxicity=4.5 obscene=5 severe_toxicity=1: fuck fucking fucked fucker fuckers fuckin fck fuk
 fucks effing frigging
toxicity=5 obscene=5 insult=2.5 severe_toxicity=3 ~1.5: motherfucker motherfucking cunt twat
toxicity=3.5 obscene=4 ~2: shit shitty bullshit goddamn crappy
toxicity=3 obscene=3.5 insult=3 ~2: asshole arsehole bitch bastard dickhead prick wanker
 shithead dipshit
toxicity=2 obscene=3 sexual_explicit=2 ~2.5: dick cock pussy
toxicity=3 obscene=3 sexual_explicit=3 insult=2.5 ~2: whore slut skank
toxicity=1.5 obscene=2: crap damn piss pissed bollocks bugger wtf
toxicity=2 obscene=3 ~2: ass arse
toxicity=3 obscene=2.5 sexual_explicit=4.5: blowjob handjob porn porno horny nudes cum cumming
 jizz dildo gangbang deepthroat milf orgasm masturbate masturbating boner tits titties
toxicity=1 sexual_explicit=2.5 obscene=1: boobs naked nude sexy anal erection
toxicity=0.5 sexual_explicit=1.5: sex penis vagina
toxicity=5 identity_attack=5.5 insult=2 severe_toxicity=2.5: nigger nigga faggot fag kike spic
 chink wetback raghead towelhead tranny gook coon beaner paki
"""
_YOU = r"(?:you|u|ya|y'all|yall|you all)"
_YOURE = r"(?:you're|youre|ur|you are|u are|u r|you r|you were)"
_HARM = (r"(?:kill|murder|stab|shoot|strangle|choke|hurt|beat|punch|slap|rape|behead|torture"
         r"|burn|bury|butcher|slaughter|execute|hang|lynch|smash|gut|drown|poison|bash|slit"
         r"|shank|hunt|maim|cripple|kick|break|end|destroy|smack|snap|beat up|fuck up|mess up)"
         r"(?:s|ed|ing)?")
_BODY = (r"(?:family|kids|children|wife|husband|mom|mother|dad|father|sister|brother|face"
         r"|head|neck|throat|legs?|arms?|skull|teeth|house|home|dog|cat|ass|body|life)")
_TARGET = (rf"(?:{_YOU}|him|her|them|your (?:\w+ )?{_BODY})"
           r"(?! (?:a|an|some|over|at)\b)")
_INTENT = (r"(?:i|i'll|ill|i'm|im|imma|i'd|we|we'll|we're|someone|somebody|gonna|going to|will"
           r"|want to|wanna|gotta|shall|plan to|promise to|swear)")
_GROUP = (r"(?:(?:muslim|jewish|black|white|gay|trans|transgender|asian|mexican|arab|indian"
          r"|chinese|african|disabled|queer|lgbt) (?:people|men|women|folks|guys|kids|families)"
          r"|muslims|jews|christians|blacks|whites|gays|lesbians|homosexuals|queers|trannies"
          r"|immigrants|migrants|refugees|mexicans|arabs|asians|africans|indians|hindus|sikhs"
          r"|catholics|latinos|hispanics|gypsies|women|females|men|foreigners|atheists"
          r"|the disabled|you people)")
_VILE = (r"(?:animals|vermin|subhuman|trash|scum|filth|filthy|parasites|rats|cockroaches"
         r"|roaches|terrorists|criminals|thieves|rapists|pedophiles|disgusting|inferior|evil"
         r"|savages|monkeys|apes|dogs|pigs|a disease|a plague|a cancer|cancer|perverts"
         r"|degenerates|worthless|dirty|violent|stupid|dumb|idiots|mentally ill|abominations"
         r"|an abomination|not human|less than human|invaders|leeches|a virus|deviants|freaks)")
_PATTERN_TABLE: tuple[tuple[str, str], ...] = (
    ("threat=4 toxicity=3.5 severe_toxicity=1.5",
     rf"\b{_INTENT}\b(?: \S+){{0,4}} {_HARM} {_TARGET}"),
    ("threat=2.5 toxicity=2.5", rf"\b{_HARM} {_TARGET}"),
    ("threat=4 toxicity=3.5", rf"\b{_HARM} the (?:shit|crap|hell|life) out of {_TARGET}"),
    ("threat=4.5 toxicity=5 severe_toxicity=2",
     rf"\b(?:{_YOU}|he|she|they|people like you) (?:should|must|need to|ought to|deserve to"
     r"|better|will|are going to|gonna) (?:just |all |really )?(?:die|drop dead|rot|suffer"
     r"|burn|get cancer|be (?:shot|killed|hanged|hung|executed|put down|gassed|lynched"
     r"|beaten|raped))\b"),
    ("threat=4.5 toxicity=5 severe_toxicity=2",
     rf"\b(?:hope|wish|pray) (?:that )?(?:{_YOU}|he|she|they|your \w+) (?:\S+ )?(?:die|dies"
     r"|get cancer|gets cancer|rot|rots|suffer|suffers|burn|burns|choke|chokes|drown|drowns"
     r"|get (?:hit|raped|shot|killed)|gets (?:hit|raped|shot|killed))\b"
     r"(?! (?:laughing|of laughter|happy|old|peacefully)\b)"),
    ("threat=3 toxicity=5.5 severe_toxicity=3",
     r"\b(?:die in a (?:fire|hole|ditch)|drop dead|go die|kill (?:yourself|urself|yourselves)"
     r"|kys|(?:neck|hang|end|off|unalive) yourself|end your (?:own )?life"
     r"|jump off a (?:bridge|cliff|building))\b"),
    ("threat=5 toxicity=5",
     r"\b(?:i know where (?:you|u) live|watch your back|your days are numbered"
     r"|sleep with one eye open|(?:you're|youre|you are|ur|u r) (?:so )?dead(?: man| meat)?"
     r"(?! (?:right|on|wrong|serious|tired|last)\b)"
     r"|(?:i'll|i will|we'll|we will|im gonna|i'm gonna|i am going to|we are going to)"
     r" (?:find|catch|come after|hunt down) (?:you|u|ya)(?! (?:a|an|the|some|one)\b)"
     r"|(?:you'll|you will|u will) (?:regret|pay for) (?:this|that|it)"
     r"|(?:i'll|i will) make (?:you|u) (?:suffer|pay|bleed|regret))\b"),
    ("threat=5 toxicity=4.5 severe_toxicity=2",
     rf"\b{_INTENT}\b(?: \S+){{0,3}} (?:bomb|shoot up|blow up|burn down|torch) (?:the |your"
     r" |this |that )?(?:school|office|church|mosque|synagogue|temple|house|building|mall"
     r"|concert|workplace|campus)\b"),
    ("toxicity=4.5 insult=2",
     r"\bshut (?:the (?:fuck|f|hell|heck) )?up\b|\bshut your (?:\S+ )?(?:mouth|face|trap"
     r"|piehole)\b|\bstfu\b|\bgtfo\b"),
    ("toxicity=4 insult=2",
     rf"\b(?:nobody|no one|noone) (?:likes|loves|wants|cares about|asked|cares what)"
     rf" {_YOU}\b|\b(?:everyone|everybody|the whole world) (?:hates|despises) {_YOU}\b"),
    ("toxicity=4 insult=2",
     rf"\b(?:hate|despise|loathe) (?:{_YOU}|your (?:guts|face|existence|voice))\b"),
    ("toxicity=4.5 insult=3", rf"\b{_YOU} (?:suck|stink)\b"),
    ("toxicity=4.5 insult=2 obscene=1",
     r"\b(?:fuck|f|screw|frick) (?:you|u|ya|y'all|off|yourself|urself|them|him|her)\b"),
    ("toxicity=4.5 threat=1", r"\b(?:go to|rot in|burn in) hell\b"),
    ("toxicity=5 insult=4.5",
     r"\bwaste of (?:space|oxygen|air|skin|sperm|flesh|a human|a person)\b"),
    ("toxicity=3 insult=3", r"\bpiece of (?:shit|crap|garbage|trash|filth|work)\b"),
    ("toxicity=3.5 insult=1.5 obscene=1",
     r"\b(?:kiss|lick) my (?:ass|arse|butt|boots)\b|\beat (?:shit|a dick|dirt)\b"),
    ("toxicity=3.5 insult=3.5",
     rf"\b(?:do|does|did) {_YOU} even (?:think|read|have a brain)\b|\b(?:grow|get) a"
     r" (?:brain|clue|spine|life)\b|\bbrain ?dead\b|\bsmooth brain(?:ed)?\b"
     r"|\bzero (?:iq|brain cells)\b|\bdumb as (?:a )?(?:rocks?|bricks?|a box of rocks|dirt)\b"),
    ("toxicity=4.5 insult=3",
     rf"\b{_YOURE} (?:nothing|a nobody|a mistake|a disgrace|an embarrassment|a waste"
     rf"|a burden|a failure|a disappointment)\b|\b{_YOU} (?:make me sick|disgust me"
     r"|should be ashamed of yourself)\b"),
    ("toxicity=4.5 insult=2.5 severe_toxicity=1",
     r"\b(?:uninstall|delete) (?:your (?:account|life)|yourself)\b|\bdo (?:us|everyone"
     r"|the world) a favou?r and\b|\b(?:crawl|go) back (?:under|into|to) (?:your|the)"
     rf" (?:rock|hole|cave|bridge|basement)\b|\bbetter (?:off )?without {_YOU}\b"
     rf"|\b(?:no one|nobody) would miss {_YOU}\b"),
    ("identity_attack=6 toxicity=5 insult=2 severe_toxicity=1.5",
     rf"\b{_GROUP} (?:are|r|is) (?:all |just |nothing but |such |a bunch of |literally "
     rf"|basically |the |so |naturally |born |inherently )*{_VILE}\b"),
    ("identity_attack=6 toxicity=5.5 threat=2 severe_toxicity=2",
     rf"\b{_GROUP} (?:should|must|need to|deserve to|ought to|have to|better) (?:all |just "
     r")*(?:die|be killed|be deported|go back|be banned|be exterminated|be wiped out"
     r"|be gassed|burn|be shot|be locked up|be sterilized|be hanged|not be allowed"
     r"|stay in the kitchen|shut up|disappear)\b"),
    ("identity_attack=5 toxicity=4.5",
     r"\bgo back to (?:your |where you |where they |their |the )?(?:own )?(?:country|countries"
     r"|came from|come from|belong|shithole|jungle|desert|cave)\b"),
    ("identity_attack=5 toxicity=4.5",
     rf"\b(?:hate|despise|can't stand|cant stand) (?:all |the |those |these )?{_GROUP}\b"),
    ("identity_attack=5 toxicity=5 threat=3 severe_toxicity=2",
     r"\b(?:kill|deport|gas|exterminate|wipe out|get rid of|shoot|lynch|hang|burn)"
     rf" (?:all |the |every |those |these )*{_GROUP}\b"),
    ("identity_attack=4.5 toxicity=4.5",
     r"\b(?:filthy|dirty|stupid|disgusting|fucking|damn|subhuman|lazy|smelly|greedy|sneaky"
     rf"|thieving|inbred|godless|retarded) {_GROUP}\b"),
    ("identity_attack=5 toxicity=4.5",
     rf"\b{_GROUP} (?:belong in (?:the kitchen|cages|a zoo|zoos|the trash|ovens|camps"
     r"|the gutter)|don't belong (?:here|in this country|in our \w+)|(?:can't|cannot)"
     r" (?:think|drive|lead|code|be trusted)|are too emotional|ruin everything"
     r"|are ruining)\b"),
    ("sexual_explicit=5 toxicity=4 obscene=2 insult=1",
     r"\b(?:suck|lick|blow|touch|grab|ride|sit on) my (?:dick|cock|balls|pussy|tits|face"
     r"|junk|boner)\b"),
    ("sexual_explicit=5 toxicity=4.5 threat=1",
     r"\b(?:want to|wanna|gonna|going to|let me|i'd|i would|i'll|i will|would|to) (?:fuck"
     r"|bang|screw|rape|ride|finger|grope|undress) (?:you|u|her|him|ya|your (?:\w+ )?(?:mom"
     r"|mother|sister|wife|girlfriend|ass|body|pussy|tits))\b"),
    ("sexual_explicit=5 toxicity=3.5",
     r"\b(?:send|show) (?:me )?(?:your |some )?(?:nudes|tits|boobs|pussy|dick|cock"
     r"|naked pics)\b|\bsit on my face\b|\bstrip for me\b|\bspread your legs\b"),
    ("sexual_explicit=3.5 toxicity=2",
     r"\b(?:sex|sleep|hook up|get naked|get in bed) with (?:you|u|your)\b"),
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_BIAS = {"toxicity": -4.0, "severe_toxicity": -6.5}
_DEFAULT_BIAS = -4.0
_SECOND = _words("you u ya ye yall y'all thou you're youre ur your yourself urself")
_THIRD = _words("he she they him her them guy dude man people person author op poster "
                "everyone everybody who")
_COPULA = _words("are r is be being been were was look looks sound sounds act acting "
                 "seem seems am become became")
_NEGATORS = _words("not never no don't dont doesn't isn't aren't wasn't weren't won't "
                   "wouldn't can't cannot cant didn't hardly neither nor")
_FILLERS = _words("a an the such so total complete absolute utter little big real really "
                  "very just truly huge massive biggest most bunch of piece like and")
_HAILS = _words("hey hi hello yo oi listen look ok okay well oh thanks bye please")
_MENTIONS = _words("call called calls calling word term says said")
_NAMES = _words("dick willy fanny johnson cox randy woody")
_LEET = str.maketrans("013457@$!8", "oieastasib")
_TOKEN = re.compile(r"(?:[a-z0-9@$*]|!(?=[a-z0-9]))+(?:'[a-z]+)?", re.IGNORECASE)
_QUOTE = re.compile(r'"[^"]*"|(?<!\w)\'[^\'\n]+\'(?!\w)')
_RUN = re.compile(r"(.)\1{2,}")
_EDGE = frozenset(",.!?;:()\n")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


@dataclass(frozen=True, slots=True)
class _Rule:
    weights: tuple[tuple[str, float], ...]
    aimed_bonus: float = 0.0


def _rule(spec: str) -> _Rule:
    weights, bonus = [], 0.0
    for part in spec.split():
        if part.startswith("~"):
            bonus = float(part[1:])
        else:
            label, value = part.split("=")
            weights.append((label, float(value)))
    return _Rule(tuple(weights), bonus)


def _term_rules(table: str) -> dict[str, _Rule]:
    rules: dict[str, _Rule] = {}
    for block in re.split(r"\n(?=\S)", table.strip()):
        spec, words = block.split(":", 1)
        rules.update(dict.fromkeys(words.split(), _rule(spec)))
    return rules


_TERMS: Mapping[str, _Rule] = _term_rules(_TERM_TABLE)
_PATTERNS: tuple[tuple[re.Pattern[str], _Rule, bool], ...] = tuple(
    (re.compile(source), _rule(spec), not _NEGATORS & set(re.findall(r"[a-z']+", source)))
    for spec, source in _PATTERN_TABLE
)
_LONGEST = max(map(len, _TERMS))
_KNOWN = frozenset(_TERMS) | frozenset(
    word for _, source in _PATTERN_TABLE for word in re.findall(r"[a-z']{2,}", source))


class _Token(NamedTuple):
    word: str  # with leetspeak, repeated letters and masks undone
    term: str  # the lexicon entry the word spells, or ""
    quoted: bool
    edge_before: bool
    edge_after: bool
    titled: bool


def _variants(word: str) -> Iterator[str]:
    yield word
    if not word.isalpha() and any(ch.isalpha() for ch in word):
        yield word.translate(_LEET)
        yield word.replace("1", "l").translate(_LEET)
    for form in (word, word.translate(_LEET)):
        if _RUN.search(form):
            squeezed = _RUN.sub(r"\1\1", form)
            yield squeezed
            yield re.sub(r"(.)\1+", r"\1", squeezed)


def _term_of(form: str) -> str:
    if form in _TERMS:
        return form
    return form[:-1] if form.endswith("s") and form[:-1] in _TERMS else ""


def _spell(raw: str) -> tuple[str, str]:
    """The word ``raw`` spells and its lexicon term ("" when it has none)."""
    word = (raw[:-2] if raw.endswith("'s") else raw).strip("*")
    if word.isalpha() and not _RUN.search(word):  # the common case: a plain word
        return word, _term_of(word)
    if "*" in word and any(ch.isalpha() for ch in word):
        masked = re.compile(re.sub(r"\\\*+", "[a-z]{1,3}", re.escape(word)) + "$")
        term = next((t for t in _TERMS if masked.match(t)), "")
        return term or word, term
    forms = list(dict.fromkeys(_variants(word)))
    for form in forms:
        if term := _term_of(form):
            return form, term
    known = next((form for form in forms if form in _KNOWN), None)
    return known or next((form for form in forms if form.isalpha()), word), ""


def _join_spelled(tokens: list[_Token]) -> list[_Token]:
    """Join runs of single letters that spell a lexicon word ("f u c k", "i.d.i.o.t")."""
    lengths = [len(token.word) for token in tokens]
    if (1, 1, 1) not in zip(lengths, lengths[1:], lengths[2:], strict=False):
        return tokens
    out: list[_Token] = []
    i = 0
    while i < len(tokens):
        end = i
        while end < min(len(tokens), i + _LONGEST) and len(tokens[end].word) == 1:
            end += 1
        best = next((j for j in range(end, i + 2, -1)
                     if "".join(t.word for t in tokens[i:j]) in _TERMS), None)
        if best is None:
            out.append(tokens[i])
            i += 1
            continue
        word = "".join(t.word for t in tokens[i:best])
        out.append(_Token(word, word, tokens[i].quoted, tokens[i].edge_before,
                          tokens[best - 1].edge_after, False))
        i = best
    return out


def _tokens(text: str) -> list[_Token]:
    text = text.translate(_QUOTES)
    quoted = [m.span() for m in _QUOTE.finditer(text)]
    matches = list(_TOKEN.finditer(text))
    tokens = []
    for k, m in enumerate(matches):
        before = text[matches[k - 1].end():m.start()] if k else "."
        after = text[m.end():matches[k + 1].start()] if k + 1 < len(matches) else "."
        raw = m.group()
        word, term = _spell(raw.lower())
        tokens.append(_Token(
            word, term, quoted=bool(quoted) and any(a < m.start() < b for a, b in quoted),
            edge_before=before != " " and not _EDGE.isdisjoint(before),
            edge_after=after != " " and not _EDGE.isdisjoint(after),
            titled=raw[:1].isupper() and raw[1:].replace("'s", "").islower()))
    return _join_spelled(tokens)


def _skippable(token: _Token) -> bool:
    return bool(token.term) or token.word in _FILLERS


def _aim(tokens: Sequence[_Token], i: int) -> float:
    """How clearly the word at ``i`` is aimed at a person: 1 at "you", 0.8 at others, else 0."""
    j = i - 1
    while j >= 0 and i - j <= 6 and (_skippable(tokens[j])
                                     or (j > 0 and _skippable(tokens[j - 1]))):
        j -= 1
    subject, owner = (tokens[j].word if j >= 0 else ""), ""
    if subject in _COPULA:
        copula = subject
        k = j - 2 if j > 0 and tokens[j - 1].word in ("so", "really", "not", "such") else j - 1
        subject = tokens[k].word if k >= 0 else ""
        owner = tokens[k - 1].word if k > 0 else ""
        if copula in ("be", "being") and subject in ("", "stop", "quit", "don't", "dont", "just"):
            subject = "you"
    following = " ".join(t.word for t in tokens[i + 1:i + 3])
    if subject in _SECOND or following in ("like you", "like u"):
        return 1.0
    hailed = tokens[i].edge_before or (i > 0 and tokens[i - 1].word in _HAILS)
    if owner in _SECOND or subject in _THIRD or subject == "what" or (
            hailed and tokens[i].edge_after):
        return 0.8
    return 0.0


def _damping(tokens: Sequence[_Token], first: int, last: int) -> float:
    """Weight kept by words negated, quoted, mentioned or used as names ("Dick's")."""
    token = tokens[first]
    if first == last and token.titled and token.term in _NAMES:
        return 0.0
    window = {t.word for t in tokens[max(0, first - 3):last + 1]}
    return ((0.4 if token.quoted else 1.0) * (0.25 if window & _NEGATORS else 1.0)
            * (0.5 if window & _MENTIONS else 1.0))


def _evidence(tokens: Sequence[_Token]) -> dict[str, float]:
    evidence = dict.fromkeys(TOXICITY_LABELS, 0.0)
    seen: set[str] = set()
    for i, token in enumerate(tokens):
        rule = _TERMS.get(token.term)
        if rule is None or token.term in seen:
            continue
        seen.add(token.term)
        factor = _damping(tokens, i, i)
        for label, weight in rule.weights:
            evidence[label] += weight * factor
        if rule.aimed_bonus:
            bonus = rule.aimed_bonus * _aim(tokens, i) * factor
            evidence["insult"] += bonus
            evidence["toxicity"] += bonus
    joined = " ".join(t.word for t in tokens)
    starts = [0]
    for token in tokens[:-1]:
        starts.append(starts[-1] + len(token.word) + 1)
    for pattern, rule, negatable in _PATTERNS:
        match = pattern.search(joined)
        if match is None:
            continue
        first = bisect.bisect_right(starts, match.start()) - 1
        last = bisect.bisect_right(starts, match.end() - 1) - 1
        factor = _damping(tokens, first, last) if negatable else 1.0
        for label, weight in rule.weights:
            evidence[label] += weight * factor
    return evidence


def _squash(evidence: Mapping[str, float]) -> dict[str, float]:
    kinds = [evidence[k] for k in ("obscene", "threat", "insult", "identity_attack",
                                   "sexual_explicit")]
    combined = dict(evidence)
    combined["severe_toxicity"] += 0.4 * (sum(kinds) - max(kinds))
    return {label: 1.0 / (1.0 + math.exp(-(_BIAS.get(label, _DEFAULT_BIAS) + combined[label])))
            for label in TOXICITY_LABELS}


class LexiconToxicityModel:
    """Offline fallback: weighted words and phrases per label; needs no model files."""

    @property
    def scorer(self) -> str:
        return "lexicon@1"

    @property
    def labels(self) -> tuple[str, ...]:
        return TOXICITY_LABELS

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return [_squash(_evidence(_tokens(text))) for text in texts]


# --- signals ---------------------------------------------------------------------------------

def response_text(record: InferenceRecord) -> str:
    """The output messages' content, one per line ("" when the call has none)."""
    return "\n".join(m.content for m in record.output_messages if m.content)


def _explanation(probs: Mapping[str, float], threshold: float) -> str:
    flagged = sorted(((p, label) for label, p in probs.items() if p >= threshold), reverse=True)
    return ", ".join(f"{label} {p:.2f}" for p, label in flagged)


def _record_signals(record: InferenceRecord, probs: Mapping[str, float], now: datetime,
                    scorer: str, threshold: float) -> list[Signal]:
    value = probs["toxicity"] if "toxicity" in probs else max(probs.values(), default=0.0)
    signals = [make_signal(record, "toxicity", value, now, detector=scorer,
                           label="toxic" if value >= threshold else "ok",
                           explanation=_explanation(probs, threshold))]
    signals.extend(make_signal(record, f"toxicity.{label}", p, now, detector=scorer)
                   for label, p in probs.items() if label != "toxicity")
    return signals


def score_toxicity(records: Sequence[InferenceRecord], now: datetime, model: ToxicityModel,
                   *, threshold: float = 0.5, batch_size: int = 32) -> list[Signal]:
    """A ``toxicity`` signal (labelled toxic/ok) and one ``toxicity.<label>`` per other label
    for every record with response text; texts go to the model ``batch_size`` at a time."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    scored = [(record, text[:MAX_CHARS]) for record in records
              if (text := response_text(record)).strip()]
    signals: list[Signal] = []
    for start in range(0, len(scored), batch_size):
        batch = scored[start:start + batch_size]
        probs = model.predict([text for _, text in batch])
        for (record, _), record_probs in zip(batch, probs, strict=True):
            signals.extend(_record_signals(record, record_probs, now, model.scorer, threshold))
    return signals
