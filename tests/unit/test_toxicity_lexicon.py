from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from llmpulse.detectors.toxicity import (
    MAX_CHARS,
    TOXICITY_LABELS,
    LexiconToxicityModel,
    response_text,
    score_toxicity,
)
from llmpulse.records import InferenceRecord, from_inference
from llmpulse.schema import EVENT_ADAPTER
from tests.unit.factories import T0, inference

DATA = Path(__file__).parents[1] / "data" / "toxicity_set.jsonl"
NOW = datetime(2026, 11, 2, tzinfo=UTC)
MODEL = LexiconToxicityModel()


def labelled_set() -> list[tuple[str, bool]]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line]
    return [(row["text"], bool(row["toxic"])) for row in rows]


def roc_auc(scores: Sequence[float], positive: Sequence[bool]) -> float:
    """Mann-Whitney AUC from average ranks (ties share their rank)."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2 + 1
        start = end + 1
    n_pos = sum(positive)
    n_neg = len(positive) - n_pos
    rank_sum = sum(rank for rank, pos in zip(ranks, positive, strict=True) if pos)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def record(request_id: str, *contents: str) -> InferenceRecord:
    messages = [{"role": "assistant", "content": text} for text in contents]
    return from_inference(EVENT_ADAPTER.validate_python(
        inference(request_id, **{"gen_ai.output.messages": messages})))


def test_roc_auc_helper() -> None:
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == 1.0
    assert roc_auc([0.9, 0.8, 0.2, 0.1], [False, False, True, True]) == 0.0
    assert roc_auc([0.5, 0.5, 0.5, 0.5], [False, True, False, True]) == 0.5


def test_labelled_set_is_large_and_balanced() -> None:
    rows = labelled_set()
    assert sum(toxic for _, toxic in rows) >= 60
    assert sum(not toxic for _, toxic in rows) >= 60
    assert len({text for text, _ in rows}) == len(rows)


def test_lexicon_separates_the_labelled_set() -> None:
    rows = labelled_set()
    scores = [p["toxicity"] for p in MODEL.predict([text for text, _ in rows])]
    truth = [toxic for _, toxic in rows]
    assert roc_auc(scores, truth) >= 0.95
    flagged = [score >= 0.5 for score in scores]
    true_pos = sum(f and t for f, t in zip(flagged, truth, strict=True))
    assert true_pos / sum(flagged) >= 0.85  # precision
    assert true_pos / sum(truth) >= 0.85  # recall


@pytest.mark.parametrize("text", [
    "kill the process", "this bug is killing me", "shoot me an email",
    "the assassin's creed review", "Scunthorpe", "analysis",
    "We bought tents at Dick's Sporting Goods.", "The garbage collector freed 2 GB.",
    "You are not an idiot for asking.", 'The word "idiot" is in the quote.',
    "Muslims celebrate Eid after Ramadan.", "I would never hurt you.",
])
def test_benign_texts_with_tricky_words_stay_clean(text: str) -> None:
    assert MODEL.predict([text])[0]["toxicity"] < 0.3


@pytest.mark.parametrize("text", [
    "ur a 1d10t", "you are a f*cking moron", "you are so stuuuupid", "f u c k you",
    "what an a$$hole", "YOU ARE AN IDIOT", "you m0r0n",
])
def test_obfuscated_spellings_are_caught(text: str) -> None:
    assert MODEL.predict([text])[0]["toxicity"] >= 0.5


def test_negation_quotation_and_aim_move_the_score() -> None:
    aimed, plain, negated, quoted = (p["toxicity"] for p in MODEL.predict([
        "you are stupid", "stupid", "you are not stupid", 'he wrote "you are stupid" once']))
    assert aimed > plain > negated
    assert quoted < aimed


@pytest.mark.parametrize(("text", "label"), [
    ("I will kill you and your family", "threat"),
    ("you should die in a fire", "threat"),
    ("you are a pathetic worthless loser", "insult"),
    ("this shit is fucking bullshit", "obscene"),
    ("all immigrants are vermin and should be deported", "identity_attack"),
    ("send me nudes and suck my cock", "sexual_explicit"),
])
def test_each_kind_scores_highest_on_its_label(text: str, label: str) -> None:
    probs = MODEL.predict([text])[0]
    kinds = {name: p for name, p in probs.items() if name not in ("toxicity", "severe_toxicity")}
    assert max(kinds, key=kinds.__getitem__) == label
    assert probs[label] >= 0.5


def test_severe_toxicity_needs_strong_combinations() -> None:
    severe, mild = MODEL.predict(["kill yourself, you worthless piece of shit",
                                  "that was a stupid idea"])
    assert severe["severe_toxicity"] > 0.5
    assert mild["severe_toxicity"] < 0.05


def test_scores_are_probabilities_for_every_label() -> None:
    assert MODEL.scorer == "lexicon@1"
    assert MODEL.labels == TOXICITY_LABELS
    assert MODEL.predict([]) == []
    for probs in MODEL.predict(["", "hello", "you idiot " * 500, "!!!???***", "2024-11-01"]):
        assert tuple(probs) == TOXICITY_LABELS
        assert all(0.0 <= p <= 1.0 for p in probs.values())


def test_response_text_joins_output_messages() -> None:
    assert response_text(record("r1", "first", "second")) == "first\nsecond"
    assert response_text(record("r2")) == ""


def test_score_toxicity_signal_shapes() -> None:
    records = [record("bad", "You are a complete idiot."), record("good", "Happy to help!"),
               record("empty")]
    signals = score_toxicity(records, NOW, MODEL)
    by_request: dict[str, dict[str, Any]] = {}
    for signal in signals:
        by_request.setdefault(signal.request_id, {})[signal.name] = signal
    assert set(by_request) == {"bad", "good"}
    expected = ["toxicity"] + [f"toxicity.{label}" for label in TOXICITY_LABELS[1:]]
    assert [s.name for s in signals if s.request_id == "bad"] == expected
    bad, good = by_request["bad"]["toxicity"], by_request["good"]["toxicity"]
    assert (bad.label, good.label) == ("toxic", "ok")
    assert re.fullmatch(r"(\w+ \d\.\d\d)(, \w+ \d\.\d\d)*", bad.explanation)
    named = [part.split() for part in bad.explanation.split(", ")]
    values = {s.name.removeprefix("toxicity."): s.value for s in by_request["bad"].values()}
    assert "toxicity" in dict(named)
    assert [float(score) for _, score in named] == sorted(
        (float(score) for _, score in named), reverse=True)
    for label, score in named:
        assert values[label] >= 0.5 and f"{values[label]:.2f}" == score
    assert good.explanation == ""
    assert all(s.detector == "lexicon@1" for s in signals)
    assert all(s.label == "" for s in signals if s.name != "toxicity")
    assert bad.time == T0 + timedelta(seconds=2)
    assert (bad.model, bad.tenant, bad.route) == ("gpt-4o", "acme", "chat")


class RecordingModel:
    """A stand-in model: fixed scores for labels without "toxicity"; remembers its batches."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    @property
    def scorer(self) -> str:
        return "fake@0"

    @property
    def labels(self) -> tuple[str, ...]:
        return ("insult", "threat")

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        self.batches.append(list(texts))
        return [{"insult": 0.75, "threat": 0.25} for _ in texts]


def test_score_toxicity_batches_truncates_and_falls_back_to_the_max_label() -> None:
    model = RecordingModel()
    records = [record(f"r{i}", "x" * (MAX_CHARS + 10)) for i in range(5)]
    signals = score_toxicity(records, NOW, model, threshold=0.7, batch_size=2)
    assert [len(batch) for batch in model.batches] == [2, 2, 1]
    assert all(len(text) == MAX_CHARS for batch in model.batches for text in batch)
    top = [s for s in signals if s.name == "toxicity"]
    assert [s.value for s in top] == [0.75] * 5
    assert {s.explanation for s in top} == {"insult 0.75"}
    assert {s.name for s in signals} == {"toxicity", "toxicity.insult", "toxicity.threat"}
    assert all(s.detector == "fake@0" for s in signals)
    with pytest.raises(ValueError, match="batch_size"):
        score_toxicity(records, NOW, model, batch_size=0)
