"""/metrics of each process: promtool-clean, only its own metrics, counters present at 0.

Each registry is built as the process builds it (``build_metrics(process=...)`` and
the start-up zero series), filled with representative samples through the code
that fills it in production, rendered with ``generate_latest`` and checked by a
real ``promtool check metrics``.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from llmpulse.config import Settings, load_settings
from llmpulse.detectors.cost import Cost
from llmpulse.metric_zeros import (
    DLQ_REASONS,
    RETRAIN_OUTCOMES,
    SCORER_OUTCOMES,
    zero_scorer_series,
    zero_worker_series,
)
from llmpulse.metrics import SPECS, Metrics, build_metrics, markdown_table, specs_of
from llmpulse.records import InferenceRecord
from llmpulse.scoring.tasks import Evaluation, ScoreResult, call_ref
from llmpulse.sinks.prometheus import observe_call
from llmpulse.sinks.rows import StoredCall
from llmpulse.streams.window_gauges import OTHER_TENANT, WindowGauges
from llmpulse.windows import STANDARD_GROUPINGS, ClosedWindow, GroupKey, WindowAggregate

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CHANNELS = ("oncall", "pager")


def _settings() -> Settings:
    return load_settings({})


def _record(i: int, tenant: str = "acme", error: str | None = None) -> InferenceRecord:
    end = T0 + timedelta(seconds=i)
    return InferenceRecord(
        request_id=f"r{i}", join_status="inference", provider="openai",
        request_model="gpt-4o", response_model=None, operation="chat",
        start_time=end - timedelta(seconds=1.5 + i % 3), end_time=end, tenant=tenant,
        route="chat", input_tokens=100, output_tokens=20, error_type=error,
        time_to_first_chunk=0.2)


def _closed(records: list[InferenceRecord]) -> list[ClosedWindow]:
    """The closed windows of ``records`` in every standard grouping, as the engine
    closes them."""
    aggregates: dict[GroupKey, WindowAggregate] = {}
    for record in records:
        for dims in STANDARD_GROUPINGS:
            agg = aggregates.setdefault(GroupKey.of(record, dims), WindowAggregate())
            agg.add(record, 0.01)
            agg.add_quality(_scored(record))
    return [ClosedWindow(T0.timestamp(), 60.0, group, agg) for group, agg in aggregates.items()]


def _scored(record: InferenceRecord) -> ScoreResult:
    """A scorer's result for ``record``, by one of two versions (a rolling upgrade)."""
    scorer = "lexicon@1" if int(record.request_id[1:]) % 2 else "lexicon+minilm@2"
    return ScoreResult(call_ref(record), "sampled", T0.timestamp(), (
        Evaluation("toxicity", 0.1, "ok", scorer=scorer),
        Evaluation("groundedness", 0.8, "grounded", scorer="embedding:all-MiniLM-L6-v2@2")))


def worker_metrics(max_tenants: int = 0) -> Metrics:
    """The worker's registry after some traffic, windows, alerts and lag."""
    metrics = build_metrics(process="worker")
    zero_worker_series(metrics, _settings(), CHANNELS)
    records = [_record(i, tenant=f"t{i % 4}", error="timeout" if i == 3 else None)
               for i in range(12)]
    for record in records:
        observe_call(metrics, StoredCall(record, Cost(0.01, "genai-prices", "test")))
    WindowGauges(metrics, max_tenants).export(_closed(records))
    metrics.events_in.labels("llm.requests").inc(12)
    metrics.dlq.labels("llm.requests", "not_json").inc()
    metrics.sink_batch.labels("clickhouse", "calls").observe(0.02)
    metrics.sink_rows.labels("clickhouse", "calls").inc(12)
    metrics.consumer_lag.labels("llm.requests", "0").set(3)
    metrics.read_lag.labels("llm.requests", "0").set(1)
    metrics.alerts_firing.labels("route_slow", "critical").set(1)
    metrics.alert_notifications.labels("oncall", "trigger", "ok").inc()
    metrics.pending_joins.set(2)
    metrics.store_up.set(1)
    metrics.broker_up.set(1)
    metrics.drift_score.labels("gpt-4o", "*", "prompt_length").set(0.4)
    return metrics


