"""Text analysis for groundedness: sentences, checkable facts, content words and negation.

Pure; no I/O, no clock.  Facts are numbers, dates, times, codes and names, normalised so
that a sentence's facts can be looked up in the evidence of its context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# --- sentences ------------------------------------------------------------------------------


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


#: Abbreviations that never end a sentence (titles, "e.g.").
_NEVER_END = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "vs", "fig", "figs", "approx", "e.g",
    "i.e", "cf", "al", "vol", "pp", "ca", "gen", "lt", "col", "sgt", "rev", "hon", "mt",
})
#: Abbreviations that end a sentence only when a typical sentence opener follows.
_MAYBE_END = frozenset({
    "etc", "inc", "ltd", "co", "corp", "llc", "no", "u.s", "u.k", "u.s.a", "e.u", "a.m", "p.m",
})
_OPENERS = _wordset(
    "the this that these those it its he she they we i you there a an in on at for if when "
    "but and so then however also as after before our your my his her their to please all "
    "each some most many yes what how why where which who"
)
_BOUNDARY = re.compile(r"(?:\.{3}|…|[.!?]+)[\"'\u201d\u2019)\]]*(?=\s)")
_BULLET = re.compile(r"^\s*(?:[-*•·▪‣>]|\d{1,2}[.)]|[a-z][.)]|#{1,6})\s+")
_EMPHASIS = re.compile(r"\*\*|__|`")
_WORD_CHAR = re.compile(r"\w")
_CLOSED = re.compile(r"[.!?:;…][\"'\u201d\u2019)\]]*$")


def _ends_sentence(text: str, start: int, end: int) -> bool:
    """Whether the punctuation at ``text[start:end]`` closes a sentence."""
    following = text[end:end + 64].lstrip()  # bounded windows: linear in the text length
    if not following:
        return True
    if following[0].islower():
        return False
    if "." not in text[start:end] or text[start:end].startswith(("...", "…")):
        return True
    words = text[max(0, start - 64):start].split()
    word = words[-1].lstrip("(\"'\u201c\u2018[").lower() if words else ""
    next_word = re.sub(r"\W+$", "", following.split()[0]).lower()
    if word in _NEVER_END:
        return False
    dotted = re.fullmatch(r"(?:[a-z]\.)+[a-z]", word) is not None
    if word in _MAYBE_END or dotted or (len(word) == 1 and word.isalpha()):
        return next_word in _OPENERS
    return True


def _split_line(line: str) -> list[str]:
    parts, begin = [], 0
    for match in _BOUNDARY.finditer(line):
        if _ends_sentence(line, match.start(), match.end()):
            parts.append(line[begin:match.end()].strip())
            begin = match.end()
    parts.append(line[begin:].strip())
    return [piece for part in parts for piece in _split_lead_in(part)]


def _split_lead_in(sentence: str) -> list[str]:
    """"Here is the answer: The battery ..." -> the lead-in and the sentence."""
    head, colon, tail = sentence.partition(": ")
    if colon and tail[:1].isupper() and not content_words(head):
        return [head + ":", tail]
    return [sentence]


def _blocks(text: str) -> list[str]:
    """Lines, with bullets stripped and hard-wrapped lines joined back together."""
    blocks: list[str] = []
    open_block = False
    for raw in text.splitlines():
        stripped = raw.strip()
        bullet = _BULLET.match(stripped) is not None
        line = _EMPHASIS.sub("", _BULLET.sub("", stripped)).strip()
        if not line:
            open_block = False
            continue
        if open_block and not bullet and line[0].islower():
            blocks[-1] = f"{blocks[-1]} {line}"
        else:
            blocks.append(line)
        open_block = _CLOSED.search(blocks[-1]) is None
    return blocks


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``; list items and lines count as sentences, tiny fragments go."""
    sentences = [part for block in _blocks(text) for part in _split_line(block)]
    return [s for s in sentences if len(_WORD_CHAR.findall(s)) >= 3]


# --- facts ----------------------------------------------------------------------------------

_SPELLED = dict(zip(
    ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
     "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred"),
    (*range(2, 13), 20, 30, 40, 50, 60, 70, 80, 90, 100), strict=True))
_SCALE = {"thousand": 1e3, "k": 1e3, "million": 1e6, "mn": 1e6, "billion": 1e9, "bn": 1e9,
          "trillion": 1e12}
