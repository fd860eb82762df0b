"""Several workers in one consumer group on one store (8 partitions): they share the load,
a worker killed with SIGKILL mid-stream hands its partitions over, a worker added
mid-stream takes some, and ``LLMPULSE_WORKERS=2 llmpulse worker`` runs a supervised pair
on the embedded store.  In every case each call is stored once and
``llmpulse_calls_total`` summed over the workers is the number of calls sent.

Each runs on the embedded broker and on Apache Kafka.  The workers share the store
through ``llmpulse store serve`` (the Apache Kafka stacks always do; on the embedded
broker the test starts it); in the supervisor test the supervisor starts it.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from llmpulse.alerting.message import AlertMessage
from llmpulse.procs import WorkerProcess, parse_metrics
from llmpulse.retrain.trigger import RetrainTrigger
from llmpulse.simulator import Incident, SimulationStats
from llmpulse.streams.alerting import group_partition
from llmpulse.streams.app import worker_input_topics
from llmpulse.windows import GroupKey
from tests.integration.stack import Stack, make_stack
from tests.integration.test_retrain import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PARTITIONS = 8
CALLS = "llmpulse_calls_total"


def fleet_stack(broker: str, tmp_path: Path, **extra: str) -> Stack:
    stack = make_stack(broker, tmp_path, common={"LLMPULSE_PARTITIONS": str(PARTITIONS),
                                                 **extra})
    if stack.store_server is None:
        stack.serve_store()
    return stack


def input_partitions(stack: Stack) -> int:
    return len(worker_input_topics(stack.settings())) * PARTITIONS


def launch(stack: Stack, names: Sequence[str], **extra: str) -> list[WorkerProcess]:
    """Workers started together (each with dynamic membership: /metrics on a free port)."""
    workers = [WorkerProcess(stack.env(**extra), log_path=stack.data_dir / f"{name}.log")
               for name in names]
    for worker in workers:
        worker.launch()
    for worker in workers:
        worker.wait_ready(120)
    return workers


@contextmanager
def stopped_at_the_end(workers: list[WorkerProcess]) -> Iterator[list[WorkerProcess]]:
    """Each still running is stopped cleanly (SIGINT) at the end, and must exit 0."""
    try:
        yield workers
    finally:
        codes = {w.log_path.name: w.stop() for w in workers if w.running()}
        for worker in workers:
            worker.kill()
    assert all(code == 0 for code in codes.values()), (codes, [w.log_tail() for w in workers])


def assigned(worker: WorkerProcess) -> list[str]:
    _, body = worker.health("/readyz")
    return list(body["checks"]["partitions"].get("input_partitions", []))


def wait_until(check: Callable[[], bool], timeout: float, what: str,
               workers: Sequence[WorkerProcess]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for worker in workers:
            if not worker.running():
                pytest.fail(f"{worker.log_path.name} exited while waiting for {what}:\n"
                            + worker.log_tail())
        if check():
            return
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}:\n"
                + "\n".join(f"--- {w.log_path.name}\n{w.log_tail(15)}" for w in workers))


def wait_shared(stack: Stack, workers: Sequence[WorkerProcess], timeout: float = 90) -> None:
    """Until every input partition is held by exactly one of ``workers`` and each holds
    some."""
    total = input_partitions(stack)

    def shared() -> bool:
        held = [assigned(w) for w in workers]
        every = [tp for one in held for tp in one]
        return all(held) and len(every) == len(set(every)) == total

    wait_until(shared, timeout, f"{total} input partitions shared by {len(workers)} workers",
               workers)


def calls(workers: Sequence[WorkerProcess]) -> list[float]:
    return [parse_metrics(w.metrics_text()).get(CALLS, 0.0) for w in workers]


def stored_replays(workers: Sequence[WorkerProcess]) -> float:
    """Calls the workers found stored already when they read them (a dead worker's
    batch: stored, not acknowledged), ``llmpulse_duplicate_events_total{topic="stored"}``."""
    return sum(parse_metrics(w.metrics_text()).get(
        'llmpulse_duplicate_events_total{topic=stored}', 0.0) for w in workers)


def wait_counted(workers: Sequence[WorkerProcess], expected: int, timeout: float = 120,
                 before: float = 0.0, replays: bool = False) -> list[float]:
    """Until ``before`` + the workers' ``llmpulse_calls_total`` (+ their stored replays
    with ``replays``) reaches ``expected`` and stays there for 3 s; a count past it fails
    at once (counted twice)."""
    last: list[float] = []

    def done() -> bool:
        nonlocal last
        now = calls(workers)
        assert before + sum(now) <= expected, f"counted twice: {before} + {now} > {expected}"
        if replays:
            now.append(stored_replays(workers))
        steady = now == last and before + sum(now) == expected
        last = now
        return steady

    def settled() -> bool:
        if not done():
            return False
        time.sleep(3)
        return done()

    wait_until(settled, timeout, f"{expected} calls counted (so far {last}, before {before})",
               workers)
    return last


def stored_once(stack: Stack, expected: int) -> None:
    [[rows, unique]] = stack.sql(
        "SELECT count(), uniqExact(request_id) FROM inference_events FINAL")
    assert rows == unique == expected, (rows, unique, expected)
    [[physical]] = stack.sql("SELECT uniqExact(request_id) FROM inference_events")
    assert physical == expected


def traffic(stack: Stack, **kwargs: Any) -> tuple[threading.Thread, dict[str, SimulationStats]]:
    result: dict[str, SimulationStats] = {}

    def run() -> None:
        result["stats"] = stack.simulate(**kwargs)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


# two workers on Apache Kafka, three on both brokers (CI time: the kill test below covers
# three workers on both)
@pytest.mark.parametrize(("broker", "count"), [("kafka", 2), ("embedded", 3), ("kafka", 3)],
                         indirect=["broker"], ids=["kafka-2", "embedded-3", "kafka-3"])
def test_workers_share_the_partitions_and_count_each_call_once(
        broker: str, tmp_path: Path, count: int) -> None:
    stack = fleet_stack(broker, tmp_path)
    with stopped_at_the_end(launch(stack, [f"w{i}" for i in range(count)])) as workers:
        wait_shared(stack, workers)
        stats = stack.simulate(rate=None, count=3000, seed=60 + count, incidents=[])
        per_worker = wait_counted(workers, stats.calls)
        assert all(n > 0 for n in per_worker), per_worker  # each did part of the work
    stored_once(stack, stats.calls)


SLOW_GROUP = GroupKey(route="summarize")
RULES = """
rules:
  - name: route_slow
    metric: duration_p95
    group_by: [route]
    window: 5s
    threshold: 30
    clear_threshold: 20
    min_count: 10
    severity: critical
    retrain:
      cooldown: 1h
