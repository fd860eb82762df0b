"""The real stack for integration tests: worker process, SDK/simulator traffic, store reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from llmpulse.config import load_settings
from llmpulse.kafka_security import librdkafka_security
from llmpulse.procs import WorkerProcess, parse_metrics
from llmpulse.sdk import LlmPulseClient
from llmpulse.simulator import SimulationStats, simulate
from llmpulse.streams.app import all_topics
from llmpulse.topics import ensure_topics
from tests.harness.store_server import HTTP_STORE_BROKERS, StoreServerProcess, started


@dataclass
class Stack:
    """One isolated llmpulse deployment on a shared broker (own topics, group, store)."""

    broker: str
    data_dir: Path
    prefix: str
    app_id: str
    #: settings every process of this stack gets (e.g. the TLS/SASL ones)
    common: dict[str, str] = field(default_factory=dict)
    #: Serves the store (in ``data_dir``) over HTTP; ``None``: the worker opens it (chdb).
    store_server: StoreServerProcess | None = field(default=None, repr=False)

    @property
    def store_url(self) -> str:
        if self.store_server is not None:
            return self.store_server.url
        return f"chdb://{self.data_dir / 'chdb'}"

    def serve_store(self) -> None:
        """Put the store behind ``llmpulse store serve`` (stopped after the test)."""
        self.store_server = started(StoreServerProcess(self.data_dir / "chdb", self.data_dir))

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "LLMPULSE_BROKER": self.broker,
            "LLMPULSE_TOPIC_PREFIX": self.prefix,
            "LLMPULSE_APP_ID": self.app_id,
            "LLMPULSE_CLICKHOUSE_URL": self.store_url,
            "LLMPULSE_METRICS_HOST": "127.0.0.1",
            "LLMPULSE_METRICS_PORT": "0",
            "LLMPULSE_BATCH_MAX_S": "0.5",
            "LLMPULSE_SESSION_TIMEOUT_S": "6",
            "LLMPULSE_DATA_DIR": str(self.data_dir),
            # a worker loads its drift embedder at its first tick; these tests check drift
            # with the light hashing embedder, so that each short-lived worker does not
            # load PyTorch and MiniLM for a drift check it never reaches
            "LLMPULSE_DRIFT_EMBEDDER": "hashing",
            **self.common,
            **extra,
        }

    def settings(self) -> Any:
        return load_settings(self.env())

    def create_topics(self) -> None:
        settings = self.settings()
        ensure_topics(self.broker, all_topics(settings), settings.replication_factor,
                      security=librdkafka_security(settings))

    def worker(self, name: str = "worker", **extra: str) -> WorkerProcess:
        process = WorkerProcess(self.env(**extra), log_path=self.data_dir / f"{name}.log")
        process.start(timeout=90)
        return process

    def client(self) -> LlmPulseClient:
        return LlmPulseClient(self.broker, self.prefix,
                              producer_config=librdkafka_security(self.settings()))

    def simulate(self, **kwargs: Any) -> SimulationStats:
        with self.client() as client:
            return simulate(client, **kwargs)

    def sql(self, query: str) -> list[list[Any]]:
        """Query the store from another process (chdb allows one process per path: over
        chdb:// only once the worker stopped; through the store server, at any time)."""
        done = subprocess.run([sys.executable, "-m", "llmpulse", "sql", "--format", "arrays",
                               query],
                              env=self.env_for_cli(), capture_output=True, text=True,
                              timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"llmpulse sql failed: {done.stderr}")
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    def cli(self, *args: str, timeout: float = 120, env_extra: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "llmpulse", *args],
                              env={**self.env_for_cli(), **(env_extra or {})},
                              capture_output=True, text=True, timeout=timeout)

    def env_for_cli(self) -> dict[str, str]:
        return {**os.environ, **self.env()}


def make_stack(broker: str, tmp_path: Path, common: dict[str, str] | None = None) -> Stack:
    tag = uuid.uuid4().hex[:8]
    stack = Stack(broker=broker, data_dir=tmp_path, prefix=f"t{tag}.", app_id=f"it-{tag}",
                  common=dict(common or {}))
    stack.create_topics()
    if broker in HTTP_STORE_BROKERS:
        stack.serve_store()
    return stack


def wait_metrics(worker: WorkerProcess, done: Callable[[dict[str, float]], bool],
                 timeout: float, what: str) -> dict[str, float]:
    """Poll /metrics until ``done``; fail with the last values and the worker log."""
    deadline = time.monotonic() + timeout
    values: dict[str, float] = {}
    while time.monotonic() < deadline:
        if worker.proc is not None and worker.proc.poll() is not None:
            pytest.fail(f"worker exited ({worker.proc.returncode}) while waiting for {what}:\n"
                        + worker.log_tail())
        values = parse_metrics(worker.metrics_text())
        if done(values):
            return values
        time.sleep(0.25)
    summary = {k: v for k, v in values.items() if "{" not in k and k.startswith("llmpulse")}
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; metrics: {summary}\n"
                + worker.log_tail())
