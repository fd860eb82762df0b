"""Read and replay the dead-letter topic (confluent-kafka; used by the CLI and tests)."""

from __future__ import annotations

import base64
import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

from llmpulse.config import Settings
from llmpulse.errors import BrokerError, ConfigError

HEADER_PREFIX = "llmpulse."


def _broker(settings: Settings) -> str:
    if settings.broker is None:
        raise ConfigError("LLMPULSE_BROKER: not set; the dead-letter topic lives on the broker")
    return settings.broker


@contextlib.contextmanager
def _reader(settings: Settings, group: str, from_committed: bool
            ) -> Iterator[tuple[Any, dict[int, int]]]:
    """A consumer assigned to every DLQ partition, and each partition's end offset now."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": _broker(settings), "group.id": group,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    topic = settings.topic("dlq")
    try:
        meta = consumer.list_topics(timeout=15).topics.get(topic)
        if meta is None or meta.error is not None:
            raise ConfigError(f"no dead-letter topic {topic} on {settings.broker}")
        parts = [TopicPartition(topic, p) for p in sorted(meta.partitions)]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=15)[1] for tp in parts}
        if from_committed:
            parts = consumer.committed(parts, timeout=15)
        for tp in parts:
            if not from_committed or tp.offset < 0:
                tp.offset = OFFSET_BEGINNING
        consumer.assign(parts)
        yield consumer, ends
    finally:
        consumer.close()


def _until_end(consumer: Any, ends: dict[int, int], limit: int | None, drain: bool
               ) -> Iterator[tuple[Any, Any]]:
    remaining = {p for p, end in ends.items() if end > 0}
    seen = 0
    idle = 0
    while remaining and (limit is None or seen < limit) and idle < 20:
        message = consumer.poll(1.0)
        if message is None:
            idle += 1
            continue
        idle = 0
        if message.error():
            continue
        if message.offset() + 1 >= ends[message.partition()]:
            remaining.discard(message.partition())
        seen += 1
        yield consumer, message
    # Some brokers report a high watermark below the last offset (seen on Tansu):
    # a reader keeps reading until the topic stays quiet.
    while drain and (limit is None or seen < limit):
        message = consumer.poll(1.0)
        if message is None:
            return
        if not message.error():
            seen += 1
            yield consumer, message


def read_dead_letters(settings: Settings, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Every dead letter from the start of the topic to its current end."""
    group = f"{settings.app_id}-dlq-reader-{uuid.uuid4().hex[:8]}"
    with _reader(settings, group, from_committed=False) as (consumer, ends):
        for _, message in _until_end(consumer, ends, limit, drain=True):
            yield _describe(message)


def _describe(message: Any) -> dict[str, Any]:
    headers = {k: v.decode("utf-8", "replace") for k, v in (message.headers() or [])
               if k.startswith(HEADER_PREFIX)}
    value = message.value() or b""
    try:
        shown: Any = value.decode("utf-8")
    except UnicodeDecodeError:
        shown = {"base64": base64.b64encode(value).decode()}
    return {
        "reason": headers.get("llmpulse.reason", ""),
        "detail": headers.get("llmpulse.detail", ""),
        "source_topic": headers.get("llmpulse.source.topic", ""),
        "source_partition": int(headers.get("llmpulse.source.partition", "-1")),
        "source_offset": int(headers.get("llmpulse.source.offset", "-1")),
        "key": (message.key() or b"").decode("utf-8", "replace"),
        "value": shown,
        "dlq_offset": message.offset(),
        "dlq_partition": message.partition(),
    }


def replay_dead_letters(settings: Settings, reason: str | None = None,
                        limit: int | None = None) -> int:
    """Produce the original bytes of dead letters back to their source topics.

    Reads every letter not yet replayed first, then sends the chosen ones, then
    commits: nothing is sent while reading, so letters that fail again (and come
    back to the DLQ) are not picked up by the same run.  Progress is kept per
    ``--reason`` under the group ``<app_id>-dlq-replay[-<reason>]``; a failed
    delivery aborts before the commit, so the letters stay replayable.
    """
    from confluent_kafka import Producer, TopicPartition

    group = f"{settings.app_id}-dlq-replay" + (f"-{reason}" if reason else "")
    producer = Producer({"bootstrap.servers": _broker(settings), "partitioner": "murmur2_random",
                         "enable.idempotence": True})
    failures: list[str] = []

    def delivered(err: Any, _: Any) -> None:
        if err is not None:
            failures.append(str(err))

    with _reader(settings, group, from_committed=True) as (consumer, ends):
        batch = [message for _, message in _until_end(consumer, ends, limit, drain=True)]
        sent = 0
        for message in batch:
            letter = _describe(message)
            if reason is None or letter["reason"] == reason:
                producer.produce(letter["source_topic"], key=message.key(),
                                 value=message.value(), on_delivery=delivered)
                sent += 1
        producer.flush(60)
        if failures or len(producer):
            raise BrokerError(f"replay failed, nothing committed: {failures[:3]}")
        done: dict[int, int] = {}
        for message in batch:
            done[message.partition()] = max(done.get(message.partition(), 0),
                                            message.offset() + 1)
        if done:
            consumer.commit(offsets=[TopicPartition(settings.topic("dlq"), p, o)
                                     for p, o in done.items()], asynchronous=False)
    return sent
