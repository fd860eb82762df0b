"""Canary alerts: each canary through the alert state machine.  Pure, clock passed in.

A canary's alert fires when its current candidate's verdict is ``rollback`` and resolves
when another candidate takes its place (``candidate: newest``) or the verdict is no
longer a rollback.  The statuses share the engine's :class:`StatusStore` under the
budgets' group key: their changelog partition is the maintenance partition, so the worker
that evaluates the canaries is the one that has their statuses (budget statuses are
named ``budget|group``; a canary name has no ``|``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from llmpulse.alerting.budget_alerts import BUDGET_GROUP
from llmpulse.alerting.canaries import Canary
from llmpulse.alerting.engine import RuleStatus, cached_status, status_key
from llmpulse.alerting.message import AlertMessage, Evidence
from llmpulse.alerting.state import (
    AlertPolicy,
    AlertState,
    AlertStateMachine,
    Evaluation,
    Notification,
    dedup_key,
)
from llmpulse.alerting.status_book import StatusBook

#: Every canary status lives under this group: the maintenance partition, one owner.
CANARY_GROUP = BUDGET_GROUP
POLICY = AlertPolicy(no_data="keep")


@dataclass(frozen=True, slots=True)
class CanaryState:
    """What the alert needs to know of a canary at one look."""

    canary: Canary
    candidate: str | None
    baseline: str | None
    verdict: str | None  # the final verdict of this candidate, None while running
    reason: str = ""
    started_at: datetime | None = None
    evidence: tuple[str, ...] = ()
    verdict_id: str | None = None


class CanaryAlerts(StatusBook[CanaryState]):
    def _step(self, state: CanaryState, now: float) -> AlertMessage | None:
        canary = state.canary
        key = status_key(canary.name, CANARY_GROUP)
        rs = cached_status(self._statuses, self._store, canary.name, CANARY_GROUP)
        machine = AlertStateMachine(POLICY, dedup_key(canary.name, {"canary": canary.name}))
        rollback = state.verdict == "rollback"
        before = rs.status
        rs.threshold = 1.0  # the value is 1 while the candidate is rolled back
        rs.status, note = machine.step(
            before, Evaluation(time=now, value=1.0 if rollback else 0.0, breach=rollback,
                               clear=not rollback), now)
        if (before.state, before.told) != (rs.status.state, rs.status.told):
            self._changes[key] = rs.to_dict()
        if note is None:
            return None
        return canary_message(state, note, rs, now)


def canary_message(state: CanaryState, note: Notification, rs: RuleStatus,
                   now: float) -> AlertMessage:
    canary = state.canary
    firing = rs.status.state is AlertState.FIRING
    at = datetime.fromtimestamp(now, UTC)
    start = state.started_at or at
    where = " ".join(f"{k}={v}" for k, v in (("model", canary.model), ("route", canary.route),
                                             ("template", canary.template)) if v)
    what = (f"canary {canary.name}: roll back {canary.by} {state.candidate} "
            f"(vs {state.baseline}{', ' + where if where else ''}): {state.reason}")
    summary = what if firing else f"resolved: canary {canary.name}: {canary.by} " \
        f"{state.candidate} is no longer rolled back"
    labels = {"canary": canary.name, "selector": canary.by,
              "candidate": state.candidate or "", "baseline": state.baseline or ""}
    if state.verdict_id:
        labels["verdict_id"] = state.verdict_id
    return AlertMessage(
        id=f"{note.dedup_key}:{note.kind}:{int(rs.status.since * 1000)}",
        dedup_key=note.dedup_key, kind=note.kind, state="firing" if firing else "resolved",
        rule=canary.name, severity=canary.severity, summary=summary,
        metric="canary_rollback", operator="=", value=note.value, threshold=1.0,
        group={"canary": canary.name}, window_s=max((at - start).total_seconds(), 0.0),
        window_start=start, window_end=at,
        since=datetime.fromtimestamp(rs.status.since, UTC), time=at,
        runbook_url=canary.runbook_url, labels=labels, channels=canary.channels,
        evidence=tuple(Evidence(request_id=r, detail=f"a call of {state.candidate}")
                       for r in state.evidence) if firing else ())
