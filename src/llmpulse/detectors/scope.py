"""Scope of a claim against the context: quantifiers, modality, conditions and roles.

Pure; no I/O, no clock.  An answer that copies the context's wording can still change what
it says by one small word: "all" for "some", "must" for "may", "will" for "could", a
condition dropped ("regardless of ...", where the context says "only if ..."), or two
participants swapped around the same verb ("the retailer sued the supplier").  Each claim
clause is compared with the context clause that shares most of its content words (anywhere
in the context, not only the chunks that embed closest); conditions are judged sentence by
sentence because clause splitting cuts "unless ..." off its main clause.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from llmpulse.detectors.claims import Clause, clauses_of
from llmpulse.detectors.text_facts import content_words, stem, without_false_negations

__all__ = ["ScopeConflict", "context_clauses", "scope_conflicts"]


@dataclass(frozen=True, slots=True)
class ScopeConflict:
    kind: str  # quantifier, modality, condition or role
    claim_word: str  # what the claim says ("all", "must", "regardless", "A ... B")
    context_word: str  # what the context says instead


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# --- quantifiers ----------------------------------------------------------------------------

#: Quantifier classes; a multi-word phrase is read before its words.
_QUANTIFIERS: dict[str, frozenset[str]] = {
    "all": _words("all every everyone everything everybody always both whatever regardless "
                  "entire entirely"),
    "most": _words("most majority mostly usually generally typically largely mainly bulk"),
    "some": _words("some several certain sometimes occasionally various"),
    "few": _words("few minority rarely seldom"),
    "none": _words("none nobody nothing"),
    "only": _words("only solely exclusively"),
}
_PHRASES = ((re.compile(r"\ba few\b"), " several "), (re.compile(r"\bnot all\b"), " some "),
            (re.compile(r"\ball the way\b"), " "), (re.compile(r"\bno one\b"), " nobody "),
            (re.compile(r"\bnot only\b"), " "), (re.compile(r"\bonly once\b"), " once "))
#: For each class, the classes of the context clause it contradicts.
_QUANTIFIER_CONFLICTS = {
    "all": {"some", "few", "most", "only", "none"},
    "most": {"few", "none", "all"},
    "some": {"all", "none", "only"},
    "few": {"most", "all"},
    "none": {"some", "most", "all", "few"},
}
_RATE_NOUNS = _words("day days week weeks month months year years hour hours minute minutes "
                     "morning evening night time times")


def _quantifiers(words: Sequence[str]) -> dict[str, str]:
    """Quantifier class -> the word that showed it; "every month" is a rate, not a scope."""
    found: dict[str, str] = {}
    for index, word in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else ""
        if word in ("every", "each", "all") and (following in _RATE_NOUNS
                                                  or following[:1].isdigit()):
            continue
        for name, members in _QUANTIFIERS.items():
            if word in members:
                found.setdefault(name, word)
    return found


# --- modality -------------------------------------------------------------------------------

_STRONG = _words("must shall")
_NEEDED = _words("required require requires mandatory compulsory obliged need needs")
_ALLOWED = _words("may can could might optional allowed permitted possible possibly")
_ADVISED = _words("recommended advised advisable suggested")
_CERTAIN = _words("will definitely certainly shown proven")
_HEDGE = _words("might could possibly perhaps suspect suspected probably potentially")
_MODAL_CONFLICTS = {
    "required": {"allowed", "not required", "advised"},
    "allowed": {"required", "forbidden", "certain"},
    "forbidden": {"allowed", "not required"},
    "not required": {"required", "forbidden"},
    "certain": {"allowed"},
    "advised": {"required"},
}


def _negated(words: Sequence[str]) -> bool:
    kept = without_false_negations(" ".join(words)).split()  # "at no charge" negates nothing
    return any(w in ("not", "never", "cannot", "no", "nothing", "nobody", "none")
               or w.endswith("n't") for w in kept)


def _modality(words: Sequence[str]) -> dict[str, str]:
    """Modal class -> word: required, allowed, forbidden, not required, advised, certain."""
    negated = _negated(words)
    found: dict[str, str] = {}
    text = " ".join(words)
    if re.search(r"\b(?:has|have|had) to\b", text):
        found["not required" if negated else "required"] = "have to"
    for word in words:
        if word in ("cannot", "can't", "mustn't", "shouldn't"):
            found.setdefault("forbidden", word)
        elif word == "should":
            if negated:
                found.setdefault("forbidden", word)
        elif word in _STRONG:
            found.setdefault("forbidden" if negated else "required", word)
        elif word in _NEEDED:
            found.setdefault("not required" if negated else "required", word)
        elif word in _ALLOWED:
            found.setdefault("forbidden" if negated else "allowed", word)
        elif word in _ADVISED and not negated:
            found.setdefault("advised", word)
        elif word in _CERTAIN and not negated:
            found.setdefault("certain", word)
    return found


# --- conditions -----------------------------------------------------------------------------

_CONDITION = re.compile(r"\b(?:if|unless|provided|providing|subject to|as long as|only when"
                        r"|only if|permitting|otherwise|except|whichever)\b")
_UNCONDITIONAL = re.compile(r"\b(?:regardless|whatever|whether or not|no matter|even if"
                            r"|in (?:all|any) cases?|always|never|every|all)\b")


# --- roles ----------------------------------------------------------------------------------

_PASSIVE = re.compile(r"\b(?:is|are|was|were|be|been|being|gets?|got)\s+(?:\w+\s+){0,2}?"
                      r"\w+(?:ed|en|t)\s+by\b")


def _positions(words: Sequence[str]) -> dict[str, int]:
    """Stem -> position, for content words that occur once in the clause."""
    stems = [stem(w) if w in set(content_words(" ".join(words))) else "" for w in words]
    counts: dict[str, int] = {}
    for s in stems:
        counts[s] = counts.get(s, 0) + 1
    return {s: i for i, s in enumerate(stems) if s and counts[s] == 1 and len(s) > 2}


def _swapped(claim: Clause, other: Clause) -> tuple[str, str] | None:
    """Two words that trade places around others both clauses share, the rest in the same
    order ("A sued B for X" against "B sued A for X"); passives ("A was sued by B") turn
    order around honestly and are skipped, and so are clauses that share too few words to
    be copies of one another (a paraphrase reorders freely)."""
    if _PASSIVE.search(claim.text.lower()) or _PASSIVE.search(other.text.lower()):
        return None
    common = len(claim.stems & other.stems)
    if common < 3 or common < 0.75 * len(claim.stems) or common < 0.6 * len(other.stems):
        return None
    mine, theirs = _positions(claim.words), _positions(other.words)
    shared = set(mine) & set(theirs)
    said = sorted(shared, key=mine.__getitem__)
    known = sorted(shared, key=theirs.__getitem__)
    moved = [i for i, (a, b) in enumerate(zip(said, known, strict=True)) if a != b]
    if len(moved) == 2 and moved[1] - moved[0] >= 2:
        first, last = moved
        if said[first] == known[last] and said[last] == known[first]:
            return known[first], known[last]
    return None


# --- matching -------------------------------------------------------------------------------


def _normalise(text: str) -> str:
    text = text.lower().replace("\u2019", "'")
    for pattern, replacement in _PHRASES:
        text = pattern.sub(replacement, text)
    return text


def _best(clause: Clause, others: Sequence[Clause]) -> list[Clause]:
    """The context clauses sharing most of ``clause``'s content words (two at least, or all
    of a one-word clause)."""
    if not others:
        return []
    top = max(len(clause.stems & o.stems) for o in others)
    if top < 2 and not (top == 1 and len(clause.stems) == 1):
        return []
    return [o for o in others if len(clause.stems & o.stems) == top]


def _clause_conflicts(claim: Clause, matches: Sequence[Clause]) -> list[ScopeConflict]:
    mine_q, mine_m = _quantifiers(claim.words), _modality(claim.words)
    for other in matches:
        theirs_q, theirs_m = _quantifiers(other.words), _modality(other.words)
        for name, word in mine_q.items():
            if name in theirs_q:
                continue
            against = [theirs_q[c] for c in sorted(_QUANTIFIER_CONFLICTS.get(name, ()))
                       if c in theirs_q]
            if against:
                return [ScopeConflict("quantifier", word, against[0])]
        for name, word in mine_m.items():
            if name in theirs_m:
                continue
            against = [theirs_m[c] for c in sorted(_MODAL_CONFLICTS[name]) if c in theirs_m]
            if against:
                return [ScopeConflict("modality", word, against[0])]
        hedges = [w for w in other.words if w in _HEDGE]
        if hedges and not mine_m and not (set(claim.words) & (_HEDGE | _ALLOWED)) and len(
                claim.stems & other.stems) >= 2:
            return [ScopeConflict("modality", "", hedges[0])]
        swap = _swapped(claim, other)
        if swap is not None:
            return [ScopeConflict("role", " \u2026 ".join(reversed(swap)), " \u2026 ".join(swap))]
    return []


_RATE = re.compile(r"\b(?:every|each|all)\s+(?:\d\S*\s+)?(?:"
                   + "|".join(sorted(_RATE_NOUNS)) + r")\b")


def _condition_conflict(claim: str, context_sentences: Sequence[str]) -> ScopeConflict | None:
    """The claim says "regardless", "always" ... where the context sentence closest to it in
    words states a condition, and the claim states none."""
    lowered = _RATE.sub(" ", _normalise(claim))
    unconditional = _UNCONDITIONAL.search(lowered)
    if unconditional is None or _CONDITION.search(lowered):
        return None
    stems = {stem(w) for w in content_words(claim)}
    scored = [(len(stems & {stem(w) for w in content_words(s)}), s) for s in context_sentences]
    overlap, best = max(scored, default=(0, ""))
    condition = _CONDITION.search(_normalise(best))
    if overlap >= 2 and condition is not None:
        return ScopeConflict("condition", unconditional.group(0), condition.group(0))
    return None


def context_clauses(sentences: Sequence[str]) -> tuple[Clause, ...]:
    """The clauses ``scope_conflicts`` compares claims with, from the context's sentences."""
    return tuple(c for s in sentences for c in clauses_of(_normalise(s)))


def scope_conflicts(claim: str, sentences: Sequence[str],
                    others: Sequence[Clause] | None = None) -> list[ScopeConflict]:
    """Quantifier, modality, condition and role changes of ``claim`` against the context
    ``sentences`` (``others``: their :func:`context_clauses`, when already known)."""
    if others is None:
        others = context_clauses(sentences)
    found: list[ScopeConflict] = []
    for clause in clauses_of(_normalise(claim)):
        found.extend(c for c in _clause_conflicts(clause, _best(clause, others))
                     if c not in found)
    condition = _condition_conflict(claim, sentences)
    if condition is not None and not any(c.kind == "quantifier" for c in found):
        found.append(condition)
    return found
