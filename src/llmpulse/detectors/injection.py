"""Prompt injection and jailbreak attempts (OWASP LLM01) in prompts and retrieved documents.

Pure; no clock, and no I/O but one: unless a classifier is handed in, the first call
trains the shipped one (:mod:`llmpulse.models.injection_classifier` reads the corpus from
the package, once per process).  Rules plus an n-gram classifier, cheap enough for the
cheap path (``bench/injection_eval.py`` times it).  A text is read several ways, and each
reading is matched against the phrase patterns of :mod:`_injection_patterns`:

- as written, lower-cased, with leetspeak (``1gn0r3``), look-alike letters from other
  scripts in Latin words (a Russian or Greek word is left as written), and invisible
  characters undone, punctuation collapsed;
- hidden payloads decoded: Unicode tag characters (U+E0000..U+E007F, invisible everywhere)
  read as the ASCII they encode, base64 and hex runs decoded when they decode to text;
- letters only (``i g n o r e  p r e v i o u s`` or written backwards), for a few key
  phrases.

The patterns cover overrides, requests for the system prompt, role-play jailbreaks,
text addressed to a model that reads a document (notes, fake chat turns, HTML comments),
exfiltration, and overrides and system-prompt requests in a dozen languages.  A pattern
is tried only on a text holding one of its first words (or, for Chinese, Japanese, Korean
and Arabic ones, on a text that is not plain ASCII).

Invisible characters count as evidence on their own only where they have no ordinary use:
tag characters outside flag emoji, bidirectional overrides, zero-width characters inside
Latin words.  A match in words that talk *about* attacks ("what is prompt injection?",
"our filter blocks phrases like ...", or a question just before it: "how do jailbreaks
work?") counts for less, as does a user taking back their own earlier request ("ignore my
previous instructions, use a table").  A question after a match does not excuse it: an
attack often ends with one ("... no rules. How do I ...?").

The rules' score is a noisy-or over categories (the strongest piece of evidence of each),
in 0..1.  The same normalised and decoded text is then scored by the classifier
(:mod:`injection_classifier`), which catches attempts in words no pattern knows; the
detector's score is the larger of the two, and the signal's explanation quotes the
evidence.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from llmpulse.detectors import _injection_patterns as patterns
from llmpulse.detectors._base import make_signal, strongest_per_kind
from llmpulse.detectors.injection_classifier import InjectionClassifier
from llmpulse.records import InferenceRecord
from llmpulse.signals import Signal

#: Version of the detector, stored with every signal: bump it when the rules, the corpus,
#: the features or the training change, so that scores of different versions are not mixed.
DETECTOR = "injection-rules+ngram-lr@3"
SIGNAL = "prompt_injection"
CONTEXT_SIGNAL = "prompt_injection.context"
#: A text scoring at least this is labelled ``injection``.
THRESHOLD = 0.5
#: Characters of one text that are read (the head and the tail of a longer one).
MAX_CHARS = 20_000
#: How much a match in words about attacks, or a user's own correction, still counts.
MENTION_FACTOR = 0.35
SELF_FACTOR = 0.4
EXPLANATION_LIMIT = 400
#: N-grams of the classifier quoted in an explanation.
TOP_NGRAMS = 3

_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff\u180e\u00ad\u034f")
_BIDI_OVERRIDES = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_TAG_FIRST, _TAG_LAST = 0xE0000, 0xE007F
_BLACK_FLAG = "\U0001f3f4"
#: Cyrillic and Greek letters that look like Latin ones, and the Latin letter each passes for.
_LOOKALIKE = str.maketrans(
    "\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0456\u0455\u0458"
    "\u0501\u04cf\u04bb\u03bf\u03b1\u03b5\u03b9\u03bd\u03c4\u03ba\u03c1",
    "aeopcyxisjdlhoaeivtkp")
_MIXED_WORD = re.compile(r"\w*[\u0370-\u03ff\u0400-\u052f]\w*")
_LATIN = re.compile(r"[a-z]")
_LEET = str.maketrans("013457@$|8", "oieastasib")
_LEET_WORD = re.compile(r"[a-z0-9@$|]*[a-z][a-z0-9@$|]*")
_LEET_CHARS = frozenset("013457@$|8")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                         "\u00ab": '"', "\u00bb": '"'})
_NON_WORD = re.compile(r"[^\w]+|_+")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{16,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(r"(?<![0-9A-Za-z])(?:(?:\\x|0x)?[0-9a-fA-F]{2}[ :,]?){12,}")
_HEX_PAIR = re.compile(r"(?:\\x|0x)?([0-9a-fA-F]{2})")
_SPACED = re.compile(r"(?:\b\w[ .\-*_]){5,}\w\b")


def _group_end(source: str, start: int) -> int:
    """Index just past the group opening at ``source[start]``."""
    depth, i = 0, start
    while i < len(source):
        if source[i] == "\\":
            i += 2
            continue
        depth += {"(": 1, ")": -1}.get(source[i], 0)
        i += 1
        if depth == 0:
            return i
    return len(source)


def _split_top(group: str) -> list[str]:
    parts, depth, last, i = [], 0, 0, 0
    while i < len(group):
        ch = group[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(group[last:i])
            last = i + 1
        i += 1
    return [*parts, group[last:]]


def triggers(source: str) -> frozenset[str] | None:
    """Words one of which a text must hold for ``source`` to match: the first word of each
    alternative of the pattern's leading group (None when they cannot be told, e.g. a
    first word spelled as a pattern): a text without any is not searched."""
    body = source[2:] if source.startswith("\\b") else ""
    if (plain := re.match(r"[^\W\d_]+(?= )", body)) is not None:
        return frozenset({plain.group()})
    end = _group_end(body, 0) if body.startswith("(?:") else 0
    if not end or not body[end:].startswith((" ", ",", "\\b")):
        return None  # no leading group, or one whose words may go on ("(?:ai|bot)s?")
    alternatives = _split_top(body[3:end - 1])
    words: set[str] = set()
    for alternative in alternatives:
        m = re.match(r"[^\W\d_]+(?= |$)", alternative)
        if m is None:
            return None
        words.add(m.group())
    return frozenset(words)


def non_ascii_only(source: str) -> bool:
    """Whether ``source`` can match only a text with non-ASCII characters: it opens with a
    group of alternatives that all start with one (Chinese, Arabic: no word boundary)."""
    if not source.startswith("(?:"):
        return False
    alternatives = _split_top(source[3:_group_end(source, 0) - 1])
    return all(a and not a[0].isascii() for a in alternatives)


_COMPILED = tuple((category, weight, re.compile(source), triggers(source),
                   non_ascii_only(source))
                  for category, weight, source in patterns.PATTERNS)
_RAW = tuple((category, weight, re.compile(source, re.IGNORECASE))
             for category, weight, source in patterns.RAW_PATTERNS)
_MENTION = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in patterns.MENTION_WORDS)
                      + r")\b")
_SELF = re.compile("|".join(re.escape(w) for w in patterns.SELF_WORDS))
_ASKING = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in patterns.ASKING_WORDS) + r")\b")
#: How far before a match a question about it may start.
ASKING_REACH = 40
#: Letters-only spellings of the clearest phrases (spaced out, split by invisible
#: characters, or written backwards).
_SQUASHED = (
    ("override", 0.85, ("ignoreallpreviousinstructions", "ignorepreviousinstructions",
                        "ignoreallinstructions", "ignoreyourinstructions",
                        "disregardallpreviousinstructions", "disregardpreviousinstructions",
                        "forgetallpreviousinstructions", "forgetyourinstructions",
                        "ignoreallrules", "ignoreyourrules", "disregardyourrules",
                        "disregardallrules", "forgetyourrules")),
    ("system_prompt", 0.8, ("revealyoursystemprompt", "printyoursystemprompt",
                            "showmeyoursystemprompt", "showyoursystemprompt",
                            "repeatyoursystemprompt", "outputyoursystemprompt")),
    ("jailbreak", 0.8, ("doanythingnow", "youaredan", "developermodeenabled", "jailbreakmode",
                        "youhavenorules", "youhavenorestrictions")),
)


@dataclass(frozen=True, slots=True)
class Evidence:
    category: str
    weight: float
    quote: str
    #: Whether the weight was lowered: the match is talked about, or a user's own correction.
    discounted: bool = False

    def describe(self) -> str:
        return f"{self.category}: {self.quote}"


@dataclass(frozen=True, slots=True)
class InjectionResult:
    score: float  # 0..1
    evidence: tuple[Evidence, ...]  # strongest first, one per category

    @property
    def flagged(self) -> bool:
        return self.score >= THRESHOLD

    def explanation(self) -> str:
        text = "; ".join(e.describe() for e in self.evidence)
        return text if len(text) <= EXPLANATION_LIMIT else text[:EXPLANATION_LIMIT - 1] + "…"


# --- reading a text --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Hidden:
    visible: str  # the text without invisible characters
    tag_text: str  # what Unicode tag characters spell (flag emoji left out)
    zero_width_in_words: int
    bidi_overrides: int


def _hidden(text: str) -> _Hidden:
    if text.isascii():
        return _Hidden(text, "", 0, 0)
    visible: list[str] = []
    tags: list[str] = []
    zero_width = bidi = 0
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        code = ord(ch)
        if _TAG_FIRST <= code <= _TAG_LAST:
            j = i
            while j < n and _TAG_FIRST <= ord(text[j]) <= _TAG_LAST:
                j += 1
            run = text[i:j]
            if not (i > 0 and text[i - 1] == _BLACK_FLAG and len(run) <= 8):
                tags.append("".join(chr(ord(c) - _TAG_FIRST) for c in run
                                    if 0x20 <= ord(c) - _TAG_FIRST < 0x7F))
            i = j
            continue
        if ch in _ZERO_WIDTH:
            if 0 < i < n - 1 and text[i - 1].isascii() and text[i - 1].isalpha() and (
                    text[i + 1].isascii() and text[i + 1].isalpha()):
                zero_width += 1
        elif ch in _BIDI_OVERRIDES:
            bidi += 1
        else:
            visible.append(ch)
        i += 1
    return _Hidden("".join(visible), " ".join(t for t in tags if t), zero_width, bidi)


def _unmix(match: re.Match[str]) -> str:
    """A word of Latin letters with look-alikes from other scripts, in Latin; a word of
    another script alone (Russian, Greek) is left as written."""
    word = match.group()
    return word.translate(_LOOKALIKE) if _LATIN.search(word) else word


def _unleet(match: re.Match[str]) -> str:
    word = match.group()
    if _LEET_CHARS.isdisjoint(word):
        return word
    return word.translate(_LEET)


def normalise(text: str) -> str:
    """Lower case; leetspeak and look-alike letters undone; punctuation runs to one space."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_QUOTES)
    if not text.isascii():
        text = _MIXED_WORD.sub(_unmix, text)
    text = _LEET_WORD.sub(_unleet, text)
    return " " + _NON_WORD.sub(" ", text).strip() + " "


