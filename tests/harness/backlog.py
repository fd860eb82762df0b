"""A backlog read through two SIGKILLs: the worker is killed once 20 % and once 50 %
of the input is committed, and restarted each time; then every message produced is
reconciled with the store and the group's committed offsets.

Shared by ``bench/crash_backlog.py`` (several runs, results in BENCHMARKS.md) and
``tests/integration/test_crash_backlog.py`` (one run per broker in CI).
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from llmpulse.ingest import INPUT_ROLES, partition_of
from llmpulse.procs import WorkerProcess, parse_metrics
from llmpulse.sdk import DEFAULT_PRODUCER_CONFIG
from tests.harness.soak import _feedback, _inference, _request, _response, input_caught_up
from tests.integration.stack import Stack, make_stack, wait_metrics

CALLS, PAIRS, FEEDBACK = 3000, 1500, 300
TOTAL = CALLS + 2 * PAIRS + FEEDBACK  # 6,300 messages
#: Each restart comes back as the same static group member, as a restarted pod does:
#: it gets its partitions back at once, with no rebalance while it reads.
INSTANCE = "backlog-worker"


@dataclass
class Produced:
    """What the backlog holds: each call's expected join status, and where each input
    message lies (role, partition, offset; offsets follow the production order)."""

    expected: dict[str, str] = field(default_factory=dict)
    where: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)


def produce_backlog(stack: Stack) -> Produced:
    producer = Producer({**DEFAULT_PRODUCER_CONFIG, "bootstrap.servers": stack.broker})
    partitions = stack.settings().partitions
    produced = Produced()
    counts: dict[tuple[str, int], int] = defaultdict(int)

    def send(role: str, event: dict[str, Any], key: str) -> None:
        producer.produce(stack.prefix + role, key=event["request_id"].encode(),
                         value=orjson.dumps(event))
        producer.poll(0)
        partition = partition_of(event["request_id"], partitions)  # the SDK's partitioner
        produced.where[(role, key)] = (partition, counts[(role, partition)])
        counts[(role, partition)] += 1

    for i in range(CALLS):
        send("inference", _inference(f"c{i}"), f"c{i}")
        produced.expected[f"c{i}"] = "inference"
    for i in range(PAIRS):
        send("requests", _request(f"p{i}"), f"p{i}")
        if i >= 5:  # responses trail their requests a little, as in production
            send("responses", _response(f"p{i - 5}"), f"p{i - 5}")
        produced.expected[f"p{i}"] = "joined"
    for i in range(PAIRS - 5, PAIRS):
        send("responses", _response(f"p{i}"), f"p{i}")
    for i in range(FEEDBACK):
        send("feedback", _feedback(f"c{i * 7}", f"f{i}"), f"f{i}")
    assert producer.flush(60) == 0
    return produced


def committed_offsets(stack: Stack) -> dict[tuple[str, int], int]:
    """The worker group's committed offset of every input partition (-1: none)."""
    settings = stack.settings()
    consumer = Consumer({"bootstrap.servers": stack.broker, "group.id": stack.app_id,
                         "enable.auto.commit": False})
    roles = {settings.topic(role): role for role in INPUT_ROLES}
    tps = [TopicPartition(topic, p) for topic in roles for p in range(settings.partitions)]
    try:
        for _ in range(20):
            try:
                return {(roles[tp.topic], tp.partition): tp.offset
                        for tp in consumer.committed(tps, timeout=30)}
            except KafkaException:  # the group coordinator moving or loading: ask again
                time.sleep(0.5)
        raise AssertionError("the group's committed offsets could not be read")
    finally:
        consumer.close()


def committed_total(stack: Stack) -> int:
    """Input offsets committed, over every partition (offsets start at 0 and the
    idempotent producer leaves no gaps: at the end, the count of messages; the embedded
    broker's high watermarks are not reliable for this)."""
    return sum(max(offset, 0) for offset in committed_offsets(stack).values())


