"""Windowed aggregates: sketch accuracy, merges, event-time windows and lateness."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from llmpulse.records import InferenceRecord
from llmpulse.windows import GroupKey, TumblingWindows, WindowAggregate, roll_up

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def call(seconds: float, duration: float = 1.0, **over: object) -> InferenceRecord:
    start = T0 + timedelta(seconds=seconds)
    base = InferenceRecord(
        request_id=f"r{seconds}", join_status="inference", provider="openai",
        request_model="gpt-4o", response_model=None, operation="chat", start_time=start,
        end_time=start + timedelta(seconds=duration), input_tokens=100, output_tokens=11,
        time_to_first_chunk=duration / 4, route="chat", tenant="acme",
    )
    return replace(base, **over)  # type: ignore[arg-type]


def test_sketch_p99_within_one_percent_on_100k_lognormal_merged_from_parts() -> None:
    samples = np.random.default_rng(7).lognormal(mean=0.0, sigma=1.0, size=100_000)
    parts = [WindowAggregate() for _ in range(4)]  # as if from 4 partitions
    for i, value in enumerate(samples):
        parts[i % 4].duration.add(float(value))
    total = WindowAggregate()
    for part in parts:
        total.merge(part)
    for q in (0.5, 0.95, 0.99):
        exact = float(np.quantile(samples, q))
        assert total.duration.get_quantile_value(q) == pytest.approx(exact, rel=0.01)


def test_aggregate_counts_rates_and_cost() -> None:
    agg = WindowAggregate()
    agg.add(call(0), 0.01)
    agg.add(call(1, error_type="timeout", output_tokens=0), 0.0)
    agg.add(call(2, finish_reasons=("length",)), None)
    s = agg.summary()
    assert (s["calls"], s["errors"], s["unpriced"]) == (3, 1, 1)
    assert s["timeout_rate"] == pytest.approx(1 / 3) and s["length_rate"] == pytest.approx(1 / 3)
    assert s["cost_usd"] == pytest.approx(0.01)
    assert s["duration_p50"] == pytest.approx(1.0, rel=0.01)


def test_windows_close_on_event_time_and_count_late_events() -> None:
    windows = TumblingWindows(width_s=60, lateness_s=10)
    for second in (0, 30, 58, 65):  # event time is the end: +1 s
        assert windows.add(call(second), 0.0)
    assert windows.close_ready() == []  # watermark 55 s: the first window is still open
    windows.add(call(75), 0.0)  # watermark 65 s
    closed = windows.close_ready()
    fine = [w for w in closed if w.group == GroupKey("gpt-4o", "chat", "acme")]
    overall = [w for w in closed if w.group == GroupKey("gpt-4o")]
    assert [w.aggregate.calls for w in fine] == [3] and [w.aggregate.calls for w in overall] == [3]
    assert not windows.add(call(10), 0.0)  # its window has closed
    assert windows.late == 1


def test_roll_up_merges_minutes_into_five() -> None:
    windows = TumblingWindows(width_s=60, lateness_s=0)
    for minute in range(10):
        windows.add(call(minute * 60 + 1), 0.001)
    windows.add(call(11 * 60), 0.0)
    closed = [w for w in windows.close_ready() if w.group == GroupKey("gpt-4o")]
    five = roll_up(closed, 300)
    assert [(w.start % 3600, w.aggregate.calls) for w in five] == [(0, 5), (300, 5)]
    assert five[0].aggregate.cost_usd == pytest.approx(0.005)
