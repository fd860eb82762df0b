"""A real Prometheus server scrapes the worker's /metrics."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.integration.stack import make_stack, wait_metrics


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _query(port: int, expr: str) -> list[dict[str, object]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def test_prometheus_scrapes_worker_metrics(broker: str, tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("the `prometheus` binary is missing: apt-get install prometheus "
                    "(scripts/test.sh installs it)")
    stack = make_stack(broker, tmp_path)
    worker = stack.worker()
    prom_port = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: llmpulse\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{worker.metrics_port}']\n")
    checked = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True,
                             text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    prom = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"))
    try:
        stats = stack.simulate(rate=None, count=300, seed=3)
        wait_metrics(worker, lambda m: m.get("llmpulse_calls_total", 0) >= stats.calls,
                     timeout=90, what="the calls to be stored")
        deadline = time.monotonic() + 60
        total = 0.0
        while time.monotonic() < deadline:
            try:
                result = _query(prom_port, "sum(llmpulse_calls_total)")
            except OSError:
                result = []
            total = float(result[0]["value"][1]) if result else 0.0  # type: ignore[index]
            if total >= stats.calls:
                break
            time.sleep(1)
        assert total == stats.calls
        p95 = _query(prom_port, "histogram_quantile(0.95, sum by (le) "
                                "(gen_ai_client_operation_duration_seconds_bucket))")
        assert p95 and 0 < float(p95[0]["value"][1]) < 90  # type: ignore[index]
        models = _query(prom_port, "sum by (gen_ai_request_model) (llmpulse_calls_total)")
        assert {r["metric"]["gen_ai_request_model"] for r in models} == set(stats.models)  # type: ignore[index]
    finally:
        prom.terminate()
        prom.wait(30)
        worker.stop()
