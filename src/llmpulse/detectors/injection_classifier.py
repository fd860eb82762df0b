"""A logistic regression over n-grams that scores injection attempts, trained on a labelled
corpus.

Pure; no I/O.  The corpus text and the rules' scores are handed in
(:mod:`llmpulse.models.injection_classifier` reads the corpus shipped with llmpulse).

Features (:mod:`injection_features`): the set of word, word-pair and character n-grams of
the normalised text, scaled to unit length, plus the rules' score and a constant.  With a
few hundred texts and tens of thousands of n-grams, the model is fitted in its dual form:
the weights are a sum of the training texts' feature vectors, so Newton's method runs on
one coefficient per text over the texts' overlap matrix (an n x n kernel), and the
n-gram weights are read off at the end.  Training is deterministic: Newton steps from
zero, folds assigned by position within each category, no random state.  The L2 strength
is chosen by cross-validation on the corpus, and the logits are calibrated to
probabilities (Platt scaling) on the out-of-fold logits.

Scoring a text is a sum of the weights of the n-grams it holds, so it costs about as much
as building its n-grams: no matrix, no numpy, per text.
"""

from __future__ import annotations

import heapq
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat

import numpy as np

from llmpulse.detectors.injection_features import is_word, ngrams, readable, windows
from llmpulse.evaluation import fold_of, roc_auc

#: L2 strengths tried by cross-validation.
L2_GRID = (0.001, 0.003, 0.01, 0.03)
#: L2 strengths whose out-of-fold ROC-AUC is this close to the best count as ties: the
#: strongest of them is taken (the smoother model).
AUC_TIE = 0.002
FOLDS = 5
#: Values of the constant and of the rules-score features (a larger value is penalised
#: less by the L2 term).
BIAS_VALUE = 1.0
RULES_VALUE = 2.0
MAX_STEPS = 60
#: Share of the corpus' benign texts (out of fold) the default threshold may flag.
MAX_FALSE_POSITIVE_RATE = 0.05


@dataclass(frozen=True, slots=True)
class LabelledText:
    text: str
    label: int  # 1 injection attempt, 0 benign
    category: str


def parse_corpus(jsonl: str) -> list[LabelledText]:
    """The corpus' rows; a row with a missing field or a label other than 0 or 1 is an
    error."""
    rows = []
    for number, line in enumerate(jsonl.splitlines(), 1):
        if not line.strip():
            continue
        raw = json.loads(line)
        row = LabelledText(str(raw["text"]), int(raw["label"]), str(raw["category"]))
        if row.label not in (0, 1) or not row.text:
            raise ValueError(f"injection corpus line {number}: bad label or empty text")
        rows.append(row)
    return rows


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))
    return out


@dataclass(frozen=True, slots=True)
class Scored:
    probability: float
    features: frozenset[str]  # of the window that scored highest


@dataclass(frozen=True, slots=True)
class InjectionClassifier:
    weights: dict[str, float] = field(repr=False)  # n-gram -> weight (unit-length inputs)
    rules_weights: tuple[float, ...]  # of the rules' features
    bias: float
    calibration: tuple[float, float]  # slope and intercept on the logit
    l2: float
    cv_auc: float  # out-of-fold ROC-AUC on the training corpus
    texts: int  # training texts

    def logit(self, features: frozenset[str], rules: Sequence[float]) -> float:
        total = sum(map(self.weights.get, features, repeat(0.0)))
        return (total / math.sqrt(max(1, len(features)))
                + sum(w * r for w, r in zip(self.rules_weights, rules, strict=True))
                + self.bias)

    def score(self, reading: str, rules: Sequence[float]) -> Scored:
        """The calibrated probability of the most suspicious window of ``reading`` (a
        normalised text), with that window's n-grams."""
        best: tuple[float, frozenset[str]] | None = None
        for window in windows(reading):
            features = ngrams(window)
            z = self.logit(features, rules)
            if best is None or z > best[0]:
                best = (z, features)
        if best is None:
            return Scored(self.probability(self.logit(frozenset(), rules)), frozenset())
        z, features = best
        return Scored(self.probability(z), features)

    def probability(self, logit: float) -> float:
        slope, intercept = self.calibration
        return sigmoid(slope * logit + intercept)

    def top_features(self, features: frozenset[str], n: int) -> tuple[str, ...]:
        """The ``n`` strongest positive word features (words and pairs), else the strongest
        character n-grams, readable."""
        get = self.weights.get
        words = [(w, f) for f in features if is_word(f) and (w := get(f, 0.0)) > 0]
        top = [f for _, f in heapq.nlargest(n, words)]
        if len(top) < n:
            chars = [(w, f) for f in features if not is_word(f) and (w := get(f, 0.0)) > 0]
            top += [f for _, f in heapq.nlargest(n - len(top), chars)]
        return tuple(readable(f) for f in top)


# --- training --------------------------------------------------------------------------------

