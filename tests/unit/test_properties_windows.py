"""Property tests of the window fold: the partial aggregates of calls, feedback and quality
results do not depend on their order, on how they are split into batches, or on a trip
through ``to_dict``/``from_dict`` between the batches (counts and integer sums exactly,
float sums to rounding, sketch quantiles within the sketch's relative accuracy)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmpulse.records import InferenceRecord
from llmpulse.schema import FeedbackEvent
from llmpulse.scoring.tasks import CallRef, Evaluation, ScoreResult
from llmpulse.windows import (
    COUNTERS,
    QUANTILES,
    RELATIVE_ACCURACY,
    SKETCHES,
    STANDARD_GROUPINGS,
    GroupKey,
    WindowAggregate,
    fold,
    fold_feedback,
    fold_quality,
)

T = TypeVar("T")
Partials = dict[tuple[GroupKey, float], WindowAggregate]
PANE = 10.0
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
MODELS, ROUTES, TENANTS = ("gpt-4o", "claude"), ("chat", "rag"), ("acme", "globex")

seconds = st.floats(min_value=0.0, max_value=35.0, allow_nan=False)
tokens = st.none() | st.integers(0, 100_000)


@st.composite
def records(draw: st.DrawFn) -> tuple[InferenceRecord, float | None]:
    start = T0 + timedelta(seconds=draw(seconds))
    duration = draw(st.floats(min_value=0.0, max_value=120.0, allow_nan=False))
    status = draw(st.sampled_from(["inference", "joined", "response_only", "request_only"]))
    end = None if status == "request_only" else start + timedelta(seconds=duration)
    record = InferenceRecord(
        request_id=f"r{draw(st.integers(0, 10**6))}", join_status=status,
        provider="openai", request_model=draw(st.sampled_from(MODELS)),
        response_model=None, operation="chat",
        start_time=None if status == "response_only" and draw(st.booleans()) else start,
        end_time=end, tenant=draw(st.sampled_from(TENANTS)),
        route=draw(st.sampled_from(ROUTES)), input_tokens=draw(tokens),
        output_tokens=draw(tokens),
        finish_reasons=tuple(draw(st.lists(st.sampled_from(["stop", "length",
                                                            "content_filter"]), max_size=2))),
        time_to_first_chunk=draw(st.none() | st.floats(0.0, duration)) if end else None,
        error_type=draw(st.none() | st.sampled_from(["timeout", "rate_limit"])),
        prompt_template_id=draw(st.none() | st.sampled_from(["faq", "support"])),
        prompt_template_version=draw(st.none() | st.sampled_from(["v1", "v2"])),
    )
    cost = draw(st.none() | st.floats(0.0, 10.0))
    return record, cost


def call_refs() -> st.SearchStrategy[CallRef]:
    return st.builds(
        CallRef, request_id=st.sampled_from(["r1", "r2", "r3"]),
        call_time=seconds.map(lambda s: T0.timestamp() + s), model=st.sampled_from(MODELS),
        provider=st.just("openai"), route=st.sampled_from(ROUTES),
        tenant=st.sampled_from(TENANTS), request_model=st.sampled_from(MODELS),
        prompt_version=st.sampled_from(["none", "faq@v1"]))


@st.composite
def feedback(draw: st.DrawFn) -> tuple[FeedbackEvent, CallRef]:
    call = draw(call_refs())
    thumbs = draw(st.none() | st.sampled_from(["up", "down"]))
    rating = draw(st.none() | st.integers(1, 5))
    correction = draw(st.none() | st.just("Paris."))
    if thumbs is None and rating is None and correction is None:
        thumbs = "down"
    event = FeedbackEvent(request_id=call.request_id,
                          feedback_id=f"f{draw(st.integers(0, 10**6))}",
                          time=T0 + timedelta(seconds=draw(seconds)), thumbs=thumbs,
                          rating=rating, correction=correction)
    return event, call


#: Scorer names of a rolling upgrade (two versions; one on two execution providers).
TOXICITY_SCORERS = ("lexicon@1", "lexicon+minilm@2", "detoxify-onnx:o@1a2b3c4d/cpu",
                    "detoxify-onnx:o@1a2b3c4d/cuda+cpu")
GROUNDEDNESS_SCORERS = ("embedding:all-MiniLM-L6-v2@1", "embedding:all-MiniLM-L6-v2@2")


@st.composite
def results(draw: st.DrawFn) -> ScoreResult:
    evaluations = []
    if draw(st.booleans()):
        tox = draw(st.floats(0.0, 1.0))
        evaluations.append(Evaluation("toxicity", tox, "toxic" if tox > 0.5 else "ok",
                                      scorer=draw(st.sampled_from(TOXICITY_SCORERS))))
    if draw(st.booleans()):
        ground = draw(st.floats(0.0, 1.0))
        evaluations.append(Evaluation("groundedness", ground,
                                      "ungrounded" if ground < 0.5 else "grounded",
                                      scorer=draw(st.sampled_from(GROUNDEDNESS_SCORERS))))
    return ScoreResult(draw(call_refs()), "sampled", T0.timestamp(), tuple(evaluations))


def _merged(parts: Iterable[Partials], travel: bool) -> Partials:
    """The partials of many batches merged per (group, pane), as the windows stage does."""
    out: Partials = {}
    for part in parts:
        for key, agg in part.items():
            if travel:  # published to llm.windows and read back by another worker
                agg = WindowAggregate.from_dict(agg.to_dict())
            if key in out:
                out[key].merge(agg)
            else:
                out[key] = agg
    return out


def _split(items: Sequence[T], cuts: Sequence[int]) -> list[list[T]]:
    bounds = sorted({0, len(items), *(c % (len(items) + 1) for c in cuts)})
    return [list(items[a:b]) for a, b in pairwise(bounds)]


def _assert_same(expected: Partials, got: Partials, values: dict[str, list[float]] | None
                 ) -> None:
    assert set(expected) == set(got)
    for key, want in expected.items():
        have = got[key]
        for name in COUNTERS:
            assert getattr(have, name) == getattr(want, name), (key, name)
        assert have.cost_usd == pytest.approx(want.cost_usd, rel=1e-9, abs=1e-12)
        assert set(have.scores) == set(want.scores)
        for signal, parts in want.scores.items():  # per scorer version, never mixed
            assert set(have.scores[signal]) == set(parts), (key, signal)
            for version, part in parts.items():
                mine = have.scores[signal][version]
                assert (mine.scored, mine.flagged) == (part.scored, part.flagged)
                assert mine.total == pytest.approx(part.total, rel=1e-9, abs=1e-12)
                assert sorted(v for v, _ in mine.worst) == pytest.approx(
                    sorted(v for v, _ in part.worst))
        assert have.latest == want.latest
        for sketch in SKETCHES:
            mine, theirs = getattr(have, sketch), getattr(want, sketch)
            assert mine.count == theirs.count
            for q in QUANTILES:
                a, b = have.quantile(sketch, q), want.quantile(sketch, q)
                assert (a is None) == (b is None)
                if a is not None and b is not None:
                    assert a == pytest.approx(b, rel=1e-9, abs=1e-12)
        assert sorted(v for v, _ in have.slowest) == sorted(v for v, _ in want.slowest)
        assert sorted(v for v, _ in have.costliest) == pytest.approx(
            sorted(v for v, _ in want.costliest))
    if values is not None:
        _assert_accurate(got, values)


def _assert_accurate(partials: Partials, values: dict[str, list[float]]) -> None:
    """Per group key, the duration quantiles are within the sketch's relative accuracy of
    the exact ones (lower or upper neighbour of the rank)."""
    for (group, pane), agg in partials.items():
        exact = sorted(values.get(f"{group.encode()}|{pane}", []))
        if not exact:
            continue
        for q in QUANTILES:
            got = agg.quantile("duration", q)
            assert got is not None
            rank = q * (len(exact) - 1)
            near = {exact[math.floor(rank)], exact[math.ceil(rank)]}
            assert any(abs(got - v) <= RELATIVE_ACCURACY * v + 1e-9 for v in near), (
                got, near)


def _durations(calls: Sequence[tuple[InferenceRecord, float | None]]) -> dict[str, list[float]]:
    """The exact durations folded into each (group, pane), as ``fold`` files them."""
    from llmpulse.detectors.latency import duration_s
    from llmpulse.windows import pane_of

    out: dict[str, list[float]] = {}
    for record, _ in calls:
        when, duration = record.event_time, duration_s(record)
        if when is None or duration is None:
            continue
        pane = pane_of(when.timestamp(), PANE)
        for grouping in STANDARD_GROUPINGS:
            key = f"{GroupKey.of(record, grouping).encode()}|{pane}"
            out.setdefault(key, []).append(max(duration, 0.0))
    return out


def _check_fold(items: Sequence[T], order: Sequence[int], cuts: Sequence[int], travel: bool,
                folder: Callable[[Sequence[T]], Partials],
                values: dict[str, list[float]] | None = None) -> None:
    whole = folder(items)
    shuffled = [items[i] for i in sorted(range(len(items)), key=lambda i: order[i])]
    batches = _split(shuffled, cuts)
    _assert_same(whole, _merged([folder(b) for b in batches], travel), values)


def _orders(n: int = 40) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(), min_size=n, max_size=n)


@settings(max_examples=250, deadline=None)
@given(st.lists(records(), max_size=40), _orders(), st.lists(st.integers(0, 40), max_size=5),
       st.booleans())
def test_call_fold_is_order_and_batch_independent(
        calls: list[tuple[InferenceRecord, float | None]], order: list[int], cuts: list[int],
        travel: bool) -> None:
    now = T0.timestamp() + 100.0
    _check_fold(calls, order, cuts, travel,
                lambda batch: fold(batch, STANDARD_GROUPINGS, PANE, now=now),
                _durations([(r, c) for r, c in calls if r.join_status != "request_only"]))


@settings(max_examples=150, deadline=None)
@given(st.lists(feedback(), max_size=30), _orders(30),
       st.lists(st.integers(0, 30), max_size=5), st.booleans())
def test_feedback_fold_is_order_and_batch_independent(
        events: list[tuple[FeedbackEvent, CallRef]], order: list[int], cuts: list[int],
        travel: bool) -> None:
    _check_fold(events, order, cuts, travel,
                lambda batch: fold_feedback(batch, STANDARD_GROUPINGS, PANE))


@settings(max_examples=150, deadline=None)
@given(st.lists(results(), max_size=30), _orders(30),
       st.lists(st.integers(0, 30), max_size=5), st.booleans())
def test_quality_fold_is_order_and_batch_independent(
        scored: list[ScoreResult], order: list[int], cuts: list[int], travel: bool) -> None:
    _check_fold(scored, order, cuts, travel,
                lambda batch: fold_quality(batch, STANDARD_GROUPINGS, PANE))

