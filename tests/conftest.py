"""Session-wide brokers: each starts at most once, and only when a test asks for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from llmpulse.embedded_broker import EmbeddedBroker
from llmpulse.errors import BrokerError
from tests.harness.apache_kafka import ApacheKafka
from tests.harness.store_server import HTTP_STORE_BROKERS, stop_started

BROKER_KINDS = ["embedded", "kafka"]


def start_or_fail(what: str, start: Callable[[], str]) -> None:
    """Run ``start``; a broker that cannot start fails the tests that need it."""
    try:
        start()
        return
    except BrokerError as exc:
        message = f"{what} could not start: {exc}"
    pytest.fail(message, pytrace=False)  # outside the except: no chained traceback


@pytest.fixture(scope="session")
def embedded_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """The in-memory Tansu broker; its output goes to a session temp dir."""
    broker = EmbeddedBroker(log_path=tmp_path_factory.mktemp("embedded-broker") / "tansu.log")
    start_or_fail("the embedded broker", broker.start)
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def apache_kafka() -> Iterator[ApacheKafka]:
    """A real Apache Kafka 4.x node (KRaft); jars are fetched with Maven on first use.

    Stacks on it keep their store behind `llmpulse store serve` (see
    ``tests.harness.store_server.HTTP_STORE_BROKERS``)."""
    kafka = ApacheKafka()
    start_or_fail("Apache Kafka", kafka.start)
    HTTP_STORE_BROKERS.add(kafka.bootstrap)
    yield kafka
    HTTP_STORE_BROKERS.discard(kafka.bootstrap)
    kafka.stop()


@pytest.fixture(autouse=True)
def _stop_store_servers() -> Iterator[None]:
    """A test's store servers stop when it ends, passed or failed."""
    yield
    stop_started()


@pytest.fixture(scope="session", params=BROKER_KINDS, ids=BROKER_KINDS)
def broker(request: pytest.FixtureRequest) -> str:
    """The bootstrap address of each broker kind in turn."""
    if request.param == "embedded":
        embedded: EmbeddedBroker = request.getfixturevalue("embedded_broker")
        return embedded.bootstrap
    kafka: ApacheKafka = request.getfixturevalue("apache_kafka")
    return kafka.bootstrap
