"""Waiting for the store at start-up: the outage log, the error classes, the wait loop."""

from __future__ import annotations

import itertools
import logging
import socket
from collections.abc import Callable

import clickhouse_connect
import pytest

from llmpulse.config import load_settings
from llmpulse.errors import ConfigError, StoreError, StoreLocked
from llmpulse.health import Readiness
from llmpulse.metrics import build_metrics
from llmpulse.outage import OutageLog, backoff
from llmpulse.runner import worker_readiness
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.store_wait import describe, open_store, transient


def test_an_outage_is_logged_once_per_change_plus_a_summary_every_30s() -> None:
    log = OutageLog("the store", summary_every_s=30)
    lines = [log.failed(t, "refused") for t in range(0, 95, 5)]  # every 5 s for 90 s
    said = [(t, line) for t, line in zip(range(0, 95, 5), lines, strict=True) if line]
    assert [t for t, _ in said] == [0, 30, 60, 90]
    assert "unreachable (refused)" in said[0][1] and "after 60s (13 attempts)" in said[2][1]
    assert log.failed(91, "no such host") == "the store is still unreachable, now: no such host"
    assert log.down and log.down_for(100) == 100
    assert log.succeeded(100) == "the store is reachable after 100s (20 failed attempts)"
    assert log.succeeded(101) is None and not log.down
    assert log.failed(200, "refused") is not None  # a new outage is announced again


def test_backoff_doubles_up_to_its_cap() -> None:
    assert list(itertools.islice(backoff(0.5, 2, 10), 7)) == [0.5, 1, 2, 4, 8, 10, 10]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def error_of(action: Callable[[], object]) -> BaseException:
    try:
        action()
    except Exception as exc:
        return exc
    raise AssertionError("no error")


def test_unreachable_servers_and_locked_stores_are_worth_waiting_for() -> None:
    refused = error_of(lambda: clickhouse_connect.get_client(
        dsn=f"http://127.0.0.1:{closed_port()}/"))
    assert transient(refused) and describe(refused).startswith("ConnectionRefusedError")
    wrapped = StoreError("cannot open ClickHouse")
    wrapped.__cause__ = refused
    assert transient(wrapped)
    assert describe(wrapped) == describe(refused)  # stable: no query id in it
    locked = StoreLocked("in use")
    assert transient(locked) and "locked by another process" in describe(locked)
    assert transient(RuntimeError("HTTPDriver returned response code 503"))
    assert not transient(RuntimeError("Code: 516. Authentication failed"))
    assert not transient(ValueError("Port could not be cast to integer value"))


@pytest.mark.parametrize("url", ["http://", "http://clickhouse:notaport/db", "https://:8123/"])
def test_a_malformed_store_url_is_a_setting_error_at_once(url: str) -> None:
    with pytest.raises(ConfigError, match="LLMPULSE_CLICKHOUSE_URL"):
        load_settings({"LLMPULSE_CLICKHOUSE_URL": url})


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_the_worker_waits_reports_down_then_opens(caplog: pytest.LogCaptureFixture) -> None:
    metrics = build_metrics()
    readiness = worker_readiness(metrics)
    time = FakeTime()
    opened = object()
    seen_down: list[float] = []

    def opener(_: object) -> ClickHouseStore:
        seen_down.append(metrics.store_up._value.get())
        if time.now < 100:
            raise StoreLocked("in use by pid 42")
        return opened  # type: ignore[return-value]

    settings = load_settings({"LLMPULSE_CLICKHOUSE_URL": "chdb:///tmp/x"})
    with caplog.at_level(logging.INFO, logger="llmpulse.sinks.store_wait"):
        store = open_store(settings, readiness, opener=opener, clock=time.clock,
                           sleep=time.sleep)
    assert store is opened and readiness.ready and metrics.store_up._value.get() == 1
    assert seen_down[1:] == [0] * (len(seen_down) - 1)  # reported down while waiting
    assert time.sleeps[:6] == [0.5, 1, 2, 4, 8, 10] and max(time.sleeps) == 10
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 5  # down, 3 summaries (30, 60, 90 s), back
    assert "locked by another process" in messages[0] and "reachable after" in messages[-1]


def test_store_wait_s_gives_up_with_a_clear_error() -> None:
    time = FakeTime()
    readiness = Readiness()

    def opener(_: object) -> ClickHouseStore:
        raise StoreLocked("in use")

    settings = load_settings({"LLMPULSE_CLICKHOUSE_URL": "chdb:///tmp/x",
                              "LLMPULSE_STORE_WAIT_S": "5"})
    with pytest.raises(StoreError, match=r"gave up after 5s \(LLMPULSE_STORE_WAIT_S=5\)"):
        open_store(settings, readiness, opener=opener, clock=time.clock, sleep=time.sleep)
    assert time.now == 5 and readiness.down() == ["store"] and not readiness.ready


def test_an_error_waiting_cannot_cure_fails_at_once() -> None:
    time = FakeTime()
    readiness = Readiness()

    def opener(_: object) -> ClickHouseStore:
        raise RuntimeError("Code: 516. DB::Exception: Authentication failed")

    settings = load_settings({"LLMPULSE_CLICKHOUSE_URL": "http://u:p@127.0.0.1:8123/"})
    with pytest.raises(StoreError, match="Authentication failed"):
        open_store(settings, readiness, opener=opener, clock=time.clock, sleep=time.sleep)
    assert time.sleeps == []
