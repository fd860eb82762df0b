"""Whether the worker keeps up with its input: the test that lets a half time out.

A request waits ``join_timeout`` for its response.  Measured on the wall clock,
that wait is wrong whenever the worker is behind: after a store outage (it read
nothing meanwhile), after a restart (the backlog waits), under overload.  The
other half was then produced moments after the first and sits unread in Kafka; a
timeout would file the call as request_only or response_only seconds before the
half arrives.  So a half may only time out while every joined partition is
either read to its end or being read close to the present: the newest message
handed to the pipeline was produced less than ``max_age_s`` ago (its Kafka
timestamp).  Pure; the caller passes the clock's value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PartitionPosition:
    unread: int                 # messages between the last one read and the end
    last_read_at: float | None  # Kafka timestamp (epoch s) of the last message read


def keeping_up(positions: Iterable[PartitionPosition], now: float, max_age_s: float) -> bool:
    """True when no partition has unread messages older than the worker's present."""
    for p in positions:
        if p.unread <= 0:
            continue
        if p.last_read_at is None or now - p.last_read_at > max_age_s:
            return False
    return True
