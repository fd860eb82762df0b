"""The notifier stage's work per ``llm.alerts`` message: jobs on independent lanes.

Each message becomes one job per channel it names (deliver with the channel's
retries, count the outcome, store it in ``alert_notifications``), plus a job
for the retraining desk when a policy fired; a message for no channel is only
recorded.  Jobs run on :class:`~llmpulse.alerting.lanes.DeliveryLanes`: in
order per channel, concurrently across channels, the message acknowledged once
every job has a stored outcome.  A replayed message is delivered again only to
the channels with no successful delivery stored for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from datetime import UTC, datetime
from typing import Any

from llmpulse.alerting.lanes import Ack, DeliveryLanes, Job
from llmpulse.alerting.message import AlertMessage
from llmpulse.alerting.notifiers import DeliveryResult, Notifier
from llmpulse.metrics import Metrics
from llmpulse.retrain.desk import RetrainDesk
from llmpulse.sinks import alert_store
from llmpulse.sinks.clickhouse import ClickHouseStore

log = logging.getLogger(__name__)

#: Attempts to ask the store which channels a replayed message already reached.
DELIVERED_CHECKS = 3
#: Lane keys: ("channel", name), and one lane each for records without channel and
#: for retraining triggers.
RECORD_LANE: tuple[str, str] = ("record", "")
RETRAIN_LANE: tuple[str, str] = ("retrain", "")

UntilDone = Callable[[Callable[[], Awaitable[Any]], str], Awaitable[Any]]


class AlertDelivery:
    """Turns messages into lane jobs; outcomes are counted and stored by the jobs."""

    def __init__(self, notifier: Notifier, store: ClickHouseStore, metrics: Metrics,
                 retrain: RetrainDesk, lanes: DeliveryLanes, until_done: UntilDone,
                 clock: Callable[[], float]) -> None:
        self.notifier = notifier
        self.store = store
        self.metrics = metrics
        self.retrain = retrain
        self.lanes = lanes
        self._until_done = until_done
        self._clock = clock

    async def take(self, raw: bytes, partition: int, ack: Ack) -> None:
        """Queue one message's jobs (waits while a lane is full); ``ack`` runs when done."""
        try:
            alert = AlertMessage.from_wire(raw)
        except ValueError as exc:
            log.error("unreadable message on the alerts topic: %s", exc)
            await self.lanes.submit(partition, {}, ack)
            return
        await self.lanes.submit(partition, await self.jobs(alert), ack)

    async def jobs(self, alert: AlertMessage) -> dict[Hashable, Job]:
        delivered = await self._delivered_channels(alert.id)
        names = [n for n in dict.fromkeys(alert.channels) if n not in delivered]
        jobs: dict[Hashable, Job] = {("channel", n): self._notify_job(n, alert) for n in names}
        if not alert.channels and "" not in delivered:
            jobs[RECORD_LANE] = self._record_job(alert, [])
        if self.retrain.handles(alert):
            jobs[RETRAIN_LANE] = self._retrain_job(alert)
        return jobs

    async def close(self) -> None:
        await self.lanes.close()

    def _notify_job(self, channel: str, alert: AlertMessage) -> Job:
        async def notify() -> None:
            result = await self.notifier.deliver_to(channel, alert)
            self.metrics.alert_notifications.labels(
                result.channel, alert.kind, "ok" if result.ok else "failed").inc()
            await self._record(alert, [result])

        return notify

    def _record_job(self, alert: AlertMessage, results: Sequence[DeliveryResult]) -> Job:
        async def record() -> None:
            await self._record(alert, results)

        return record

    def _retrain_job(self, alert: AlertMessage) -> Job:
        async def retrain() -> None:
            await self._until_done(lambda: self.retrain.on_alert(alert), "retraining trigger")

        return retrain

    async def _record(self, alert: AlertMessage, results: Sequence[DeliveryResult]) -> None:
        now = datetime.fromtimestamp(self._clock(), UTC)
        await self._until_done(lambda: asyncio.to_thread(
            alert_store.write_notifications, self.store, alert, results, now),
            "alert store write")

    async def _delivered_channels(self, alert_id: str) -> set[str]:
        """Channels a replayed message already reached; if the store cannot say, none
        (a possible repeat beats a lost page)."""
        for attempt in range(DELIVERED_CHECKS):
            try:
                return await asyncio.to_thread(delivered_channels, self.store, alert_id)
            except Exception as exc:
                log.warning("cannot check earlier deliveries of %s: %s", alert_id, exc)
                await asyncio.sleep(0.2 * 2 ** attempt)
        return set()


def delivered_channels(store: ClickHouseStore, alert_id: str) -> set[str]:
    """Channels with a successful delivery of ``alert_id`` stored ('' = no channel)."""
    rows = store.query("SELECT DISTINCT channel FROM alert_notifications "
                       "WHERE id = {id:String} AND ok = 1", {"id": alert_id})
    return {str(row[0]) for row in rows}
