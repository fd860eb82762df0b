"""Events/s through the llmpulse worker next to a bare Faust agent, same broker, same run.

    python bench/throughput.py --events 50000
    python bench/throughput.py --events 20000 --producer single   # one event per record batch
    python bench/throughput.py --events 20000 --profile bench/results/worker.folded

``--profile`` samples the worker with py-spy (``pip install py-spy``) while it reads
the backlog, as folded stacks; ``bench/profile_summary.py`` ranks where the time goes.
The sampler costs the worker some speed, so a profiled run's events/s is not a result.

Both read the same simulated traffic (1% malformed) that is produced before
either starts, so each measures consumption from a full topic.  Next to events/s
(wall clock: on a shared machine it moves with the load) each process's CPU time
over the same span is reported, as µs per event and as events per CPU-second
against the bare agent's ("x bare CPU"), which moves much less with the load.  Results are
printed and written to bench/results/throughput.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from llmpulse.config import load_settings
from llmpulse.procs import WorkerProcess, parse_metrics
from llmpulse.schema import to_wire
from llmpulse.streams.app import all_topics
from llmpulse.topics import ensure_topics

ROOT = Path(__file__).resolve().parent
ROLE_OF = {"request": "requests", "response": "responses", "inference": "inference",
           "feedback": "feedback"}


@dataclass
class Capture:
    """A simulator sink that keeps (role, key, value) instead of sending."""

    messages: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)

    def send(self, event: Any) -> str:
        self.messages.append((ROLE_OF[event.event_type], event.request_id.encode(),
                              orjson.dumps(to_wire(event))))
        return str(event.request_id)

    def produce_raw(self, topic_role: str, key: bytes | None, value: bytes) -> None:
        self.messages.append((topic_role, key, value))

    def flush(self, timeout: float = 30.0) -> int:
        return 0


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


#: Producer settings: batched (the SDK's way: many events per record batch) or one event
#: per record batch (a client that sends each event alone, e.g. no linger and a flush
#: after every send).
PRODUCERS: dict[str, dict[str, Any]] = {
    "batched": {"linger.ms": 20, "compression.type": "lz4"},
    "single": {"linger.ms": 0, "batch.num.messages": 1, "compression.type": "lz4"},
}


def produce(broker: str, messages: list[tuple[str, bytes | None, bytes]], prefix: str,
            copy_topic: str, batching: str = "batched") -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker, "partitioner": "murmur2_random",
                         "queue.buffering.max.messages": 1_000_000, **PRODUCERS[batching]})
    for role, key, value in messages:
        for topic in (prefix + role, copy_topic):
            while True:
                try:
                    producer.produce(topic, key=key, value=value)
                    break
                except BufferError:
                    producer.poll(0.1)
        producer.poll(0)
    producer.flush(120)


def run_bare(broker: str, topic: str, count: int, log_path: Path) -> dict[str, Any]:
    with log_path.open("w") as log_file:
        proc = subprocess.Popen([sys.executable, str(ROOT / "bare_agent.py"), "--broker",
                                 broker, "--topic", topic, "--count", str(count)],
                                stdout=subprocess.PIPE, stderr=log_file, text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        proc.terminate()
        proc.wait(30)
    if "{" not in line:
        raise RuntimeError("the bare Faust agent printed no result:\n" + log_path.read_text())
    return dict(json.loads(line[line.index("{"):]))


def run_worker(broker: str, expected_calls: int, expected_dead: int, total: int,
               data: Path, profile: Path | None = None) -> dict[str, Any]:
    worker = WorkerProcess({
        "LLMPULSE_BROKER": broker, "LLMPULSE_CLICKHOUSE_URL": f"chdb://{data / 'chdb'}",
        "LLMPULSE_METRICS_PORT": "0", "LLMPULSE_METRICS_HOST": "127.0.0.1",
        "LLMPULSE_APP_ID": f"bench-{int(time.time())}",
    }, log_path=data / "worker.log")
    worker.start()
    sampler = _sampler(worker, profile) if profile else None
    first = None
    try:
        while True:
            m = parse_metrics(worker.metrics_text())
            now = time.perf_counter()
            if first is None and m.get("llmpulse_events_in_total", 0) > 0:
                first = now
                cpu_first = _cpu_s(worker)
            done = m.get("llmpulse_calls_total", 0)
            if done >= expected_calls and m.get("llmpulse_dlq_events_total", 0) >= expected_dead:
                break
            # Rendering /metrics takes the worker's GIL: scraping 20 times a second all
            # along cost it a fifth of its time.  Poll often only to catch the first event
            # and the end.
            near_end = done >= 0.97 * expected_calls
            time.sleep(0.05 if first is None or near_end else 1.0)
        assert first is not None
        elapsed = now - first
        cpu = _cpu_s(worker) - cpu_first
        rss = _peak_rss_mb(worker)
    finally:
        if sampler is not None:
            sampler.send_signal(signal.SIGINT)
            sampler.wait(60)
        worker.stop()
    return {"events": total, "seconds": elapsed, "events_per_s": total / elapsed,
            "cpu_s": cpu, "peak_rss_mb": rss}


def _sampler(worker: WorkerProcess, out: Path) -> subprocess.Popen[bytes]:
    assert worker.proc is not None
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():  # installed elsewhere (e.g. pip install --target): from PATH
        spy = Path(shutil.which("py-spy") or spy)
    return subprocess.Popen([str(spy), "record", "--pid", str(worker.proc.pid), "--format",
                             "raw", "--rate", "250", "--nonblocking", "-o", str(out)],
                            stdout=subprocess.DEVNULL)


def _cpu_s(worker: WorkerProcess) -> float:
    """CPU seconds the worker process has used so far (all its threads, user + system)."""
    assert worker.proc is not None
    return cpu_s_of(worker.proc.pid)


def cpu_s_of(pid: int) -> float:
    """CPU seconds process ``pid`` has used so far (all its threads, user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(worker: WorkerProcess) -> float | None:
    if worker.proc is None:
        return None
    for line in Path(f"/proc/{worker.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def run_raw(broker: str, topic: str, count: int) -> dict[str, Any]:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": broker, "group.id": f"bench-raw-{time.time()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    n, first = 0, None
    while n < count:
        for message in consumer.consume(10000, 0.2):
            if message.error():
                continue
            if first is None:
                first = time.perf_counter()
                cpu_first = time.process_time()
            with contextlib.suppress(ValueError):
                json.loads(message.value() or b"")
            n += 1
    assert first is not None
    elapsed = time.perf_counter() - first
    cpu = time.process_time() - cpu_first
    consumer.close()
    return {"events": n, "seconds": elapsed, "events_per_s": n / elapsed, "cpu_s": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000, help="LLM calls to simulate")
    parser.add_argument("--broker", default=None, help="existing broker (default: embedded)")
    parser.add_argument("--producer", choices=sorted(PRODUCERS), default="batched",
                        help="how the input was produced: many events per record batch "
                        "(batched) or one per batch (single)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="sample the worker with py-spy into this folded-stacks file")
    args = parser.parse_args()
    from llmpulse.embedded_broker import EmbeddedBroker
    from llmpulse.simulator import simulate

    capture = Capture()
    stats = simulate(capture, rate=None, count=args.events, seed=11, malformed_ratio=0.01)
    total = len(capture.messages)
    settings = load_settings({"LLMPULSE_BROKER": args.broker or "127.0.0.1:1"})
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as embedded:
        broker = args.broker or embedded.bootstrap
        copy_topic = "bench.bare"
        topics = all_topics(settings) | {copy_topic: settings.partitions}
        ensure_topics(broker, topics)
        log(f"producing {total} events ({stats.calls} calls, {stats.malformed} malformed)")
        produce(broker, capture.messages, settings.topic_prefix, copy_topic, args.producer)
        results = {}
        log("bare Faust agent ...")
        results["bare_faust_agent"] = run_bare(broker, copy_topic, total,
                                               Path(tmp) / "bare.log")
        log("confluent-kafka consumer ...")
        results["confluent_consumer_json"] = run_raw(broker, copy_topic, total)
        log("llmpulse worker ...")
        results["llmpulse_worker"] = run_worker(broker, stats.calls, stats.malformed, total,
                                                Path(tmp), args.profile)
    base = results["bare_faust_agent"]["events_per_s"]
    base_cpu = results["bare_faust_agent"].get("cpu_s")
    print(f"{'consumer':<26}{'events':>9}{'seconds':>9}{'events/s':>11}{'x bare':>8}"
          f"{'CPU us/event':>14}{'x bare CPU':>12}")
    for name, result in results.items():
        result["ratio_to_bare_faust"] = result["events_per_s"] / base
        cpu = result.get("cpu_s")
        line = (f"{name:<26}{result['events']:>9}{result['seconds']:>9.2f}"
                f"{result['events_per_s']:>11.0f}{result['ratio_to_bare_faust']:>8.2f}")
        if cpu and base_cpu:  # events per CPU-second, against the bare agent's
            result["cpu_us_per_event"] = cpu / result["events"] * 1e6
            result["cpu_ratio_to_bare_faust"] = base_cpu / cpu
            line += (f"{result['cpu_us_per_event']:>14.0f}"
                     f"{result['cpu_ratio_to_bare_faust']:>12.2f}")
        print(line)
    out = ROOT / "results" / "throughput.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"events": total, "calls": stats.calls,
                               "malformed": stats.malformed, "producer": args.producer,
                               "results": results}, indent=2))


if __name__ == "__main__":
    main()
