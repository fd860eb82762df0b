"""Versioned wire schema for the events services publish.

Keys follow the OpenTelemetry GenAI semantic conventions where those define the
attribute (``gen_ai.request.model``, ``gen_ai.usage.input_tokens`` ...); the
fields llmpulse adds (tenant, route, prompt ids ...) use short snake_case names.
Every event carries ``schema_version`` and ``event_type`` and is validated
strictly: unknown keys, wrong types and impossible values are rejected.

Python attribute names are snake_case; on the wire the alias is used.  Both are
accepted on input.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

SCHEMA_VERSION: Literal[1] = 1

RequestId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")]

#: Unicode categories removed from identifiers: controls, format characters (bidi
#: overrides and isolates, zero-width characters), surrogates, line/paragraph separators.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
#: The tag block (U+E0000..U+E007F), partly unassigned, invisible everywhere.
_TAGS = range(0xE0000, 0xE0080)
#: Validation context key: the names of the fields whose invisible characters were removed.
SANITIZED = "sanitized"


def strip_invisible(value: str) -> str:
    """``value`` without control, format (bidi, zero-width), separator and tag characters."""
    if value.isprintable():  # none of those: the usual case, and cheap
        return value
    return "".join(c for c in value if unicodedata.category(c) not in INVISIBLE_CATEGORIES
                   and ord(c) not in _TAGS)


def _identifier(value: str, info: ValidationInfo) -> str:
    """An identifier that becomes a metric label or group key, with invisible characters
    removed (noted in the validation context); one that was nothing else is invalid."""
    cleaned = strip_invisible(value)
    if cleaned == value:
        return value
    if not cleaned.strip():
        raise PydanticCustomError(
            "empty_label", "holds only invisible or control characters ({count} removed)",
            {"count": len(value) - len(cleaned)})
    if isinstance(info.context, dict) and info.field_name is not None:
        info.context.setdefault(SANITIZED, set()).add(info.field_name)
    return cleaned


def _label(value: str) -> str:
    """Trimmed, and not "*" (which means "all" in window groups)."""
    value = value.strip()
    if value == "*":
        raise ValueError("a label may not be '*'")
    return value


Identifier = AfterValidator(_identifier)
Label = Annotated[str, Identifier, AfterValidator(_label), Field(min_length=1, max_length=200)]
TokenCount = Annotated[int, Field(strict=True, ge=0, le=100_000_000)]
Seconds = Annotated[float, Field(ge=0.0, le=86_400.0)]
#: Timestamps the store can partition and expire (ClickHouse DateTime: 1970 to 2106).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2106, 1, 1, tzinfo=UTC)


def _utc(value: datetime) -> datetime:
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # e.g. year 1 at +14:00
        raise ValueError("the time is out of range in UTC") from None
    if not EARLIEST <= value < LATEST:
        raise ValueError("times must fall in 1970..2105 (what the store can keep)")
    return value


Timestamp = Annotated[datetime, AfterValidator(_utc)]


def _lower(value: str) -> str:
    return value.strip().lower()


ProviderName = Annotated[str, Identifier, AfterValidator(_lower),
                         Field(min_length=1, max_length=100)]
#: Optional identifiers that become group keys or stored low-cardinality columns.
ShortId = Annotated[str, Identifier, Field(max_length=100)]
LongId = Annotated[str, Identifier, Field(max_length=200)]

FINISH_REASONS = ("stop", "length", "content_filter", "tool_call", "error", "other")
FEEDBACK_FLAGS = (
    "incorrect",
    "harmful",
    "toxic",
    "irrelevant",
    "incomplete",
    "pii",
    "unsafe",
    "other",
)


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
    )


class Message(_Strict):
    """One chat message (opt-in content)."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str = Field(max_length=1_000_000)


class ContextDocument(_Strict):
    """A retrieved document the answer should be grounded in (RAG)."""

    id: str | None = Field(default=None, max_length=500)
    content: str = Field(max_length=1_000_000)


class _Envelope(_Strict):
    schema_version: Literal[1] = SCHEMA_VERSION
    request_id: RequestId


class _RequestPart(_Strict):
    """Fields known when the call starts."""

    start_time: Timestamp
    provider: ProviderName = Field(alias="gen_ai.provider.name")
    request_model: Label = Field(alias="gen_ai.request.model")
    operation: Literal[
        "chat", "text_completion", "embeddings", "generate_content", "execute_tool", "invoke_agent"
    ] = Field(default="chat", alias="gen_ai.operation.name")
    server_address: str | None = Field(default=None, max_length=500, alias="server.address")
    conversation_id: str | None = Field(
        default=None, max_length=200, alias="gen_ai.conversation.id"
    )
    max_tokens: TokenCount | None = Field(default=None, alias="gen_ai.request.max_tokens")
    temperature: float | None = Field(
        default=None, ge=0.0, le=10.0, alias="gen_ai.request.temperature"
    )
    tenant: Label = "default"
    route: Label = "default"
    environment: Label = "production"
    prompt_template_id: LongId | None = None
    prompt_template_version: ShortId | None = None
    model_version: LongId | None = None
    user_hash: str | None = Field(default=None, max_length=128)
    system_instructions: str | None = Field(
        default=None, max_length=1_000_000, alias="gen_ai.system_instructions"
    )
    input_messages: tuple[Message, ...] = Field(default=(), alias="gen_ai.input.messages")
    context_documents: tuple[ContextDocument, ...] = ()


