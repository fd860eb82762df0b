"""The join table's changelog burst: records first, then one fence per partition."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from llmpulse.sinks.kafka import OutMessage
from llmpulse.streams.changelog import FENCE_KEY, burst_changes


class Producer:
    def __init__(self) -> None:
        self.bursts: list[list[OutMessage]] = []

    async def send_all(self, messages: Sequence[OutMessage]) -> None:
        self.bursts.append(list(messages))


async def test_records_then_a_fence_per_partition_written() -> None:
    producer = Producer()
    records = [(b"a", {"k": "d", "s": "complete", "t": 1.5}, 3), (b"b", None, 0),
               (b"c", {"k": "p", "req": {"request_id": "c"}, "resp": None, "t": 2.0}, 3)]
    await burst_changes(producer, "app-join-changelog", records)  # type: ignore[arg-type]
    first, fences = producer.bursts
    assert [(m.key, m.partition) for m in first] == [(b"a", 3), (b"b", 0), (b"c", 3)]
    assert orjson.loads(first[0].value or b"") == records[0][1]
    assert first[1].value is None  # a delete stays a tombstone
    assert all(m.topic == "app-join-changelog" for m in first + fences)
    assert [(m.key, m.value, m.partition) for m in fences] == [(FENCE_KEY, None, 0),
                                                               (FENCE_KEY, None, 3)]


async def test_nothing_to_send_sends_nothing() -> None:
    producer = Producer()
    records: list[tuple[bytes, Any, int]] = []
    await burst_changes(producer, "t", records)  # type: ignore[arg-type]
    assert producer.bursts == []
