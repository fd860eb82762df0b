"""Toxicity from sentence embeddings: a logistic regression over all-MiniLM-L6-v2 vectors,
trained on the labelled corpus shipped with llmpulse, combined with the lexicon.

Pure; no I/O.  The embedder and the corpus text are handed in (``llmpulse.models.
toxicity_classifier`` loads them).  Training is deterministic: L2-regularised Newton
steps from zero weights, folds assigned by position within each category, no random state.

The embedding catches what a word list cannot (threats, dehumanising statements and
harassment with no swear word; fiction, news and medicine that mention violence or bodies);
the lexicon catches spellings the embedding blurs ("ur a 1d10t").  The toxicity score is the
larger of the two; the other labels are the lexicon's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from llmpulse.detectors.toxicity import TOXICITY_LABELS, LexiconToxicityModel
from llmpulse.evaluation import fold_of, roc_auc

if TYPE_CHECKING:
    from llmpulse.detectors.groundedness import Embedder

#: Version of the scorer, stored with every score: bump it when the corpus, the features or
#: the training change, so that scores of different models can be told apart.
SCORER = "lexicon+minilm@2"
POSITIVE_CATEGORIES = ("explicit_insult", "implicit", "threat", "dehumanisation", "harassment")
NEGATIVE_CATEGORIES = ("fiction", "news_violence", "medicine", "quotation", "reclaimed", "clean")
#: Toxicity without swear words, and the clean texts that look most like it.
IMPLICIT = ("implicit", "threat", "dehumanisation", "harassment")
HARD_CLEAN = ("fiction", "news_violence", "medicine", "quotation", "reclaimed")
SPLITS = ("train", "heldout")
#: Share of the training split's clean texts (out of fold) the default threshold may flag.
#: Monitored traffic is mostly clean, and the corpus' clean texts are mostly hard ones, so
#: the threshold favours precision over the F1 optimum of a balanced set.
MAX_FALSE_POSITIVE_RATE = 0.05
#: L2 strengths tried by cross-validation on the training split.
L2_GRID = (0.3, 1.0, 3.0, 10.0)
FOLDS = 5


@dataclass(frozen=True, slots=True)
class LabelledText:
    text: str
    label: int  # 1 toxic, 0 not
    category: str
    split: str  # "train" or "heldout"


def parse_corpus(jsonl: str) -> list[LabelledText]:
    """The corpus' rows; a row with a missing field, an unknown category or split, or a
    label that contradicts its category is an error."""
    rows = []
    for number, line in enumerate(jsonl.splitlines(), 1):
        if not line.strip():
            continue
        raw = json.loads(line)
        row = LabelledText(str(raw["text"]), int(raw["label"]), str(raw["category"]),
                           str(raw["split"]))
        expected = (1 if row.category in POSITIVE_CATEGORIES
                    else 0 if row.category in NEGATIVE_CATEGORIES else None)
        if expected is None or row.label != expected or row.split not in SPLITS:
            raise ValueError(f"toxicity corpus line {number}: bad category, label or split "
                             f"({row.category!r}, {row.label}, {row.split!r})")
        rows.append(row)
    return rows


def sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))
    return out


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, *, max_steps: int = 50
                 ) -> np.ndarray:
    """Weights (the last one the bias, not penalised) minimising the log loss plus
    ``l2 / 2 * |w|^2``, by Newton's method from zero."""
    rows, dims = x.shape
    design = np.hstack([x.astype(np.float64), np.ones((rows, 1))])
    penalty = np.full(dims + 1, l2)
    penalty[-1] = 1e-6  # keeps the Hessian invertible when a class is perfectly separated
    weights = np.zeros(dims + 1)
    for _ in range(max_steps):
        p = sigmoid(design @ weights)
        gradient = design.T @ (p - y) + penalty * weights
        hessian = (design * (p * (1.0 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if float(np.abs(step).max()) < 1e-9:
            break
    return weights


def threshold_at_fpr(scores: np.ndarray, labels: np.ndarray,
                     max_fpr: float = MAX_FALSE_POSITIVE_RATE) -> float:
    """The lowest threshold that flags at most ``max_fpr`` of the clean rows: halfway
    between the highest clean score left below it and the next higher score."""
    clean = np.sort(scores[labels == 0])[::-1]
    if clean.size == 0:
        raise ValueError("threshold_at_fpr needs clean rows")
    allowed = math.floor(max_fpr * clean.size + 1e-9)
    if allowed >= clean.size:
        return float(scores.min()) / 2
    kept = float(clean[allowed])  # the highest clean score that must stay below
    above = scores[scores > kept]
    return (kept + float(above.min())) / 2 if above.size else (kept + 1.0) / 2


@dataclass(frozen=True, slots=True)
class TrainedClassifier:
    weights: np.ndarray = field(repr=False)  # one per embedding dimension, then the bias
    calibration: tuple[float, float]  # slope and intercept on the classifier's logit
    l2: float
    threshold: float  # on the combined score: out of fold, flags <= 5 % of clean train rows
    cv_auc: float  # out-of-fold ROC-AUC of the combined score on the training split

    def probability(self, embeddings: np.ndarray) -> np.ndarray:
        slope, intercept = self.calibration
        return sigmoid(slope * _logit(self.weights, embeddings) + intercept)


def _logit(weights: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
    out: np.ndarray = embeddings.astype(np.float64) @ weights[:-1] + weights[-1]
    return out


def calibrate(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Slope and intercept that turn out-of-fold logits into probabilities (Platt scaling)."""
    slope, intercept = fit_logistic(logits[:, None], labels.astype(np.float64), 1e-3)
    return float(slope), float(intercept)


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    return roc_auc(scores[labels == 1].tolist(), scores[labels == 0].tolist())


def train_classifier(embeddings: np.ndarray, labels: np.ndarray, categories: Sequence[str],
                     lexicon_scores: np.ndarray, *, l2_grid: Sequence[float] = L2_GRID,
                     folds: int = FOLDS) -> TrainedClassifier:
    """Pick the L2 strength with the best out-of-fold AUC of the combined score, calibrate
    the classifier and set the threshold from those out-of-fold scores, then fit the weights
    on all the rows given."""
    y = labels.astype(np.float64)
    fold = fold_of(categories, folds)
    best: tuple[float, float, tuple[float, float], np.ndarray] | None = None
    for l2 in l2_grid:
        held = np.empty(len(y))
        for k in range(folds):
            weights = fit_logistic(embeddings[fold != k], y[fold != k], l2)
            held[fold == k] = _logit(weights, embeddings[fold == k])
        slope, intercept = calibrate(held, labels)
        combined = np.maximum(sigmoid(slope * held + intercept), lexicon_scores)
        auc = _auc(combined, labels)
        if best is None or auc > best[0]:
            best = (auc, l2, (slope, intercept), combined)
    if best is None:
        raise ValueError("l2_grid is empty")
    auc, l2, calibration, combined = best
    return TrainedClassifier(fit_logistic(embeddings, y, l2), calibration, l2,
                             threshold_at_fpr(combined, labels), auc)


class EmbeddingToxicityModel:
    """The classifier's probability or the lexicon's toxicity, whichever is higher; the
    lexicon's other labels."""

    def __init__(self, embedder: Embedder, classifier: TrainedClassifier,
                 lexicon: LexiconToxicityModel | None = None) -> None:
        self._embedder = embedder
        self.classifier = classifier
        self._lexicon = lexicon or LexiconToxicityModel()

    @property
    def scorer(self) -> str:
        return SCORER

    @property
    def labels(self) -> tuple[str, ...]:
        return TOXICITY_LABELS

    @property
    def threshold(self) -> float:
        return self.classifier.threshold

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if not texts:
            return []
        learned = self.classifier.probability(self._embedder.embed(texts))
        rows = self._lexicon.predict(texts)
        for row, p in zip(rows, learned, strict=True):
            row["toxicity"] = max(row["toxicity"], float(p))
        return rows


def train_model(embedder: Embedder, corpus: Sequence[LabelledText]) -> EmbeddingToxicityModel:
    """The model trained on the corpus' training split (the held-out rows are not seen)."""
    train = [row for row in corpus if row.split == "train"]
    if not train or len({row.label for row in train}) < 2:
        raise ValueError("the toxicity corpus needs toxic and clean rows in its training split")
    texts = [row.text for row in train]
    lexicon = LexiconToxicityModel()
    lexicon_scores = np.array([p["toxicity"] for p in lexicon.predict(texts)])
    classifier = train_classifier(embedder.embed(texts), np.array([row.label for row in train]),
                                  [row.category for row in train], lexicon_scores)
    if not math.isfinite(classifier.threshold):
        raise ValueError("toxicity classifier training gave no usable threshold")
    return EmbeddingToxicityModel(embedder, classifier, lexicon)
