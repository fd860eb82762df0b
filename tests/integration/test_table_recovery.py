"""Pending join halves survive a SIGKILL even when the worker's first assignment lacked
the tables' changelog partitions (``llmpulse.streams.table_guard``).

The first worker computes its first assignment as a group leader whose metadata does
not show the changelog topics yet (``tests/harness/stale_assignment``; on a fresh
broker that happens by itself now and then).  It reads the requests, which wait in the
join table for their responses, and is killed once they are committed.  Its restart,
the same static member, gets its partitions back without a rebalance.  Then the
responses come: each must find its request.  Before the guard, the restart got the
cached assignment without the changelog partitions, started with an empty join table,
and filed every call as a response alone (``response_only``) after the join timeout.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from llmpulse.procs import parse_metrics
from llmpulse.sdk import DEFAULT_PRODUCER_CONFIG
from tests.harness.backlog import committed_offsets
from tests.harness.soak import _request, _response
from tests.integration.stack import Stack, make_stack, wait_metrics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

PAIRS = 400
STALE = Path(__file__).resolve().parents[1] / "harness" / "stale_assignment"


def _produce(stack: Stack, role: str, events: list[dict[str, Any]]) -> None:
    producer = Producer({**DEFAULT_PRODUCER_CONFIG, "bootstrap.servers": stack.broker})
    for event in events:
        producer.produce(stack.prefix + role, key=event["request_id"].encode(),
                         value=orjson.dumps(event))
        producer.poll(0)
    assert producer.flush(60) == 0


def _committed(stack: Stack, role: str) -> int:
    return sum(max(offset, 0) for (r, _), offset in committed_offsets(stack).items()
               if r == role)


def test_pending_halves_survive_a_restart_after_an_assignment_without_changelogs(
        broker: str, tmp_path: Path) -> None:
    stack = make_stack(broker, tmp_path)
    path = [str(STALE), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {"LLMPULSE_INSTANCE_ID": "table-worker", "LLMPULSE_SESSION_TIMEOUT_S": "20",
           "LLMPULSE_JOIN_TIMEOUT_S": "45", "STALE_FIRST_ASSIGNMENT": "1",
           "PYTHONPATH": os.pathsep.join(path)}
    _produce(stack, "requests", [_request(f"r{i}") for i in range(PAIRS)])
    first = stack.worker("first", **env)
    deadline = time.monotonic() + 120
    while (_committed(stack, "requests") < PAIRS or parse_metrics(first.metrics_text())
           .get("llmpulse_pending_joins") != PAIRS):  # each request waits for its response
        assert time.monotonic() < deadline, "the requests were not committed:\n" + first.log_tail()
        time.sleep(0.5)
    first.kill()  # its session lives on: the restart gets its partitions back as they were
    _produce(stack, "responses", [_response(f"r{i}") for i in range(PAIRS)])
    second = stack.worker("second", **env)
    try:
        def done(values: dict[str, float]) -> bool:
            if values.get("llmpulse_pending_joins", 1) or not values.get("llmpulse_calls_total"):
                return False
            return _committed(stack, "responses") >= PAIRS

        values = wait_metrics(second, done, timeout=180,
                              what="every response read and no join pending")
    finally:
        assert second.stop() == 0, second.log_tail()
    rows = stack.sql("SELECT join_status, count() FROM inference_events FINAL "
                     "GROUP BY join_status ORDER BY join_status")
    assert rows == [["joined", PAIRS]], (rows, first.log_tail())
    assert not values.get("llmpulse_join_timeouts_total")
