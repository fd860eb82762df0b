"""Edit check for near-copies: what a claim that copies a context sentence changed in it.

Pure; no I/O, no clock.  Each claim is aligned with the context sentence it copies most of,
token by token (:class:`difflib.SequenceMatcher`).  When most of the claim's tokens occur in
that sentence in the same order, the claim is a *near-copy*, and the tokens it substitutes
or inserts are exactly what it changed: a substituted content word ("higher" where the
sentence says "lower") or an inserted content word ("... sent by registered mail") is
unsupported.  Deletions are fine (an answer may leave things out), and so are harmless
edits: function words ("the" for "a", "on" for "at"), inflections ("caches" for "cache"),
common synonyms and set phrases ("ask for" for "request", :mod:`._synonyms`), contractions,
and phrases moved from elsewhere in the sentence (clauses in another order); but not a
negating prefix ("synchronous" for "asynchronous").  A claim that shares less with any
sentence is a paraphrase; this check says nothing about it.  :func:`role_swaps` finds two
participants traded around a verb (:mod:`llmpulse.detectors.swaps`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from llmpulse.detectors._synonyms import PHRASES, synonyms_of
from llmpulse.detectors.swaps import clause_tokens, swapped
from llmpulse.detectors.text_facts import stem

__all__ = ["Edit", "EditRules", "copy_edits", "role_swaps", "tokens"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Words whose substitution or insertion changes no fact: articles, pronouns, auxiliaries,
#: prepositions of place and time, linking words.  Negations, quantifiers, modals,
#: comparatives and condition words are deliberately absent.
_FUNCTION = _words("""
a an the this that these those it its they them their theirs he him his she her hers we us
our you your i me my one ones there here who whom whose which what
is are was were be been being am has have had having do does did
of in on at to for by from with into onto upon as via per about around over across through
throughout between among along within out up during
and also so then thus too just well both plus
s 's
""")
#: Contractions and spelling variants, read as the words they stand for.
_REWRITES = {"can't": "cannot", "won't": "will not", "don't": "do not", "doesn't": "does not",
             "isn't": "is not", "aren't": "are not", "wasn't": "was not", "weren't": "were not",
             "shouldn't": "should not", "mustn't": "must not", "hasn't": "has not",
             "haven't": "have not", "didn't": "did not", "couldn't": "could not",
             "wouldn't": "would not", "can not": "cannot"}
#: Words whose removal from inside a copied sentence turns it around ("... are not allowed"
#: copied as "... are allowed").
_TURNING = _words("not no never cannot only unless except without nor neither")
#: Light verbs whose substitution leaves the fact to the words around them ("the build went
#: from 14 minutes to under 6" for "lowered the build time from 14 minutes to under 6").
_LIGHT_VERBS = _words("go goes going went gone become becomes became")
#: Verbs that attribute a statement without changing it ("the trial found ...").
_REPORTING = _words("found finds find showed shows shown reported reports says said notes "
                    "noted states stated according")
#: Abbreviations, read as the words they stand for.
_ABBREVIATIONS = {"%": "percent", "ms": "milliseconds", "km": "kilometres", "kg": "kilograms",
                  "min": "minutes", "mins": "minutes", "hrs": "hours", "yrs": "years"}
#: Number words: amounts are the amount check's business, so they never count here.
_NUMBER_WORDS = _words("zero one two three four five six seven eight nine ten eleven twelve "
                       "twenty thirty forty fifty sixty seventy eighty ninety hundred "
                       "thousand million billion half dozen")
_TOKEN = re.compile(r"\d[\d.,:/]*\d|\d|[a-z]+(?:['\u2019][a-z]+)?|%")


def tokens(text: str) -> list[str]:
    """Lower-case word and number tokens, contractions spelled out."""
    text = text.lower().replace("\u2019", "'")
    for short, long in _REWRITES.items():
        if " " in short:
            text = text.replace(short, long)
    found: list[str] = []
    for token in _TOKEN.findall(text):
        token = _ABBREVIATIONS.get(token, token).removesuffix("'s")  # "the sun's" -> "sun"
        found.extend(_REWRITES.get(token, token).split())
    return _read_phrases(found)


#: First word of a set phrase -> the phrases it starts, longest first.
_PHRASES_BY_FIRST: dict[str, list[tuple[tuple[str, ...], str]]] = {}
for _phrase, _meaning in sorted(PHRASES, key=lambda item: -len(item[0])):
    _PHRASES_BY_FIRST.setdefault(_phrase[0], []).append((_phrase, _meaning))


def _read_phrases(words: list[str]) -> list[str]:
    """``words`` with each set phrase replaced by the word it means ("ask for" ->
    "request", "free of charge" -> "free"), so that such rewordings align."""
    if len(words) < 2:
        return words
    out: list[str] = []
    index = 0
    while index < len(words):
        for phrase, word in _PHRASES_BY_FIRST.get(words[index], ()):
            if tuple(words[index:index + len(phrase)]) == phrase:
                out.append(word)
                index += len(phrase)
                break
        else:
            out.append(words[index])
            index += 1
    return out


@dataclass(frozen=True, slots=True)
class EditRules:
    """When a claim counts as a near-copy of a context sentence."""

    min_copied: float = 0.75  # share of the claim's tokens in the sentence, in order
    min_covered: float = 0.8  # ... or share of the sentence's tokens in the claim, in order
    min_share: float = 0.5  # ... when the claim's share is at least this
    min_tokens: int = 5  # shorter claims are not judged (too little to align)
    min_run: int = 3  # the longest copied run of tokens must be at least this long
    min_moved: int = 3  # a phrase this long found elsewhere in the context was moved


@dataclass(frozen=True, slots=True)
class Edit:
    """One change a near-copy made to the sentence it copies."""

    #: "substituted", "inserted", "dropped" (a negation, "only", "unless") or "swapped" (two
    #: participants trade places around a verb: "Millbrook beat Kestrel Rovers")
    kind: str
    words: tuple[str, ...]  # the claim's words that change a fact (dropped: the sentence's)
    claim_text: str  # the claim's words
    context_text: str  # the sentence's words they replace ("" when inserted)
    sentence: str  # the context sentence the claim copies


def _harmless_word(word: str, replaced: Sequence[str]) -> bool:
    if word in _FUNCTION or word in _NUMBER_WORDS or word[0].isdigit():
        return True
    if not replaced and word in _REPORTING:
        return True
    if replaced and word in _LIGHT_VERBS:
        return True
    initials = "".join(w[0] for w in replaced if w not in _FUNCTION)
    if len(word) >= 2 and word == initials:  # "jwst" for "james webb space telescope"
        return True
    for other in replaced:
        if _negated_form(word, other):
            return False  # "synchronous" for "asynchronous"
        if min(len(word), len(other)) >= 3 and (word in other or other in word):
            return True  # "war" in "wartime"
        if other == word or stem(other) == stem(word):
            return True
        if _same_meaning(word, other):
            return True
        shorter = min(len(word), len(other))
        prefix = len(_common_prefix(word, other))
        if shorter >= 4 and prefix >= 4 and prefix >= shorter - 1:  # cache / caches
            return True
    return False


#: Prefixes that turn a word into its opposite ("asynchronous", "unpaid", "non-urgent").
_NEGATING_PREFIXES = ("non", "un", "in", "im", "il", "ir", "dis", "a")


def _negated_form(word: str, other: str) -> bool:
    """Whether one word is the other with a negating prefix."""
    short, long = sorted((word, other), key=len)
    return len(short) >= 4 and any(long == prefix + short for prefix in _NEGATING_PREFIXES)


def _same_meaning(word: str, other: str) -> bool:
    """Whether the two words are common synonyms, directly or once inflections are
    stripped ("lenders" / "banks")."""
    if other in synonyms_of(word):
        return True
    return (stem(other) in {stem(w) for w in synonyms_of(word)}
            or stem(word) in {stem(w) for w in synonyms_of(other)})


def _common_prefix(a: str, b: str) -> str:
    size = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        size += 1
    return a[:size]


def _moved(span: Sequence[str], sentence: Sequence[str], minimum: int) -> bool:
    """Whether ``span`` (at least ``minimum`` tokens) occurs as a run in ``sentence``."""
    size = len(span)
    if size < minimum:
        return False
    return any(list(sentence[i:i + size]) == list(span) for i in range(len(sentence) - size + 1))


def _content(span: Sequence[str]) -> set[str]:
    return {stem(w) for w in span
            if w not in _FUNCTION and w not in _NUMBER_WORDS and not w[0].isdigit()}


def _changed(span: Sequence[str], replaced: Sequence[str], context: Sequence[str],
             others: Sequence[set[str]], rules: EditRules) -> list[str]:
    """The words of ``span`` that change a fact: not harmless, not part of a phrase moved
    from elsewhere in the context, and, when inserted, not a word the context has nor a
    phrase that retells another context sentence (``others``: their content stems)."""
    if _moved(span, context, rules.min_moved):
        return []
    words = _content(span)
    if len(words) >= 2 and any(len(words & other) * 3 >= len(words) for other in others):
        return []
    known = {stem(w) for w in context} if not replaced else set()
    return [w for w in span if not _harmless_word(w, replaced) and stem(w) not in known]


def _alignment(claim: Sequence[str], sentence: Sequence[str], rules: EditRules
               ) -> tuple[float, int, SequenceMatcher[str]]:
    """How closely ``claim`` copies ``sentence`` (1 = the claim is the sentence, or all of
    it plus insertions), its longest copied run, and the alignment."""
    matcher = SequenceMatcher(None, list(sentence), list(claim), autojunk=False)
    blocks = matcher.get_matching_blocks()
    copied = sum(b.size for b in blocks)
    longest = max((b.size for b in blocks), default=0)
    share = copied / len(claim)
    closeness = share / rules.min_copied
    if share >= rules.min_share:
        closeness = max(closeness, copied / len(sentence) / rules.min_covered)
    return closeness, longest, matcher


def copy_edits(claim: str, sentences: Sequence[str], rules: EditRules | None = None, *,
               tokenised: Sequence[list[str]] | None = None) -> list[Edit] | None:
    """The fact-changing edits of ``claim`` against the context sentence it copies, or
    ``None`` when it copies none of ``sentences`` closely enough to be judged this way
    (a paraphrase).  An empty list: a faithful near-copy.  ``tokenised``: the
    :func:`tokens` of each sentence, when already known."""
    rules = rules or EditRules()
    mine = tokens(claim)
    if len(mine) < rules.min_tokens:
        return None
    best: tuple[float, int, SequenceMatcher[str], list[str], str] | None = None
    every = list(tokenised) if tokenised is not None else [tokens(s) for s in sentences]
    context = [t for words in every for t in (*words, "")]
    needed = min(rules.min_copied, rules.min_share) * len(mine)
    for sentence, theirs in zip(sentences, every, strict=True):
        present = set(theirs)
        if not theirs or sum(w in present for w in mine) < needed:
            continue  # too few shared tokens to be a near-copy: no alignment needed
        copied, longest, matcher = _alignment(mine, theirs, rules)
        if best is None or copied > best[0]:
            best = (copied, longest, matcher, theirs, sentence)
    if best is None or best[0] < 1.0 or best[1] < rules.min_run:
        return None
    _, _, matcher, theirs, sentence = best
    others = [_content(words) for words in every if words is not theirs]
    edits: list[Edit] = []
    opcodes = matcher.get_opcodes()
    for index, (op, i1, i2, j1, j2) in enumerate(opcodes):
        if op == "delete" and 0 < index < len(opcodes) - 1:
            dropped = [w for w in theirs[i1:i2] if w in _TURNING]
            if dropped and j1 < len(mine):
                edits.append(Edit("dropped", tuple(dropped), "", " ".join(theirs[i1:i2]),
                                  sentence))
            continue
        if op in ("equal", "delete"):
            continue
        span, replaced = mine[j1:j2], theirs[i1:i2]
        changed = _changed(span, replaced, context, others, rules)
        if not changed:
            continue
        kind = "substituted" if op == "replace" else "inserted"
        context_text = " ".join(replaced) if op == "replace" else ""
        edits.append(Edit(kind, tuple(changed), " ".join(span), context_text, sentence))
    return edits


def role_swaps(claim: str, sentences: Sequence[str]) -> list[Edit]:
    """Two participants of a context clause that the claim, keeping nearly all of that
    clause's words, puts the other way round ("Millbrook beat Kestrel Rovers" for "Kestrel
    Rovers beat Millbrook"); at most one, as a ``"swapped"`` edit."""
    mine = clause_tokens(claim, tokens)
    for sentence in sentences:
        swap = swapped(mine, clause_tokens(sentence, tokens), _is_content, stem)
        if swap is not None:
            return [Edit("swapped", (swap.second, swap.first),
                         f"{swap.second} \u2026 {swap.pivot} \u2026 {swap.first}",
                         f"{swap.first} \u2026 {swap.pivot} \u2026 {swap.second}", sentence)]
    return []


def _is_content(word: str) -> bool:
    return word not in _FUNCTION and word not in _NUMBER_WORDS and not word[0].isdigit()
