"""The pipeline against the real embedded ClickHouse engine, with a dict join table."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from aiokafka.partitioner import murmur2

from llmpulse.config import load_settings
from llmpulse.join import MemoryJoinTable
from llmpulse.metrics import build_metrics
from llmpulse.pipeline import DRAIN_RETRY_S, DeadLetter, DeadLetterRatioExceeded, Pipeline
from llmpulse.signals import Signal
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.rows import StoredCall
from llmpulse.windows import GroupKey
from tests.unit.factories import T0, feedback, inference, request, response


class Outbox:
    def __init__(self) -> None:
        self.dead: list[DeadLetter] = []
        self.signal_calls: list[str] = []
        self.partials: dict[Any, Any] = {}
        self.tasks: list[Any] = []
        self.results: list[Any] = []

    async def dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        self.dead.extend(letters)

    async def signals(self, calls: Sequence[StoredCall], signals: Sequence[Signal]) -> None:
        self.signal_calls.extend(c.record.request_id for c in calls)

    async def scoring(self, tasks: Sequence[Any]) -> None:
        self.tasks.extend(tasks)

    async def evaluations(self, results: Sequence[Any]) -> None:
        self.results.extend(results)

    async def windows(self, partials: dict[Any, Any]) -> None:
        for key, agg in partials.items():
            if key in self.partials:
                self.partials[key].merge(agg)
            else:
                self.partials[key] = agg


class Clock:
    def __init__(self) -> None:
        self.now = T0.timestamp() + 600  # the calls of the factories are recent

    def __call__(self) -> float:
        return self.now


def make(store: ClickHouseStore, **env: str) -> tuple[Pipeline, Outbox, list[Any], Clock]:
    settings = load_settings({"LLMPULSE_BATCH_MAX_ROWS": "1000", **env})
    acked: list[Any] = []

    async def ack(token: Any) -> None:
        acked.append(token)

    outbox, clock = Outbox(), Clock()
    pipe = Pipeline(settings, store, outbox, build_metrics(), MemoryJoinTable(), ack, clock)
    return pipe, outbox, acked, clock


def placement(event: Any, partitions: int) -> tuple[bytes | None, int]:
    """Key and partition as the SDK's murmur2 partitioner would choose them."""
    if isinstance(event, bytes):
        return None, 0
    key = event["request_id"].encode()
    return key, (murmur2(key) & 0x7FFFFFFF) % partitions


def model_only(group: GroupKey) -> bool:
    return group == GroupKey(model=group.model)


async def feed(pipe: Pipeline, role: str, events: list[Any], start: int = 0) -> None:
    for offset, event in enumerate(events, start):
        raw = event if isinstance(event, bytes) else orjson.dumps(event)
        key, partition = placement(event, pipe.settings.partitions)
        await pipe.handle(role, f"llm.{role}", partition, offset, key, raw, (role, offset))


async def test_valid_rows_stored_invalid_dead_lettered_all_acked(store: ClickHouseStore) -> None:
    pipe, outbox, acked, _ = make(store)
    await feed(pipe, "inference", [inference(f"r{i}") for i in range(20)] + [b"{bad"])
    await feed(pipe, "feedback", [feedback("r1"), feedback("r2", thumbs="up")])
    assert acked == []  # nothing acknowledged before it is stored
    await pipe.flush()
    assert len(acked) == 23
    assert [d.reason for d in outbox.dead] == ["not_json"]
    assert store.query("SELECT count() FROM inference_events FINAL") == [(20,)]
    assert store.query("SELECT count() FROM feedback FINAL") == [(2,)]
    assert store.query("SELECT uniqExact(name) FROM signals") == [(7,)]
    assert len(outbox.signal_calls) == 20
    assert pipe.table["r3"]["k"] == "d"


