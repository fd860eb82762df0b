"""Runs the rules file's canaries: reads the stored calls, compares, and publishes each
canary's final verdict once on ``llm.releases`` (rollbacks also to the canary's
``rollback_webhook``, signed like an alert), then stores it.

Only the worker that owns the maintenance partition calls :meth:`CanaryDesk.check`, so a
fleet of N workers does not evaluate N times; and a verdict's id is one per (canary,
verdict, candidate) and stored, so a worker that takes over (or a replay) finds it and
publishes nothing again.  Publication comes before the stored row: a crash in between
republishes the same id, which consumers deduplicate on, rather than losing it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from llmpulse.alerting.canaries import Canary
from llmpulse.alerting.canary_alerts import CanaryState
from llmpulse.alerting.notifiers import Notifier, RawDelivery
from llmpulse.alerting.rules import RulesFile
from llmpulse.metrics import Metrics
from llmpulse.prices import as_utc
from llmpulse.release import canary as logic
from llmpulse.release.compare import compare
from llmpulse.release.from_store import Selection, read_side, scorer_choice
from llmpulse.release.verdict import ReleaseVerdict, build_verdict
from llmpulse.sinks import release_store
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.kafka import BurstProducer, OutMessage

log = logging.getLogger(__name__)


async def _in_thread(work: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(work)


@dataclass(frozen=True, slots=True)
class Look:
    """One evaluation: the canary's state, and the verdict to publish if it just ended."""

    state: CanaryState
    verdict: ReleaseVerdict | None = None
    stored: release_store.Stored | None = None  # the verdict that ended it before


