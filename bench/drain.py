"""How long a SIGTERM takes, and how soon the rest of the group takes over.

* ``steady``: SIGTERM under steady traffic (200 events/s): seconds from the signal to
  the exit, and whether every call was stored once;
* ``held``: SIGTERM while a ``store_down`` drill holds the batch in flight; the store
  comes back ``--held-s`` seconds later: the drain waits for it (within the bound);
* ``takeover``: two workers in one group; one is SIGTERMed: seconds until the other's
  /readyz lists every input partition, with dynamic membership (the stopped worker
  leaves the group) and with static instance ids (it does not: the survivor waits for
  its session, ``LLMPULSE_SESSION_TIMEOUT_S``).

    python bench/drain.py --broker kafka --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the stack harness lives with the tests

from llmpulse.procs import WorkerProcess  # noqa: E402
from tests.integration.stack import Stack, make_stack, wait_metrics  # noqa: E402

SESSION_S = 10.0


def ready(worker: WorkerProcess, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = worker.health()
        if status == 200:
            return body
        time.sleep(0.2)
    raise RuntimeError(f"not ready after {timeout:.0f}s:\n{worker.log_tail()}")


def stored_once(stack: Stack, calls: int) -> bool:
    return stack.sql("SELECT count(), uniqExact(request_id) FROM inference_events FINAL") == [
        [calls, calls]]


def steady(stack: Stack) -> tuple[float, int | None, bool]:
    worker = stack.worker("steady")
    sent: dict[str, Any] = {}
    traffic = threading.Thread(target=lambda: sent.update(
        stats=stack.simulate(rate=200, duration=20, seed=71)))
    traffic.start()
    wait_metrics(worker, lambda m: m.get("llmpulse_calls_total", 0) >= 500, 90, "traffic")
    code, seconds = worker.terminate(90)
    worker.kill()
    traffic.join()
    again = stack.worker("steady-2")  # the rest of the traffic, and anything redelivered
    calls = sent["stats"].calls
    wait_metrics(again, lambda m: m.get("llmpulse_consumer_lag", 1) == 0 and any(
        k.startswith("llmpulse_consumer_lag{") for k in m), 120, "caught up")
    time.sleep(2)
    again.stop()
    return seconds, code, stored_once(stack, calls)


def held(stack: Stack, held_s: float) -> tuple[float, int | None, float, bool]:
    outage = time.time() + 30
    worker = stack.worker("held", LLMPULSE_DRILLS=f"store_down@{outage:.1f}+{held_s + 3:g}")
    ready(worker)
    time.sleep(max(0.0, outage - time.time()) + 0.5)
    stats = stack.simulate(rate=None, count=300, seed=72)
    while worker.health()[1]["checks"]["batch"]["state"] not in ("retrying", "stuck"):
        time.sleep(0.1)
    time.sleep(max(0.0, outage + 3 - time.time()))
    back_after = outage + held_s + 3 - time.time()
    code, seconds = worker.terminate(90)
    worker.kill()
    return seconds, code, back_after, stored_once(stack, stats.calls)


def takeover(stack: Stack, static: bool) -> tuple[float, int | None]:
    def member(name: str) -> WorkerProcess:
        ids = {"LLMPULSE_INSTANCE_ID": f"drain-{name}"} if static else {}
        process = WorkerProcess(stack.env(LLMPULSE_SESSION_TIMEOUT_S=str(SESSION_S),
                                          LLMPULSE_CLICKHOUSE_URL=f"chdb://{stack.data_dir}"
                                                                  f"/chdb-{name}", **ids),
                                log_path=stack.data_dir / f"takeover-{name}.log")
        process.start(timeout=120)
        return process

    first, second = member("a"), member("b")
    try:
        everything = stack.settings().partitions * 5
        deadline = time.monotonic() + 120
        while True:
            mine = [len(w.health()[1]["checks"]["partitions"]["input_partitions"])
                    for w in (first, second)]
            if sum(mine) == everything and min(mine) > 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the group never split its partitions: {mine}")
            time.sleep(0.3)
        began = time.monotonic()
        code, _ = first.terminate(90)
        while True:
            status, body = second.health()
            if status == 200 and body["checks"]["partitions"]["state"] == "assigned" and len(
                    body["checks"]["partitions"]["input_partitions"]) == everything:
                return time.monotonic() - began, code
            if time.monotonic() - began > 120:
                raise RuntimeError("the survivor never took every partition")
            time.sleep(0.1)
    finally:
        first.kill()
        second.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description="SIGTERM drain and takeover times")
    parser.add_argument("--broker", choices=("kafka", "embedded"), default="kafka")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--held-s", type=float, default=8.0,
                        help="how long the store stays down after the SIGTERM")
    args = parser.parse_args()
    from llmpulse.embedded_broker import EmbeddedBroker
    from tests.harness.apache_kafka import ApacheKafka

    server: ApacheKafka | EmbeddedBroker = (ApacheKafka() if args.broker == "kafka"
                                            else EmbeddedBroker())
    bootstrap = server.start()

    def fresh() -> Stack:
        return make_stack(bootstrap, Path(tempfile.mkdtemp(prefix="llmpulse-drain-")))

    try:
        rows: dict[str, list[float]] = {}
        for run in range(args.runs):
            seconds, code, once = steady(fresh())
            print(f"run {run + 1} steady: exit {code} after {seconds:.1f} s, stored once: "
                  f"{once}", flush=True)
            rows.setdefault("steady traffic", []).append(seconds)
            seconds, code, back, once = held(fresh(), args.held_s)
            print(f"run {run + 1} held: exit {code} after {seconds:.1f} s (store back after "
                  f"{back:.1f} s), stored once: {once}", flush=True)
            rows.setdefault("batch held by the store", []).append(seconds - back)
            for static in (False, True):
                seconds, code = takeover(fresh(), static)
                kind = "static" if static else "dynamic"
                print(f"run {run + 1} takeover ({kind}): exit {code}, survivor holds every "
                      f"partition {seconds:.1f} s after the SIGTERM", flush=True)
                rows.setdefault(f"takeover, {kind} membership", []).append(seconds)
        for name, values in rows.items():
            print(f"{name}: median {statistics.median(values):.1f} s, max {max(values):.1f} s"
                  f" ({len(values)} runs)")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
