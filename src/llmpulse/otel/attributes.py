"""OTLP attribute values (``AnyValue``) as plain Python values."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

Attributes = dict[str, Any]


def value_of(value: AnyValue) -> Any:
    """A string, int, float, bool, bytes, list or dict; None when unset."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [value_of(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    return getattr(value, kind)


def attributes(pairs: Iterable[KeyValue]) -> Attributes:
    """Key-value pairs as a dict (a repeated key: the last wins)."""
    return {kv.key: value_of(kv.value) for kv in pairs}
