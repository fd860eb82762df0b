"""Decode and validate raw input bytes into events (pure; no I/O)."""

from __future__ import annotations

from typing import Any

import orjson
from aiokafka.partitioner import murmur2
from pydantic import ValidationError

from llmpulse.errors import InvalidEvent
from llmpulse.schema import (
    SCHEMA_VERSION,
    FeedbackEvent,
    InferenceEvent,
    RequestEvent,
    ResponseEvent,
)

Event = RequestEvent | ResponseEvent | InferenceEvent | FeedbackEvent

#: Input topic role -> the event type it carries.
ROLE_TYPES: dict[str, type[Event]] = {
    "requests": RequestEvent,
    "responses": ResponseEvent,
    "inference": InferenceEvent,
    "feedback": FeedbackEvent,
}
ROLE_EVENT_TYPE = {"requests": "request", "responses": "response", "inference": "inference",
                   "feedback": "feedback"}
INPUT_ROLES = tuple(ROLE_TYPES)
MAX_EVENT_BYTES = 4 * 1024 * 1024


def decode(role: str, raw: bytes | None, key: bytes | None = None,
           partition: int | None = None, partitions: int | None = None) -> Event:
    """The validated event in ``raw``; raises :class:`InvalidEvent` with a reason code.

    ``event_type`` may be left out: the topic says what the event is.  When
    present it must match the topic.  Given the message's partition, the key
    must be the event's request_id and the partition the one the Java-default
    murmur2 partitioner picks for it: a call's events must share a partition
    to be joined.
    """
    if raw is None or not raw:
        raise InvalidEvent("empty", "message has no value")
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent("too_large", f"{len(raw)} bytes > {MAX_EVENT_BYTES}")
    try:
        data: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("not_json", str(exc)) from None
    if not isinstance(data, dict):
        raise InvalidEvent("not_object", f"expected a JSON object, got {type(data).__name__}")
    expected = ROLE_EVENT_TYPE[role]
    given = data.setdefault("event_type", expected)
    if given != expected:
        raise InvalidEvent("wrong_topic", f"event_type {given!r} on the {role} topic "
                                          f"(expects {expected!r})")
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise InvalidEvent("schema_version", f"schema_version {version!r} is not supported "
                                             f"(this worker reads {SCHEMA_VERSION})")
    try:
        event = ROLE_TYPES[role].model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent("invalid", _summary(exc)) from None
    if partition is not None and partitions is not None:
        _check_placement(event.request_id, key, partition, partitions)
    elif key is not None and key != event.request_id.encode():
        raise InvalidEvent("key_mismatch", "message key must be the request_id")
    return event


def _check_placement(request_id: str, key: bytes | None, partition: int,
                     partitions: int) -> None:
    if key is None:
        raise InvalidEvent("key_missing", "messages must be keyed by request_id")
    if key != request_id.encode():
        raise InvalidEvent("key_mismatch", "message key must be the request_id")
    expected = partition_of(request_id, partitions)
    if partition != expected:
        raise InvalidEvent("wrong_partition", (
            f"partition {partition}, but murmur2(key) gives {expected}: produce with the "
            "Java-default murmur2 partitioner (librdkafka: partitioner=murmur2_random)"))


def _summary(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "event"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def partition_of(request_id: str, partitions: int) -> int:
    """The partition the Java-default (murmur2) partitioner gives a request_id key."""
    return int((murmur2(request_id.encode()) & 0x7FFFFFFF) % partitions)
