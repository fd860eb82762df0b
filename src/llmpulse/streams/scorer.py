"""Faust wiring of the quality scorer: its own app and consumer group on ``llm.scoring``.

Scorer workers hold no state and no store: they read tasks in micro-batches,
shed sampled tasks that waited longer than ``LLMPULSE_SCORE_MAX_AGE_S`` (the
backlog stays bounded in time whatever the load; mandatory tasks are always
scored), run the models in a thread, and publish the results to ``llm.scores``
keyed by request_id, where the worker that owns the call stores them and folds
them into its windows.

Acks are manual: the tasks of a batch are acknowledged only after its results were
delivered (delivery is retried with backoff until it succeeds), so a crash, a
failed delivery or a shutdown re-scores, never loses (storage replaces the repeat).
A task the models fail on is retried on its own and then counted as failed and
acknowledged: one bad task neither loses its batch nor stops the scorer.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import faust
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type
from tenacity.wait import wait_base, wait_exponential, wait_random

from llmpulse.config import Settings
from llmpulse.drills import SLOW_SCORE_S, active
from llmpulse.errors import InvalidEvent
from llmpulse.health import BatchState, ProcessHealth
from llmpulse.kafka_security import faust_credentials, librdkafka_security
from llmpulse.lifecycle import Drain
from llmpulse.metric_zeros import zero_scorer_series
from llmpulse.metrics import Metrics
from llmpulse.scoring.scorer import QualityScorer
from llmpulse.scoring.tasks import ScoreResult, ScoringTask
from llmpulse.sinks.kafka import BurstProducer, OutMessage
from llmpulse.streams.fetch import use_short_fetch_wait
from llmpulse.streams.lifecycle import follow_membership, watch_progress
from llmpulse.streams.metadata_backoff import use_metadata_backoff

log = logging.getLogger(__name__)
#: Longest a task waits for its micro-batch to fill.
BATCH_WAIT_S = 0.2
#: Backoff between attempts to deliver a batch's results: 0.5 s doubling to 30 s, jittered.
DELIVERY_BACKOFF: wait_base = wait_exponential(multiplier=0.5, max=30) + wait_random(0, 0.5)

E = TypeVar("E")
Publish = Callable[[Sequence[OutMessage]], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]


class ManualAckStream(Protocol):
    """What the scorer needs of a Faust stream with manual acks (``stream.noack()``)."""

    def events(self) -> AsyncIterator[Any]: ...

    async def ack(self, event: Any) -> bool: ...


class _Mark(enum.Enum):
    TIMEOUT = "timeout"
    END = "end"


class EventBatches(Generic[E]):
    """Micro-batches of an event iterator: up to ``size`` events, or those that arrived
    within ``wait_s`` of the batch's first event.  Nothing is acknowledged here.

    A read that is still waiting when a batch times out is kept for the next batch, not
    cancelled (cancelling would end the iterator); :meth:`aclose` cancels it."""

    def __init__(self, events: AsyncIterator[E], size: int, wait_s: float) -> None:
        if size < 1:
            raise ValueError(f"batch size must be at least 1, not {size}")
        self._events = events
        self._size = size
        self._wait_s = wait_s
        self._pending: asyncio.Future[E | _Mark] | None = None
        self._ended = False

    def __aiter__(self) -> EventBatches[E]:
        return self

    async def __anext__(self) -> list[E]:
        first = _Mark.END if self._ended else await self._read(None)
        if isinstance(first, _Mark):
            raise StopAsyncIteration
        batch = [first]
        deadline = asyncio.get_running_loop().time() + self._wait_s
        while len(batch) < self._size:
            remaining = deadline - asyncio.get_running_loop().time()
            event = await self._read(remaining) if remaining > 0 else _Mark.TIMEOUT
            if event is _Mark.END:
                self._ended = True
            if isinstance(event, _Mark):
                break
            batch.append(event)
        return batch

    async def _read(self, timeout: float | None) -> E | _Mark:
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._next())
        done, _ = await asyncio.wait({self._pending}, timeout=timeout)
        if not done:
            return _Mark.TIMEOUT
        read, self._pending = self._pending, None
        return read.result()

    async def _next(self) -> E | _Mark:
        try:
            return await anext(self._events)
        except StopAsyncIteration:
            return _Mark.END

    async def aclose(self) -> None:
        """Stop a read in flight (an event it gets is never acknowledged: redelivered)."""
        pending, self._pending = self._pending, None
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending


@dataclass
class ScoringStage:
    """Scores a batch of task events, delivers the results, then acknowledges the events."""

    settings: Settings
    metrics: Metrics
    scorer: QualityScorer
    publish: Publish
    backoff: wait_base = field(default_factory=lambda: DELIVERY_BACKOFF)
    sleep: Sleep = asyncio.sleep
    #: the batch being scored and delivered (for /readyz), None between batches
    in_flight: BatchState | None = None
    #: per partition, the offset of the last task read (for /readyz)
    last_offsets: dict[Any, int] = field(default_factory=dict)
    draining: bool = False
    _idle: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    def __post_init__(self) -> None:
        self._idle.set()  # no batch in flight

    async def run(self, stream: ManualAckStream) -> None:
        """Consume the stream in micro-batches until it ends or the agent is cancelled;
        events not yet acknowledged then are redelivered to the next scorer.  Once
        draining, no new batch is started."""
        batches = EventBatches(stream.events(), self.settings.score_batch_size, BATCH_WAIT_S)
        try:
            async for events in batches:
                if self.draining:  # left unacknowledged: redelivered at the next start
                    await asyncio.Event().wait()  # until the agent is cancelled
                self._idle.clear()
                try:
                    await self.handle(stream, events)
                finally:
                    self._idle.set()
        finally:
            await batches.aclose()

    async def drained(self) -> None:
        """Stop taking batches; return once the batch in flight (if any) is handled."""
        self.draining = True
        await self._idle.wait()

    async def handle(self, stream: ManualAckStream, events: Sequence[Any]) -> None:
        for event in events:
            tp = getattr(event.message, "tp", None)
            if tp is not None:
                self.last_offsets[tp] = event.message.offset
        self.in_flight = BatchState(len(events), time.time(), "scoring")
        try:
            results = await score_batch([e.message.value for e in events], self.settings,
                                        self.metrics, self.scorer)
            self.in_flight = self.in_flight.at("delivering results")
            await self.deliver(results)
            self.in_flight = self.in_flight.at("acknowledgements")
            for event in events:  # scored, shed, invalid or failed: all handled now
                await stream.ack(event)
        finally:
            self.in_flight = None

    async def deliver(self, results: Sequence[ScoreResult]) -> None:
        """Publish the results, retrying with backoff until the broker has all of them."""
        topic = self.settings.topic("scores")
        messages = [OutMessage(topic, r.call.request_id.encode(), r.encode()) for r in results]
        if not messages:
            return
        retrying = AsyncRetrying(wait=self.backoff, retry=retry_if_exception_type(Exception),
                                 before_sleep=self._retry, sleep=self.sleep, reraise=True)
        async for attempt in retrying:
            with attempt:
                await self.publish(messages)
        if self.in_flight is not None:
            self.in_flight = self.in_flight.recovered()

    def _retry(self, state: RetryCallState) -> None:
        _log_retry(state)
        error = state.outcome.exception() if state.outcome is not None else None
        if self.in_flight is not None:
            self.in_flight = self.in_flight.failed(
                f"publishing scores: {type(error).__name__}: {error}", time.time())


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    delay = state.next_action.sleep if state.next_action is not None else 0.0
    log.warning("publishing scores failed (attempt %d: %s); retrying in %.1fs",
                state.attempt_number, error, delay)


@dataclass
class ScorerWorker:
    app: faust.App
    scorer: QualityScorer
    producer: BurstProducer
    stage: ScoringStage
    health: ProcessHealth
    drain: Drain


#: How often the scorer looks at its read progress (for /readyz).
PROGRESS_EVERY_S = 5.0


def build_scorer_app(settings: Settings, metrics: Metrics, scorer: QualityScorer,
                     health: ProcessHealth | None = None, drain: Drain | None = None
                     ) -> ScorerWorker:
    """The scorer's app; ``health`` and ``drain`` are the runner's, or made here."""
    assert settings.broker is not None
    tasks_topic = settings.topic("scoring")
    if health is None:
        health = ProcessHealth("scorer", stall_s=settings.live_stall_s,
                               stuck_s=settings.ready_stuck_s, input_topics=[tasks_topic])
    if drain is None:
        drain = Drain("scorer", settings.drain_timeout_s)
    zero_scorer_series(metrics)
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    app = faust.App(
        f"{settings.app_id}-scorer",
        broker=f"kafka://{settings.broker}",
        store="memory://",
        datadir=str(settings.data_dir / "faust" / "{conf.name}"),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout_s,
        broker_rebalance_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=max(0.5, settings.session_timeout_s / 10),
        # Faust refuses a session timeout above its request timeout (90 s by default)
        broker_request_timeout=max(90.0, settings.session_timeout_s + 30),
        consumer_group_instance_id=settings.instance_id_for("scorer"),  # static membership
        broker_credentials=faust_credentials(settings),  # TLS/SASL
        stream_wait_empty=False,
    )
    use_short_fetch_wait(app)
    use_metadata_backoff(app)
    producer = BurstProducer(settings.broker, max_message_bytes=4 * 1024 * 1024,
                             security=librdkafka_security(settings))
    stage = ScoringStage(settings, metrics, scorer, producer.send_all)
    health.batch = lambda: stage.in_flight
    follow_membership(app, health)
    topic = app.topic(tasks_topic, key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw", internal=False)

    async def score(stream: Any) -> None:
        await stage.run(stream.noack())

    app.agent(topic, name="score")(score)

    @app.timer(interval=PROGRESS_EVERY_S)  # type: ignore[untyped-decorator]
    async def progress_timer() -> None:
        await watch_progress(app, [tasks_topic], stage.last_offsets, health.progress)

    async def forget_revoked(sender: Any, revoked: Any, **_: Any) -> None:
        for tp in revoked:
            stage.last_offsets.pop(tp, None)

    async def close(sender: Any, **_: Any) -> None:
        """The drain: finish the batch in flight (scored, delivered, acknowledged) within
        the drain's bound, then deliver what the producer holds."""
        drain.at("finishing the batch in flight")
        budget = drain.batch_budget()
        try:
            await asyncio.wait_for(stage.drained(), timeout=budget)
        except TimeoutError:  # unacknowledged: scored again at the next start
            batch = stage.in_flight
            drain.abandon(batch.describe(time.time()) if batch is not None
                          else "the batch in flight")
        drain.at("closing the producer")
        await asyncio.to_thread(producer.close, max(1.0, drain.remaining() / 2))
        drain.at("committing offsets, leaving the group and stopping")

    app.on_partitions_revoked.connect(forget_revoked)  # type: ignore[arg-type]
    app.on_before_shutdown.connect(close)  # type: ignore[arg-type]
    return ScorerWorker(app, scorer, producer, stage, health, drain)


