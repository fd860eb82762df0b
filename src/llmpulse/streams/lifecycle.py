"""What a Faust app tells :class:`~llmpulse.health.ProcessHealth`: the heartbeat of its
event loop, its consumer group membership, and the read progress on its input
partitions (shared by the worker and the scorer)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from typing import Any

import faust

from llmpulse.health import Heartbeat, ProcessHealth, ProgressWatch


def start_heartbeat(loop: asyncio.AbstractEventLoop, heartbeat: Heartbeat) -> None:
    """Stamp ``heartbeat`` every second from ``loop`` (a plain callback: it runs from the
    moment the loop runs, through start-up and table recovery, until it stops)."""

    def beat() -> None:
        heartbeat.beat(time.monotonic())
        loop.call_later(Heartbeat.EVERY_S, beat)

    loop.call_soon(beat)


def follow_membership(app: faust.App, health: ProcessHealth) -> None:
    """Feed ``health.membership`` from the app's rebalance signals."""
    membership = health.membership

    async def assigned(sender: Any, assigned: Iterable[Any], **_: Any) -> None:
        membership.assigned((tp.topic, tp.partition) for tp in assigned)

    async def revoked(sender: Any, revoked: Iterable[Any], **_: Any) -> None:
        membership.revoked()

    async def completed(sender: Any, **_: Any) -> None:
        membership.completed()

    app.on_partitions_assigned.connect(assigned)  # type: ignore[arg-type]
    app.on_partitions_revoked.connect(revoked)  # type: ignore[arg-type]
    app.on_rebalance_complete.connect(completed)  # type: ignore[arg-type]


def partition_name(tp: Any) -> str:
    return f"{tp.topic}[{tp.partition}]"


async def end_offsets(app: faust.App, partitions: list[Any]) -> dict[Any, int]:
    """The end of each partition, asked of the broker: the high watermark of the last
    fetch goes stale while the consumer is paused (a store outage holds the worker's
    batch, and it stops fetching), which is exactly when the lag must keep growing.
    Empty (the caller falls back to the last fetch) when the broker does not answer."""
    if not partitions:
        return {}
    try:
        return dict(await asyncio.wait_for(app.consumer.highwaters(*partitions), 5.0))
    except Exception:  # broker away or partitions moving: the last fetch's values
        return {}


def partition_end(app: faust.App, tp: Any, ends: Mapping[Any, int],
                  last_offsets: Mapping[Any, int]) -> int | None:
    """The end of ``tp``: the broker's answer, but never below the last fetch's high
    watermark nor one past the last message read.  The embedded broker answers a
    ListOffsets request with the start of the partition's last multi-record batch (1
    for a partition written in one batch), which made a backlog's lag read 0."""
    known = [ends[tp]] if tp in ends else []
    try:
        fetched = app.consumer.highwater(tp)
    except Exception:  # partition moving in a rebalance
        fetched = None
    if fetched is not None:
        known.append(fetched)
    if tp in last_offsets:
        known.append(last_offsets[tp] + 1)
    return max(known) if known else None


async def watch_progress(app: faust.App, topics: Iterable[str],
                         last_offsets: Mapping[Any, int], watch: ProgressWatch) -> None:
    """One observation of every assigned partition of ``topics``: its end and the next
    offset to read (one past the last message read, else the consumer's position)."""
    try:
        assigned = app.consumer.assignment()
    except Exception:  # not started yet
        return
    wanted = set(topics)
    partitions = [tp for tp in assigned if tp.topic in wanted]
    ends = await end_offsets(app, partitions)
    for tp in partitions:
        end = partition_end(app, tp, ends, last_offsets)
        try:
            done = last_offsets[tp] + 1 if tp in last_offsets else await app.consumer.position(tp)
        except Exception:  # partition moving in a rebalance
            continue
        if end is not None and done is not None:
            watch.observe(partition_name(tp), end, done)
    watch.keep(partition_name(tp) for tp in partitions)
