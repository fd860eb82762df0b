"""Polarity of a claim against the context: negation and antonyms, clause by clause.

Pure; no I/O, no clock.  Each claim clause is compared with the context clause that shares
most of its content words.  Words of an antonym group (rarely/commonly, higher/lower,
reversible/irreversible, before/after, allowed/forbidden, ...) give a clause a direction per
group, flipped by a negation ("not covered" reads as "excluded"); the claim conflicts with
the context when the directions differ.  A clause pair with no group word in common
conflicts when one is negated and the other is not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from llmpulse.detectors.claims import Clause, clauses_of

__all__ = ["Conflict", "polarity_clauses", "polarity_conflicts"]

#: (one side, the other side); one line per meaning.
_GROUPS: tuple[tuple[str, str], ...] = (
    ("rare rarely seldom uncommon uncommonly infrequent infrequently",
     "common commonly often frequent frequently usually routinely typically"),
    ("increase increases increased increasing rise rises rose risen rising raise raises raised "
     "grow grows grew grown growing growth gain gains gained climb climbs climbed jump jumps "
     "jumped surge surged higher more greater above over exceed exceeds exceeded exceeding "
     "widen widens widened widening beyond warmer hotter",
     "decrease decreases decreased decreasing fall falls fell fallen falling drop drops dropped "
     "decline declines declined lower lowers lowered reduce reduces reduced reducing shrink "
     "shrinks shrank shrunk narrow narrows narrowed narrowing cut cuts eased eases ease less "
     "fewer below under beneath slump slumped colder cooler"),
    ("before earlier prior previously", "after later afterwards following"),
    ("allowed allow allows permitted permit permits legal lawful",
     "forbidden prohibited banned ban bans illegal unlawful barred"),
    ("safe", "unsafe dangerous"),
    ("reversible reversibly recoverable restorable", "irreversible irreversibly permanently "
     "permanent unrecoverable"),
    ("include includes included including cover covers covered",
     "exclude excludes excluded excluding"),
    ("free", "fee fees charge charges charged cost costs paid pay pays sold"),
    ("north northern northward northwards northbound",
     "south southern southward southwards southbound"),
    ("east eastern eastward eastwards", "west western westward westwards"),
    ("exothermic release releases released releasing emit emits gives",
     "endothermic absorb absorbs absorbed absorbing"),
    ("alkaline basic", "acidic acid"),
    ("denser heavier", "lighter"),
    ("faster quicker", "slower"),
    ("closer nearer", "further farther away"),
    ("identical same", "different"),
    ("highest largest biggest maximum most top greatest deepest longest upper",
     "lowest smallest minimum least bottom shallowest shortest"),
    ("accept accepts accepted", "reject rejects rejected refuse refuses refused"),
    ("enable enables enabled", "disable disables disabled"),
    ("dormant active", "extinct"),
    ("unchanged keep keeps preserve preserves", "rewrite rewrites change changes changed alter "
     "alters altered"),
    ("mandatory required compulsory", "optional voluntary"),
    ("strong stronger", "weak weaker poor"),
    ("morning", "evening night"),
    ("open opened", "closed locked shut"),
    ("developed advanced", "emerging developing"),
)
#: Groups a negation does not turn around ("not before 4.2" is no claim about "after").
_FIXED = frozenset(i for i, (first, _) in enumerate(_GROUPS)
                   if first.split()[0] in ("before", "north", "east", "morning", "highest"))
_SIDES: dict[str, list[tuple[int, int]]] = {}
for _group, _pair in enumerate(_GROUPS):
    for _side, _words in enumerate(_pair):
        for _word in _words.split():
            _SIDES.setdefault(_word, []).append((_group, _side))

_NEGATIONS = frozenset({"not", "no", "never", "cannot", "nor", "neither", "none", "lack",
                        "lacks", "lacking"})
#: Groups whose second side says "no" by itself ("forbidden" is "not allowed").
_NEGATIVE_SIDE = frozenset(i for i, (first, _) in enumerate(_GROUPS)
                           if first.split()[0] in ("allowed", "safe", "include",
                                                   "accept", "enable"))
#: Phrases with a negation word that state a limit or a price, not a negated claim.
_REWRITES = (
    (re.compile(r"\b(?:do|does|must|should|may|can|will)?\s*(?:not|never)\s+(?:exceed|go\s+"
                r"(?:above|over|beyond)|surpass)\b", re.I), " at most "),
    (re.compile(r"\b(?:no|not|never)\s+(?:be\s+)?(?:more|less|later|earlier|longer|fewer"
                r"|greater|higher|lower)\s+than\b", re.I), " at most "),
    (re.compile(r"\bat\s+no\s+(?:extra\s+|additional\s+)?(?:cost|charge)\b", re.I), " free "),
    (re.compile(r"\bno\s+(?:extra\s+)?(?:charge|fee|cost)\b", re.I), " free "),
    (re.compile(r"\bless\s+dense\b", re.I), " lighter "),
    (re.compile(r"\bmore\s+dense\b", re.I), " denser "),
    (re.compile(r"\bno\s+longer\b", re.I), " not "),
    (re.compile(r"\bfor\s+good\b", re.I), " permanently "),
)


@dataclass(frozen=True, slots=True)
class Conflict:
    claim: str  # the claim clause
    context: str  # the context clause it contradicts
    claim_word: str  # the antonym or negation that differs ("" when none stands out)
    context_word: str


def _normalise(text: str) -> str:
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    return text


_UN_WORD = re.compile(r"un[a-z]{3,}(?:ed|able|ible)")


def _negated(clause: Clause) -> bool:
    """A negation word, an "un-" participle ("unaffected", "unused"), or "without" before an
    article or a verb ("without a visa", "without paying"; "without treatment" names a
    manner)."""
    words = clause.words
    return any(w in _NEGATIONS or w.endswith("n't") or (_UN_WORD.fullmatch(w) is not None
                                                         and w not in _SIDES)
               or (w == "without" and i + 1 < len(words)
                   and (words[i + 1] in ("a", "an", "any") or words[i + 1].endswith("ing")))
               for i, w in enumerate(words))


def _directions(clause: Clause) -> dict[int, list[tuple[int, str]]]:
    """Per antonym group, the (side, word) of each group word, flipped when negated."""
    flip = _negated(clause)
    found: dict[int, list[tuple[int, str]]] = {}
    for word in clause.words:
        for group, side in _SIDES.get(word, ()):
            turned = flip and group not in _FIXED
            found.setdefault(group, []).append((side ^ turned, word))
    return found


def _says_no(clause: Clause) -> bool:
    """Negated, or a "no" word such as "forbidden", but not both."""
    negative = any((group, 1) in _SIDES.get(w, ()) for w in clause.words
                   for group in _NEGATIVE_SIDE)
    return _negated(clause) != negative


def _close(claim: Clause, other: Clause) -> bool:
    """Whether two clauses talk about the same thing: most of the shorter one's words shared,
    or all of a short claim clause's and half of the other's."""
    shared = len(claim.stems & other.stems)
    if shared >= 3 or (shared >= 2 and shared >= 0.5 * max(len(claim.stems), len(other.stems))):
        return True
    return shared >= 1 and shared == len(claim.stems) and 2 * shared >= len(other.stems)


def _clause_conflict(claim: Clause, other: Clause) -> Conflict | None:
    mine, theirs = _directions(claim), _directions(other)
    shared = set(mine) & set(theirs)
    turning = shared - _FIXED
    for group in sorted(shared):
        a = [side for side, _ in mine[group]]
        b = [side for side, _ in theirs[group]]
        if set(a).isdisjoint(b) or (len(a) == len(b) and a != b):
            index = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), 0)
            index = min(index, len(a) - 1, len(b) - 1)
            return Conflict(claim.text, other.text, mine[group][index][1],
                            theirs[group][index][1])
    if not turning and _says_no(claim) != _says_no(other) and _close(claim, other):
        return Conflict(claim.text, other.text, "", "")
    return None


def polarity_clauses(texts: Sequence[str]) -> tuple[Clause, ...]:
    """The clauses of ``texts`` as :func:`polarity_conflicts` reads them."""
    return tuple(c for text in texts for c in clauses_of(_normalise(text)))


def polarity_conflicts(claim: str, support: Sequence[str],
                       others: Sequence[Clause] | None = None) -> list[Conflict]:
    """Clauses of ``claim`` whose direction or negation differs from the ``support``
    clause sharing most of their content words (at least two, or one and an antonym);
    ``others``: the :func:`polarity_clauses` to compare with instead, when already known
    (all of the context's, so that a claim meets the clause it is about even when that
    clause's chunk embeds less close)."""
    if others is None:
        others = polarity_clauses(support)
    conflicts = []
    for clause in clauses_of(_normalise(claim)):
        if not others:
            continue
        mine = set(_directions(clause))
        shared = [len(clause.stems & other.stems) for other in others]
        overlap = max(shared)
        # the clauses sharing most words, then those among them sharing most antonym groups
        nearest = [o for o, n in zip(others, shared, strict=True) if n == overlap]
        in_groups = [len(mine & set(_directions(o))) for o in nearest]
        groups = max(in_groups)
        if overlap >= 2 or (overlap >= 1 and (groups >= 1 or overlap == len(clause.stems))):
            found = (_clause_conflict(clause, o)
                     for o, g in zip(nearest, in_groups, strict=True) if g == groups)
            conflict = next((c for c in found if c is not None), None)
            if conflict is not None:
                conflicts.append(conflict)
    return conflicts
