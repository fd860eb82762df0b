"""A live canary's logic: which values it compares, from when, and when it ends.  Pure: the
stored calls are read by :mod:`llmpulse.release.canary_desk`, the clock is passed in.

* Sides: ``candidate: newest`` is the selector value whose first call is the latest,
  the baseline the one first seen before it; otherwise the values given.  The canary
  starts at the candidate's first call, and both sides are read from then on, so every
  look sees all the calls so far (what keeps the always-valid p-values valid).
* Ending: no verdict before the candidate has ``min_calls`` calls; then ``rollback`` or
  ``promote`` as the comparison says; once ``max_duration`` has passed since the start,
  whatever it says (``hold`` or ``insufficient_data``) ends it, marked expired; and a
  candidate that never reached ``min_calls`` ends then as ``insufficient_data``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from llmpulse.alerting.canaries import Canary
from llmpulse.release.compare import Comparison, Policy, Verdict
from llmpulse.release.signals import SignalSpec, pick

FINAL: frozenset[Verdict] = frozenset({"rollback", "promote"})
#: A rollback the rollback webhook did not take (after the notifier's own retries) is
#: POSTed again 1, 2, 4 ... minutes later, at most an hour apart, this many times in all.
FORWARD_ATTEMPTS = 20
FORWARD_FIRST_RETRY_S = 60.0
FORWARD_MAX_RETRY_S = 3600.0


@dataclass(frozen=True, slots=True)
class Sides:
    candidate: str
    baseline: str
    start: datetime  # the candidate's first call


@dataclass(frozen=True, slots=True)
class Decision:
    """``verdict``: the final verdict to publish, None while the canary runs on."""

    verdict: Verdict | None
    expired: bool = False
    why: str = ""


def sides(canary: Canary, seen: Sequence[tuple[str, datetime, datetime]]) -> Sides | None:
    """The compared values, given each selector value's (value, first call's end, first
    call's start) in the lookback; None while there is nothing to compare (one value
    only, or no candidate call).  The newest is the value seen last (by the end of its
    first call); the canary starts at the start of its first call."""
    by_value = {value: (end, begin) for value, end, begin in seen}
    if canary.follows_newest:
        if len(by_value) < 2:
            return None
        ordered = sorted(by_value.items(), key=lambda item: (item[1][0], item[0]))
        (baseline, _), (candidate, (_, start)) = ordered[-2], ordered[-1]
        return Sides(candidate, baseline, start)
    if canary.candidate not in by_value:
        return None
    return Sides(canary.candidate, canary.baseline, by_value[canary.candidate][1])


def specs(canary: Canary) -> tuple[SignalSpec, ...]:
    return pick(canary.signals or None, canary.thresholds)


def policy(canary: Canary) -> Policy:
    return Policy(alpha=canary.alpha)


def expires_at(canary: Canary, start: datetime) -> datetime:
    return start + timedelta(seconds=canary.max_duration)


def decide(canary: Canary, start: datetime, comparison: Comparison, candidate_calls: int,
           now: datetime) -> Decision:
    """Whether the canary ends now, and with what verdict."""
    expired = now >= expires_at(canary, start)
    if candidate_calls < canary.min_calls:
        if expired:
            return Decision("insufficient_data", True,
                            f"{candidate_calls} candidate calls (< min_calls "
                            f"{canary.min_calls}) in max_duration")
        return Decision(None, False, f"{candidate_calls}/{canary.min_calls} candidate calls")
    if comparison.verdict in FINAL:
        return Decision(comparison.verdict)
    if expired:
        return Decision(comparison.verdict, True, "max_duration passed")
    return Decision(None, False, comparison.verdict)


def next_forward(failed: bool, attempts: int, now: datetime) -> datetime | None:
    """When to POST a rollback again after ``attempts`` attempts (None: not again)."""
    if not failed or attempts >= FORWARD_ATTEMPTS:
        return None
    wait = min(FORWARD_FIRST_RETRY_S * 2 ** max(attempts - 1, 0), FORWARD_MAX_RETRY_S)
    return now + timedelta(seconds=wait)
