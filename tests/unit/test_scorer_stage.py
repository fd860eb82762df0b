"""The scorer stage without a broker: micro-batching over a fake manual-ack stream, acks only
after delivery, delivery retries, poison tasks, shedding, per-task evaluations and the judge."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from llmpulse.config import Settings, load_settings
from llmpulse.detectors.groundedness import GroundednessResult
from llmpulse.detectors.toxicity import LexiconToxicityModel
from llmpulse.metrics import Metrics, build_metrics
from llmpulse.scoring.scorer import QualityScorer
from llmpulse.scoring.tasks import (
    CallRef,
    Evaluation,
    ScoreResult,
    ScoringTask,
    wire_evaluation,
)
from llmpulse.simdata import TOXIC_ANSWERS
from llmpulse.sinks.kafka import OutMessage
from llmpulse.streams.scorer import BATCH_WAIT_S, EventBatches, ScoringStage, score_batch

POLITE = "Refunds take five business days. Let me know if you need anything else."
POISON = "this text makes the model fail"


@dataclass
class Message:
    value: bytes | None
    offset: int


@dataclass
class Event:
    message: Message


class FakeStream:
    """``stream.noack()``-like: events as they are put, acks recorded; None ends it."""

    def __init__(self, log: list[str] | None = None) -> None:
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.acked: list[int] = []
        self.log = log if log is not None else []
        self.offset = 0

    def put(self, *values: bytes | None) -> None:
        for value in values:
            self.queue.put_nowait(Event(Message(value, self.offset)))
            self.offset += 1

    def end(self) -> None:
        self.queue.put_nowait(None)

    async def events(self) -> AsyncIterator[Event]:
        while (event := await self.queue.get()) is not None:
            yield event

    async def ack(self, event: Any) -> bool:
        self.acked.append(event.message.offset)
        self.log.append(f"ack {event.message.offset}")
        return True


class FailingLexicon(LexiconToxicityModel):
    """The lexicon, failing on any batch that holds the poison text."""

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if any(POISON in t for t in texts):
            raise RuntimeError("model failure")
        return super().predict(texts)


def task(rid: str, response: str, reason: str = "sampled", age_s: float = 0.0,
         contexts: tuple[str, ...] = ()) -> ScoringTask:
    call = CallRef(rid, 1000.0, "gpt-4o-2024-08-06", "openai", "chat", "acme", "gpt-4o")
    return ScoringTask(call, reason, time.time() - age_s, response, contexts)


def settings(**env: str) -> Settings:
    return load_settings({"LLMPULSE_SCORE_BATCH_SIZE": "3", "LLMPULSE_SCORE_MAX_AGE_S": "20",
                          **env})


def count(metrics: Metrics, outcome: str) -> float:
    value = metrics.registry.get_sample_value("llmpulse_scorer_tasks_total",
                                              {"outcome": outcome})
    return value or 0.0


class Publisher:
    """Fails the first ``failures`` deliveries, then records what was delivered."""

    def __init__(self, log: list[str], failures: int = 0) -> None:
        self.log = log
        self.failures = failures
        self.delivered: list[OutMessage] = []

    async def __call__(self, messages: Sequence[OutMessage]) -> None:
        if self.failures:
            self.failures -= 1
            self.log.append("publish failed")
            raise OSError("broker unavailable")
        self.delivered.extend(messages)
        self.log.append(f"published {len(messages)}")


def stage(publish: Publisher, scorer: QualityScorer | None = None,
          sleeps: list[float] | None = None, **env: str) -> ScoringStage:
    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    return ScoringStage(settings(**env), build_metrics(),
                        scorer or QualityScorer(LexiconToxicityModel(), None), publish,
                        sleep=sleep)


async def collect(batches: EventBatches[Event], n: int) -> list[list[int]]:
    return [[e.message.offset for e in await anext(batches)] for _ in range(n)]


async def test_batches_are_cut_at_the_size_and_after_the_wait() -> None:
    stream = FakeStream()
    stream.put(*[b"x"] * 5)
    batches = EventBatches(stream.events(), size=3, wait_s=0.05)
    assert await collect(batches, 2) == [[0, 1, 2], [3, 4]]  # full, then timed out
    late = asyncio.get_running_loop().call_later(0.1, stream.put, b"late")
    assert await collect(batches, 1) == [[5]]  # the first event is waited for unbounded
    late.cancel()
    stream.put(b"y")
    stream.end()
    assert await collect(batches, 1) == [[6]]
    with pytest.raises(StopAsyncIteration):
        await anext(batches)
    await batches.aclose()


async def test_a_batch_that_timed_out_loses_no_event() -> None:
    stream = FakeStream()
    batches = EventBatches(stream.events(), size=10, wait_s=0.02)
    seen: list[int] = []
    for _ in range(5):
        stream.put(b"a")
        seen += [e.message.offset for e in await anext(batches)]
        await asyncio.sleep(0.03)  # the batch timed out with a read still waiting
    assert seen == [0, 1, 2, 3, 4]
    await batches.aclose()


async def test_events_are_acked_only_after_their_results_are_delivered() -> None:
    log: list[str] = []
    stream, sleeps = FakeStream(log), []
    publish = Publisher(log, failures=2)
    scoring = stage(publish, sleeps=sleeps)
    stream.put(task("a", POLITE).encode(), task("b", TOXIC_ANSWERS[0]).encode())
    stream.end()
    await scoring.run(stream)
    assert log == ["publish failed", "publish failed", "published 2", "ack 0", "ack 1"]
    assert len(sleeps) == 2 and 0 < sleeps[0] <= sleeps[1]  # backoff between attempts
    assert [m.key for m in publish.delivered] == [b"a", b"b"]
    assert all(m.topic == "llm.scores" for m in publish.delivered)
    assert count(scoring.metrics, "scored") == 2


async def test_a_cancelled_scorer_acks_nothing_it_has_not_delivered() -> None:
    log: list[str] = []
    stream = FakeStream(log)
    publish = Publisher(log, failures=10**9)  # the broker never comes back
    scoring = stage(publish)
    scoring.sleep = asyncio.sleep  # real (short) waits, so cancelling finds it waiting
    scoring.backoff = lambda _: 0.01  # type: ignore[assignment,misc]
    stream.put(task("a", POLITE).encode())
    running = asyncio.create_task(scoring.run(stream))
    while log.count("publish failed") < 3:
        await asyncio.sleep(0.01)
    running.cancel()  # a shutdown
    with pytest.raises(asyncio.CancelledError):
        await running
    assert stream.acked == []  # redelivered to the next scorer
    assert publish.delivered == []


async def test_a_cancelled_scorer_stops_its_pending_read() -> None:
    stream = FakeStream()
    running = asyncio.create_task(stage(Publisher([])).run(stream))
    await asyncio.sleep(0.02)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    stream.put(b"after")
    assert stream.queue.qsize() == 1 and stream.acked == []  # nobody reads it any more


async def test_a_poison_task_fails_alone_and_the_rest_of_its_batch_is_scored() -> None:
    log: list[str] = []
    stream, publish = FakeStream(log), Publisher(log)
    scoring = stage(publish, QualityScorer(FailingLexicon(), None))
    stream.put(task("a", POLITE).encode(), task("poison", POISON).encode(),
               task("c", TOXIC_ANSWERS[1]).encode(), task("poison", POISON).encode())
    stream.end()
    await scoring.run(stream)
    assert [m.key for m in publish.delivered] == [b"a", b"c"]
    assert stream.acked == [0, 1, 2, 3]  # the poison tasks too: never redelivered forever
    assert count(scoring.metrics, "failed") == 2 and count(scoring.metrics, "scored") == 2


async def test_old_sampled_tasks_are_shed_mandatory_ones_never_and_bad_ones_dropped() -> None:
    log: list[str] = []
    stream, publish = FakeStream(log), Publisher(log)
    scoring = stage(publish, LLMPULSE_SCORE_BATCH_SIZE="10")
    old = 60.0
    stream.put(task("old-sampled", POLITE, age_s=old).encode(),
               *[task(f"old-{r}", POLITE, reason=r, age_s=old).encode()
                 for r in ("feedback", "flagged", "new_version")],
               task("fresh", POLITE).encode(), b"not json")
    stream.end()
    await scoring.run(stream)
    assert sorted(m.key for m in publish.delivered) == [
        b"fresh", b"old-feedback", b"old-flagged", b"old-new_version"]
    assert stream.acked == [0, 1, 2, 3, 4, 5]
    assert count(scoring.metrics, "shed") == 1 and count(scoring.metrics, "invalid") == 1


async def test_a_batch_with_nothing_to_deliver_is_still_acked() -> None:
    log: list[str] = []
    stream, publish = FakeStream(log), Publisher(log, failures=10**9)
    scoring = stage(publish)
    stream.put(task("old", POLITE, age_s=60).encode(), None)
    stream.end()
    await scoring.run(stream)
    assert stream.acked == [0, 1] and "publish failed" not in log


async def test_score_batch_survives_a_single_failing_task() -> None:
    metrics = build_metrics()
    results = await score_batch([task("p", POISON).encode()], settings(), metrics,
                                QualityScorer(FailingLexicon(), None))
    assert results == [] and count(metrics, "failed") == 1


def test_tasks_about_the_same_call_keep_their_own_evaluations() -> None:
    scorer = QualityScorer(LexiconToxicityModel(), None)
    results = scorer.score([task("same", TOXIC_ANSWERS[0], "sampled"),
                            task("same", POLITE, "feedback")], now=2000.0)
    assert [r.reason for r in results] == ["sampled", "feedback"]
    toxic, polite = (r.value("toxicity") for r in results)
    assert toxic is not None and toxic.label == "toxic"
    assert polite is not None and polite.label == "ok"
    assert [sum(e.name == "toxicity" for e in r.evaluations) for r in results] == [1, 1]
    assert all(r.call.request_id == "same" for r in results)


class RecordingJudge:
    """Stands in for :class:`~llmpulse.judge.LlmJudge`: records the ``always`` flags."""

    scorer = "judge:fake"

    def __init__(self) -> None:
        self.always: list[bool] = []

    def score_many(self, items: Sequence[tuple[str, Sequence[str]]],
                   always: Sequence[bool] | None = None) -> list[GroundednessResult | None]:
        self.always += list(always or [False] * len(items))
        return [None] * len(items)


def test_the_judge_always_sees_feedback_tasks_and_samples_the_rest() -> None:
    judge = RecordingJudge()
    scorer = QualityScorer(LexiconToxicityModel(), None, judge)  # type: ignore[arg-type]
    reasons = ["sampled", "flagged", "new_version", "feedback", "feedback"]
    scorer.score([task("same" if r == "feedback" else r, POLITE, r, contexts=("Refunds.",))
                  for r in reasons], now=2000.0)
    assert judge.always == [False, False, False, True, True]


def test_wire_evaluation_names_the_requested_and_the_answering_model() -> None:
    call = CallRef("r1", 1.0, "gpt-4o-2024-08-06", "openai", "chat", "acme", "gpt-4o", "resp-1")
    e = Evaluation("toxicity", 0.9, "toxic", scorer="lexicon@1")
    wire = wire_evaluation(ScoreResult(call, "sampled", 2.0, (e,)), e)
    assert wire["gen_ai.request.model"] == "gpt-4o"
    assert wire["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert wire["gen_ai.response.id"] == "resp-1" and wire["request_id"] == "r1"
    assert wire["gen_ai.evaluation.score.value"] == 0.9 and wire["reason"] == "sampled"
    unknown = CallRef("r2", 1.0, "", "openai", "chat", "acme", "gpt-4o")
    wire = wire_evaluation(ScoreResult(unknown, "sampled", 2.0, (e,)), e)
    assert wire["gen_ai.request.model"] == "gpt-4o" and "gen_ai.response.model" not in wire
    assert "gen_ai.response.id" not in wire


async def test_a_draining_scorer_finishes_its_batch_and_starts_no_other() -> None:
    """The drain after SIGTERM: the batch in flight is delivered and acknowledged (its
    failing delivery is visible to /readyz meanwhile); the next batch is left unread."""
    log: list[str] = []
    stream = FakeStream(log)
    publish = Publisher(log, failures=2)
    scoring = stage(publish)
    gate = asyncio.Event()
    seen: list[Any] = []

    async def sleep(seconds: float) -> None:
        seen.append(scoring.in_flight)
        await gate.wait()

    scoring.sleep = sleep
    stream.put(task("a", POLITE).encode(), task("b", POLITE).encode())
    running = asyncio.create_task(scoring.run(stream))
    while not seen:
        await asyncio.sleep(0.01)
    batch = seen[0]
    assert batch.messages == 2 and batch.step == "delivering results"
    assert batch.failing is not None and "broker unavailable" in batch.failing.error
    drained = asyncio.create_task(scoring.drained())
    await asyncio.sleep(0.01)
    assert not drained.done()  # the batch in flight is not given up
    stream.put(task("c", POLITE).encode())  # arrives during the drain
    gate.set()
    await asyncio.wait_for(drained, 5)
    assert stream.acked == [0, 1] and scoring.in_flight is None
    await asyncio.sleep(BATCH_WAIT_S + 0.1)
    assert stream.acked == [0, 1]  # "c" is redelivered at the next start
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running


async def test_an_idle_scorer_drains_at_once() -> None:
    scoring = stage(Publisher([]))
    await asyncio.wait_for(scoring.drained(), 1)