_MASKED = re.compile(
    r"\b\d{4}-\d{2}-\d{2}\b"                      # ISO dates
    r"|\b\d{1,2}:\d{2}\b"                         # times
    r"|\bv?\d+(?:\.\d+){2,}\b"                    # versions
    r"|\b[^\W\d_]+(?:[-_&]?[^\W_]*\d)[^\W_]*\b"   # codes: X2, COVID-19, SHA256, GPT-4o
)
_NUMBER = re.compile(
    r"(?<![\w.])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:\s?(thousand|million|billion|trillion|mn|bn|k)\b)?(?:st|nd|rd|th)?(?![\w.]\d)",
    re.IGNORECASE)
_TOKEN = re.compile(r"[^\W\d_][\w'\u2019&-]*")
_ACRONYM = re.compile(r"[A-Z][A-Z&]+s?")
_CAMEL = re.compile(r"[a-z][A-Z]")
_CONNECTORS = frozenset({"of", "de", "del", "da", "van", "von", "la", "le", "du"})
_TITLES = frozenset({"dr", "mr", "mrs", "ms", "prof", "sir"})
_STOP = _wordset(
    "a an the and or but if then so of to in on at by for with from into onto over under about "
    "as is are was were be been being am do does did done have has had having it its this that "
    "these those there here i you he she we they me him her us them my your his our their what "
    "which who whom whose when where why how all any both each few more most other some such "
    "no nor not only own same than too very can will just should could would may might must "
    "shall also up down out off again further once before after during while because since "
    "until between through every per within however although though yet still even s t "
    "don't can't won't isn't aren't"
)
_FILLER = _wordset(
    "sure certainly absolutely okay ok yes great glad happy help helps hope answer answers "
    "question questions following below summary thanks thank let know please note here's "
    "course welcome"
)
_NEGATIONS = frozenset({"not", "no", "never", "cannot", "without", "none", "nor", "neither",
                        "avoid", "prohibited", "forbidden"})
#: Clause breaks: punctuation, subordinators, and "and" when a new clause plausibly follows
#: ("... not included and costs €35"), not inside "wear and tear".
_CLAUSE_SPLIT = re.compile(
    r"[,;:.!?()]|\b(?:but|while|so|which|because|although|though|whereas|unless)\b"
    r"|\band\s+(?=(?:the|a|an|it|its|they|you|we|he|she|this|that|these|those|there|is|are|was"
    r"|were|can|cannot|must|may|will|should|has|have|does|do)\b|[a-z]+(?:s|ed)\b)")
#: Phrases with a negation word that state a limit or a price, not a negated claim.
_NOT_NEGATION = re.compile(
    r"\b(?:no|not|never)\s+(?:be\s+)?(?:more|less|later|earlier|longer|fewer|greater)\s+than\b"
    r"|\bat\s+no\s+(?:extra\s+|additional\s+)?(?:cost|charge)\b")


def without_false_negations(text: str) -> str:
    """``text`` (lower case) without the phrases whose "no" or "not" negates nothing ("at
    no charge", "no more than")."""
    return _NOT_NEGATION.sub(" ", text)


def _canon_number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.6f}".rstrip("0").rstrip(".")


def _numeric_facts(text: str) -> set[str]:
    facts = {m.group(0).lower() for m in _MASKED.finditer(text)}
    rest = _MASKED.sub(" ", text)
    for match in _NUMBER.finditer(rest):
        value = float(match.group(1).replace(",", ""))
        facts.add(_canon_number(value * _SCALE.get((match.group(2) or "").lower(), 1.0)))
    words = re.findall(r"[a-z]+", rest.lower())
    facts.update(str(_SPELLED[w]) for w in words if w in _SPELLED)
    return facts


def _norm_word(word: str) -> str:
    word = re.sub(r"['\u2019]s?$", "", word.lower())
    return word.strip("-&")


def _is_name_word(word: str) -> bool:
    return word[:1].isupper() and word.lower() not in _STOP and not _ACRONYM.fullmatch(word)


def _name_runs(text: str) -> list[tuple[int, list[str]]]:
    """Runs of capitalised words (joined by "of", "de", ...) with their first token index."""
    runs: list[tuple[int, list[str]]] = []
    previous_end, index = 0, 0
    for index, match in enumerate(_TOKEN.finditer(text)):
        word, adjacent = match.group(0), text[previous_end:match.start()].strip() == ""
        previous_end = match.end()
        extends = _is_name_word(word) or word.lower() in _CONNECTORS
        if runs and adjacent and extends and runs[-1][0] + len(runs[-1][1]) == index:
            runs[-1][1].append(word)
        elif _is_name_word(word):
            runs.append((index, [word]))
    for _, run in runs:
        while run and run[-1].lower() in _CONNECTORS:
            run.pop()
    return runs