def scorer_metrics() -> Metrics:
    """The scorer's registry after a few batches."""
    metrics = build_metrics(process="scorer")
    zero_scorer_series(metrics)
    metrics.scorer_tasks.labels("scored").inc(30)
    metrics.scorer_tasks.labels("shed").inc(2)
    metrics.scorer_batch.labels("toxicity").observe(0.3)
    metrics.scorer_task_age.set(1.5)
    metrics.broker_up.set(1)
    return metrics


def _exposition(metrics: Metrics) -> str:
    return generate_latest(metrics.registry).decode()


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed (Debian: apt-get install prometheus); it "
                    "checks /metrics, so this test cannot pass without it")
    return path


@pytest.mark.parametrize("build", [worker_metrics, scorer_metrics], ids=["worker", "scorer"])
def test_promtool_check_metrics_passes(build: object) -> None:
    assert callable(build)
    text = _exposition(build())
    done = subprocess.run([_promtool(), "check", "metrics"], input=text, text=True,
                          capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, f"promtool check metrics:\n{done.stdout}{done.stderr}"


def _families(metrics: Metrics) -> set[str]:
    """Metric names on /metrics (without the ``_created`` companions of counters and
    histograms)."""
    names = {f.name for f in text_string_to_metric_families(_exposition(metrics))}
    return {n for n in names if not n.endswith("_created")}


def _base(name: str) -> str:
    return name.removesuffix("_total")


def test_each_process_exports_only_its_own_metrics() -> None:
    worker, scorer = _families(worker_metrics()), _families(scorer_metrics())
    assert {_base(s.exposed_name) for s in specs_of("worker")} == worker
    assert {_base(s.exposed_name) for s in specs_of("scorer")} == scorer
    assert "llmpulse_scorer_task_age_seconds" not in worker
    assert "llmpulse_pending_joins" not in scorer
    assert worker & scorer == {"llmpulse_broker_up"}
    assert {s.name for s in SPECS} == {_base(n) for n in worker | scorer}


def test_metrics_of_another_process_still_work_unexported() -> None:
    metrics = build_metrics(process="worker")
    metrics.scorer_task_age.set(3.0)
    metrics.scorer_tasks.labels("scored").inc()
    assert "llmpulse_scorer" not in _exposition(metrics)


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(_exposition(metrics)) for s in f.samples}


def test_labelled_counters_start_at_zero() -> None:
    metrics = build_metrics(process="worker")
    zero_worker_series(metrics, _settings(), CHANNELS, ["retrain_on_drift"])
    samples = _samples(metrics)

    def value(name: str, **labels: str) -> float | None:
        return samples.get((name, tuple(sorted(labels.items()))))

    for sink in ("clickhouse", "kafka"):
        assert value("llmpulse_sink_failures_total", sink=sink) == 0
    for topic in ("llm.requests", "llm.responses", "llm.inference", "stored", "feedback",
                  "scores"):
        assert value("llmpulse_duplicate_events_total", topic=topic) == 0
    for status in ("request_only", "response_only"):
        assert value("llmpulse_join_timeouts_total", join_status=status) == 0
    for reason in ("unknown_request", "too_late"):
        assert value("llmpulse_feedback_unjoined_total", reason=reason) == 0
    for channel in CHANNELS:
        for kind in ("trigger", "renotify", "resolve", "test"):
            for outcome in ("ok", "failed"):
                assert value("llmpulse_alert_notifications_total", channel=channel, kind=kind,
                             outcome=outcome) == 0
    for topic in ("llm.requests", "llm.responses", "llm.inference", "llm.feedback",
                  "llm.scores"):
        assert value("llmpulse_events_in_total", topic=topic) == 0
        for reason in DLQ_REASONS:
            assert value("llmpulse_dlq_events_total", topic=topic, reason=reason) == 0
    assert {"not_json", "internal", "wrong_partition"} <= set(DLQ_REASONS)
    for outcome in RETRAIN_OUTCOMES:
        assert value("llmpulse_retrain_triggers_total", policy="retrain_on_drift",
                     outcome=outcome) == 0

    scorer = build_metrics(process="scorer")
    zero_scorer_series(scorer)
    scorer_samples = _samples(scorer)
    for outcome in SCORER_OUTCOMES:
        assert scorer_samples[("llmpulse_scorer_tasks_total", (("outcome", outcome),))] == 0


