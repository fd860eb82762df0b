from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from llmpulse.budgets import Budget, evaluate, period_bounds
from llmpulse.detectors.cost import Cost
from llmpulse.records import InferenceRecord
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.rows import StoredCall
from llmpulse.sinks.spend import spend_by

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)
US = timedelta(microseconds=1)


def call(request_id: str, at: datetime, usd: float | None, *, tenant: str = "acme",
         route: str = "chat", status: str = "inference") -> StoredCall:
    record = InferenceRecord(
        request_id=request_id, join_status=status, provider="openai",  # type: ignore[arg-type]
        request_model="gpt-4o", response_model=None, operation="chat", start_time=at,
        end_time=at + timedelta(seconds=2), tenant=tenant, route=route, input_tokens=10,
        output_tokens=5)
    source = "unknown" if usd is None else "genai-prices"
    return StoredCall(record, Cost(usd, source, "test"))


def test_spend_by_tenant_and_route_within_the_window(store: ClickHouseStore) -> None:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    store.insert_calls([
        call("a", START, 1.25),  # at since: counted
        call("b", START + timedelta(days=3), 2.0, route="rag"),
        call("c", END - US, 0.5, tenant="globex"),  # last microsecond: counted
        call("d", START - US, 100.0),  # before since
        call("e", END, 100.0, tenant="globex"),  # at until: not counted
        call("f", START + timedelta(days=1), None, tenant="initech"),  # unknown price
    ], now)
    assert spend_by(store, "tenant", START, END) == pytest.approx(
        {"acme": 3.25, "globex": 0.5, "initech": 0.0})
    assert spend_by(store, "route", START, END) == pytest.approx({"chat": 1.75, "rag": 2.0})
    # The same window given in another time zone selects the same calls.
    plus_two = timezone(timedelta(hours=2))
    assert spend_by(store, "tenant", START.astimezone(plus_two),
                    END.astimezone(plus_two)) == pytest.approx(
        {"acme": 3.25, "globex": 0.5, "initech": 0.0})
    assert spend_by(store, "tenant", END, END + timedelta(days=1)) == pytest.approx(
        {"globex": 100.0})
    assert spend_by(store, "tenant", START, START) == {}


def test_a_replaced_call_is_counted_once(store: ClickHouseStore) -> None:
    at = START + timedelta(days=2)
    store.insert_calls([call("r", at, 1.0, status="request_only")],
                       datetime(2026, 11, 3, tzinfo=UTC))
    store.insert_calls([call("r", at, 3.0, status="joined")],
                       datetime(2026, 11, 3, 0, 1, tzinfo=UTC))  # the more complete row wins
    assert store.query("SELECT count() FROM inference_events") == [(2,)]
    assert spend_by(store, "tenant", START, END) == pytest.approx({"acme": 3.0})


def test_spend_feeds_a_budget(store: ClickHouseStore) -> None:
    now = datetime(2026, 11, 19, 12, tzinfo=UTC)
    store.insert_calls([call(f"c{i}", START + timedelta(hours=i), 41.21) for i in range(10)],
                       now)
    budget = Budget(name="acme", group_by="tenant", match="acme", period="month",
                    amount_usd=500.0)
    since, until = period_bounds(budget.period, now)
    [status] = evaluate(budget, spend_by(store, budget.group_by, since, until), now)
    assert status.describe() == ("tenant acme: $412.10 of $500.00 monthly budget spent; "
                                 "at this rate it is spent on day 23 (2026-11-23)")


def test_only_the_known_columns() -> None:
    with pytest.raises(ValueError, match="column must be one of"):
        spend_by(None, "model; DROP TABLE x", START, END)  # type: ignore[arg-type]