class CanaryDesk:
    def __init__(self, topic: str, rules: RulesFile, store: ClickHouseStore,
                 producer: BurstProducer | None, notifier: Notifier, metrics: Metrics | None,
                 clock: Callable[[], float],
                 retrying: Callable[[Callable[[], Any]], Awaitable[Any]] = _in_thread) -> None:
        self.topic = topic
        self.canaries = rules.canaries
        self.store = store
        self.producer = producer
        self.notifier = notifier
        self.metrics = metrics
        self.clock = clock
        self._retrying = retrying
        self._next: dict[str, float] = {}
        self._states: dict[str, CanaryState] = {}

    async def check(self) -> list[CanaryState]:
        """Evaluate the canaries that are due; every canary's latest state (for the
        alerts).  A canary whose evaluation fails is tried again at the next call."""
        now = self.clock()
        for canary in self.canaries:
            if now < self._next.get(canary.name, float("-inf")):
                continue
            try:
                look = await asyncio.to_thread(self.look, canary, now)
                if look.verdict is not None:
                    await self.release(canary, look.verdict)
                elif look.stored is not None and _due(look.stored.forward, now):
                    await self.resend(canary, look.stored)
            except Exception as exc:  # store or broker down: the next tick tries again
                log.warning("canary %s: could not evaluate: %s", canary.name, exc)
                continue
            self._next[canary.name] = now + canary.every
            self._states[canary.name] = look.state
        return [self._states[c.name] for c in self.canaries if c.name in self._states]

    def look(self, canary: Canary, now_ts: float) -> Look:
        """Read, compare, decide (blocking: run it in a thread)."""
        now = datetime.fromtimestamp(now_ts, UTC)
        values = [(v, as_utc(end), as_utc(begin)) for v, end, begin in release_store.first_calls(
            self.store, canary.by, now - timedelta(seconds=canary.lookback), canary.model,
            canary.route, None if canary.follows_newest else canary.candidate,
            template=canary.template)]
        chosen = logic.sides(canary, values)
        if chosen is None:
            return Look(CanaryState(canary, None, None, None, "no candidate calls yet"))
        done = release_store.ended(self.store, canary.name, chosen.candidate)
        if done is not None:
            return Look(_state(canary, done.verdict), stored=done)

        def side(value: str) -> Selection:
            return Selection(canary.by, value, chosen.start, now, canary.model, canary.route,
                             canary.template)

        selections = [side(chosen.baseline), side(chosen.candidate)]
        scorers = scorer_choice(self.store, selections)  # both sides on one version
        baseline, candidate = (read_side(self.store, s, scorers) for s in selections)
        comparison = compare(baseline.observations(), candidate.observations(),
                             logic.specs(canary), logic.policy(canary))
        decision = logic.decide(canary, chosen.start, comparison, candidate.calls, now)
        if decision.verdict is None:
            return Look(CanaryState(canary, chosen.candidate, chosen.baseline, None,
                                    decision.why, chosen.start))
        verdict = build_verdict(
            canary=canary.name, model=canary.model, route=canary.route, selector=canary.by,
            baseline=chosen.baseline, candidate=chosen.candidate, comparison=comparison,
            candidate_sample=candidate, calls_baseline=baseline.calls,
            started_at=chosen.start, now=now, expired=decision.expired,
            verdict=decision.verdict)
        return Look(_state(canary, verdict), verdict)

    async def release(self, canary: Canary, verdict: ReleaseVerdict) -> None:
        """Publish on ``llm.releases`` (keyed by id), POST a rollback to the rollback
        webhook, store; nothing if the id is stored already."""
        if await self._retrying(lambda: release_store.get(self.store, verdict.id)):
            self._count(canary.name, "duplicate")
            return
        assert self.producer is not None
        await self.producer.send_all([OutMessage(self.topic, verdict.id.encode(),
                                                 verdict.to_wire())])
        now = self.clock()
        forward = await self._forward(canary, verdict, 0, now)
        await self._retrying(lambda: release_store.write(self.store, verdict, forward,
                                                         _version(now)))
        self._count(canary.name, verdict.verdict)
        log.info("canary %s: %s %s %s vs %s (%s)", canary.name, verdict.verdict, canary.by,
                 verdict.candidate, verdict.baseline, verdict.reason)

    async def resend(self, canary: Canary, stored: release_store.Stored) -> None:
        """POST a stored rollback again to the webhook it has not reached."""
        now = self.clock()
        forward = await self._forward(canary, stored.verdict, stored.forward.attempts, now)
        await self._retrying(lambda: release_store.write(self.store, stored.verdict, forward,
                                                         _version(now)))
        if not forward.failed:
            self._count(canary.name, "forward_resent")

    async def _forward(self, canary: Canary, verdict: ReleaseVerdict, attempts: int,
                       now: float) -> release_store.Forward:
        """A rollback to the canary's rollback webhook (signed, with the notifier's
        retries); what is still to reach, and when to try again."""
        if verdict.verdict != "rollback" or not canary.rollback_webhook:
            return release_store.Forward()
        results = await self.notifier.forward([canary.rollback_webhook],
                                              RawDelivery(verdict.id, verdict.to_wire()))
        failed = tuple(r.channel for r in results if not r.ok)
        for r in results:
            if not r.ok:
                log.error("canary %s: the rollback verdict %s could not be sent to %s (attempt "
                          "%d): %s", canary.name, verdict.id, r.channel, attempts + 1, r.error)
                self._count(canary.name, "forward_failed")
        at = datetime.fromtimestamp(now, UTC)
        return release_store.Forward(failed, attempts + 1,
                                     logic.next_forward(bool(failed), attempts + 1, at))

    def _count(self, canary: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.release_verdicts.labels(canary, outcome).inc()


def _due(forward: release_store.Forward, now: float) -> bool:
    return bool(forward.failed) and forward.next_at is not None \
        and as_utc(forward.next_at).timestamp() <= now


def _version(now: float) -> int:
    return int(now * 1000)


def _state(canary: Canary, verdict: ReleaseVerdict) -> CanaryState:
    return CanaryState(canary, verdict.candidate, verdict.baseline, verdict.verdict,
                       verdict.reason, verdict.started_at, verdict.sample_request_ids,
                       verdict.id)
