"""Events/s of N llmpulse workers in one consumer group on Apache Kafka, sharing one store.

    python bench/scaling.py --workers 2 --events 20000     # KAFKA_TEST_LIBS: the jars

One run: a fresh Apache Kafka node (the test harness, 8 partitions per topic) and a
fresh store behind ``llmpulse store serve`` (the harness of the fleet tests).  The
simulated traffic of ``bench/throughput.py`` (1 % malformed) is produced to the input
topics and to a copy topic before any consumer starts.  The same run's bare Faust
agent (``bench/bare_agent.py``, one process) reads the copy first; then the N workers
start together and read the inputs.  The broker waits ``--join-delay`` seconds for
the group's members before its first assignment (``group.initial.rebalance.delay.ms``),
so that the N workers start on their final share of the partitions instead of moving
them in a rebalance while they read.

Measured from the first event any worker reads until every call is stored (the sum of
``llmpulse_calls_total``) and every malformed event dead-lettered: events/s, each
worker's CPU (``/proc/<pid>/stat``, all threads), the store server's and the broker's,
and the machine's CPU utilisation over the same span (``/proc/stat``: busy share of
all cores), with this process's own CPU and the other processes that used some.
Appends one JSON line per run to bench/results/scaling.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))  # the harnesses live with the tests
sys.path.insert(0, str(ROOT))

from throughput import Capture, cpu_s_of, log, produce, run_bare  # noqa: E402

from llmpulse.config import load_settings  # noqa: E402
from llmpulse.procs import WorkerProcess, parse_metrics  # noqa: E402
from llmpulse.streams.app import all_topics, worker_input_topics  # noqa: E402
from llmpulse.topics import ensure_topics  # noqa: E402
from tests.harness.apache_kafka import ApacheKafka  # noqa: E402
from tests.harness.store_server import StoreServerProcess  # noqa: E402

PARTITIONS = 8


class DelayedGroupKafka(ApacheKafka):
    """The harness's node, with a first-assignment delay for new consumer groups."""

    def __init__(self, join_delay_s: float) -> None:
        super().__init__()
        self.join_delay_ms = int(join_delay_s * 1000)

    def _write_config(self, broker_port: int, controller_port: int) -> Path:
        config = super()._write_config(broker_port, controller_port)
        text = config.read_text().replace("group.initial.rebalance.delay.ms=0",
                                          f"group.initial.rebalance.delay.ms={self.join_delay_ms}")
        config.write_text(text)
        return config


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all cores so far, from the first line of /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total


