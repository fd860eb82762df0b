"""Small, pure evaluation metrics for the model-backed scorers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def roc_auc(scores_pos: Sequence[float], scores_neg: Sequence[float]) -> float:
    """Area under the ROC curve: the probability that a random positive outscores a random
    negative, ties counting one half (the Mann-Whitney U statistic over n_pos * n_neg)."""
    if not scores_pos or not scores_neg:
        raise ValueError("roc_auc needs at least one positive and one negative score")
    labelled = sorted([(s, 1) for s in scores_pos] + [(s, 0) for s in scores_neg])
    rank_sum, start = 0.0, 0
    while start < len(labelled):
        end = start
        while end < len(labelled) and labelled[end][0] == labelled[start][0]:
            end += 1
        mid_rank = (start + 1 + end) / 2  # average 1-based rank of the tied block
        rank_sum += mid_rank * sum(label for _, label in labelled[start:end])
        start = end
    n_pos, n_neg = len(scores_pos), len(scores_neg)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def precision_recall(scores_pos: Sequence[float], scores_neg: Sequence[float],
                     threshold: float) -> tuple[float, float]:
    """Precision and recall of flagging scores ``>= threshold`` (precision 1.0 when nothing
    is flagged)."""
    hits = sum(score >= threshold for score in scores_pos)
    false = sum(score >= threshold for score in scores_neg)
    precision = hits / (hits + false) if hits + false else 1.0
    recall = hits / len(scores_pos) if scores_pos else 0.0
    return precision, recall


def fold_of(categories: Sequence[str], folds: int) -> np.ndarray:
    """Cross-validation fold of each row: its position among the rows of its category,
    modulo ``folds`` (every fold gets its share of each category)."""
    seen: dict[str, int] = {}
    out = np.empty(len(categories), dtype=np.int64)
    for i, category in enumerate(categories):
        out[i] = seen.get(category, 0) % folds
        seen[category] = seen.get(category, 0) + 1
    return out