def kill_at(stack: Stack, worker: WorkerProcess, share: float) -> float:
    """SIGKILL once ``share`` of the input is committed; the join timeouts it counted."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and committed_total(stack) < share * TOTAL:
        time.sleep(0.2)
    timeouts = parse_metrics(worker.metrics_text()).get("llmpulse_join_timeouts_total", 0.0)
    worker.kill()
    return timeouts


@dataclass
class BacklogResult:
    """What the store and the group hold at the end, against what was produced."""

    committed: int = 0
    #: (role, partition) -> offsets committed but never stored, and not committed
    lost: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    unread: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    misfiled: dict[str, str] = field(default_factory=dict)  # request_id -> stored status
    rows: int = 0
    calls: int = 0
    hidden_signals: int = 0
    feedback: int = 0
    timeouts: float = 0.0
    stalled: str = ""  # the last worker never got its committed offsets to the end

    @property
    def lost_count(self) -> int:
        return sum(len(offsets) for offsets in self.lost.values())

    @property
    def problems(self) -> list[str]:
        found = []
        if self.stalled:
            found.append(self.stalled)
        if self.lost:
            found.append(f"{self.lost_count} messages committed but never stored: "
                         + "; ".join(f"{role}[{p}] {_spans(offsets)}"
                                     for (role, p), offsets in sorted(self.lost.items())))
        if self.committed != TOTAL:
            found.append(f"{self.committed} of {TOTAL} input offsets committed; not stored "
                         "and not committed: "
                         + "; ".join(f"{role}[{p}] {_spans(offsets)}"
                                     for (role, p), offsets in sorted(self.unread.items())))
        if self.rows != self.calls:
            found.append(f"{self.rows} call rows for {self.calls} calls (double-counted)")
        if self.misfiled:
            found.append(f"{len(self.misfiled)} calls stored as the wrong status, e.g. "
                         + ", ".join(f"{rid}: {s}" for rid, s in list(self.misfiled.items())[:5]))
        if self.hidden_signals:
            found.append(f"{self.hidden_signals} calls with signals but no call row")
        if self.feedback != FEEDBACK:
            found.append(f"{self.feedback} of {FEEDBACK} feedback rows")
        if self.timeouts:
            found.append(f"{self.timeouts:.0f} join timeouts")
        return found


def _spans(offsets: list[int]) -> str:
    spans: list[list[int]] = []
    for offset in sorted(offsets):
        if spans and offset == spans[-1][1] + 1:
            spans[-1][1] = offset
        else:
            spans.append([offset, offset])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in spans)


#: A worker as on a loaded machine (``loaded_worker/sitecustomize.py``): the ingest agent
#: 5 ms slower per message, handing a message over 0.5 ms slower (the agent falls
#: behind), the committed-offset lookup 1.5 s slower (longer than the second Faust
#: waits between looks at paused partitions, shorter than handing over a fetched batch),
#: and each partition's lookup in it 0.1 s slower (the fetcher reads the partitions
#: sought first again before the seek is done).
LOADED = {"LOADED_AGENT_DELAY_S": "0.005", "LOADED_DELIVERY_DELAY_S": "0.0005",
          "LOADED_SEEK_DELAY_S": "1.5", "LOADED_COMMITTED_DELAY_S": "0.1"}


def run_backlog(broker: str, tmp_path: Path, batch_rows: int = 500,
                loaded: bool = False, stale: bool = False) -> BacklogResult:
    """``loaded``: the workers run as on a loaded machine (:data:`LOADED`), which opens
    Faust's start-up race (see ``llmpulse.streams.commits``) on every start.  ``stale``:
    the first assignment a worker computes leaves out the changelog topics, as from a
    group leader's stale metadata (``stale_assignment``; ``llmpulse.streams.table_guard``);
    not with ``loaded`` (both are a ``sitecustomize``)."""
    if loaded and stale:
        raise ValueError("loaded and stale workers cannot be combined")
    stack = make_stack(broker, tmp_path)
    produced = produce_backlog(stack)
    env = {"LLMPULSE_BATCH_MAX_ROWS": str(batch_rows), "LLMPULSE_INSTANCE_ID": INSTANCE}
    if loaded or stale:
        inject = str(Path(__file__).resolve().parent
                     / ("loaded_worker" if loaded else "stale_assignment"))
        path = [inject, *filter(None, [os.environ.get("PYTHONPATH")])]
        knobs = LOADED if loaded else {"STALE_FIRST_ASSIGNMENT": "1"}
        env = {**env, **knobs, "PYTHONPATH": os.pathsep.join(path)}
    result = BacklogResult()
    worker = stack.worker("first", **env)
    result.timeouts += kill_at(stack, worker, 0.2)
    worker = stack.worker("second", **env)
    result.timeouts += kill_at(stack, worker, 0.5)
    worker = stack.worker("third", **env)
    try:
        partitions = stack.settings().partitions

        def idle(values: dict[str, float]) -> bool:
            # the group's committed offsets, asked of the broker, against what was produced
            # (the embedded broker's end offsets can read low: not the worker's lag alone)
            if not (input_caught_up(values, partitions)
                    and values.get("llmpulse_pending_joins", 1) == 0):
                return False
            time.sleep(0.5)
            return committed_total(stack) >= TOTAL

        try:
            values = wait_metrics(worker, idle, timeout=240,
                                  what="committed offsets at the end of every input partition")
        except pytest.fail.Exception as exc:  # reconcile anyway: lost, or only stalled?
            values = parse_metrics(worker.metrics_text()) if worker.running() else {}
            result.stalled = str(exc).split(";")[0]
        result.timeouts += values.get("llmpulse_join_timeouts_total", 0.0)
    finally:
        assert worker.stop() == 0, worker.log_tail()
    committed = committed_offsets(stack)
    result.committed = sum(max(offset, 0) for offset in committed.values())
    rows = stack.sql("SELECT request_id, join_status FROM inference_events FINAL")
    stored = {str(rid): str(status) for rid, status in rows}
    result.rows, result.calls = len(rows), len(stored)
    for rid, status in produced.expected.items():
        if rid in stored:
            if stored[rid] != status:
                result.misfiled[rid] = stored[rid]
            continue
        role = "inference" if status == "inference" else "requests"
        partition, offset = produced.where[(role, rid)]
        books = result.lost if offset < committed[(role, partition)] else result.unread
        books.setdefault((role, partition), []).append(offset)
    [[result.hidden_signals]] = stack.sql(
        "SELECT count() FROM (SELECT DISTINCT request_id FROM signals) "
        "WHERE request_id NOT IN (SELECT request_id FROM inference_events)")
    [[result.feedback]] = stack.sql("SELECT count() FROM feedback FINAL")
    return result
