"""Faust's consumer (the worker's class) keeps acknowledged offsets until a commit
of them succeeds: a failed commit no longer stalls the partition for good.  On the
input topics only processed messages (and offsets a fetch showed absent) count, and a
message Faust read but dropped is read again."""

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
    consumer._thread = FakeThread(consumer)
    return consumer


class FakeThread:
    """The consumer thread's seeks and fetches, as the aiokafka driver does them."""

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer
        self.seeks: list[dict[TP, int]] = []
        self.fetches: list[dict[TP, list[Any]]] = []
        self.committed: dict[TP, int] = {}
        self.positions: dict[TP, int] = {}

    async def seek_wait(self, partitions: dict[TP, int]) -> None:
        self.seeks.append(dict(partitions))
        for tp, offset in partitions.items():  # as AIOKafkaConsumerThread._seek_wait
            if offset > 0:
                self.consumer._read_offset[tp] = offset
            else:
                self.consumer._read_offset.pop(tp, None)

    async def seek_to_committed(self) -> dict[TP, int]:
        return dict(self.committed)

    async def getmany(self, active_partitions: Any, timeout: float) -> dict[TP, list[Any]]:
        return self.fetches.pop(0)

    async def earliest_offsets(self, *partitions: TP) -> dict[TP, int]:
        return {tp: self.log_start for tp in partitions}

    def fetch_position(self, tp: TP) -> int | None:
        """The fetcher's position (None: as if unknown, the tests that do not set it)."""
        return self.positions.get(tp)

    log_start = 0


class Message:
    def __init__(self, offset: int, tracked: bool = True) -> None:
        self.acked, self.tp, self.offset, self.topic = False, T, offset, T.topic
        self.tracked = tracked


def ack(consumer: Any, offsets: range) -> None:
    for offset in offsets:
        message = Message(offset)
        consumer._unacked_messages.add(message)
        assert consumer.ack(message)


def deliver(consumer: Any, offsets: range, tracked: bool = True) -> list[Message]:
    """Messages Faust handed to the streams (what the consumer's callback records)."""
    messages = [Message(offset, tracked) for offset in offsets]
    for message in messages:
        consumer._on_delivered(message)
    return messages


def fetched(*offsets: int) -> dict[TP, list[Any]]:
    return {T: [SimpleNamespace(offset=offset) for offset in offsets]}


async def redeliver(consumer: Any) -> None:
    consumer._checked_at = float("-inf")  # the check runs at most every second
    await consumer._redeliver_dropped()


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


async def test_fausts_gaps_do_not_count_on_input_topics() -> None:
    """Faust records the messages it dropped from the streams as a gap: not proof that
    the log has no record there (and the gap's end is the message being delivered)."""
    consumer = consumer_with([True])
    consumer._committed_offset[T] = 88
    ack(consumer, range(88, 89))
    await consumer._add_gap(T, 89, 90)
    assert await consumer.commit() is True
    assert consumer.sent == [{T: 89}]
    ack(consumer, range(90, 91))
    assert await consumer.commit() is False  # 89 was never processed
    assert consumer.sent == [{T: 89}]


async def test_offsets_a_fetch_shows_absent_count() -> None:
    consumer = consumer_with([True])
    consumer._committed_offset[T] = 10
    consumer._thread.fetches.append(fetched(10, 11, 15, 16))  # 12..14 compacted away
    await consumer._getmany({T}, 1.0)
    ack(consumer, range(10, 12))
    ack(consumer, range(15, 17))
    assert await consumer.commit() is True
    assert consumer.sent == [{T: 17}]


async def test_a_fetch_during_a_seek_proves_nothing() -> None:
    consumer = consumer_with([True])
    consumer._committed_offset[T] = 10
    consumer._thread.fetches.append(fetched(10, 11, 15, 16))

    async def getmany(active_partitions: Any, timeout: float) -> dict[TP, list[Any]]:
        await consumer.seek_wait({T: 10})  # another task seeks meanwhile
        return consumer._thread.fetches.pop(0)

    consumer._thread.getmany = getmany
    await consumer._getmany({T}, 1.0)
    ack(consumer, range(10, 12))
    ack(consumer, range(15, 17))
    assert await consumer.commit() is True
    assert consumer.sent == [{T: 12}]