"""


def test_a_worker_killed_mid_stream_loses_nothing_and_counts_nothing_twice(
        broker: str, tmp_path: Path) -> None:
    """3 workers; one is killed (SIGKILL) with a batch in flight, its partitions move to
    the other two.  The store, the alert and the retraining trigger of a latency
    incident after the kill: each exactly once; stored windows never above the stored
    calls; over the group each call counted once (see ``wait_counted``)."""
    stack = fleet_stack(broker, tmp_path)
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    env = {"LLMPULSE_RULES_FILE": str(rules), "LLMPULSE_WINDOW_PANE_S": "1",
           "LLMPULSE_WINDOW_LATENESS_S": "1"}
    assert stack.store_server is not None and stack.store_server.proc is not None
    store_pid = stack.store_server.proc.pid
    with stopped_at_the_end(launch(stack, ["w0", "w1", "w2"], **env)) as workers:
        wait_shared(stack, workers)
        # The victim holds the alert state of the incident's group: Faust assigns the
        # partitions of one number of every topic (llm.windows too) to one worker.
        owner = f"{stack.prefix}requests[{group_partition(SLOW_GROUP.encode(), PARTITIONS)}]"
        [victim] = [w for w in workers if owner in assigned(w)]
        survivors = [w for w in workers if w is not victim]
        began = time.time()
        spike = Incident("latency_spike", start_s=22, duration_s=10, route="summarize",
                         factor=8)
        sender, sent = traffic(stack, rate=150, duration=45, seed=71, incidents=[spike])
        wait_until(lambda: min(calls(workers)) >= 100, 60, "each worker to store calls",
                   workers)
        # The store held still for a moment: the victim's count is then final (a batch
        # it has in flight waits on the store), and it dies with that batch unwritten.
        os.kill(store_pid, signal.SIGSTOP)
        try:
            counted, again = -1.0, calls([victim])[0]
            while again != counted:
                counted = again
                time.sleep(1.0)
                again = calls([victim])[0]
            victim.kill()
        finally:
            os.kill(store_pid, signal.SIGCONT)
        wait_shared(stack, survivors)  # after the session timeout (6 s)
        sender.join(90)
        stats = sent["stats"]
        # Each call counted once: by the victim before it died, by a survivor, or (the
        # victim's last batch, when the store wrote it after all) as a stored replay.
        per_worker = wait_counted(survivors, stats.calls, before=counted, replays=True)
        caught_up = time.time()
        assert per_worker[-1] <= stack.settings().batch_max_rows, (  # its last batch
            f"victim counted {counted:.0f}, survivors {per_worker[:-1]}, stored replays "
            f"{per_worker[-1]:.0f} of {stats.calls} calls")
    stored_once(stack, stats.calls)

    alerts = [AlertMessage.from_wire(m.value()) for m in read_topic(stack, "alerts")]
    slow = [a for a in alerts if a.rule == "route_slow"]
    assert len({a.id for a in slow}) == len(slow), "an alert published twice"
    assert [(a.state, a.group) for a in slow] == [
        ("firing", {"route": "summarize"}), ("resolved", {"route": "summarize"})], slow
    triggers = [RetrainTrigger.from_wire(m.value()) for m in read_topic(stack, "retrain")]
    assert [(t.status, t.route) for t in triggers] == [("triggered", "summarize")], triggers
    assert stack.sql("SELECT count() FROM retrain_triggers FINAL") == [[1]]
    stored_windows_match(stack, began, caught_up)


def stored_windows_match(stack: Stack, began: float, caught_up: float) -> None:
    """The stored 1-minute windows of the run (the model overall) never count a call
    twice, and those computed once every call was stored count exactly the calls
    stored in them.  (A window computed while the victim's calls waited for the
    survivors counts them when it is computed again, as the next window closes: after
    this test.)"""
    rows = stack.sql(
        "SELECT start, sum(calls), toUnixTimestamp64Milli(max(computed_at)) FROM windows "
        "FINAL WHERE width_s = 60 AND route = '*' AND tenant = '*' AND prompt_version = '*' "
        f"AND toUnixTimestamp(start) >= {int(began) // 60 * 60} GROUP BY start ORDER BY start")
    for start, windowed, computed_ms in rows:
        [[stored]] = stack.sql(
            "SELECT count() FROM inference_events FINAL WHERE coalesce(end_time, start_time) "
            f">= toDateTime('{start}', 'UTC') AND coalesce(end_time, start_time) < "
            f"toDateTime('{start}', 'UTC') + INTERVAL 60 SECOND")
        assert windowed <= stored, (start, windowed, stored)
        if computed_ms >= caught_up * 1000:
            assert windowed == stored, (start, windowed, stored)


# a rebalance is the same on both brokers: Apache Kafka (what a fleet runs on) is enough
@pytest.mark.parametrize("broker", ["kafka"], indirect=True)
def test_a_worker_added_mid_stream_takes_partitions_over(broker: str, tmp_path: Path) -> None:
    stack = fleet_stack(broker, tmp_path)
    with stopped_at_the_end(launch(stack, ["w0", "w1"])) as workers:
        wait_shared(stack, workers)
        sender, sent = traffic(stack, rate=200, duration=30, seed=81, incidents=[])
        wait_until(lambda: sum(calls(workers)) >= 1000, 60, "the first calls counted",
                   workers)
        workers += launch(stack, ["w2"])
        wait_shared(stack, workers)
        sender.join(90)
        stats = sent["stats"]
        per_worker = wait_counted(workers, stats.calls)
        assert per_worker[2] > 0, per_worker  # the newcomer did part of the work
    stored_once(stack, stats.calls)


# the default setup: the embedded broker with the embedded store
@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_workers_setting_runs_a_supervised_pair_on_the_embedded_store(
        broker: str, tmp_path: Path) -> None:
    """``LLMPULSE_WORKERS=2 llmpulse worker`` with chdb://: a store server and two workers
    (each with its partitions and log prefix), stopped by one SIGTERM."""
    stack = make_stack(broker, tmp_path, common={"LLMPULSE_PARTITIONS": str(PARTITIONS)})
    store = tmp_path / "embedded" / "chdb"
    stack.common["LLMPULSE_CLICKHOUSE_URL"] = f"chdb://{store}"
    env = stack.env(LLMPULSE_WORKERS="2")
    fleet = WorkerProcess(env, log_path=tmp_path / "fleet.log")
    fleet.start(timeout=120)
    try:
        ports = fleet.metrics_ports
        assert len(ports) == 2 and len(set(ports)) == 2
        members = [_Member(fleet, port) for port in ports]
        wait_shared(stack, members)  # type: ignore[arg-type]
        stats = stack.simulate(rate=None, count=2000, seed=91, incidents=[])
        per_worker = wait_counted(members, stats.calls)  # type: ignore[arg-type]
        assert all(n > 0 for n in per_worker), per_worker
        code, took = fleet.terminate(timeout=60)
        assert code == 0, fleet.log_tail()
    finally:
        fleet.kill()
    log = fleet.log_path.read_text(encoding="utf-8")
    for name in ("store", "worker-0", "worker-1"):
        assert f"[{name}] " in log
    assert log.count("drained in") == 2, log[-3000:]
    assert (tmp_path / "worker-0").is_dir() and (tmp_path / "worker-1").is_dir()
    assert took < 40
    stored_once(stack, stats.calls)  # the store server has closed the store


def logged_pid(fleet: WorkerProcess, pattern: str) -> int:
    """The pid the supervisor logged last for ``pattern`` (a regex with one group)."""
    found = re.findall(pattern, fleet.log_path.read_text(encoding="utf-8"))
    assert found, f"no {pattern!r} in the supervisor's log:\n{fleet.log_tail()}"
    return int(found[-1])


def ready_ports(fleet: WorkerProcess) -> list[int]:
    """The workers' /metrics ports the supervisor lists now."""
    try:
        return [int(p) for p in fleet.ready_file.read_text(encoding="utf-8").split()]
    except (OSError, ValueError):
        return []


