"""OpenTelemetry GenAI spans in, the same stored calls out, on a real broker.

Three calls, each sent four ways: through ``LlmPulseClient.record_inference`` (the
reference), as spans from the real OpenTelemetry SDK through its OTLP/HTTP exporter to
``llmpulse otlp``, and as the Collector's Kafka exporter writes them (protobuf and
OTLP JSON) straight to the OTLP topic.  The stored rows, their signals and cost must
be the same.  Windows and alerts are computed downstream of ``llm.inference``, the topic
the translator publishes the spans' calls to, from the columns compared here (model,
route, tenant, prompt template, times, tokens, cost, errors), so equal rows mean the
same windows and alerts.  Also: 401 without a token, a token pinned to a tenant, a batch delivered
twice stored once, non-GenAI spans ignored and a malformed GenAI span dead-lettered.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from llmpulse.embedded_broker import EmbeddedBroker
from llmpulse.kafka_security import librdkafka_security
from llmpulse.schema import InferenceEvent
from tests.harness.certs import TestCA
from tests.integration.stack import Stack, make_stack, wait_metrics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

TOKEN = "token-for-the-checkout-app"
PINNED = "token-pinned-to-team-blue"
START_NS = (time.time_ns() // 1000) * 1000 - 30_000_000_000  # whole microseconds

CALLS: list[dict[str, Any]] = [
    {"provider": "openai", "model": "gpt-4o-mini", "response_model": "gpt-4o-mini-2024-07-18",
     "input": 1200, "output": 85, "cache_read": 1000, "reasoning": 0, "ttft": 0.35,
     "duration": 1.8, "finish": ["stop"], "error": None,
     "system": "Answer briefly.", "user": "What is the capital of France?",
     "answer": "Paris."},
    {"provider": "anthropic", "model": "claude-3-5-haiku-20241022",
     "response_model": "claude-3-5-haiku-20241022", "input": 400, "output": 120,
     "cache_read": 0, "reasoning": 0, "ttft": None, "duration": 2.6, "finish": ["length"],
     "error": None, "system": None, "user": "Summarise the meeting notes.",
     "answer": "The team agreed to ship on Friday."},
    {"provider": "openai", "model": "o3-mini", "response_model": None, "input": 50,
     "output": None, "cache_read": 0, "reasoning": 0, "ttft": None, "duration": 0.4,
     "finish": [], "error": "RateLimitError", "system": None, "user": "Hello",
     "answer": None},
]
PATHS = ("sdk", "otlp_http", "kafka_proto", "kafka_json")


def _times(i: int) -> tuple[int, int]:
    start = START_NS + i * 5_000_000_000
    return start, start + int(CALLS[i]["duration"] * 1e9)


def _datetime(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 10**9, UTC).replace(microsecond=ns % 10**9 // 1000)


def _conversation(path: str, i: int) -> str:
    return f"conv-{path}-{i}"


def _reference(i: int, path: str) -> InferenceEvent:
    """The call as the SDK sends it."""
    c = CALLS[i]
    start, end = _times(i)
    fields: dict[str, Any] = {
        "start_time": _datetime(start), "end_time": _datetime(end),
        "gen_ai.provider.name": c["provider"],
        "gen_ai.request.model": c["model"], "gen_ai.response.model": c["response_model"],
        "gen_ai.usage.input_tokens": c["input"], "gen_ai.usage.output_tokens": c["output"],
        "gen_ai.usage.cache_read.input_tokens": c["cache_read"],
        "gen_ai.response.finish_reasons": c["finish"],
        "gen_ai.response.time_to_first_chunk": c["ttft"], "error.type": c["error"],
        "gen_ai.conversation.id": _conversation(path, i), "gen_ai.response.id": f"resp-{i}",
        "gen_ai.system_instructions": c["system"], "tenant": "acme", "route": "checkout",
        "prompt_template_id": "checkout-answer", "prompt_template_version": f"v{i + 1}",
        "gen_ai.input.messages": [{"role": "user", "content": c["user"]}],
        "gen_ai.output.messages": ([{"role": "assistant", "content": c["answer"]}]
                                   if c["answer"] else []),
    }
    return InferenceEvent.model_validate(
        {"request_id": f"sdk-{path}-{i}-{START_NS}",
         **{k: v for k, v in fields.items() if v is not None}})


def _span_attributes(i: int, path: str) -> dict[str, Any]:
    """The call as the official instrumentations put it on a span (content as JSON)."""
    c = CALLS[i]
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": c["provider"],
        "gen_ai.request.model": c["model"], "gen_ai.usage.input_tokens": c["input"],
        "gen_ai.conversation.id": _conversation(path, i), "gen_ai.response.id": f"resp-{i}",
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": c["user"]}]}]),
        "llmpulse.tenant": "acme", "server.address": "api.example.com",
        "llmpulse.prompt_template_id": "checkout-answer",
        "llmpulse.prompt_template_version": f"v{i + 1}",
    }
    if c["response_model"]:
        attrs["gen_ai.response.model"] = c["response_model"]
    if c["output"] is not None:
        attrs["gen_ai.usage.output_tokens"] = c["output"]
    if c["cache_read"]:
        attrs["gen_ai.usage.cache_read.input_tokens"] = c["cache_read"]
    if c["finish"]:
        attrs["gen_ai.response.finish_reasons"] = c["finish"]
    if c["ttft"] is not None:
        attrs["gen_ai.response.time_to_first_chunk"] = c["ttft"]
    if c["system"]:
        attrs["gen_ai.system_instructions"] = json.dumps(
            [{"type": "text", "content": c["system"]}])
    if c["answer"]:
        attrs["gen_ai.output.messages"] = json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": c["answer"]}],
              "finish_reason": c["finish"][0]}])
    if c["error"]:
        attrs["error.type"] = c["error"]
    return attrs


def _emit(provider: TracerProvider, path: str, extra: dict[str, Any] | None = None) -> None:
    """Every call as a GenAI span under an application span (not GenAI: ignored)."""
    tracer = provider.get_tracer("test.genai.instrumentation")
    for i, c in enumerate(CALLS):
        start, end = _times(i)
        parent = tracer.start_span("POST /checkout", start_time=start - 1000)
        span = tracer.start_span(f"chat {c['model']}", context=set_span_in_context(parent),
                                 kind=SpanKind.CLIENT,
                                 attributes={**_span_attributes(i, path), **(extra or {})},
                                 start_time=start)
        if c["error"]:
            span.set_status(Status(StatusCode.ERROR, "429 Too Many Requests"))
        span.end(end_time=end)
        parent.end(end_time=end + 1000)


def _provider(*processors: Any) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    for processor in processors:
        provider.add_span_processor(processor)
    return provider


def _collector_messages(path: str) -> tuple[bytes, bytes]:
    """The path's spans as the Collector's Kafka exporter writes them: (protobuf, JSON)."""
    memory = InMemorySpanExporter()
    provider = _provider(SimpleSpanProcessor(memory))
    _emit(provider, path)
    provider.shutdown()
    spans: list[ReadableSpan] = list(memory.get_finished_spans())
    request = encode_spans(spans)
    as_dict = json_format.MessageToDict(request)
    for resource_spans in as_dict["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:  # OTLP JSON: hex ids
                        span[key] = base64.b64decode(span[key]).hex()
    return request.SerializeToString(), orjson.dumps(as_dict)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Receiver:
    """``llmpulse otlp`` as a process."""

    def __init__(self, stack: Stack, log: Path, scheme: str = "http",
                 **settings: str) -> None:
        self.port = _free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}/v1/traces"
        settings = {"LLMPULSE_OTLP_TOKENS": f"{TOKEN},{PINNED}:team-blue", **settings}
        env = {**os.environ, **stack.env(LLMPULSE_OTLP_PORT=str(self.port), **settings)}
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "llmpulse", "otlp"], env=env,
                                         stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while b"listening on" not in log.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"llmpulse otlp did not start:\n{log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(timeout=30)


@pytest.fixture
def otlp_stack(broker: str, tmp_path: Path) -> Iterator[Stack]:
    stack = make_stack(broker, tmp_path, common={
        "LLMPULSE_OTLP_TOPIC": f"otlp_spans-{tmp_path.name[-12:]}".replace("_", "-")})
    yield stack


COMPARED = ("provider", "request_model", "response_model", "model", "operation", "tenant",
            "route", "environment", "round(duration_s, 6)", "ttft_s", "input_tokens",
            "output_tokens", "cache_read_tokens", "cache_creation_tokens", "reasoning_tokens",
            "finish_reasons", "error_type", "is_error", "cost_usd", "cost_source",
            "response_id", "system_instructions", "input_messages", "output_messages",
            "toUnixTimestamp64Micro(start_time)", "prompt_template_id",
            "prompt_template_version")


def _rows(stack: Stack) -> dict[str, list[Any]]:
    """conversation id -> the compared columns and the call's signals."""
    rows = stack.sql(f"SELECT conversation_id, request_id, {', '.join(COMPARED)} "
                     "FROM inference_events FINAL")
    signals: dict[str, list[Any]] = {}
    for rid, name, value in stack.sql(
            "SELECT request_id, name, round(value, 9) FROM signals FINAL ORDER BY name"):
        signals.setdefault(rid, []).append([name, value])
    return {row[0]: [*row[2:], signals.get(row[1], [])] for row in rows}


