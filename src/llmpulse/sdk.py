"""Producer SDK that services embed to publish LLM calls and feedback to Kafka.

Usage::

    with LlmPulseClient("kafka-0:9092") as pulse:
        rid = pulse.record_request(provider="openai", request_model="gpt-4o", route="chat")
        ...
        pulse.record_response(request_id=rid, input_tokens=812, output_tokens=95)

Every ``record_*`` method validates the event with the wire schema *before*
producing (a :class:`pydantic.ValidationError` is raised in the caller, nothing
is sent), keys the message by ``request_id`` and returns without waiting for the
broker: delivery results arrive in the background and are counted in
:attr:`LlmPulseClient.delivered` / :attr:`LlmPulseClient.failed`.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from pydantic import BaseModel

from llmpulse.errors import BrokerError
from llmpulse.schema import (
    FeedbackEvent,
    InferenceEvent,
    RequestEvent,
    ResponseEvent,
    now_utc,
    to_wire,
)

if TYPE_CHECKING:
    from confluent_kafka import KafkaError, Message, Producer

log = logging.getLogger(__name__)

E = TypeVar("E", bound=BaseModel)

Event = RequestEvent | ResponseEvent | InferenceEvent | FeedbackEvent

#: event_type -> topic role (the topic is ``topic_prefix + role``).
EVENT_TOPIC_ROLES: dict[str, str] = {
    "request": "requests",
    "response": "responses",
    "inference": "inference",
    "feedback": "feedback",
}

#: Partitioners that hash non-null keys exactly like the Java client (murmur2).
JAVA_COMPATIBLE_PARTITIONERS = ("murmur2_random", "murmur2")

DEFAULT_PRODUCER_CONFIG: dict[str, Any] = {
    "partitioner": "murmur2_random",
    "linger.ms": 5,
    "compression.type": "lz4",
    "enable.idempotence": True,
    "acks": "all",
}


def new_id() -> str:
    """A fresh random id (uuid4, 32 hex characters)."""
    return uuid.uuid4().hex


def hash_user(user_id: str, salt: str) -> str:
    """Pseudonymous ``user_hash``: hex SHA-256 of ``salt`` + NUL + ``user_id``.

    Keep the salt secret and stable: the same user then always maps to the same
    hash, and the hash cannot be reversed by trying known user ids.
    """
    return hashlib.sha256(f"{salt}\x00{user_id}".encode()).hexdigest()


def _warn_delivery_error(request_id: str, exc: Exception) -> None:
    log.warning("llmpulse event for request_id=%s was not delivered: %s", request_id, exc)


class LlmPulseClient:
    """Publishes llmpulse events with a ``confluent_kafka.Producer``.

    Messages are keyed by ``request_id`` and the producer uses the
    ``murmur2_random`` partitioner, which hashes keys exactly like the Java
    client's default partitioner.  The worker reads the topics with
    Faust/aiokafka, whose partitioner also hashes keys with murmur2; a request,
    its response and its feedback therefore land on the same partition number
    of ``llm.requests``, ``llm.responses`` and ``llm.feedback`` (the topics have
    equal partition counts), which is what lets the worker join them in a local
    table.  librdkafka's own default (``consistent_random``, CRC32) would break
    that co-partitioning, so ``producer_config`` may not select it.

    ``producer_config`` entries are librdkafka settings layered over the
    defaults (``linger.ms`` 5, ``compression.type`` lz4, idempotence on,
    ``acks`` all).  ``on_delivery_error(request_id, exc)`` is called from
    :meth:`poll`/:meth:`flush` (and from every ``record_*`` call) for each message
    the broker did not accept; by default a warning is logged.
    """

    def __init__(
        self,
        bootstrap: str,
        topic_prefix: str = "llm.",
        *,
        producer_config: Mapping[str, Any] | None = None,
        on_delivery_error: Callable[[str, Exception], None] | None = None,
        buffer_timeout: float = 10.0,
    ) -> None:
        from confluent_kafka import KafkaException, Producer

        config = {**DEFAULT_PRODUCER_CONFIG, **(producer_config or {})}
        config["bootstrap.servers"] = bootstrap.removeprefix("kafka://")
        if config["partitioner"] not in JAVA_COMPATIBLE_PARTITIONERS:
            raise ValueError(
                f"partitioner {config['partitioner']!r} breaks co-partitioning by request_id; "
                f"use one of {JAVA_COMPATIBLE_PARTITIONERS}"
            )
        self.topic_prefix = topic_prefix
        self.buffer_timeout = buffer_timeout
        self.delivered = 0
        self.failed = 0
        self._on_delivery_error = on_delivery_error or _warn_delivery_error
        self._producer: Producer = Producer(config)
        self._kafka_exception = KafkaException

    # -- typed helpers -------------------------------------------------------

    def record_request(self, event: RequestEvent | None = None, **fields: Any) -> str:
        """Publish that a call started; returns its request_id.

        Pass a built event or its fields by Python name (``request_model=...``);
        ``request_id`` (uuid4 hex) and ``start_time`` (now) are filled in when missing.
        """
        built = _build(RequestEvent, event, fields, request_id=new_id, start_time=now_utc)
        return self.send(built)

    def record_response(self, event: ResponseEvent | None = None, **fields: Any) -> str:
        """Publish that a call ended; ``request_id`` is required, ``end_time`` defaults to now."""
        built = _build(ResponseEvent, event, fields, end_time=now_utc)
        return self.send(built)

    def record_inference(self, event: InferenceEvent | None = None, **fields: Any) -> str:
        """Publish a whole call as one event; returns its request_id.

        ``start_time`` is required; ``request_id`` and ``end_time`` (now) are
        filled in when missing.
        """
        built = _build(InferenceEvent, event, fields, request_id=new_id, end_time=now_utc)
        return self.send(built)

    def record_feedback(self, event: FeedbackEvent | None = None, **fields: Any) -> str:
        """Publish feedback on an earlier call (``request_id`` required); returns feedback_id.

        ``feedback_id`` (uuid4 hex) and ``time`` (now) are filled in when missing.
        """
        built = _build(FeedbackEvent, event, fields, feedback_id=new_id, time=now_utc)
        self.send(built)
        return built.feedback_id

    def send(self, event: Event) -> str:
        """Publish an already validated event to its topic; returns its request_id."""
        role = EVENT_TOPIC_ROLES[event.event_type]
        value = orjson.dumps(to_wire(event))
        self.produce_raw(role, event.request_id.encode("utf-8"), value)
        return event.request_id

    # -- raw access, delivery and lifecycle ----------------------------------

    def produce_raw(self, topic_role: str, key: bytes | None, value: bytes) -> None:
        """Send arbitrary bytes to ``topic_prefix + topic_role`` (tools, tests, DLQ checks).

        Non-blocking; when the local queue is full, waits for room for at most
        ``buffer_timeout`` seconds, then raises :class:`~llmpulse.errors.BrokerError`
        (as for any other produce error, e.g. a message over ``message.max.bytes``).
        """
        topic = self.topic_prefix + topic_role
        deadline = time.monotonic() + self.buffer_timeout
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=self._delivery)
                break
            except BufferError as exc:
                if time.monotonic() >= deadline:
                    raise BrokerError(
                        f"producer queue still full after {self.buffer_timeout:.1f}s; "
                        "is the broker reachable?"
                    ) from exc
                self._producer.poll(0.1)
            except self._kafka_exception as exc:
                raise BrokerError(f"cannot produce to {topic}: {exc}") from exc
        self._producer.poll(0)

    def poll(self, timeout: float = 0.0) -> int:
        """Serve delivery callbacks; returns how many were served."""
        return self._producer.poll(timeout)

    def flush(self, timeout: float = 30.0) -> int:
        """Wait up to ``timeout`` s for every queued message; returns how many remain."""
        return self._producer.flush(timeout)

    def close(self, timeout: float = 30.0) -> int:
        """Flush; returns how many messages were still undelivered."""
        remaining = self.flush(timeout)
        if remaining:
            log.warning("llmpulse client closed with %d undelivered events", remaining)
        return remaining

    def __enter__(self) -> LlmPulseClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.delivered += 1
            return
        self.failed += 1
        from confluent_kafka import KafkaException

        key = msg.key()
        request_id = key.decode("utf-8", "replace") if isinstance(key, bytes) else ""
        try:
            self._on_delivery_error(request_id, KafkaException(err))
        except Exception:
            log.exception("on_delivery_error callback raised")


def _build(
    model: type[E],
    event: E | None,
    fields: dict[str, Any],
    **defaults: Callable[[], Any],
) -> E:
    """``event`` as is, or a validated ``model`` from ``fields`` with missing defaults filled."""
    if event is not None:
        if fields:
            raise TypeError("pass either a built event or keyword fields, not both")
        if not isinstance(event, model):
            raise TypeError(f"expected a {model.__name__}, got {type(event).__name__}")
        return event
    values = dict(fields)
    for name, factory in defaults.items():
        if values.get(name) is None:
            values[name] = factory()
    return model.model_validate(values)
