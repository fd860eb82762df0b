"""``llmpulse store serve`` as a real child process: the embedded store of a data
directory served over ClickHouse's HTTP interface on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import pytest

from llmpulse.embedded_broker import log_tail, stop_process

READY_PREFIX = "export LLMPULSE_CLICKHOUSE_URL="
#: Brokers whose integration stacks reach their store through ``llmpulse store serve``
#: (the Apache Kafka runs, see tests/conftest.py): the suite runs once through
#: ClickHouse's HTTP interface without running twice; the embedded-broker runs keep
#: chdb://.
HTTP_STORE_BROKERS: set[str] = set()
#: Servers to stop when the current test ends (:func:`stop_started`).
_STARTED: list[StoreServerProcess] = []


class StoreServerProcess:
    """Serves ``path`` (a chdb store directory); its output goes to ``log_dir``."""

    def __init__(self, path: Path, log_dir: Path, handles: int = 4,
                 tls: tuple[Path, Path] | None = None) -> None:
        self.path = path
        self.log_dir = log_dir
        self.handles = handles
        self.tls = tls  # (certificate, key): serve HTTPS
        self.proc: subprocess.Popen[bytes] | None = None
        self._url: str | None = None
        self._out: IO[bytes] | None = None
        self._err: IO[bytes] | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the store server is not running")
        return self._url

    @property
    def stdout_path(self) -> Path:
        return self.log_dir / "store-server.out"

    @property
    def log_path(self) -> Path:
        return self.log_dir / "store-server.log"

    def start(self, timeout: float = 60) -> StoreServerProcess:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._out = self.stdout_path.open("wb")
        self._err = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llmpulse", "store", "serve", "--path", str(self.path),
             "--port", "0", "--handles", str(self.handles),
             *(["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
               if self.tls else [])],
            stdout=self._out, stderr=self._err, env=dict(os.environ))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.stdout_path.read_text(encoding="utf-8").splitlines():
                if line.startswith(READY_PREFIX):
                    self._url = line.removeprefix(READY_PREFIX).strip()
                    return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        code = self.proc.poll()
        self.stop()
        pytest.fail(f"llmpulse store serve did not start (exit status {code}):\n"
                    + log_tail(self.log_path), pytrace=False)

    def stop(self, timeout: float = 20) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout)
            self.proc = None
        self._url = None
        for handle in (self._out, self._err):
            if handle is not None:
                handle.close()
        self._out = self._err = None

    def __enter__(self) -> StoreServerProcess:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def started(server: StoreServerProcess) -> StoreServerProcess:
    """``server`` started, and stopped by :func:`stop_started` (after each test)."""
    _STARTED.append(server.start())
    return server


def stop_started() -> None:
    while _STARTED:
        _STARTED.pop().stop()
