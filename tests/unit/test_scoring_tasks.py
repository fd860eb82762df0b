"""Scoring task and result messages; quality in the windows and the rule engine."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest

from llmpulse.errors import InvalidEvent
from llmpulse.records import from_inference
from llmpulse.schema import EVENT_ADAPTER
from llmpulse.scoring.tasks import CallRef, Evaluation, ScoreResult, ScoringTask
from llmpulse.windows import GroupKey, WindowAggregate, fold_quality
from tests.unit.factories import T0, inference

CONTEXT = [{"id": "d1", "content": "Refunds are processed within five business days."}]


def rag_record() -> object:
    return from_inference(EVENT_ADAPTER.validate_python(inference(
        "r1", **{"gen_ai.output.messages": [{"role": "assistant", "content": "Five days."}],
                 "gen_ai.input.messages": [{"role": "user", "content": "How long?"}],
                 "context_documents": CONTEXT, "gen_ai.response.id": "resp-1"})))


def test_task_round_trip_keeps_texts_and_group_keys() -> None:
    task = ScoringTask.of(rag_record(), "sampled", 100.0)  # type: ignore[arg-type]
    again = ScoringTask.decode(task.encode())
    assert again == task
    assert task.response == "Five days." and task.prompt == "How long?"
    assert task.contexts == (CONTEXT[0]["content"],)
    assert task.call.request_model == "gpt-4o" and task.call.response_id == "resp-1"
    assert not task.mandatory and ScoringTask.of(rag_record(), "feedback", 1.0).mandatory  # type: ignore[arg-type]


@pytest.mark.parametrize("raw", [b"{", b"[]", b'{"call": {}}', None])
def test_bad_messages_raise_invalid_event(raw: bytes | None) -> None:
    with pytest.raises(InvalidEvent):
        ScoringTask.decode(raw)
    with pytest.raises(InvalidEvent):
        ScoreResult.decode(raw)


def result(rid: str, t: float, tox: float | None, grounded: float | None,
           route: str = "rag") -> ScoreResult:
    evaluations = []
    if tox is not None:
        evaluations.append(Evaluation("toxicity", tox, "toxic" if tox >= 0.5 else "ok"))
    if grounded is not None:
        evaluations.append(Evaluation("groundedness", grounded,
                                      "grounded" if grounded >= 0.5 else "ungrounded"))
    call = CallRef(rid, t, "m", "p", route, "acme", "m")
    return ScoreResult(call, "sampled", t + 1, tuple(evaluations))


def test_result_round_trip() -> None:
    r = result("r1", 10.0, 0.9, 0.2)
    assert ScoreResult.decode(r.encode()) == r


def test_quality_folds_into_windows_with_rates_means_and_evidence() -> None:
    results = [result("a", 1.0, 0.9, 0.2), result("b", 2.0, 0.1, 0.9),
               result("c", 3.0, 0.2, None), result("d", 7.0, 0.95, 0.1)]
    partials = fold_quality(results, [("model",), ("model", "route", "tenant")], pane_s=5.0)
    first = partials[(GroupKey("m"), 0.0)]
    tox, ground = first.part("toxicity"), first.part("groundedness")
    assert tox is not None and ground is not None
    assert (tox.scored, tox.flagged, ground.scored, ground.flagged) == (3, 1, 2, 1)
    assert first.versions("toxicity_rate") == ["unknown"]  # no scorer named
    summary = first.summary()
    assert summary["toxicity_rate"] == pytest.approx(1 / 3)
    assert summary["groundedness_mean"] == pytest.approx(0.55)
    assert summary["ungrounded_rate"] == pytest.approx(0.5)
    assert first.count_for("toxicity_rate") == 3 and first.count_for("error_rate") == 0
    assert {rid for _, rid in tox.worst} == {"a"}
    assert {rid for _, rid in ground.worst} == {"a"}
    merged = WindowAggregate.from_dict(first.to_dict())
    merged.merge(partials[(GroupKey("m"), 5.0)])
    assert merged.summary()["toxicity_rate"] == pytest.approx(2 / 4)
    assert merged.summary()["groundedness_mean"] == pytest.approx((0.2 + 0.9 + 0.1) / 3)
    tox, ground = merged.part("toxicity"), merged.part("groundedness")
    assert tox is not None and ground is not None
    assert {rid for _, rid in tox.worst} == {"a", "d"}
    assert {rid for _, rid in ground.worst} == {"a", "d"}
    assert WindowAggregate().summary()["groundedness_mean"] is None


def test_call_ref_time_is_the_calls_event_time() -> None:
    task = ScoringTask.of(rag_record(), "sampled", 5e9)  # type: ignore[arg-type]
    assert task.call.call_time == (T0 + timedelta(seconds=2)).timestamp()


def test_a_toxicity_rule_fires_on_scored_answers_only_and_points_at_them() -> None:
    from llmpulse.alerting.engine import AlertEngine
    from llmpulse.alerting.rules import parse_rules

    rules = parse_rules("""
