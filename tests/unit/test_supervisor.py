"""``LLMPULSE_WORKERS=N``: what each worker of the fleet is told, and the restart backoff."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pytest

from llmpulse.config import load_settings
from llmpulse.errors import ConfigError
from llmpulse.supervisor.child import Backoff, Child
from llmpulse.supervisor.members import check_fleet, member_env


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
