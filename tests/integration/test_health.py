"""/healthz and /readyz of real worker and scorer processes, and their drain on SIGTERM.

A store outage is a ``store_down`` drill (``LLMPULSE_DRILLS``: every store operation of
the worker fails for a time window, as in a real outage); a batch that takes long is a
``scorer_slow`` drill.  Drill windows are wall-clock times fixed at launch, so the
worker tests give the process :data:`START_WITHIN_S` to be ready first.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, Producer

from llmpulse.config import load_settings
from llmpulse.embedded_broker import EmbeddedBroker
from llmpulse.procs import WorkerProcess, parse_metrics
from llmpulse.scoring.tasks import CallRef, ScoreResult, ScoringTask
from llmpulse.topics import all_topics, ensure_topics
from tests.integration.stack import Stack, make_stack, wait_metrics

#: How long a worker may take to be ready after its launch (drills start after it).
START_WITHIN_S = 30.0
Body = dict[str, Any]
Answer = tuple[int, Body]


def launch(stack: Stack, name: str, command: str = "worker", **extra: str) -> WorkerProcess:
    """Launch; return as soon as the port is known (the process is still starting)."""
    process = WorkerProcess(stack.env(**extra), log_path=stack.data_dir / f"{name}.log",
                            command=command)
    process.launch()
    process.wait_ready(timeout=120)  # the ready file names the port: /readyz answers
    return process


def wait_health(process: WorkerProcess, done: Callable[[int, Body], bool], timeout: float,
                what: str, path: str = "/readyz", seen: list[Answer] | None = None
                ) -> Answer:
    """Poll ``path`` until ``done(status, body)``; ``seen`` collects every distinct answer
    (status, status word, failing checks) on the way."""
    deadline = time.monotonic() + timeout
    answer: Answer = (0, {})
    while time.monotonic() < deadline:
        assert process.running(), f"exited while waiting for {what}:\n{process.log_tail()}"
        answer = process.health(path)
        if seen is not None:
            seen.append(answer)
        if done(*answer):
            return answer
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last {path}: "
                f"{orjson.dumps(answer[1]).decode()}\n{process.log_tail()}")


def failing(body: Body, check: str, state: str) -> bool:
    return body["checks"][check]["state"] == state and check in body["failing"]


def ready_before_the_drill(worker: WorkerProcess, drill_at: float, partitions: int) -> None:
    """starting (503) -> ready (200) with every input partition assigned, before the drill."""
    seen: list[Answer] = []
    _, body = wait_health(worker, lambda s, _: s == 200, drill_at - time.time() - 1,
                               "the worker to be ready before the drill", seen=seen)
    assert seen[0][0] == 503 and seen[0][1]["status"] == "starting", seen[0]
    assert body["status"] == "ready"
    assert body["checks"]["partitions"]["state"] == "assigned"
    assert len(body["checks"]["partitions"]["input_partitions"]) == partitions * 5
    assert worker.health("/healthz")[0] == 200


# a store outage is the same on both brokers: Apache Kafka, what a deployment runs on, is enough
@pytest.mark.parametrize("broker", ["kafka"], indirect=True)
def test_worker_readiness_through_a_store_outage_and_a_drain_with_a_batch_in_flight(
        broker: str, tmp_path: Path) -> None:
    stack = make_stack(broker, tmp_path)
    first_at = time.time() + START_WITHIN_S
    second_at = first_at + 14
    drills = f"store_down@{first_at:.1f}+6,store_down@{second_at:.1f}+10"
    worker = launch(stack, "first", LLMPULSE_DRILLS=drills, LLMPULSE_READY_STUCK_S="3",
                    LLMPULSE_DRAIN_TIMEOUT_S="30")
    try:
        ready_before_the_drill(worker, first_at, stack.settings().partitions)
        time.sleep(max(0.0, first_at - time.time()) + 0.5)
        before = stack.simulate(rate=None, count=150, seed=61)
        _, body = wait_health(worker, lambda s, b: s == 503 and failing(b, "store", "failing"),
                              10, "the store outage in /readyz")
        assert "store_down drill" in body["checks"]["store"]["reason"]
        _, body = wait_health(worker, lambda s, b: failing(b, "batch", "stuck"), 10,
                              "the held batch to count as stuck (LLMPULSE_READY_STUCK_S=3)")
        batch = body["checks"]["batch"]
        assert batch["in_flight_s"] >= 3 and batch["attempts"] >= 1
        assert "store_down drill" in batch["error"] and "LLMPULSE_READY_STUCK_S=3" in \
            batch["reason"]
        assert worker.health("/healthz")[0] == 200  # alive all along: not to be restarted
        wait_health(worker, lambda s, b: s == 200, 30, "ready again once the store is back")

        time.sleep(max(0.0, second_at - time.time()) + 0.5)
        during = stack.simulate(rate=None, count=150, seed=62)
        wait_health(worker, lambda s, b: b["checks"]["batch"]["state"] in ("retrying", "stuck"),
                    10, "a batch held by the second outage")
        # every event of both bursts read (held or buffered) before SIGTERM: what is read
        # is written by the drain, what is not is left to the next start (checked below)
        sent = sum(before.events.values()) + sum(during.events.values())
        wait_metrics(worker, lambda v: v.get("llmpulse_events_in_total", 0) >= sent, 8,
                     "the second burst read while its batch is held")
        terminated = time.time()
        code, drained_s = worker.terminate(timeout=60)
    finally:
        worker.kill()
    log = worker.log_path.read_text()
    back_after = second_at + 10 - terminated
    print(f"drain with a batch held by the store: {drained_s:.1f} s after SIGTERM "
          f"(the store came back {back_after:.1f} s after it)")
    assert code == 0, worker.log_tail()
    # it waited for the store (back at second_at + 10) and stayed within its bound
    assert second_at + 10 - terminated - 1 < drained_s < 30, drained_s
    assert "drained in" in log and "left the consumer group" in log
    calls = before.calls + during.calls
    assert stack.sql("SELECT count(), uniqExact(request_id) FROM inference_events FINAL") == [
        [calls, calls]]

    again = stack.worker("second")  # everything was acknowledged and committed
    try:
        values = wait_metrics(again, lambda m: sum(
            k.startswith("llmpulse_consumer_lag{") for k in m) > 0, 60, "the lag reported")
        time.sleep(3)
        values = parse_metrics(again.metrics_text())
        assert values.get("llmpulse_consumer_lag") == 0
        assert values.get("llmpulse_duplicate_events_total", 0) == 0
        assert values.get("llmpulse_calls_total", 0) == 0  # nothing redelivered to store
    finally:
        assert again.stop() == 0, again.log_tail()
    assert stack.sql("SELECT count() FROM inference_events") == [[calls]]  # written once


def test_a_drain_past_its_bound_exits_1_saying_what_it_abandoned(
        embedded_broker: EmbeddedBroker, tmp_path: Path) -> None:
    stack = make_stack(embedded_broker.bootstrap, tmp_path)
    outage_at = time.time() + START_WITHIN_S
    worker = launch(stack, "first", LLMPULSE_DRILLS=f"store_down@{outage_at:.1f}+600",
                    LLMPULSE_DRAIN_TIMEOUT_S="4")
    try:
        ready_before_the_drill(worker, outage_at, stack.settings().partitions)
        time.sleep(max(0.0, outage_at - time.time()) + 0.5)
        sent = stack.simulate(rate=None, count=150, seed=63)
        wait_health(worker, lambda s, b: b["checks"]["batch"]["state"] == "retrying", 10,
                    "a batch held by the outage")
        code, drained_s = worker.terminate(timeout=60)
    finally:
        worker.kill()
    log = worker.log_path.read_text()
    print(f"drain past its 4 s bound: exit {code} {drained_s:.1f} s after SIGTERM")
    assert code == 1, worker.log_tail()
    assert 3 < drained_s < 4 + 3, drained_s  # the bound, and the process's own exit
    assert "abandoned" in log and "a batch of" in log and "redelivered" in log
    assert "LLMPULSE_DRAIN_TIMEOUT_S" in log or "drained in" in log

    again = stack.worker("second")  # no drill: the redelivered messages are stored now
    try:
        wait_metrics(again, lambda m: m.get("llmpulse_calls_total", 0) >= sent.calls, 90,
                     "the abandoned messages stored by the next worker")
    finally:
        assert again.stop() == 0, again.log_tail()
    assert stack.sql("SELECT count(), uniqExact(request_id) FROM inference_events FINAL") == [
        [sent.calls, sent.calls]]


# --- the scorer --------------------------------------------------------------------------

TASKS = 24
BATCH = 8  # tasks per batch at most: 0.5 s each under the scorer_slow drill


def send_tasks(stack: Stack, count: int) -> set[str]:
    """Mandatory (never shed) scoring tasks on llm.scoring, keyed by request_id."""
    producer = Producer({"bootstrap.servers": stack.broker})
    ids = set()
    for i in range(count):
        rid = f"score-{i}"
        call = CallRef(rid, time.time(), "gpt-4o-2024-08-06", "openai", "chat", "acme",
                       "gpt-4o")
        task = ScoringTask(call, "feedback", time.time(), "Refunds take five business days.")
        producer.produce(stack.settings().topic("scoring"), key=rid.encode(),
                         value=task.encode())
        ids.add(rid)
    assert producer.flush(30) == 0
    return ids


def scores(stack: Stack, expected: int, timeout: float = 60.0, quiet_s: float = 3.0
           ) -> list[ScoreResult]:
    """The messages on llm.scores: read until ``expected`` arrived, then for ``quiet_s``
    more (a duplicate would show then)."""
    consumer = Consumer({"bootstrap.servers": stack.broker,
                         "group.id": f"it-{uuid.uuid4().hex}", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "session.timeout.ms": 6000,
                         "heartbeat.interval.ms": 1000})
    consumer.subscribe([stack.settings().topic("scores")])
    out: list[ScoreResult] = []
    deadline = time.monotonic() + timeout
    quiet_until = None
    try:
        while time.monotonic() < (quiet_until or deadline):
            msg = consumer.poll(0.5)
            if msg is not None:
                assert msg.error() is None, msg.error()
                out.append(ScoreResult.decode(msg.value()))
            if quiet_until is None and len(out) >= expected:
                quiet_until = time.monotonic() + quiet_s
    finally:
        consumer.close()
    return out


def test_scorer_readiness_and_a_drain_with_a_batch_in_flight(
        embedded_broker: EmbeddedBroker, tmp_path: Path) -> None:
    stack = make_stack(embedded_broker.bootstrap, tmp_path)
    scoring = {"LLMPULSE_SCORE_BATCH_SIZE": str(BATCH), "LLMPULSE_GROUNDEDNESS_BACKEND": "hashing"}
    slow = f"scorer_slow@{time.time():.0f}+600"  # from the start: 0.5 s a task
    scorer = launch(stack, "scorer", "scorer", LLMPULSE_DRILLS=slow,
                    LLMPULSE_READY_STUCK_S="1", LLMPULSE_DRAIN_TIMEOUT_S="20", **scoring)
    try:
        seen: list[Answer] = []
        _, body = wait_health(scorer, lambda s, _: s == 200, 60, "the scorer ready",
                                   seen=seen)
        assert seen[0][0] == 503 and seen[0][1]["status"] == "starting", seen[0]
        assert list(body["checks"]) == ["loop", "partitions", "batch", "progress", "shutdown"]
        assert len(body["checks"]["partitions"]["input_partitions"]) == \
            stack.settings().partitions
        ids = send_tasks(stack, TASKS)
        _, body = wait_health(scorer, lambda s, b: s == 503 and failing(b, "batch", "stuck"),
                              30, "a slow batch past LLMPULSE_READY_STUCK_S=1")
        assert body["checks"]["batch"]["step"] == "scoring"
        assert scorer.health("/healthz")[0] == 200
        code, drained_s = scorer.terminate(timeout=60)
    finally:
        scorer.kill()
    print(f"scorer drain with a slow batch in flight: {drained_s:.1f} s after SIGTERM")
    assert code == 0, scorer.log_tail()
    assert drained_s < 20, drained_s
    log = scorer.log_path.read_text()
    assert "drained in" in log and "abandoned" not in log
    delivered = scores(stack, 1)
    assert delivered  # the batch in flight at SIGTERM, among others: each once
    assert len({r.call.request_id for r in delivered}) == len(delivered)

    again = launch(stack, "scorer-2", "scorer", **scoring)  # not slow: scores the rest
    try:
        wait_health(again, lambda s, _: s == 200, 60, "the second scorer ready")
        deadline = time.monotonic() + 60
        while (parse_metrics(again.metrics_text()).get("llmpulse_scorer_tasks_total", 0)
               < TASKS - len(delivered)) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        assert again.stop() == 0, again.log_tail()
    every = scores(stack, TASKS)
    assert sorted(r.call.request_id for r in every) == sorted(ids)  # each once: none lost


def test_a_member_the_group_gives_no_partition_is_ready_and_idle(
        embedded_broker: EmbeddedBroker, tmp_path: Path) -> None:
    """One partition, two workers: one holds it, the other is ready and says idle, and
    takes the partition over when the first stops (it leaves the group on SIGTERM)."""
    stack = make_stack(embedded_broker.bootstrap, tmp_path)
    one = {"LLMPULSE_PARTITIONS": "1", "LLMPULSE_TOPIC_PREFIX": f"{stack.prefix}one."}
    settings = load_settings(stack.env(**one))
    ensure_topics(stack.broker, all_topics(settings), settings.replication_factor)

    def member(name: str) -> WorkerProcess:  # its own store: chdb has one writer
        return launch(stack, name, LLMPULSE_CLICKHOUSE_URL=f"chdb://{tmp_path / name}", **one)

    first = member("first")
    try:
        wait_health(first, lambda s, _: s == 200, 90, "the first worker ready")
        second = member("second")
        try:
            def settled(status: int, body: Body) -> bool:  # both ready, the partition held
                held = first.health()[1]["checks"]["partitions"]
                return (status == 200 and body["status"] == "idle"
                        and held["state"] == "assigned" and len(held["input_partitions"]) == 5)

            _, body = wait_health(second, settled, 90, "the group to settle: the second "
                                  "worker ready and idle, the first holding the partition")
            partitions = body["checks"]["partitions"]
            assert partitions["state"] == "idle" and partitions["input_partitions"] == []
            assert "more members than partitions" in partitions["reason"]
            code, _ = first.terminate(timeout=60)
            assert code == 0, first.log_tail()
            _, body = wait_health(second, lambda s, b: s == 200 and b["status"] == "ready"
                                  and b["checks"]["partitions"]["state"] == "assigned", 60,
                                  "the idle worker to take the partition over")
            assert len(body["checks"]["partitions"]["input_partitions"]) == 5
        finally:
            assert second.stop() == 0, second.log_tail()
    finally:
        first.kill()
