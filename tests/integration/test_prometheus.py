"""A real Prometheus server scrapes the worker's /metrics."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.harness.prometheus import (
    prometheus_binary,
    prometheus_config,
    query,
    start_prometheus,
    wait_scraped,
)
from tests.integration.stack import make_stack, wait_metrics


def test_prometheus_scrapes_worker_metrics(broker: str, tmp_path: Path) -> None:
    binary = prometheus_binary()
    stack = make_stack(broker, tmp_path)
    worker = stack.worker()
    assert worker.metrics_port is not None  # started: its port is known
    config = prometheus_config(tmp_path, worker.metrics_port)
    checked = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True,
                             text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    prom, prom_port = start_prometheus(binary, tmp_path, config)
    try:
        stats = stack.simulate(rate=None, count=300, seed=3)
        wait_metrics(worker, lambda m: m.get("llmpulse_calls_total", 0) >= stats.calls,
                     timeout=90, what="the calls to be stored")
        total = wait_scraped(prom_port, stats.calls)
        assert total == stats.calls
        p95 = query(prom_port, "histogram_quantile(0.95, sum by (le) "
                               "(gen_ai_client_operation_duration_seconds_bucket))")
        assert p95 and 0 < float(p95[0]["value"][1]) < 90
        models = query(prom_port, "sum by (gen_ai_request_model) (llmpulse_calls_total)")
        assert {r["metric"]["gen_ai_request_model"] for r in models} == set(stats.models)
    finally:
        prom.terminate()
        prom.wait(30)
        worker.stop()
