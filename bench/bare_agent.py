"""Baseline: a bare Faust agent that reads JSON events from one topic and counts them.

Run by bench/throughput.py in its own process; prints one JSON line with timings.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import faust


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--broker", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--group", default=f"bench-bare-{int(time.time())}")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    data = Path(tempfile.gettempdir()) / "llmpulse-bench"
    data.mkdir(exist_ok=True)  # Faust creates only the last level of its datadir
    app = faust.App(args.group, broker=f"kafka://{args.broker}", store="memory://",
                    datadir=str(data / "{conf.name}"),
                    web_enabled=False, consumer_auto_offset_reset="earliest",
                    broker_session_timeout=10, broker_rebalance_timeout=10,
                    broker_heartbeat_interval=1)
    topic = app.topic(args.topic, key_type=bytes, value_type=bytes, value_serializer="raw",
                      key_serializer="raw")
    state: dict[str, Any] = {"n": 0, "first": None}

    @app.agent(topic)
    async def count(stream: Any) -> None:
        async for value in stream:
            if state["first"] is None:
                state["first"] = time.perf_counter()
                state["cpu"] = time.process_time()
            try:
                json.loads(value)
            except ValueError:
                state["bad"] = state.get("bad", 0) + 1
            state["n"] += 1
            if state["n"] >= args.count:
                elapsed = time.perf_counter() - state["first"]
                cpu = time.process_time() - state["cpu"]
                print(json.dumps({"events": state["n"], "seconds": elapsed,
                                  "events_per_s": state["n"] / elapsed, "cpu_s": cpu}),
                      flush=True)

    worker = faust.Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False,
                          override_logging=False)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
