"""``LLMPULSE_WORKERS=N``: what each worker of the fleet is told, and the restart backoff."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from llmpulse.config import load_settings
from llmpulse.errors import ConfigError
from llmpulse.supervisor.child import Backoff, Child
from llmpulse.supervisor.members import check_fleet, fleet_warnings, member_env


def test_each_worker_gets_its_port_instance_id_and_data_dir(tmp_path: Path) -> None:
    settings = load_settings({"LLMPULSE_WORKERS": "3", "LLMPULSE_METRICS_PORT": "9500",
                              "LLMPULSE_INSTANCE_ID": "node-a",
                              "LLMPULSE_DATA_DIR": str(tmp_path)})
    envs = [member_env(settings, i, "http://127.0.0.1:4000") for i in range(3)]
    assert [e["LLMPULSE_METRICS_PORT"] for e in envs] == ["9500", "9501", "9502"]
    assert [e["LLMPULSE_INSTANCE_ID"] for e in envs] == ["node-a-0", "node-a-1", "node-a-2"]
    assert [e["LLMPULSE_DATA_DIR"] for e in envs] == [
        str(tmp_path / f"worker-{i}") for i in range(3)]
    assert {e["LLMPULSE_CLICKHOUSE_URL"] for e in envs} == {"http://127.0.0.1:4000"}
    assert {e["LLMPULSE_WORKERS"] for e in envs} == {"1"}  # a worker, not a supervisor
    # each worker's own settings are valid, and auto instance ids differ by port
    member = load_settings({**envs[2], "LLMPULSE_INSTANCE_ID": "auto"})
    assert member.instance_id_for("worker").endswith("-9502")


def test_defaults_count_up_from_the_worker_port_and_port_0_stays_0() -> None:
    default = load_settings({"LLMPULSE_WORKERS": "2"})
    assert [member_env(default, i, "u")["LLMPULSE_METRICS_PORT"] for i in range(2)] == [
        "9464", "9465"]
    assert member_env(default, 1, "u")["LLMPULSE_INSTANCE_ID"] == "auto"
    free = load_settings({"LLMPULSE_WORKERS": "2", "LLMPULSE_METRICS_PORT": "0",
                          "LLMPULSE_INSTANCE_ID": "none"})
    assert [member_env(free, i, "u")["LLMPULSE_METRICS_PORT"] for i in range(2)] == ["0", "0"]
    assert member_env(free, 1, "u")["LLMPULSE_INSTANCE_ID"] == "none"


def test_ports_past_65535_are_refused() -> None:
    with pytest.raises(ConfigError, match="past 65535"):
        check_fleet(load_settings({"LLMPULSE_WORKERS": "4", "LLMPULSE_METRICS_PORT": "65533"}))
    check_fleet(load_settings({"LLMPULSE_WORKERS": "3", "LLMPULSE_METRICS_PORT": "65533"}))


def test_a_port_shared_with_the_scorer_and_idle_workers_are_warned_of() -> None:
    warned = fleet_warnings(load_settings({"LLMPULSE_WORKERS": "6"}))
    assert any("9465, the scorer's" in w for w in warned)
    assert any("2 worker(s) will stay idle" in w for w in warned)  # 4 partitions
    assert fleet_warnings(load_settings({"LLMPULSE_WORKERS": "2",
                                         "LLMPULSE_METRICS_PORT": "9500"})) == []


def test_restart_backoff_doubles_and_resets_after_a_steady_run() -> None:
    backoff = Backoff(first=1, most=8, steady=60)
    assert [backoff.after(2) for _ in range(5)] == [1, 2, 4, 8, 8]
    assert backoff.after(61) == 1 and backoff.after(1) == 2


def test_child_output_is_prefixed_line_by_line() -> None:
    out = io.BytesIO()
    seen: list[str] = []
    child = Child("worker-7", [sys.executable, "-c", "print('one'); import sys; "
                               "sys.stderr.write('two\\n'); print('three', end='')"],
                  {}, on_line=seen.append, out=out)
    child.start()
    deadline = time.monotonic() + 30
    while child.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    child.reap()
    assert child.poll() == 0
    assert sorted(out.getvalue().decode().splitlines()) == [
        "[worker-7] one", "[worker-7] three", "[worker-7] two"]
    assert sorted(seen) == ["one", "three", "two"]


#: A stand-in worker: writes a port to its ready file, exits 0 on SIGTERM (noting it).
FAKE_WORKER = """
import os, signal, sys, time
from pathlib import Path
ready = Path(sys.argv[1])
def stop(signum, frame):
    Path(os.environ["LLMPULSE_DATA_DIR"] + ".stopped").write_text(
        os.environ["LLMPULSE_INSTANCE_ID"])
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
ready.write_text(f"{40000 + os.getpid() % 20000}\\n")
while True:
    time.sleep(0.05)
"""


def test_the_fleet_restarts_a_dead_worker_and_passes_the_stop_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmpulse.supervisor import fleet as module

    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    monkeypatch.setattr(module, "worker_argv", lambda ready: [sys.executable, str(script),
                                                              str(ready)])
    settings = load_settings({"LLMPULSE_WORKERS": "2", "LLMPULSE_INSTANCE_ID": "node",
                              "LLMPULSE_CLICKHOUSE_URL": "http://127.0.0.1:9/db",
                              "LLMPULSE_DRAIN_TIMEOUT_S": "5",
                              "LLMPULSE_DATA_DIR": str(tmp_path)})
    ready = tmp_path / "fleet.ready"
    fleet = module.Fleet(settings, ready)
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(fleet.run()))
    runner.start()
    try:
        def until(check: Callable[[], bool], what: str) -> None:
            deadline = time.monotonic() + 30
            while not check():
                assert time.monotonic() < deadline, what
                time.sleep(0.05)

        until(lambda: ready.exists() and len(ready.read_text().split()) == 2, "ready")
        first = ready.read_text().split()
        dead = fleet.members[1].child.pid
        assert dead is not None
        os.kill(dead, signal.SIGKILL)
        until(lambda: fleet.members[1].restarts == 1 and fleet.members[1].child.running(),
              "worker-1 restarted")
        assert fleet.members[1].child.pid != dead
        until(lambda: ready.read_text().split()[1] != first[1], "the new port listed")
        assert fleet.members[0].restarts == 0
        fleet.stop_signal = signal.SIGTERM
        runner.join(30)
    finally:
        fleet.stop_signal = signal.SIGTERM
        runner.join(30)
    assert result == [0]
    stopped = sorted(p.read_text() for p in tmp_path.glob("worker-*.stopped"))
    assert stopped == ["node-0", "node-1"]  # each got the SIGTERM, with its own id
