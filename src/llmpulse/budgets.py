"""Spend budgets per tenant or route, with a linear burn-rate projection.

Pure: the clock (``now``) and the spend so far are passed in (the spend comes from
:func:`llmpulse.sinks.spend.spend_by` over :func:`period_bounds`).  Periods are
calendar days and months in UTC.

The projection is linear: the average rate since the period began, continued to its
end.  Early in a period that rate rests on very little time and is noisy, so no
projection is made before :data:`MIN_ELAPSED` of the period has passed; until then a
budget is judged on what was actually spent only.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from llmpulse.alerting.message import Severity

__all__ = [
    "MIN_ELAPSED",
    "Budget",
    "BudgetState",
    "BudgetStatus",
    "Period",
    "Projection",
    "evaluate",
    "period_bounds",
    "project",
]

Period = Literal["day", "month"]
BudgetState = Literal["ok", "warn", "over"]

#: How much of a period must pass before its burn rate is projected (chosen, not measured:
#: an hour of a month is ~0.14% of it, a quarter hour ~1% of a day).
MIN_ELAPSED: dict[Period, timedelta] = {
    "day": timedelta(minutes=15),
    "month": timedelta(hours=1),
}

_HOUR = timedelta(hours=1)
_ADJECTIVE: dict[Period, str] = {"day": "daily", "month": "monthly"}


class Budget(BaseModel):
    """A spend budget for each tenant or route (or one of them, with ``match``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    group_by: Literal["tenant", "route"]
    match: str | None = Field(default=None, min_length=1)
    period: Period
    amount_usd: float = Field(gt=0, allow_inf_nan=False)
    warn_at: float = Field(default=0.8, gt=0, le=1)
    severity: Severity = "warning"
    channels: tuple[str, ...] = ()


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def period_bounds(period: Period, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the calendar day or month holding ``now`` (naive = UTC)."""
    now = _utc(now)
    if period == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=1)
    if period == "month":
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        days = calendar.monthrange(start.year, start.month)[1]
        return start, start + timedelta(days=days)
    raise ValueError(f"unknown budget period {period!r}")


@dataclass(frozen=True, slots=True)
class Projection:
    """Where the spend of a period is heading at the average rate so far.

    ``rate_usd_per_hour`` and ``projected_usd`` are None while too little of the period
    has passed (see ``min_elapsed``).  ``exhausted_at`` is when the amount is reached at
    that rate, None if that is not within the period; ``day_exhausted`` is that day's
    number within the period, counting from 1 (the day of the month for months).
    """

    spent_usd: float
    start: datetime
    end: datetime
    elapsed: timedelta
    rate_usd_per_hour: float | None
    projected_usd: float | None
    exhausted_at: datetime | None
    day_exhausted: int | None

    @property
    def reliable(self) -> bool:
        return self.projected_usd is not None


def project(spent_usd: float, start: datetime, end: datetime, now: datetime, *,
            amount_usd: float, min_elapsed: timedelta = timedelta(0)) -> Projection:
    """Linear burn: ``spent_usd`` over [start, now) continued to ``end``."""
    start, end, now = _utc(start), _utc(end), _utc(now)
    if end <= start:
        raise ValueError("a period must end after it starts")
    elapsed = min(max(now - start, timedelta(0)), end - start)
    if elapsed <= timedelta(0) or elapsed < min_elapsed:
        return Projection(spent_usd, start, end, elapsed, None, None, None, None)
    rate = spent_usd / (elapsed / _HOUR)
    hours = (end - start) / _HOUR
    exhausted_at = day = None
    if rate > 0 and amount_usd / rate < hours:
        exhausted_at = start + timedelta(hours=amount_usd / rate)
        day = (exhausted_at - start).days + 1
    return Projection(spent_usd, start, end, elapsed, rate, rate * hours, exhausted_at, day)


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """One group's standing against a budget at one moment."""

    budget: Budget
    group: str
    projection: Projection
    state: BudgetState

    @property
    def spent_usd(self) -> float:
        return self.projection.spent_usd

    @property
    def projected_usd(self) -> float | None:
        return self.projection.projected_usd

    @property
    def fraction(self) -> float:
        """Share of the amount spent so far."""
        return self.spent_usd / self.budget.amount_usd

    def describe(self) -> str:
        """E.g. "tenant acme: $412.10 of $500.00 monthly budget spent; at this rate it is
        spent on day 23 (2026-11-23)"."""
        b, p = self.budget, self.projection
        head = (f"{b.group_by} {self.group}: ${self.spent_usd:,.2f} of ${b.amount_usd:,.2f} "
                f"{_ADJECTIVE[b.period]} budget spent")
        if self.state == "over":
            return f"{head}; over budget by ${self.spent_usd - b.amount_usd:,.2f}"
        if p.projected_usd is None:
            return f"{head}; too early in the {b.period} to project"
        if p.exhausted_at is not None:
            when = p.exhausted_at
            if b.period == "month":
                return f"{head}; at this rate it is spent on day {p.day_exhausted} ({when:%F})"
            return f"{head}; at this rate it is spent at {when:%H:%M} UTC ({when:%F})"
        share = p.projected_usd / b.amount_usd
        return (f"{head}; at this rate ${p.projected_usd:,.2f} ({share:.0%}) by the end of "
                f"the {b.period}")


def _state(budget: Budget, projection: Projection) -> BudgetState:
    spent = projection.spent_usd
    if spent >= budget.amount_usd:
        return "over"
    # Too early to project: the projection is at least what is already spent.
    heading_to = spent if projection.projected_usd is None else projection.projected_usd
    return "warn" if heading_to >= budget.warn_at * budget.amount_usd else "ok"


def evaluate(budget: Budget, spend: Mapping[str, float], now: datetime) -> list[BudgetStatus]:
    """The status of each group (``spend``: USD so far this period by group) at ``now``.

    With ``budget.match`` only that group is judged (spend 0 if absent); otherwise every
    group in ``spend``, in name order.
    """
    start, end = period_bounds(budget.period, now)
    groups = [budget.match] if budget.match is not None else sorted(spend)
    statuses = []
    for group in groups:
        projection = project(float(spend.get(group, 0.0)), start, end, now,
                             amount_usd=budget.amount_usd,
                             min_elapsed=MIN_ELAPSED[budget.period])
        statuses.append(BudgetStatus(budget, group, projection, _state(budget, projection)))
    return statuses
