"""The Faust agents with ``test_context()``: no broker, the real pipeline and store."""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson
from aiokafka.partitioner import murmur2

from llmpulse.config import load_settings
from llmpulse.metrics import build_metrics
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.streams.app import all_topics, build_app
from tests.unit.factories import feedback, inference, request, response


class TP(NamedTuple):
    topic: str
    partition: int


def part(key: bytes) -> int:
    """The partition the SDK's murmur2 partitioner gives the key (4 partitions)."""
    return (murmur2(key) & 0x7FFFFFFF) % 4


def _worker(store: ClickHouseStore) -> Any:
    settings = load_settings({"LLMPULSE_BROKER": "127.0.0.1:1",
                              "LLMPULSE_BATCH_MAX_ROWS": "100000"})
    return build_app(settings, store, build_metrics())


def test_every_llmpulse_topic_is_declared_with_the_partition_count() -> None:
    topics = all_topics(load_settings({"LLMPULSE_PARTITIONS": "6", "LLMPULSE_TOPIC_PREFIX": "x."}))
    assert set(topics) == {f"x.{r}" for r in ("requests", "responses", "inference", "feedback",
                                               "signals", "windows", "alerts", "retrain",
                                               "releases", "dlq", "scoring", "scores")}
    assert set(topics.values()) == {6}


async def test_agents_join_validate_and_store(store: ClickHouseStore) -> None:
    worker = _worker(store)
    sent: dict[str, list[Any]] = {"dlq": [], "signals": [], "windows": [], "scoring": []}

    async def dead(letters: Any) -> None:
        sent["dlq"].extend(letters)

    async def signals(calls: Any, _: Any) -> None:
        sent["signals"].extend(calls)

    async def windows(partials: dict[Any, Any]) -> None:
        sent["windows"].extend(partials.items())

    async def scoring(tasks: Any) -> None:
        sent["scoring"].extend(tasks)

    persisted: dict[str, Any] = {}

    async def changelog(changes: dict[str, Any]) -> None:
        persisted.update(changes)

    worker.pipeline.outbox.dead_letters = dead
    worker.pipeline.outbox.signals = signals
    worker.pipeline.outbox.windows = windows
    worker.pipeline.outbox.scoring = scoring
    worker.pipeline.table.send = changelog  # no broker here: capture the changelog burst
    agents = worker.agents
    async with agents["requests"].test_context() as req, \
            agents["responses"].test_context() as resp, \
            agents["inference"].test_context() as inf, \
            agents["feedback"].test_context() as fb:
        await req.put(orjson.dumps(request("j1")), key=b"j1", partition=part(b"j1"))
        await inf.put(orjson.dumps(inference("i1")), key=b"i1", partition=part(b"i1"))
        await inf.put(b"not json", key=b"i2", partition=part(b"i2"))
        await inf.put(orjson.dumps(inference("i1")), key=b"i1", partition=part(b"i1"))  # duplicate
        await resp.put(orjson.dumps(response("j1")), key=b"j1", partition=part(b"j1"))
        await fb.put(orjson.dumps(feedback("i1")), key=b"i1", partition=part(b"i1"))
        await worker.pipeline.flush()
    rows = store.query("SELECT request_id, join_status FROM inference_events FINAL "
                       "ORDER BY request_id")
    assert rows == [("i1", "inference"), ("j1", "joined")]
    assert store.query("SELECT request_id FROM feedback FINAL") == [("i1",)]
    assert [d.reason for d in sent["dlq"]] == ["not_json"]
    assert sorted(c.record.request_id for c in sent["signals"]) == ["i1", "j1"]
    overall = [agg for (group, _), agg in sent["windows"] if group.labels().keys() == {"model"}]
    assert sum(agg.calls for agg in overall) == 2  # both calls, once, in the model's windows
    assert {key: value["k"] for key, value in persisted.items()} == {"i1": "d", "j1": "d"}
    registry = worker.pipeline.metrics.registry
    assert registry.get_sample_value("llmpulse_duplicate_events_total",
                                     {"topic": "llm.inference"}) == 1


async def test_lag_of_partitions_moved_to_another_worker_is_no_longer_reported() -> None:
    from types import SimpleNamespace

    from llmpulse.streams.app import _report_lag

    class Consumer:
        def __init__(self) -> None:
            self.assigned = {TP("llm.inference", 0), TP("llm.inference", 1)}
            self._committed_offset = {TP("llm.inference", 1): 3}  # as Faust keeps it

        def assignment(self) -> set[Any]:
            return self.assigned

        def highwater(self, tp: Any) -> int:
            return 10

        async def position(self, tp: Any) -> int:
            return 4

    metrics = build_metrics()
    consumer = Consumer()
    app = SimpleNamespace(consumer=consumer)
    reported: set[tuple[str, str]] = set()
    await _report_lag(app, metrics, {}, reported)  # type: ignore[arg-type]
    sample = metrics.registry.get_sample_value
    assert sample("llmpulse_consumer_read_lag", {"topic": "llm.inference", "partition": "1"}) == 6
    assert sample("llmpulse_consumer_lag", {"topic": "llm.inference", "partition": "1"}) == 7
    assert sample("llmpulse_consumer_lag", {"topic": "llm.inference", "partition": "0"}) == 10
    consumer.assigned = {TP("llm.inference", 0)}  # partition 1 moved away in a rebalance
    await _report_lag(app, metrics, {}, reported)  # type: ignore[arg-type]
    assert sample("llmpulse_consumer_lag", {"topic": "llm.inference", "partition": "1"}) is None
    assert sample("llmpulse_consumer_read_lag", {"topic": "llm.inference",
                                                 "partition": "1"}) is None
    assert sample("llmpulse_consumer_read_lag", {"topic": "llm.inference",
                                                 "partition": "0"}) == 6
