"""Producer SDK: validates events, keys by request_id, handles delivery and back-pressure."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import confluent_kafka
import orjson
import pytest
from pydantic import ValidationError

from llmpulse.errors import BrokerError
from llmpulse.schema import (
    EVENT_ADAPTER,
    FeedbackEvent,
    InferenceEvent,
    RequestEvent,
    ResponseEvent,
)
from llmpulse.sdk import LlmPulseClient, hash_user

START = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


class FakeMessage:
    def __init__(self, key: bytes | None) -> None:
        self._key = key

    def key(self) -> bytes | None:
        return self._key


class FakeProducer:
    """Stands in for confluent_kafka.Producer; remembers what was produced."""

    instances: list[FakeProducer] = []

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.produced: list[dict[str, Any]] = []
        self.polls: list[float] = []
        self.buffer_errors = 0
        FakeProducer.instances.append(self)

    def produce(self, topic: str, value: bytes, key: bytes | None, on_delivery: Any) -> None:
        if self.buffer_errors:  # > 0: that many times; < 0: always
            self.buffer_errors -= self.buffer_errors > 0
            raise BufferError("Local: Queue full")
        self.produced.append({"topic": topic, "key": key, "value": value, "cb": on_delivery})

    def poll(self, timeout: float) -> int:
        self.polls.append(timeout)
        time.sleep(timeout)
        return 0

    def flush(self, timeout: float) -> int:
        return 0

    def deliver(self, error: confluent_kafka.KafkaError | None = None) -> None:
        for item in self.produced:
            item["cb"](error, FakeMessage(item["key"]))


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> LlmPulseClient:
    FakeProducer.instances.clear()
    monkeypatch.setattr(confluent_kafka, "Producer", FakeProducer)
    return LlmPulseClient("kafka://broker-1:9092,broker-2:9092", buffer_timeout=0.3)


def producer(client: LlmPulseClient) -> FakeProducer:
    fake = client._producer
    assert isinstance(fake, FakeProducer)
    return fake


def sent(client: LlmPulseClient) -> list[tuple[str, bytes | None, dict[str, Any]]]:
    return [(m["topic"], m["key"], orjson.loads(m["value"])) for m in producer(client).produced]


def test_producer_config_hashes_keys_like_the_java_client(client: LlmPulseClient) -> None:
    config = producer(client).config
    assert config["bootstrap.servers"] == "broker-1:9092,broker-2:9092"
    assert config["partitioner"] == "murmur2_random"
    assert config["compression.type"] == "lz4"
    assert config["enable.idempotence"] is True
    assert config["acks"] == "all"
    assert 0 < config["linger.ms"] <= 10


def test_producer_config_can_be_tuned_but_not_repartitioned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(confluent_kafka, "Producer", FakeProducer)
    tuned = LlmPulseClient("b:9092", producer_config={"linger.ms": 50, "client.id": "svc"})
    assert producer(tuned).config["linger.ms"] == 50
    assert producer(tuned).config["partitioner"] == "murmur2_random"
    with pytest.raises(ValueError, match="co-partitioning"):
        LlmPulseClient("b:9092", producer_config={"partitioner": "consistent_random"})


def test_record_request_builds_the_event_from_keyword_fields(client: LlmPulseClient) -> None:
    rid = client.record_request(provider="OpenAI", request_model="gpt-4o", route="chat",
                                tenant="acme")
    [(topic, key, value)] = sent(client)
    assert topic == "llm.requests"
    assert len(rid) == 32 and key == rid.encode()
    event = EVENT_ADAPTER.validate_python(value)
    assert isinstance(event, RequestEvent)
    assert event.request_id == rid and event.provider == "openai"
    assert value["gen_ai.request.model"] == "gpt-4o"
    assert abs(event.start_time - datetime.now(UTC)) < timedelta(seconds=5)
    assert producer(client).polls == [0]


def test_record_accepts_a_built_event(client: LlmPulseClient) -> None:
    event = RequestEvent.model_validate({"request_id": "req-1", "start_time": START,
                                         "provider": "anthropic",
                                         "request_model": "claude-haiku-4-5"})
    assert client.record_request(event) == "req-1"
    with pytest.raises(TypeError):
        client.record_request(event, tenant="x")
    with pytest.raises(TypeError):
        client.record_response(event)  # type: ignore[arg-type]
    assert [(t, k) for t, k, _ in sent(client)] == [("llm.requests", b"req-1")]


def test_invalid_fields_raise_before_anything_is_produced(client: LlmPulseClient) -> None:
    with pytest.raises(ValidationError):
        client.record_inference(start_time=START, provider="openai", request_model="gpt-4o",
                                output_tokens=-1)
    with pytest.raises(ValidationError):
        client.record_request(provider="openai", request_model="gpt-4o", colour="blue")
    with pytest.raises(ValidationError):
        client.record_response(input_tokens=10)  # no request_id
    with pytest.raises(ValidationError):
        client.record_feedback(request_id="req-1")  # no content
    with pytest.raises(ValidationError):
        client.record_inference(start_time=START + timedelta(hours=1), end_time=START,
                                provider="openai", request_model="gpt-4o")
    assert producer(client).produced == []


def test_every_event_type_goes_to_its_topic_keyed_by_request_id(
    client: LlmPulseClient,
) -> None:
    rid = client.record_inference(start_time=START, end_time=START + timedelta(seconds=2),
                                  provider="openai", request_model="gpt-4o-mini",
                                  input_tokens=120, output_tokens=30, finish_reasons=["stop"])
    assert client.record_response(request_id="req-2", output_tokens=3) == "req-2"
    feedback_id = client.record_feedback(request_id=rid, thumbs="down")
    messages = sent(client)
    assert [(t, k) for t, k, _ in messages] == [("llm.inference", rid.encode()),
                                                ("llm.responses", b"req-2"),
                                                ("llm.feedback", rid.encode())]
    types = [type(EVENT_ADAPTER.validate_python(v)) for _, _, v in messages]
    assert types == [InferenceEvent, ResponseEvent, FeedbackEvent]
    assert messages[2][2]["feedback_id"] == feedback_id and "time" in messages[2][2]
    assert "end_time" in messages[1][2]


def test_wire_aliases_are_accepted_as_keyword_fields(client: LlmPulseClient) -> None:
    fields: dict[str, Any] = {"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"}
    client.record_request(request_id="req-3", **fields)
    assert sent(client)[0][2]["gen_ai.request.model"] == "gpt-4o"


def test_topic_prefix_and_raw_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(confluent_kafka, "Producer", FakeProducer)
    client = LlmPulseClient("b:9092", "staging.llm.")
    client.produce_raw("requests", None, b"\x00 not json")
    client.record_feedback(request_id="r", rating=5)
    fake = producer(client)
    first = fake.produced[0]
    assert (first["topic"], first["key"], first["value"]) == (
        "staging.llm.requests", None, b"\x00 not json")
    assert fake.produced[1]["topic"] == "staging.llm.feedback"


def test_delivery_reports_are_counted_and_failures_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(confluent_kafka, "Producer", FakeProducer)
    failures: list[tuple[str, Exception]] = []
    client = LlmPulseClient("b:9092", on_delivery_error=lambda rid, exc: failures.append(
        (rid, exc)))
    client.record_response(request_id="req-ok", output_tokens=1)
    producer(client).deliver()
    assert (client.delivered, client.failed) == (1, 0)
    producer(client).deliver(confluent_kafka.KafkaError(confluent_kafka.KafkaError._MSG_TIMED_OUT))
    assert client.failed == 1
    [(rid, exc)] = failures
    assert rid == "req-ok" and isinstance(exc, confluent_kafka.KafkaException)


def test_delivery_failures_are_logged_by_default(
    client: LlmPulseClient, caplog: pytest.LogCaptureFixture,
) -> None:
    client.record_response(request_id="req-lost", output_tokens=1)
    with caplog.at_level(logging.WARNING, logger="llmpulse.sdk"):
        producer(client).deliver(confluent_kafka.KafkaError(confluent_kafka.KafkaError._TRANSPORT))
    assert "req-lost" in caplog.text


def test_full_queue_waits_for_room_then_gives_up(client: LlmPulseClient) -> None:
    fake = producer(client)
    fake.buffer_errors = 2
    client.record_response(request_id="req-4", output_tokens=1)
    assert len(fake.produced) == 1
    assert fake.polls == [0.1, 0.1, 0]
    fake.buffer_errors = -1  # always full
    with pytest.raises(BrokerError, match="queue"):
        client.record_response(request_id="req-5", output_tokens=1)
    assert len(fake.produced) == 1


def test_context_manager_flushes(monkeypatch: pytest.MonkeyPatch) -> None:
    flushed: list[float] = []

    def flush(self: FakeProducer, timeout: float) -> int:
        flushed.append(timeout)
        return 0

    monkeypatch.setattr(confluent_kafka, "Producer", FakeProducer)
    monkeypatch.setattr(FakeProducer, "flush", flush)
    with LlmPulseClient("b:9092") as client:
        client.record_feedback(request_id="r", flags=["toxic"])
    assert flushed == [30.0]


def test_real_producer_accepts_the_configuration() -> None:
    client = LlmPulseClient("127.0.0.1:1")
    assert client.flush(0) == 0
    assert client.close(0) == 0


def test_produce_errors_become_broker_errors() -> None:
    client = LlmPulseClient("127.0.0.1:1", producer_config={"message.max.bytes": 10_000})
    with pytest.raises(BrokerError, match=r"llm\.requests"):
        client.produce_raw("requests", b"k", b"x" * 20_000)


def test_hash_user_is_stable_salted_sha256() -> None:
    first = hash_user("alice@example.com", "salt-1")
    assert first == hash_user("alice@example.com", "salt-1")
    assert len(first) == 64 and int(first, 16) >= 0
    assert first != hash_user("alice@example.com", "salt-2")
    assert first != hash_user("bob@example.com", "salt-1")


def test_importing_the_sdk_and_simulator_does_not_load_confluent_kafka() -> None:
    code = ("import sys, llmpulse.sdk, llmpulse.simulator; "
            "sys.exit('confluent_kafka' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