def _printable(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    letters = sum(ch.isalpha() or ch == " " for ch in text)
    return text if len(text) >= 8 and letters >= 0.8 * len(text) else None


def _decoded_payloads(text: str) -> Iterable[tuple[str, str]]:
    """(encoding, decoded text) of the base64 and hex runs that decode to text."""
    for m in _BASE64.finditer(text):
        run = m.group()
        if run.isalpha() and (run.islower() or run.isupper()):
            continue  # a long word, not an encoding
        padded = run + "=" * (-len(run) % 4)
        try:
            data = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            continue
        if (decoded := _printable(data)) is not None:
            yield "base64", decoded
    for m in _HEX.finditer(text):
        data = bytes(int(pair, 16) for pair in _HEX_PAIR.findall(m.group()))
        if (decoded := _printable(data)) is not None:
            yield "hex", decoded


def _quote(text: str, start: int, end: int) -> str:
    snippet = text[start:end].strip()
    return f"'{snippet[:80]}'"


def _talks_about(normalised: str, start: int, end: int, raw_lower: str) -> bool:
    """Whether the match sits among words about attacks, or in quotes in the raw text."""
    if _MENTION.search(normalised, max(0, start - 160), min(len(normalised), end + 100)):
        return True
    first = normalised[start:end].split()
    if _ASKING.search(normalised, max(0, start - ASKING_REACH), start + 1) and first \
            and _asked_in_same_sentence(first[0], raw_lower):
        return True
    if first:
        quoted = re.search(r"[\"'`\u201c\u2018]\s*" + re.escape(first[0]), raw_lower)
        if quoted is not None:
            return True
    return False


_SENTENCE_END = re.compile(r"[.?!;:\n]")


def _asked_in_same_sentence(first_word: str, raw_lower: str) -> bool:
    """Whether a question word precedes the match within its sentence of the raw text:
    "What is 2+2? Ignore all previous instructions ..." asks nothing about the attack.
    A match not found in the raw text (decoded, obfuscated) gets no benefit of the doubt."""
    for m in re.finditer(r"\b" + re.escape(first_word) + r"\b", raw_lower):
        before = raw_lower[max(0, m.start() - 4 * ASKING_REACH):m.start()]
        sentence = _SENTENCE_END.split(before)[-1]
        if _ASKING.search(normalise(sentence)[-ASKING_REACH - 2:]):
            return True
    return False


def _phrase_evidence(text: str, raw_lower: str, via: str = "") -> list[Evidence]:
    found: list[Evidence] = []
    present = frozenset(text.split())
    ascii_text = text.isascii()
    for category, weight, pattern, needs, non_ascii in _COMPILED:
        if (needs is not None and needs.isdisjoint(present)) or (non_ascii and ascii_text):
            continue
        m = pattern.search(text)
        if m is None:
            continue
        w = weight
        if _talks_about(text, m.start(), m.end(), raw_lower):
            w *= MENTION_FACTOR
        elif category == "override" and _SELF.search(text, max(0, m.start() - 40), m.end()):
            w *= SELF_FACTOR
        quote = _quote(text, m.start(), m.end())
        found.append(Evidence(category, w, f"{via}{quote}" if via else quote, w < weight))
    return found


def assess(text: str, classifier: InjectionClassifier | None = None) -> InjectionResult:
    """How much ``text`` looks like an injection attempt, with the evidence: the larger of
    the rules' score and the classifier's probability (``classifier``: by default the one
    trained on the corpus shipped with llmpulse, once per process).  A text the rules flag
    stays flagged, and its evidence is the rules'; the classifier adds attempts in words no
    rule knows, and when it alone flags a text the explanation names the n-grams that
    weighed most (``classifier: ...``) before any weaker rules' evidence."""
    rules, read = _assess_rules(text)
    model = classifier if classifier is not None else _shipped_classifier()
    found = model.score(read, rule_features(rules))
    p = round(found.probability, 4)
    if p <= rules.score:
        return rules
    if rules.score >= THRESHOLD or p < THRESHOLD:  # the rules' evidence tells why
        return InjectionResult(p, rules.evidence)
    quote = ", ".join(f"'{t}'" for t in model.top_features(found.features, TOP_NGRAMS))
    evidence = Evidence("classifier", p, quote or "no telling n-gram")
    return InjectionResult(p, (evidence, *rules.evidence))


def rule_features(rules: InjectionResult) -> tuple[float, float]:
    """What the classifier learns from the rules: their score, and whether they found an
    attack's phrase only in words about attacks or in a user's own correction."""
    discounted = rules.score < THRESHOLD and any(e.discounted for e in rules.evidence)
    return rules.score, float(discounted)


def _shipped_classifier() -> InjectionClassifier:
    from llmpulse.models.injection_classifier import shipped_classifier

    return shipped_classifier()


def assess_rules(text: str) -> InjectionResult:
    """The rules' score alone (no classifier), with their evidence."""
    return _assess_rules(text)[0]


def reading(text: str) -> str:
    """The normalised text the rules read, with what is hidden or encoded in it decoded
    (Unicode tags, base64 and hex runs, bidi-reversed text): what the classifier reads."""
    return _assess_rules(text)[1]


def _assess_rules(text: str) -> tuple[InjectionResult, str]:
    if len(text) > MAX_CHARS:
        half = MAX_CHARS // 2
        text = text[:half] + "\n" + text[-half:]
    hidden = _hidden(text)
    raw_lower = hidden.visible.lower()
    norm = normalise(hidden.visible)
    extra: list[str] = []
    phrases = _phrase_evidence(norm, raw_lower)  # phrases matched in any reading
    signs: list[Evidence] = []  # invisible characters where they have no ordinary use
    for category, weight, pattern in _RAW:
        if (m := pattern.search(hidden.visible)) is not None:
            phrases.append(Evidence(category, weight, _quote(hidden.visible, *m.span())))
    if hidden.tag_text:
        extra.append(normalise(hidden.tag_text))
        inner = _phrase_evidence(extra[-1], "", "in Unicode tag characters ")
        phrases += [Evidence("hidden", min(1.0, e.weight + 0.05), e.quote) for e in inner]
        signs.append(Evidence("hidden", 0.8, f"{len(hidden.tag_text)} characters hidden in "
                                              f"Unicode tags: '{hidden.tag_text[:60]}'"))
    for encoding, decoded in _decoded_payloads(hidden.visible):
        extra.append(normalise(decoded))
        inner = _phrase_evidence(extra[-1], "", f"in {encoding} ")
        phrases += [Evidence("encoded", min(1.0, e.weight + 0.05), e.quote) for e in inner]
    if hidden.bidi_overrides:
        extra.append(normalise(hidden.visible[::-1]))
        backwards = _phrase_evidence(extra[-1], "", "written backwards ")
        phrases += [Evidence("hidden", e.weight, e.quote) for e in backwards]
        signs.append(Evidence("hidden", 0.4, f"{hidden.bidi_overrides} bidirectional "
                                              "override characters"))
    if hidden.zero_width_in_words >= 2:
        signs.append(Evidence("hidden", 0.35, f"{hidden.zero_width_in_words} zero-width "
                                               "characters inside words"))
    if not phrases:
        phrases = _squashed_evidence(norm, bool(hidden.zero_width_in_words
                                                or hidden.bidi_overrides))
    return _combine(phrases + signs), " ".join([norm, *extra])


def _squashed_evidence(norm: str, obfuscated: bool) -> list[Evidence]:
    """The key phrases in the letters of ``norm`` alone; also backwards when the text
    looks obfuscated (invisible characters, spaced letters) or speaks of reversing."""
    letters = re.sub(r"[^a-z]", "", norm)
    readings = [("", letters)]
    if obfuscated or _SPACED.search(norm) or "revers" in norm or "backward" in norm:
        readings.append(("written backwards ", letters[::-1]))
    found: list[Evidence] = []
    for category, weight, phrases in _SQUASHED:
        for how, reading in readings:
            hit = next((p for p in phrases if p in reading), None)
            if hit is not None:
                found.append(Evidence(category, weight, f"{how}spelled out '{hit}'"))
                break
    return found


def _combine(evidence: Sequence[Evidence]) -> InjectionResult:
    return InjectionResult(*strongest_per_kind(evidence, lambda e: e.category,
                                               lambda e: e.weight))


# --- signals ---------------------------------------------------------------------------------

def prompt_texts(record: InferenceRecord) -> list[str]:
    """What the user wrote: the user messages."""
    return [m.content for m in record.input_messages if m.role == "user" and m.content]


def context_texts(record: InferenceRecord) -> list[tuple[str, str]]:
    """(where, text) of what the model was given to read: retrieved documents and tool
    results."""
    out = [(f"document {d.id or i}", d.content)
           for i, d in enumerate(record.context_documents) if d.content]
    out += [(f"tool message {i}", m.content)
            for i, m in enumerate(record.input_messages) if m.role == "tool" and m.content]
    return out


def _worst(results: Iterable[tuple[str, InjectionResult]]) -> tuple[str, InjectionResult]:
    return max(results, key=lambda pair: pair[1].score)


def _signal(record: InferenceRecord, name: str, where: str, result: InjectionResult,
            now: datetime) -> Signal:
    explanation = result.explanation()
    if where and explanation:
        explanation = f"{where}: {explanation}"
    return make_signal(record, name, result.score, now,
                       label="injection" if result.flagged else "clean",
                       detector=DETECTOR, explanation=explanation)


def score_injection(records: Sequence[InferenceRecord], now: datetime) -> list[Signal]:
    """``prompt_injection`` on calls with user messages (the most suspicious one), and
    ``prompt_injection.context`` on calls with retrieved documents or tool results."""
    signals: list[Signal] = []
    for r in records:
        prompts = prompt_texts(r)
        if prompts:
            _, result = _worst(("", assess(t)) for t in prompts)
            signals.append(_signal(r, SIGNAL, "", result, now))
        contexts = context_texts(r)
        if contexts:
            where, result = _worst((w, assess(t)) for w, t in contexts)
            signals.append(_signal(r, CONTEXT_SIGNAL, where, result, now))
    return signals
