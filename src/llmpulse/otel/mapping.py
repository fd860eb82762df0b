"""One GenAI span as an ``InferenceEvent`` (wire form); pure, no I/O.

What is read from where is the table in README.md ("OpenTelemetry").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from llmpulse.otel.attributes import Attributes
from llmpulse.otel.content import ContentError, from_events, instructions, messages
from llmpulse.schema import FINISH_REASONS, InferenceEvent, to_wire

#: ``gen_ai.operation.name`` values that are a call to a model.
MODEL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
#: Operations mapped only when the span names the model it used.
AGENT_OPERATIONS = frozenset({"invoke_agent"})
#: OTLP status code ERROR.
STATUS_ERROR = 2
#: Spelling of finish reasons across providers -> the conventions' values.
FINISH_REASON_ALIASES = {
    "end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
    "tool_calls": "tool_call", "tool_use": "tool_call", "function_call": "tool_call",
    "safety": "content_filter", "recitation": "content_filter", "blocklist": "content_filter",
    "prohibited_content": "content_filter", "spii": "content_filter",
}
#: Attribute names (span first, then resource) giving each llmpulse field.
LLMPULSE_FIELDS: dict[str, tuple[str, ...]] = {
    "tenant": ("llmpulse.tenant",),
    "route": ("llmpulse.route",),
    "environment": ("llmpulse.environment",),
    "prompt_template_id": ("llmpulse.prompt_template_id",),
    "prompt_template_version": ("llmpulse.prompt_template_version",),
    "model_version": ("llmpulse.model_version",),
    "user_hash": ("llmpulse.user_hash",),
}
#: Resource attributes used when no llmpulse attribute gives the field.
RESOURCE_FALLBACKS: dict[str, tuple[str, ...]] = {
    "route": ("service.name",),
    "environment": ("deployment.environment.name", "deployment.environment"),
}
#: Token counts: event field -> attribute names, current first.
TOKENS: dict[str, tuple[str, ...]] = {
    "gen_ai.usage.input_tokens": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
    "gen_ai.usage.output_tokens": ("gen_ai.usage.output_tokens",
                                   "gen_ai.usage.completion_tokens"),
    "gen_ai.usage.cache_read.input_tokens": ("gen_ai.usage.cache_read.input_tokens",
                                             "gen_ai.usage.cache_read_input_tokens"),
    "gen_ai.usage.cache_creation.input_tokens": (
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens"),
    "gen_ai.usage.reasoning.output_tokens": ("gen_ai.usage.reasoning.output_tokens",
                                             "gen_ai.usage.reasoning_tokens"),
}
#: Attributes copied as they are (same name in the event).
PLAIN = ("gen_ai.request.model", "gen_ai.response.model", "gen_ai.response.id",
         "gen_ai.conversation.id", "server.address", "gen_ai.request.max_tokens",
         "gen_ai.request.temperature")
#: Time to the first chunk, in seconds.
TTFT = ("gen_ai.response.time_to_first_chunk", "gen_ai.server.time_to_first_token")


@dataclass(frozen=True)
class Span:
    """What the mapping reads from one span and its resource."""

    trace_id: bytes
    span_id: bytes
    start_ns: int
    end_ns: int
    attributes: Attributes
    resource: Attributes = field(default_factory=dict)
    status_code: int = 0
    status_message: str = ""
    events: Sequence[tuple[str, Attributes]] = ()


class Unmappable(ValueError):
    """A GenAI span that cannot become an event: ``reason`` (the dead letter's) and why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def is_genai(attributes: Attributes) -> bool:
    """A span the conventions mark as GenAI (operation name, or the older system name)."""
    return "gen_ai.operation.name" in attributes or "gen_ai.system" in attributes


def is_model_call(attributes: Attributes) -> bool:
    """A GenAI span that is a call to a model (not a tool execution, an agent creation ...)."""
    operation = attributes.get("gen_ai.operation.name")
    if operation is None:  # older instrumentations: gen_ai.system only
        return "gen_ai.system" in attributes
    if operation in AGENT_OPERATIONS:
        return "gen_ai.request.model" in attributes
    return operation in MODEL_OPERATIONS


def request_id(span: Span) -> str:
    """Deterministic from the trace and span ids: a batch delivered twice is one call."""
    return f"otel-{span.trace_id.hex()}-{span.span_id.hex()}"


def to_event(span: Span, tenant: str | None = None) -> dict[str, Any]:
    """The span as an InferenceEvent in wire form; ``tenant`` forces the tenant (a token
    pinned to one).  Raises :class:`Unmappable`."""
    if len(span.trace_id) != 16 or len(span.span_id) != 8:
        raise Unmappable("otlp_bad_ids", "a span needs a 16-byte trace id and 8-byte span id")
    a = span.attributes
    event: dict[str, Any] = {"event_type": "inference", "request_id": request_id(span),
                             "start_time": _time(span.start_ns, "start"),
                             "end_time": _time(span.end_ns, "end")}
    provider = a.get("gen_ai.provider.name") or a.get("gen_ai.system")
    if provider is not None:
        event["gen_ai.provider.name"] = provider
    if "gen_ai.operation.name" in a:
        event["gen_ai.operation.name"] = a["gen_ai.operation.name"]
    for name in PLAIN:
        if a.get(name) is not None:
            event[name] = a[name]
    for target, names in TOKENS.items():
        value = _first(a, names)
        if value is not None:
            event[target] = value
    ttft = _first(a, TTFT)
    if ttft is not None:
        event["gen_ai.response.time_to_first_chunk"] = ttft
    reasons = a.get("gen_ai.response.finish_reasons")
    _content(span, event, reasons)
    for target, names in LLMPULSE_FIELDS.items():
        value = _first(a, names) or _first(span.resource, names)
        if value is None:
            value = _first(span.resource, RESOURCE_FALLBACKS.get(target, ()))
        if value is not None:
            event[target] = str(value)
    if tenant is not None:
        event["tenant"] = tenant
    if span.status_code == STATUS_ERROR:
        event["error.type"] = str(a.get("error.type") or span.status_message or "error")[:200]
    elif a.get("error.type"):
        event["error.type"] = str(a["error.type"])[:200]
    return _validated(event)


def _content(span: Span, event: dict[str, Any], reasons: Any) -> None:
    a = span.attributes
    found: list[str] = []
    try:
        if "gen_ai.input.messages" in a:
            event["gen_ai.input.messages"] = messages(a["gen_ai.input.messages"],
                                                      "gen_ai.input.messages")
        if "gen_ai.output.messages" in a:
            outputs = messages(a["gen_ai.output.messages"], "gen_ai.output.messages")
            event["gen_ai.output.messages"] = outputs
        if "gen_ai.system_instructions" in a:
            event["gen_ai.system_instructions"] = instructions(a["gen_ai.system_instructions"])
        if span.events:
            inputs, outputs, found = from_events(span.events)
            system = [m["content"] for m in inputs if m["role"] == "system"]
            if inputs and "gen_ai.input.messages" not in event:
                event["gen_ai.input.messages"] = [m for m in inputs if m["role"] != "system"]
                if system and "gen_ai.system_instructions" not in event:
                    event["gen_ai.system_instructions"] = "\n".join(system)
            if outputs and "gen_ai.output.messages" not in event:
                event["gen_ai.output.messages"] = outputs
    except ContentError as exc:
        raise Unmappable("otlp_bad_content", str(exc)) from None
    if reasons is None and found:
        reasons = found
    if reasons is not None:
        if isinstance(reasons, str):
            reasons = [reasons]
        if not isinstance(reasons, list):
            raise Unmappable("otlp_bad_attribute",
                             "gen_ai.response.finish_reasons must be a list of strings")
        event["gen_ai.response.finish_reasons"] = [_finish_reason(r) for r in reasons]


def _finish_reason(value: Any) -> str:
    name = str(value).strip().lower()
    name = FINISH_REASON_ALIASES.get(name, name)
    return name if name in FINISH_REASONS else "other"


def _first(attributes: Attributes, names: Sequence[str]) -> Any:
    for name in names:
        value = attributes.get(name)
        if value is not None and value != "":
            return value
    return None


def _time(ns: int, which: str) -> str:
    if ns <= 0:
        raise Unmappable("otlp_bad_time", f"the span has no {which} time")
    seconds, rest = divmod(ns, 1_000_000_000)
    try:
        return datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000).isoformat()
    except (OverflowError, OSError, ValueError):
        raise Unmappable("otlp_bad_time", f"the span's {which} time is out of range") from None


def _validated(event: dict[str, Any]) -> dict[str, Any]:
    """The event as the worker will read it, or why it cannot be one."""
    try:
        return to_wire(InferenceEvent.model_validate(event))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "event"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise Unmappable("otlp_invalid_span", f"{where}: {first['msg']}{more}") from None
