"""The notifier stage's lanes against loopback receivers and the embedded store."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from llmpulse.alerting.delivery import AlertDelivery
from llmpulse.alerting.lanes import DeliveryLanes
from llmpulse.alerting.notifiers import Notifier
from llmpulse.alerting.rules import parse_rules
from llmpulse.metrics import build_metrics
from llmpulse.retrain.desk import RetrainDesk
from llmpulse.sinks.clickhouse import ClickHouseStore
from tests.harness.receiver import Receiver
from tests.unit.test_notifiers import NOW, make_alert


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until_done(work: Callable[[], Awaitable[Any]], what: str) -> Any:
    return await work()


def stage(store: ClickHouseStore, receiver: Receiver, client: httpx.AsyncClient,
          sleeps: list[float]) -> AlertDelivery:
    rules = parse_rules(f"""
channels:
  ok: {{type: slack, url: "{receiver.url('/ok')}", retries: 0}}
  dead: {{type: slack, url: "http://127.0.0.1:{closed_port()}/", retries: 2}}
rules:
  - {{name: slow, metric: duration_p95, group_by: [route], window: 5s, threshold: 1,
      channels: [ok, dead]}}
""", "test")

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    notifier = Notifier(rules.channels, {}, client=client, sleep=sleep, clock=lambda: NOW)
    metrics = build_metrics()
    desk = RetrainDesk("t.retrain", rules, store, None, notifier, metrics, lambda: NOW)
    return AlertDelivery(notifier, store, metrics, desk, DeliveryLanes(10, 40), until_done,
                         lambda: NOW)


async def test_each_channel_gets_its_outcome_stored_and_a_replay_skips_delivered_ones(
        store: ClickHouseStore) -> None:
    acked: list[str] = []
    sleeps: list[float] = []

    def ack(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            acked.append(name)
        return run

    async with httpx.AsyncClient(trust_env=False) as client:
        with Receiver() as receiver:
            delivery = stage(store, receiver, client, sleeps)
            alerts = [make_alert(id=f"a{i}", channels=("ok", "dead")) for i in range(3)]
            for i, alert in enumerate(alerts):
                await delivery.take(alert.to_wire(), 0, ack(f"a{i}"))
            await delivery.take(b"not json", 0, ack("bad"))
            await delivery.take(make_alert(id="quiet", channels=()).to_wire(), 1, ack("quiet"))
            for _ in range(200):
                if len(acked) == 5:
                    break
                await asyncio.sleep(0.05)
            assert [a for a in acked if a != "quiet"] == ["a0", "a1", "a2", "bad"]  # partition 0
            assert "quiet" in acked  # partition 1, in its own order
            assert len(receiver.received("/ok")) == 3
            rows = store.query("SELECT id, channel, ok, attempts FROM alert_notifications FINAL "
                               "ORDER BY id, channel")
            assert rows == [("a0", "dead", 0, 3), ("a0", "ok", 1, 1), ("a1", "dead", 0, 3),
                            ("a1", "ok", 1, 1), ("a2", "dead", 0, 3), ("a2", "ok", 1, 1),
                            ("quiet", "", 1, 0)]
            assert len(sleeps) == 6  # two backoffs per dead delivery
            replay = await delivery.jobs(alerts[0])
            assert list(replay) == [("channel", "dead")]  # only where it did not land
            assert await delivery.jobs(make_alert(id="quiet", channels=())) == {}
            counted = delivery.metrics.alert_notifications
            assert counted.labels("dead", "trigger", "failed")._value.get() == 3
            assert counted.labels("ok", "trigger", "ok")._value.get() == 3
            await delivery.close()
