"""A whole OTLP batch (one Kafka message, one HTTP request) into inference events and
dead letters; pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from llmpulse.ingest import MAX_EVENT_BYTES
from llmpulse.otel.attributes import attributes
from llmpulse.otel.decode import Encoding, OtlpDecodeError, decode
from llmpulse.otel.mapping import Span, Unmappable, is_genai, is_model_call, to_event

#: Kafka header (on the OTLP topic) forcing the tenant of every span in the message:
#: set by ``llmpulse otlp`` for a token pinned to a tenant.
TENANT_HEADER = "llmpulse.tenant"


@dataclass(frozen=True)
class Rejected:
    """A GenAI span that could not be mapped: the dead letter's reason, detail and what
    identifies the span."""

    reason: str
    detail: str
    span: dict[str, Any]

    def value(self) -> bytes:
        return orjson.dumps({"span": self.span, "detail": self.detail})


@dataclass
class Translation:
    """What one batch became."""

    events: list[tuple[str, bytes]] = field(default_factory=list)  # (request_id, JSON)
    rejected: list[Rejected] = field(default_factory=list)
    ignored: int = 0  # spans that are not GenAI model calls
    undecodable: str | None = None  # the whole message could not be read: why


def spans(request: ExportTraceServiceRequest) -> Iterator[Span]:
    """Every span of the request with its resource's attributes."""
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for s in scope_spans.spans:
                yield Span(trace_id=s.trace_id, span_id=s.span_id,
                           start_ns=s.start_time_unix_nano, end_ns=s.end_time_unix_nano,
                           attributes=attributes(s.attributes), resource=resource,
                           status_code=s.status.code, status_message=s.status.message,
                           events=[(e.name, attributes(e.attributes)) for e in s.events])


def translate_request(request: ExportTraceServiceRequest,
                      tenant: str | None = None) -> Translation:
    out = Translation()
    for span in spans(request):
        if not is_genai(span.attributes) or not is_model_call(span.attributes):
            out.ignored += 1
            continue
        try:
            event = to_event(span, tenant)
        except Unmappable as exc:
            out.rejected.append(Rejected(exc.reason, exc.detail, _identify(span)))
            continue
        value = orjson.dumps(event)
        if len(value) > MAX_EVENT_BYTES:
            out.rejected.append(Rejected(
                "otlp_too_large", f"the event would be {len(value)} bytes, more than the "
                f"{MAX_EVENT_BYTES} an event may have", _identify(span)))
            continue
        out.events.append((event["request_id"], value))
    return out


def translate(body: bytes, tenant: str | None = None,
              encoding: Encoding | None = None) -> Translation:
    """The batch in ``body`` (protobuf or OTLP JSON, detected when ``encoding`` is None)."""
    try:
        request = decode(body, encoding)
    except OtlpDecodeError as exc:
        return Translation(undecodable=str(exc))
    return translate_request(request, tenant)


def _identify(span: Span) -> dict[str, Any]:
    return {"trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
            "attributes": {k: v if isinstance(v, str | int | float | bool | None) else str(v)
                           for k, v in span.attributes.items()}}