async def test_redelivered_duplicates_do_not_double_count(store: ClickHouseStore) -> None:
    pipe, _, _, _ = make(store)
    batch = [inference(f"r{i}") for i in range(10)]
    await feed(pipe, "inference", batch)
    await feed(pipe, "inference", batch[:3], start=10)  # duplicates while in flight
    await pipe.flush()
    await feed(pipe, "inference", batch, start=13)  # duplicates after the done marker
    await pipe.flush()
    reg = pipe.metrics.registry
    assert reg.get_sample_value("llmpulse_duplicate_events_total",
                                {"topic": "llm.inference"}) == 13
    assert store.query("SELECT count() FROM inference_events") == [(10,)]
    calls = reg.get_sample_value("llmpulse_calls_total", {
        "gen_ai_provider_name": "openai", "gen_ai_request_model": "gpt-4o",
        "gen_ai_operation_name": "chat", "llmpulse_route": "chat", "join_status": "inference"})
    assert calls == 10


async def test_join_and_timeout_sweep(store: ClickHouseStore) -> None:
    pipe, _, _, clock = make(store, LLMPULSE_JOIN_TIMEOUT_S="30")
    await feed(pipe, "requests", [request("a"), request("b")])
    await feed(pipe, "responses", [response("a")])
    await pipe.flush()
    assert store.query("SELECT request_id, join_status FROM inference_events FINAL") == [
        ("a", "joined")]
    clock.now += 31
    pipe.sweep()
    await pipe.flush()
    rows = store.query("SELECT request_id, join_status, error_type FROM inference_events FINAL "
                       "ORDER BY request_id")
    assert rows == [("a", "joined", ""), ("b", "request_only", "llmpulse.no_response")]
    # the late response upgrades b; FINAL keeps the more complete version
    await feed(pipe, "responses", [response("b")], start=5)
    await pipe.flush()
    assert store.query("SELECT join_status FROM inference_events FINAL WHERE request_id = 'b'"
                       ) == [("joined",)]
    assert store.query("SELECT value FROM signals FINAL WHERE request_id = 'b' "
                       "AND name = 'error'") == [(0.0,)]


async def test_store_outage_holds_the_batch_until_it_lands(
        store: ClickHouseStore, monkeypatch: pytest.MonkeyPatch) -> None:
    pipe, _, acked, _ = make(store)
    real = store.insert_calls
    failures = {"left": 2}

    def flaky(calls: Any, now: Any) -> int:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("ClickHouse is down")
        return real(calls, now)

    monkeypatch.setattr(store, "insert_calls", flaky)
    await feed(pipe, "inference", [inference("x")])
    await pipe.flush()
    assert failures["left"] == 0 and len(acked) == 1
    assert store.query("SELECT count() FROM inference_events FINAL") == [(1,)]
    assert pipe.metrics.registry.get_sample_value("llmpulse_sink_failures_total",
                                                  {"sink": "clickhouse"}) == 2


