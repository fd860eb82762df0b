"""GenAI spans (protobuf, OTLP JSON, plain) mapped to inference events."""

from __future__ import annotations

import gzip
import json
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from llmpulse.otel.decode import OtlpDecodeError, decode, sniff
from llmpulse.otel.mapping import Span, Unmappable, request_id, to_event
from llmpulse.otel.translate import translate

TRACE = bytes(range(16))
SPAN = bytes(range(8))
START = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
INPUT = [{"role": "user", "parts": [{"type": "text", "content": "What is 2+2?"}]}]
OUTPUT = [{"role": "assistant", "parts": [{"type": "text", "content": "4"}],
           "finish_reason": "stop"}]


def chat_attributes(**extra: Any) -> dict[str, Any]:
    return {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini-2024",
            "gen_ai.response.id": "chatcmpl-1", "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 30, "gen_ai.usage.cache_read.input_tokens": 100,
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.input.messages": json.dumps(INPUT),
            "gen_ai.output.messages": json.dumps(OUTPUT),
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
            "gen_ai.conversation.id": "conv-7", **extra}


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list):
        out = AnyValue()
        out.array_value.values.extend(any_value(v) for v in value)
        return out
    return AnyValue(string_value=value)


def request(spans: list[dict[str, Any]], resource: dict[str, Any] | None = None
            ) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    for k, v in (resource or {"service.name": "checkout"}).items():
        rs.resource.attributes.append(KeyValue(key=k, value=any_value(v)))
    ss = rs.scope_spans.add()
    for i, spec in enumerate(spans):
        s = ss.spans.add(trace_id=TRACE, span_id=bytes([i]) * 8, name="chat",
                         start_time_unix_nano=START, end_time_unix_nano=START + 2_500_000_000)
        for k, v in spec.get("attributes", {}).items():
            s.attributes.append(KeyValue(key=k, value=any_value(v)))
        if "status" in spec:
            s.status.code, s.status.message = spec["status"]
        for name, attrs in spec.get("events", []):
            e = s.events.add(name=name, time_unix_nano=START)
            for k, v in attrs.items():
                e.attributes.append(KeyValue(key=k, value=any_value(v)))
    return req