def kernel(features: Sequence[frozenset[str]], rules: np.ndarray) -> np.ndarray:
    """Inner products of the texts' feature vectors: shared n-grams over the product of
    the norms, plus the rules' features (``rules``: one row per text) and the constant.
    Each text's n-grams found in more than one text are a bit mask, and a pair's shared
    n-grams the bits of the masks' intersection."""
    counts = Counter(f for fs in features for f in fs)
    ids = {f: i for i, f in enumerate(f for f, c in counts.items() if c > 1)}
    masks = []
    for fs in features:
        bits = bytearray((len(ids) + 7) // 8)
        for f in fs:
            if (i := ids.get(f)) is not None:
                bits[i >> 3] |= 1 << (i & 7)
        masks.append(int.from_bytes(bits, "little"))
    n = len(features)
    out = np.empty((n, n))
    norms = [math.sqrt(max(1, len(f))) for f in features]
    for i in range(n):
        mi, ni = masks[i], norms[i]
        out[i, i] = len(features[i]) / (ni * ni)
        row = [(mi & masks[j]).bit_count() / (ni * norms[j]) for j in range(i + 1, n)]
        out[i, i + 1:] = row
        out[i + 1:, i] = row
    out += RULES_VALUE ** 2 * (rules @ rules.T) + BIAS_VALUE ** 2
    return out


def fit_dual(k: np.ndarray, y: np.ndarray, l2: float, *, max_steps: int = MAX_STEPS
             ) -> np.ndarray:
    """Coefficients ``a`` (weights ``X.T @ a``) minimising the log loss of ``k @ a`` plus
    ``l2 / 2 * |X.T @ a|^2``, by Newton's method from zero."""
    n = len(y)
    a = np.zeros(n)
    for _ in range(max_steps):
        p = _sigmoid(k @ a)
        w = p * (1.0 - p)
        step = np.linalg.solve(w[:, None] * k + l2 * np.eye(n), p - y + l2 * a)
        a -= step
        if float(np.abs(step).max()) < 1e-5:
            break
    return a


def calibrate(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Slope and intercept that turn out-of-fold logits into probabilities."""
    slope, intercept = 1.0, 0.0
    for _ in range(100):
        p = _sigmoid(slope * logits + intercept)
        w = np.maximum(p * (1.0 - p), 1e-12)
        g = np.array([np.sum((p - labels) * logits), np.sum(p - labels)])
        h = np.array([[np.sum(w * logits * logits) + 1e-6, np.sum(w * logits)],
                      [np.sum(w * logits), np.sum(w) + 1e-6]])
        step = np.linalg.solve(h, g)
        slope, intercept = slope - float(step[0]), intercept - float(step[1])
        if float(np.abs(step).max()) < 1e-10:
            break
    return slope, intercept


def prior_shift(calibration: tuple[float, float], logits: np.ndarray, labels: np.ndarray,
                max_fpr: float = MAX_FALSE_POSITIVE_RATE) -> tuple[float, float]:
    """The calibration moved so that a probability of 0.5 flags at most ``max_fpr`` of the
    benign texts (out of fold); unchanged when it already does.  The corpus is balanced,
    monitored traffic is mostly benign: the default threshold favours precision."""
    slope, intercept = calibration
    benign = np.sort(slope * logits[labels == 0] + intercept)[::-1]
    allowed = math.floor(max_fpr * benign.size + 1e-9)
    if benign.size == 0 or allowed >= benign.size:
        return calibration
    kept = float(benign[allowed])  # the highest benign logit that must stay below 0.5
    return (slope, intercept - kept - 1e-6) if kept >= 0.0 else calibration


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    return roc_auc(scores[labels == 1].tolist(), scores[labels == 0].tolist())


def train(readings: Sequence[str], labels: Sequence[int], categories: Sequence[str],
          rules_features: Sequence[Sequence[float]], *, l2_grid: Sequence[float] = L2_GRID,
          folds: int = FOLDS) -> InjectionClassifier:
    """The classifier with the L2 strength of the best out-of-fold ROC-AUC (of the larger
    of its probability and the rules' score, as :func:`injection.assess` combines them;
    near-ties go to the strongest), calibrated on those out-of-fold logits, fitted on all
    the texts given.  ``rules_features``: per text, the rules' score first."""
    if len(set(labels)) < 2:
        raise ValueError("the injection corpus needs attempts and benign texts")
    features = [ngrams(r) for r in readings]
    rules = np.asarray(rules_features, dtype=np.float64).reshape(len(readings), -1)
    y = np.asarray(labels, dtype=np.float64)
    k = kernel(features, rules)
    fold = fold_of(categories, folds)
    tried: list[tuple[float, float, tuple[float, float], np.ndarray]] = []
    for l2 in l2_grid:
        held = np.empty(len(y))
        for part in range(folds):
            tr, te = fold != part, fold == part
            a = fit_dual(k[np.ix_(tr, tr)], y[tr], l2)
            held[te] = k[np.ix_(te, tr)] @ a
        calibration = calibrate(held, y)
        combined = np.maximum(_sigmoid(calibration[0] * held + calibration[1]), rules[:, 0])
        tried.append((_auc(combined, y.astype(np.int64)), l2, calibration, held))
    if not tried:
        raise ValueError("l2_grid is empty")
    top = max(t[0] for t in tried)
    auc, l2, calibration, held = max((t for t in tried if t[0] >= top - AUC_TIE),
                                     key=lambda t: t[1])
    calibration = prior_shift(calibration, held, y)
    a = fit_dual(k, y, l2)
    weights: dict[str, float] = {}
    for coefficient, f in zip(a, features, strict=True):
        share = float(coefficient) / math.sqrt(max(1, len(f)))
        for feature in f:
            weights[feature] = weights.get(feature, 0.0) + share
    return InjectionClassifier(
        weights=weights, rules_weights=tuple(float(v) for v in RULES_VALUE ** 2 * (a @ rules)),
        bias=BIAS_VALUE ** 2 * float(a.sum()), calibration=calibration, l2=l2, cv_auc=auc,
        texts=len(y))
