"""Worker memory over a long run: RSS after every 100,000 calls up to 1,000,000.

    python bench/rss.py                                  # embedded broker, 1,000,000 calls
    python bench/rss.py --calls 300000 --broker kafka    # Apache Kafka (KAFKA_TEST_LIBS)

A producer thread simulates traffic in chunks (a new run id per chunk, so every call
is new) and keeps at most ``--ahead`` calls in front of the worker, which stores
everything in the embedded store as a user runs it.  Every 5 s the worker's RSS
(VmRSS) and its stored-call count are sampled; the RSS at each ``--every`` mark is
the first sample past it.  Goal: flat within ±10 % from 100,000 calls on.  Writes
bench/results/rss-<broker>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))  # the harness lives with the tests
sys.path.insert(0, str(ROOT))

from throughput import Capture, log  # noqa: E402

from llmpulse.config import load_settings  # noqa: E402
from llmpulse.procs import WorkerProcess, parse_metrics  # noqa: E402
from llmpulse.simulator import simulate  # noqa: E402
from llmpulse.streams.app import all_topics  # noqa: E402
from llmpulse.topics import ensure_topics  # noqa: E402

CHUNK = 20_000


def _status_kb(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _produce(producer: Any, prefix: str, messages: list[tuple[str, bytes | None, bytes]]
             ) -> None:
    for role, key, value in messages:
        while True:
            try:
                producer.produce(prefix + role, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.1)
    producer.flush(120)


def _producer(broker: str, prefix: str, total: int, ahead: int, stored: list[int],
              stop: threading.Event, produced: list[int]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker, "partitioner": "murmur2_random",
                         "linger.ms": 20, "compression.type": "lz4"})
    sent = 0
    chunk = 0
    while sent < total and not stop.is_set():
        while sent - stored[0] > ahead and not stop.is_set():
            time.sleep(0.5)
        capture = Capture()
        n = min(CHUNK, total - sent)
        simulate(capture, rate=None, count=n, seed=chunk, run_id=f"rss-{chunk}",
                 incidents=[])
        _produce(producer, prefix, capture.messages)
        sent += n
        produced[0] = sent
        chunk += 1


def _probe_env(probe: Path | None) -> dict[str, str]:
    """The worker's environment for bench/rss_probe (RSS_PROBE_* passed through)."""
    if probe is None:
        return {}
    path = os.pathsep.join(p for p in (str(ROOT / "rss_probe"), os.environ.get("PYTHONPATH"))
                           if p)
    return {"PYTHONPATH": path, "RSS_PROBE_OUT": str(probe)}


def run(broker: str, calls: int, every: int, ahead: int, data: Path,
        extra_env: dict[str, str], probe: Path | None = None) -> dict[str, Any]:
    settings = load_settings({"LLMPULSE_BROKER": broker})
    ensure_topics(broker, all_topics(settings))
    worker = WorkerProcess({
        "LLMPULSE_BROKER": broker, "LLMPULSE_CLICKHOUSE_URL": f"chdb://{data / 'chdb'}",
        "LLMPULSE_METRICS_PORT": "0", "LLMPULSE_METRICS_HOST": "127.0.0.1",
        "LLMPULSE_APP_ID": f"bench-rss-{int(time.time())}", **extra_env,
        **_probe_env(probe),
    }, log_path=data / "worker.log")
    worker.start()
    assert worker.proc is not None
    pid = worker.proc.pid
    stored = [0]
    produced = [0]
    stop = threading.Event()
    thread = threading.Thread(target=_producer, daemon=True, args=(
        broker, settings.topic_prefix, calls, ahead, stored, stop, produced))
    started = time.monotonic()
    thread.start()
    samples: list[dict[str, Any]] = []
    marks: list[dict[str, Any]] = []
    next_mark = every
    try:
        while stored[0] < calls:
            time.sleep(5)
            if worker.proc.poll() is not None:
                raise RuntimeError(f"the worker exited:\n{worker.log_tail()}")
            metrics = parse_metrics(worker.metrics_text())
            stored[0] = int(metrics.get("llmpulse_calls_total", 0))
            rss = _status_kb(pid, "VmRSS")
            sample = {"t_s": round(time.monotonic() - started, 1), "calls": stored[0],
                      "rss_mb": round((rss or 0) / 1024, 1), "produced": produced[0],
                      "read_lag": int(metrics.get("llmpulse_consumer_read_lag", 0)),
                      "load1": round(os.getloadavg()[0], 1)}
            samples.append(sample)
            while stored[0] >= next_mark:
                marks.append({**sample, "mark": next_mark})
                log(f"{next_mark:>9,} calls: RSS {sample['rss_mb']:.0f} MB "
                    f"({sample['calls']:,} stored, {sample['t_s']:.0f} s, read lag "
                    f"{sample['read_lag']:,}, load {sample['load1']})")
                next_mark += every
    finally:
        stop.set()
        peak = _status_kb(pid, "VmHWM")
        worker.stop()
        thread.join(60)
    steady = [m["rss_mb"] for m in marks if m["mark"] >= every]
    mean = sum(steady) / len(steady)
    return {"calls": calls, "every": every, "marks": marks, "samples": samples,
            "peak_rss_mb": round((peak or 0) / 1024, 1),
            "spread_pct": {"min": round(100 * (min(steady) / mean - 1), 1),
                           "max": round(100 * (max(steady) / mean - 1), 1)},
            "first_to_last_pct": round(100 * (steady[-1] / steady[0] - 1), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=100_000)
    parser.add_argument("--ahead", type=int, default=60_000,
                        help="at most this many calls produced and not stored yet")
    parser.add_argument("--broker", choices=("embedded", "kafka"), default="embedded")
    parser.add_argument("--worker-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra worker setting, e.g. LLMPULSE_DEDUP_HORIZON_S=60")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--probe", type=Path, default=None, metavar="FILE",
                        help="the worker writes memory samples here (bench/rss_probe; "
                             "RSS_PROBE_EVERY_S, RSS_PROBE_TRACEMALLOC, RSS_PROBE_TRIM_S "
                             "from this environment apply)")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.worker_env)
    with tempfile.TemporaryDirectory(prefix="llmpulse-rss-") as tmp:
        if args.broker == "kafka":
            from tests.harness.apache_kafka import ApacheKafka

            kafka = ApacheKafka()
            kafka.start()
            try:
                result = run(kafka.bootstrap, args.calls, args.every, args.ahead, Path(tmp),
                             extra, args.probe)
            finally:
                kafka.stop()
        else:
            from llmpulse.embedded_broker import EmbeddedBroker

            with EmbeddedBroker(log_path=Path(tmp) / "tansu.log") as embedded:
                result = run(embedded.bootstrap, args.calls, args.every, args.ahead,
                             Path(tmp), extra, args.probe)
    result["broker"] = args.broker
    result["worker_env"] = extra
    out = args.out or ROOT / "results" / f"rss-{args.broker}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k not in ("samples", "marks")}))
    print(f"{'calls':>10} {'RSS MB':>8}")
    for mark in result["marks"]:
        print(f"{mark['mark']:>10,} {mark['rss_mb']:>8.0f}")


if __name__ == "__main__":
    main()
