"""Drift detection: is the current window of calls distributed like the reference?

Pure (no I/O, no clock; subsampling seeded): :func:`build_table` turns records into
per-feature arrays (lengths, tokens, latency, quality scores, finish reason, prompt
script, prompt embeddings), :func:`detect_drift` compares two tables with Evidently's
statistical tests and gives per-feature results and a verdict under a
:class:`DriftPolicy` (documented in :mod:`llmpulse.drift.policy`).  Evidently itself is
imported on the first test, not with this package.
"""

from __future__ import annotations

from llmpulse.drift.detector import detect_drift
from llmpulse.drift.features import FEATURES, FeatureTable, Scores, build_table
from llmpulse.drift.policy import DriftPolicy
from llmpulse.drift.results import DriftReport, FeatureDrift

__all__ = ["FEATURES", "DriftPolicy", "DriftReport", "FeatureDrift", "FeatureTable", "Scores",
           "build_table", "detect_drift"]
