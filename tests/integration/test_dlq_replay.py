"""``llmpulse dlq replay`` as an operator runs it: separate processes on a real broker,
progress kept per dead letter across replays of one reason and of every reason."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from tests.integration.stack import Stack, make_stack

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
