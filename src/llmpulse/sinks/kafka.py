"""The pipeline's Kafka output: bursts through librdkafka, delivery awaited.

The worker writes its outputs (dead letters, signals) in
bursts once per batch and must know they are durable before it acknowledges
the input.  confluent-kafka produces in C at a few microseconds a message, far
below a Python client's cost, and ``flush()`` waits for every delivery; it runs
in a worker thread so the event loop keeps consuming.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llmpulse.errors import BrokerError


@dataclass(frozen=True, slots=True)
class OutMessage:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    partition: int | None = None  # None: by key (murmur2), as producers do


class BurstProducer:
    """Sends a burst of messages and returns once the broker has all of them."""

    def __init__(self, bootstrap: str, max_message_bytes: int, timeout: float = 60.0) -> None:
        self._config = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "partitioner": "murmur2_random",
            "message.max.bytes": max_message_bytes,
            "queue.buffering.max.messages": 1_000_000,
        }
        self._timeout = timeout
        self._producer: Any = None

    async def send_all(self, messages: Sequence[OutMessage]) -> None:
        if messages:
            await asyncio.to_thread(self._send_blocking, messages)

    def _send_blocking(self, messages: Sequence[OutMessage]) -> None:
        producer = self._ensure()
        errors: list[str] = []

        def delivered(err: Any, _: Any) -> None:
            if err is not None:
                errors.append(str(err))

        for m in messages:
            while True:
                try:
                    extra = {} if m.partition is None else {"partition": m.partition}
                    producer.produce(m.topic, key=m.key, value=m.value, headers=list(m.headers),
                                     on_delivery=delivered, **extra)
                    break
                except BufferError:
                    producer.poll(0.05)
        remaining = producer.flush(self._timeout)
        if errors or remaining:
            raise BrokerError(f"{len(errors) + remaining} of {len(messages)} messages not "
                              f"delivered: {errors[:3] or 'timed out'}")

    def _ensure(self) -> Any:
        if self._producer is None:
            from confluent_kafka import Producer

            self._producer = Producer(self._config)
        return self._producer

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(self._timeout)
            self._producer = None