async def test_a_message_a_stream_skipped_does_not_count() -> None:
    """A stream acknowledges the messages it skips (flow stopped, older generation)
    without handing them to the application."""
    consumer = consumer_with([True])
    consumer._committed_offset[T] = 100
    skipped = Message(100, tracked=False)
    assert consumer.ack(skipped) is False and skipped.acked
    ack(consumer, range(101, 110))
    assert await consumer.commit() is False
    assert consumer.sent == []


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


async def test_a_message_dropped_from_the_stream_is_read_again() -> None:
    """The start-up race of bench/crash_backlog.py: the recovery resumes the partition
    before seeking it to the committed offset; 88 and 89 reach the agent's buffer, 88 is
    processed, the seek resets Faust's read offset to 88, resuming the flow clears the
    buffer (89 is dropped), and the rest of the batch read before the seek comes on."""
    consumer = consumer_with([True, True])
    consumer._thread.committed = {T: 88}
    await consumer.perform_seek()
    deliver(consumer, range(88, 90), tracked=False)
    ack(consumer, range(88, 89))  # 88 processed; 89 dropped from the buffer
    await consumer._add_gap(T, 89, 90)  # what Faust makes of it
    deliver(consumer, range(90, 95))
    ack(consumer, range(90, 95))
    assert await consumer.commit() is True
    assert consumer.sent == [{T: 89}]  # not over 89
    await redeliver(consumer)
    assert consumer._thread.seeks == [{T: 89}]
    assert consumer._read_offset[T] == 89  # Faust delivers from 89 again
    deliver(consumer, range(89, 95))
    ack(consumer, range(89, 90))  # 90..94 again: duplicates, acknowledged already
    assert await consumer.commit() is True
    assert consumer.sent == [{T: 89}, {T: 95}]
    await redeliver(consumer)
    assert consumer._thread.seeks == [{T: 89}]


async def test_a_message_held_or_waiting_in_a_buffer_is_not_read_again() -> None:
    consumer = consumer_with([])
    consumer._committed_offset[T] = 10
    held, waiting = deliver(consumer, range(10, 12), tracked=False)
    held.tracked = True  # the application has it (a batch being written)
    deliver(consumer, range(12, 20))
    await redeliver(consumer)
    assert consumer._thread.seeks == []
    ack(consumer, range(10, 11))
    queue = consumer.app.FlowControlQueue(maxsize=10, clear_on_resume=True)
    queue.put_nowait(SimpleNamespace(message=waiting))  # the agent's buffer
    await redeliver(consumer)
    assert consumer._thread.seeks == []
    consumer.app.flow_control.resume()  # clears the buffers
    await redeliver(consumer)
    assert consumer._thread.seeks == [{T: 11}]


async def test_nothing_is_read_again_before_a_later_message_is_read() -> None:
    consumer = consumer_with([])
    consumer._committed_offset[T] = 10
    deliver(consumer, range(10, 12))
    ack(consumer, range(10, 12))
    await redeliver(consumer)  # 12 is not read yet
    consumer.flow_active = False
    deliver(consumer, range(13, 14))
    await redeliver(consumer)  # a rebalance: the recovery seeks anyway
    assert consumer._thread.seeks == []


async def test_reading_again_from_an_offset_the_log_lacks_moves_past_it() -> None:
    """A transaction marker at 12: read again from 12, the first record is 13."""
    consumer = consumer_with([True])
    consumer._committed_offset[T] = 10
    deliver(consumer, range(10, 12))
    deliver(consumer, range(13, 15))
    ack(consumer, range(10, 12))
    ack(consumer, range(13, 15))
    await redeliver(consumer)
    assert consumer._thread.seeks == [{T: 12}]
    consumer._thread.fetches.append(fetched(13, 14))
    await consumer._getmany({T}, 1.0)
    assert await consumer.commit() is True
    assert consumer.sent == [{T: 15}]


