"""Input is processed only under an assignment that carries the tables' changelog
partitions (``llmpulse.streams.table_guard``): an assignment computed from metadata that
did not show the changelog topics yet gave a worker its input without them, and a
restart (the same static member, the same assignment) started with an empty join
table."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from faust.types import TP

from llmpulse.config import load_settings
from llmpulse.metrics import build_metrics
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.streams.app import build_app
from llmpulse.streams.table_guard import (
    TableAssignmentGuard,
    changelog_topics,
    missing_changelogs,
)
from tests.unit.factories import request

JOIN = "llmpulse-join-changelog"
SOURCES = {JOIN: {"llm.requests", "llm.responses", "llm.inference"}}


def tps(topic: str, *partitions: int) -> set[TP]:
    return {TP(topic, p) for p in partitions}


def test_an_assignment_with_the_changelog_partitions_of_its_inputs_is_complete() -> None:
    assigned = tps("llm.requests", 0, 1) | tps("llm.inference", 0, 1) | tps(JOIN, 0, 1)
    assert missing_changelogs(assigned, tps(JOIN, 0, 1), SOURCES) == {}
    assert missing_changelogs(tps("llm.feedback", 2), set(), SOURCES) == {}  # no table there


def test_input_partitions_without_their_changelog_partitions_are_named() -> None:
    assigned = tps("llm.requests", 0, 1, 2) | tps("llm.responses", 3)
    assert missing_changelogs(assigned, tps(JOIN, 1), SOURCES) == {JOIN: [0, 2, 3]}
    assert missing_changelogs(assigned, set(), SOURCES) == {JOIN: [0, 1, 2, 3]}


async def test_the_guard_closes_on_a_rebalance_and_opens_on_a_complete_assignment() -> None:
    guard = TableAssignmentGuard(SOURCES)
    assert guard.is_open  # nothing is read before the first assignment
    assert guard.on_assigned(tps("llm.requests", 0), set()) == {JOIN: [0]}
    assert not guard.is_open
    waiting = asyncio.ensure_future(guard.wait())
    await asyncio.sleep(0)
    assert not waiting.done()
    guard.on_revoked()
    assert guard.on_assigned(tps("llm.requests", 0), tps(JOIN, 0)) == {}
    await asyncio.wait_for(waiting, timeout=1)
    guard.on_revoked()
    assert not guard.is_open


def _worker(store: ClickHouseStore) -> Any:
    settings = load_settings({"LLMPULSE_BROKER": "127.0.0.1:1",
                              "LLMPULSE_BATCH_MAX_ROWS": "100000"})
    return build_app(settings, store, build_metrics())


def test_the_worker_creates_its_tables_changelogs_as_faust_would(store: ClickHouseStore) -> None:
    worker = _worker(store)
    topics = {t.name: t for t in changelog_topics(worker.app.tables.values())}
    assert set(topics) == {"llmpulse-join-changelog", "llmpulse-alert-state-changelog"}
    for topic in topics.values():
        assert topic.partitions == 4
        assert topic.config["cleanup.policy"] == "compact"
    assert set(worker.guard.sources) == set(topics)
    assert worker.guard.sources["llmpulse-join-changelog"] == {
        "llm.requests", "llm.responses", "llm.inference"}


async def test_input_waits_for_an_assignment_with_the_join_changelog(
        store: ClickHouseStore) -> None:
    """The worker is given its input partitions without the join table's changelog
    partitions: the request waits (it would meet an empty join table) and is read
    again under the next, complete assignment."""
    worker = _worker(store)
    app = worker.app
    app.consumer_generation_id = 1
    worker.guard.on_assigned(tps("llm.requests", 0, 1, 2, 3), set())
    handled: list[str] = []
    handle = worker.pipeline.handle

    async def spy(role: str, *args: Any) -> None:
        handled.append(role)
        await handle(role, *args)

    worker.pipeline.handle = spy
    async with worker.agents["requests"].test_context() as agent:
        await agent.put(orjson.dumps(request("g1")), key=b"g1", partition=0)
        await asyncio.sleep(0.05)
        assert handled == []  # waits while the assignment is incomplete
        app.consumer_generation_id = 2  # the new assignment: complete
        worker.guard.on_assigned(tps("llm.requests", 0, 1, 2, 3),
                                 tps("llmpulse-join-changelog", 0, 1, 2, 3))
        await asyncio.sleep(0.05)
        assert handled == []  # read under the incomplete one: read again, not processed
        await agent.put(orjson.dumps(request("g2")), key=b"g2", partition=0)
    assert handled == ["requests"]
