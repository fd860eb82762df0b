"""Faust wiring of the cheap path: topics, the join table, the ingest agent, timers.

Nothing happens at import time; :func:`build_app` makes a fresh app from the
settings.  The pipeline logic lives in :mod:`llmpulse.pipeline`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

import faust
import orjson

from llmpulse.alerting.rules import RulesFile, groupings, load_rules
from llmpulse.config import Settings
from llmpulse.detectors.cost import CostDetector
from llmpulse.dlq_redaction import REDACTED_HEADER, redacted_detail, redacted_value
from llmpulse.errors import LlmpulseError
from llmpulse.health import ProcessHealth, ProgressWatch
from llmpulse.ingest import INPUT_ROLES, MAX_EVENT_BYTES, key_partition
from llmpulse.join import DurableJoinTable
from llmpulse.kafka_security import faust_credentials, librdkafka_security
from llmpulse.lifecycle import Drain
from llmpulse.metric_zeros import zero_worker_series
from llmpulse.metrics import Metrics
from llmpulse.pipeline import DeadLetter, Pipeline
from llmpulse.prices import load_overrides
from llmpulse.scoring.tasks import ScoreResult, ScoringTask, wire_evaluation
from llmpulse.signals import Signal
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.kafka import BurstProducer, OutMessage
from llmpulse.sinks.rows import StoredCall
from llmpulse.streams.alerting import EVALUATE_EVERY_S, AlertStage, partials_messages
from llmpulse.streams.changelog import burst_changes
from llmpulse.streams.fetch import use_short_fetch_wait
from llmpulse.streams.keeping_up import PartitionPosition, keeping_up
from llmpulse.streams.lifecycle import end_offsets as _end_offsets
from llmpulse.streams.lifecycle import follow_membership, partition_end, partition_name
from llmpulse.streams.metadata_backoff import use_metadata_backoff
from llmpulse.streams.otlp import translator
from llmpulse.streams.table_guard import TableAssignmentGuard, follow_assignments
from llmpulse.topics import all_topics as all_topics  # where callers used to find it
from llmpulse.windows import GroupKey, WindowAggregate

log = logging.getLogger(__name__)

@dataclass
class Worker:
    """The Faust app and what it was built around."""

    app: faust.App
    pipeline: Pipeline
    alerts: AlertStage
    health: ProcessHealth
    drain: Drain
    crashed: BaseException | None = None
    agents: dict[str, Any] = field(default_factory=dict)
    #: input waits while an assignment lacks the tables' changelog partitions
    guard: TableAssignmentGuard = field(default_factory=lambda: TableAssignmentGuard({}))


class KafkaOutbox:
    """Publishes dead letters and signals as one burst per batch; awaits delivery."""

    def __init__(self, producer: BurstProducer, settings: Settings) -> None:
        self._producer = producer
        self._dlq = settings.topic("dlq")
        self._signals = settings.topic("signals")
        self._windows = settings.topic("windows")
        self._scoring = settings.topic("scoring")
        self._partitions = settings.partitions
        self._redact_letters = settings.dlq_payload == "redacted"

    async def windows(self, partials: dict[tuple[GroupKey, float], WindowAggregate]) -> None:
        """Partial aggregates to the partition of their group (see streams.alerting)."""
        await self._producer.send_all(partials_messages(self._windows, self._partitions,
                                                        partials))

    async def scoring(self, tasks: Sequence[ScoringTask]) -> None:
        """Tasks for the scorer, keyed (and partitioned) by request_id."""
        if not tasks:
            return
        await self._producer.send_all([
            OutMessage(self._scoring, t.call.request_id.encode(), t.encode()) for t in tasks])

    async def evaluations(self, results: Sequence[ScoreResult]) -> None:
        """Scores as ``gen_ai.evaluation.result`` records: ``{"evaluations": [...]}``."""
        if not results:
            return
        entries = [wire_evaluation(r, e) for r in results for e in r.evaluations]
        await self._producer.send_all([
            OutMessage(self._signals, None,
                       orjson.dumps({"evaluations": entries[i:i + SIGNALS_PER_MESSAGE]}))
            for i in range(0, len(entries), SIGNALS_PER_MESSAGE)])

    async def dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        await self._producer.send_all([self.letter(letter) for letter in letters])

    def letter(self, letter: DeadLetter) -> OutMessage:
        """A dead letter as the message for the DLQ (reason and source in headers)."""
        value = letter.value or b""
        detail = redacted_detail(letter.detail) if self._redact_letters else letter.detail
        headers = [
            ("llmpulse.reason", letter.reason.encode()),
            ("llmpulse.detail", detail.encode()[:2000]),
            ("llmpulse.source.topic", letter.topic.encode()),
            ("llmpulse.source.partition", str(letter.partition).encode()),
            ("llmpulse.source.offset", str(letter.offset).encode()),
        ]
        if len(value) > MAX_EVENT_BYTES:  # kept whole in the source topic
            headers.append(("llmpulse.truncated_from", str(len(value)).encode()))
            value = value[:DLQ_TRUNCATED_BYTES]
        if self._redact_letters:
            headers.append((REDACTED_HEADER, b"1"))
            value = redacted_value(value)
        return OutMessage(self._dlq, letter.key, value, headers=tuple(headers))

    async def signals(self, calls: Sequence[StoredCall], signals: Sequence[Signal]) -> None:
        """One message per chunk of calls: ``{"calls": [{request_id, ..., signals}]}``."""
        by_request: dict[str, dict[str, float]] = {}
        for signal in signals:
            by_request.setdefault(signal.request_id, {})[signal.name] = signal.value
        messages = []
        for start in range(0, len(calls), SIGNALS_PER_MESSAGE):
            chunk = [_signal_entry(call, by_request)
                     for call in calls[start:start + SIGNALS_PER_MESSAGE]]
            messages.append(OutMessage(self._signals, None, orjson.dumps({"calls": chunk})))
        await self._producer.send_all(messages)


SIGNALS_PER_MESSAGE = 500
DLQ_TRUNCATED_BYTES = 64 * 1024


def _signal_entry(call: StoredCall, by_request: dict[str, dict[str, float]]) -> dict[str, Any]:
    r = call.record
    return {
        "request_id": r.request_id, "time": r.event_time, "provider": r.provider,
        "model": r.request_model, "response_model": r.response_model, "route": r.route,
        "tenant": r.tenant, "join_status": r.join_status,
        "signals": by_request.get(r.request_id, {}),
    }


class KeyPartitionedTable(faust.Table[bytes, Any]):
    """A table whose changelog partition is the key's Kafka default partition.

    murmur2(request_id) % partitions is where the SDK (librdkafka's
    ``murmur2_random``) and Java producers put every event of a call, so the
    table entry lives on the same partition as its events; and unlike Faust's
    default (the current event's partition) it can be written outside an event,
    e.g. when a batch flush marks calls done.
    """

    def partition_for_key(self, key: Any) -> int:
        return key_partition(key, self.partitions)


class BatchedChangelogTable(DurableJoinTable):
    """The join table with str keys; changes stay local until persisted with a batch.

    Faust's own table writes go one message at a time through its producer
    buffer, which stalls the stream once a batch marks thousands of calls done.
    Here reads and writes hit the local store directly, and :meth:`persist` sends
    the accumulated changes to the changelog as one awaited burst through the
    outputs' librdkafka producer (:func:`burst_changes`), before the pipeline
    acknowledges the messages that caused them.
    """

    def __init__(self, table: KeyPartitionedTable, producer: BurstProducer) -> None:
        self._table = table
        self._producer = producer
        self._data = table.data
        self._changes: dict[str, dict[str, Any] | None] = {}
        self.pending = set()

    def __getitem__(self, key: str) -> dict[str, Any]:
        return cast(dict[str, Any], self._data[key.encode()])

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key.encode(), default)

    def __setitem__(self, key: str, value: dict[str, Any]) -> None:
        self._data[key.encode()] = value
        self._changes[key] = value
        self._track(key, value)

    def __delitem__(self, key: str) -> None:
        del self._data[key.encode()]
        self._changes[key] = None
        self._track(key, None)

    def __iter__(self) -> Iterator[str]:
        return (key.decode() for key in list(self._data.keys()))

    def __len__(self) -> int:
        return len(self._data)

    async def persist(self) -> None:
        """Write every change made so far to the changelog and wait for the broker."""
        changes, self._changes = self._changes, {}
        try:
            await self.send(changes)
        except BaseException:  # sent again with the next persist; later changes win
            self._changes = {**changes, **self._changes}
            raise

    async def send(self, changes: dict[str, dict[str, Any] | None]) -> None:
        """The changes as changelog records: raw key, JSON value (None deletes)."""
        await burst_changes(self._producer, self._table.changelog_topic.get_topic_name(), (
            (raw, value, self._table.partition_for_key(raw))
            for raw, value in ((key.encode(), value) for key, value in changes.items())))


def worker_input_topics(settings: Settings) -> frozenset[str]:
    """The topics the cheap path reads (what /readyz counts as input partitions)."""
    return frozenset(settings.topic(role) for role in (*INPUT_ROLES, "scores"))


def build_app(settings: Settings, store: ClickHouseStore, metrics: Metrics,
              rules: RulesFile | None = None, health: ProcessHealth | None = None,
              drain: Drain | None = None) -> Worker:
    """The worker's app; ``health`` (what /readyz answers from) and ``drain`` (the stop
    after SIGTERM) are the runner's, or made here."""
    inputs = worker_input_topics(settings)
    if health is None:
        health = ProcessHealth("worker", stall_s=settings.live_stall_s,
                               stuck_s=settings.ready_stuck_s, input_topics=inputs)
    if drain is None:
        drain = Drain("worker", settings.drain_timeout_s)
    if rules is None:
        rules = load_rules(settings.rules_file)
    rules.check_panes(settings.window_pane_s)
    zero_worker_series(metrics, settings, rules.channels,
                       [r.name for r in rules.rules if r.retrain is not None],
                       [c.name for c in rules.canaries])
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)  # Faust makes one level
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.broker}",
        store="memory://",
        datadir=str(settings.data_dir / "faust" / "{conf.name}"),  # not ./<app_id>-data
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        table_standby_replicas=0,
        web_enabled=False,
        producer_compression_type="lz4",
        producer_linger=0.005,  # the pipeline sends in bursts; let them share requests
        # a join-table entry or dead letter carries a whole event (up to MAX_EVENT_BYTES)
        producer_max_request_size=2 * MAX_EVENT_BYTES,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout_s,
        broker_rebalance_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=max(0.5, settings.session_timeout_s / 10),
        # Faust refuses a session timeout above its request timeout (90 s by default)
        broker_request_timeout=max(90.0, settings.session_timeout_s + 30),
        consumer_group_instance_id=settings.instance_id_for("worker"),  # static membership
        broker_credentials=faust_credentials(settings),  # TLS/SASL
        broker_commit_every=max(1000, settings.batch_max_rows),
        stream_buffer_maxsize=max(4096, settings.batch_max_rows * 2),
        # Messages are acknowledged after their batch is stored; at shutdown the
        # final flush (below) does that, so Faust must not wait for them first.
        stream_wait_empty=False,
    )
    # the OTLP topic is an input as well: a batch read and dropped at start-up must be read
    # again, not committed over (its replay is deduplicated by request id)
    strict = {settings.topic(role) for role in INPUT_ROLES}
    if settings.otlp_topic:
        strict.add(settings.otlp_topic)
    use_short_fetch_wait(app, strict_topics=strict)
    use_metadata_backoff(app)
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw",
                           "value_serializer": "raw", "internal": False}
    assert settings.broker is not None
    producer = BurstProducer(settings.broker, max_message_bytes=2 * MAX_EVENT_BYTES,
                             security=librdkafka_security(settings))
    table = KeyPartitionedTable(app, name="join", default=None, key_type=bytes, value_type=None,
                                beacon=app.tables.beacon, partitions=settings.partitions)
    app.tables.add(table)
    last_offsets: dict[Any, int] = {}
    join_topics = {settings.topic(role) for role in ("requests", "responses", "inference")}
    last_times: dict[Any, float] = {}  # Kafka timestamp of the last message read
    lag_reported: set[tuple[str, str]] = set()
    commits_held: dict[Any, CommitHeld] = {}

    async def ack(token: Any) -> None:
        stream, event = token
        await stream.ack(event)

    outbox = KafkaOutbox(producer, settings)
    cost = CostDetector(load_overrides(settings.prices_file) if settings.prices_file else None)
    pipeline = Pipeline(settings, store, outbox, metrics,
                        BatchedChangelogTable(table, producer), ack, clock=time.time,
                        groupings=groupings(rules), cost=cost)
    alerts = AlertStage(app, settings, rules, store, metrics, producer)
    worker = Worker(app=app, pipeline=pipeline, alerts=alerts, health=health, drain=drain,
                    guard=TableAssignmentGuard({
                        table.changelog_topic.get_topic_name(): join_topics,
                        alerts.table.changelog_name: {settings.topic("windows")}}))
    follow_assignments(app, worker.guard)
    health.batch = lambda: pipeline.in_write
    health.store_writes = lambda: pipeline.store_trouble
    follow_membership(app, health)
    for role in (*INPUT_ROLES, "scores"):
        topic = app.topic(settings.topic(role), **raw)
        worker.agents[role] = app.agent(topic, name=f"ingest-{role}")(
            _ingest(role, worker, last_offsets, last_times))
    if settings.otlp_topic:  # OTLP trace batches -> inference events (streams.otlp)
        worker.agents["otlp"] = app.agent(app.topic(settings.otlp_topic, **raw),
                                          name="otlp-translate")(
            translator(settings, producer, metrics, outbox.letter, partial(_fatal, worker)))
    _attach_alerting(app, settings, worker, raw)

    @app.timer(interval=settings.batch_max_s)  # type: ignore[untyped-decorator]
    async def flush_timer() -> None:
        await pipeline.flush()

    @app.timer(interval=min(5.0, max(0.5, settings.join_timeout_s / 4)))  # type: ignore[untyped-decorator]
    async def sweep_timer() -> None:
        try:
            owned = {tp.partition for tp in app.consumer.assignment()
                     if tp.topic == settings.topic("inference")}
        except Exception:  # consumer not started yet: nothing is ours
            owned = set()
        positions = await _report_lag(app, metrics, last_offsets, lag_reported, commits_held,
                                      join_topics, last_times, progress=health.progress,
                                      watched=inputs)
        pipeline.sweep(owned, keeping_up=keeping_up(positions, time.time(),
                                                    settings.join_timeout_s / 2))

    async def flush_on_revoke(sender: Any, revoked: Any, **_: Any) -> None:
        await pipeline.flush()
        for tp in revoked:  # read again from the committed offset if it comes back
            last_offsets.pop(tp, None)
        pipeline.release({tp.partition for tp in revoked
                          if tp.topic == settings.topic("feedback")})
        alerts.on_revoked({tp.partition for tp in revoked
                           if tp.topic == settings.topic("windows")})

    async def flush_on_shutdown(sender: Any, **_: Any) -> None:
        """The drain (the consumer has stopped fetching): take no more messages, write and
        acknowledge the batch in flight and the buffered one within the drain's bound."""
        pipeline.close()
        drain.at("finishing the batch in flight")
        budget = drain.batch_budget()
        flushing = asyncio.ensure_future(pipeline.flush())
        try:
            await asyncio.wait({flushing}, timeout=budget)
            if flushing.done():
                flushing.result()
            else:  # unacknowledged: redelivered at the next start
                drain.abandon(f"{pipeline.abort()} (unfinished after {budget:.0f} s)")
                flushing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await flushing
        except Exception as exc:
            log.exception("final flush failed; the next start replays the rest")
            drain.abandon(f"{pipeline.abort()} (the final flush failed: {exc})")
        finally:
            drain.at("closing the alert stage")
            await alerts.close()
            drain.at("closing the producer")
            await asyncio.to_thread(producer.close, max(1.0, drain.remaining() / 2))
            drain.at("committing offsets, leaving the group and stopping")

    app.on_partitions_revoked.connect(flush_on_revoke)  # type: ignore[arg-type]
    app.on_before_shutdown.connect(flush_on_shutdown)  # type: ignore[arg-type]
    return worker


