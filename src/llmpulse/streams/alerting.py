"""Faust wiring of windows and alerts: the rule engine and the notifier stage.

* ``llm.windows`` carries the cheap path's partial aggregates, partitioned by
  group, so one worker sees every partial of a group whatever partition its
  calls came from.  The engine evaluates the rules and publishes to
  ``llm.alerts``; per (rule, group) statuses live in a changelogged table on
  the group's partition, so a restarted worker neither re-pages nor forgets.
* ``llm.alerts`` is consumed by the notifier stage, which delivers to Slack,
  PagerDuty and webhooks with retries, in order per channel, and records every
  outcome in ClickHouse (:mod:`llmpulse.alerting.delivery`).  It is its own
  agent, and each channel its own lane: a slow receiver delays only its own
  channel's later notifications.
* The owner of one ``llm.windows`` partition (the budgets' group partition)
  writes the stored windows (1 min, 5 min, 1 h), computed by ClickHouse from
  the stored calls, and checks the budgets every 30 s.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
import orjson
from aiokafka.partitioner import murmur2

from llmpulse.alerting.budget_alerts import BUDGET_GROUP, BudgetWatch
from llmpulse.alerting.canary_alerts import CanaryAlerts
from llmpulse.alerting.delivery import AlertDelivery
from llmpulse.alerting.engine import AlertEngine, RuleStatus, group_of_key, status_key
from llmpulse.alerting.lanes import Ack, DeliveryLanes
from llmpulse.alerting.message import AlertMessage
from llmpulse.alerting.notifiers import Notifier
from llmpulse.alerting.rules import RulesFile
from llmpulse.alerting.state import AlertState
from llmpulse.budgets import evaluate as evaluate_budget
from llmpulse.budgets import period_bounds
from llmpulse.config import Settings
from llmpulse.metrics import Metrics
from llmpulse.release.canary_desk import CanaryDesk
from llmpulse.retrain.desk import RetrainDesk
from llmpulse.sinks import alert_store
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.kafka import BurstProducer, OutMessage
from llmpulse.sinks.spend import spend_by
from llmpulse.streams.changelog import send_changes
from llmpulse.streams.drift import DriftWatch
from llmpulse.streams.window_gauges import WindowGauges
from llmpulse.windows import ClosedWindow, GroupKey, WindowAggregate

log = logging.getLogger(__name__)

#: Alert messages taken in and not yet acknowledged, per LLMPULSE_NOTIFY_QUEUE_MAX.
UNACKED_PER_LANE_CAP = 4
#: How often persisted non-OK statuses not in memory are loaded (after a start or
#: a rebalance), so a quiet group's alert still resolves.
ADOPT_EVERY_S = 30.0
#: How often touched groups are evaluated: at most this much is added to an alert's
#: latency, and evaluation cost no longer grows with the message rate.
EVALUATE_EVERY_S = 0.25
BUDGET_EVERY_S = 30.0
WRITE_WINDOWS_EVERY_S = 5.0
STORED_WINDOW_LOOKBACK = timedelta(hours=6)


def group_partition(group: str, partitions: int) -> int:
    return int((murmur2(group.encode()) & 0x7FFFFFFF) % partitions)


def partials_messages(topic: str, partitions: int,
                      partials: dict[tuple[GroupKey, float], WindowAggregate]
                      ) -> list[OutMessage]:
    """One ``llm.windows`` message per target partition: ``{"p": [[group, pane, agg]]}``."""
    by_partition: dict[int, list[Any]] = {}
    for (group, pane), agg in partials.items():
        encoded = group.encode()
        by_partition.setdefault(group_partition(encoded, partitions), []).append(
            [encoded, pane, agg.to_dict()])
    return [OutMessage(topic, None, orjson.dumps({"p": items}), partition=p)
            for p, items in sorted(by_partition.items())]


def decode_partials(raw: bytes) -> list[tuple[GroupKey, float, WindowAggregate]]:
    items = orjson.loads(raw)["p"]
    return [(GroupKey.decode(g), float(pane), WindowAggregate.from_dict(agg))
            for g, pane, agg in items]


class GroupPartitionedTable(faust.Table[bytes, Any]):
    """Status table whose changelog partition is the group's ``llm.windows`` partition."""

    def partition_for_key(self, key: Any) -> int:
        raw = key.decode() if isinstance(key, bytes) else str(key)
        assert self.partitions is not None
        return group_partition(group_of_key(raw), self.partitions)


class StatusTable:
    """Reads from the table's local store; :meth:`persist` writes to its changelog."""

    def __init__(self, table: GroupPartitionedTable) -> None:
        self._table = table

    @property
    def changelog_name(self) -> str:
        return str(self._table.changelog_topic.get_topic_name())

    def get(self, key: str, default: Any = None) -> Any:
        return self._table.data.get(key.encode(), default)

    def values(self) -> list[Any]:
        return list(self._table.data.values())

    async def persist(self, changes: dict[str, dict[str, Any]]) -> None:
        records = []
        for key, value in changes.items():
            raw = key.encode()
            self._table.data[raw] = value
            records.append((raw, value, self._table.partition_for_key(raw)))
        await send_changes(self._table.changelog_topic, records)


