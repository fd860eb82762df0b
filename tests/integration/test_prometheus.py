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


def prometheus_config(tmp_path: Path, target: int) -> Path:
    """A scrape config for the worker's metrics on ``target``, every second."""
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: llmpulse\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{target}']\n")
    return config


def start_prometheus(binary: str, tmp_path: Path, config: Path
                     ) -> tuple[subprocess.Popen[bytes], int]:
    """A real Prometheus server on a free loopback port (the caller terminates it)."""
    port = _free_port()
    prom = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"))
    return prom, port


def wait_scraped(port: int, calls: int, timeout: float = 90) -> float:
    """Wait until Prometheus has scraped ``calls`` stored calls; the total it saw."""
    deadline = time.monotonic() + timeout
    total = 0.0
    while time.monotonic() < deadline:
        try:
            result = _query(port, "sum(llmpulse_calls_total)")
        except OSError:
            result = []
        total = float(result[0]["value"][1]) if result else 0.0  # type: ignore[index]
        if total >= calls:
            return total
        time.sleep(1)
    pytest.fail(f"Prometheus saw {total} of {calls} calls")


def test_prometheus_scrapes_worker_metrics(broker: str, tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("the `prometheus` binary is missing: apt-get install prometheus "
                    "(scripts/test.sh installs it)")
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
        p95 = _query(prom_port, "histogram_quantile(0.95, sum by (le) "
                                "(gen_ai_client_operation_duration_seconds_bucket))")
        assert p95 and 0 < float(p95[0]["value"][1]) < 90  # type: ignore[index]
        models = _query(prom_port, "sum by (gen_ai_request_model) (llmpulse_calls_total)")
        assert {r["metric"]["gen_ai_request_model"] for r in models} == set(stats.models)  # type: ignore[index]
    finally:
        prom.terminate()
        prom.wait(30)
        worker.stop()