async def score_batch(values: Sequence[bytes | None], settings: Settings, metrics: Metrics,
                      scorer: QualityScorer) -> list[ScoreResult]:
    """Decode, shed what is too old, score the rest off the event loop."""
    now = time.time()
    tasks = _decode(values, metrics)
    if tasks:
        metrics.scorer_task_age.set(max(0.0, now - min(t.enqueued_at for t in tasks)))
    keep = _shed(tasks, now, settings.score_max_age_s, metrics)
    if not keep:
        return []
    results = await score_tasks(keep, now, scorer, metrics)
    if settings.drills and active(settings.drill_list, "scorer_slow", time.time()):
        await asyncio.sleep(SLOW_SCORE_S * len(keep))
    metrics.scorer_tasks.labels("scored").inc(len(results))
    return results


def _decode(values: Sequence[bytes | None], metrics: Metrics) -> list[ScoringTask]:
    tasks: list[ScoringTask] = []
    for value in values:
        try:
            tasks.append(ScoringTask.decode(value))
        except InvalidEvent as bad:
            log.warning("dropping a malformed scoring task: %s", bad)
            metrics.scorer_tasks.labels("invalid").inc()
    return tasks


def _shed(tasks: Sequence[ScoringTask], now: float, max_age_s: float,
          metrics: Metrics) -> list[ScoringTask]:
    """The tasks to score: sampled ones older than ``max_age_s`` are shed (counted);
    mandatory ones (feedback, flagged, new_version) never are."""
    keep = [t for t in tasks if t.mandatory or now - t.enqueued_at <= max_age_s]
    if len(keep) < len(tasks):
        metrics.scorer_tasks.labels("shed").inc(len(tasks) - len(keep))
    return keep


async def score_tasks(tasks: Sequence[ScoringTask], now: float, scorer: QualityScorer,
                      metrics: Metrics) -> list[ScoreResult]:
    """Results of the tasks the models could score: the batch at once, or when that fails
    (a model failing on some input) each task on its own; a task that fails alone too is
    counted as failed and left out."""

    def timed(detector: str, seconds: float) -> None:
        metrics.scorer_batch.labels(detector).observe(seconds)

    try:
        return await asyncio.to_thread(scorer.score, tasks, now, timed)
    except Exception:
        if len(tasks) == 1:
            return _failed(tasks[0], metrics)
        log.warning("scoring a batch of %d tasks failed; scoring them one by one",
                    len(tasks), exc_info=True)
    results: list[ScoreResult] = []
    for task in tasks:
        try:
            results += await asyncio.to_thread(scorer.score, [task], now, timed)
        except Exception:
            results += _failed(task, metrics)
    return results


def _failed(task: ScoringTask, metrics: Metrics) -> list[ScoreResult]:
    log.exception("cannot score the %s task of request %s; counted as failed",
                  task.reason, task.call.request_id)
    metrics.scorer_tasks.labels("failed").inc()
    return []
