"""Reference window against current window: per-feature tests and the overall verdict.

Pure and deterministic (subsampling is seeded by the policy); the policy is documented in
:mod:`llmpulse.drift.policy`.  The streaming pipeline calls :func:`detect_drift` once per
(model, window) with tables from :func:`llmpulse.drift.features.build_table`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmpulse.drift.columns import column_tests
from llmpulse.drift.embedding import embedding_test
from llmpulse.drift.features import FEATURES, FeatureTable, Kind
from llmpulse.drift.outcome import StatOutcome
from llmpulse.drift.policy import DriftPolicy
from llmpulse.drift.results import DriftReport, FeatureDrift, FeatureStatus
from llmpulse.drift.sampling import subsample_indices


@dataclass(frozen=True, slots=True)
class _Plan:
    feature: str
    kind: Kind
    reference: np.ndarray
    current: np.ndarray
    status: FeatureStatus
    note: str = ""

    def skipped(self) -> FeatureDrift:
        return FeatureDrift(self.feature, self.kind, self.status, len(self.reference),
                            len(self.current), note=self.note)


def _plan(feature: str, ref: FeatureTable, cur: FeatureTable, policy: DriftPolicy) -> _Plan:
    kind = FEATURES[feature]
    a, b = ref.values(feature), cur.values(feature)
    if kind == "embedding":
        if ref.embeddings is None or cur.embeddings is None:
            return _Plan(feature, kind, a, b, "insufficient_data", "no embeddings (no embedder)")
        if ref.embedder != cur.embedder or a.shape[1] != b.shape[1]:
            return _Plan(feature, kind, a, b, "incompatible",
                         f"embedded by {ref.embedder} and {cur.embedder}")
        a = a[subsample_indices(len(a), policy.max_embedding_rows, policy.seed)]
        b = b[subsample_indices(len(b), policy.max_embedding_rows, policy.seed + 1)]
    if min(len(a), len(b)) < policy.min_samples:
        return _Plan(feature, kind, a, b, "insufficient_data",
                     f"fewer than {policy.min_samples} values on a side")
    return _Plan(feature, kind, a, b, "tested")


def _run(plan: _Plan, false_alarm: float, policy: DriftPolicy) -> FeatureDrift:
    tests: tuple[StatOutcome, ...]
    if plan.kind == "embedding":
        calibrated = policy.column_tests == "significance_and_effect"
        tests = (embedding_test(plan.reference, plan.current, policy.embedding_method,
                                false_alarm if calibrated else None, policy.seed),)
    else:
        tests = column_tests(plan.reference, plan.current, plan.kind, false_alarm,
                             policy.column_tests)
    return FeatureDrift(plan.feature, plan.kind, "tested", len(plan.reference),
                        len(plan.current), tests)


def _bounded(table: FeatureTable, rows: int, seed: int) -> FeatureTable:
    return table if table.n_events <= rows else table.take(
        subsample_indices(table.n_events, rows, seed))


def detect_drift(reference: FeatureTable, current: FeatureTable,
                 policy: DriftPolicy | None = None) -> DriftReport:
    """Compare ``current`` with ``reference`` feature by feature and give the verdict."""
    policy = policy or DriftPolicy()
    names = policy.feature_names
    if min(reference.n_events, current.n_events) < policy.min_samples:
        return _too_small(reference, current, names, policy)
    ref = _bounded(reference, policy.max_rows, policy.seed)
    cur = _bounded(current, policy.max_rows, policy.seed + 1)
    plans = [_plan(name, ref, cur, policy) for name in names]
    tested = sum(p.status == "tested" for p in plans)
    false_alarm = policy.alpha / max(1, tested)  # Bonferroni over the features tested
    results = [_run(p, false_alarm, policy) if p.status == "tested" else p.skipped()
               for p in plans]
    results.sort(key=lambda f: -f.severity)  # stable: catalogue order among equals
    return _verdict(tuple(results), reference, current, policy)


def _too_small(reference: FeatureTable, current: FeatureTable, names: tuple[str, ...],
               policy: DriftPolicy) -> DriftReport:
    reason = (f"reference has {reference.n_events} events and current {current.n_events}; "
              f"at least {policy.min_samples} per side are needed")
    skipped = tuple(FeatureDrift(n, FEATURES[n], "insufficient_data", 0, 0) for n in names)
    return DriftReport("insufficient_data", reason, reference.n_events, current.n_events,
                       skipped, current.embedder, policy.as_dict())


def _describe(f: FeatureDrift) -> str:
    parts = []
    for t in f.tests:
        relation = {"p_value": "<", "distance": ">=", "roc_auc": ">"}[t.score_kind]
        parts.append(f"{t.method} {t.score:.3g} {relation} {t.threshold:.3g}")
    return f"{f.feature} ({', '.join(parts)})"


def _verdict(results: tuple[FeatureDrift, ...], reference: FeatureTable,
             current: FeatureTable, policy: DriftPolicy) -> DriftReport:
    tested = [f for f in results if f.status == "tested"]
    drifted = [f for f in tested if f.drifted]
    args = (reference.n_events, current.n_events, results, current.embedder, policy.as_dict())
    if not tested:
        return DriftReport("insufficient_data", "no feature has enough values on both sides "
                           f"(at least {policy.min_samples})", *args)
    share = len(drifted) / len(tested)
    keys = [f for f in drifted if policy.is_key(f.feature)]
    if keys or (drifted and share >= policy.drift_share):
        why = ", ".join(_describe(f) for f in (keys or drifted)[:3])
        more = f" and {len(drifted) - 3} more" if len(drifted) > 3 else ""
        return DriftReport("drift", f"drift in {why}{more}", *args)
    if drifted:
        return DriftReport("no_drift", f"{len(drifted)} of {len(tested)} features drifted "
                           f"(non-key, share {share:.2f} < {policy.drift_share})", *args)
    return DriftReport("no_drift", f"no drift in the {len(tested)} features tested", *args)
