"""Read and replay the dead-letter topic (confluent-kafka; used by the CLI and tests)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

from llmpulse.config import Settings
from llmpulse.errors import ConfigError

HEADER_PREFIX = "llmpulse."


def _broker(settings: Settings) -> str:
    if settings.broker is None:
        raise ConfigError("LLMPULSE_BROKER: not set; the dead-letter topic lives on the broker")
    return settings.broker


def _messages(settings: Settings, group: str, from_committed: bool,
              limit: int | None, drain: bool = False) -> Iterator[tuple[Any, Any]]:
    """(consumer, message) for every dead letter up to the end of the topic as it is now."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": _broker(settings), "group.id": group,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    topic = settings.topic("dlq")
    try:
        meta = consumer.list_topics(topic, timeout=15).topics[topic]
        if meta.error is not None:
            raise ConfigError(f"dead-letter topic {topic}: {meta.error}")
        parts = [TopicPartition(topic, p) for p in sorted(meta.partitions)]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=15)[1] for tp in parts}
        if from_committed:
            parts = consumer.committed(parts, timeout=15)
            for tp in parts:
                tp.offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
        else:
            for tp in parts:
                tp.offset = OFFSET_BEGINNING
        consumer.assign(parts)
        yield from _until_end(consumer, ends, limit, drain)
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
    for _, message in _messages(settings, group, from_committed=False, limit=limit, drain=True):
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

    Progress is committed under the group ``<app_id>-dlq-replay``, so a letter is
    replayed once; a letter that fails again lands in the DLQ as a new letter.
    """
    from confluent_kafka import Producer, TopicPartition

    producer = Producer({"bootstrap.servers": _broker(settings), "partitioner": "murmur2_random"})
    sent = 0
    for consumer, message in _messages(settings, f"{settings.app_id}-dlq-replay",
                                       from_committed=True, limit=limit):
        letter = _describe(message)
        if reason is None or letter["reason"] == reason:
            producer.produce(letter["source_topic"], key=message.key(), value=message.value())
            sent += 1
        producer.flush(30)
        consumer.commit(offsets=[TopicPartition(message.topic(), message.partition(),
                                                message.offset() + 1)], asynchronous=False)
    return sent
