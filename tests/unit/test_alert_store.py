"""Stored windows, alert states and notifications on the real ClickHouse engine (chdb)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from llmpulse.alerting.engine import RuleStatus, build_test_message
from llmpulse.alerting.notifiers import DeliveryResult
from llmpulse.alerting.rules import parse_rules
from llmpulse.alerting.state import AlertState, AlertStatus
from llmpulse.detectors.cost import Cost
from llmpulse.records import InferenceRecord
from llmpulse.sinks import alert_store
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.rows import StoredCall
from llmpulse.windows import GroupKey

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=2)


def call(i: int, end: datetime, duration: float, route: str, error: str | None = None,
         version: str | None = None) -> StoredCall:
    record = InferenceRecord(
        request_id=f"w{i}", join_status="inference", provider="openai",
        request_model="gpt-4o", response_model=None, operation="chat",
        start_time=end - timedelta(seconds=duration), end_time=end, tenant="acme",
        route=route, input_tokens=100, output_tokens=10, error_type=error,
        prompt_template_id="answer" if version else None, prompt_template_version=version)
    return StoredCall(record, Cost(0.001, "genai-prices", "test"))


def test_stored_windows_are_computed_from_the_stored_calls(store: ClickHouseStore) -> None:
    durations = np.random.default_rng(5).lognormal(size=600)
    calls = [call(i, T0 + timedelta(seconds=i * 0.5), float(d), "chat" if i % 3 else "rag",
                  "timeout" if i % 100 == 0 else None, None if i % 4 else "v2")
             for i, d in enumerate(durations)]
    store.insert_calls(calls, NOW)
    store.insert_calls(calls[:50], NOW)  # a replay: replaced, not counted twice
    for width in alert_store.STORED_WIDTHS:
        alert_store.write_windows(store, width, T0 - timedelta(hours=1), T0 + timedelta(hours=1),
                                  NOW)
    rows = store.query("SELECT width_s, count(), sum(calls), sum(errors), sum(timeouts), "
                       "round(sum(cost_usd), 6) FROM windows FINAL WHERE route = '*' "
                       "AND prompt_version = '*' GROUP BY width_s ORDER BY width_s")
    assert rows == [(60, 5, 600, 6, 6, 0.6), (300, 1, 600, 6, 6, 0.6), (3600, 1, 600, 6, 6, 0.6)]
    [(p99,)] = store.query("SELECT duration_p99 FROM windows FINAL WHERE width_s = 3600 "
                           "AND route = '*' AND prompt_version = '*'")
    exact = float(np.quantile([c.record.end_time.timestamp() - c.record.start_time.timestamp()
                               for c in calls], 0.99))  # type: ignore[union-attr]
    assert p99 == pytest.approx(exact, rel=0.02)
    fine = store.query("SELECT route, sum(calls) FROM windows FINAL WHERE width_s = 60 "
                       "AND route != '*' GROUP BY route ORDER BY route")
    assert fine == [("chat", 400), ("rag", 200)]
    versions = store.query("SELECT prompt_version, sum(calls), sum(errors) FROM windows FINAL "
                           "WHERE width_s = 300 AND prompt_version != '*' "
                           "GROUP BY prompt_version ORDER BY prompt_version")
    assert versions == [("answer@v2", 150, 6), ("none", 450, 0)]  # errors: i % 100 == 0
    assert alert_store.last_window_end(store, 60) == T0 + timedelta(minutes=5)


def test_alert_states_and_notifications_are_listed(store: ClickHouseStore) -> None:
    rules = parse_rules("rules:\n  - {name: slow, metric: duration_p95, group_by: [route], "
                        "threshold: 2, severity: critical}\n", "r")
    firing = RuleStatus("slow", GroupKey(route="chat"),
                        AlertStatus(state=AlertState.FIRING, since=T0.timestamp(),
                                    last_value=3.5), threshold=2.0)
    ok = RuleStatus("slow", GroupKey(route="rag"), AlertStatus(), threshold=2.0)
    assert alert_store.write_states(store, rules, [firing, ok], NOW) == 2
    listed = alert_store.current_alerts(store)
    assert [(r[0], r[1], r[3], r[6], r[7]) for r in listed] == \
        [("slow", "critical", "chat", "firing", 3.5)]
    assert len(alert_store.current_alerts(store, include_ok=True)) == 2
    assert [r[11] for r in listed] == [""]  # not a quality rule: no scorer version
    message = build_test_message(rules.rule("slow"), NOW)
    results = [DeliveryResult("pager", False, 3, 503, "HTTP 503", 1.0)]
    alert_store.write_notifications(store, message, results, NOW)
    assert store.query("SELECT channel, ok, attempts, http_status FROM alert_notifications "
                       "FINAL") == [("pager", 0, 3, 503)]


def test_a_quality_alert_state_names_the_scorer_version_of_its_value(
        store: ClickHouseStore) -> None:
    rules = parse_rules("rules:\n  - {name: toxic, metric: toxicity_rate, group_by: [model], "
                        "threshold: 0.02}\n", "r")
    firing = RuleStatus("toxic", GroupKey(model="m"),
                        AlertStatus(state=AlertState.FIRING, since=T0.timestamp(),
                                    last_value=0.3), threshold=0.02,
                        scorer="lexicon+minilm@2")
    alert_store.write_states(store, rules, [firing], NOW)
    [row] = alert_store.current_alerts(store)
    assert (row[0], row[7], row[11]) == ("toxic", 0.3, "lexicon+minilm@2")
