"""The alert state machine for one (rule, group): pure, the clock passed in.

States: OK -> PENDING -> FIRING -> RESOLVED (-> OK, or PENDING again).

* ``for_s``: a breach must hold this long before the alert fires.
* ``resolve_for_s``: a clear must hold this long before a firing alert resolves.
* Hysteresis on the value: the caller reports ``breach`` (past the threshold)
  and ``clear`` (back past the, usually lower, clear threshold) separately; a
  value in between keeps the current state.
* No data: ``no_data`` says whether missing or stale data keeps the state,
  counts as clear, or counts as a breach.
* Notifications reconcile what receivers were last told with the state, so a
  restart with the persisted status neither re-pages nor forgets a resolve.
  While FIRING, ``renotify_s`` repeats the page.
* Flap suppression: with ``flap_max`` or more fire/resolve changes within
  ``flap_window_s``, notifications pause. When the flapping stops, one
  notification brings the receivers back in line.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal


class AlertState(StrEnum):
    OK = "ok"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


NoData = Literal["keep", "ok", "alert"]
Told = Literal["firing", "resolved"]


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    for_s: float = 0.0
    resolve_for_s: float = 0.0
    renotify_s: float | None = None
    no_data: NoData = "keep"
    stale_after_s: float = 300.0
    flap_window_s: float = 3600.0
    flap_max: int = 6


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One evaluation of the rule for the group, at ``time`` (the window's end)."""

    time: float
    value: float | None
    breach: bool
    clear: bool


@dataclass(frozen=True, slots=True)
class AlertStatus:
    """Everything the machine remembers for one (rule, group); persist it as is."""

    state: AlertState = AlertState.OK
    since: float = 0.0
    breach_since: float | None = None
    clear_since: float | None = None
    last_value: float | None = None
    last_data: float | None = None
    told: Told | None = None
    last_notified: float | None = None
    changes: tuple[float, ...] = ()
    flapping: bool = False


@dataclass(frozen=True, slots=True)
class Notification:
    kind: Literal["trigger", "renotify", "resolve"]
    dedup_key: str
    state: AlertState
    value: float | None
    time: float


def dedup_key(rule: str, group: dict[str, str]) -> str:
    """A stable id for (rule, group), the same across restarts and workers."""
    labels = ",".join(f"{k}={group[k]}" for k in sorted(group))
    digest = hashlib.sha256(f"{rule}|{labels}".encode()).hexdigest()[:16]
    return f"llmpulse-{digest}"


class AlertStateMachine:
    """``step(status, evaluation or None, now) -> (status, notification or None)``."""

    def __init__(self, policy: AlertPolicy, key: str) -> None:
        self.policy = policy
        self.key = key

    def step(self, status: AlertStatus, evaluation: Evaluation | None, now: float
             ) -> tuple[AlertStatus, Notification | None]:
        breach, clear = self._condition(status, evaluation, now)
        if evaluation is not None:
            status = replace(status, last_value=evaluation.value, last_data=evaluation.time)
        status = self._advance(status, breach, clear, now)
        status = self._flap(status, now)
        return self._notify(status, now)

    def _condition(self, status: AlertStatus, evaluation: Evaluation | None,
                   now: float) -> tuple[bool, bool]:
        fresh = evaluation is not None and now - evaluation.time <= self.policy.stale_after_s
        if fresh:
            assert evaluation is not None
            return evaluation.breach, evaluation.clear
        if self.policy.no_data == "ok":
            return False, True
        if self.policy.no_data == "alert":
            return True, False
        return False, False

    def _advance(self, s: AlertStatus, breach: bool, clear: bool, now: float) -> AlertStatus:
        p = self.policy
        if s.state in (AlertState.OK, AlertState.RESOLVED, AlertState.PENDING):
            if breach:
                start = s.breach_since if s.breach_since is not None else now
                if now - start >= p.for_s:
                    return _enter(s, AlertState.FIRING, now, breach_since=start)
                if s.state is AlertState.PENDING:
                    return s
                return _enter(s, AlertState.PENDING, now, breach_since=start)
            if clear and s.state is AlertState.PENDING:
                return _enter(s, AlertState.OK, now)
            return s
        # FIRING
        if breach:
            return replace(s, clear_since=None)
        if clear:
            start = s.clear_since if s.clear_since is not None else now
            if now - start >= p.resolve_for_s:
                return _enter(s, AlertState.RESOLVED, now)
            return replace(s, clear_since=start)
        return s

    def _flap(self, s: AlertStatus, now: float) -> AlertStatus:
        recent = tuple(t for t in s.changes if now - t < self.policy.flap_window_s)
        return replace(s, changes=recent, flapping=len(recent) >= self.policy.flap_max)

    def _notify(self, s: AlertStatus, now: float) -> tuple[AlertStatus, Notification | None]:
        firing = s.state is AlertState.FIRING
        kind: Literal["trigger", "renotify", "resolve"] | None = None
        if s.flapping:
            kind = None
        elif firing and s.told != "firing":
            kind = "trigger"
        elif not firing and s.told == "firing" and s.state is not AlertState.PENDING:
            kind = "resolve"
        elif (firing and self.policy.renotify_s is not None and s.last_notified is not None
              and now - s.last_notified >= self.policy.renotify_s):
            kind = "renotify"
        if kind is None:
            return s, None
        told: Told = "firing" if firing else "resolved"
        note = Notification(kind, self.key, s.state, s.last_value, now)
        return replace(s, told=told, last_notified=now), note


def _enter(s: AlertStatus, state: AlertState, now: float,
           breach_since: float | None = None) -> AlertStatus:
    changes = s.changes
    if state in (AlertState.FIRING, AlertState.RESOLVED):
        changes = (*s.changes, now)
    return replace(s, state=state, since=now, breach_since=breach_since, clear_since=None,
                   changes=changes)
