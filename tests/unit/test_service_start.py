"""Services refuse a configuration mistake or an unreachable broker before they open their
/metrics port or load a model, and write no terminal control codes."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmpulse import runner
from llmpulse.config import load_settings
from llmpulse.errors import BrokerError, ConfigError


@pytest.fixture
def nothing_started(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail loudly if a port is opened or a model loaded."""
    started: list[str] = []

    def metrics(*args: Any, **kwargs: Any) -> Any:
        started.append("metrics")
        raise AssertionError("/metrics opened before the checks")

    def models(*args: Any, **kwargs: Any) -> Any:
        started.append("models")
        raise AssertionError("models loaded before the checks")

    monkeypatch.setattr(runner, "start_metrics_server", metrics)
    monkeypatch.setattr("llmpulse.scoring.scorer.load_scorer", models)
    monkeypatch.setattr("llmpulse.topics.BROKER_WAIT_S", 0.3)
    yield started
    assert started == []


@pytest.mark.parametrize("run", [runner.run_worker, runner.run_scorer])
def test_no_broker_is_refused_before_anything_starts(run: Any, nothing_started: list[str],
                                                     tmp_path: Path) -> None:
    settings = load_settings({"LLMPULSE_PRICES_FILE": str(tmp_path / "prices.yml"),
                              "LLMPULSE_TOXICITY_MODEL": str(tmp_path / "toxicity")})
    with pytest.raises(ConfigError) as err:
        run(settings)
    assert "LLMPULSE_BROKER: not set" in str(err.value)
    mine = "LLMPULSE_PRICES_FILE" if run is runner.run_worker else "LLMPULSE_TOXICITY_MODEL"
    assert mine in str(err.value)  # and the service's other mistakes in the same message


@pytest.mark.parametrize("run", [runner.run_worker, runner.run_scorer])
def test_an_unreachable_broker_is_refused_before_anything_starts(
        run: Any, nothing_started: list[str]) -> None:
    with pytest.raises(BrokerError, match=r"cannot reach Kafka broker at 127\.0\.0\.1:1"):
        run(load_settings({"LLMPULSE_BROKER": "127.0.0.1:1"}))


@pytest.fixture
def held_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("command", ["worker", "scorer"])
def test_the_command_refuses_at_once_without_touching_its_port(
        command: str, held_port: int, tmp_path: Path) -> None:
    """The port is taken: a service that opened it first would complain about the port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPULSE_")}
    env.update(LLMPULSE_METRICS_HOST="127.0.0.1", LLMPULSE_METRICS_PORT=str(held_port))
    done = subprocess.run([sys.executable, "-m", "llmpulse", command], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "LLMPULSE_BROKER: not set" in done.stderr, done.stderr
    assert "LLMPULSE_METRICS_PORT" not in done.stderr
    assert "metrics on" not in done.stderr and "scorer:" not in done.stderr  # nothing started
    assert "\x1b" not in done.stdout + done.stderr


def test_the_faust_worker_writes_no_cursor_codes_when_it_is_ready() -> None:
    import faust

    app = faust.App("llmpulse-spinner-test", broker="kafka://127.0.0.1:1")
    for quiet in (False, True):
        out = io.StringIO()
        worker = faust.Worker(app, quiet=True, redirect_stdouts=False, override_logging=False,
                              stdout=out, loglevel="INFO")
        if quiet:
            runner.quiet_terminal(worker)
        worker._on_startup_end_spinner()  # what Faust does once the worker has started
        assert ("\x1b[?25h" in out.getvalue()) is not quiet  # Faust's own; none with ours