def test_genai_spans_become_the_same_calls(otlp_stack: Stack, tmp_path: Path) -> None:
    stack = otlp_stack
    settings = stack.settings()
    worker = stack.worker()
    receiver = Receiver(stack, tmp_path / "otlp.log")
    try:
        with stack.client() as client:  # the reference
            for i in range(len(CALLS)):
                client.send(_reference(i, "sdk"))

        # the OpenTelemetry SDK's OTLP/HTTP exporter, to llmpulse otlp
        exporter = OTLPSpanExporter(endpoint=receiver.url,
                                    headers={"Authorization": f"Bearer {TOKEN}"})
        provider = _provider(BatchSpanProcessor(exporter))  # one request, as apps send
        _emit(provider, "otlp_http")
        provider.shutdown()
        pinned = _provider(BatchSpanProcessor(OTLPSpanExporter(
            endpoint=receiver.url, headers={"Authorization": f"Bearer {PINNED}"},
            compression=Compression.Gzip)))
        _emit(pinned, "pinned")
        pinned.shutdown()
        refused = InMemorySpanExporter()
        unauthenticated = _provider(SimpleSpanProcessor(refused))
        _emit(unauthenticated, "refused")
        spans = list(refused.get_finished_spans())
        assert OTLPSpanExporter(endpoint=receiver.url).export(spans) == SpanExportResult.FAILURE
        answer = httpx.post(receiver.url, content=encode_spans(spans).SerializeToString(),
                            headers={"Content-Type": "application/x-protobuf"})
        assert answer.status_code == 401, answer.text
        answer = httpx.post(receiver.url, content=b"{not otlp",
                            headers={"Content-Type": "application/json",
                                     "Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 400 and "not JSON" in answer.text

        # the Collector's Kafka exporter: otlp_proto and otlp_json
        proto, _ = _collector_messages("kafka_proto")
        _, as_json = _collector_messages("kafka_json")
        bad = proto_with_bad_span()
        producer = Producer({"bootstrap.servers": stack.broker,
                             **librdkafka_security(settings)})
        for body in (proto, as_json, bad):
            producer.produce(settings.otlp_topic, value=body)
        assert producer.flush(30) == 0

        expected = len(CALLS) * 5  # sdk, otlp_http, pinned, kafka_proto, kafka_json
        values = wait_metrics(
            worker, lambda m: m.get("llmpulse_calls_total", 0) >= expected
            and m.get('llmpulse_otlp_spans_total{outcome=rejected}', 0) >= 1,
            timeout=120, what=f"{expected} calls")
        assert values["llmpulse_calls_total"] == expected
        assert values['llmpulse_otlp_spans_total{outcome=mapped}'] == len(CALLS) * 4
        assert values['llmpulse_otlp_spans_total{outcome=ignored}'] == len(CALLS) * 4 + 1
        assert values["llmpulse_dlq_events_total{reason=otlp_bad_content,topic="
                  f"{settings.otlp_topic}}}"] == 1

        # the Collector delivers a batch again: nothing new stored
        producer.produce(settings.otlp_topic, value=proto)
        assert producer.flush(30) == 0
        wait_metrics(worker, lambda m: m.get(
            'llmpulse_otlp_spans_total{outcome=mapped}', 0) >= len(CALLS) * 5,
            timeout=60, what="the batch delivered again")
        time.sleep(2 * 0.5 + 1)
        assert wait_metrics(worker, lambda m: True, timeout=5, what="metrics")[
            "llmpulse_calls_total"] == expected
    finally:
        assert receiver.stop() == 0, receiver.log.read_text()
        assert worker.stop() == 0, worker.log_tail()

    rows = _rows(stack)
    for i in range(len(CALLS)):
        reference = rows[_conversation("sdk", i)]
        assert reference[-1], "the reference call has signals"
        for path in PATHS[1:]:
            assert rows[_conversation(path, i)] == reference, (path, i)
        pinned_row = rows[_conversation("pinned", i)]
        tenant = COMPARED.index("tenant")
        assert pinned_row[tenant] == "team-blue"
        assert pinned_row[:tenant] == reference[:tenant]
        assert pinned_row[tenant + 1:] == reference[tenant + 1:]
    first = rows[_conversation("otlp_http", 0)]
    assert first[COMPARED.index("cost_usd")] > 0
    assert "capital of France" in str(first[COMPARED.index("input_messages")])
    assert first[COMPARED.index("cache_read_tokens")] == 1000
    assert rows[_conversation("kafka_json", 2)][COMPARED.index("error_type")] == "RateLimitError"
    assert not any(key.startswith("conv-refused") for key in rows)
    [[stored]] = stack.sql("SELECT count() FROM inference_events FINAL")
    assert stored == len(CALLS) * 5


def proto_with_bad_span() -> bytes:
    """A batch with one GenAI span whose content is not JSON (dead-lettered) and one plain
    span (ignored)."""
    memory = InMemorySpanExporter()
    provider = _provider(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    start, end = _times(0)
    tracer.start_span("chat", attributes={
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini", "gen_ai.input.messages": "oops"},
        start_time=start).end(end_time=end)
    tracer.start_span("GET /", start_time=start).end(end_time=end)
    provider.shutdown()
    return bytes(encode_spans(list(memory.get_finished_spans())).SerializeToString())


def test_503_with_retry_after_while_the_broker_is_down(tmp_path: Path) -> None:
    """A broker of its own, stopped under a running ``llmpulse otlp``: the exporter is
    told to retry later (OTLP exporters do), and the receiver keeps serving."""
    embedded = EmbeddedBroker(log_path=tmp_path / "broker.log")
    embedded.start()
    stack = make_stack(embedded.bootstrap, tmp_path, common={"LLMPULSE_OTLP_TOPIC": "otlp"})
    receiver = Receiver(stack, tmp_path / "otlp.log")
    body = _collector_messages("down")[0]
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {TOKEN}"}
    try:
        assert httpx.post(receiver.url, content=body, headers=headers).status_code == 200
        embedded.stop()
        answer = httpx.post(receiver.url, content=body, headers=headers, timeout=60)
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == "5"
        assert "broker is unavailable" in answer.text
        refused = httpx.post(receiver.url, content=body,
                             headers={"Content-Type": "application/x-protobuf"})
        assert refused.status_code == 401
    finally:
        assert receiver.stop() == 0, receiver.log.read_text()
        embedded.stop()


def test_mutual_tls_admits_only_senders_with_a_certificate_of_the_client_ca(
        embedded_broker: EmbeddedBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTPS with client certificates: the SDK's exporter with a certificate of the client
    CA is published; no certificate is a 401 that says why; a certificate of another CA
    fails the handshake; plain HTTP gets no answer."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # would override certificate_file
        monkeypatch.delenv(name, raising=False)
    server_ca, client_ca, rogue_ca = (TestCA(tmp_path / "pki", name)
                                      for name in ("server", "clients", "rogue"))
    server = server_ca.issue("otlp", server=True)
    client, rogue = client_ca.issue("checkout", server=False), rogue_ca.issue("x", server=False)
    topic = "otlp-mtls"
    stack = make_stack(embedded_broker.bootstrap, tmp_path, common={"LLMPULSE_OTLP_TOPIC": topic})
    receiver = Receiver(stack, tmp_path / "otlp.log", scheme="https", LLMPULSE_OTLP_TOKENS="",
                        LLMPULSE_OTLP_TLS_CERT_FILE=str(server.cert),
                        LLMPULSE_OTLP_TLS_KEY_FILE=str(server.key),
                        LLMPULSE_OTLP_CLIENT_CA_FILE=str(client_ca.pem))
    try:
        assert f"listening on https://127.0.0.1:{receiver.port}" in receiver.log.read_text()
        assert "client certificates required" in receiver.log.read_text()
        exporter = OTLPSpanExporter(endpoint=receiver.url, certificate_file=str(server_ca.pem),
                                    client_certificate_file=str(client.cert),
                                    client_key_file=str(client.key))
        memory = InMemorySpanExporter()
        provider = _provider(SimpleSpanProcessor(memory))
        _emit(provider, "mtls")
        provider.shutdown()
        spans = list(memory.get_finished_spans())
        assert exporter.export(spans) == SpanExportResult.SUCCESS

        body = _collector_messages("mtls-refused")[0]
        headers = {"Content-Type": "application/x-protobuf"}
        trust = ssl.create_default_context(cafile=str(server_ca.pem))
        with httpx.Client(verify=trust) as anonymous:
            answer = anonymous.post(receiver.url, content=body, headers=headers)
        assert answer.status_code == 401, answer.text
        assert "client certificate" in answer.text
        stranger_tls = ssl.create_default_context(cafile=str(server_ca.pem))
        stranger_tls.load_cert_chain(str(rogue.cert), str(rogue.key))
        with httpx.Client(verify=stranger_tls) as stranger, \
                pytest.raises(httpx.TransportError):  # the handshake refuses it
            stranger.post(receiver.url, content=body, headers=headers)
        with pytest.raises(httpx.TransportError):
            httpx.post(receiver.url.replace("https://", "http://"), content=body,
                       headers=headers, timeout=5)
    finally:
        assert receiver.stop() == 0, receiver.log.read_text()
    published = _read_topic(stack, topic)
    assert len(published) == 1, published  # the certified batch, and nothing else
    names = {span["name"] for rs in json_format.MessageToDict(
        ExportTraceServiceRequest.FromString(published[0]))["resourceSpans"]
        for ss in rs["scopeSpans"] for span in ss["spans"]}
    assert {f"chat {c['model']}" for c in CALLS} <= names


def _read_topic(stack: Stack, topic: str) -> list[bytes]:
    """Every message on ``topic``, read from the start of each partition to its end."""
    consumer = Consumer({"bootstrap.servers": stack.broker, "group.id": f"read-{topic}",
                         "enable.auto.commit": False})
    values: list[bytes] = []
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                       timeout=30)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, partition, low)])
            deadline = time.monotonic() + 30
            offset = low
            while offset < high and time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None or message.error():
                    continue
                values.append(bytes(message.value() or b""))
                offset = (message.offset() or 0) + 1
    finally:
        consumer.close()
    return values
