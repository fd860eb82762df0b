"""Drills: faults a worker or scorer puts on itself for a time window, to rehearse
the alerts that watch llmpulse itself (a store outage, a scorer that cannot keep up).

``LLMPULSE_DRILLS`` lists them as ``KIND@START+SECONDS`` separated by commas, START
in epoch seconds::

    store_down@1767225600+720,scorer_slow@1767225600+720

* ``store_down``: every read and write of the worker's store fails with
  :class:`DrillStoreDown`, as during a real outage (the worker holds its batch and
  retries, consumption pauses, the lag grows, nothing is lost).
* ``scorer_slow``: the scorer takes :data:`SLOW_SCORE_S` per task it scores, so its
  queue ages and it sheds sampled tasks as too old.

``llmpulse demo`` runs both in its long schedule (see ``simulator.demo_schedule``).
Parsing and the window test are pure; the clock is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

DrillKind = Literal["store_down", "scorer_slow"]
KINDS: tuple[DrillKind, ...] = ("store_down", "scorer_slow")
#: Seconds a ``scorer_slow`` drill adds per scored task.
SLOW_SCORE_S = 0.5
_SPEC = re.compile(r"^(?P<kind>[a-z_]+)@(?P<start>\d+(?:\.\d+)?)\+(?P<seconds>\d+(?:\.\d+)?)$")


class DrillStoreDown(ConnectionError):
    """What the store raises during a ``store_down`` drill."""


@dataclass(frozen=True, slots=True)
class Drill:
    kind: DrillKind
    start: float
    duration_s: float

    def active(self, now: float) -> bool:
        return self.start <= now < self.start + self.duration_s

    def spec(self) -> str:
        return f"{self.kind}@{self.start:g}+{self.duration_s:g}"


def parse_drills(text: str) -> tuple[Drill, ...]:
    """The drills of an ``LLMPULSE_DRILLS`` value; ValueError naming the bad part."""
    drills = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        match = _SPEC.match(part)
        if match is None:
            raise ValueError(f"{part!r} is not KIND@START+SECONDS "
                             f"(e.g. store_down@1767225600+600)")
        kind = match["kind"]
        if kind not in KINDS:
            raise ValueError(f"{part!r}: unknown drill {kind!r} (one of {', '.join(KINDS)})")
        drills.append(Drill(cast(DrillKind, kind), float(match["start"]),
                            float(match["seconds"])))
    return tuple(drills)


def active(drills: Sequence[Drill], kind: DrillKind, now: float) -> bool:
    return any(d.kind == kind and d.active(now) for d in drills)


class DrillClient:
    """A store client that fails every call during a ``store_down`` drill, and passes
    everything through otherwise."""

    _FAILING = frozenset({"insert", "query", "command", "query_df", "query_arrow",
                          "raw_query", "raw_insert"})

    def __init__(self, client: Any, drills: Sequence[Drill],
                 clock: Callable[[], float]) -> None:
        self._client, self._drills, self._clock = client, tuple(drills), clock

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._client, name)
        if name not in self._FAILING or not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            if active(self._drills, "store_down", self._clock()):
                raise DrillStoreDown("store unavailable (store_down drill, LLMPULSE_DRILLS)")
            return target(*args, **kwargs)

        return call