def _attach_alerting(app: faust.App, settings: Settings, worker: Worker,
                     raw: dict[str, Any]) -> None:
    """Agents for partial windows and alert deliveries, and the engine's timers."""
    stage = worker.alerts

    async def windows(stream: Any) -> None:
        manual = stream.noack()
        async for event in manual.events():
            if not await _admitted(worker, event.message):
                continue
            try:
                await stage.on_partials(event.message.value)
            except Exception:  # an internal message; keep evaluating the rest
                log.exception("cannot evaluate partial windows at offset %d",
                              event.message.offset)
            await manual.ack(event)

    async def alerts(stream: Any) -> None:
        manual = stream.noack()
        async for event in manual.events():  # acked once delivered everywhere, in order
            await stage.deliver(event.message.value, event.message.partition,
                                partial(manual.ack, event))

    worker.agents["windows"] = app.agent(
        app.topic(settings.topic("windows"), **raw), name="windows")(windows)
    worker.agents["alerts"] = app.agent(
        app.topic(settings.topic("alerts"), **raw), name="notify")(alerts)

    @app.timer(interval=EVALUATE_EVERY_S)  # type: ignore[untyped-decorator]
    async def evaluate_timer() -> None:
        await stage.tick()

    @app.timer(interval=5.0)  # type: ignore[untyped-decorator]
    async def windows_timer() -> None:
        try:
            owned = {tp.partition for tp in app.consumer.assignment()
                     if tp.topic == settings.topic("windows")}
        except Exception:  # consumer not started yet
            return
        if stage.maintenance_partition in owned:
            try:
                await stage.write_windows()
                await stage.check_budgets()
            except Exception as exc:  # retried at the next tick
                log.warning("could not store closed windows or check budgets: %s", exc)
            try:
                await stage.check_drift()
            except Exception:  # retried at the next tick
                log.exception("drift check failed")
            try:
                await stage.check_canaries()
            except Exception as exc:  # retried at the next tick
                log.warning("could not check the canaries: %s", exc)
            try:
                await stage.retrain.resend_due()
            except Exception as exc:  # retried at the next tick
                log.warning("could not forward retraining triggers again: %s", exc)


