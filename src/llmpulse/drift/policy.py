"""How drift is decided: sample sizes, thresholds, the overall verdict, the per-window cost caps.

The policy in one place (see :func:`llmpulse.drift.detector.detect_drift`):

- **Too little data never alarms.**  A window with fewer than ``min_samples`` events on
  either side is ``insufficient_data``; so is any feature with fewer than ``min_samples``
  values on either side (it is reported, not tested).
- **A feature drifts when the difference is significant and material**, both judged by
  Evidently's tests (:mod:`llmpulse.drift.columns`): numeric -- Kolmogorov-Smirnov p-value
  and Wasserstein distance normed by the reference std; categorical (and numeric with at
  most 5 distinct values) -- chi-square (Z-test for two values) p-value and Jensen-Shannon
  distance; prompt embeddings -- Evidently's domain-classifier method (``model``: ROC AUC
  of a classifier telling reference from current apart on a held-out half).
- **Thresholds keep the false-alarm rate per window at about ``alpha`` at any size.**  The
  p-value tests share ``alpha`` (Bonferroni: a feature is significant at p < alpha /
  features tested); the classifier's ROC AUC must exceed what a random ranking reaches with
  that same probability (Mann-Whitney null for the held-out sizes).  Materiality is
  Evidently's default: distance >= 0.1, ROC AUC > 0.55.  Why not Evidently's own rule
  (p-values up to 1,000 reference rows, distances >= 0.1 alone above): a normed Wasserstein
  distance between two stationary samples of 2,000 and 500 rows exceeds 0.1 a few percent
  of the time per feature, i.e. dozens of false alarms per 100 windows
  (``bench/drift_eval.py`` measures both; ``column_tests="evidently_defaults"`` selects it).
  The default ``alpha`` of 1e-4 is about one false alarm per 10,000 windows of stationary
  traffic.  Categories seen fewer than max(30, 2 % of the rows) times are pooled first
  (chi-square is unreliable on tiny counts).
- **Overall verdict**: drift when any *key* feature drifted (by default every feature is
  key, because a shift usually moves one or two descriptors only), or when the share of
  drifted features among those tested reaches ``drift_share`` (Evidently's dataset-drift
  rule; it matters when ``key_features`` names a subset).
- **Bounded cost**: each side is subsampled (seeded, without replacement) to ``max_rows``
  for the per-column tests and ``max_embedding_rows`` for the embedding method; MMD, whose
  kernel is quadratic in the rows, never sees more than 1,000 per side.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from llmpulse.drift.columns import ColumnTests
from llmpulse.drift.features import FEATURES

EmbeddingMethod = Literal["model", "mmd", "distance", "ratio"]
EMBEDDING_METHODS: tuple[EmbeddingMethod, ...] = ("model", "mmd", "distance", "ratio")
#: MMD builds an (n_ref + n_cur)^2 kernel: never more rows than this per side.
MMD_MAX_ROWS = 1000


@dataclass(frozen=True, slots=True)
class DriftPolicy:
    min_samples: int = 100
    alpha: float = 1e-4
    drift_share: float = 0.5
    key_features: frozenset[str] | None = None  # None: every feature is key
    features: tuple[str, ...] | None = None  # None: every feature in the catalogue
    max_rows: int = 5000
    max_embedding_rows: int = 1000
    embedding_method: EmbeddingMethod = "model"
    column_tests: ColumnTests = "significance_and_effect"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.min_samples < 2:
            raise ValueError("min_samples must be at least 2")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError("alpha must be between 0 and 1")
        if not 0.0 < self.drift_share <= 1.0:
            raise ValueError("drift_share must be in (0, 1]")
        if self.max_rows < self.min_samples or self.max_embedding_rows < self.min_samples:
            raise ValueError("max_rows and max_embedding_rows must be at least min_samples")
        if self.embedding_method not in EMBEDDING_METHODS:
            raise ValueError(f"embedding_method must be one of {', '.join(EMBEDDING_METHODS)}")
        named = (*(self.features or ()), *(self.key_features or ()))
        unknown = sorted({name for name in named if name not in FEATURES})
        if unknown:
            raise ValueError(f"unknown drift feature(s) {', '.join(unknown)}; "
                             f"known: {', '.join(FEATURES)}")

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The features to test, in catalogue order unless given."""
        return self.features if self.features is not None else tuple(FEATURES)

    def is_key(self, feature: str) -> bool:
        return self.key_features is None or feature in self.key_features

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("key_features", "features"):
            if out[name] is not None:
                out[name] = sorted(out[name])
        return out
