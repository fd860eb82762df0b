"""Deliver each message's jobs on per-receiver lanes; acknowledge in offset order.

A message from ``llm.alerts`` becomes one job per lane (a notification
channel, the retraining desk, ...).  Each lane is a FIFO queue with one task:
jobs of one lane run one after another in intake order, so a resolve never
overtakes its trigger on a channel, while lanes run independently, so a dead
receiver holds up only its own lane.  A message is acknowledged once every one
of its jobs has finished, and only after every earlier message of its
partition was acknowledged (:class:`~llmpulse.alerting.ack_order.AckOrder`).

Memory is bounded twice: a lane holds at most ``lane_cap`` queued jobs, and at
most ``max_unacked`` messages are taken in and not yet acknowledged; beyond
either, :meth:`DeliveryLanes.submit` waits, and with it the stream.  So a job
on a healthy lane starts at once unless a lane is full or too many messages
wait: the delay a dead receiver can add to other receivers' first attempts is
zero below those caps, and one of its own deliveries (its retry budget) per
message above them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass

from llmpulse.alerting.ack_order import AckOrder, Ticket

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]
Ack = Callable[[], Awaitable[None]]


@dataclass(eq=False, slots=True)
class _Message:
    ticket: Ticket[Ack]
    remaining: int


@dataclass(frozen=True, slots=True)
class _Queued:
    job: Job
    message: _Message


class DeliveryLanes:
    """One queue and one task per lane key; acknowledgements in offset order."""

    def __init__(self, lane_cap: int, max_unacked: int) -> None:
        if lane_cap < 1 or max_unacked < 1:
            raise ValueError("lane_cap and max_unacked must be at least 1")
        self._lane_cap = lane_cap
        self._room = asyncio.Semaphore(max_unacked)
        self._order: AckOrder[Ack] = AckOrder()
        self._queues: dict[Hashable, asyncio.Queue[_Queued]] = {}
        self._tasks: dict[Hashable, asyncio.Task[None]] = {}
        self._closed = False

    @property
    def unacked(self) -> int:
        """Messages taken in and not yet acknowledged."""
        return len(self._order)

    def queued(self, lane: Hashable) -> int:
        """Jobs waiting on ``lane`` (not counting the one running)."""
        queue = self._queues.get(lane)
        return queue.qsize() if queue is not None else 0

    async def submit(self, partition: int, jobs: Mapping[Hashable, Job], ack: Ack) -> None:
        """Take in one message (in offset order per partition); waits while a cap is reached.

        ``ack`` is awaited once all ``jobs`` have finished and every earlier
        message of ``partition`` has been acknowledged.
        """
        if self._closed:  # shutting down: left unacknowledged, delivered after a restart
            return
        await self._room.acquire()
        message = _Message(self._order.add(partition, ack), len(jobs))
        if not jobs:
            await self._finish(message)
            return
        for lane, job in jobs.items():
            await self._queue(lane).put(_Queued(job, message))

    async def close(self) -> None:
        """Stop every lane; what was not acknowledged is delivered again after a restart."""
        self._closed = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def _queue(self, lane: Hashable) -> asyncio.Queue[_Queued]:
        queue = self._queues.get(lane)
        if queue is None:
            queue = self._queues[lane] = asyncio.Queue(self._lane_cap)
            self._tasks[lane] = asyncio.create_task(self._run(lane, queue),
                                                    name=f"delivery-lane-{lane}")
        return queue

    async def _run(self, lane: Hashable, queue: asyncio.Queue[_Queued]) -> None:
        while True:
            item = await queue.get()
            try:
                await item.job()
            except asyncio.CancelledError:
                raise
            except Exception:  # a job records its own failures; this is a bug, not an outage
                log.exception("delivery job on lane %s failed", lane)
            item.message.remaining -= 1
            if item.message.remaining == 0:
                await self._finish(item.message)

    async def _finish(self, message: _Message) -> None:
        for ack in self._order.finish(message.ticket):
            try:
                await ack()
            except Exception:  # the message is delivered again after a restart
                log.exception("could not acknowledge a delivered alert message")
            finally:
                self._room.release()