async def _fatal(worker: Worker, exc: LlmpulseError) -> None:
    """Stop the worker on a stop condition (its exit status tells why)."""
    worker.crashed = exc
    await worker.app.crash(exc)


def _ingest(role: str, worker: Worker, last_offsets: dict[Any, int],
            last_times: dict[Any, float]) -> Callable[[Any], Awaitable[None]]:
    """The agent body for one input topic: hand each message to the pipeline."""

    async def ingest(stream: Any) -> None:
        manual = stream.noack()
        try:
            async for event in manual.events():
                message = event.message
                if not await _admitted(worker, message):
                    continue
                last_offsets[message.tp] = message.offset
                if message.timestamp:
                    last_times[message.tp] = float(message.timestamp)
                await worker.pipeline.handle(role, message.topic, message.partition,
                                             message.offset, message.key, message.value,
                                             (manual, event))
        except LlmpulseError as exc:  # a stop condition, not a bug: stop the worker
            log.error("%s", exc)
            await _fatal(worker, exc)

    return ingest


async def _admitted(worker: Worker, message: Any) -> bool:
    """Whether ``message`` may be processed now: it waits while the assignment lacks the
    tables' changelog partitions (:mod:`llmpulse.streams.table_guard`); one read under
    an earlier assignment is left unacknowledged, to be read again under the new one."""
    if worker.guard.is_open:
        return True
    await worker.guard.wait()
    return bool(message.generation_id == worker.app.consumer_generation_id)


