"""A backlog read through two SIGKILLs: the worker is killed once 20 % and once 50 %
of the input is committed, and restarted each time.  Every call is stored once, as
what it is (joined, not a join timeout), every stored call's signals have their
call row, and the group's committed offsets reach the end of every partition."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from llmpulse.ingest import INPUT_ROLES
from llmpulse.procs import WorkerProcess, parse_metrics
from llmpulse.sdk import DEFAULT_PRODUCER_CONFIG
from tests.harness.soak import _feedback, _inference, _request, _response
from tests.integration.stack import Stack, make_stack, wait_metrics

CALLS, PAIRS, FEEDBACK = 3000, 1500, 300
TOTAL = CALLS + 2 * PAIRS + FEEDBACK


def produce_backlog(stack: Stack) -> dict[str, str]:
    producer = Producer({**DEFAULT_PRODUCER_CONFIG, "bootstrap.servers": stack.broker})
    expected: dict[str, str] = {}

    def send(role: str, event: dict[str, Any]) -> None:
        producer.produce(stack.prefix + role, key=event["request_id"].encode(),
                         value=orjson.dumps(event))
        producer.poll(0)

    for i in range(CALLS):
        send("inference", _inference(f"c{i}"))
        expected[f"c{i}"] = "inference"
    for i in range(PAIRS):
        send("requests", _request(f"p{i}"))
        if i >= 5:  # responses trail their requests a little, as in production
            send("responses", _response(f"p{i - 5}"))
        expected[f"p{i}"] = "joined"
    for i in range(PAIRS - 5, PAIRS):
        send("responses", _response(f"p{i}"))
    for i in range(FEEDBACK):
        send("feedback", _feedback(f"c{i * 7}", f"f{i}"))
    assert producer.flush(60) == 0
    return expected


def committed_total(stack: Stack) -> int:
    """Input offsets committed by the worker's group, over every partition (offsets
    start at 0 and the idempotent producer leaves no gaps: at the end, the count of
    messages; the embedded broker's high watermarks are not reliable for this)."""
    settings = stack.settings()
    consumer = Consumer({"bootstrap.servers": stack.broker, "group.id": stack.app_id,
                         "enable.auto.commit": False})
    tps = [TopicPartition(settings.topic(role), p)
           for role in INPUT_ROLES for p in range(settings.partitions)]
    try:
        for _ in range(20):
            try:
                return sum(max(tp.offset, 0) for tp in consumer.committed(tps, timeout=30))
            except KafkaException:  # the group coordinator moving or loading: ask again
                time.sleep(0.5)
        raise AssertionError("the group's committed offsets could not be read")
    finally:
        consumer.close()


def kill_at(stack: Stack, worker: WorkerProcess, share: float) -> float:
    """SIGKILL once ``share`` of the input is committed; the join timeouts it counted."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and committed_total(stack) < share * TOTAL:
        time.sleep(0.2)
    timeouts = parse_metrics(worker.metrics_text()).get("llmpulse_join_timeouts_total", 0.0)
    worker.kill()
    return timeouts


def test_backlog_through_two_kills(broker: str, tmp_path: Path) -> None:
    stack = make_stack(broker, tmp_path)
    expected = produce_backlog(stack)
    timeouts = 0.0
    worker = stack.worker("first", LLMPULSE_BATCH_MAX_ROWS="500")
    timeouts += kill_at(stack, worker, 0.2)
    worker = stack.worker("second", LLMPULSE_BATCH_MAX_ROWS="500")
    timeouts += kill_at(stack, worker, 0.5)
    worker = stack.worker("third", LLMPULSE_BATCH_MAX_ROWS="500")
    try:
        series = stack.settings().partitions * len(INPUT_ROLES)

        def idle(values: dict[str, float]) -> bool:
            reported = sum(k.startswith("llmpulse_consumer_lag{") for k in values) >= series
            return (reported and values.get("llmpulse_consumer_lag", 1) == 0
                    and values.get("llmpulse_pending_joins", 1) == 0)

        values = wait_metrics(worker, idle, timeout=240,
                              what="committed offsets at the end of every input partition")
        timeouts += values.get("llmpulse_join_timeouts_total", 0.0)
    finally:
        assert worker.stop() == 0, worker.log_tail()
    assert committed_total(stack) == TOTAL
    rows = stack.sql("SELECT request_id, join_status FROM inference_events FINAL")
    stored = {str(rid): str(status) for rid, status in rows}
    assert len(rows) == len(stored) == len(expected)
    assert stored == expected
    [[hidden]] = stack.sql("SELECT count() FROM (SELECT DISTINCT request_id FROM signals) "
                           "WHERE request_id NOT IN (SELECT request_id FROM inference_events)")
    assert hidden == 0
    [[feedback]] = stack.sql("SELECT count() FROM feedback FINAL")
    assert feedback == FEEDBACK
    assert timeouts == 0
