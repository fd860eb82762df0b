"""Faust's consumer (the worker's class) keeps acknowledged offsets until a commit
of them succeeds: a failed commit no longer stalls the partition for good."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import faust
from faust.types import TP

from llmpulse.streams.fetch import use_short_fetch_wait

T = TP("llm.inference", 0)


def consumer_with(commit_results: list[bool]) -> Any:
    app = faust.App("commits-test", broker="kafka://127.0.0.1:1")
    use_short_fetch_wait(app, strict_topics={T.topic})  # an input topic, as in the worker
    consumer = app.consumer
    app.topics._acking_topics.add(T.topic)  # as the conductor does for an agent's topic
    sent: list[dict[TP, int]] = []

    async def commit(offsets: dict[TP, int]) -> bool:
        sent.append(dict(offsets))
        return commit_results.pop(0)

    async def flush() -> None:
        return None

    consumer._commit = commit
    consumer.assignment = lambda: {T}
    app._producer = SimpleNamespace(flush=flush)
    consumer.sent = sent
    return consumer


class Message:
    def __init__(self, offset: int) -> None:
        self.acked, self.tp, self.offset, self.topic = False, T, offset, T.topic


def ack(consumer: Any, offsets: range) -> None:
    for offset in offsets:
        message = Message(offset)
        consumer._unacked_messages.add(message)
        assert consumer.ack(message)


async def test_a_failed_commit_keeps_its_offsets_for_the_next_one() -> None:
    consumer = consumer_with([False, True, True])
    consumer._committed_offset[T] = 100
    ack(consumer, range(100, 150))
    assert await consumer.commit() is False  # the broker was away
    assert consumer._committed_offset[T] == 100
    ack(consumer, range(150, 160))
    assert await consumer.commit() is True
    assert consumer._committed_offset[T] == 160
    assert consumer.sent == [{T: 150}, {T: 160}]
    assert list(consumer._acked[T]) == []
    ack(consumer, range(160, 170))
    assert await consumer.commit() is True and consumer._committed_offset[T] == 170


async def test_the_committed_offset_itself_must_be_acknowledged() -> None:
    consumer = consumer_with([True, True])
    consumer._committed_offset[T] = 100
    ack(consumer, range(101, 120))  # 100 is still being processed
    assert await consumer.commit() is False
    assert consumer.sent == []
    ack(consumer, range(100, 101))
    assert await consumer.commit() is True
    assert consumer.sent == [{T: 120}]


async def test_offsets_the_log_skips_count_as_acknowledged() -> None:
    consumer = consumer_with([True])
    consumer._committed_offset[T] = 10
    ack(consumer, range(10, 12))
    await consumer._add_gap(T, 12, 14)  # 12..14 absent from the log (e.g. compaction)
    ack(consumer, range(15, 17))
    assert await consumer.commit() is True
    assert consumer.sent == [{T: 17}]


async def test_a_partition_missing_from_the_assignment_for_a_moment_loses_nothing() -> None:
    """The group coordinator lost with a broker restart: the assignment is empty while
    the commit timer runs; Faust discarded the acknowledged run and stalled for good."""
    consumer = consumer_with([True])
    consumer._committed_offset[T] = 100
    ack(consumer, range(100, 150))
    consumer.assignment = lambda: set()
    assert await consumer.commit() is False
    assert consumer._committed_offset[T] == 100
    consumer.assignment = lambda: {T}  # the same partitions back, without a rebalance
    ack(consumer, range(150, 160))
    assert await consumer.commit() is True
    assert consumer.sent == [{T: 160}]


async def test_internal_topics_keep_fausts_rule() -> None:
    consumer = consumer_with([True])
    consumer.strict_topics = frozenset()
    consumer._committed_offset[T] = 100
    ack(consumer, range(101, 120))  # 100 never reached the stream (a rebalance cleared it)
    assert await consumer.commit() is True
    assert consumer.sent == [{T: 120}]
