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
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
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
#: A forward webhook that failed (after the notifier's own retries) is tried again after
#: 1, 2, 4 ... minutes, at most an hour apart, up to this many attempts in all (~14 h).
FORWARD_ATTEMPTS = 20
FORWARD_FIRST_RETRY_S = 60.0
FORWARD_MAX_RETRY_S = 3600.0
#: How often the store is asked for forwards that are due (retries are minutes apart).
RESEND_CHECK_S = 30.0


async def _once(work: Callable[[], T]) -> T:
    return await asyncio.to_thread(work)


class RetrainDesk:
    def __init__(self, topic: str, rules: RulesFile, store: ClickHouseStore,
                 producer: BurstProducer | None, notifier: Notifier, metrics: Metrics | None,
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
        self._forwards = any(r.retrain.forward for r in self.policies.values()
                             if r.retrain is not None)
        self._resend_checked = float("-inf")

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
            trigger = self._forwarded(trigger, await self.release(trigger, rule), now)
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
        approved = self._forwarded(approved, await self.release(approved, rule), now)
        # the approval must replace the pending row even from a machine whose clock is behind
        version = max(_version(now), _version(trigger.created_at) + 1)
        await self._retrying(lambda: retrain_store.write(self.store, approved, version))
        self._count(trigger.policy, "approved")
        return approved

    async def release(self, trigger: RetrainTrigger, rule: Rule | None) -> list[Any]:
        """Publish on ``llm.retrain`` (keyed by id), then POST to the forward webhooks."""
        body = trigger.to_wire()
        assert self.producer is not None, "a desk without a producer only resends"
        await self.producer.send_all([OutMessage(self.topic, trigger.id.encode(), body)])
        forward = rule.retrain.forward if rule is not None and rule.retrain else ()
        return await self._forward(trigger, forward)

    async def _forward(self, trigger: RetrainTrigger, channels: Sequence[str]) -> list[Any]:
        self.last_forward = []
        if not channels:
            return []
        results = await self.notifier.forward(channels, RawDelivery(trigger.id,
                                                                    trigger.to_wire()))
        self.last_forward = results
        for r in results:
            if not r.ok:  # on llm.retrain and stored; sent again by resend_due
                log.error("retraining trigger %s could not be forwarded to %s: %s",
                          trigger.id, r.channel, r.error)
                self._count(trigger.policy, "forward_failed")
        return results

    def _forwarded(self, trigger: RetrainTrigger, results: Sequence[Any], now: datetime
                   ) -> RetrainTrigger:
        """The trigger with the webhooks still to reach and when to try them again."""
        failed = tuple(r.channel for r in results if not r.ok)
        attempts = trigger.forward_attempts + 1 if results else trigger.forward_attempts
        retry = None
        if failed and attempts < FORWARD_ATTEMPTS:
            retry = now + timedelta(seconds=min(FORWARD_FIRST_RETRY_S * 2 ** (attempts - 1),
                                                FORWARD_MAX_RETRY_S))
        elif failed:
            log.error("retraining trigger %s: giving up forwarding to %s after %d attempts "
                      "(`llmpulse retrain resend %s` sends it again)", trigger.id,
                      ", ".join(failed), attempts, trigger.id)
            self._count(trigger.policy, "forward_abandoned")
        return trigger.model_copy(update={"forward_failed": failed,
                                          "forward_attempts": attempts,
                                          "next_forward_at": retry})

    async def resend(self, trigger: RetrainTrigger, channels: Sequence[str] | None = None
                     ) -> RetrainTrigger:
        """POST a released trigger again to the webhooks it did not reach (or ``channels``)
        and store the outcome.

        Webhooks still to reach that ``channels`` leaves out stay to reach, on their retry
        schedule (attempts and next time unchanged); a named webhook that fails joins them.
        """
        now = datetime.fromtimestamp(self.clock(), UTC)
        targets = trigger.forward_failed if channels is None else tuple(channels)
        results = await self._forward(trigger, targets)
        untouched = tuple(c for c in trigger.forward_failed if c not in targets)
        if untouched:
            failed = untouched + tuple(r.channel for r in results
                                       if not r.ok and r.channel not in untouched)
            again = trigger.model_copy(update={"forward_failed": failed})
        else:
            again = self._forwarded(trigger, results, now)
        version = max(_version(now), _version(trigger.created_at) + 1 + again.forward_attempts)
        await self._retrying(lambda: retrain_store.write(self.store, again, version))
        if again.forward_attempts and not again.forward_failed:
            self._count(trigger.policy, "forward_resent")
        return again

    async def resend_due(self) -> list[RetrainTrigger]:
        """Forward again the released triggers whose retry time has come (the worker that
        owns the maintenance partition calls this every few seconds; the store is read at
        most every ``RESEND_CHECK_S``, and never without a policy that forwards)."""
        if not self._forwards or self.clock() - self._resend_checked < RESEND_CHECK_S:
            return []
        self._resend_checked = self.clock()
        now = datetime.fromtimestamp(self._resend_checked, UTC)
        due = await self._retrying(lambda: retrain_store.forwards_due(self.store, now))
        return [await self.resend(t) for t in due]

    def _count(self, policy: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.retrain_triggers.labels(policy, outcome).inc()



def _version(now: datetime) -> int:
    return int(now.timestamp() * 1000)
