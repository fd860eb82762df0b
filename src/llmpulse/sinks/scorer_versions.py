"""Which scorer version's quality scores a store query reads: one per signal, never two
mixed.

A new scorer version (``embedding:all-MiniLM-L6-v2@3`` after ``@2``, a new toxicity model)
scores on another scale, so a mean or a rate over the scores of two versions means
nothing.  The rule windows keep each version apart (:class:`llmpulse.windows.ScorePart`);
the store's readers (the report, ``llmpulse compare``, the canaries) pick one version per
signal with these helpers and say which, and how many scores of other versions they left
out.  A version is the scorer name without the execution providers it ran on, as in
:func:`llmpulse.windows.scorer_version` (``.../cuda+cpu`` and ``.../cpu`` are one model).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

#: The signals whose values depend on the scorer that made them.
QUALITY_SIGNALS = ("toxicity", "groundedness")
#: ``detector`` without a trailing ``/providers`` or ``[PROVIDERS]`` after the version.
VERSION_SQL = r"replaceRegexpOne(detector, '(@[^@/\\[]*)(?:/[^@]*|\\[[^@]*\\])$', '\\1')"
_QUALITY_IN = "name IN ('toxicity', 'groundedness')"


class Reader(Protocol):
    def query(self, sql: str, parameters: dict[str, Any] | None = None
              ) -> list[tuple[Any, ...]]: ...


@dataclass(frozen=True)
class Choice:
    """The version read for each quality signal (a signal with none is not read), and how
    many scores of each signal were left out because another version made them."""

    versions: Mapping[str, str] = field(default_factory=dict)
    left_out: Mapping[str, int] = field(default_factory=dict)

    def condition(self) -> tuple[str, dict[str, Any]]:
        """A condition over ``signals`` rows (columns ``name``, ``detector``) keeping the
        chosen version's quality scores, with its query parameters."""
        if not self.versions:
            return "0", {}
        clauses, params = [], {}
        for i, (name, version) in enumerate(sorted(self.versions.items())):
            clauses.append(f"(name = {{sv_name{i}:String}} AND {VERSION_SQL} = "
                           f"{{sv_version{i}:String}})")
            params[f"sv_name{i}"] = name
            params[f"sv_version{i}"] = version
        return "(" + " OR ".join(clauses) + ")", params

    def describe(self) -> str:
        """``toxicity by lexicon@1, groundedness by ...; 12 groundedness scores of other
        versions left out`` (empty when nothing was scored)."""
        parts = [f"{name} by {self.versions[name]}" for name in QUALITY_SIGNALS
                 if name in self.versions]
        out = [n for n in QUALITY_SIGNALS if self.left_out.get(n)]
        text = ", ".join(parts)
        if out:
            text += "; " + ", ".join(f"{self.left_out[n]:,} {n} scores" for n in out) + \
                " of other scorer versions left out"
        return text


def versions_in(store: Reader, where: str, params: dict[str, Any]
                ) -> dict[str, dict[str, tuple[int, Any]]]:
    """Per quality signal, its versions among the ``signals`` rows matching ``where``:
    version -> (scores, last ingested)."""
    rows = store.query(
        f"SELECT name, {VERSION_SQL} AS v, count(), max(ingested_at) FROM signals FINAL "
        f"WHERE {_QUALITY_IN} AND ({where}) GROUP BY name, v", params)
    out: dict[str, dict[str, tuple[int, Any]]] = {}
    for name, version, n, last in rows:
        out.setdefault(str(name), {})[str(version)] = (int(n), last)
    return out


def newest(found: Mapping[str, Mapping[str, tuple[int, Any]]]) -> Choice:
    """For each signal, the version that scored last (after an upgrade: the new one)."""
    return common([found])


def common(sides: Sequence[Mapping[str, Mapping[str, tuple[int, Any]]]]) -> Choice:
    """For each signal, the newest version that scored calls on every side that has scores
    of it (sides scored by different versions only cannot be compared on that signal: it
    is not read; a side with no scores of it at all has nothing to mix)."""
    versions: dict[str, str] = {}
    left_out: dict[str, int] = {}
    for name in QUALITY_SIGNALS:
        per_side = [side[name] for side in sides if side.get(name)]
        if not per_side:
            continue
        shared = set.intersection(*(set(s) for s in per_side))
        if shared:
            chosen = max(shared, key=lambda v: max(s[v][1] for s in per_side))
            versions[name] = chosen
        total = sum(n for s in per_side for n, _ in s.values())
        kept = sum(s[versions[name]][0] for s in per_side) if name in versions else 0
        if total > kept:
            left_out[name] = total - kept
    return Choice(versions, left_out)
