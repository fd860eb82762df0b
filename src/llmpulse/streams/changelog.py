"""Changes of a table written to its changelog so that a recovery reads them all."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from llmpulse.sinks.kafka import BurstProducer, OutMessage

#: A key no table uses: its deletes close each burst (see :func:`send_changes`).
FENCE_KEY = b"\x00llmpulse.fence"


async def send_changes(topic: Any, records: Iterable[tuple[bytes, Any, int]]) -> None:
    """Send ``(key, value, partition)`` records (JSON values; None deletes) through
    Faust's producer and wait until the broker has them all.

    Faust's table recovery reads a changelog partition up to its high watermark.
    The embedded broker (Tansu 0.6) reports that watermark at the start of the
    last multi-record batch, so a recovery would miss the newest changes (a
    pending half, a done mark).  Each partition written is therefore closed with
    a batch of one record, a delete of :data:`FENCE_KEY`, sent once the rest is
    acknowledged: the watermark then covers everything before it.
    """
    futures = []
    partitions: set[int] = set()
    for key, value, partition in records:
        partitions.add(partition)
        futures.append(await topic.send(
            key=key, value=value, partition=partition, key_serializer="raw",
            value_serializer="json" if value is not None else "raw"))
    for future in futures:
        await future
    fences = [await topic.send(key=FENCE_KEY, value=None, partition=partition,
                               key_serializer="raw", value_serializer="raw")
              for partition in sorted(partitions)]
    for future in fences:
        await future


async def burst_changes(producer: BurstProducer, topic: str,
                        records: Iterable[tuple[bytes, Any, int]]) -> None:
    """:func:`send_changes` through librdkafka: the records as one burst (JSON values
    encoded here, None deletes), then, once the broker has them all, one fence per
    partition written (a batch of one record each, for the same reason).

    Faust's ``Topic.send`` costs about a hundred microseconds of Python per record (its
    futures, serializers and sensors, then aiokafka's accumulator); a batch of a few
    thousand done marks spent longer in it than in any other step.  The records are
    the same: raw key, JSON value, the key's partition; Faust's table recovery reads
    them back as before.
    """
    partitions: set[int] = set()
    messages = []
    for key, value, partition in records:
        partitions.add(partition)
        messages.append(OutMessage(topic, key, None if value is None else orjson.dumps(value),
                                   partition=partition))
    if not messages:
        return
    await producer.send_all(messages)
    await producer.send_all([OutMessage(topic, FENCE_KEY, None, partition=partition)
                             for partition in sorted(partitions)])