async def _report_lag(app: faust.App, metrics: Metrics, last_offsets: dict[Any, int],
                      reported: set[tuple[str, str]],
                      held: dict[Any, CommitHeld] | None = None,
                      joined: set[str] | frozenset[str] = frozenset(),
                      last_times: dict[Any, float] | None = None,
                      progress: ProgressWatch | None = None,
                      watched: frozenset[str] = frozenset()) -> list[PartitionPosition]:
    """Messages behind the end of each assigned partition, from the committed offset and
    from the last message read; partitions no longer assigned (moved to another worker)
    stop being reported.  ``held`` remembers commits that stopped moving, across calls;
    ``progress`` gets the read position of the partitions of ``watched`` (for /readyz).
    Returns where the worker stands on each partition of the ``joined`` topics (what
    :func:`keeping_up` decides on; empty when unknown)."""
    held = {} if held is None else held
    positions: list[PartitionPosition] = []
    times = {} if last_times is None else last_times
    try:
        assigned = app.consumer.assignment()
    except Exception:  # not started yet
        return positions
    current = {(tp.topic, str(tp.partition)) for tp in assigned}
    for gone in reported - current:
        metrics.consumer_lag.remove(*gone)
        metrics.read_lag.remove(*gone)
    reported.intersection_update(current)
    # Faust updates this with every commit and seek
    committed: dict[Any, int | None] = getattr(app.consumer, "_committed_offset", {})
    inputs = [tp for tp in assigned
              if not (tp.topic.endswith("-changelog") or "__assignor" in tp.topic)]
    ends = await _end_offsets(app, inputs)
    for tp in inputs:
        high = partition_end(app, tp, ends, last_offsets)
        if high is None:
            continue
        labels = (tp.topic, str(tp.partition))
        # the committed lag needs no read position: reported even while a partition is
        # being sought (a partition left out would make the sum look caught up)
        metrics.consumer_lag.labels(*labels).set(max(0, high - (committed.get(tp) or 0)))
        reported.add(labels)
        try:
            done = last_offsets[tp] + 1 if tp in last_offsets else await app.consumer.position(tp)
        except Exception:  # no read position yet (being sought, or moving in a rebalance)
            done = None
        if done is None:
            continue
        metrics.read_lag.labels(*labels).set(max(0, high - done))
        if tp.topic in joined:
            positions.append(PartitionPosition(max(0, high - done), times.get(tp)))
        _watch_commit(app, tp, committed.get(tp),
                      behind=high == done and (committed.get(tp) or 0) < high, held=held)
        if progress is not None and tp.topic in watched:
            progress.observe(partition_name(tp), high, done)
    if progress is not None:
        progress.keep(partition_name(tp) for tp in inputs if tp.topic in watched)
    return positions


