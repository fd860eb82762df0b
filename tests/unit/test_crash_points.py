"""Crash the pipeline at every step boundary of its batches, recover as the worker
does, replay what Kafka would redeliver, and check the outcome: every call stored
once, as what it is (joined, not a timeout), feedback once, every invalid message
dead-lettered, nothing counted twice in the rule windows (a crash may leave out
the batch it interrupted there: stored windows are computed from stored rows), and
every message
acknowledged so that committed offsets reach the end.

The durable parts are real or faithful: the real embedded ClickHouse engine, a
join-table changelog that a crash can leave half-written (each change is a step),
published messages, and committed offsets (the highest contiguous acknowledged
offset of each partition, as Kafka commits them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka.partitioner import murmur2

from llmpulse import join
from llmpulse.config import load_settings
from llmpulse.metrics import build_metrics
from llmpulse.pipeline import DeadLetter, Pipeline
from llmpulse.signals import Signal
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.rows import StoredCall
from llmpulse.windows import GroupKey
from tests.unit.conftest import TABLES
from tests.unit.factories import T0, feedback, inference, request, response

PARTITIONS = 2
BATCH_ROWS = 4
STORE_STEPS = ("insert_", "stored_", "call_refs", "waiting_feedback", "scoring_rows")


class Crash(BaseException):
    """The process dies here (not an Exception: no retry loop may catch it)."""


@dataclass
class Faults:
    """Numbers the step boundaries of a run; raises :class:`Crash` at step ``at``."""

    at: int | None = None
    steps: list[str] = field(default_factory=list)

    def step(self, name: str) -> None:
        self.steps.append(name)
        if self.at is not None and len(self.steps) == self.at:
            raise Crash(name)


class CrashingStore:
    """The real store; every read and write is a step (a crash may come before it)."""

    def __init__(self, store: ClickHouseStore, faults: Faults) -> None:
        self._store = store
        self._faults = faults

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not name.startswith(STORE_STEPS):
            return attr

        def step_then(*args: Any, **kwargs: Any) -> Any:
            self._faults.step(f"store.{name}")
            return attr(*args, **kwargs)

        return step_then


class ChangelogTable(join.MemoryJoinTable):
    """A join table whose persisted changes go one by one to a durable changelog."""

    def __init__(self, faults: Faults, changelog: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self._faults = faults
        self._log = changelog
        self._changes: dict[str, dict[str, Any] | None] = {}
        self._data = {k: orjson.loads(orjson.dumps(v)) for k, v in changelog.items()}
        self.pending = {k for k, v in self._data.items() if v["k"] == "p"}  # recovery

    def __setitem__(self, key: str, value: dict[str, Any]) -> None:
        super().__setitem__(key, value)
        self._changes[key] = value

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._changes[key] = None

    async def persist(self) -> None:
        changes, self._changes = self._changes, {}
        for key, value in changes.items():
            self._faults.step("changelog")
            if value is None:
                self._log.pop(key, None)
            else:
                self._log[key] = orjson.loads(orjson.dumps(value))


@dataclass
class Bus:
    """What reached Kafka: published messages and acknowledged input offsets."""

    dead: list[DeadLetter] = field(default_factory=list)
    windows: list[dict[Any, Any]] = field(default_factory=list)
    acked: set[tuple[str, int, int]] = field(default_factory=set)


class CrashingOutbox:
    def __init__(self, bus: Bus, faults: Faults) -> None:
        self._bus = bus
        self._faults = faults

    async def dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        self._faults.step("outbox.dead_letters")
        self._bus.dead.extend(letters)

    async def signals(self, calls: Sequence[StoredCall], signals: Sequence[Signal]) -> None:
        self._faults.step("outbox.signals")

    async def windows(self, partials: dict[Any, Any]) -> None:
        self._faults.step("outbox.windows")
        self._bus.windows.append(partials)

    async def scoring(self, tasks: Sequence[Any]) -> None:
        self._faults.step("outbox.scoring")

    async def evaluations(self, results: Sequence[Any]) -> None:
        self._faults.step("outbox.evaluations")


@dataclass(frozen=True)
class Message:
    role: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes

    @property
    def topic(self) -> str:
        return f"llm.{self.role}"


def messages() -> list[Message]:
    """Pairs split across batches, whole calls, feedback, a redelivery, a bad message."""
    events: list[tuple[str, Any]] = [
        ("requests", request("p0")), ("requests", request("p1")), ("inference", inference("i0")),
        ("responses", response("p0")), ("requests", request("p2")), ("inference", b"{bad"),
        ("responses", response("p1")), ("inference", inference("i1")),
        ("requests", request("p3")), ("responses", response("p2")),
        ("feedback", feedback("i0", feedback_id="f0")), ("requests", request("p4")),
        ("responses", response("p3")), ("inference", inference("i0")),
        ("responses", response("p4")), ("requests", request("p5")),
        ("inference", inference("i2")), ("responses", response("p5")),
        ("feedback", feedback("p1", feedback_id="f1", thumbs="up")),
    ]
    offsets: dict[tuple[str, int], int] = {}
    out = []
    for role, event in events:
        if isinstance(event, bytes):
            key, partition, value = None, 0, event
        else:
            key = event["request_id"].encode()
            partition = (murmur2(key) & 0x7FFFFFFF) % PARTITIONS
            value = orjson.dumps(event)
        offset = offsets.get((role, partition), 0)
        offsets[(role, partition)] = offset + 1
        out.append(Message(role, partition, offset, key, value))
    return out


EXPECTED = {"p0": "joined", "p1": "joined", "p2": "joined", "p3": "joined", "p4": "joined",
            "p5": "joined", "i0": "inference", "i1": "inference", "i2": "inference"}


def committed(bus: Bus, log: Sequence[Message]) -> dict[tuple[str, int], int]:
    """Per partition, the offset Kafka resumes from: past the contiguous acked prefix."""
    out: dict[tuple[str, int], int] = {}
    for m in sorted(log, key=lambda m: (m.topic, m.partition, m.offset)):
        where = (m.topic, m.partition)
        if out.get(where, 0) == m.offset and (m.topic, m.partition, m.offset) in bus.acked:
            out[where] = m.offset + 1
    return out


def build(store: ClickHouseStore, faults: Faults, bus: Bus,
          changelog: dict[str, dict[str, Any]]) -> Pipeline:
    settings = load_settings({"LLMPULSE_BATCH_MAX_ROWS": str(BATCH_ROWS),
                              "LLMPULSE_PARTITIONS": str(PARTITIONS)})

    async def ack(token: Any) -> None:
        faults.step("ack")
        bus.acked.add(token)

    now = T0.timestamp() + 600
    return Pipeline(settings, CrashingStore(store, faults), CrashingOutbox(bus, faults),  # type: ignore[arg-type]
                    build_metrics(), ChangelogTable(faults, changelog), ack, lambda: now)


async def run(pipe: Pipeline, log: Sequence[Message], start: dict[tuple[str, int], int]
              ) -> None:
    for m in log:
        if m.offset >= start.get((m.topic, m.partition), 0):
            await pipe.handle(m.role, m.topic, m.partition, m.offset, m.key, m.value,
                              (m.topic, m.partition, m.offset))
    await pipe.flush()


async def crash_then_recover(store: ClickHouseStore, at: int | None, replay_all: bool
                             ) -> tuple[Faults, Bus, Pipeline]:
    for table in TABLES:
        store.client.command(f"TRUNCATE TABLE {table}")
    log = messages()
    faults, bus, changelog = Faults(at), Bus(), {}
    pipe = build(store, faults, bus, changelog)
    try:
        await run(pipe, log, {})
        return faults, bus, pipe
    except Crash:
        pass
    # restart: join table from its changelog, input from the committed offsets (or,
    # when the commits were lost too, from the start)
    start = {} if replay_all else committed(bus, log)
    pipe = build(store, Faults(), bus, changelog)
    await run(pipe, log, start)
    return faults, bus, pipe


def problems(store: ClickHouseStore, bus: Bus, pipe: Pipeline, crashed_at: str | None
             ) -> list[str]:
    found = []
    rows = store.query("SELECT request_id, join_status FROM inference_events FINAL")
    stored = {str(rid): str(status) for rid, status in rows}
    if stored != EXPECTED or len(rows) != len(EXPECTED):
        found.append(f"stored calls {sorted(rows)}")
    twice = store.query("SELECT request_id, name FROM signals FINAL "
                        "GROUP BY request_id, name HAVING count() > 1")
    if twice:
        found.append(f"signals stored twice: {twice}")
    [[fb]] = store.query("SELECT count() FROM feedback FINAL")
    if fb != 2:
        found.append(f"{fb} feedback rows")
    letters = {(d.topic, d.partition, d.offset) for d in bus.dead}
    if len(letters) != 1:
        found.append(f"dead letters {letters}")
    windowed = sum(agg.calls for partials in bus.windows for (group, _), agg in partials.items()
                   if group == GroupKey(model=group.model))
    # at most once in the rule windows: a crash may lose the batch being written
    # (stored windows are computed from the stored rows), never count a call twice
    least = len(EXPECTED) - (BATCH_ROWS if crashed_at else 0)
    if not least <= windowed <= len(EXPECTED):
        found.append(f"{windowed} calls in the rule windows")
    log = messages()
    ends = {(m.topic, m.partition): m.offset + 1 for m in log}
    if committed(bus, log) != ends:
        found.append(f"committed {committed(bus, log)} != ends {ends}")
    if pipe.in_flight or join.pending_count(pipe.table):
        found.append(f"left over: in flight {pipe.in_flight}, "
                     f"pending {join.pending_count(pipe.table)}")
    return found


async def every_crash_point(store: ClickHouseStore, replay_all: bool) -> list[str]:
    """Run without a crash, then crash at each step in turn; what went wrong, by step."""
    failures: list[str] = []

    def check(at: int, name: str | None, found: list[str]) -> None:
        if found:
            failures.append(f"crash at step {at} ({name}): {'; '.join(found)}")

    faults, bus, pipe = await crash_then_recover(store, None, replay_all)
    check(0, None, problems(store, bus, pipe, None))
    total = len(faults.steps)
    assert total > 40, faults.steps  # the scenario spans several batches
    for at in range(1, total + 1):
        faults, bus, pipe = await crash_then_recover(store, at, replay_all)
        name = faults.steps[at - 1] if len(faults.steps) >= at else None
        check(at, name, problems(store, bus, pipe, name))
    return failures


async def test_a_crash_at_any_step_replays_into_the_same_rows(store: ClickHouseStore) -> None:
    failures = await every_crash_point(store, replay_all=False)
    assert not failures, "\n".join(failures)


async def test_a_crash_that_also_loses_the_commits_replays_into_the_same_rows(
        store: ClickHouseStore) -> None:
    failures = await every_crash_point(store, replay_all=True)
    assert not failures, "\n".join(failures)
