"""Decode and validate raw input bytes into events (pure; no I/O)."""

from __future__ import annotations

import contextlib
import json
from functools import lru_cache
from typing import Any, NamedTuple

import orjson
from aiokafka.partitioner import murmur2
from pydantic import ValidationError

from llmpulse.errors import InvalidEvent
from llmpulse.schema import (
    SANITIZED,
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
#: Every reason :func:`decode` gives an invalid event (the dead letters' ``llmpulse.reason``).
REASONS = frozenset({
    "empty", "too_large", "not_json", "not_object", "duplicate_key", "wrong_topic",
    "schema_version", "invalid", "empty_label", "key_missing", "key_mismatch",
    "wrong_partition",
})


class Decoded(NamedTuple):
    """A valid event, and the wire names of its fields that lost invisible characters."""

    event: Event
    sanitized: tuple[str, ...] = ()


def decode(role: str, raw: bytes | None, key: bytes | None = None,
           partition: int | None = None, partitions: int | None = None) -> Event:
    """The validated event in ``raw``; raises :class:`InvalidEvent` with a reason code.

    See :func:`decode_event`.
    """
    return decode_event(role, raw, key, partition, partitions).event


def decode_event(role: str, raw: bytes | None, key: bytes | None = None,
                 partition: int | None = None, partitions: int | None = None) -> Decoded:
    """The validated event in ``raw`` and what was cleaned in it; raises
    :class:`InvalidEvent` with a reason code from :data:`REASONS`.

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
    _check_unique_keys(raw, data)
    expected = ROLE_EVENT_TYPE[role]
    given = data.setdefault("event_type", expected)
    if given != expected:
        raise InvalidEvent("wrong_topic", f"event_type {given!r} on the {role} topic "
                                          f"(expects {expected!r})")
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise InvalidEvent("schema_version", f"schema_version {version!r} is not supported "
                                             f"(this worker reads {SCHEMA_VERSION})")
    model = ROLE_TYPES[role]
    context: dict[str, set[str]] = {}
    try:
        event = model.model_validate(data, context=context)
    except ValidationError as exc:
        empty = any(err["type"] == "empty_label" for err in exc.errors())
        raise InvalidEvent("empty_label" if empty else "invalid", _summary(exc)) from None
    if partition is not None and partitions is not None:
        _check_placement(event.request_id, key, partition, partitions)
    elif key is not None and key != event.request_id.encode():
        raise InvalidEvent("key_mismatch", "message key must be the request_id")
    cleaned = context.get(SANITIZED, ())
    return Decoded(event, tuple(sorted(model.model_fields[n].alias or n for n in cleaned)))


def _check_unique_keys(raw: bytes, data: dict[str, Any]) -> None:
    """Reject a JSON object with a key given twice at any depth (orjson keeps the last).

    Exact and cheap: each key in ``raw`` is followed by one ``:`` outside strings, and a
    ``:`` inside a string is a ``:`` of the decoded text unless written as an escape
    (``\\u003a``).  orjson writes the decoded data back with one ``:`` per key kept and
    every ``:`` of its strings as is, so ``raw`` holds more colons only if it repeated a
    key; then (or when escapes make the count unsure) a slower parse names the key.
    """
    escaped = b"\\u003" in raw
    unique: bool | None = None  # unknown with escapes, or nested deeper than orjson writes
    if not escaped:
        with contextlib.suppress(orjson.JSONEncodeError):
            unique = raw.count(b":") == orjson.dumps(data).count(b":")
    if unique:
        return
    try:
        json.loads(raw, object_pairs_hook=_unique_object)
    except _DuplicateKey as dup:
        raise InvalidEvent("duplicate_key", f"key {dup.key!r} appears twice in one object"
                           ) from None
    except (ValueError, RecursionError):  # orjson read it; only a repeat matters here
        if unique is False:
            raise InvalidEvent("duplicate_key", "a key appears twice in one object") from None


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise _DuplicateKey(name)
        out[name] = value
    return out


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
    return key_partition(request_id.encode(), partitions)


@lru_cache(maxsize=1 << 14)
def key_partition(key: bytes, partitions: int) -> int:
    """The partition murmur2 gives ``key``; cached: the hash is pure Python (about 6 µs),
    and each call's request id is hashed for each of its events, its changelog entries
    and every sweep while it waits for its other half (16,384 keys: about 3 MB, several
    seconds of traffic)."""
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)