def _entity_facts(text: str) -> set[str]:
    """Acronyms, CamelCase names and runs of capitalised words (not a lone sentence opener)."""
    masked = _MASKED.sub(" ", text)
    facts = {_norm_word(w) for w in _TOKEN.findall(masked)
             if (_ACRONYM.fullmatch(w) and w != "I") or _CAMEL.search(w)}
    for start, run in _name_runs(masked):
        if start == 0:  # the opener may just be capitalised: "Use PixelNote", "New York"
            run = run[1:]
        while run and run[0].lower() in _CONNECTORS:
            run = run[1:]
        words = [_norm_word(w) for w in run if _norm_word(w) not in _TITLES]
        if words:
            facts.add(" ".join(words))
    return facts


def extract_facts(sentence: str) -> set[str]:
    """Normalised checkable facts: numbers (``"1200"``, ``"3.5"``), dates, times, codes
    (``"covid-19"``) and names (``"marie curie"``, ``"gdpr"``, ``"pixelnote"``)."""
    return _numeric_facts(sentence) | _entity_facts(sentence)


def content_words(text: str) -> list[str]:
    words = (_norm_word(w) for w in re.findall(r"[\w'\u2019-]+", text))
    return [w for w in words if w and w not in _STOP and w not in _FILLER]


def _negates(word: str) -> bool:
    return word in _NEGATIONS or word.endswith("n't")


def stem(word: str) -> str:
    """Crude suffix stripping, enough to match "included", "includes" and "include"."""
    for suffix in ("ing", "ed", "es", "s", "e", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


Clause = tuple[frozenset[str], bool]  # content stems, negated


def clauses(text: str) -> list[Clause]:
    """Clauses with at least two content words, each with whether it is negated."""
    found: list[Clause] = []
    for clause in _CLAUSE_SPLIT.split(_NOT_NEGATION.sub(" ", text.lower().replace("\u2019", "'"))):
        words = re.findall(r"[a-z][\w'-]*", clause)
        stems = frozenset(stem(_norm_word(w)) for w in words
                          if w not in _STOP and w not in _FILLER and not _negates(w))
        if len(stems) >= 2:
            found.append((stems, any(_negates(w) for w in words)))
    return found


def polarity_conflict(sentence: str, chunk: str) -> bool:
    """Whether a clause of ``sentence`` is negated while the chunk clause sharing most of its
    words is not, or the other way round ("is included" against "is not included")."""
    chunk_clauses = clauses(chunk)
    for stems, negated in clauses(sentence):
        shared, same = max(((len(stems & other), other_negated == negated)
                            for other, other_negated in chunk_clauses), default=(0, True))
        if shared >= 2 and not same:
            return True
    return False


def coverage(sentence: str, context_stems: frozenset[str]) -> float:
    """Share of the sentence's content words that occur in the context."""
    stems = {stem(w) for w in content_words(sentence)}
    return len(stems & context_stems) / len(stems) if stems else 1.0


@dataclass(frozen=True, slots=True)
class ContextEvidence:
    """What a fact may be found in: the context's numbers, words and initialisms."""

    numbers: frozenset[str]
    words: frozenset[str]
    stems: frozenset[str]

    @classmethod
    def of(cls, text: str) -> ContextEvidence:
        words = {_norm_word(w) for w in _TOKEN.findall(text)}
        for _, run in _name_runs(text):
            initials = "".join(w[0] for w in run if w[0].isupper()).lower()
            words.update(initials[i:j] for i in range(len(initials))
                         for j in range(i + 2, min(len(initials), i + 6) + 1))
        stems = frozenset(stem(w) for w in content_words(text))
        return cls(frozenset(_numeric_facts(text)), frozenset(words), stems)

    def supports(self, fact: str) -> bool:
        if fact in self.numbers or fact in self.words:
            return True
        parts = fact.split()
        if all(p in self.words or p.removesuffix("s") in self.words for p in parts):
            return True
        return len(parts) > 1 and "".join(p[0] for p in parts) in self.words
