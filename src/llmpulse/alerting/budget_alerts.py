"""Budget alerts: each (budget, group) through the alert state machine.  Pure, clock passed in.

A budget breaches when its group is projected to spend at least ``warn_at`` of the
amount this period, or has spent it all; it clears when the projection falls back
(a new period starts).  The statuses share the engine's :class:`StatusStore`
under one fixed group key, so a single worker owns all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from llmpulse.alerting.engine import RuleStatus, cached_status, status_key
from llmpulse.alerting.message import AlertMessage
from llmpulse.alerting.state import (
    AlertPolicy,
    AlertState,
    AlertStateMachine,
    Evaluation,
    dedup_key,
)
from llmpulse.alerting.status_book import StatusBook
from llmpulse.budgets import Budget, BudgetStatus
from llmpulse.windows import GroupKey

#: Every budget status lives under this group: one partition, one owner.
BUDGET_GROUP = GroupKey(model="\x00budgets")
POLICY = AlertPolicy(no_data="keep")


class BudgetWatch(StatusBook[BudgetStatus]):
    def open_groups(self, budget: str, stored: Iterable[dict[str, Any]]) -> set[str]:
        """Groups of ``budget`` whose alert is not OK, in memory or persisted."""
        prefix = f"{budget}|"
        found = {rs.rule for rs in self._statuses.values()
                 if rs.status.state is not AlertState.OK}
        found |= {d["rule"] for d in stored
                  if d and d.get("group") == BUDGET_GROUP.encode()
                  and d["status"]["state"] != AlertState.OK.value}
        return {name[len(prefix):] for name in found if name.startswith(prefix)}

    def _step(self, bs: BudgetStatus, now: float) -> AlertMessage | None:
        name = f"{bs.budget.name}|{bs.group}"
        key = status_key(name, BUDGET_GROUP)
        rs = cached_status(self._statuses, self._store, name, BUDGET_GROUP)
        labels: dict[str, str] = {bs.budget.group_by: bs.group}
        machine = AlertStateMachine(POLICY, dedup_key(bs.budget.name, labels))
        value = bs.projected_usd if bs.projected_usd is not None else bs.spent_usd
        evaluation = Evaluation(time=now, value=value, breach=bs.state != "ok",
                                clear=bs.state == "ok")
        before = rs.status
        rs.status, note = machine.step(before, evaluation, now)
        rs.threshold = bs.budget.warn_at * bs.budget.amount_usd
        if (before.state, before.told) != (rs.status.state, rs.status.told):
            self._changes[key] = rs.to_dict()
        if note is None:
            return None
        return budget_message(bs, note.kind, note.dedup_key, rs, now)


def budget_message(bs: BudgetStatus, kind: Any, key: str, rs: RuleStatus,
                   now: float) -> AlertMessage:
    b: Budget = bs.budget
    firing = rs.status.state is AlertState.FIRING
    at = datetime.fromtimestamp(now, bs.projection.start.tzinfo)
    summary = bs.describe() if firing else f"resolved: {bs.describe()}"
    return AlertMessage(
        id=f"{key}:{kind}:{int(rs.status.since * 1000)}", dedup_key=key, kind=kind,
        state="firing" if firing else "resolved", rule=b.name, severity=b.severity,
        summary=summary, metric="budget_usd", operator=">=",
        value=bs.projected_usd if bs.projected_usd is not None else bs.spent_usd,
        threshold=b.warn_at * b.amount_usd, group={b.group_by: bs.group},
        window_s=(bs.projection.end - bs.projection.start).total_seconds(),
        window_start=bs.projection.start, window_end=bs.projection.end,
        since=datetime.fromtimestamp(rs.status.since, at.tzinfo), time=at,
        labels={"budget": b.name, "period": b.period, "amount_usd": f"{b.amount_usd:g}"},
        channels=b.channels)
