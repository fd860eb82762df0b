from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from llmpulse.budgets import Budget, evaluate, period_bounds, project


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
        micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def budget(**over: Any) -> Budget:
    values: dict[str, Any] = {"name": "acme-monthly", "group_by": "tenant", "match": "acme",
                              "period": "month", "amount_usd": 500.0}
    return Budget.model_validate(values | over)


# ---------------------------------------------------------------- periods


@pytest.mark.parametrize(("now", "start", "end"), [
    (utc(2026, 11, 19, 12), utc(2026, 11, 1), utc(2026, 12, 1)),
    (utc(2026, 12, 31, 23, 59, 59, 999999), utc(2026, 12, 1), utc(2027, 1, 1)),
    (utc(2026, 1, 31), utc(2026, 1, 1), utc(2026, 2, 1)),
    (utc(2026, 2, 14), utc(2026, 2, 1), utc(2026, 3, 1)),  # 28 days
    (utc(2028, 2, 29, 8), utc(2028, 2, 1), utc(2028, 3, 1)),  # leap year: 29 days
    (utc(2026, 4, 30, 23), utc(2026, 4, 1), utc(2026, 5, 1)),
    (utc(2026, 3, 1), utc(2026, 3, 1), utc(2026, 4, 1)),  # the first instant belongs to it
])
def test_month_bounds(now: datetime, start: datetime, end: datetime) -> None:
    assert period_bounds("month", now) == (start, end)


def test_day_bounds_and_time_zones() -> None:
    assert period_bounds("day", utc(2026, 11, 19, 12, 30)) == (utc(2026, 11, 19),
                                                              utc(2026, 11, 20))
    assert period_bounds("day", utc(2026, 12, 31, 23, 59)) == (utc(2026, 12, 31), utc(2027, 1, 1))
    # 01:00 on Dec 1 at UTC+2 is still Nov 30 in UTC.
    local = datetime(2026, 12, 1, 1, tzinfo=timezone(timedelta(hours=2)))
    assert period_bounds("month", local) == (utc(2026, 11, 1), utc(2026, 12, 1))
    assert period_bounds("day", local) == (utc(2026, 11, 30), utc(2026, 12, 1))
    assert period_bounds("day", datetime(2026, 11, 19, 5)) == (utc(2026, 11, 19),
                                                               utc(2026, 11, 20))  # naive = UTC


# ---------------------------------------------------------------- projection


def test_linear_projection() -> None:
    start, end = utc(2026, 11, 1), utc(2026, 12, 1)  # 720 hours
    p = project(120.0, start, end, utc(2026, 11, 11), amount_usd=300.0)  # 240 h elapsed
    assert p.rate_usd_per_hour == pytest.approx(0.5)
    assert p.projected_usd == pytest.approx(360.0)
    assert p.exhausted_at == utc(2026, 11, 26)  # 300 / 0.5 = 600 h = 25 days in
    assert p.day_exhausted == 26
    assert p.elapsed == timedelta(hours=240)
    assert p.reliable


def test_projection_that_stays_within_the_amount() -> None:
    start, end = utc(2026, 11, 1), utc(2026, 12, 1)
    p = project(120.0, start, end, utc(2026, 11, 11), amount_usd=400.0)
    assert p.projected_usd == pytest.approx(360.0)
    assert p.exhausted_at is None and p.day_exhausted is None
    idle = project(0.0, start, end, utc(2026, 11, 11), amount_usd=400.0)
    assert (idle.rate_usd_per_hour, idle.projected_usd, idle.exhausted_at) == (0.0, 0.0, None)
    # Reached exactly at the end: not within the period [start, end).
    edge = project(100.0, start, end, utc(2026, 11, 16), amount_usd=200.0)
    assert edge.projected_usd == pytest.approx(200.0) and edge.exhausted_at is None


def test_projection_when_already_over_and_after_the_period() -> None:
    start, end = utc(2026, 11, 1), utc(2026, 12, 1)
    over = project(600.0, start, end, utc(2026, 11, 16), amount_usd=500.0)  # 360 h
    assert over.exhausted_at == utc(2026, 11, 13, 12)  # 500 / (600/360) = 300 h
    assert over.day_exhausted == 13
    late = project(360.0, start, end, utc(2026, 12, 3), amount_usd=500.0)
    assert late.elapsed == timedelta(hours=720)  # clamped to the period
    assert late.projected_usd == pytest.approx(360.0)


def test_no_projection_before_min_elapsed_or_at_start() -> None:
    start, end = utc(2026, 11, 1), utc(2026, 12, 1)
    at_start = project(5.0, start, end, start, amount_usd=500.0)
    assert at_start.rate_usd_per_hour is None and at_start.projected_usd is None
    assert not at_start.reliable
    early = project(5.0, start, end, utc(2026, 11, 1, 0, 59), amount_usd=500.0,
                    min_elapsed=timedelta(hours=1))
    assert early.projected_usd is None and early.exhausted_at is None
    ready = project(5.0, start, end, utc(2026, 11, 1, 1), amount_usd=500.0,
                    min_elapsed=timedelta(hours=1))
    assert ready.projected_usd == pytest.approx(5.0 * 720)
    with pytest.raises(ValueError, match="end after it starts"):
        project(1.0, end, start, end, amount_usd=1.0)


