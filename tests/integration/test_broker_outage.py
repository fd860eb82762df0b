"""A broker outage with real processes: the worker reports it once, waits, and resumes.

Each test runs its own broker (the session's brokers are shared and must stay up).
Apache Kafka restarts on the same port and data directory, so everything produced
before the outage must be stored; the embedded broker keeps its data in memory,
so after its restart only the worker's own behaviour is checked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from llmpulse.embedded_broker import EmbeddedBroker
from llmpulse.procs import WorkerProcess
from llmpulse.streams import broker_health
from tests.conftest import BROKER_KINDS, start_or_fail
from tests.harness.apache_kafka import ApacheKafka
from tests.integration.stack import make_stack, wait_metrics

pytestmark = pytest.mark.integration

#: broker_health's own bound for noticing a lost broker (7.2 s), with room for a busy machine.
DETECT_S = 4 * (broker_health.PROBE_EVERY_S + broker_health.MIN_GAP_S
                + broker_health.DOWN_AFTER * broker_health.PROBE_TIMEOUT_S
                + broker_health.RETRY_AFTER_S)
#: How long the broker stays away once the worker noticed.
OUTAGE_S = 15.0
#: Log lines an outage may cost: the first of each kind of client message before the
#: outage is noticed (a dozen kinds seen), the lost/back lines, a summary per 30 s.
MAX_OUTAGE_LINES = 40


class LocalBroker(Protocol):
    def start_again(self, timeout: float = ...) -> str: ...


class Outage:
    """A test-local broker that can go away and come back on the same address."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.embedded = EmbeddedBroker(log_path=tmp_path / "tansu.log")
        self.kafka = ApacheKafka()
        self.bootstrap = ""

    def start(self) -> str:
        broker = self.embedded if self.kind == "embedded" else self.kafka
        start_or_fail(f"a test-local {self.kind} broker", broker.start)
        self.bootstrap = broker.bootstrap
        return self.bootstrap

    def down(self) -> None:
        if self.kind == "embedded":
            self.embedded.stop()
        else:
            self.kafka.halt()

    def up(self) -> None:
        broker: LocalBroker = self.embedded if self.kind == "embedded" else self.kafka
        broker.start_again(timeout=120)

    def close(self) -> None:
        self.embedded.stop()
        self.kafka.stop()


@pytest.fixture(params=BROKER_KINDS, ids=BROKER_KINDS)
def outage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Outage]:
    local = Outage(request.param, tmp_path)
    local.start()
    yield local
    local.close()


def _log_lines(worker: WorkerProcess) -> list[str]:
    """Log records (a traceback's lines belong to the record before them)."""
    text = worker.log_path.read_text(encoding="utf-8", errors="replace")
    return [line for line in text.splitlines() if line[:4].isdigit()]


def _broker_up(values: dict[str, float]) -> float:
    return values.get("llmpulse_broker_up", -1.0)


def test_broker_outage_is_reported_once_and_the_worker_resumes(outage: Outage,
                                                                tmp_path: Path) -> None:
    stack = make_stack(outage.bootstrap, tmp_path / "stack")
    worker = stack.worker("worker")
    try:
        first = stack.simulate(rate=None, count=300, seed=41)
        wait_metrics(worker, lambda m: m.get("llmpulse_calls_total", 0) >= first.calls,
                     timeout=90, what="the calls sent before the outage")
        # more calls, handed to the broker but not yet (all) processed when it goes
        in_flight = stack.simulate(rate=None, count=300, seed=42)
        before = len(_log_lines(worker))
        outage.down()
        wait_metrics(worker, lambda m: _broker_up(m) == 0, timeout=DETECT_S,
                     what="llmpulse_broker_up to drop to 0")
        time.sleep(OUTAGE_S)
        assert worker.running(), worker.log_tail()
        outage.up()
        wait_metrics(worker, lambda m: _broker_up(m) == 1, timeout=60,
                     what="llmpulse_broker_up to come back to 1")
        if outage.kind == "kafka":
            after = stack.simulate(rate=None, count=300, seed=43)
            total = first.calls + in_flight.calls + after.calls
            wait_metrics(worker, lambda m: m.get("llmpulse_calls_total", 0) >= total,
                         timeout=120, what=f"all {total} calls after the outage")
        else:  # its data is gone with it; the worker lives on and reconnects
            time.sleep(5)
            assert worker.running(), worker.log_tail()
        lines = _log_lines(worker)[before:]
    finally:
        if outage.kind == "kafka":
            assert worker.stop() == 0, worker.log_tail()
        else:  # its producer waits for topics and producer ids the new broker never had
            worker.kill()
    noise = "\n".join(lines)
    assert len(lines) <= MAX_OUTAGE_LINES, f"{len(lines)} lines about the outage:\n{noise}"
    assert sum("Kafka broker unreachable" in line for line in lines) == 1, noise
    assert sum("Kafka broker back" in line for line in lines) == 1, noise
    if outage.kind == "kafka":
        [[rows, unique]] = stack.sql(
            "SELECT count(), uniqExact(request_id) FROM inference_events FINAL")
        assert rows == unique == total