class _ResponsePart(_Strict):
    """Fields known when the call ends."""

    end_time: Timestamp
    response_model: Label | None = Field(default=None, alias="gen_ai.response.model")
    response_id: str | None = Field(default=None, max_length=200, alias="gen_ai.response.id")
    input_tokens: TokenCount | None = Field(default=None, alias="gen_ai.usage.input_tokens")
    output_tokens: TokenCount | None = Field(default=None, alias="gen_ai.usage.output_tokens")
    cache_read_tokens: TokenCount = Field(default=0, alias="gen_ai.usage.cache_read.input_tokens")
    cache_creation_tokens: TokenCount = Field(
        default=0, alias="gen_ai.usage.cache_creation.input_tokens"
    )
    reasoning_tokens: TokenCount = Field(
        default=0, alias="gen_ai.usage.reasoning.output_tokens"
    )
    finish_reasons: tuple[Literal[FINISH_REASONS], ...] = Field(  # type: ignore[valid-type]
        default=(), alias="gen_ai.response.finish_reasons"
    )
    time_to_first_chunk: Seconds | None = Field(
        default=None, alias="gen_ai.response.time_to_first_chunk"
    )
    error_type: LongId | None = Field(default=None, alias="error.type")
    output_messages: tuple[Message, ...] = Field(default=(), alias="gen_ai.output.messages")
    reported_cost_usd: float | None = Field(default=None, ge=0.0, le=1_000_000.0)

    @model_validator(mode="after")
    def _cache_within_input(self) -> _ResponsePart:
        if self.input_tokens is not None:
            cached = self.cache_read_tokens + self.cache_creation_tokens
            if cached > self.input_tokens:
                raise ValueError(
                    "cache read + cache creation tokens exceed gen_ai.usage.input_tokens"
                    " (input_tokens counts cached tokens too)"
                )
        return self


class RequestEvent(_Envelope, _RequestPart):
    """Published when an LLM call starts (topic ``llm.requests``)."""

    event_type: Literal["request"] = "request"


class ResponseEvent(_Envelope, _ResponsePart):
    """Published when an LLM call ends (topic ``llm.responses``).

    ``start_time`` is optional: with it a response alone yields a latency even
    if its request event never arrives.
    """

    event_type: Literal["response"] = "response"
    start_time: Timestamp | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ResponseEvent:
        _check_times(self.start_time, self.end_time, self.time_to_first_chunk)
        return self


class InferenceEvent(_Envelope, _RequestPart, _ResponsePart):
    """One record for a whole call, as most SDKs emit it (topic ``llm.inference``)."""

    event_type: Literal["inference"] = "inference"

    @model_validator(mode="after")
    def _ordered(self) -> InferenceEvent:
        _check_times(self.start_time, self.end_time, self.time_to_first_chunk)
        return self


class FeedbackEvent(_Envelope):
    """User or annotator feedback on one response (topic ``llm.feedback``).

    At least one of thumbs, rating, correction or flags is required.
    """

    event_type: Literal["feedback"] = "feedback"
    feedback_id: RequestId
    time: Timestamp
    thumbs: Literal["up", "down"] | None = None
    rating: int | None = Field(default=None, strict=True, ge=1, le=5)
    correction: str | None = Field(default=None, min_length=1, max_length=1_000_000)
    flags: tuple[Literal[FEEDBACK_FLAGS], ...] = ()  # type: ignore[valid-type]
    comment: str | None = Field(default=None, max_length=100_000)
    given_by: Literal["user", "annotator", "automated"] = "user"
    user_hash: str | None = Field(default=None, max_length=128)

    @model_validator(mode="after")
    def _has_content(self) -> FeedbackEvent:
        if (self.thumbs is None and self.rating is None and self.correction is None
                and not self.flags):
            raise ValueError("feedback needs at least one of thumbs, rating, correction, flags")
        return self


def _check_times(start: datetime | None, end: datetime, ttft: float | None) -> None:
    if start is None:
        return
    duration = (end - start).total_seconds()
    if duration < 0:
        raise ValueError("end_time is before start_time")
    if ttft is not None and ttft > duration + 1e-3:
        raise ValueError("gen_ai.response.time_to_first_chunk is longer than the whole call")


AnyEvent = Annotated[
    RequestEvent | ResponseEvent | InferenceEvent | FeedbackEvent,
    Field(discriminator="event_type"),
]

EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyEvent)



def json_schema() -> dict[str, Any]:
    """The JSON Schema of every event type, as published by ``llmpulse schema``."""
    schema = EVENT_ADAPTER.json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://llmpulse.dev/schema/v{SCHEMA_VERSION}/event.json"
    schema["title"] = f"llmpulse event, schema_version {SCHEMA_VERSION}"
    return schema


def to_wire(event: BaseModel) -> dict[str, Any]:
    """The JSON-ready wire form of an event (aliases, ISO timestamps, no nulls)."""
    return event.model_dump(mode="json", by_alias=True, exclude_none=True)


def now_utc() -> datetime:
    return datetime.now(UTC)
