"""The cheap path, independent of Faust: decode → join → detect → store → ack.

Every input message is acknowledged only after everything it caused is durable:
its record and signals are in ClickHouse (or its dead letter is delivered), its
done marker is in the join table.  A crash at any point replays unacknowledged
messages; ClickHouse's ReplacingMergeTree absorbs the repeats and the join
table tells a replay (no done marker yet) from a true duplicate.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from llmpulse import join
from llmpulse.config import Settings
from llmpulse.detectors import Detector, cheap_path_detectors
from llmpulse.detectors.cost import CostDetector
from llmpulse.detectors.injection import SIGNAL as INJECTION_SIGNAL
from llmpulse.errors import InvalidEvent, LlmpulseError
from llmpulse.health import BatchState, Trouble
from llmpulse.ingest import decode_event, partition_of
from llmpulse.join import RANK
from llmpulse.metrics import Metrics
from llmpulse.models.injection_classifier import (
    shipped_classifier as shipped_injection_classifier,
)
from llmpulse.records import InferenceRecord
from llmpulse.redaction import Counts, Redactor, total
from llmpulse.schema import FeedbackEvent, ResponseEvent
from llmpulse.scoring.results import (
    is_negative,
    merge_partials,
    pii_signals,
    result_signals,
    task_from_row,
)
from llmpulse.scoring.sampling import SamplingPolicy, ScoringSampler
from llmpulse.scoring.tasks import CallRef, ScoreResult, ScoringTask, call_ref
from llmpulse.signals import Signal
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.prometheus import observe_calls, observe_feedback, observe_quality
from llmpulse.sinks.rows import StoredCall
from llmpulse.windows import (
    STANDARD_GROUPINGS,
    GroupKey,
    WindowAggregate,
    fold,
    fold_feedback,
    fold_quality,
)

log = logging.getLogger(__name__)
Clock = Callable[[], float]
T = TypeVar("T")

#: How often the sweep reads the whole join table (done marks past the dedup
#: horizon, entries restored from the changelog); in between it reads only the
#: pending entries.
FULL_SWEEP_S = 60.0
#: Calls dated further than this past the worker's clock stay out of the windows.
MAX_AHEAD_S = 300.0
#: Halves whose personal-data counts wait for the other half (oldest dropped past it).
MAX_PENDING_PII = 100_000
#: How long feedback waits for its call to be stored, and how often it is retried.
FEEDBACK_WAIT_S = 300.0
FEEDBACK_RETRY_S = 5.0
MAX_UNJOINED = 100_000
#: Scoring reasons whose results are unbiased samples of traffic: only these count in
#: the quality windows and metrics (every result is stored).
WINDOWED_REASONS = frozenset({"sampled", "new_version"})
#: At most one log line per this many seconds about calls stored without their bodies.
OLD_CALLS_LOG_S = 60.0
#: Longest wait between two attempts of a failing step once the pipeline is closed (a
#: drain after SIGTERM: the store or broker coming back must not be missed by a backoff).
DRAIN_RETRY_S = 1.0


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An input message that failed validation, with where it came from and why."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    reason: str
    detail: str


class Outbox(Protocol):
    """Where the pipeline publishes (Kafka topics in the worker)."""

    async def dead_letters(self, letters: Sequence[DeadLetter]) -> None: ...

    async def signals(self, calls: Sequence[StoredCall], signals: Sequence[Signal]) -> None: ...

    async def windows(self, partials: dict[tuple[GroupKey, float], WindowAggregate]
                      ) -> None: ...

    async def scoring(self, tasks: Sequence[ScoringTask]) -> None: ...

    async def evaluations(self, results: Sequence[ScoreResult]) -> None: ...


class DeadLetterRatioExceeded(LlmpulseError):
    """Too many invalid events: likely a misconfigured producer; the worker stops."""


@dataclass
class Batch:
    calls: list[tuple[StoredCall, str]] = field(default_factory=list)  # (call, metrics mode)
    feedback: list[FeedbackEvent] = field(default_factory=list)
    scores: list[ScoreResult] = field(default_factory=list)
    pii: dict[str, dict[str, int]] = field(default_factory=dict)  # request_id -> kind -> n
    dead: list[DeadLetter] = field(default_factory=list)
    acks: list[Any] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.calls) + len(self.feedback) + len(self.dead) + len(self.scores)


class Pipeline:
    """Buffers work from the stream and flushes it in size- and time-bounded batches."""

    def __init__(self, settings: Settings, store: ClickHouseStore, outbox: Outbox,
                 metrics: Metrics, table: join.DurableJoinTable,
                 ack: Callable[[Any], Awaitable[None]],
                 clock: Clock, detectors: dict[str, Detector] | None = None,
                 groupings: Sequence[tuple[str, ...]] = STANDARD_GROUPINGS,
                 cost: CostDetector | None = None) -> None:
        self.settings = settings
        self.store = store
        self.outbox = outbox
        self.metrics = metrics
        self.table = table
        self._ack = ack
        self.clock = clock
        self.cost = cost or CostDetector()
        self.groupings = tuple(groupings)
        if detectors is None:
            shipped_injection_classifier()  # trained now, not on the first call's batch
        self.detectors = detectors or cheap_path_detectors(self.cost)
        self.redactor = Redactor.from_settings(settings)
        self.sampler = ScoringSampler(SamplingPolicy.from_settings(settings), random.Random())
        #: calls finished but not stored yet (see the durability rules in llmpulse.join)
        self.in_flight: dict[str, join.Halves] = {}
        self._batch = Batch()
        self._lock = asyncio.Lock()
        self._writing: asyncio.Future[None] | None = None
        self._write_task: asyncio.Future[None] | None = None  # the latest, even when awaited
        self._store_failing = False
        #: the batch being written, its step and since when it fails (for /readyz)
        self.in_write: BatchState | None = None
        #: store operations failing now: since when, attempts, the last error (for /readyz)
        self.store_trouble: Trouble | None = None
        self._closed = False
        self._closing = asyncio.Event()
        self._last_full_sweep = float("-inf")
        self._recent: deque[bool] = deque(maxlen=1000)
        self._recent_invalid = 0
        self._pii_pending: dict[str, Counts] = {}  # findings of halves awaiting a join
        #: feedback_id -> (feedback whose call is not stored yet, when to stop waiting); it
        #: is stored as window_state 'waiting' too, so that a worker taking its partition
        #: over (a restart, a rebalance) picks it up: see _recover_waiting
        self._unjoined: dict[str, tuple[FeedbackEvent, float]] = {}
        self._retry_unjoined_at = float("-inf")
        self._owned: set[int] | None = None  # input partitions held (None: all of them)
        self._recovered: set[int] = set()  # partitions whose waiting feedback is loaded
        self._recovered_all = False
        self._old_calls_unlogged = 0  # stored past the body TTL since the last log line
        self._old_calls_logged_at = float("-inf")

    async def handle(self, role: str, topic: str, partition: int, offset: int,
                     key: bytes | None, value: bytes | None, token: Any) -> None:
        """Process one input message; ``token`` is acknowledged after the next flush.

        Once :meth:`close` was called, messages are left alone: not acknowledged, they
        are redelivered at the next start."""
        if self._closed:
            return
        self.metrics.events_in.labels(topic).inc()
        valid = True
        try:
            if role == "scores":
                self._batch.scores.append(ScoreResult.decode(value))
            else:
                self._ingest(role, topic, partition, key, value)
        except InvalidEvent as bad:
            valid = False
            self._dead(topic, partition, offset, key, value, bad.reason, bad.detail)
        except Exception as exc:  # a bug or bad state must not lose the event: park it
            log.exception("unexpected error on %s[%d]@%d", topic, partition, offset)
            self._dead(topic, partition, offset, key, value, "internal",
                       f"{type(exc).__name__}: {exc}")
        self._batch.acks.append(token)
        self._count_validity(valid)
        if len(self._batch) >= self.settings.batch_max_rows:
            await self._rotate()

    def _ingest(self, role: str, topic: str, partition: int, key: bytes | None,
                value: bytes | None) -> None:
        event, sanitized = decode_event(role, value, key, partition, self.settings.partitions)
        for name in sanitized:
            self.metrics.sanitized_fields.labels(name).inc()
        if isinstance(event, FeedbackEvent):
            event, found = self.redactor.feedback(event)
            self._count_pii(found)
            self._batch.feedback.append(event)
        else:
            event, found = self.redactor.event(event)
            self._fold(event, topic, found)

    def _dead(self, topic: str, partition: int, offset: int, key: bytes | None,
              value: bytes | None, reason: str, detail: str) -> None:
        self._batch.dead.append(DeadLetter(topic, partition, offset, key, value, reason, detail))

    def _fold(self, event: Any, topic: str, found: Counts) -> None:
        """Join a cleaned half or whole call; ``found`` is what its cleaning found."""
        result = join.on_event(self.table, event, self.clock(), self.in_flight)
        if result.duplicate:
            self.metrics.duplicates.labels(topic).inc()
            return
        self._count_pii(found)
        rid = event.request_id
        if result.record is not None:
            mode = "full"
            if result.late:
                mode = "response" if isinstance(event, ResponseEvent) else "none"
            self._add(result.record, mode, found + self._pii_pending.pop(rid, Counts()))
        elif found:  # a half waiting for its other half: its count waits with it
            self._pii_pending[rid] = self._pii_pending.get(rid, Counts()) + found
            while len(self._pii_pending) > MAX_PENDING_PII:
                del self._pii_pending[next(iter(self._pii_pending))]

    def _add(self, record: InferenceRecord, mode: str, found: Counts | None = None) -> None:
        self.in_flight[record.request_id] = join.halves_of(record)
        if found:
            self._batch.pii[record.request_id] = total(found)
        self._batch.calls.append((StoredCall(record, self.cost.cost(record)), mode))

    def _count_pii(self, found: Counts) -> None:
        for (where, kind), n in found.items():
            self.metrics.pii_findings.labels(where, kind).inc(n)

    def _count_validity(self, valid: bool) -> None:
        limit = self.settings.dlq_max_ratio
        if limit >= 1.0:
            return
        if len(self._recent) == self._recent.maxlen and not self._recent[0]:
            self._recent_invalid -= 1  # the oldest falls out of the window
        self._recent.append(valid)
        self._recent_invalid += not valid
        if len(self._recent) == self._recent.maxlen:
            ratio = self._recent_invalid / len(self._recent)
            if ratio > limit:
                raise DeadLetterRatioExceeded(
                    f"{ratio:.0%} of the last {len(self._recent)} events were invalid "
                    f"(LLMPULSE_DLQ_MAX_RATIO={limit}); see the dead-letter topic")

    def sweep(self, owned_partitions: set[int] | None = None, *,
              keeping_up: bool = True) -> None:
        """Record timed-out halves; forget done markers past the dedup horizon.

        Only entries of ``owned_partitions`` (None: all) are touched.  Skipped while
        the store refuses writes, and no half times out while the worker is not
        ``keeping_up`` with its input (far behind the end of a partition: after a
        store outage, a restart or an overload): the other halves are then waiting
        in Kafka, not missing, and would be read moments after a timeout that
        filed their calls as request_only or response_only.
        """
        if owned_partitions != self._owned:
            self._hold(owned_partitions)
        if self._store_failing or self._closed:
            return
        s = self.settings

        def owns(rid: str) -> bool:
            return owned_partitions is None or partition_of(rid, s.partitions) in owned_partitions

        now = self.clock()
        full = now - self._last_full_sweep >= max(FULL_SWEEP_S, s.join_timeout_s)
        if full:
            self._last_full_sweep = now
        expired = join.sweep(self.table, now, s.join_timeout_s, s.dedup_horizon_s,
                             self.in_flight, owns, full=full, expire_halves=keeping_up)
        for record in expired.records:
            self.metrics.join_timeouts.labels(record.join_status).inc()
            self._add(record, "full", self._pii_pending.pop(record.request_id, None))
        for rid in expired.forget:
            del self.table[rid]
        self.metrics.pending_joins.set(join.pending_count(self.table))

    def _hold(self, owned: set[int] | None) -> None:
        """Partitions held now: waiting feedback of the others is theirs to window (their
        new worker loads it from the store), and a partition held again is loaded again."""
        self._owned = owned
        if owned is None:
            return
        self._recovered &= owned
        self._recovered_all = False
        parts = self.settings.partitions
        for fid, (event, _) in list(self._unjoined.items()):
            if partition_of(event.request_id, parts) not in owned:
                del self._unjoined[fid]

    def release(self, partitions: set[int]) -> None:
        """Partitions revoked (after a flush): forget their waiting feedback."""
        held = self._owned if self._owned is not None else set(range(self.settings.partitions))
        self._hold(held - partitions)

    def close(self) -> None:
        """Take no more messages (a drain: what is buffered is written by the final
        :meth:`flush`; what arrives later is redelivered at the next start)."""
        self._closed = True
        self._closing.set()

    def unacknowledged(self) -> str:
        """What is not acknowledged yet: the batch being written and the buffered one."""
        parts = []
        writing = self.in_write
        if writing is not None:
            parts.append(writing.describe(self.clock()))
        if self._batch.acks:
            parts.append(f"{len(self._batch.acks)} buffered message(s) not written yet")
        return "; ".join(parts) or "nothing"

    def abort(self) -> str:
        """Stop the write in flight (its messages stay unacknowledged: redelivered at the
        next start) and say what is left unacknowledged."""
        what = self.unacknowledged()
        if self._write_task is not None and not self._write_task.done():
            self._write_task.cancel()
        return what

    async def flush(self) -> None:
        """Write everything buffered so far and wait until it is acknowledged."""
        await self._rotate()
        await self._wait_for_write()

    async def _wait_for_write(self) -> None:
        """Wait for the write in flight, which stays :attr:`_writing` until it is done:
        whoever waits next (another flush, a full batch, the final flush of a drain)
        waits for it too, and a waiter that is cancelled does not cancel it."""
        writing = self._writing
        if writing is None:
            return
        try:
            await asyncio.shield(writing)  # a failed write raises here, then the next runs
        finally:
            if writing.done() and self._writing is writing:
                self._writing = None

    async def _rotate(self) -> None:
        """Hand the current batch to the writer; at most one batch is written at a time.

        The stream keeps filling the next batch while the previous one is written;
        a full batch waits for the write in flight (backpressure).
        """
        async with self._lock:
            await self._wait_for_write()
            batch, self._batch = self._batch, Batch()
            if batch.acks or batch.calls:
                self._writing = self._write_task = asyncio.ensure_future(
                    self._write_batch(batch))

    async def _write_batch(self, batch: Batch) -> None:
        """Write one batch (see :meth:`_write_steps`), kept in :attr:`in_write` meanwhile."""
        self.in_write = BatchState(len(batch.acks), self.clock(), "starting")
        try:
            await self._write_steps(batch)
        finally:
            self.in_write = None

    def _at(self, step: str) -> None:
        if self.in_write is not None:
            self.in_write = self.in_write.at(step)

    async def _write_steps(self, batch: Batch) -> None:
        """Write one batch; each step is retried until it succeeds, in this order:

        dead letters; stored rows; scoring tasks, signals and evaluations (at least
        once: a crash before the acknowledgement sends them again); the join table's
        done marks (:mod:`llmpulse.join` says why this order keeps the join exact);
        the partial windows (after the done marks: a replay never counts a call
        twice in the rule windows); then the acknowledgements.  A step that fails is
        never skipped: the stream waits behind it and Kafka keeps the data.
        """
        if batch.dead:
            self._at("dead letters")
            await self._until_sent("dead letters", lambda: self.outbox.dead_letters(batch.dead))
            for letter in batch.dead:
                self.metrics.dlq.labels(letter.topic, letter.reason).inc()
        every = [call for call, _ in batch.calls]
        self._at("store lookups")
        stored = await self._retrying(lambda: self.store.stored_ranks(
            [call.record.request_id for call in every]))
        batch.calls = [(call, mode) for call, mode in batch.calls
                       if RANK[call.record.join_status] > stored.get(call.record.request_id, 0)]
        if len(batch.calls) < len(every):  # replays the join table no longer knew of
            self.metrics.duplicates.labels("stored").inc(len(every) - len(batch.calls))
        calls = [call for call, _ in batch.calls]
        signals = self._detect([c.record for c in calls]) + pii_signals(calls, batch.pii)
        # Partial window aggregates go out while the batch is written: alerts wait for
        # neither.  Only first recordings count (a late half's upgrade was counted).
        injection = {s.request_id: s.value for s in signals if s.name == INJECTION_SIGNAL}
        partials = fold(self._windowed(batch), self.groupings, self.settings.window_pane_s,
                        now=self.clock(), injection=injection)
        folded = self._first_scores(batch.scores)
        merge_partials(partials, fold_quality(folded, self.groupings,
                                              self.settings.window_pane_s))
        fresh, joined, settled = await self._join_feedback(batch)
        merge_partials(partials, fold_feedback(joined, self.groupings,
                                               self.settings.window_pane_s))
        quality = [s for r in batch.scores for s in result_signals(r)]
        tasks = self._sample(batch) + await self._feedback_tasks(batch, [f for f, _ in joined])
        waiting = set(self._unjoined)  # stored as such: a restarted worker takes them up
        self._at("store rows, scoring tasks")
        await asyncio.gather(
            self._retrying(lambda: self._write(calls, signals, [*batch.feedback, *settled],
                                               batch.scores, quality, waiting)),
            self._until_sent("scoring tasks", lambda: self.outbox.scoring(tasks)))
        self._count_old(calls)
        self._at("signals")
        await self._until_sent("signals", lambda: self.outbox.signals(calls, signals))
        self._at("evaluations")
        await self._until_sent("evaluations", lambda: self.outbox.evaluations(batch.scores))
        now = self.clock()
        for call in every:
            self.table[call.record.request_id] = join.done_marker(call.record, now)
        self._at("join table")
        await self._until_sent("join table", self.table.persist)
        self._at("partial windows")
        await self._until_sent("partial windows", lambda: self.outbox.windows(partials))
        for call in every:
            rid = call.record.request_id
            if self.in_flight.get(rid) == join.halves_of(call.record):
                del self.in_flight[rid]  # a late upgrade still in flight stays
        self._observe(batch, folded, fresh)
        self._at("acknowledgements")
        for token in batch.acks:
            await self._ack(token)

    def _count_old(self, calls: Sequence[StoredCall]) -> None:
        """Count (and now and then log) the stored calls whose texts the store dropped:
        dated past the message bodies' TTL (LLMPULSE_RETENTION_MESSAGES_DAYS; 0: none)."""
        days = self.settings.retention_messages_days
        if not days:
            return
        now = self.clock()
        horizon = datetime.fromtimestamp(now - days * 86_400.0, UTC)
        stamp = datetime.fromtimestamp(now, UTC)
        old = sum(1 for c in calls if c.has_bodies() and c.call_time(stamp) < horizon)
        if old:
            self.metrics.old_calls.labels("past_body_ttl").inc(old)
            self._old_calls_unlogged += old
        if self._old_calls_unlogged and now - self._old_calls_logged_at >= OLD_CALLS_LOG_S:
            log.warning("%d call(s) stored without their message bodies: dated more than %d "
                        "days back, past the bodies' TTL (llmpulse_late_calls_total"
                        "{reason=\"past_body_ttl\"})", self._old_calls_unlogged, days)
            self._old_calls_unlogged = 0
            self._old_calls_logged_at = now

    def _windowed(self, batch: Batch) -> list[tuple[InferenceRecord, float | None]]:
        """First recordings (a late half's upgrade was counted already), without calls
        dated in the future (a producer's clock far ahead would hold every window open)."""
        limit = self.clock() + MAX_AHEAD_S
        out = []
        ahead = 0
        for call, mode in batch.calls:
            if mode != "full":
                continue
            when = call.record.event_time
            if when is not None and when.timestamp() > limit:
                ahead += 1
                continue
            out.append((call.record, call.cost.usd))
        if ahead:
            self.metrics.late_calls.labels("future").inc(ahead)
        return out

    async def _join_feedback(self, batch: Batch) -> tuple[
            list[FeedbackEvent], list[tuple[FeedbackEvent, CallRef]], list[FeedbackEvent]]:
        """First deliveries of this batch's feedback, the feedback joined to its call now
        (from this batch or from storage, up to the feedback horizon), and the feedback of
        earlier batches that stopped waiting now (joined, or given up on).

        Feedback whose call is not stored yet (its call still in the join table, or on a
        topic further behind after a restart) waits up to ``FEEDBACK_WAIT_S`` and is tried
        again with later batches before it counts as ``unknown_request``.
        """
        fresh: dict[str, FeedbackEvent] = {}
        if batch.feedback:
            stored = await self._retrying(lambda: self.store.stored_feedback(
                [f.feedback_id for f in batch.feedback]))
            for event in batch.feedback:
                if event.feedback_id in stored or event.feedback_id in fresh:
                    self.metrics.duplicates.labels("feedback").inc()
                else:
                    fresh[event.feedback_id] = event
        now = self.clock()
        await self._recover_waiting(now)
        waiting = []
        if self._unjoined and now >= self._retry_unjoined_at:
            self._retry_unjoined_at = now + FEEDBACK_RETRY_S
            waiting = [event for event, _ in self._unjoined.values()]
        candidates = [*fresh.values(), *waiting]
        if not candidates:
            return [], [], []
        calls = {c.record.request_id: call_ref(c.record) for c, _ in batch.calls}
        missing = sorted({f.request_id for f in candidates} - set(calls))
        if missing:
            rows = await self._retrying(lambda: self.store.call_refs(missing))
            calls.update((str(row[0]), CallRef(*row)) for row in rows)
        joined = []
        for event in candidates:
            call = calls.get(event.request_id)
            reason = self._unjoinable(event, call, now)
            if reason is None and call is not None:
                self._unjoined.pop(event.feedback_id, None)
                joined.append((event, call))
            elif reason == "unknown_request" and self._wait_for_call(event, now):
                continue
            elif reason is not None:
                self._unjoined.pop(event.feedback_id, None)
                self.metrics.feedback_unjoined.labels(reason).inc()
        settled = [e for e in waiting if e.feedback_id not in self._unjoined]
        return list(fresh.values()), joined, settled

    async def _recover_waiting(self, now: float) -> None:
        """Load the stored feedback still waiting for its call, of the partitions held
        since the last time (a restart, a rebalance): it waits ``FEEDBACK_WAIT_S`` more."""
        if self._owned is None:
            if self._recovered_all:
                return
            wanted: set[int] | None = None
        else:
            wanted = self._owned - self._recovered
            if not wanted:
                return
        stored = await self._retrying(lambda: self.store.waiting_feedback(MAX_UNJOINED))
        parts = self.settings.partitions
        for event in stored:
            if wanted is not None and partition_of(event.request_id, parts) not in wanted:
                continue
            if event.feedback_id not in self._unjoined and len(self._unjoined) < MAX_UNJOINED:
                self._unjoined[event.feedback_id] = (event, now + FEEDBACK_WAIT_S)
                self._retry_unjoined_at = float("-inf")
        if wanted is None:
            self._recovered_all = True
        else:
            self._recovered |= wanted

    def _unjoinable(self, event: FeedbackEvent, call: CallRef | None, now: float
                    ) -> str | None:
        if event.time.timestamp() > now + MAX_AHEAD_S:
            return "future"  # its pane would hold every window open
        if call is None:
            return "unknown_request"
        if event.time.timestamp() - call.call_time > self.settings.feedback_horizon_s:
            return "too_late"
        return None

    def _wait_for_call(self, event: FeedbackEvent, now: float) -> bool:
        """Keep waiting for the call of ``event``; False once its wait is over."""
        entry = self._unjoined.get(event.feedback_id)
        if entry is None:
            if len(self._unjoined) >= MAX_UNJOINED:
                return False
            self._unjoined[event.feedback_id] = (event, now + FEEDBACK_WAIT_S)
            return True
        return now < entry[1]

    def _first_scores(self, scores: Sequence[ScoreResult]) -> list[ScoreResult]:
        """The results that count in the windows and Prometheus: unbiased samples
        (``sampled``, ``new_version``; flagged and feedback tasks would skew the rates),
        each call once (a redelivered result is marked in the call's done marker), and
        none dated in the future."""
        limit = self.clock() + MAX_AHEAD_S
        out: list[ScoreResult] = []
        seen: set[str] = set()
        for result in scores:
            if result.reason not in WINDOWED_REASONS:
                continue
            rid = result.call.request_id
            entry = self.table.get(rid)
            if rid in seen or (entry is not None and entry.get("q")):
                self.metrics.duplicates.labels("scores").inc()
                continue
            seen.add(rid)
            if result.call.call_time > limit:
                self.metrics.late_calls.labels("future").inc()
                continue
            out.append(result)
            if entry is not None and entry.get("k") == "d":
                self.table[rid] = {**entry, "q": 1}  # persisted with this batch's marks
        return out

    def _detect(self, records: list[InferenceRecord]) -> list[Signal]:
        now = datetime.fromtimestamp(self.clock(), UTC)
        signals: list[Signal] = []
        for detector in self.detectors.values():
            signals.extend(detector(records, now))
        return signals

    async def _until_sent(self, what: str, send: Callable[[], Awaitable[None]]) -> None:
        """Await ``send`` until it succeeds (the broker is down or refusing: hold, retry)."""
        delay = 0.2
        while True:
            try:
                await send()
                self._step_ok()
                return
            except Exception as exc:
                self._step_failed(f"publishing {what}: {type(exc).__name__}: {exc}")
                self.metrics.sink_failures.labels("kafka").inc()
                log.warning("could not publish %s (%s); retrying in %.1fs", what, exc,
                            self._delay(delay))
                await self._backoff(delay)
                delay = min(delay * 2, 10.0)

    async def _retrying(self, work: Callable[[], T]) -> T:
        """Run store work in a thread; on failure retry with backoff until it succeeds."""
        delay = 0.2
        while True:
            try:
                result = await asyncio.to_thread(work)
                self._store_failing = False
                self.store_trouble = None
                self._step_ok()
                return result
            except Exception as exc:  # the store is down or refusing: hold, retry
                self._store_failing = True
                error = _short(exc)
                self.store_trouble = (Trouble(self.clock(), 1, error)
                                      if self.store_trouble is None
                                      else self.store_trouble.again(error))
                self._step_failed(f"store: {error}")
                self.metrics.sink_failures.labels("clickhouse").inc()
                log.warning("ClickHouse write failed (%s); retrying in %.1fs", exc,
                            self._delay(delay))
                await self._backoff(delay)
                delay = min(delay * 2, 30.0)

    def _delay(self, delay: float) -> float:
        return min(delay, DRAIN_RETRY_S) if self._closed else delay

    async def _backoff(self, delay: float) -> None:
        """Wait before the next attempt; once closed (a drain, with little time left) at
        most :data:`DRAIN_RETRY_S`, and a wait in progress when it closes ends then."""
        if self._closed:
            await asyncio.sleep(self._delay(delay))
            return
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait({closing}, timeout=delay)
        finally:
            closing.cancel()

    def _step_failed(self, error: str) -> None:
        if self.in_write is not None:
            self.in_write = self.in_write.failed(error, self.clock())

    def _step_ok(self) -> None:
        if self.in_write is not None:
            self.in_write = self.in_write.recovered()

    def _sample(self, batch: Batch) -> list[ScoringTask]:
        """Scoring tasks for the calls the sampler picks (first recordings with text)."""
        now = self.clock()
        limit = now + MAX_AHEAD_S
        tasks = []
        for call, mode in batch.calls:
            if mode == "none":
                continue
            when = call.record.event_time
            if when is not None and when.timestamp() > limit:
                self.metrics.scoring_skipped.labels("future").inc()
                continue
            reason, skipped = self.sampler.decide(call.record, now)
            if reason is None:
                self.metrics.scoring_skipped.labels(skipped).inc()
            else:
                self.metrics.scoring_sent.labels(reason).inc()
                tasks.append(ScoringTask.of(call.record, reason, now))
        return tasks

    async def _feedback_tasks(self, batch: Batch, feedback: Sequence[FeedbackEvent]
                              ) -> list[ScoringTask]:
        """Calls with negative feedback (first deliveries, joined to their call) are always
        scored: their stored texts are read back."""
        wanted = {f.request_id for f in feedback if is_negative(f)}
        if not wanted:
            return []
        now = self.clock()
        here = {c.record.request_id: c.record for c, _ in batch.calls}
        tasks = [ScoringTask.of(here[rid], "feedback", now) for rid in wanted if rid in here]
        missing = sorted(wanted - set(here))
        if missing:
            rows = await self._retrying(lambda: self.store.scoring_rows(missing))
            tasks += [task_from_row(row, now) for row in rows]
        unknown = len(wanted) - len(tasks)
        if unknown:
            self.metrics.scoring_skipped.labels("unknown_request").inc(unknown)
        with_text = [t for t in tasks if t.response]
        if len(with_text) < len(tasks):
            self.metrics.scoring_skipped.labels("no_text").inc(len(tasks) - len(with_text))
        for _ in with_text:
            self.sampler.mandatory(now)
        self.metrics.scoring_sent.labels("feedback").inc(len(with_text))
        return with_text

    def _write(self, calls: list[StoredCall], signals: list[Signal],
               feedback: list[FeedbackEvent], scores: Sequence[ScoreResult] = (),
               quality: Sequence[Signal] = (), waiting: Collection[str] = ()) -> None:
        """Insert one batch (idempotent: a repeat replaces itself in storage).

        The calls go last: a stored call row (what :meth:`ClickHouseStore.stored_ranks`
        finds on a replay) means its signals are stored too.
        """
        now = datetime.fromtimestamp(self.clock(), UTC)
        erased = self.store.erased_calls(calls, now)
        if erased:  # a call of an erased user or tenant: none of its rows is written
            signals = [s for s in signals if s.request_id not in erased]
            quality = [s for s in quality if s.request_id not in erased]
            feedback = [f for f in feedback if f.request_id not in erased]
        versions = {call.record.request_id: call.version(now) for call in calls}
        self._timed("signals", lambda: self.store.insert_signals(signals, versions, now))
        self._timed("feedback", lambda: self.store.insert_feedback(feedback, now, waiting))
        if quality:
            scored = {r.call.request_id: int(r.scored_at * 1000) for r in scores}
            self._timed("signals", lambda: self.store.insert_signals(list(quality), scored,
                                                                     now))
        self._timed("inference_events", lambda: self.store.insert_calls(calls, now))

    def _timed(self, table: str, write: Callable[[], int]) -> None:
        started = time.perf_counter()
        rows = write()
        if rows:
            self.metrics.sink_batch.labels("clickhouse", table).observe(
                time.perf_counter() - started)
            self.metrics.sink_rows.labels("clickhouse", table).inc(rows)

    def _observe(self, batch: Batch, quality: Sequence[ScoreResult],
                 feedback: Sequence[FeedbackEvent]) -> None:
        observe_calls(self.metrics, batch.calls)
        for event in feedback:
            observe_feedback(self.metrics, event)
        for result in quality:
            observe_quality(self.metrics, result)


def _short(exc: BaseException) -> str:
    """``Type: first line`` of an error (store errors carry whole queries)."""
    text = str(exc).strip()
    first = text.splitlines()[0][:300] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
