"""The pipeline's Kafka output: bursts through librdkafka, delivery awaited.

The worker writes its outputs (dead letters, signals) in
bursts once per batch and must know they are durable before it acknowledges
the input.  confluent-kafka produces in C at a few microseconds a message, far
below a Python client's cost, and ``flush()`` waits for every delivery; it runs
in a worker thread so the event loop keeps consuming.

Broker outages: the worker's producer (``timeout=None``) waits for the broker
as long as it takes (librdkafka retries with ``message.timeout.ms=0``, i.e.
never gives a message up), so the batch and every acknowledgement behind it
pause, and nothing is lost or sent twice (idempotence).  It reconnects at most
:data:`RECONNECT_BACKOFF_MAX_MS` after the broker answers again, instead of
librdkafka's default 10 s.  Delivery errors that are not an outage (a message
too large, an unknown topic) still fail the burst at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmpulse.errors import BrokerError

#: librdkafka's own log lines go to this logger (not to stderr), so that a
#: broker outage is reported once (see :mod:`llmpulse.streams.broker_health`).
LIBRDKAFKA_LOGGER = "llmpulse.librdkafka"
#: Longest pause between two connection attempts to a broker that is down: the
#: producer is back at most this long (plus librdkafka's 50 % jitter) after it.
RECONNECT_BACKOFF_MAX_MS = 1000
#: How often a waiting burst checks whether the producer was closed.
_FLUSH_SLICE_S = 1.0


@dataclass(frozen=True, slots=True)
class OutMessage:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    partition: int | None = None  # None: by key (murmur2), as producers do


class BurstProducer:
    """Sends a burst of messages and returns once the broker has all of them.

    ``timeout``: seconds a burst may wait for the broker before it fails; None
    (the worker) waits until the broker is back or :meth:`close` is called.
    """

    def __init__(self, bootstrap: str, max_message_bytes: int,
                 timeout: float | None = None,
                 security: Mapping[str, Any] | None = None) -> None:
        self._config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "partitioner": "murmur2_random",
            "message.max.bytes": max_message_bytes,
            "queue.buffering.max.messages": 1_000_000,
            "reconnect.backoff.max.ms": RECONNECT_BACKOFF_MAX_MS,
            "logger": logging.getLogger(LIBRDKAFKA_LOGGER),
            **(security or {}),  # TLS/SASL: llmpulse.kafka_security
        }
        if timeout is None:
            self._config["message.timeout.ms"] = 0  # retried until delivered
        self._timeout = timeout
        self._closed = threading.Event()
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
        remaining = self._wait(producer, errors)
        if errors or remaining:
            reason = errors[:3] or ("producer closed" if self._closed.is_set() else "timed out")
            raise BrokerError(f"{len(errors) + remaining} of {len(messages)} messages not "
                              f"delivered: {reason}")

    def _wait(self, producer: Any, errors: list[str]) -> int:
        """Messages still undelivered when the burst gives up (0: all delivered)."""
        if self._timeout is not None:
            return int(producer.flush(self._timeout))
        remaining = int(producer.flush(_FLUSH_SLICE_S))
        while remaining and not errors and not self._closed.is_set():
            remaining = int(producer.flush(_FLUSH_SLICE_S))
        return remaining

    def _ensure(self) -> Any:
        if self._producer is None:
            from confluent_kafka import Producer

            self._producer = Producer(self._config)
        return self._producer

    def close(self, timeout: float = 30.0) -> None:
        """Deliver what is queued (up to ``timeout`` seconds), then let go of the producer;
        a burst still waiting for the broker fails."""
        self._closed.set()
        if self._producer is not None:
            self._producer.flush(timeout if self._timeout is None else self._timeout)
            self._producer = None
