"""Hostile input through the real worker and store: invisible characters in labels, a
repeated JSON key, calls dated decades back and spread over more months than one insert
may touch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from tests.integration.stack import make_stack, wait_metrics
from tests.unit.factories import inference

SPREAD = 120  # months, one call each: more partitions than one ClickHouse insert accepts
PROMPT = [{"role": "user", "content": "Bonjour \u202eevil\u202c"}]


def _dated(rid: str, start: datetime) -> dict[str, Any]:
    return inference(rid, start_time=start.isoformat(), **{
        "end_time": (start + timedelta(seconds=1)).isoformat(),
        "gen_ai.input.messages": PROMPT})


def test_hostile_events_are_cleaned_counted_or_dead_lettered(broker: str,
                                                             tmp_path: Path) -> None:
    stack = make_stack(broker, tmp_path)
    worker = stack.worker()
    try:
        with stack.client() as client:
            bidi = inference("h-bidi", route="chat\u202e", tenant="\u2066acme\u2069")
            client.produce_raw("inference", b"h-bidi", orjson.dumps(bidi))
            twice = orjson.dumps(inference("h-dup"))[:-1] + b',"tenant":"victim"}'
            client.produce_raw("inference", b"h-dup", twice)
            first = datetime(1995, 1, 10, tzinfo=UTC)
            for i in range(SPREAD):
                old = _dated(f"h-old{i}", first + timedelta(days=31 * i))
                client.produce_raw("inference", f"h-old{i}".encode(), orjson.dumps(old))
            assert client.flush(30) == 0
        values = wait_metrics(
            worker, lambda m: m.get("llmpulse_calls_total", 0) >= 1 + SPREAD
            and m.get("llmpulse_dlq_events_total", 0) >= 1,
            timeout=120, what="the hostile events")
        assert values["llmpulse_calls_total"] == 1 + SPREAD
        assert values["llmpulse_sanitized_fields_total{field=route}"] == 1
        assert values["llmpulse_sanitized_fields_total{field=tenant}"] == 1
        assert values["llmpulse_late_calls_total{reason=past_body_ttl}"] == SPREAD
        assert values["llmpulse_dlq_events_total"] == 1
        assert values.get("llmpulse_sink_failures_total", 0) == 0
        text = worker.metrics_text()
        assert "\u202e" not in text and "\u2066" not in text
    finally:
        assert worker.stop() == 0, worker.log_tail()
    assert stack.sql("SELECT route, tenant FROM inference_events FINAL "
                     "WHERE request_id = 'h-bidi'") == [["chat", "acme"]]
    assert stack.sql("SELECT count(), uniqExact(toYYYYMM(call_time)) FROM inference_events "
                     "FINAL WHERE startsWith(request_id, 'h-old')") == [[SPREAD, SPREAD]]
    letters = stack.cli("dlq", "list", "--limit", "10")
    assert letters.returncode == 0, letters.stderr
    [dead] = [orjson.loads(line) for line in letters.stdout.splitlines()]
    assert dead["reason"] == "duplicate_key" and "'tenant'" in dead["detail"]
