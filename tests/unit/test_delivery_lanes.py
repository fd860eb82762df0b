"""Acknowledgement order (pure) and the per-channel delivery lanes (fake jobs, no I/O)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Hashable

from llmpulse.alerting.ack_order import AckOrder
from llmpulse.alerting.lanes import DeliveryLanes, Job


def test_tokens_are_released_per_partition_in_intake_order() -> None:
    order: AckOrder[str] = AckOrder()
    a0, a1, a2 = (order.add(0, f"a{i}") for i in range(3))
    b0 = order.add(1, "b0")
    assert order.finish(a2) == [] and order.finish(a1) == []  # a0 still in progress
    assert order.finish(b0) == ["b0"]  # another partition is not held back by a0
    assert order.waiting(0) == 3 and len(order) == 3
    assert order.finish(a0) == ["a0", "a1", "a2"]
    assert len(order) == 0 and order.waiting(0) == 0
    assert order.finish(a0) == []  # finishing twice releases nothing


def test_any_finishing_order_releases_each_token_once_and_in_order() -> None:
    rng = random.Random(5)
    for _ in range(200):
        order: AckOrder[tuple[int, int]] = AckOrder()
        tickets = [order.add(p, (p, i)) for i in range(20) for p in range(3)]
        released: list[tuple[int, int]] = []
        for ticket in rng.sample(tickets, len(tickets)):
            released += order.finish(ticket)
        assert sorted(released) == sorted(t.token for t in tickets)
        for p in range(3):
            assert [i for q, i in released if q == p] == list(range(20))
        assert len(order) == 0


class Gate:
    """Fake receivers: a job per (lane, name) that waits until its lane is opened."""

    def __init__(self) -> None:
        self.open: dict[Hashable, asyncio.Event] = {}
        self.started: list[tuple[Hashable, str]] = []
        self.acked: list[str] = []

    def job(self, lane: Hashable, name: str) -> Job:
        event = self.open.setdefault(lane, asyncio.Event())

        async def run() -> None:
            self.started.append((lane, name))
            await event.wait()

        return run

    def ack(self, name: str) -> Job:
        async def run() -> None:
            self.acked.append(name)

        return run


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_blocked_lane_holds_only_its_own_jobs_and_the_acks_after_it() -> None:
    gate = Gate()
    lanes = DeliveryLanes(lane_cap=10, max_unacked=40)
    gate.open["ok"] = asyncio.Event()
    gate.open["ok"].set()  # the healthy receiver answers at once
    for i in range(6):
        await lanes.submit(0, {"dead": gate.job("dead", f"m{i}"), "ok": gate.job("ok", f"m{i}")},
                           gate.ack(f"m{i}"))
    await lanes.submit(1, {"ok": gate.job("ok", "other")}, gate.ack("other"))
    await settle()
    assert [n for lane, n in gate.started if lane == "ok"] == [f"m{i}" for i in range(6)] + \
        ["other"]  # every message reached the healthy lane, in order
    assert [n for lane, n in gate.started if lane == "dead"] == ["m0"]  # one at a time
    assert gate.acked == ["other"]  # partition 0 waits for the dead lane
    assert lanes.unacked == 6 and lanes.queued("dead") == 5
    gate.open["dead"].set()
    await settle()
    assert gate.acked == ["other"] + [f"m{i}" for i in range(6)]
    assert [n for lane, n in gate.started if lane == "dead"] == [f"m{i}" for i in range(6)]
    await lanes.close()


async def test_a_full_lane_makes_submit_wait_until_it_has_room() -> None:
    gate = Gate()
    lanes = DeliveryLanes(lane_cap=2, max_unacked=100)
    for i in range(3):  # one running, two queued
        await lanes.submit(0, {"dead": gate.job("dead", f"m{i}")}, gate.ack(f"m{i}"))
    await settle()
    blocked = asyncio.create_task(lanes.submit(0, {"dead": gate.job("dead", "m3")},
                                               gate.ack("m3")))
    await settle()
    assert not blocked.done()
    gate.open["dead"].set()
    await asyncio.wait_for(blocked, 5)
    await settle()
    assert gate.acked == ["m0", "m1", "m2", "m3"]
    await lanes.close()


async def test_unacknowledged_messages_are_capped_across_lanes() -> None:
    gate = Gate()
    lanes = DeliveryLanes(lane_cap=100, max_unacked=3)
    await lanes.submit(0, {"dead": gate.job("dead", "m0")}, gate.ack("m0"))
    gate.open["ok"] = asyncio.Event()
    gate.open["ok"].set()
    for i in (1, 2):
        await lanes.submit(0, {"ok": gate.job("ok", f"m{i}")}, gate.ack(f"m{i}"))
    blocked = asyncio.create_task(lanes.submit(0, {"ok": gate.job("ok", "m3")},
                                               gate.ack("m3")))
    await settle()
    assert not blocked.done() and lanes.unacked == 3  # m1, m2 done but behind m0
    gate.open["dead"].set()
    await asyncio.wait_for(blocked, 5)
    await settle()
    assert gate.acked == ["m0", "m1", "m2", "m3"] and lanes.unacked == 0
    await lanes.close()


async def test_messages_without_jobs_and_failing_jobs_are_acknowledged_in_order() -> None:
    gate = Gate()
    lanes = DeliveryLanes(lane_cap=5, max_unacked=5)

    async def broken() -> None:
        raise RuntimeError("bug")

    await lanes.submit(0, {"slow": gate.job("slow", "m0")}, gate.ack("m0"))
    await lanes.submit(0, {}, gate.ack("unreadable"))
    await lanes.submit(0, {"other": broken}, gate.ack("m2"))
    await settle()
    assert gate.acked == []
    gate.open["slow"].set()
    await settle()
    assert gate.acked == ["m0", "unreadable", "m2"]
    await lanes.close()
    await lanes.submit(0, {}, gate.ack("late"))  # shutting down: not taken, not acked
    assert gate.acked == ["m0", "unreadable", "m2"] and lanes.unacked == 0