def otlp_json(req: ExportTraceServiceRequest) -> bytes:
    """As the OTLP JSON encoding writes it: hex ids, camelCase."""
    import base64

    data = json_format.MessageToDict(req)
    for rs in data["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                for key in ("traceId", "spanId"):
                    s[key] = base64.b64decode(s[key]).hex()
    return orjson.dumps(data)


def test_chat_span_maps_every_field() -> None:
    span = Span(TRACE, SPAN, START, START + 2_500_000_000, chat_attributes(
        **{"gen_ai.response.time_to_first_chunk": 0.4, "llmpulse.tenant": "acme"}),
        resource={"service.name": "checkout", "deployment.environment.name": "staging"})
    event = to_event(span)
    assert event["request_id"] == f"otel-{TRACE.hex()}-{SPAN.hex()}" == request_id(span)
    assert event["gen_ai.provider.name"] == "openai"
    assert event["gen_ai.request.model"] == "gpt-4o-mini"
    assert event["gen_ai.response.model"] == "gpt-4o-mini-2024"
    assert event["gen_ai.usage.input_tokens"] == 120
    assert event["gen_ai.usage.cache_read.input_tokens"] == 100
    assert event["gen_ai.response.finish_reasons"] == ["stop"]
    assert event["gen_ai.input.messages"] == [{"role": "user", "content": "What is 2+2?"}]
    assert event["gen_ai.output.messages"] == [{"role": "assistant", "content": "4"}]
    assert event["gen_ai.system_instructions"] == "Be brief."
    assert event["gen_ai.conversation.id"] == "conv-7"
    assert event["gen_ai.response.time_to_first_chunk"] == 0.4
    assert event["start_time"].startswith("2026-01-01T00:00:00")
    assert event["end_time"].startswith("2026-01-01T00:00:02.5")
    assert (event["tenant"], event["route"], event["environment"]) == (
        "acme", "checkout", "staging")
    assert "error.type" not in event


def test_older_attributes_and_events() -> None:
    attrs = {"gen_ai.system": "anthropic", "gen_ai.request.model": "claude-3-5-haiku",
             "gen_ai.usage.prompt_tokens": 10, "gen_ai.usage.completion_tokens": 5}
    events = [("gen_ai.system.message", {"content": "Be kind."}),
              ("gen_ai.user.message", {"content": "Hi"}),
              ("gen_ai.choice", {"message": json.dumps({"role": "assistant", "content": "Hello"}),
                                 "finish_reason": "end_turn", "index": 0})]
    event = to_event(Span(TRACE, SPAN, START, START + 10**9, attrs, events=events))
    assert event["gen_ai.provider.name"] == "anthropic"
    assert event["gen_ai.operation.name"] == "chat"
    assert (event["gen_ai.usage.input_tokens"], event["gen_ai.usage.output_tokens"]) == (10, 5)
    assert event["gen_ai.input.messages"] == [{"role": "user", "content": "Hi"}]
    assert event["gen_ai.system_instructions"] == "Be kind."
    assert event["gen_ai.output.messages"] == [{"role": "assistant", "content": "Hello"}]
    assert event["gen_ai.response.finish_reasons"] == ["stop"]


def test_error_status_pinned_tenant_and_reasons() -> None:
    span = Span(TRACE, SPAN, START, START + 10**9,
                chat_attributes(**{"gen_ai.response.finish_reasons": ["tool_calls", "weird"],
                                   "llmpulse.tenant": "other"}),
                status_code=2, status_message="rate limited")
    event = to_event(span, tenant="pinned")
    assert event["error.type"] == "rate limited"
    assert event["tenant"] == "pinned"
    assert event["gen_ai.response.finish_reasons"] == ["tool_call", "other"]
    typed = Span(TRACE, SPAN, START, START + 10**9,
                 chat_attributes(**{"error.type": "RateLimitError"}), status_code=2)
    assert to_event(typed)["error.type"] == "RateLimitError"


@pytest.mark.parametrize(("change", "reason", "words"), [
    ({"gen_ai.request.model": None}, "otlp_invalid_span", "gen_ai.request.model"),
    ({"gen_ai.usage.input_tokens": -1}, "otlp_invalid_span", "gen_ai.usage.input_tokens"),
    ({"gen_ai.input.messages": "not json"}, "otlp_bad_content", "not JSON"),
    ({"gen_ai.input.messages": json.dumps([{"role": "robot", "parts": []}])},
     "otlp_bad_content", "robot"),
    ({"gen_ai.usage.cache_read.input_tokens": 500}, "otlp_invalid_span", "cache"),
])
def test_unmappable_spans_say_why(change: dict[str, Any], reason: str, words: str) -> None:
    attrs = {k: v for k, v in {**chat_attributes(), **change}.items() if v is not None}
    with pytest.raises(Unmappable) as caught:
        to_event(Span(TRACE, SPAN, START, START + 10**9, attrs))
    assert caught.value.reason == reason
    assert words in caught.value.detail


def test_missing_time_and_bad_ids() -> None:
    with pytest.raises(Unmappable, match="otlp_bad_time"):
        to_event(Span(TRACE, SPAN, 0, START, chat_attributes()))
    with pytest.raises(Unmappable, match="otlp_bad_ids"):
        to_event(Span(b"", SPAN, START, START, chat_attributes()))


def batch() -> ExportTraceServiceRequest:
    return request([
        {"attributes": chat_attributes()},
        {"attributes": {"http.method": "GET"}},  # not GenAI
        {"attributes": {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "x"}},
        {"attributes": chat_attributes(**{"gen_ai.input.messages": "oops"})},
        {"attributes": chat_attributes(**{"gen_ai.operation.name": "embeddings"})},
    ], resource={"service.name": "checkout", "llmpulse.tenant": "acme"})


@pytest.mark.parametrize("encode", [
    lambda r: r.SerializeToString(), otlp_json], ids=["proto", "json"])
def test_batch_translation(encode: Any) -> None:
    body = encode(batch())
    out = translate(body)
    assert out.undecodable is None
    assert out.ignored == 2
    assert [r.reason for r in out.rejected] == ["otlp_bad_content"]
    assert out.rejected[0].span["span_id"] == (bytes([3]) * 8).hex()
    events = [orjson.loads(v) for _, v in out.events]
    assert [e["gen_ai.operation.name"] for e in events] == ["chat", "embeddings"]
    assert all(e["tenant"] == "acme" and e["route"] == "checkout" for e in events)
    assert [k for k, _ in out.events] == [e["request_id"] for e in events]
    assert events[0]["request_id"] == f"otel-{TRACE.hex()}-{(bytes([0]) * 8).hex()}"
    # redelivered: the same request ids
    assert [k for k, _ in translate(body).events] == [k for k, _ in out.events]


def test_json_and_proto_agree() -> None:
    req = batch()
    assert translate(req.SerializeToString()).events == translate(otlp_json(req)).events


def test_sniff_and_bad_payloads() -> None:
    assert sniff(b' {"resourceSpans": []}') == "json"
    assert sniff(batch().SerializeToString()) == "proto"
    for body in (b"\xff\xff\xff", gzip.compress(b"x")):
        with pytest.raises(OtlpDecodeError):
            decode(body, "proto")
    for body in (b"{nope", b'{"resourceSpans": 3}', b"[]",
                 b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}'):
        with pytest.raises(OtlpDecodeError):
            decode(body, "json")
    assert translate(b"{nope").undecodable is not None
    assert translate(b"").events == []  # an empty protobuf request: no spans


def test_an_event_too_large_for_the_topic_is_rejected() -> None:
    huge = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "x" * 900_000}]}
                       for _ in range(5)])
    out = translate(request([{"attributes": chat_attributes(
        **{"gen_ai.input.messages": huge})}]).SerializeToString())
    assert out.events == []
    assert [r.reason for r in out.rejected] == ["otlp_too_large"]


