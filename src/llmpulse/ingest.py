"""Decode and validate raw input bytes into events (pure; no I/O)."""

from __future__ import annotations

from typing import Any

import orjson
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


def decode(role: str, raw: bytes | None, key: bytes | None = None) -> Event:
    """The validated event in ``raw``; raises :class:`InvalidEvent` with a reason code.

    ``event_type`` may be left out: the topic says what the event is.  When
    present it must match the topic.  A message key, when set, must equal the
    event's request_id (co-partitioning depends on it).
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
    if key is not None and key != event.request_id.encode():
        raise InvalidEvent("key_mismatch", "message key must be the request_id")
    return event


def _summary(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "event"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
