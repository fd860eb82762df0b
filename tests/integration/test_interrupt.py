"""SIGINT stops a service while it starts up, even when its parent ignored SIGINT.

A non-interactive shell starts `llmpulse worker &` with SIGINT ignored; Faust handles
SIGINT once it runs, so the start-up (waiting for the broker or the store) must too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.harness.net import free_port

WAIT_LINE = "waiting up to"


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_a_worker_started_with_sigint_ignored_stops_on_sigint_while_waiting(
        tmp_path: Path) -> None:
    unreachable = f"127.0.0.1:{free_port()}"  # nothing listens: the worker waits for it
    env = {key: value for key, value in os.environ.items() if not key.startswith("LLMPULSE_")}
    env["LLMPULSE_BROKER"] = unreachable
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "llmpulse", "worker"], cwd=tmp_path,
                                env=env, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=_ignore_sigint)
        try:
            deadline = time.monotonic() + 60
            while WAIT_LINE not in log_path.read_text() and time.monotonic() < deadline:
                assert proc.poll() is None, log_path.read_text()
                time.sleep(0.2)
            text = log_path.read_text()
            assert f"{WAIT_LINE} 30 s for the Kafka broker at {unreachable}" in text, text
            proc.send_signal(signal.SIGINT)
            code = proc.wait(20)  # it would wait the full 30 s, then exit 2, if SIGINT were lost
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert code == 130, log_path.read_text()
    assert "Traceback" not in log_path.read_text()