def cpu_by_process() -> dict[int, tuple[str, float]]:
    """pid → (command name, CPU seconds so far) of every process on the machine."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # exited meanwhile
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rpartition(")")[2].split()
        found[int(stat.parent.name)] = (name, (int(fields[11]) + int(fields[12]))
                                        / os.sysconf("SC_CLK_TCK"))
    return found


def busiest_others(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]],
                   known: set[int]) -> list[tuple[str, int, float]]:
    """The processes outside ``known`` that used the most CPU between two snapshots (a
    process started meanwhile counts from 0), as (name, pid, CPU seconds)."""
    used = [(name, pid, cpu - before.get(pid, (name, 0.0))[1])
            for pid, (name, cpu) in after.items() if pid not in known]
    return sorted((u for u in used if u[2] >= 0.05), key=lambda u: -u[2])[:5]


def metric_sums(workers: list[WorkerProcess]) -> tuple[float, float, float]:
    """Events read, calls stored and dead letters, summed over ``workers``."""
    events = calls = dead = 0.0
    for worker in workers:
        m = parse_metrics(worker.metrics_text())
        events += m.get("llmpulse_events_in_total", 0.0)
        calls += m.get("llmpulse_calls_total", 0.0)
        dead += m.get("llmpulse_dlq_events_total", 0.0)
    return events, calls, dead


def assigned(worker: WorkerProcess) -> list[str]:
    _, body = worker.health("/readyz")
    return list(body["checks"]["partitions"].get("input_partitions", []))


def run_workers(n: int, env: dict[str, str], data: Path, expected_calls: int,
                expected_dead: int, total: int, others: dict[str, int],
                timeout: float) -> dict[str, Any]:
    """Start ``n`` workers together; measure from the first event read to the last call
    stored.  ``others``: name → pid of processes whose CPU is measured over the span."""
    workers = [WorkerProcess({**env, "LLMPULSE_DATA_DIR": str(data / f"worker-{i}")},
                             log_path=data / f"worker-{i}.log") for i in range(n)]
    for worker in workers:
        worker.launch()
    try:
        for worker in workers:
            worker.wait_ready(120)
        pids = [w.proc.pid for w in workers if w.proc is not None]
        deadline = time.monotonic() + timeout
        first = None
        while True:
            if time.monotonic() > deadline:
                raise RuntimeError(f"not done after {timeout:.0f}s: {metric_sums(workers)}")
            if not all(w.running() for w in workers):
                raise RuntimeError("a worker exited:\n" + "\n".join(w.log_tail(20)
                                                                    for w in workers))
            events, calls, dead = metric_sums(workers)
            now = time.perf_counter()
            if first is None and events > 0:
                first = now
                cpu_first = [cpu_s_of(pid) for pid in pids]
                others_first = {name: cpu_s_of(pid) for name, pid in others.items()}
                jiffies_first = machine_jiffies()
                everyone_first = cpu_by_process()
                bench_first = time.process_time()
            if calls >= expected_calls and dead >= expected_dead:
                break
            # /metrics rendering takes the worker's GIL: poll often only to catch the
            # first event and the end (as bench/throughput.py)
            near_end = calls >= 0.97 * expected_calls
            time.sleep(0.05 if first is None or near_end else 1.0)
        assert first is not None
        elapsed = now - first
        cpu = [cpu_s_of(pid) - c for pid, c in zip(pids, cpu_first, strict=True)]
        others_cpu = {name: cpu_s_of(pid) - others_first[name] for name, pid in others.items()}
        bench_cpu = time.process_time() - bench_first  # this process: polling /metrics
        everyone = busiest_others(everyone_first, cpu_by_process(),
                                  {*pids, *others.values(), os.getpid()})
        busy, all_jiffies = (b - a for a, b in zip(jiffies_first, machine_jiffies(),
                                                    strict=True))
        per_worker_calls = [parse_metrics(w.metrics_text()).get("llmpulse_calls_total", 0.0)
                            for w in workers]
        partitions = [len(assigned(w)) for w in workers]
    finally:
        for worker in workers:
            if worker.running():
                worker.stop()
            worker.kill()
    cores = os.cpu_count() or 1
    return {
        "events": total, "seconds": elapsed, "events_per_s": total / elapsed,
        "calls_per_worker": per_worker_calls, "calls_counted": sum(per_worker_calls),
        "input_partitions_per_worker": partitions,
        "worker_cpu_s": cpu, "worker_cpu_us_per_event": sum(cpu) / total * 1e6,
        "other_cpu_s": others_cpu,
        "bench_cpu_s": bench_cpu,
        "busiest_other_processes": everyone,
        "machine_cpu_utilisation": busy / all_jiffies if all_jiffies else None,
        "machine_busy_cpu_s": busy / os.sysconf("SC_CLK_TCK"),
        "cores": cores,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1, help="workers in the group")
    parser.add_argument("--events", type=int, default=20_000, help="LLM calls to simulate")
    parser.add_argument("--join-delay", type=float, default=6.0,
                        help="broker's group.initial.rebalance.delay.ms, in seconds")
    parser.add_argument("--timeout", type=float, default=200.0,
                        help="give up on the workers after this many seconds")
    args = parser.parse_args()
    from llmpulse.simulator import simulate

    capture = Capture()
    stats = simulate(capture, rate=None, count=args.events, seed=11, malformed_ratio=0.01)
    total = len(capture.messages)
    app_id = f"bench-scale-{int(time.time())}"
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp, DelayedGroupKafka(args.join_delay) as kafka:
        data = Path(tmp)
        broker = kafka.bootstrap
        env = {"LLMPULSE_BROKER": broker, "LLMPULSE_PARTITIONS": str(PARTITIONS),
               "LLMPULSE_APP_ID": app_id, "LLMPULSE_METRICS_PORT": "0",
               "LLMPULSE_METRICS_HOST": "127.0.0.1",
               # as the fleet tests: no PyTorch and MiniLM load inside the measured span
               "LLMPULSE_DRIFT_EMBEDDER": "hashing"}
        settings = load_settings(env)
        copy_topic = "bench.bare"
        ensure_topics(broker, all_topics(settings) | {copy_topic: PARTITIONS})
        log(f"producing {total} events ({stats.calls} calls, {stats.malformed} malformed)")
        produce(broker, capture.messages, settings.topic_prefix, copy_topic)
        log("bare Faust agent ...")
        bare = run_bare(broker, copy_topic, total, data / "bare.log")
        with StoreServerProcess(data / "chdb", data) as server:
            assert server.proc is not None and kafka.proc is not None
            log(f"{args.workers} llmpulse worker(s) ...")
            result = run_workers(
                args.workers, {**env, "LLMPULSE_CLICKHOUSE_URL": server.url}, data,
                stats.calls, stats.malformed, total,
                {"store_server": server.proc.pid, "broker": kafka.proc.pid}, args.timeout)
    if result["calls_counted"] != stats.calls:
        log(f"WARNING: {result['calls_counted']:.0f} calls counted for {stats.calls} "
            "(a rebalance while reading?)")
    inputs = len(worker_input_topics(settings)) * PARTITIONS
    if sum(result["input_partitions_per_worker"]) != inputs:
        log(f"WARNING: input partitions held at the end: "
            f"{result['input_partitions_per_worker']} (of {inputs})")
    per_worker = result["events_per_s"] / args.workers
    busy = result["machine_busy_cpu_s"]
    record = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "workers": args.workers,
        "calls": stats.calls, "malformed": stats.malformed, "load_before": load_before,
        "bare_faust_agent": bare, "llmpulse_workers": result,
        "per_worker_ratio_to_bare": per_worker / bare["events_per_s"],
        "store_server_cpu_share": result["other_cpu_s"]["store_server"] / busy if busy else None,
        "broker_cpu_share": result["other_cpu_s"]["broker"] / busy if busy else None,
    }
    print(f"N={args.workers}: {result['events_per_s']:.0f} events/s ({result['seconds']:.1f} s);"
          f" bare Faust {bare['events_per_s']:.0f}; per worker / bare "
          f"{record['per_worker_ratio_to_bare']:.3f}; machine CPU "
          f"{result['machine_cpu_utilisation']:.0%} of {result['cores']} cores; workers "
          f"{', '.join(f'{c:.1f}' for c in result['worker_cpu_s'])} CPU-s; store server "
          f"{result['other_cpu_s']['store_server']:.1f}, broker "
          f"{result['other_cpu_s']['broker']:.1f}, this process {result['bench_cpu_s']:.1f} "
          f"CPU-s of {busy:.1f} busy; calls per worker "
          f"{[int(c) for c in result['calls_per_worker']]}; other processes "
          f"{result['busiest_other_processes']}")
    out = ROOT / "results" / "scaling.jsonl"
    out.parent.mkdir(exist_ok=True)
    with out.open("a") as handle:
        handle.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
