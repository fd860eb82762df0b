"""EmbeddedBroker lifecycle: start, reach, stop, free the port, die with its parent."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from llmpulse.embedded_broker import EmbeddedBroker
from llmpulse.errors import BrokerError
from llmpulse.topics import wait_for_broker
from tests.harness.net import port_is_free


def port_of(bootstrap: str) -> int:
    host, _, port = bootstrap.rpartition(":")
    assert host == "127.0.0.1"
    return int(port)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def test_start_answers_and_stop_frees_the_port(tmp_path: Path) -> None:
    log = tmp_path / "tansu.log"
    broker = EmbeddedBroker(log_path=log)
    bootstrap = broker.start()
    try:
        assert broker.bootstrap == bootstrap
        assert broker.start() == bootstrap  # already running: same broker
        wait_for_broker(bootstrap, timeout=5)
        assert not port_is_free(port_of(bootstrap))
    finally:
        broker.stop()
    assert wait_until(lambda: port_is_free(port_of(bootstrap)))
    assert broker.proc is None
    assert log.read_text().strip()  # the broker's output went to the log
    broker.stop()  # stopping twice is harmless


def test_bootstrap_before_start_is_an_error() -> None:
    with pytest.raises(BrokerError, match="not running"):
        _ = EmbeddedBroker().bootstrap


def test_context_manager_without_log() -> None:
    with EmbeddedBroker() as broker:
        bootstrap = broker.bootstrap
        wait_for_broker(bootstrap, timeout=5)
    assert wait_until(lambda: port_is_free(port_of(bootstrap)))


def test_restart_after_stop() -> None:
    broker = EmbeddedBroker()
    first = broker.start()
    broker.stop()
    second = broker.start()
    try:
        wait_for_broker(second, timeout=5)
    finally:
        broker.stop()
    assert broker.proc is None and first != "" and second != ""


def test_broker_dies_with_its_parent() -> None:
    if not sys.platform.startswith("linux"):
        pytest.fail("parent-death signalling is only implemented on Linux")
    script = textwrap.dedent("""
        import os
        from llmpulse.embedded_broker import EmbeddedBroker
        broker = EmbeddedBroker()
        broker.start()
        assert broker.proc is not None
        print(broker.proc.pid, broker.bootstrap, flush=True)
        os._exit(0)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True)
    pid_text, bootstrap = done.stdout.split()
    pid = int(pid_text)
    assert wait_until(lambda: not _alive(pid)), f"broker {pid} outlived its parent"
    assert wait_until(lambda: port_is_free(port_of(bootstrap)))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purpose once reparented and reaped.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_chosen_port_is_used_and_a_taken_one_refused() -> None:
    import socket

    from llmpulse.embedded_broker import free_loopback_port

    port = free_loopback_port()
    with EmbeddedBroker(port=port) as broker:
        assert broker.bootstrap == f"127.0.0.1:{port}"
        with pytest.raises(BrokerError, match=f"port {port} on 127.0.0.1 is in use"):
            EmbeddedBroker(port=port).start()
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        with pytest.raises(BrokerError, match="is in use"):
            EmbeddedBroker(port=held.getsockname()[1]).start()
