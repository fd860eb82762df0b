"""Windowed aggregates: sketch accuracy, merges, event-time windows and lateness."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
import pytest

from llmpulse.records import InferenceRecord
from llmpulse.windows import STANDARD_GROUPINGS, GroupKey, PaneWindows, WindowAggregate, fold

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


def feed(windows: PaneWindows, *calls: InferenceRecord, cost: float = 0.0) -> None:
    for (group, pane), agg in fold(((c, cost) for c in calls), STANDARD_GROUPINGS, 5.0).items():
        windows.add(group, pane, agg)


FINE, OVERALL = GroupKey("gpt-4o", "chat", "acme"), GroupKey("gpt-4o")


def test_windows_close_on_event_time_and_count_late_events() -> None:
    windows = PaneWindows(pane_s=5, lateness_s=10, widths=[60])
    feed(windows, call(0), call(30), call(58), call(65))  # event time is the end: +1 s
    assert windows.close_ready() == []  # watermark 55 s: the first minute is still open
    feed(windows, call(75))  # watermark 65 s
    closed = windows.close_ready()
    fine = [w for w in closed if w.group == FINE]
    overall = [w for w in closed if w.group == OVERALL]
    assert [w.aggregate.calls for w in fine] == [3] and [w.aggregate.calls for w in overall] == [3]
    feed(windows, call(10))  # its window has closed: counted late, for each of the 3 groups
    assert windows.late == len(STANDARD_GROUPINGS) == 3


def test_wider_windows_merge_panes_across_partitions() -> None:
    windows = PaneWindows(pane_s=5, lateness_s=0, widths=[60, 300])
    for minute in range(10):
        feed(windows, call(minute * 60 + 1), cost=0.001)  # as if from two partitions:
        feed(windows, call(minute * 60 + 2), cost=0.001)
    feed(windows, call(11 * 60))
    closed = [w for w in windows.close_ready() if w.group == OVERALL]
    five = [w for w in closed if w.width_s == 300]
    assert [(w.start % 3600, w.aggregate.calls) for w in five] == [(0, 10), (300, 10)]
    assert five[0].aggregate.cost_usd == pytest.approx(0.01)
    assert len([w for w in closed if w.width_s == 60]) == 10


def test_trailing_window_covers_whole_panes_up_to_the_newest() -> None:
    windows = PaneWindows(pane_s=5, lateness_s=30, widths=[20])
    feed(windows, call(0, duration=1.0), call(12, duration=9.0), call(20, duration=2.0))
    end, agg = windows.trailing(FINE, 20)
    assert end - T0.timestamp() == 22  # the newest event time
    # 2..22 s: panes 5-10 (empty), 10-15 and 20-25 whole, and 0-5 pro-rated 3/5
    assert agg.calls == 2 + 0.6 and agg.duration.count == 3
    assert max(agg.slowest)[1] == "r12"  # the slowest call is the evidence


def test_aggregate_round_trips_through_its_wire_form() -> None:
    agg = WindowAggregate()
    for i, duration in enumerate(np.random.default_rng(3).lognormal(size=500)):
        agg.add(call(i, duration=float(duration), error_type="timeout" if i % 50 == 0 else None),
                0.002)
    again = WindowAggregate.from_dict(orjson.loads(orjson.dumps(agg.to_dict())))
    assert again.summary() == agg.summary()
    assert sorted(again.slowest) == sorted(agg.slowest) and again.failed == agg.failed
    again.merge(agg)
    assert again.calls == 1000 and again.duration.count == 1000


def test_closing_before_any_data_loses_no_later_window() -> None:
    windows = PaneWindows(pane_s=5, lateness_s=0, widths=[60])
    assert windows.close_ready() == []  # nothing seen yet
    feed(windows, call(1), call(70))
    assert [w.aggregate.calls for w in windows.close_ready() if w.group == FINE] == [1]


def test_prompt_version_is_a_group_dimension_and_old_keys_still_decode() -> None:
    from llmpulse.records import prompt_version_key

    assert [prompt_version_key(t, v) for t, v in (
        ("support", "v7"), (None, "v7"), ("support", None), (None, None), ("", ""))] == [
        "support@v7", "v7", "support@none", "none", "none"]
    versioned = call(0, prompt_template_id="support", prompt_template_version="v7")
    key = GroupKey.of(versioned, ("model", "prompt_version"))
    assert key == GroupKey(model="gpt-4o", prompt_version="support@v7")
    assert key.labels() == {"model": "gpt-4o", "prompt_version": "support@v7"}
    assert GroupKey.decode(key.encode()) == key
    assert GroupKey.decode("gpt-4o\x1fchat\x1facme") == GroupKey("gpt-4o", "chat", "acme")
    with pytest.raises(ValueError, match="not a group key"):
        GroupKey.decode("gpt-4o")