def test_the_translator_output_messages() -> None:
    from types import SimpleNamespace

    from llmpulse.config import load_settings
    from llmpulse.pipeline import DeadLetter
    from llmpulse.sinks.kafka import OutMessage
    from llmpulse.streams.otlp import header, out_messages

    settings = load_settings({"LLMPULSE_OTLP_TOPIC": "otlp_spans"})
    message = SimpleNamespace(topic="otlp_spans", partition=2, offset=7, key=None,
                              value=batch().SerializeToString())
    letters: list[DeadLetter] = []

    def letter(dead: DeadLetter) -> OutMessage:
        letters.append(dead)
        return OutMessage("llm.dlq", dead.key, dead.value)

    out = out_messages(settings, message, translate(message.value), letter)
    assert [m.topic for m in out] == ["llm.inference", "llm.inference", "llm.dlq"]
    assert out[0].key == orjson.loads(out[0].value or b"")["request_id"].encode()
    assert [(d.reason, d.topic, d.partition, d.offset) for d in letters] == [
        ("otlp_bad_content", "otlp_spans", 2, 7)]
    assert letters[0].key == f"otel-{TRACE.hex()}-{(bytes([3]) * 8).hex()}".encode()
    letters.clear()
    out = out_messages(settings, message, translate(b"{nope"), letter)
    assert [d.reason for d in letters] == ["otlp_undecodable"] and len(out) == 1
    assert header([("llmpulse.tenant", b" blue ")], "llmpulse.tenant") == "blue"
    assert header({"llmpulse.tenant": b""}, "llmpulse.tenant") is None
    assert header(None, "llmpulse.tenant") is None
