"""Swapped participants: a claim that keeps a clause's words but trades the two sides of it.

Pure; no I/O, no clock.  "Millbrook beat Kestrel Rovers" for "Kestrel Rovers beat
Millbrook" keeps every word, so a check that looks for changed words finds nothing.  Both
texts are cut into clauses (at commas, semicolons, colons and linking words); within a
claim clause and a context clause, a *swap* is two words that stand on either side of a
third, shared word (the verb, usually) in one order in the context and in the opposite
order in the claim.  A clause moved as a whole keeps its inner order, so clauses in
another order are not swaps; a claim in the passive ("... was acquired by ...") is left
alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Swap", "clause_tokens", "swapped"]

_CLAUSE_BREAK = re.compile(r"[;,:()]|\b(?:and|but|while|whereas|who|which|whose|after|"
                           r"before|because|so|then)\b", re.IGNORECASE)
#: Words that mark the passive voice, which legitimately reverses the order of the sides.
_PASSIVE = frozenset({"by"})


@dataclass(frozen=True, slots=True)
class Swap:
    """Two words that trade places around ``pivot``: the context has ``first`` ... ``pivot``
    ... ``second``; the claim has ``second`` ... ``pivot`` ... ``first``."""

    first: str
    pivot: str
    second: str


def clause_tokens(text: str, tokenise: Callable[[str], list[str]]) -> list[list[str]]:
    """The tokens of each clause of ``text`` (``tokenise`` splits one clause)."""
    return [words for part in _CLAUSE_BREAK.split(text) if (words := tokenise(part))]


def _positions(words: Sequence[str], is_content: Callable[[str], bool],
               stem: Callable[[str], str]) -> dict[str, tuple[int, str]]:
    """Content stem -> its position and word, for stems that occur once."""
    seen: dict[str, tuple[int, str]] = {}
    repeated: set[str] = set()
    for index, word in enumerate(words):
        if not is_content(word):
            continue
        key = stem(word)
        if key in seen:
            repeated.add(key)
        seen[key] = (index, word)
    return {key: place for key, place in seen.items() if key not in repeated}


def swapped(claim: Sequence[Sequence[str]], context: Sequence[Sequence[str]],
            is_content: Callable[[str], bool], stem: Callable[[str], str],
            min_shared: float = 0.8) -> Swap | None:
    """The first swap between a clause of ``claim`` and a clause of ``context`` (both as
    token lists) that share at least ``min_shared`` of each one's content words, or
    ``None``."""
    for mine in claim:
        if _PASSIVE & set(mine):
            continue
        ours = _positions(mine, is_content, stem)
        if len(ours) < 3:
            continue
        for theirs in context:
            if _PASSIVE & set(theirs):
                continue
            found = _swap_in(ours, _positions(theirs, is_content, stem), min_shared)
            if found is not None:
                return found
    return None


def _swap_in(claim: dict[str, tuple[int, str]], context: dict[str, tuple[int, str]],
             min_shared: float) -> Swap | None:
    shared = sorted((key for key in claim if key in context), key=context.__getitem__)
    if len(shared) < 3 or len(shared) < min_shared * max(len(claim), len(context)):
        return None
    rank = {key: index for index, key in enumerate(shared)}
    order = sorted(shared, key=claim.__getitem__)  # the shared words in the claim's order
    before = _inversions([rank[key] for key in order])
    for a, first in enumerate(shared):
        for b in range(a + 1, len(shared)):
            pivot = shared[b]
            if claim[pivot] > claim[first]:
                continue  # the claim keeps this order
            for second in shared[b + 1:]:
                if claim[second] > claim[pivot] or _adds_between(claim, context, second, first):
                    continue
                # A swap proper: trading the two sides back restores the context's order.
                restored = _exchange(order, rank, order.index(second), order.index(first))
                if before and not _inversions([rank[key] for key in restored]):
                    return Swap(claim[first][1], claim[pivot][1], claim[second][1])
    return None


def _adds_between(claim: dict[str, tuple[int, str]], context: dict[str, tuple[int, str]],
                  left: str, right: str) -> bool:
    """Whether the claim has a content word the context clause lacks between ``left`` and
    ``right`` ("Plus members *get* a free return label" retells "return labels are free
    for members"; a swap changes places, not words)."""
    low, high = claim[left][0], claim[right][0]
    return any(low < place < high and key not in context for key, (place, _) in claim.items())


def _block(order: Sequence[str], rank: dict[str, int], index: int) -> tuple[int, int]:
    """The run around ``order[index]`` that the context also has, in the same order
    ("Kestrel Rovers", "billing service"): its start and end in ``order``."""
    start, end = index, index + 1
    while start > 0 and rank[order[start - 1]] == rank[order[start]] - 1:
        start -= 1
    while end < len(order) and rank[order[end]] == rank[order[end - 1]] + 1:
        end += 1
    return start, end


def _exchange(order: Sequence[str], rank: dict[str, int], left: int, right: int) -> list[str]:
    """``order`` with the runs around positions ``left`` < ``right`` traded."""
    l1, l2 = _block(order, rank, left)
    r1, r2 = _block(order, rank, right)
    if l2 > r1:
        return list(order)
    return [*order[:l1], *order[r1:r2], *order[l2:r1], *order[l1:l2], *order[r2:]]


def _inversions(values: Sequence[int]) -> int:
    return sum(a > b for i, a in enumerate(values) for b in values[i + 1:])
