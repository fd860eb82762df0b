"""Faust wiring of the quality scorer: its own app and consumer group on ``llm.scoring``.

Scorer workers hold no state and no store: they read tasks in micro-batches,
shed sampled tasks that waited longer than ``LLMPULSE_SCORE_MAX_AGE_S`` (the
backlog stays bounded in time whatever the load; mandatory tasks are always
scored), run the models in a thread, and publish the results to ``llm.scores``
keyed by request_id, where the worker that owns the call stores them and folds
them into its windows.  A batch is acknowledged only after its results are
delivered, so a crash re-scores, never loses (storage replaces the repeat).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import faust

from llmpulse.config import Settings
from llmpulse.errors import InvalidEvent
from llmpulse.metrics import Metrics
from llmpulse.scoring.scorer import QualityScorer
from llmpulse.scoring.tasks import ScoreResult, ScoringTask
from llmpulse.sinks.kafka import BurstProducer, OutMessage
from llmpulse.streams.fetch import use_short_fetch_wait

log = logging.getLogger(__name__)
#: Longest a task waits for its micro-batch to fill.
BATCH_WAIT_S = 0.2


@dataclass
class ScorerWorker:
    app: faust.App
    scorer: QualityScorer
    producer: BurstProducer


def build_scorer_app(settings: Settings, metrics: Metrics, scorer: QualityScorer
                     ) -> ScorerWorker:
    assert settings.broker is not None
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
        stream_wait_empty=False,
    )
    use_short_fetch_wait(app)
    producer = BurstProducer(settings.broker, max_message_bytes=4 * 1024 * 1024)
    worker = ScorerWorker(app, scorer, producer)
    topic = app.topic(settings.topic("scoring"), key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw", internal=False)
    results_topic = settings.topic("scores")

    async def score(stream: Any) -> None:
        async for events in stream.take_events(settings.score_batch_size, within=BATCH_WAIT_S):
            results = await score_batch([e.message.value for e in events], settings, metrics,
                                        scorer)
            await producer.send_all([
                OutMessage(results_topic, r.call.request_id.encode(), r.encode())
                for r in results])
            # take_events acknowledges the batch once this body returns

    app.agent(topic, name="score")(score)

    async def close(sender: Any, **_: Any) -> None:
        await asyncio.to_thread(producer.close)

    app.on_before_shutdown.connect(close)  # type: ignore[arg-type]
    return worker


async def score_batch(values: Sequence[bytes | None], settings: Settings, metrics: Metrics,
                      scorer: QualityScorer) -> list[ScoreResult]:
    """Decode, shed what is too old, score the rest off the event loop."""
    now = time.time()
    tasks: list[ScoringTask] = []
    for value in values:
        try:
            tasks.append(ScoringTask.decode(value))
        except InvalidEvent as bad:
            log.warning("dropping a malformed scoring task: %s", bad)
            metrics.scorer_tasks.labels("invalid").inc()
    if tasks:
        metrics.scorer_task_age.set(max(0.0, now - min(t.enqueued_at for t in tasks)))
    keep = [t for t in tasks if t.mandatory or now - t.enqueued_at <= settings.score_max_age_s]
    if len(keep) < len(tasks):
        metrics.scorer_tasks.labels("shed").inc(len(tasks) - len(keep))
    if not keep:
        return []

    def timed(detector: str, seconds: float) -> None:
        metrics.scorer_batch.labels(detector).observe(seconds)

    try:
        results = await asyncio.to_thread(scorer.score, keep, now, timed)
    except Exception:  # a model failing on some input must not stop the scorer
        log.exception("scoring a batch of %d tasks failed", len(keep))
        metrics.scorer_tasks.labels("failed").inc(len(keep))
        return []
    metrics.scorer_tasks.labels("scored").inc(len(results))
    return results
