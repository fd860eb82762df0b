"""Decode an OTLP ``ExportTraceServiceRequest`` from protobuf or OTLP JSON bytes.

The OpenTelemetry Collector's Kafka exporter writes either encoding (``otlp_proto``,
the default, or ``otlp_json``) with no header saying which, so the format is told
from the bytes: OTLP JSON is an object, a protobuf request starts with field 1.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

Encoding = Literal["proto", "json"]
#: OTLP JSON fields holding ids, hex-encoded there (base64 in protobuf's JSON mapping).
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


class OtlpDecodeError(ValueError):
    """The bytes are not an ExportTraceServiceRequest in the stated or detected format."""


def sniff(body: bytes) -> Encoding:
    """``json`` when the body is an OTLP JSON object, else ``proto``."""
    return "json" if body.lstrip()[:1] == b"{" else "proto"


def decode(body: bytes, encoding: Encoding | None = None) -> ExportTraceServiceRequest:
    """The request in ``body`` (``encoding`` None: detected)."""
    encoding = encoding or sniff(body)
    if encoding == "json":
        return _from_json(body)
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise OtlpDecodeError(f"not an OTLP protobuf ExportTraceServiceRequest: {exc}") from None
    return request


def _from_json(body: bytes) -> ExportTraceServiceRequest:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpDecodeError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise OtlpDecodeError("OTLP JSON must be an object with resourceSpans")
    try:
        _hex_ids_to_base64(data)
        request = ExportTraceServiceRequest()
        json_format.ParseDict(data, request, ignore_unknown_fields=True)
        return request
    except (json_format.ParseError, OtlpDecodeError, TypeError, AttributeError) as exc:
        raise OtlpDecodeError(f"not an OTLP JSON ExportTraceServiceRequest: {exc}") from None


def _hex_ids_to_base64(data: dict[str, Any]) -> None:
    """OTLP JSON writes trace and span ids as hex; protobuf's JSON parser wants base64."""
    for resource_spans in _list(data, "resourceSpans"):
        for scope_spans in _list(resource_spans, "scopeSpans"):
            for span in _list(scope_spans, "spans"):
                _convert_ids(span)
                for link in _list(span, "links"):
                    _convert_ids(link)


def _list(parent: Any, key: str) -> list[Any]:
    value = parent.get(key) if isinstance(parent, dict) else None
    if value is None:
        return []
    if not isinstance(value, list):
        raise OtlpDecodeError(f"{key} must be a list")
    return value


def _convert_ids(item: Any) -> None:
    if not isinstance(item, dict):
        return
    for key in _ID_FIELDS:
        value = item.get(key)
        if isinstance(value, str) and value:
            try:
                item[key] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                raise OtlpDecodeError(f"{key} {value[:40]!r} is not hex") from None


def encode_response(encoding: Encoding) -> bytes:
    """An empty ExportTraceServiceResponse (full success) in ``encoding``."""
    return b"{}" if encoding == "json" else b""


__all__ = ["OtlpDecodeError", "decode", "encode_response", "sniff"]
