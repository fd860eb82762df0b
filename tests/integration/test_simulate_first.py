"""`llmpulse simulate` before any worker: the topics are made as the worker wants them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from llmpulse.topics import admin_client, all_topics
from tests.integration.stack import Stack, wait_metrics

#: Neither broker's default (the embedded broker makes 4, the test Kafka 1), so a topic
#: the broker auto-created would have another count and the worker would refuse it.
PARTITIONS = "3"


def test_simulate_on_a_fresh_prefix_then_a_worker_processes_it(broker: str,
                                                               tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    stack = Stack(broker=broker, data_dir=tmp_path, prefix=f"s{tag}.", app_id=f"sim-{tag}")
    extra = {"LLMPULSE_PARTITIONS": PARTITIONS}
    sent = stack.cli("simulate", "--count", "60", "--rate", "200", "--seed", "5",
                     env_extra=extra)
    assert sent.returncode == 0, sent.stderr
    stats = json.loads(sent.stdout)
    assert stats["calls"] == 60 and stats["unflushed"] == 0
    metadata = admin_client(broker).list_topics(timeout=10)
    settings = stack.settings().model_copy(update={"partitions": int(PARTITIONS)})
    counts = {name: len(metadata.topics[name].partitions) for name in all_topics(settings)}
    assert counts == all_topics(settings)  # every topic, inputs and outputs, with 3
    worker = stack.worker(**extra)
    try:
        wait_metrics(worker, lambda m: m.get("llmpulse_calls_total", 0) >= stats["calls"],
                     timeout=120, what="every simulated call")
    finally:
        assert worker.stop() == 0
    rows = stack.sql("SELECT count() FROM inference_events FINAL")
    assert rows == [[stats["calls"]]]
