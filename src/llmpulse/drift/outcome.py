"""The result of one statistical test, and how strongly it points at drift."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

ScoreKind = Literal["p_value", "distance", "roc_auc"]
#: p-values are floored here before taking logs (a p-value of 0 is "as strong as it gets").
P_FLOOR = 1e-300


@dataclass(frozen=True, slots=True)
class StatOutcome:
    """``score`` against ``threshold``: a p-value drifts below it, a distance or an ROC AUC
    at or above it."""

    method: str
    score_kind: ScoreKind
    score: float
    threshold: float
    drifted: bool

    @property
    def severity(self) -> float:
        """The score relative to its threshold, comparable across methods: 1 at the
        threshold, above 1 drifted, 0 for no difference at all (log scale for p-values)."""
        if math.isnan(self.score):
            return 0.0
        if self.score_kind == "p_value":
            return max(0.0, math.log(max(self.score, P_FLOOR)) / math.log(self.threshold))
        if self.score_kind == "roc_auc":
            return max(0.0, self.score - 0.5) / (self.threshold - 0.5)
        return self.score / self.threshold
