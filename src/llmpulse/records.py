"""The joined inference record: one per LLM call, whatever shape it arrived in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from llmpulse.schema import (
    ContextDocument,
    InferenceEvent,
    Message,
    RequestEvent,
    ResponseEvent,
)

JoinStatus = Literal["inference", "joined", "response_only", "request_only"]

#: error.type given to a request whose response never arrived within the join timeout.
NO_RESPONSE_ERROR = "llmpulse.no_response"


@dataclass(frozen=True, slots=True)
class InferenceRecord:
    """Everything known about one call; the unit the detectors score."""

    request_id: str
    join_status: JoinStatus
    provider: str
    request_model: str
    response_model: str | None
    operation: str
    start_time: datetime | None
    end_time: datetime | None
    tenant: str = "default"
    route: str = "default"
    environment: str = "production"
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0
    finish_reasons: tuple[str, ...] = ()
    time_to_first_chunk: float | None = None
    error_type: str | None = None
    reported_cost_usd: float | None = None
    response_id: str | None = None
    conversation_id: str | None = None
    server_address: str | None = None
    prompt_template_id: str | None = None
    prompt_template_version: str | None = None
    model_version: str | None = None
    user_hash: str | None = None
    system_instructions: str | None = None
    input_messages: tuple[Message, ...] = ()
    output_messages: tuple[Message, ...] = ()
    context_documents: tuple[ContextDocument, ...] = field(default=())

    @property
    def model(self) -> str:
        """The model that answered, else the one asked for."""
        return self.response_model or self.request_model

    @property
    def event_time(self) -> datetime | None:
        return self.end_time or self.start_time

    @property
    def prompt_version(self) -> str:
        """The prompt version as a group key (see :func:`prompt_version_key`)."""
        return prompt_version_key(self.prompt_template_id, self.prompt_template_version)


def prompt_version_key(template_id: str | None, version: str | None) -> str:
    """A call's prompt version as one value: ``template@version`` when the template is named,
    the bare version when it is not, ``none`` for no version (``PROMPT_VERSION_SQL`` in
    ClickHouse)."""
    if not template_id:
        return version or "none"
    return f"{template_id}@{version or 'none'}"


_REQUEST_FIELDS = (
    "provider", "request_model", "operation", "start_time", "tenant", "route", "environment",
    "conversation_id", "server_address", "prompt_template_id", "prompt_template_version",
    "model_version", "user_hash", "system_instructions", "input_messages", "context_documents",
)
_RESPONSE_FIELDS = (
    "end_time", "response_model", "response_id", "input_tokens", "output_tokens",
    "cache_read_tokens", "cache_creation_tokens", "reasoning_tokens", "finish_reasons",
    "time_to_first_chunk", "error_type", "reported_cost_usd", "output_messages",
)


def _pick(source: object, names: tuple[str, ...]) -> dict[str, object]:
    return {name: getattr(source, name) for name in names}


def from_inference(event: InferenceEvent) -> InferenceRecord:
    values = _pick(event, _REQUEST_FIELDS) | _pick(event, _RESPONSE_FIELDS)
    return InferenceRecord(request_id=event.request_id, join_status="inference", **values)  # type: ignore[arg-type]


def from_parts(request: RequestEvent | None, response: ResponseEvent | None) -> InferenceRecord:
    """Join a request and its response; either may be missing (join timeout)."""
    if request is None and response is None:
        raise ValueError("nothing to join")
    values: dict[str, object] = {}
    if request is not None:
        values |= _pick(request, _REQUEST_FIELDS)
    else:
        assert response is not None
        values |= {
            "provider": "unknown",
            "request_model": response.response_model or "unknown",
            "operation": "chat",
            "start_time": response.start_time,
        }
    if response is not None:
        values |= _pick(response, _RESPONSE_FIELDS)
        if request is not None and response.start_time is not None and request.start_time is None:
            values["start_time"] = response.start_time
    else:
        values |= {"end_time": None, "response_model": None, "error_type": NO_RESPONSE_ERROR}
    status: JoinStatus = (
        "joined" if request and response else "request_only" if request else "response_only"
    )
    request_id = (request or response).request_id  # type: ignore[union-attr]
    return InferenceRecord(request_id=request_id, join_status=status, **values)  # type: ignore[arg-type]
