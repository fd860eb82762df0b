"""`llmpulse broker` as a user runs it (a real process), with `simulate` and `dlq list`
pointed at it; and `demo` on a broker of its own saying which topics it used."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmpulse.embedded_broker import EmbeddedBroker
from llmpulse.ingest import INPUT_ROLES
from tests.harness.net import port_is_free


def _env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LLMPULSE_")}
    return {**clean, **extra}


@pytest.fixture
def local_broker(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen([sys.executable, "-m", "llmpulse", "broker",
                             "--log", str(tmp_path / "broker.log")],
                            cwd=tmp_path, env=_env(LLMPULSE_PARTITIONS="2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()  # blocks until the broker is ready
    try:
        assert first.startswith("export LLMPULSE_BROKER=127.0.0.1:"), proc.communicate()
        yield proc, first.removeprefix("export LLMPULSE_BROKER=")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _end_offsets(bootstrap: str, topics: list[str]) -> dict[str, int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "offsets-probe"})
    try:
        ends = {}
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            ends[topic] = sum(consumer.get_watermark_offsets(TopicPartition(topic, p),
                                                             timeout=10)[1]
                              for p in meta.partitions)
        return ends
    finally:
        consumer.close()


def test_the_broker_command_serves_simulate_and_the_dlq_tools(
        local_broker: tuple[subprocess.Popen[str], str], tmp_path: Path) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient

    proc, bootstrap = local_broker
    # llmpulse's topics exist at once, with the configured partition count
    topics = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics
    assert {f"llm.{role}" for role in INPUT_ROLES} <= set(topics)
    assert len(topics["llm.requests"].partitions) == 2

    env = _env(LLMPULSE_BROKER=bootstrap, LLMPULSE_PARTITIONS="2")
    sent = subprocess.run([sys.executable, "-m", "llmpulse", "simulate", "--count", "300",
                           "--rate", "100", "--seed", "5"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert sent.returncode == 0, sent.stderr
    stats = json.loads(sent.stdout)
    assert stats["calls"] == 300 and stats["unflushed"] == 0
    # piped: whole progress lines, no carriage returns or escape codes
    progress = [line for line in sent.stderr.splitlines() if line.startswith("simulate:")]
    assert progress and "of 300 calls sent" in progress[0]
    assert "\r" not in sent.stderr and "\x1b" not in sent.stderr
    ends = _end_offsets(bootstrap, [f"llm.{role}" for role in INPUT_ROLES])
    assert sum(ends.values()) == sum(stats["events"].values())  # all on the broker

    with_letters = Producer({"bootstrap.servers": bootstrap})
    for i in range(7):
        with_letters.produce("llm.dlq", key=f"k{i}".encode(), value=b"{not json",
                             headers={"llmpulse.reason": b"not_json"})
    assert with_letters.flush(10) == 0
    listed = subprocess.run([sys.executable, "-m", "llmpulse", "dlq", "list", "--limit", "5"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 5
    assert "... 2 more dead letters not shown (7 in llm.dlq); --limit 7 lists them all" \
        in listed.stderr

    port = int(bootstrap.rpartition(":")[2])
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "llmpulse broker: stopped" in err
    assert port_is_free(port)


def test_demo_on_a_real_broker_names_its_topics_and_group(
        embedded_broker: EmbeddedBroker, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "llmpulse", "demo", "--duration", "3",
                           "--rate", "30", "--seed", "3"], cwd=tmp_path,
                          env=_env(LLMPULSE_BROKER=embedded_broker.bootstrap),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    [topics] = [line for line in done.stdout.splitlines() if line.strip().startswith("topics")]
    prefix = topics.split()[1].removesuffix("*")
    assert prefix.startswith("llmpulse-demo-") and "consumer group llmpulse-demo-" in topics
    [again] = [line for line in done.stdout.splitlines() if line.startswith("this run's")]
    assert f"LLMPULSE_TOPIC_PREFIX={prefix}" in again
    assert f"LLMPULSE_BROKER={embedded_broker.bootstrap}" in again
    assert "LLMPULSE_APP_ID=llmpulse-demo-" in again
