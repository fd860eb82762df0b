"""Run the worker as a child process and read its /metrics (used by the demo and tests)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from llmpulse.embedded_broker import preexec_die_with_parent


class WorkerProcess:
    """``python -m llmpulse worker`` (or ``scorer``) with the given settings in its
    environment."""

    def __init__(self, env: Mapping[str, str], log_path: Path, cwd: Path | None = None,
                 command: str = "worker") -> None:
        self.command = command
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.cwd = cwd
        self.ready_file = log_path.with_suffix(".ready")
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port: int | None = None
        #: Every worker's port when LLMPULSE_WORKERS > 1 (the first is ``metrics_port``).
        self.metrics_ports: list[int] = []
        self._log: IO[bytes] | None = None

    def start(self, timeout: float = 60.0) -> int:
        """Start and wait until /metrics answers; returns the metrics port."""
        self.launch()
        return self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting for it to be ready."""
        self.ready_file.unlink(missing_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llmpulse", self.command, "--ready-file",
             str(self.ready_file)],
            env=self.env, cwd=self.cwd, stdout=self._log, stderr=subprocess.STDOUT,
            # its own session: a terminal's Ctrl-C reaches the parent, which stops the
            # worker cleanly; and the worker dies with the parent if that is killed
            start_new_session=True, preexec_fn=preexec_die_with_parent(),
        )

    def wait_ready(self, timeout: float = 60.0) -> int:
        """Wait until the process has started (its ready file names the metrics port)."""
        assert self.proc is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.command} exited with {self.proc.returncode} during "
                                   "start:\n" + self.log_tail())
            if self.ready_file.exists() and self.ready_file.read_text().strip():
                self.metrics_ports = [int(p) for p in self.ready_file.read_text().split()]
                self.metrics_port = self.metrics_ports[0]
                return self.metrics_port
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"{self.command} not ready after {timeout:.0f}s:\n"
                           + self.log_tail())

    def running(self) -> bool:
        """Started and not exited (a crash included)."""
        return self.proc is not None and self.proc.poll() is None

    def metrics_text(self, timeout: float = 5.0, port: int | None = None) -> str:
        url = f"http://127.0.0.1:{port or self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return str(response.read().decode("utf-8"))

    def health(self, path: str = "/readyz", timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) of /healthz or /readyz."""
        url = f"http://127.0.0.1:{self.metrics_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return int(response.status), json.loads(response.read())
        except urllib.error.HTTPError as error:
            return int(error.code), json.loads(error.read())

    def terminate(self, timeout: float = 60.0) -> tuple[int | None, float]:
        """SIGTERM, as Kubernetes stops a pod: (exit status or None when it did not exit
        within ``timeout``, seconds until it exited)."""
        assert self.proc is not None, "launch() first"
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
        return code, time.monotonic() - began

    def stop(self, timeout: float = 60.0) -> int:
        """SIGINT (a clean Faust shutdown: final flush), then SIGKILL after ``timeout``."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGUSR1)  # every thread's stack into its log
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(2)
                self.proc.kill()
                self.proc.wait()
        self._close_log()
        return self.proc.returncode

    def kill(self) -> None:
        """An unclean stop (SIGKILL), as a crash would be."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_log()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def parse_metrics(text: str) -> dict[str, float]:
    """Sum every sample by ``name{sorted labels}`` and by bare name (for quick reads)."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}"] = sample.value
            out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out