async def test_a_held_batch_says_since_when_and_where_it_fails(
        store: ClickHouseStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """What /readyz reads: the batch in flight, its step, since when it fails; the store's
    trouble; both cleared once the store answers again."""
    pipe, _, acked, clock = make(store)
    real = store.insert_calls
    seen: list[Any] = []

    def failing(calls: Any, now: Any) -> int:
        seen.append((pipe.in_write, pipe.store_trouble))
        if len(seen) <= 2:
            clock.now += 5
            raise ConnectionError("ClickHouse is down")
        return real(calls, now)

    monkeypatch.setattr(store, "insert_calls", failing)
    assert pipe.in_write is None
    await feed(pipe, "inference", [inference("x"), inference("y")])
    await pipe.flush()
    assert len(acked) == 2 and pipe.in_write is None and pipe.store_trouble is None
    first, _ = seen[0]
    assert first.messages == 2 and first.step == "store rows, scoring tasks"
    assert first.failing is None  # the first attempt had not failed yet
    batch, trouble = seen[-1]  # as the third attempt began: two failures
    assert batch.failing is not None and batch.failing.attempts == 2
    assert batch.failing.since == first.since + 5  # the first failure, not the last
    assert "ConnectionError: ClickHouse is down" in batch.failing.error
    assert trouble.attempts == 2 and trouble.since == batch.failing.since


async def test_a_closed_pipeline_takes_nothing_and_an_abort_leaves_the_batch_unacked(
        store: ClickHouseStore, monkeypatch: pytest.MonkeyPatch) -> None:
    pipe, _, acked, _ = make(store)
    monkeypatch.setattr(store, "insert_calls", _refuse)
    await feed(pipe, "inference", [inference("a")])
    writing = asyncio.ensure_future(pipe.flush())
    while pipe.in_write is None or pipe.in_write.failing is None:
        await asyncio.sleep(0.01)
    pipe.close()
    await feed(pipe, "inference", [inference("b")], start=1)  # after close: left alone
    assert pipe.metrics.registry.get_sample_value(
        "llmpulse_events_in_total", {"topic": "llm.inference"}) == 1
    started = time.monotonic()
    while pipe.in_write.failing.attempts < 5:  # closed: retried every DRAIN_RETRY_S at most
        await asyncio.sleep(0.05)
    assert time.monotonic() - started < 4 * DRAIN_RETRY_S + 1
    what = pipe.abort()
    assert "a batch of 1 message(s)" in what and "ConnectionError" in what
    with pytest.raises(asyncio.CancelledError):
        await writing
    assert acked == [] and pipe.in_write is None  # redelivered at the next start
    assert pipe.unacknowledged() == "nothing"


async def test_a_second_flush_waits_for_the_write_another_one_started(
        store: ClickHouseStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The timer's flush waits for a held write when the final flush of a drain comes: the
    final flush must wait for that write too (not return at once, nor write the next
    batch alongside), even when the timer's wait is cancelled."""
    pipe, _, acked, _ = make(store)
    real = store.insert_calls
    back = asyncio.Event()
    writing: list[int] = []

    def held(calls: Any, now: Any) -> int:
        writing.append(len(calls))
        if not back.is_set():
            raise ConnectionError("ClickHouse is down")
        return real(calls, now)

    monkeypatch.setattr(store, "insert_calls", held)
    await feed(pipe, "inference", [inference("a")])
    timer = asyncio.ensure_future(pipe.flush())
    while not writing:
        await asyncio.sleep(0.01)
    await feed(pipe, "inference", [inference("b"), inference("c")], start=1)
    final = asyncio.ensure_future(pipe.flush())
    await asyncio.sleep(0.1)
    timer.cancel()  # the timer's wait goes; the write it waited for does not
    await asyncio.sleep(0.5)
    assert not final.done() and set(writing) == {1}  # batch "a" only, still held
    back.set()
    await asyncio.wait_for(final, 10)
    assert acked == [("inference", 0), ("inference", 1), ("inference", 2)]
    assert writing[-2:] == [1, 2]  # "a", then "b" and "c": one write at a time
    assert store.query("SELECT count() FROM inference_events FINAL") == [(3,)]


def _refuse(calls: Any, now: Any) -> int:
    raise ConnectionError("ClickHouse is down")


async def test_dead_letter_ratio_cap(store: ClickHouseStore) -> None:
    pipe, _, _, _ = make(store, LLMPULSE_DLQ_MAX_RATIO="0.5",
                         LLMPULSE_BATCH_MAX_ROWS="100000")
    with pytest.raises(DeadLetterRatioExceeded, match="LLMPULSE_DLQ_MAX_RATIO"):
        await feed(pipe, "inference", [b"junk"] * 1000)


async def test_misplaced_events_are_dead_lettered(store: ClickHouseStore) -> None:
    pipe, outbox, acked, _ = make(store)
    raw = orjson.dumps(inference("p1"))
    key, right = placement(inference("p1"), pipe.settings.partitions)
    wrong = (right + 1) % pipe.settings.partitions
    await pipe.handle("inference", "llm.inference", wrong, 0, key, raw, 1)
    await pipe.handle("inference", "llm.inference", right, 1, None, raw, 2)
    await pipe.handle("inference", "llm.inference", right, 2, b"other", raw, 3)
    await pipe.flush()
    assert [d.reason for d in outbox.dead] == ["wrong_partition", "key_missing",
                                               "key_mismatch"]
    assert "murmur2" in outbox.dead[0].detail
    assert acked == [1, 2, 3]


async def test_unexpected_errors_park_the_event_instead_of_losing_it(
        store: ClickHouseStore, monkeypatch: pytest.MonkeyPatch) -> None:
    pipe, outbox, acked, _ = make(store)

    def broken(record: Any) -> Any:
        raise ArithmeticError("price table corrupt")

    monkeypatch.setattr(pipe.cost, "cost", broken)
    await feed(pipe, "inference", [inference("z1")])
    await pipe.flush()
    assert [(d.reason, d.detail) for d in outbox.dead] == [
        ("internal", "ArithmeticError: price table corrupt")]
    assert acked == [("inference", 0)]


async def test_late_half_during_the_timed_out_write_still_joins(store: ClickHouseStore) -> None:
    pipe, _, _, clock = make(store, LLMPULSE_JOIN_TIMEOUT_S="30")
    await feed(pipe, "requests", [request("w")])
    clock.now += 31
    pipe.sweep()  # request_only is now in the batch, not yet stored
    await feed(pipe, "responses", [response("w")], start=1)
    await pipe.flush()
    assert store.query("SELECT join_status FROM inference_events FINAL WHERE request_id = 'w'"
                       ) == [("joined",)]


async def test_replay_after_lost_join_state_is_recognised_from_storage(
        store: ClickHouseStore) -> None:
    first, _, _, _ = make(store)
    batch = [inference(f"s{i}") for i in range(5)]
    await feed(first, "inference", batch)
    await first.flush()
    again, outbox, acked, _ = make(store)  # a new worker whose join table lost everything
    await feed(again, "inference", batch)
    await again.flush()
    registry = again.metrics.registry
    assert registry.get_sample_value("llmpulse_duplicate_events_total", {"topic": "stored"}) == 5
    assert registry.get_sample_value("llmpulse_calls_total", {
        "gen_ai_provider_name": "openai", "gen_ai_request_model": "gpt-4o",
        "gen_ai_operation_name": "chat", "llmpulse_route": "chat",
        "join_status": "inference"}) is None
    assert outbox.signal_calls == [] and len(acked) == 5
    assert store.query("SELECT count() FROM inference_events") == [(5,)]


def rag(rid: str, answer: str = "Refunds take five business days.", **over: Any) -> Any:
    fields = {"gen_ai.output.messages": [{"role": "assistant", "content": answer}],
              "gen_ai.input.messages": [{"role": "user",
                                         "content": "Refund? Mail me at jo@example.com"}],
              "context_documents": [{"id": "d1", "content": "Refunds take 5 business days."}]}
    fields.update(over)
    return inference(rid, **fields)


async def test_personal_data_is_redacted_before_storage_and_counted(
        store: ClickHouseStore) -> None:
    pipe, outbox, _, _ = make(store, LLMPULSE_SCORE_SAMPLE_RATE="1")
    await feed(pipe, "inference", [rag("pii-1")])
    await pipe.flush()
    stored = store.query("SELECT input_messages FROM inference_events FINAL"
                         " WHERE request_id = 'pii-1'")[0][0]
    assert "jo@example.com" not in stored and "[EMAIL]" in stored
    assert store.query("SELECT value, label FROM signals FINAL WHERE name = 'pii.redacted'"
                       " AND request_id = 'pii-1'") == [(1.0, "email=1")]
    assert pipe.metrics.registry.get_sample_value(
        "llmpulse_pii_findings_total", {"field": "prompt", "kind": "email"}) == 1
    assert outbox.tasks and "jo@example.com" not in outbox.tasks[0].prompt


async def test_sampled_calls_become_scoring_tasks_and_results_are_stored(
        store: ClickHouseStore) -> None:
    from llmpulse.scoring.tasks import Evaluation, ScoreResult

    pipe, outbox, acked, clock = make(store, LLMPULSE_SCORE_SAMPLE_RATE="1",
                                      LLMPULSE_SCORE_NEW_VERSION_CALLS="0")
    await feed(pipe, "inference", [rag(f"samp{i}") for i in range(5)] + [inference("samp-bare")])
    await pipe.flush()
    assert sorted(t.call.request_id for t in outbox.tasks) == [f"samp{i}" for i in range(5)]
    assert {t.reason for t in outbox.tasks} == {"sampled"}
    task = outbox.tasks[0]
    results = [ScoreResult(t.call, t.reason, clock.now + 1, (
        Evaluation("toxicity", 0.01, "ok", "", "lexicon@1"),
        Evaluation("groundedness", 0.2, "ungrounded", "Five days.", "embedding:x@1")))
        for t in outbox.tasks]
    await feed_scores(pipe, results)
    await pipe.flush()
    rows = store.query("SELECT name, value, label, detector, explanation FROM signals FINAL "
                       "WHERE request_id = {r:String} AND name IN ('toxicity', 'groundedness') "
                       "ORDER BY name", {"r": task.call.request_id})
    assert rows == [("groundedness", 0.2, "ungrounded", "embedding:x@1", "Five days."),
                    ("toxicity", 0.01, "ok", "lexicon@1", "")]
    assert len(acked) == 6 + 5 and outbox.results == results
    quality = [a for (g, _), a in outbox.partials.items() if a.scored("groundedness")]
    assert sum(a.scored("groundedness") for a in quality) == 5 * len(pipe.groupings)
    assert {v for a in quality for v in a.versions("groundedness")} == {"embedding:x@1"}
    await feed_scores(pipe, results)  # a redelivered result replaces itself
    await pipe.flush()
    assert store.query("SELECT count() FROM signals FINAL WHERE name = 'groundedness'"
                       " AND startsWith(request_id, 'samp')") == [(5,)]


async def feed_scores(pipe: Pipeline, results: Sequence[Any]) -> None:
    for offset, r in enumerate(results):
        await pipe.handle("scores", "llm.scores", 0, offset, r.call.request_id.encode(),
                          r.encode(), ("scores", offset))


async def test_negative_feedback_always_scores_the_stored_call(store: ClickHouseStore) -> None:
    pipe, outbox, _, _ = make(store, LLMPULSE_SCORE_SAMPLE_RATE="0",
                              LLMPULSE_SCORE_NEW_VERSION_CALLS="0")
    await feed(pipe, "inference", [rag("neg1"), rag("neg2")])
    await pipe.flush()
    assert outbox.tasks == []  # rate 0: nothing sampled
    await feed(pipe, "feedback", [feedback("neg1"), feedback("neg2", thumbs="up"),
                                  feedback("nope")])
    await pipe.flush()
    assert [(t.call.request_id, t.reason) for t in outbox.tasks] == [("neg1", "feedback")]
    task = outbox.tasks[0]
    assert task.response == "Refunds take five business days."
    assert task.contexts == ("Refunds take 5 business days.",)
    assert "[EMAIL]" in task.prompt and task.call.route == "chat"
    reg = pipe.metrics.registry
    assert reg.get_sample_value("llmpulse_feedback_unjoined_total",
                                {"reason": "unknown_request"}) is None  # it waits for now


def test_score_explanations_expire_with_the_message_bodies(store: ClickHouseStore) -> None:
    ddl = store.query("SHOW CREATE TABLE signals")[0][0]
    line = next(x for x in ddl.splitlines() if "`explanation`" in x)
    assert "TTL toDateTime(time) + toIntervalDay(30)" in line


async def test_join_table_never_holds_raw_personal_data(store: ClickHouseStore) -> None:
    pipe, _, _, _ = make(store)
    prompt = [{"role": "user", "content": "Call +44 20 7946 0958 or mail jo@example.com"}]
    await feed(pipe, "requests", [request("pii-half", **{"gen_ai.input.messages": prompt})])
    held = orjson.dumps(pipe.table["pii-half"]).decode()
    assert "jo@example.com" not in held and "7946" not in held and "[EMAIL]" in held
    await feed(pipe, "responses", [response("pii-half")], start=1)
    await pipe.flush()
    assert store.query("SELECT value, label FROM signals FINAL WHERE name = 'pii.redacted'"
                       " AND request_id = 'pii-half'") == [(2.0, "email=1,phone=1")]


async def test_score_results_count_once_and_only_unbiased_samples_in_windows(
        store: ClickHouseStore) -> None:
    from llmpulse.scoring.tasks import Evaluation, ScoreResult

    pipe, outbox, _, clock = make(store, LLMPULSE_SCORE_SAMPLE_RATE="1",
                                  LLMPULSE_SCORE_NEW_VERSION_CALLS="0")
    await feed(pipe, "inference", [rag(f"once{i}") for i in range(3)])
    await pipe.flush()
    outbox.partials.clear()

    def scored(task: Any, reason: str) -> ScoreResult:
        return ScoreResult(task.call, reason, clock.now + 1,
                           (Evaluation("toxicity", 0.9, "toxic", "", "lexicon@1"),))

    sampled = [scored(t, "sampled") for t in outbox.tasks]
    flagged = scored(outbox.tasks[0], "flagged")
    await feed_scores(pipe, [*sampled, sampled[0], flagged])  # a duplicate and a biased one
    await pipe.flush()
    await feed_scores(pipe, sampled)  # redelivered after the first batch was stored
    await pipe.flush()
    by_model = [a for (g, _), a in outbox.partials.items() if model_only(g)
                and g.tenant == "*"]
    parts = [a.part("toxicity", "lexicon@1") for a in by_model]
    assert sum(p.scored for p in parts if p) == 3 and sum(p.flagged for p in parts if p) == 3
    reg = pipe.metrics.registry
    assert reg.get_sample_value("llmpulse_duplicate_events_total", {"topic": "scores"}) == 4
    assert store.query("SELECT count() FROM signals FINAL WHERE name = 'toxicity'"
                       " AND startsWith(request_id, 'once')") == [(3,)]


async def test_future_dated_calls_are_not_sampled(store: ClickHouseStore) -> None:
    pipe, outbox, _, clock = make(store, LLMPULSE_SCORE_SAMPLE_RATE="1",
                                  LLMPULSE_SCORE_NEW_VERSION_CALLS="0")
    clock.now = T0.timestamp() - 3600  # the calls are an hour ahead of the worker
    await feed(pipe, "inference", [rag("ahead1")])
    await pipe.flush()
    assert outbox.tasks == []
    assert pipe.metrics.registry.get_sample_value(
        "llmpulse_scoring_skipped_total", {"reason": "future"}) == 1


async def test_feedback_joins_its_call_into_the_feedback_windows_once(
        store: ClickHouseStore) -> None:
    from datetime import timedelta

    from llmpulse.pipeline import FEEDBACK_WAIT_S

    pipe, outbox, _, clock = make(store, LLMPULSE_FEEDBACK_HORIZON_S="86400")
    await feed(pipe, "inference", [inference("fbw1"), inference("fbw2")])
    await pipe.flush()
    outbox.partials.clear()
    clock.now = (T0 + timedelta(days=2, minutes=10)).timestamp()
    late = (T0 + timedelta(days=2)).isoformat()
    ahead = (T0 + timedelta(days=3)).isoformat()
    events = [feedback("fbw1"), feedback("fbw2", thumbs="up", rating=2, correction="Fixed."),
              feedback("fbw-unknown"), feedback("fbw2", feedback_id="fbw-late", time=late),
              feedback("fbw1", feedback_id="fbw-ahead", time=ahead)]
    await feed(pipe, "feedback", events)
    await pipe.flush()
    await feed(pipe, "feedback", events[:2], start=10)  # redelivered
    await pipe.flush()
    clock.now += FEEDBACK_WAIT_S + 1  # the unknown request's wait is over
    await feed(pipe, "inference", [inference("fbw3")], start=20)
    await pipe.flush()
    by_model = [a for (g, _), a in outbox.partials.items() if model_only(g) and a.feedback]
    assert [g.model for (g, _), a in outbox.partials.items()
            if model_only(g) and a.feedback] == ["gpt-4o"]
    agg = by_model[0]
    assert (agg.feedback, agg.thumbs, agg.thumbs_down, agg.rated, agg.corrections) == (
        2, 2, 1, 1, 1)
    summary = agg.summary()
    assert summary["thumbs_down_rate"] == 0.5 and summary["rating_mean"] == 2.0
    assert {rid for _, rid in agg.disliked} == {"fbw1", "fbw2"}
    reg = pipe.metrics.registry
    assert reg.get_sample_value("llmpulse_feedback_unjoined_total",
                                {"reason": "unknown_request"}) == 1
    assert reg.get_sample_value("llmpulse_feedback_unjoined_total",
                                {"reason": "too_late"}) == 1
    assert reg.get_sample_value("llmpulse_feedback_unjoined_total",
                                {"reason": "future"}) == 1
    assert reg.get_sample_value("llmpulse_duplicate_events_total", {"topic": "feedback"}) == 2
    assert store.query("SELECT count() FROM feedback FINAL WHERE startsWith(request_id, 'fbw')"
                       ) == [(5,)]


async def test_feedback_that_overtakes_its_call_waits_for_it(store: ClickHouseStore) -> None:
    from llmpulse.pipeline import FEEDBACK_RETRY_S

    pipe, outbox, _, clock = make(store, LLMPULSE_SCORE_SAMPLE_RATE="0",
                                  LLMPULSE_SCORE_NEW_VERSION_CALLS="0")
    await feed(pipe, "feedback", [feedback("early1")])
    await pipe.flush()
    assert not [a for a in outbox.partials.values() if a.feedback]
    clock.now += FEEDBACK_RETRY_S
    await feed(pipe, "inference", [rag("early1")], start=5)
    await pipe.flush()  # the call is stored now
    clock.now += FEEDBACK_RETRY_S
    await feed(pipe, "inference", [rag("early2")], start=6)
    await pipe.flush()  # the waiting feedback is tried again and joins
    assert sum(a.thumbs_down for (g, _), a in outbox.partials.items() if model_only(g)) == 1
    assert [(t.call.request_id, t.reason) for t in outbox.tasks] == [("early1", "feedback")]
    assert store.query("SELECT window_state FROM feedback FINAL WHERE request_id = 'early1'"
                       ) == [("done",)]


async def test_waiting_feedback_survives_a_restart_and_counts_once(
        store: ClickHouseStore) -> None:
    from llmpulse.ingest import partition_of
    from llmpulse.pipeline import FEEDBACK_RETRY_S

    def state(rid: str) -> list[tuple[str]]:
        return store.query("SELECT window_state FROM feedback FINAL "
                           "WHERE request_id = {r:String}", {"r": rid})

    first, outbox1, acked1, _ = make(store)
    await feed(first, "feedback", [feedback("restart1")])
    await first.flush()
    assert acked1 and state("restart1") == [("waiting",)]  # stored and acked, not windowed
    # The worker stops; the next one is given the partition of the feedback.
    second, outbox2, _, clock = make(store)
    held = partition_of("restart1", second.settings.partitions)
    second.sweep({p for p in range(second.settings.partitions) if p != held})
    await feed(second, "inference", [inference("other")], start=1)
    await second.flush()  # not its partition (yet): nothing taken up
    assert state("restart1") == [("waiting",)]
    second.sweep(set(range(second.settings.partitions)))  # a rebalance hands it over
    await feed(second, "inference", [inference("restart1")], start=2)
    await second.flush()
    clock.now += FEEDBACK_RETRY_S
    await feed(second, "inference", [inference("other2")], start=3)
    await second.flush()
    downs = [a.thumbs_down for (g, _), a in outbox2.partials.items() if model_only(g)]
    assert sum(downs) == 1 and state("restart1") == [("done",)]
    third, outbox3, _, _ = make(store)  # a later restart: nothing is waiting any more
    await feed(third, "inference", [inference("other3")], start=4)
    await third.flush()
    assert not [a for a in outbox3.partials.values() if a.thumbs_down]
    assert not [a for a in outbox1.partials.values() if a.thumbs_down]


async def test_revoked_partitions_leave_their_waiting_feedback_to_the_new_owner(
        store: ClickHouseStore) -> None:
    from llmpulse.ingest import partition_of
    from llmpulse.pipeline import FEEDBACK_RETRY_S

    pipe, outbox, _, clock = make(store)
    await feed(pipe, "feedback", [feedback("moved1")])
    await pipe.flush()
    pipe.release({partition_of("moved1", pipe.settings.partitions)})
    await feed(pipe, "inference", [inference("moved1")], start=1)
    await pipe.flush()
    clock.now += FEEDBACK_RETRY_S
    await feed(pipe, "inference", [inference("moved2")], start=2)
    await pipe.flush()
    assert not [a for a in outbox.partials.values() if a.thumbs_down]  # not its to count
    assert store.query("SELECT window_state FROM feedback FINAL WHERE request_id = 'moved1'"
                       ) == [("waiting",)]


async def test_feedback_windows_are_per_prompt_version_too(store: ClickHouseStore) -> None:
    from datetime import timedelta

    pipe, outbox, _, clock = make(store)
    versions = {"pv1": ("support", "v1"), "pv2": ("support", "v2"), "pv3": ("support", "v2"),
                "pv4": (None, None)}
    calls = [inference(rid, prompt_template_id=tid, prompt_template_version=v)
             for rid, (tid, v) in versions.items()]
    await feed(pipe, "inference", calls[:2])
    await pipe.flush()  # pv1, pv2: joined from storage; pv3, pv4: from the same batch
    clock.now = (T0 + timedelta(minutes=10)).timestamp()
    await feed(pipe, "inference", calls[2:], start=2)
    await feed(pipe, "feedback", [feedback("pv1", thumbs="up"), feedback("pv2"),
                                  feedback("pv3"), feedback("pv4", thumbs="up")])
    await pipe.flush()
    down = {g.prompt_version: (a.thumbs, a.thumbs_down)
            for (g, _), a in outbox.partials.items() if g.prompt_version != "*" and a.thumbs}
    assert down == {"support@v1": (1, 0), "support@v2": (2, 2), "none": (1, 0)}
    calls_by_version = {g.prompt_version: a.calls for (g, _), a in outbox.partials.items()
                        if g.prompt_version != "*" and a.calls}
    assert calls_by_version == {"support@v1": 1, "support@v2": 2, "none": 1}


async def test_no_half_times_out_while_the_worker_is_behind_its_input(
        store: ClickHouseStore) -> None:
    # After a store outage (or a restart) the response is still unread in Kafka: the
    # request waited far longer than the timeout on the wall clock, but must not be
    # filed as request_only before the worker has caught up.
    pipe, _, _, clock = make(store, LLMPULSE_JOIN_TIMEOUT_S="30")
    await feed(pipe, "requests", [request("late")])
    await pipe.flush()
    clock.now += 600
    pipe.sweep(keeping_up=False)
    await pipe.flush()
    assert store.query("SELECT count() FROM inference_events FINAL") == [(0,)]
    await feed(pipe, "responses", [response("late")], start=1)
    await pipe.flush()
    assert store.query("SELECT request_id, join_status FROM inference_events FINAL") == [
        ("late", "joined")]
    # caught up, a half whose partner never comes still times out
    await feed(pipe, "requests", [request("alone")], start=2)
    clock.now += 31
    pipe.sweep(keeping_up=True)
    await pipe.flush()
    assert store.query("SELECT join_status FROM inference_events FINAL "
                       "WHERE request_id = 'alone'") == [("request_only",)]
