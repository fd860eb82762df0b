"""The worker on a real broker (embedded Tansu and Apache Kafka) with the real store.

10,000 simulated calls with 1% malformed events: exactly the valid calls land
in ClickHouse, the malformed ones in the dead-letter topic with reasons, the
counters on /metrics agree; the same traffic again adds nothing.
"""

from __future__ import annotations

from pathlib import Path

from llmpulse.procs import WorkerProcess
from tests.integration.stack import make_stack, wait_metrics

CALLS = 10_000


def _totals(values: dict[str, float]) -> tuple[float, float, float]:
    return (values.get("llmpulse_calls_total", 0), values.get("llmpulse_dlq_events_total", 0),
            values.get("llmpulse_duplicate_events_total", 0))


def test_ten_thousand_events_exactly_once(broker: str, tmp_path: Path) -> None:
    stack = make_stack(broker, tmp_path)
    worker = stack.worker()
    try:
        stats = stack.simulate(rate=None, count=CALLS, seed=21, malformed_ratio=0.01)
        valid_calls = stats.calls
        sent_events = sum(stats.events.values()) + stats.malformed
        assert stats.malformed > 50 and valid_calls + stats.malformed == CALLS
        first = wait_metrics(
            worker, lambda m: m.get("llmpulse_calls_total", 0) >= valid_calls
            and m.get("llmpulse_dlq_events_total", 0) >= stats.malformed
            and m.get("llmpulse_events_in_total", 0) >= sent_events,
            timeout=240, what=f"{valid_calls} calls and {stats.malformed} dead letters")
        assert _totals(first)[:2] == (valid_calls, stats.malformed)
        assert first["llmpulse_events_in_total"] == sent_events
        assert first["llmpulse_feedback_events_total"] > 0
        assert first["gen_ai_client_operation_duration_seconds_count"] > 0.9 * valid_calls

        # the same traffic again (same seed: same request ids): duplicates only
        again = stack.simulate(rate=None, count=CALLS, seed=21, malformed_ratio=0.01)
        assert again.calls == valid_calls
        second = wait_metrics(
            worker, lambda m: m.get("llmpulse_events_in_total", 0) >= 2 * sent_events
            and m.get("llmpulse_dlq_events_total", 0) >= 2 * stats.malformed,
            timeout=240, what="the repeated traffic to be read")
        assert second["llmpulse_calls_total"] == valid_calls
        assert second["llmpulse_duplicate_events_total"] >= sum(
            n for kind, n in stats.events.items() if kind != "feedback")
        assert second["llmpulse_cost_usd_total"] == first["llmpulse_cost_usd_total"]
    finally:
        assert worker.stop() == 0, worker.log_tail()

    [[rows, unique]] = stack.sql(
        "SELECT count(), uniqExact(request_id) FROM inference_events FINAL")
    assert rows == unique == valid_calls
    per_model = dict(stack.sql(
        "SELECT request_model, count() FROM inference_events FINAL GROUP BY request_model"))
    assert per_model == stats.models
    [[signal_calls]] = stack.sql(
        "SELECT uniqExact(request_id) FROM signals FINAL WHERE name = 'error'")
    assert signal_calls == valid_calls
    [[unpriced]] = stack.sql(
        "SELECT count() FROM inference_events FINAL WHERE cost_source = 'unknown'")
    assert unpriced > 0  # the self-hosted model has no public price: flagged, not zero

    letters = stack.cli("dlq", "list", "--limit", "100000")
    assert letters.returncode == 0, letters.stderr
    import json

    dead = [json.loads(line) for line in letters.stdout.splitlines()]
    assert len(dead) == 2 * stats.malformed
    assert all(d["reason"] and d["source_topic"].startswith(stack.prefix) for d in dead)
    assert {d["reason"] for d in dead} >= {"not_json", "invalid"}


def test_dead_letters_replay_to_their_source(broker: str, tmp_path: Path) -> None:
    stack = make_stack(broker, tmp_path)
    worker: WorkerProcess = stack.worker()
    try:
        with stack.client() as client:
            client.produce_raw("inference", b"bad-1", b"{not json")
            client.produce_raw("feedback", b"bad-2", b'{"request_id": "bad-2"}')
        wait_metrics(worker, lambda m: m.get("llmpulse_dlq_events_total", 0) >= 2,
                     timeout=60, what="2 dead letters")
        replay = stack.cli("dlq", "replay")
        assert replay.returncode == 0 and "replayed 2" in replay.stdout, replay.stderr
        values = wait_metrics(worker, lambda m: m.get("llmpulse_dlq_events_total", 0) >= 4,
                              timeout=60, what="the replayed letters to fail again")
        assert values["llmpulse_events_in_total"] == 4
    finally:
        worker.stop()
    # a log file, not a terminal: no spinner, no cursor codes from Faust
    assert b"\x1b" not in worker.log_path.read_bytes()