rules:
  - name: toxic
    metric: toxicity_rate
    group_by: [model, route]
    window: 10s
    threshold: 0.2
    clear_threshold: 0.1
    min_count: 5
  - name: ungrounded
    metric: groundedness_mean
    group_by: [model, route]
    window: 10s
    operator: "<"
    threshold: 0.5
    min_count: 5
""", "test")
    engine = AlertEngine(rules, pane_s=5, lateness_s=0, store={})
    sent = []
    n = 0
    for t in range(1, 41):
        batch = []
        for _ in range(4):
            n += 1
            bad = 15 <= t < 25 and n % 2 == 0
            batch.append(result(f"r{n}", float(t), 0.9 if bad else 0.05, 0.8,
                                route="chat"))
        engine.add((g, p, a) for (g, p), a in
                   fold_quality(batch, [("model", "route")], 5).items())
        messages, _ = engine.evaluate(float(t))
        sent.extend(messages)
    kinds = [(m.rule, m.kind) for m in sent]
    assert kinds == [("toxic", "trigger"), ("toxic", "resolve")]
    trigger = sent[0]
    assert trigger.value is not None and trigger.value > 0.2 and trigger.count >= 5
    evidence = {ev.request_id for ev in trigger.evidence}
    assert evidence and all(int(rid[1:]) % 2 == 0 for rid in evidence)


def test_quality_evidence_points_at_the_answers_of_the_rules_metric() -> None:
    from llmpulse.alerting.engine import evidence
    from llmpulse.alerting.rules import parse_rules

    toxic, ungrounded = parse_rules("""
rules:
  - {name: toxic, metric: toxicity_rate, window: 10s, threshold: 0.2}
  - {name: ungrounded, metric: ungrounded_rate, window: 10s, threshold: 0.2}
""", "test").rules
    agg = WindowAggregate()
    agg.add_quality(result("rude-but-grounded", 1.0, 0.99, 0.95))
    agg.add_quality(result("polite-but-ungrounded", 1.0, 0.01, 0.05))
    assert [e.request_id for e in evidence(toxic, agg)] == ["rude-but-grounded"]
    assert [e.request_id for e in evidence(ungrounded, agg)] == ["polite-but-ungrounded"]
    # each answer carries its own score as the scorer gave it, and says what it is
    [rude] = evidence(toxic, agg)
    assert rude.value == pytest.approx(0.99) and rude.detail.startswith("toxicity 0.990")
    [ungrounded_answer] = evidence(ungrounded, agg)
    assert ungrounded_answer.value == pytest.approx(0.05)  # not 1 - groundedness
    assert ungrounded_answer.detail.startswith("groundedness 0.050")


def test_malformed_score_results_are_invalid_events_not_crashes() -> None:
    good = orjson.loads(result("r1", 10.0, 0.9, 0.2).encode())
    bad_values: list[Any] = [
        {**good, "scored_at": "soon"},
        {**good, "scored_at": True},
        {**good, "evaluations": [{"name": "toxicity", "value": "high"}]},
        {**good, "evaluations": [{"name": "toxicity", "value": 0.5, "bogus": 1}]},
        {**good, "evaluations": {"name": "toxicity"}},
        {**good, "call": {**good["call"], "request_id": 7}},
        {**good, "call": {**good["call"], "call_time": None}},
        {**good, "call": "r1"},
        {k: v for k, v in good.items() if k != "reason"},
    ]
    for value in bad_values:
        with pytest.raises(InvalidEvent):
            ScoreResult.decode(orjson.dumps(value))
    nan = orjson.dumps(good).replace(b'"scored_at":11.0', b'"scored_at":NaN')
    with pytest.raises(InvalidEvent):
        ScoreResult.decode(nan)
