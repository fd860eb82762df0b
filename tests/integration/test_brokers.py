"""Topic creation and a keyed produce/consume round trip on every broker kind."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from confluent_kafka import Consumer, Message, Producer, murmur2

from llmpulse.errors import BrokerError
from llmpulse.topics import admin_client, ensure_topics, wait_for_broker

pytestmark = pytest.mark.integration


def unique(prefix: str) -> str:
    """Topic names are unique per test: the brokers live for the whole session."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def partition_counts(bootstrap: str) -> dict[str, int]:
    metadata = admin_client(bootstrap).list_topics(timeout=10)
    return {name: len(topic.partitions) for name, topic in metadata.topics.items()}


def test_wait_for_broker_reaches_it(broker: str) -> None:
    wait_for_broker(broker, timeout=10)


def test_ensure_topics_creates_requested_partitions(broker: str) -> None:
    wanted = {unique("calls"): 3, unique("feedback"): 3, unique("single"): 1}
    ensure_topics(broker, wanted)
    counts = partition_counts(broker)
    assert {name: counts.get(name) for name in wanted} == wanted


def test_ensure_topics_again_is_a_no_op(broker: str) -> None:
    wanted = {unique("calls"): 2, unique("feedback"): 2}
    ensure_topics(broker, wanted)
    ensure_topics(broker, wanted)
    ensure_topics(broker, {next(iter(wanted)): 2})
    counts = partition_counts(broker)
    assert {name: counts.get(name) for name in wanted} == wanted


def test_concurrent_creation_is_tolerated(broker: str) -> None:
    wanted = {unique("calls"): 3, unique("feedback"): 3}
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: ensure_topics(broker, wanted), range(4)))
    assert results == [None] * 4
    counts = partition_counts(broker)
    assert {name: counts.get(name) for name in wanted} == wanted


def test_mismatched_partition_count_names_the_topic(broker: str) -> None:
    topic, fresh = unique("calls"), unique("fresh")
    ensure_topics(broker, {topic: 2})
    with pytest.raises(BrokerError) as raised:
        ensure_topics(broker, {fresh: 4, topic: 4})
    message = str(raised.value)
    assert topic in message
    assert "2 partitions" in message and "4 are wanted" in message
    assert "co-partitioned" in message
    assert partition_counts(broker)[topic] == 2


def test_invalid_partition_count_is_refused(broker: str) -> None:
    with pytest.raises(BrokerError, match="at least 1"):
        ensure_topics(broker, {unique("empty"): 0})


def test_unreachable_broker_is_a_broker_error() -> None:
    with pytest.raises(BrokerError, match=r"cannot reach Kafka broker at 127\.0\.0\.1:1"):
        wait_for_broker("127.0.0.1:1", timeout=1.0)


def produce_keyed(bootstrap: str, topic: str, count: int) -> dict[bytes, int]:
    """Produce ``count`` keyed messages; returns key -> partition as acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
                         "acks": "all", "linger.ms": 5})
    placed: dict[bytes, int] = {}
    errors: list[str] = []

    def delivered(err: object, msg: Message) -> None:
        if err is not None:
            errors.append(str(err))
            return
        key = msg.key()
        assert isinstance(key, bytes)
        placed.setdefault(key, msg.partition() or 0)

    for i in range(count):
        producer.produce(topic, key=f"call-{i % 10}".encode(), value=f"v{i}".encode(),
                         on_delivery=delivered)
    assert producer.flush(30) == 0
    assert errors == []
    return placed


def consume(bootstrap: str, topic: str, count: int, timeout: float = 60.0) -> list[Message]:
    # Tansu answers the second JoinGroup only after session.timeout.ms / 2.
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("group"),
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000})
    consumer.subscribe([topic])
    received: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while len(received) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            received.append(msg)
    finally:
        consumer.close()
    return received


def test_keyed_round_trip(broker: str) -> None:
    topic = unique("roundtrip")
    ensure_topics(broker, {topic: 3})
    placed = produce_keyed(broker, topic, 50)
    received = consume(broker, topic, 50)
    assert len(received) == 50
    values = sorted(int((m.value() or b"v-1")[1:]) for m in received)
    assert values == list(range(50))
    for msg in received:
        key = msg.key()
        assert isinstance(key, bytes)
        assert msg.partition() == placed[key] == murmur2(key, 3)
    by_key: dict[bytes, list[int]] = {}
    for msg in received:
        by_key.setdefault(msg.key() or b"", []).append(msg.offset() or 0)
    assert all(offsets == sorted(offsets) for offsets in by_key.values())
