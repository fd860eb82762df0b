"""The store unreachable at start-up: the worker waits (reporting it) instead of exiting.

The broker kind does not matter here, so these run on the embedded broker only.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from llmpulse.embedded_broker import EmbeddedBroker
from llmpulse.procs import WorkerProcess, parse_metrics
from tests.integration.stack import Stack, make_stack, wait_metrics

WAITING = "is unreachable"
#: Long enough for several attempts (backoff 0.5, 1, 2, 4 s), short against a worker start.
OBSERVE_S = 8.0

HOLD = """
import sys
from llmpulse.config import load_settings
from llmpulse.sinks.clickhouse import ClickHouseStore
store = ClickHouseStore.open(load_settings())
print("holding", flush=True)
sys.stdin.read()  # until the test closes our stdin
store.close()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(stack: Stack, name: str, **extra: str) -> WorkerProcess:
    """A worker on a known metrics port, not waited for (it cannot be ready yet)."""
    port = free_port()
    worker = WorkerProcess(stack.env(LLMPULSE_METRICS_PORT=str(port), **extra),
                           log_path=stack.data_dir / f"{name}.log")
    worker.metrics_port = port
    worker.launch()
    return worker


def waiting_reported(worker: WorkerProcess) -> dict[str, float]:
    """/metrics answers with llmpulse_store_up 0 while the store is away."""
    deadline = time.monotonic() + 60
    while True:  # the process is still importing at first: nothing listens yet
        try:
            worker.metrics_text(timeout=2)
            break
        except OSError:
            assert worker.running(), worker.log_tail()
            assert time.monotonic() < deadline, "/metrics never answered"
            time.sleep(0.2)
    return wait_metrics(worker, lambda m: m.get("llmpulse_store_up") == 0.0
                        and WAITING in worker.log_path.read_text(), timeout=60,
                        what="the worker to report the store down")


@contextmanager
def store_held(stack: Stack) -> Iterator[subprocess.Popen[str]]:
    """Another process owning the embedded store (chdb admits one process per path)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD], env=stack.env_for_cli(),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        yield holder
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_a_worker_waits_for_a_locked_store_then_stores_events(
        embedded_broker: EmbeddedBroker, tmp_path: Path) -> None:
    stack = make_stack(embedded_broker.bootstrap, tmp_path)
    with store_held(stack) as holder:
        worker = launch(stack, "worker")
        try:
            waiting_reported(worker)
            time.sleep(OBSERVE_S)
            assert worker.running(), worker.log_tail()
            assert parse_metrics(worker.metrics_text())["llmpulse_store_up"] == 0
            log = worker.log_path.read_text()
            assert log.count(WAITING) == 1  # once per state change, not per attempt
            assert "locked by another process" in log and "Traceback" not in log
            assert holder.stdin is not None
            holder.stdin.close()  # the other process lets go of the store
            assert holder.wait(60) == 0
            worker.wait_ready(timeout=120)
            stats = stack.simulate(count=40, rate=200, seed=9)
            wait_metrics(worker, lambda m: m.get("llmpulse_store_up") == 1.0
                         and m.get("llmpulse_calls_total", 0) >= stats.calls, timeout=120,
                         what="the simulated calls stored")
            assert "is reachable after" in worker.log_path.read_text()
        finally:
            assert worker.stop() == 0
    assert stack.sql("SELECT count() FROM inference_events FINAL") == [[stats.calls]]


def test_a_closed_server_port_is_waited_for_and_a_wait_limit_ends_it(
        embedded_broker: EmbeddedBroker, tmp_path: Path) -> None:
    stack = make_stack(embedded_broker.bootstrap, tmp_path)
    url = f"http://default:secret@127.0.0.1:{free_port()}/"
    worker = launch(stack, "server", LLMPULSE_CLICKHOUSE_URL=url)
    try:
        waiting_reported(worker)
        time.sleep(OBSERVE_S)
        assert worker.running(), worker.log_tail()
        log = worker.log_path.read_text()
        assert log.count("Connection refused") == 1  # once, not once per attempt
        assert "secret" not in log
    finally:
        assert worker.stop() in (0, 130)  # interrupted while waiting: no traceback
    assert "Traceback" not in worker.log_path.read_text()
    limited = stack.cli("worker", env_extra={"LLMPULSE_CLICKHOUSE_URL": url,
                                            "LLMPULSE_STORE_WAIT_S": "2"}, timeout=120)
    assert limited.returncode == 2
    assert "gave up after 2s (LLMPULSE_STORE_WAIT_S=2)" in limited.stderr
    malformed = stack.cli("worker", env_extra={
        "LLMPULSE_CLICKHOUSE_URL": "http://clickhouse:notaport/db"}, timeout=60)
    assert malformed.returncode == 2 and "LLMPULSE_CLICKHOUSE_URL" in malformed.stderr
