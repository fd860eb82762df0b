"""The worker's tables must be recovered from their changelogs before input is read.

Faust subscribes to a table's changelog topic and creates that topic itself, a second
after the consumer has started, while the consumer is joining its group.  When the
group leader computes the assignment before its metadata shows the new topic (a fresh
deployment; on a fresh broker most often), Faust's assignor leaves the topic out
(``Ignoring missing topic: ...-join-changelog``): the worker gets its input partitions
but none of the table's changelog partitions.  The recovery then has nothing to read,
and the streams start with an empty join table.  For a first start that costs nothing,
but the leader's metadata may stay stale for minutes, and with static membership a
restarted worker gets that cached assignment back without a rebalance: after a crash
it reads its input again with the pending halves its changelog holds never loaded.
A replayed half was then taken for news, and the half acknowledged before the crash
was missing: in ``bench/crash_backlog.py`` calls were filed as join timeouts, or
(both halves acknowledged before two crashes) never stored.

Two measures:

* :func:`ensure_changelog_topics`: the worker creates its tables' changelog topics
  (as Faust would: partitions, compaction) before the consumer starts, so that every
  member's metadata shows them from the first join on;
* :class:`TableAssignmentGuard`: input is handed to the pipeline only under an
  assignment that gives the worker, for each partition of a table's source topics,
  that table's changelog partition (the tables are partitioned like their inputs).  An
  assignment without them closes the guard; the worker refreshes its metadata and asks
  for a new assignment (a JoinGroup from the leader makes the coordinator rebalance)
  until it gets a complete one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from faust.types import TP

from llmpulse.topics import ensure_topics

log = logging.getLogger(__name__)

#: How long the guard waits for a complete assignment before asking again.
REASSIGN_EVERY_S = 10.0


@dataclass(frozen=True)
class ChangelogTopic:
    """A table's changelog topic as Faust declares it."""

    name: str
    partitions: int
    config: Mapping[str, str]


def changelog_topics(tables: Iterable[Any]) -> list[ChangelogTopic]:
    """The changelog topics of Faust ``tables`` with Faust's settings for them."""
    topics = []
    for table in tables:
        topic = table.changelog_topic
        config: dict[str, str] = {str(k): str(v) for k, v in (topic.config or {}).items()}
        policy = sorted({"compact"} if topic.compacting else set()
                        | ({"delete"} if topic.deleting else set()))
        if policy:
            config["cleanup.policy"] = ",".join(policy)
        if topic.retention:
            config["retention.ms"] = str(int(float(topic.retention) * 1000))
        topics.append(ChangelogTopic(topic.get_topic_name(), int(table.partitions), config))
    return topics


def ensure_changelog_topics(broker: str, tables: Iterable[Any], replication_factor: int,
                            security: Mapping[str, Any] | None = None) -> None:
    """Create the tables' changelog topics that do not exist yet (before Faust starts);
    ``security``: librdkafka's TLS/SASL properties (:mod:`llmpulse.kafka_security`)."""
    topics = changelog_topics(tables)
    ensure_topics(broker, {t.name: t.partitions for t in topics}, replication_factor,
                  security=security, configs={t.name: t.config for t in topics})


def missing_changelogs(assigned: Iterable[TP], actives: Iterable[TP],
                       sources: Mapping[str, Iterable[str]]) -> dict[str, list[int]]:
    """Per changelog topic, the partitions of its ``sources`` topics assigned here whose
    changelog partition is not among the ``actives`` (what the recovery reads)."""
    active = {(tp.topic, tp.partition) for tp in actives}
    missing: dict[str, list[int]] = {}
    for changelog, topics in sources.items():
        wanted = {tp.partition for tp in assigned if tp.topic in set(topics)}
        lacking = sorted(p for p in wanted if (changelog, p) not in active)
        if lacking:
            missing[changelog] = lacking
    return missing


class TableAssignmentGuard:
    """Open while the current assignment carries the changelog partitions of every
    assigned source partition (see the module); input waits while it is closed.

    ``sources``: changelog topic -> the topics whose partitions its table serves."""

    def __init__(self, sources: Mapping[str, Iterable[str]]) -> None:
        self.sources = {name: frozenset(topics) for name, topics in sources.items()}
        self._open = asyncio.Event()
        self._open.set()  # nothing is read before the first assignment
        self.missing: dict[str, list[int]] = {}

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    def on_revoked(self) -> None:
        """A rebalance: nothing is read until the next assignment is known complete."""
        self._open.clear()

    def on_assigned(self, assigned: Iterable[TP], actives: Iterable[TP]) -> dict[str, list[int]]:
        """Open on a complete assignment; returns what an incomplete one lacks."""
        self.missing = missing_changelogs(list(assigned), list(actives), self.sources)
        if self.missing:
            self._open.clear()
        else:
            self._open.set()
        return self.missing

    async def wait(self) -> None:
        await self._open.wait()


def follow_assignments(app: Any, guard: TableAssignmentGuard) -> None:
    """Keep ``guard`` up to date with ``app``'s assignments; ask the group for a new
    assignment while one lacks changelog partitions."""
    asking: list[asyncio.Future[None]] = []

    async def on_revoked(sender: Any, revoked: Any, **_: Any) -> None:
        guard.on_revoked()

    async def on_assigned(sender: Any, assigned: Any, **_: Any) -> None:
        lacked = bool(guard.missing)
        missing = guard.on_assigned(assigned, app.assignor.assigned_actives())
        if not missing:
            if lacked:
                log.info("the assignment carries the tables' changelog partitions now; "
                         "reading input")
            return
        log.error("the assignment lacks the changelog partitions of tables whose input "
                  "partitions it gives this worker (%s): the group leader's metadata does "
                  "not show those topics yet; input waits, asking for a new assignment",
                  "; ".join(f"{name} {parts}" for name, parts in sorted(missing.items())))
        if not any(not task.done() for task in asking):
            asking[:] = [asyncio.ensure_future(_ask_until_complete(app, guard))]

    app.on_partitions_revoked.connect(on_revoked)
    app.on_partitions_assigned.connect(on_assigned)


async def _ask_until_complete(app: Any, guard: TableAssignmentGuard) -> None:
    while not guard.is_open and not app.should_stop:
        try:
            await ask_for_assignment(app)
        except Exception as exc:  # asked again at the next round
            log.warning("could not ask the group for a new assignment: %s", exc)
        try:
            await asyncio.wait_for(guard.wait(), timeout=REASSIGN_EVERY_S)
        except TimeoutError:
            if guard.missing:
                log.warning("still no assignment with the tables' changelog partitions; "
                            "asking again")


async def ask_for_assignment(app: Any) -> None:
    """Refresh the consumer's metadata, then rejoin the group (in the consumer thread):
    a JoinGroup from the leader makes the coordinator rebalance, and the leader then
    assigns from the fresh metadata."""
    thread = app.consumer._thread
    consumer = thread._ensure_consumer()

    async def refresh_and_rejoin() -> None:
        await consumer._client.force_metadata_update()
        consumer._coordinator.request_rejoin()

    future = asyncio.run_coroutine_threadsafe(refresh_and_rejoin(), thread.thread_loop)
    await asyncio.wrap_future(future)
