"""Prompt-embedding drift: Evidently's embedding drift methods, called directly.

``model`` (the default) trains a linear classifier to tell reference rows from current
rows on one half and scores its ROC AUC on the other half; with no drift the AUC is that of
a random ranking, whose spread is known (Mann-Whitney), so the threshold follows the
sample size and the false-alarm share the caller allows.  ``mmd``, ``distance`` and
``ratio`` use Evidently's default thresholds.  Inputs are subsampled by the caller; MMD is
additionally capped at :data:`~llmpulse.drift.policy.MMD_MAX_ROWS` rows per side.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from llmpulse.drift import _evidently as evidently
from llmpulse.drift.outcome import ScoreKind, StatOutcome
from llmpulse.drift.policy import MMD_MAX_ROWS, EmbeddingMethod
from llmpulse.drift.sampling import subsample_indices

#: Evidently's default ROC AUC threshold for the classifier method: the lowest we use.
MODEL_MIN_THRESHOLD = 0.55


def model_threshold(n_ref: int, n_cur: int, false_alarm: float) -> float:
    """The ROC AUC a random classifier exceeds with probability ``false_alarm`` when scored
    on half of each side (normal approximation of the Mann-Whitney U null)."""
    n1, n2 = max(1, n_ref // 2), max(1, n_cur // 2)
    spread = math.sqrt((n1 + n2 + 1) / (12.0 * n1 * n2))
    return max(MODEL_MIN_THRESHOLD, 0.5 + NormalDist().inv_cdf(1.0 - false_alarm) * spread)


def _method(name: EmbeddingMethod, n_ref: int, n_cur: int, false_alarm: float | None
            ) -> tuple[Any, ScoreKind, float]:
    methods = evidently.embedding_methods()
    if name == "model":
        threshold = (model_threshold(n_ref, n_cur, false_alarm) if false_alarm is not None
                     else MODEL_MIN_THRESHOLD)
        return methods.model(threshold=threshold), "roc_auc", threshold
    made: Any = {"mmd": methods.mmd, "distance": methods.distance,
                 "ratio": methods.ratio}[name]()
    return made, "distance", float(made.threshold)


def _frame(rows: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[f"e{i}" for i in range(rows.shape[1])])


def embedding_test(reference: np.ndarray, current: np.ndarray, method: EmbeddingMethod,
                   false_alarm: float | None, seed: int = 0) -> StatOutcome:
    """Drift between two sets of embedding rows (same embedder, same dimension);
    ``false_alarm=None``: Evidently's default thresholds (0.55 for ``model``)."""
    if reference.shape[1] != current.shape[1]:
        raise ValueError(f"embedding dimensions differ: {reference.shape[1]} and "
                         f"{current.shape[1]}")
    if method == "mmd":
        reference = reference[subsample_indices(len(reference), MMD_MAX_ROWS, seed)]
        current = current[subsample_indices(len(current), MMD_MAX_ROWS, seed + 1)]
    drift_method, score_kind, threshold = _method(method, len(reference), len(current),
                                                  false_alarm)
    score, drifted, _ = drift_method(_frame(current), _frame(reference))
    return StatOutcome(method, score_kind, float(score), threshold, bool(drifted))
