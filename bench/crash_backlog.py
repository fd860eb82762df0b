"""A backlog read through two SIGKILLs: the worker is killed once 20 % and once 50 %
of the input is committed, and restarted each time.  Every call must be stored
once, as what it is (joined, not a join timeout), every stored call's signals must
have their call row, and the group's committed offsets must reach the end.

    python bench/crash_backlog.py --broker kafka --runs 5

Open: some runs lose a stretch of one partition's input (committed, never stored)
when a restart meets a rebalance; see BENCHMARKS.md, "Fault soak".
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the stack harness lives with the tests

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition  # noqa: E402

from llmpulse.ingest import INPUT_ROLES  # noqa: E402
from llmpulse.procs import WorkerProcess, parse_metrics  # noqa: E402
from llmpulse.sdk import DEFAULT_PRODUCER_CONFIG  # noqa: E402
from tests.harness.soak import _feedback, _inference, _request, _response, input_lag  # noqa: E402
from tests.integration.stack import Stack, make_stack, wait_metrics  # noqa: E402

CALLS, PAIRS, FEEDBACK = 3000, 1500, 300
TOTAL = CALLS + 2 * PAIRS + FEEDBACK
#: Each restart comes back as the same static group member, as a restarted pod does:
#: it gets its partitions back at once, with no rebalance while it reads.
INSTANCE = "backlog-worker"


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


def run_backlog(broker: str, tmp_path: Path) -> None:
    stack = make_stack(broker, tmp_path)
    expected = produce_backlog(stack)
    timeouts = 0.0
    worker = stack.worker("first", LLMPULSE_BATCH_MAX_ROWS="500", LLMPULSE_INSTANCE_ID=INSTANCE)
    timeouts += kill_at(stack, worker, 0.2)
    worker = stack.worker("second", LLMPULSE_BATCH_MAX_ROWS="500", LLMPULSE_INSTANCE_ID=INSTANCE)
    timeouts += kill_at(stack, worker, 0.5)
    worker = stack.worker("third", LLMPULSE_BATCH_MAX_ROWS="500", LLMPULSE_INSTANCE_ID=INSTANCE)
    try:
        series = stack.settings().partitions * len(INPUT_ROLES)

        def idle(values: dict[str, float]) -> bool:
            reported = sum(k.startswith("llmpulse_consumer_lag{") for k in values) >= series
            return (reported and input_lag(values) == 0
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


def main() -> int:
    parser = argparse.ArgumentParser(description="SIGKILL twice while a backlog is read")
    parser.add_argument("--broker", choices=("kafka", "embedded"), default="kafka")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from llmpulse.embedded_broker import EmbeddedBroker
    from tests.harness.apache_kafka import ApacheKafka

    server: ApacheKafka | EmbeddedBroker = (ApacheKafka() if args.broker == "kafka"
                                            else EmbeddedBroker())
    bootstrap = server.start()
    failed = 0
    try:
        for run in range(args.runs):
            try:
                run_backlog(bootstrap, Path(tempfile.mkdtemp(prefix="llmpulse-backlog-")))
                print(f"run {run + 1}: ok", flush=True)
            except BaseException as exc:  # an assertion, or the harness giving up
                failed += 1
                print(f"run {run + 1}: FAILED {str(exc)[:500]}", flush=True)
    finally:
        server.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
