"""``llmpulse dlq replay`` as an operator runs it: separate processes on a real broker,
progress kept per dead letter across replays of one reason and of every reason."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from pathlib import Path

import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from tests.integration.stack import Stack, make_stack, wait_metrics

#: (reason, payload) of each dead letter, in the order the worker wrote them.
LETTERS = [("not_json", b"{nj-1"), ("not_object", b"[1]"), ("not_json", b"{nj-2"),
           ("not_object", b"[2]"), ("not_json", b"{nj-3"), ("not_object", b"[3]")]


def write_letters(stack: Stack) -> None:
    """Dead letters as the worker writes them (headers name the reason and source)."""
    producer = Producer({"bootstrap.servers": stack.broker})
    partitions = stack.settings().partitions
    for i, (reason, value) in enumerate(LETTERS):
        producer.produce(stack.prefix + "dlq", value=value, key=f"k{i}".encode(),
                         partition=i % partitions, headers=[
                             ("llmpulse.reason", reason.encode()),
                             ("llmpulse.detail", b"test"),
                             ("llmpulse.source.topic", (stack.prefix + "inference").encode()),
                             ("llmpulse.source.partition", b"0"),
                             ("llmpulse.source.offset", str(i).encode())])
    assert producer.flush(30) == 0


def replayed(stack: Stack) -> Counter[bytes]:
    """The values sent back to the source topic, counted."""
    consumer = Consumer({"bootstrap.servers": stack.broker,
                         "group.id": f"it-{uuid.uuid4().hex}", "enable.auto.commit": False})
    topic = stack.prefix + "inference"
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        got: Counter[bytes] = Counter()
        last = time.monotonic()
        while time.monotonic() - last < 3:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                got[message.value()] += 1
                last = time.monotonic()
        return got
    finally:
        consumer.close()


def replay(stack: Stack, *args: str) -> str:
    done = stack.cli("dlq", "replay", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def test_replay_progress_is_kept_per_letter(broker: str, tmp_path: Path) -> None:
    """Issue 20: a replay of every reason re-sent the letters a `--reason` replay had
    sent, and a replay with nothing to send waited ~21 s."""
    stack = make_stack(broker, tmp_path)
    write_letters(stack)

    assert replay(stack, "--reason", "not_json", "--limit", "1") == "replayed 1 dead letters"
    assert replay(stack, "--reason", "not_json") == "replayed 2 dead letters"
    assert replay(stack) == ("replayed 3 dead letters (3 replayed earlier with their "
                             "--reason, skipped)")
    for args in ((), ("--reason", "not_json"), ("--reason", "not_object")):
        started = time.monotonic()
        assert replay(stack, *args).startswith("nothing to replay")
        took = time.monotonic() - started
        assert took < 15, took  # it waited ~21 s for letters that would not come

    assert replayed(stack) == Counter(value for _, value in LETTERS)  # each exactly once

    # letters that arrive later: a --reason replay sends its own, the next replay the rest
    later = [("not_object", b"[4]"), ("not_json", b"{nj-4")]
    producer = Producer({"bootstrap.servers": stack.broker})
    for reason, value in later:
        producer.produce(stack.prefix + "dlq", value=value, headers=[
            ("llmpulse.reason", reason.encode()),
            ("llmpulse.source.topic", (stack.prefix + "inference").encode())])
    assert producer.flush(30) == 0
    assert replay(stack, "--reason", "not_object") == "replayed 1 dead letters"
    assert replay(stack) == ("replayed 1 dead letters (1 replayed earlier with their "
                             "--reason, skipped)")
    assert replayed(stack) == Counter(value for _, value in LETTERS + later)


@pytest.mark.parametrize("broker", ["embedded"], indirect=True)  # the worker's letter format
def test_redacted_dead_letters_keep_no_personal_data_and_are_not_replayed(
        broker: str, tmp_path: Path) -> None:
    """LLMPULSE_DLQ_PAYLOAD=redacted: the worker's letters hold the reason, the source and
    a copy without the emails, phones or cards; `dlq replay` names them and sends none."""
    stack = make_stack(broker, tmp_path)
    worker = stack.worker(LLMPULSE_DLQ_PAYLOAD="redacted")
    email, phone, card = "jane.doe@example.com", "+44 20 7946 0958", "4111 1111 1111 1111"
    bad = [
        orjson.dumps({"request_id": "r-1", "prompt": f"mail {email} or call {phone}"}),
        f"not json at all, card {card}".encode(),
        b"\xff\xfe binary",
    ]
    producer = Producer({"bootstrap.servers": stack.broker})
    for value in bad:
        producer.produce(stack.prefix + "inference", value=value, key=b"k")
    assert producer.flush(30) == 0
    try:
        wait_metrics(worker, lambda m: sum(v for k, v in m.items()
                                           if k.startswith("llmpulse_dlq_events_total")) >= 3,
                     timeout=60, what="3 dead letters")
    finally:
        assert worker.stop() == 0, worker.log_tail()

    listed = stack.cli("dlq", "list")
    assert listed.returncode == 0, listed.stderr
    letters = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(letters) == 3 and all(letter["redacted"] for letter in letters), letters
    for secret in (email, phone, card, "jane.doe"):
        assert secret not in listed.stdout, secret
    copies = {json.loads(letter["value"])["form"]: json.loads(letter["value"])
              for letter in letters}
    assert copies["json"]["redacted_copy"]["request_id"] == "r-1"
    assert "[EMAIL]" in copies["json"]["redacted_copy"]["prompt"]
    assert "[CARD]" in copies["text"]["redacted_copy"]
    assert copies["binary"] == {"redacted_copy": None, "form": "binary",
                                "original_bytes": len(bad[2])}

    done = stack.cli("dlq", "replay")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 dead letters hold a redacted copy" in done.stderr
    assert done.stderr.count(" offset ") == 3
    assert done.stdout.startswith("nothing to replay")
    assert sum(replayed(stack).values()) == len(bad)  # only what the test produced itself