#: How long a partition may be read to its end with its commit not moving before the
#: log says what holds it.
STUCK_COMMIT_S = 60.0
#: Per partition: (committed offset, since when it has not moved, warned already).
CommitHeld = tuple[int | None, float, bool]


def _watch_commit(app: faust.App, tp: Any, committed: int | None, behind: bool,
                  held: dict[Any, CommitHeld]) -> None:
    """Warn once when a partition is read to its end but its committed offset stays
    behind for :data:`STUCK_COMMIT_S` (what Kafka tools then show as lag)."""
    now = time.monotonic()
    last = held.get(tp)
    if not behind or last is None or last[0] != committed:
        held[tp] = (committed, now, False)
        return
    if last[2] or now - last[1] < STUCK_COMMIT_S:
        return
    held[tp] = (committed, last[1], True)
    consumer: Any = app.consumer
    acked = sorted(consumer._acked.get(tp, []))
    unacked = sorted(m.offset for m in list(consumer._unacked_messages) if m.tp == tp)
    log.warning("the committed offset of %s[%d] has stayed at %s for %.0f s with every "
                "message read: acknowledged %s..%s (%d), unacknowledged %s",
                tp.topic, tp.partition, committed, now - last[1],
                acked[0] if acked else None, acked[-1] if acked else None, len(acked),
                unacked[:10])
