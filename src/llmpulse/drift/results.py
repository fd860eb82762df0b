"""What a drift check found: one result per feature and the overall verdict, JSON-ready."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from llmpulse.drift.features import Kind
from llmpulse.drift.outcome import StatOutcome

FeatureStatus = Literal["tested", "insufficient_data", "incompatible"]
Verdict = Literal["drift", "no_drift", "insufficient_data"]


def _finite(value: float | None, digits: int = 6) -> float | None:
    if value is None or math.isnan(value):
        return None
    if math.isinf(value):
        return 1e308 if value > 0 else -1e308
    return float(f"{value:.{digits}g}")


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    """One feature's tests; it drifted when every test says so."""

    feature: str
    kind: Kind
    status: FeatureStatus
    n_ref: int
    n_cur: int
    tests: tuple[StatOutcome, ...] = ()
    note: str = ""

    @property
    def drifted(self) -> bool:
        return bool(self.tests) and all(t.drifted for t in self.tests)

    @property
    def severity(self) -> float:
        """The weakest test's score relative to its threshold (>= 1 exactly when drifted)."""
        return min((t.severity for t in self.tests), default=0.0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature, "kind": self.kind, "status": self.status,
            "drifted": self.drifted, "severity": _finite(self.severity, 4),
            "n_ref": self.n_ref, "n_cur": self.n_cur,
            "tests": [_test_dict(t) for t in self.tests],
            **({"note": self.note} if self.note else {}),
        }


def _test_dict(t: StatOutcome) -> dict[str, Any]:
    return {"method": t.method, "score_kind": t.score_kind, "score": _finite(t.score),
            "threshold": _finite(t.threshold), "drifted": t.drifted}


@dataclass(frozen=True, slots=True)
class DriftReport:
    """The verdict; ``features`` is sorted strongest drift first (by severity)."""

    status: Verdict
    reason: str
    n_ref: int
    n_cur: int
    features: tuple[FeatureDrift, ...]
    embedder: str | None = None
    policy: dict[str, Any] = field(default_factory=dict)

    @property
    def drifted(self) -> bool:
        return self.status == "drift"

    @property
    def drifted_features(self) -> tuple[str, ...]:
        return tuple(f.feature for f in self.features if f.drifted)

    @property
    def top_feature(self) -> str | None:
        """The feature that drifted most, if any did."""
        drifted = self.drifted_features
        return drifted[0] if drifted else None

    @property
    def share_drifted(self) -> float:
        tested = [f for f in self.features if f.status == "tested"]
        return len(self.drifted_features) / len(tested) if tested else 0.0

    def scores(self) -> dict[str, float]:
        """Per-feature severity of the tested features (the signal values to export)."""
        return {f.feature: f.severity for f in self.features if f.status == "tested"}

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status, "drifted": self.drifted, "reason": self.reason,
            "drifted_features": list(self.drifted_features),
            "share_drifted": _finite(self.share_drifted, 4),
            "n_ref": self.n_ref, "n_cur": self.n_cur, "embedder": self.embedder,
            "features": [f.as_dict() for f in self.features], "policy": self.policy,
        }