def test_zero_series_follow_the_topic_prefix() -> None:
    metrics = build_metrics(process="worker")
    zero_worker_series(metrics, load_settings({"LLMPULSE_TOPIC_PREFIX": "prod."}), ())
    text = _exposition(metrics)
    assert 'llmpulse_sink_failures_total{sink="kafka"} 0.0' in text
    assert 'topic="prod.requests"' in text and 'topic="llm.requests"' not in text
    assert "llmpulse_alert_notifications_total{" not in text


def _tenants(metrics: Metrics) -> set[str]:
    return {s.labels["tenant"] for f in text_string_to_metric_families(_exposition(metrics))
            if f.name == "llmpulse_window_calls" for s in f.samples}


def _calls_by_tenant(metrics: Metrics, route: str = "chat") -> dict[str, float]:
    return {s.labels["tenant"]: s.value
            for f in text_string_to_metric_families(_exposition(metrics))
            if f.name == "llmpulse_window_calls" for s in f.samples
            if s.labels["route"] == route}


def test_tenant_label_is_bounded_by_the_setting() -> None:
    none = worker_metrics(max_tenants=0)
    assert _tenants(none) == {"*"}
    assert _calls_by_tenant(none) == {"*": 12}  # every tenant's calls, merged
    two = worker_metrics(max_tenants=2)
    assert _tenants(two) == {"*", "t0", "t1", OTHER_TENANT}
    assert _calls_by_tenant(two) == {"t0": 3, "t1": 3, OTHER_TENANT: 6}
    every = worker_metrics(max_tenants=100)
    assert _tenants(every) == {"*", "t0", "t1", "t2", "t3"}


def test_quality_window_gauges_have_one_series_per_scorer_version() -> None:
    text = _exposition(worker_metrics())
    series = [line for line in text.splitlines()
              if line.startswith("llmpulse_window_toxicity_rate{") and 'route="*"' in line
              and 'prompt_version="*"' in line]
    assert sorted(line.split('scorer="')[1].split('"')[0] for line in series) == [
        "lexicon+minilm@2", "lexicon@1"]


def test_window_latency_is_labelled_percentile_not_quantile() -> None:
    text = _exposition(worker_metrics())
    assert 'signal="duration"' in text and 'percentile="95"' in text
    assert "quantile=" not in text


def test_window_gauges_of_a_group_without_a_window_are_removed() -> None:
    metrics = build_metrics(process="worker")
    gauges = WindowGauges(metrics, 0)
    gauges.export(_closed([_record(1)]))
    assert 'model="gpt-4o"' in _exposition(metrics)
    other = replace(_record(2), request_model="claude")
    gauges.export([ClosedWindow(T0.timestamp() + 60, 60.0, w.group, w.aggregate)
                   for w in _closed([other])])
    text = _exposition(metrics)
    assert 'llmpulse_window_calls{model="gpt-4o"' not in text
    assert 'llmpulse_window_calls{model="claude"' in text


README_BEGIN = "<!-- metrics table: generated by `llmpulse metrics --markdown` -->"
README_END = "<!-- end of metrics table -->"


def test_readme_metrics_table_matches_the_code() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert README_BEGIN in readme and README_END in readme, "README lost its metrics table"
    table = readme.split(README_BEGIN, 1)[1].split(README_END, 1)[0].strip()
    assert table == markdown_table(), ("README's metrics table differs from metrics.py; "
                                       "regenerate it with `llmpulse metrics --markdown`")
