"""A short fault soak (the long one is bench/soak.py): worker killed and stopped,
broker restarted, store disk filled, webhook receiver killed, at random moments,
under steady traffic; then nothing may be lost, duplicated, misfiled or late, and
committed offsets must reach the end."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmpulse.embedded_broker import EmbeddedBroker
from tests.conftest import start_or_fail
from tests.harness.apache_kafka import ApacheKafka
from tests.harness.soak import Broker, Soak, SoakConfig


def _check(report_summary: dict[str, object], problems: dict[str, float]) -> None:
    assert not problems, f"soak found {problems}: {report_summary}"


def test_soak_on_apache_kafka(tmp_path: Path) -> None:
    kafka = ApacheKafka()
    start_or_fail("Apache Kafka", kafka.start)
    try:
        config = SoakConfig(duration_s=100, rate=80, seed=11, fault_every_s=(6.0, 14.0))
        soak = Soak(kafka.bootstrap, Broker(lambda: kafka.restart(down_s=2.0)), tmp_path,
                    config)
        report = soak.run()
    finally:
        kafka.stop()
    summary = report.summary()
    print(summary)
    assert report.expected_calls > 2000 and report.faults, summary
    _check(summary, report.problems())


def test_soak_on_the_embedded_broker(embedded_broker: EmbeddedBroker, tmp_path: Path) -> None:
    """The embedded broker keeps topics in memory: everything but its restart."""
    config = SoakConfig(duration_s=60, rate=80, seed=12, fault_every_s=(6.0, 12.0),
                        faults=("worker_kill", "worker_term", "disk_full", "receiver_kill"))
    report = Soak(embedded_broker.bootstrap, Broker(None), tmp_path, config).run()
    summary = report.summary()
    print(summary)
    assert report.expected_calls > 1000 and report.faults, summary
    _check(summary, report.problems())


pytestmark = pytest.mark.integration
