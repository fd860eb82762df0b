"""Broker health: the gauge and the outage log from probe results, with a fake clock."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry

from llmpulse.metrics import build_metrics
from llmpulse.streams import broker_health
from llmpulse.streams.broker_health import BrokerHealth
from llmpulse.streams.library_logs import LibraryLogQuieter
from llmpulse.streams.metadata_backoff import MetadataBackoff


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Broker:
    """The probe's answers: None while up, an error while down."""

    def __init__(self) -> None:
        self.error: str | None = None

    def __call__(self) -> str | None:
        return self.error


def _health(clock: Clock, broker: Broker) -> tuple[BrokerHealth, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = build_metrics(registry)
    return BrokerHealth(broker, metrics.broker_up, "kafka:9092", clock=clock), registry


def _gauge(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("llmpulse_broker_up")


def _record(msg: str, *args: object, level: int = logging.ERROR,
            name: str = "aiokafka") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_down_after_consecutive_failures_and_up_after_one_success(
        caplog: pytest.LogCaptureFixture) -> None:
    clock, broker = Clock(), Broker()
    health, registry = _health(clock, broker)
    assert _gauge(registry) == 1
    broker.error = "Connection refused"
    assert health.step() == broker_health.RETRY_AFTER_S
    assert _gauge(registry) == 1  # one failure is not an outage
    with caplog.at_level(logging.INFO, logger=broker_health.__name__):
        health.step()
        assert _gauge(registry) == 0
        for _ in range(100):  # a long outage: one summary per SUMMARY_EVERY_S
            clock.now += 1.0
            health.step()
        broker.error = None
        clock.now += 1.0
        assert health.step() == broker_health.PROBE_EVERY_S
    assert _gauge(registry) == 1
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unreachable (kafka:9092): Connection refused" in m for m in messages) == 1
    assert sum("still unreachable" in m for m in messages) == 100 // 30
    assert sum("back (kafka:9092) after 101 s" in m for m in messages) == 1
    assert len(messages) == 2 + 100 // 30


def test_quieter_passes_each_kind_once_then_everything_is_held_while_down() -> None:
    clock, woken = Clock(), []
    quieter = LibraryLogQuieter(clock, on_trouble=lambda: woken.append(1))
    refused = "Unable connect to node with id %s: %s"
    assert quieter.filter(_record(refused, 1, "refused"))
    assert not quieter.filter(_record(refused, 1, "refused again"))
    assert quieter.filter(_record(refused, 2, "another node"))
    assert quieter.filter(_record("Unable to update metadata from %s", [1]))
    assert len(woken) == 4  # each warning asks for a probe
    quieter.set_down(True)
    assert not quieter.filter(_record(refused, 3, "refused"))
    assert not quieter.filter(_record("Joined group", level=logging.INFO))
    assert quieter.filter(_record("crashed", level=logging.CRITICAL))
    quieter.set_down(False)
    assert quieter.filter(_record(refused, 1, "refused"))  # a new outage starts afresh
    clock.now += 31.0
    suppressed = quieter.take_suppressed()
    assert sum(suppressed.values()) == 3
    assert quieter.take_suppressed() == {}


def test_metadata_backoff_doubles_to_its_cap_and_resets_on_success() -> None:
    backoff = MetadataBackoff(first=0.1, cap=1.0)
    assert [backoff.after(False) for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert backoff.after(True) == 0.0
    assert backoff.after(False) == 0.1
