"""Static group membership: a worker killed and started again with the same instance id
gets its partitions back at once, not after the session timeout (Apache Kafka)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.harness.apache_kafka import ApacheKafka
from tests.integration.stack import make_stack, wait_metrics

pytestmark = pytest.mark.integration

#: Long, so that waiting for the dead member's session could not pass the test.
SESSION_TIMEOUT_S = 60.0
#: Start-up, partition assignment and a few batches: generous, and well below the session.
RESUME_WITHIN_S = SESSION_TIMEOUT_S / 2


def test_restarted_worker_with_its_instance_id_resumes_before_the_session_expires(
        apache_kafka: ApacheKafka, tmp_path: Path) -> None:
    stack = make_stack(apache_kafka.bootstrap, tmp_path)
    same = {"LLMPULSE_INSTANCE_ID": "worker-a",
            "LLMPULSE_SESSION_TIMEOUT_S": str(SESSION_TIMEOUT_S)}
    first = stack.worker("first", **same)
    sent = stack.simulate(rate=None, count=200, seed=51)
    wait_metrics(first, lambda m: m.get("llmpulse_calls_total", 0) >= sent.calls,
                 timeout=90, what="the first worker to store its calls")
    first.kill()  # SIGKILL: no commit, no goodbye; its session lives on at the broker
    killed = time.monotonic()
    second = stack.worker("second", **same)
    try:
        more = stack.simulate(rate=None, count=200, seed=52)
        wait_metrics(second, lambda m: m.get("llmpulse_calls_total", 0) >= more.calls,
                     timeout=RESUME_WITHIN_S, what="the restarted worker to take over")
        resumed = time.monotonic() - killed
    finally:
        assert second.stop() == 0, second.log_tail()
    assert resumed < SESSION_TIMEOUT_S
    [[rows, unique]] = stack.sql(
        "SELECT count(), uniqExact(request_id) FROM inference_events FINAL")
    assert rows == unique == sent.calls + more.calls