# The supervisor's behaviour does not depend on the broker: one is enough.
@pytest.mark.parametrize("broker", ["kafka"], indirect=True)
def test_the_supervisor_restarts_a_dead_worker_and_stops_when_the_store_server_dies(
        broker: str, tmp_path: Path) -> None:
    stack = make_stack(broker, tmp_path, common={"LLMPULSE_PARTITIONS": str(PARTITIONS)})
    store = tmp_path / "embedded" / "chdb"
    stack.common["LLMPULSE_CLICKHOUSE_URL"] = f"chdb://{store}"
    fleet = WorkerProcess(stack.env(LLMPULSE_WORKERS="2", LLMPULSE_DRAIN_TIMEOUT_S="5"),
                          log_path=tmp_path / "fleet.log")
    fleet.start(timeout=120)
    try:
        old = ready_ports(fleet)
        members = [_Member(fleet, port) for port in old]
        wait_shared(stack, members)  # type: ignore[arg-type]
        first = stack.simulate(rate=None, count=1000, seed=93, incidents=[])
        wait_counted(members, first.calls)  # type: ignore[arg-type]
        [kept] = calls(members[:1])  # type: ignore[arg-type]
        os.kill(logged_pid(fleet, r"worker-1 started \(pid (\d+)"), signal.SIGKILL)
        wait_until(lambda: len(ready_ports(fleet)) == 2 and ready_ports(fleet) != old, 90,
                   "the supervisor to restart worker-1", [fleet])
        assert "worker-1 exited unexpectedly with status -9" in fleet.log_path.read_text()
        members = [_Member(fleet, port) for port in ready_ports(fleet)]
        wait_shared(stack, members)  # type: ignore[arg-type]
        second = stack.simulate(rate=None, count=1000, seed=94, incidents=[])
        # worker-0 keeps its count; the restarted worker-1 counts from 0
        wait_counted(members, second.calls, before=-kept)  # type: ignore[arg-type]

        os.kill(logged_pid(fleet, r"store server for .* \(pid (\d+)\)"), signal.SIGKILL)
        assert fleet.proc is not None
        code = fleet.proc.wait(60)
    finally:
        fleet.kill()
    assert code == 1, fleet.log_tail()
    assert "the store server exited with status -9" in fleet.log_path.read_text()
    stored_once(stack, first.calls + second.calls)


class _Member:
    """One worker of a supervised fleet, read through its own /metrics port."""

    def __init__(self, fleet: WorkerProcess, port: int) -> None:
        self.fleet = fleet
        self.port = port
        self.log_path = fleet.log_path

    def running(self) -> bool:
        return self.fleet.running()

    def metrics_text(self) -> str:
        return self.fleet.metrics_text(port=self.port)

    def health(self, path: str = "/readyz") -> tuple[int, dict[str, Any]]:
        probe = WorkerProcess({}, self.log_path)
        probe.metrics_port = self.port
        return probe.health(path)

    def log_tail(self, lines: int = 40) -> str:
        return self.fleet.log_tail(lines)
