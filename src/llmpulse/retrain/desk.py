"""Turns a retraining policy's alert into a trigger: idempotency, cooldown, approval,
publication on ``llm.retrain`` and forwarding to webhooks.

It runs in the notifier stage, which reads ``llm.alerts`` in order per
(rule, group): the engine's persisted alert state already means a restart
does not fire the same incident again; the trigger's id (one per incident)
being stored means a replayed alert is recognised here and not published
twice.  Publication comes before the stored row, so a crash in between
republishes the same id (consumers deduplicate on it) rather than losing it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from llmpulse.alerting.message import AlertMessage
from llmpulse.alerting.notifiers import Notifier, RawDelivery
from llmpulse.alerting.rules import Rule, RulesFile
from llmpulse.metrics import Metrics
from llmpulse.prices import as_utc
from llmpulse.retrain.trigger import RetrainTrigger, Status, build_trigger, trigger_id
from llmpulse.sinks import retrain_store
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.kafka import BurstProducer, OutMessage

log = logging.getLogger(__name__)
T = TypeVar("T")


async def _once(work: Callable[[], T]) -> T:
    return await asyncio.to_thread(work)


class RetrainDesk:
    def __init__(self, topic: str, rules: RulesFile, store: ClickHouseStore,
                 producer: BurstProducer, notifier: Notifier, metrics: Metrics | None,
                 clock: Callable[[], float], retrying: Callable[..., Awaitable[Any]] = _once
                 ) -> None:
        self.topic = topic
        self.policies = {r.name: r for r in rules.rules if r.retrain is not None}
        self.store = store
        self.producer = producer
        self.notifier = notifier
        self.metrics = metrics
        self.clock = clock
        self._retrying = retrying
        self.last_forward: list[Any] = []  # the deliveries of the last release

    def handles(self, alert: AlertMessage) -> bool:
        return alert.kind == "trigger" and alert.rule in self.policies

    async def on_alert(self, alert: AlertMessage) -> RetrainTrigger | None:
        """The trigger for a policy's new incident (None: not a policy trigger, or seen)."""
        if not self.handles(alert):
            return None
        rule = self.policies[alert.rule]
        assert rule.retrain is not None
        if await self._retrying(lambda: retrain_store.get(self.store, trigger_id(alert))):
            self._count(rule.name, "duplicate")
            return None
        now = datetime.fromtimestamp(self.clock(), UTC)
        draft = build_trigger(alert, rule, "triggered", now)
        last = await self._retrying(lambda: retrain_store.last_live(self.store, draft))
        status: Status = "triggered"
        if last is not None and (now - as_utc(last)).total_seconds() < rule.retrain.cooldown:
            status = "suppressed"
        elif rule.retrain.approval == "required":
            status = "pending_approval"
        data = draft.dataset
        versions = await self._retrying(lambda: retrain_store.prompt_versions(
            self.store, data.start, data.end, data.filters))
        trigger = draft.model_copy(update={"status": status, "prompt_versions": versions})
        if status == "triggered":
            await self.release(trigger, rule)
        await self._retrying(lambda: retrain_store.write(self.store, trigger, _version(now)))
        self._count(rule.name, status)
        log.info("retraining policy %s: %s %s (%s)", rule.name, status, trigger.id,
                 trigger.reason)
        return trigger

    async def approve(self, trigger: RetrainTrigger, by: str) -> RetrainTrigger:
        """Release a trigger that waited for a human."""
        rule = self.policies.get(trigger.policy)
        now = datetime.fromtimestamp(self.clock(), UTC)
        approved = trigger.model_copy(update={"status": "approved", "approved_by": by,
                                              "approved_at": now})
        await self.release(approved, rule)
        # the approval must replace the pending row even from a machine whose clock is behind
        version = max(_version(now), _version(trigger.created_at) + 1)
        await self._retrying(lambda: retrain_store.write(self.store, approved, version))
        self._count(trigger.policy, "approved")
        return approved

    async def release(self, trigger: RetrainTrigger, rule: Rule | None) -> list[Any]:
        """Publish on ``llm.retrain`` (keyed by id), then POST to the forward webhooks."""
        body = trigger.to_wire()
        await self.producer.send_all([OutMessage(self.topic, trigger.id.encode(), body)])
        forward = rule.retrain.forward if rule is not None and rule.retrain else ()
        self.last_forward = []
        if not forward:
            return []
        results = await self.notifier.forward(forward, RawDelivery(trigger.id, body))
        self.last_forward = results
        for r in results:
            if not r.ok:  # it is on llm.retrain and stored; `retrain show` has it to resend
                log.error("retraining trigger %s could not be forwarded to %s: %s",
                          trigger.id, r.channel, r.error)
                self._count(trigger.policy, "forward_failed")
        return results

    def _count(self, policy: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.retrain_triggers.labels(policy, outcome).inc()



def _version(now: datetime) -> int:
    return int(now.timestamp() * 1000)
