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


def read_dead_letters(settings: Settings, limit: int | None = None,
                      idle_timeout: float = 3.0) -> Iterator[dict[str, Any]]:
    """Every dead letter from the start of the topic, until none arrives for ``idle_timeout``."""
    from confluent_kafka import Consumer

    consumer = Consumer({
        "bootstrap.servers": _broker(settings),
        "group.id": f"llmpulse-dlq-reader-{uuid.uuid4().hex}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([settings.topic("dlq")])
    seen = 0
    try:
        while limit is None or seen < limit:
            message = consumer.poll(idle_timeout)
            if message is None:
                return
            if message.error():
                continue
            seen += 1
            yield _describe(message)
    finally:
        consumer.close()


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
    """Produce the original bytes of dead letters back to their source topics."""
    from confluent_kafka import Consumer, Producer

    broker = _broker(settings)
    producer = Producer({"bootstrap.servers": broker, "partitioner": "murmur2_random"})
    consumer = Consumer({
        "bootstrap.servers": broker,
        "group.id": f"{settings.app_id}-dlq-replay",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([settings.topic("dlq")])
    sent = 0
    try:
        while limit is None or sent < limit:
            message = consumer.poll(3.0)
            if message is None:
                break
            if message.error():
                continue
            letter = _describe(message)
            if reason is None or letter["reason"] == reason:
                producer.produce(letter["source_topic"], key=message.key(), value=message.value())
                sent += 1
            consumer.commit(message=message, asynchronous=False)
        producer.flush(30)
    finally:
        consumer.close()
    return sent