async def test_without_a_committed_offset_the_log_start_is_the_start() -> None:
    consumer = consumer_with([True])
    consumer._thread.log_start = 5
    await consumer.perform_seek()  # the group has no committed offset yet
    ack(consumer, range(6, 9))
    assert await consumer.commit() is False  # where does the log start?
    deliver(consumer, range(5, 9))
    await redeliver(consumer)  # asks the broker
    assert consumer._base[T] == 5 and consumer._thread.seeks == []  # 5 is being processed
    assert await consumer.commit() is False
    ack(consumer, range(5, 6))
    assert await consumer.commit() is True
    assert consumer.sent == [{T: 9}]


async def test_a_fetch_during_a_seek_cannot_show_where_the_seek_landed() -> None:
    consumer = consumer_with([True])
    consumer._committed_offset[T] = 10
    deliver(consumer, range(10, 11))
    deliver(consumer, range(13, 14))
    ack(consumer, range(10, 11))
    await redeliver(consumer)
    assert consumer._thread.seeks == [{T: 11}]
    consumer._thread.fetches.append(fetched(11, 12))

    async def getmany(active_partitions: Any, timeout: float) -> dict[TP, list[Any]]:
        await consumer.seek_wait({T: 100})  # another task seeks meanwhile (not a real case)
        return consumer._thread.fetches.pop(0)

    consumer._thread.getmany = getmany
    await consumer._getmany({T}, 1.0)
    assert T not in consumer._verify
    consumer._thread.getmany = FakeThread.getmany.__get__(consumer._thread)
    consumer._thread.fetches.append(fetched(13, 14))  # not the first after the seek to 11
    await consumer._getmany({T}, 1.0)
    ack(consumer, range(13, 14))
    assert await consumer.commit() is True
    assert consumer.sent == [{T: 11}]  # 11 and 12 not taken for absent


async def test_a_revoked_partition_forgets_what_was_read() -> None:
    consumer = consumer_with([])
    consumer._committed_offset[T] = 10
    deliver(consumer, range(10, 12), tracked=False)
    await consumer.on_partitions_revoked({T})
    assert consumer._delivered == {} and consumer._next == {}


async def test_a_batch_read_during_the_seek_to_the_committed_offsets_is_read_again() -> None:
    """The last worker of bench/crash_backlog.py: the seek to the committed offsets (650)
    looks the partitions up one after another.  The fetcher reads this one again from
    650 to its end (728) before the others are done; Faust, whose read offset still says
    728, drops 650..727 and hands over 728, which the flow's resume then clears from the
    buffer.  Once the seek is done nothing delivered since counts, and the fetcher is at
    the end: before, the partition was never read again (neither processed nor committed
    past 650)."""
    consumer = consumer_with([])
    thread = consumer._thread

    async def seek_to_committed() -> dict[TP, int]:
        thread.positions[T] = 650
        deliver(consumer, range(728, 729), tracked=False)  # read again, dropped, but 728
        thread.positions[T] = 729
        return {T: 650}

    thread.seek_to_committed = seek_to_committed
    await consumer.perform_seek()
    consumer.app.flow_control.resume()  # clears the buffers
    await redeliver(consumer)
    assert thread.seeks == [{T: 650}]
    thread.positions[T] = 650
    deliver(consumer, range(650, 729))
    await redeliver(consumer)
    assert thread.seeks == [{T: 650}]  # being processed now


async def test_a_batch_faust_dropped_whole_is_read_again() -> None:
    """A fetched batch none of whose records reached a stream (Faust stops handing a
    batch over when the flow stops or a rebalance begins): the fetcher is past it."""
    consumer = consumer_with([])
    consumer._committed_offset[T] = 10
    thread = consumer._thread
    thread.positions[T] = 10
    await consumer.seek_wait({T: 10})
    thread.fetches.append(fetched(*range(10, 20)))
    await consumer._getmany({T}, 1.0)
    thread.positions[T] = 20  # handed over; none delivered
    await redeliver(consumer)
    assert thread.seeks == [{T: 10}, {T: 10}]


async def test_nothing_is_read_again_while_a_seek_is_under_way() -> None:
    consumer = consumer_with([])
    consumer._committed_offset[T] = 10
    consumer._thread.positions[T] = 20
    await consumer.seek_wait({T: 10})
    consumer._seeking += 1  # another task's seek, not done yet
    await redeliver(consumer)
    assert consumer._thread.seeks == [{T: 10}]
