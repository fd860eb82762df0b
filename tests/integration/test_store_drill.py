"""A store outage in the middle of traffic (the ``store_down`` drill): the worker holds
its batch and retries, the committed lag grows as the broker reports it, and once the
store is back every call is stored once, joined as it was sent — none filed as a
join timeout for a response that was only waiting unread in Kafka.  (This short
outage's backlog is read in well under the join timeout; the case where reading a
long backlog runs one topic ahead of the other is the unit test of
``Pipeline.sweep(keeping_up=False)``, and the store drill of ``bench/alert_precision.py``.)
The broker kind does not matter here, so this runs on the embedded broker only.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from llmpulse.embedded_broker import EmbeddedBroker
from llmpulse.simulator import SimulationStats
from tests.integration.stack import make_stack, wait_metrics

OUTAGE_S = 25.0
JOIN_TIMEOUT_S = 5.0


def test_a_store_outage_loses_nothing_and_times_out_no_join(
        embedded_broker: EmbeddedBroker, tmp_path: Path) -> None:
    stack = make_stack(embedded_broker.bootstrap, tmp_path)
    down_at = time.time() + 25  # the worker is up and reading by then
    worker = stack.worker(LLMPULSE_DRILLS=f"store_down@{down_at:.0f}+{OUTAGE_S:.0f}",
                          LLMPULSE_JOIN_TIMEOUT_S=str(JOIN_TIMEOUT_S))
    result: dict[str, SimulationStats] = {}
    try:
        sender = threading.Thread(target=lambda: result.setdefault(
            "stats", stack.simulate(rate=40, duration=max(5.0, down_at + OUTAGE_S + 10
                                                          - time.time()), seed=3)))
        sender.start()
        # during the outage: failing writes are counted and the lag keeps growing
        during = wait_metrics(
            worker, lambda m: m.get("llmpulse_sink_failures_total{sink=clickhouse}", 0) >= 3
            and sum(v for k, v in m.items() if k.startswith("llmpulse_consumer_lag{")
                    and k.endswith("inference}")) > 200,
            timeout=90, what="sink failures and a growing lag during the outage")
        sender.join(120)
        stats = result["stats"]
        done = wait_metrics(worker, lambda m: m.get("llmpulse_calls_total", 0) >= stats.calls,
                            timeout=120, what="every call stored after the outage")
    finally:
        worker.stop()
    assert during["llmpulse_sink_failures_total{sink=clickhouse}"] >= 3
    timeouts = {k: v for k, v in done.items() if k.startswith("llmpulse_join_timeouts_total")}
    assert timeouts and all(v == 0 for v in timeouts.values()), timeouts
    split = stats.events["request"]
    assert split > 100  # pairs were sent across the outage
    rows = dict(map(tuple, stack.sql(  # type: ignore[arg-type]
        "SELECT join_status, count() FROM inference_events FINAL GROUP BY join_status")))
    assert rows == {"joined": split, "inference": stats.calls - split}, rows