# ---------------------------------------------------------------- evaluation


def test_describe_spent_on_day() -> None:
    # 18.5 days into November: 412.10 / 444 h -> 500 reached after 538.7 h = Nov 23 10:42.
    [status] = evaluate(budget(), {"acme": 412.10, "globex": 9000.0}, utc(2026, 11, 19, 12))
    assert status.group == "acme"
    assert status.state == "warn"
    assert status.fraction == pytest.approx(412.10 / 500)
    assert status.projected_usd == pytest.approx(412.10 / 444 * 720)
    assert status.projection.exhausted_at is not None
    assert status.projection.exhausted_at.strftime("%Y-%m-%d %H:%M") == "2026-11-23 10:42"
    assert status.describe() == ("tenant acme: $412.10 of $500.00 monthly budget spent; "
                                 "at this rate it is spent on day 23 (2026-11-23)")


@pytest.mark.parametrize(("spent", "state", "text"), [
    (100.0, "ok", "tenant acme: $100.00 of $500.00 monthly budget spent; "
                  "at this rate $240.00 (48%) by the end of the month"),
    (170.0, "warn", "tenant acme: $170.00 of $500.00 monthly budget spent; "
                    "at this rate $408.00 (82%) by the end of the month"),
    (500.0, "over", "tenant acme: $500.00 of $500.00 monthly budget spent; "
                    "over budget by $0.00"),
    (1234.5, "over", "tenant acme: $1,234.50 of $500.00 monthly budget spent; "
                     "over budget by $734.50"),
])
def test_states_and_texts(spent: float, state: str, text: str) -> None:
    # 300 of 720 hours gone: projected = spent * 2.4; warn at 0.8 * 500 = 400.
    [status] = evaluate(budget(), {"acme": spent}, utc(2026, 11, 13, 12))
    assert status.state == state
    assert status.describe() == text


def test_warn_at_is_a_fraction_of_the_amount() -> None:
    now = utc(2026, 11, 13, 12)
    assert evaluate(budget(warn_at=0.5), {"acme": 110.0}, now)[0].state == "warn"  # 264
    assert evaluate(budget(warn_at=0.5), {"acme": 100.0}, now)[0].state == "ok"  # 240


def test_early_in_the_period_only_actual_spend_counts() -> None:
    b = budget()
    # 30 minutes into the month: $10 would project to $14,400, but that is noise.
    [early] = evaluate(b, {"acme": 10.0}, utc(2026, 11, 1, 0, 30))
    assert early.state == "ok" and early.projected_usd is None
    assert early.describe() == ("tenant acme: $10.00 of $500.00 monthly budget spent; "
                                "too early in the month to project")
    assert evaluate(b, {"acme": 420.0}, utc(2026, 11, 1, 0, 30))[0].state == "warn"  # spent
    assert evaluate(b, {"acme": 501.0}, utc(2026, 11, 1, 0, 30))[0].state == "over"
    [after] = evaluate(b, {"acme": 10.0}, utc(2026, 11, 1, 1))  # an hour in: projected
    assert after.state == "warn" and after.projected_usd == pytest.approx(7200.0)
    daily = budget(period="day", amount_usd=50.0)
    assert evaluate(daily, {"acme": 1.0}, utc(2026, 11, 5, 0, 14))[0].state == "ok"
    assert evaluate(daily, {"acme": 1.0}, utc(2026, 11, 5, 0, 15))[0].state == "warn"


def test_daily_budget_text() -> None:
    daily = budget(period="day", amount_usd=50.0, group_by="route", match="rag")
    [status] = evaluate(daily, {"rag": 30.0}, utc(2026, 11, 5, 12))  # $2.50/h
    assert status.describe() == ("route rag: $30.00 of $50.00 daily budget spent; "
                                 "at this rate it is spent at 20:00 UTC (2026-11-05)")
    assert status.projection.day_exhausted == 1


def test_every_group_or_one() -> None:
    now = utc(2026, 11, 13, 12)
    every = evaluate(budget(match=None), {"globex": 300.0, "acme": 10.0}, now)
    assert [(s.group, s.state) for s in every] == [("acme", "ok"), ("globex", "warn")]
    [absent] = evaluate(budget(match="initech"), {"acme": 10.0}, now)
    assert (absent.group, absent.spent_usd, absent.state) == ("initech", 0.0, "ok")
    assert evaluate(budget(match=None), {}, now) == []


@pytest.mark.parametrize("over", [
    {"amount_usd": 0}, {"amount_usd": -5}, {"warn_at": 0}, {"warn_at": 1.5},
    {"period": "week"}, {"group_by": "model"}, {"limit": 3}, {"name": ""},
])
def test_budget_validation(over: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        budget(**over)


def test_budget_defaults() -> None:
    b = budget()
    assert (b.warn_at, b.severity, b.channels) == (0.8, "warning", ())
    with pytest.raises(ValidationError):
        b.amount_usd = 1.0  # type: ignore[misc]