class AlertStage:
    """The engine, its table and the notifier, bound to one worker."""

    def __init__(self, app: faust.App, settings: Settings, rules: RulesFile,
                 store: ClickHouseStore, metrics: Metrics, producer: BurstProducer,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.rules = rules
        self.store = store
        self.metrics = metrics
        self.producer = producer
        self.clock = clock
        table = GroupPartitionedTable(app, name="alert-state", default=None, key_type=bytes,
                                      value_type=None, beacon=app.tables.beacon,
                                      partitions=settings.partitions)
        app.tables.add(table)
        self.table = StatusTable(table)
        self.engine = AlertEngine(rules, settings.window_pane_s, settings.window_lateness_s,
                                  self.table)
        self.budgets = BudgetWatch(self.table)
        self.canary_alerts = CanaryAlerts(self.table)
        #: The partition whose owner writes stored windows and checks budgets.
        self.maintenance_partition = group_partition(BUDGET_GROUP.encode(),
                                                     settings.partitions)
        self._budgets_checked = float("-inf")
        self._adopted = float("-inf")
        self.notifier = Notifier(rules.channels, os.environ)
        self.drift = DriftWatch(settings, store, metrics, self._publish_partials)
        self.retrain = RetrainDesk(settings.topic("retrain"), rules, store, producer,
                                   self.notifier, metrics, clock, self._retrying)
        self.canaries = CanaryDesk(settings.topic("releases"), rules, store, producer,
                                   self.notifier, metrics, clock, self._retrying)
        lanes = DeliveryLanes(settings.notify_queue_max, UNACKED_PER_LANE_CAP
                              * settings.notify_queue_max)
        self.delivery = AlertDelivery(self.notifier, store, metrics, self.retrain, lanes,
                                      self._until_done, clock)
        self._lock = asyncio.Lock()
        self._late_seen = 0
        self.window_gauges = WindowGauges(metrics, settings.prometheus_tenants)
        self._window_next: dict[int, datetime] = {}

    async def on_partials(self, raw: bytes) -> None:
        """Merge partials; the rules are evaluated by :meth:`tick`, several times a second."""
        partials = decode_partials(raw)
        async with self._lock:
            self.engine.add(partials)

    async def tick(self) -> None:
        """Evaluate the touched groups (and stale alerts); never crashes the worker."""
        now = self.clock()
        async with self._lock:
            if now - self._adopted >= ADOPT_EVERY_S:
                self._adopted = now
                self.engine.adopt(self.table.values())
            try:
                changed = await self._evaluate(now)
            except Exception as exc:  # broker down: what was not sent is sent next time
                log.warning("alert evaluation failed (%s); statuses reloaded", exc)
                self.engine.forget_unsent()
                return
        if changed:  # outside the lock: a slow store must not hold up evaluation
            await self._store_states(changed, now)

    async def _evaluate(self, now: float) -> list[Any]:
        """Publish, then persist the statuses that say it was published."""
        messages, closed = self.engine.evaluate(now)
        await self._publish(messages)
        changes = self.engine.take_changes()
        self._export(closed)
        if not changes:
            return []
        await self.table.persist(changes)
        return [s for s in self.engine.statuses() if _key(s) in changes]

    async def _publish(self, messages: Sequence[AlertMessage]) -> None:
        """To ``llm.alerts`` before the status that says they were sent is persisted."""
        if messages:
            await self.producer.send_all([
                OutMessage(self.settings.topic("alerts"), m.dedup_key.encode(), m.to_wire())
                for m in messages])

    async def _publish_partials(self, partials: dict[tuple[GroupKey, float], WindowAggregate]
                                ) -> None:
        s = self.settings
        await self.producer.send_all(partials_messages(s.topic("windows"), s.partitions,
                                                       partials))

    async def check_drift(self) -> None:
        """The drift checks of the window that closed last (maintenance partition owner)."""
        await self.drift.tick(self.clock())

    def on_revoked(self, partitions: set[int]) -> None:
        """Forget what belongs to ``llm.windows`` partitions now owned by another worker."""
        n = self.settings.partitions
        self.engine.drop(lambda group: group_partition(group.encode(), n) in partitions)
        if self.maintenance_partition in partitions:
            self.budgets = BudgetWatch(self.table)
            self.canary_alerts = CanaryAlerts(self.table)

    async def check_budgets(self, every_s: float = BUDGET_EVERY_S) -> None:
        """Spend so far per budget group from the store, through the state machine."""
        now = self.clock()
        if not self.rules.budgets or now - self._budgets_checked < every_s:
            return
        self._budgets_checked = now
        at = datetime.fromtimestamp(now, UTC)
        statuses = []
        for budget in self.rules.budgets:
            start, _ = period_bounds(budget.period, at)
            spend = await asyncio.to_thread(spend_by, self.store, budget.group_by, start, at)
            for group in self.budgets.open_groups(budget.name, self.table.values()):
                spend.setdefault(group, 0.0)  # no spend this period: it can resolve
            statuses.extend(evaluate_budget(budget, spend, at))
        async with self._lock:
            try:
                await self._publish(self.budgets.evaluate(statuses, now))
            except Exception:
                self.budgets = BudgetWatch(self.table)  # reload: unsent is sent next time
                raise
            changes = self.budgets.take_changes()
            if changes:
                await self.table.persist(changes)
        if changes:
            changed = [s for s in self.budgets.statuses() if _key(s) in changes]
            await self._store_states([], now, budgets=changed)

    async def check_canaries(self) -> None:
        """Evaluate the canaries that are due (publishing any verdict), then put every
        canary's state through the state machine (maintenance partition owner)."""
        if not self.rules.canaries:
            return
        states = await self.canaries.check()
        async with self._lock:
            try:
                await self._publish(self.canary_alerts.evaluate(states, self.clock()))
            except Exception:
                self.canary_alerts = CanaryAlerts(self.table)  # unsent is sent next time
                raise
            changes = self.canary_alerts.take_changes()
            if changes:
                await self.table.persist(changes)
        if changes:
            changed = [s for s in self.canary_alerts.statuses() if _key(s) in changes]
            await self._store_states([], self.clock(), canaries=changed)

    async def _store_states(self, statuses: Sequence[Any], now: float,
                            budgets: Sequence[Any] = (), canaries: Sequence[Any] = ()) -> None:
        try:
            await asyncio.to_thread(alert_store.write_states, self.store, self.rules, statuses,
                                    datetime.fromtimestamp(now, UTC), budgets, canaries)
        except Exception as exc:  # the changelog has them; the table is a view
            log.warning("could not store alert states: %s", exc)

    def _export(self, closed: list[ClosedWindow]) -> None:
        late = self.engine.windows.late
        if late > self._late_seen:
            self.metrics.late_calls.labels("late").inc(late - self._late_seen)
            self._late_seen = late
        self.window_gauges.export(closed)
        firing = {r.name: 0 for r in self.rules.rules}
        for rs in self.engine.statuses():
            if rs.status.state is AlertState.FIRING and rs.rule in firing:
                firing[rs.rule] += 1
        for rule in self.rules.rules:
            self.metrics.alerts_firing.labels(rule.name, rule.severity).set(firing[rule.name])

    async def deliver(self, raw: bytes, partition: int, ack: Ack) -> None:
        """Queue one ``llm.alerts`` message for delivery; ``ack`` is awaited once every
        channel has a stored outcome and every earlier message of ``partition`` is acked.

        Each channel is served in order on its own lane (a resolve never overtakes its
        trigger), so a failing receiver delays only its own later notifications; this
        waits only while a lane or the unacknowledged messages are at their cap.
        """
        await self.delivery.take(raw, partition, ack)

    async def _until_done(self, work: Callable[[], Awaitable[Any]], what: str) -> Any:
        """Await ``work`` until it succeeds (the message is not acknowledged before)."""
        delay = 0.2
        while True:
            try:
                return await work()
            except Exception as exc:  # broker or store down: hold the message
                log.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _retrying(self, work: Callable[[], Any]) -> Any:
        """Store work in a thread until it succeeds (the message is not acked before)."""
        return await self._until_done(lambda: asyncio.to_thread(work), "alert store write")

    async def write_windows(self) -> None:
        """Store every 1 min / 5 min / 1 h window that has closed (with a safety margin)."""
        s = self.settings
        margin = s.window_lateness_s + 2 * s.batch_max_s + 5.0
        now = datetime.fromtimestamp(self.clock() - margin, UTC)
        for width in alert_store.STORED_WIDTHS:
            start = self._window_next.get(width)
            if start is None:
                last = await asyncio.to_thread(alert_store.last_window_end, self.store, width)
                start = max(last or now - STORED_WINDOW_LOOKBACK, now - STORED_WINDOW_LOOKBACK)
                start = _floor(start, width)
            until = _floor(now, width)
            if until > start:
                again = start - timedelta(seconds=width * alert_store.RECOMPUTE_WINDOWS[width])
                await asyncio.to_thread(alert_store.write_windows, self.store, width, again,
                                        until, datetime.now(UTC))
                start = until
            self._window_next[width] = start

    async def close(self) -> None:
        await self.delivery.close()
        await self.notifier.aclose()


def _key(rs: RuleStatus) -> str:
    return status_key(rs.rule, rs.group)


def _floor(moment: datetime, width: int) -> datetime:
    ts = moment.timestamp()
    return datetime.fromtimestamp(ts - ts % width, UTC)

