"""The comparison: every signal's effect (candidate minus baseline) with an always-valid
confidence sequence, a p-value corrected for the number of signals, and a verdict.

Per signal, with ``margin`` the practical threshold in the signal's units and the effect
turned so that positive is worse:

* ``insufficient_data``: fewer than the signal's ``min_n`` observations on either side;
* ``rollback``: the change is significant (Holm-adjusted always-valid p-value <= alpha)
  and its estimate is worse than the baseline by more than ``margin``;
* ``promote``: the confidence sequence's worst end is within ``margin`` (the candidate is
  not worse by more than it);
* ``hold``: neither yet (keep the canary running: the interval still reaches past the
  margin).

Overall: ``rollback`` if any signal says so; ``insufficient_data`` if the error rate (which
every call has) or every signal is; ``hold`` if any judged signal holds; else ``promote``.
Signals without enough data are reported as not judged and do not block a promotion.

Many signals: the confidence sequences are simultaneous (Bonferroni, alpha / m each, m the
number of signals compared) and the p-values Holm-adjusted over all m (Holm 1979, Scand. J.
Statist. 6(2)).  Both hold under continuous monitoring: a false rejection by Holm at any
time means some true null's always-valid p-value fell below alpha / m0 at that time, and
each does so with probability at most alpha / m0 over all times.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from llmpulse.release import sequential
from llmpulse.release.sequential import Interval
from llmpulse.release.signals import SIGNALS, SignalSpec

Verdict = Literal["promote", "hold", "rollback", "insufficient_data"]


@dataclass(frozen=True, slots=True)
class Policy:
    """``alpha``: the chance of a false significant change over all signals and all looks;
    ``n_plan``: the calls per side at which the confidence sequences are tightest."""

    alpha: float = 0.05
    n_plan: int = 1000


@dataclass(frozen=True, slots=True)
class SignalResult:
    spec: SignalSpec
    n_baseline: int
    n_candidate: int
    baseline: float | None  # the signal's value on each side (a rate, mean or quantile)
    candidate: float | None
    effect: Interval | None  # candidate minus baseline, simultaneous level
    margin: float | None  # the practical threshold, in the signal's units
    p_adjusted: float | None  # Holm-adjusted always-valid p-value
    verdict: Verdict

    @property
    def relative_change(self) -> float | None:
        if self.effect is None or not self.baseline:
            return None
        return self.effect.estimate / abs(self.baseline)

    def as_dict(self) -> dict[str, Any]:
        e = self.effect
        return {
            "signal": self.spec.name, "kind": self.spec.kind,
            "higher_is": "worse" if self.spec.worse > 0 else "better",
            "n_baseline": self.n_baseline, "n_candidate": self.n_candidate,
            "baseline": _finite(self.baseline), "candidate": _finite(self.candidate),
            "effect": _finite(e.estimate) if e else None,
            "ci_low": _finite(e.low) if e else None, "ci_high": _finite(e.high) if e else None,
            "relative_change": _finite(self.relative_change),
            "margin": _finite(self.margin), "mde": _finite(e.mde) if e else None,
            "p_value": _finite(e.p_value) if e else None,
            "p_adjusted": _finite(self.p_adjusted), "verdict": self.verdict,
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    results: tuple[SignalResult, ...]
    verdict: Verdict
    policy: Policy

    @property
    def signal_alpha(self) -> float:
        return self.policy.alpha / max(len(self.results), 1)

    def by_name(self, name: str) -> SignalResult:
        return next(r for r in self.results if r.spec.name == name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict, "alpha": self.policy.alpha,
            "signal_alpha": self.signal_alpha, "n_plan": self.policy.n_plan,
            "rollback": [r.spec.name for r in self.results if r.verdict == "rollback"],
            "hold": [r.spec.name for r in self.results if r.verdict == "hold"],
            "not_judged": [r.spec.name for r in self.results
                           if r.verdict == "insufficient_data"],
            "signals": [r.as_dict() for r in self.results],
        }


Observations = Mapping[str, np.ndarray]


def compare(baseline: Observations, candidate: Observations,
            specs: Sequence[SignalSpec] = SIGNALS, policy: Policy = Policy()) -> Comparison:
    """Compare the candidate's observations with the baseline's (per data key, one value
    per observation; NaN or a missing key: not observed)."""
    level = policy.alpha / max(len(specs), 1)
    raw = [_measure(spec, _values(baseline, spec.data), _values(candidate, spec.data),
                    level, policy.n_plan) for spec in specs]
    adjusted = holm([m.effect.p_value if m.effect else 1.0 for m in raw])
    results = tuple(_judge(m, p, policy.alpha) for m, p in zip(raw, adjusted, strict=True))
    return Comparison(results, overall(results), policy)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (reject where the adjusted value <= alpha)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def overall(results: Sequence[SignalResult]) -> Verdict:
    verdicts = {r.spec.name: r.verdict for r in results}
    if "rollback" in verdicts.values():
        return "rollback"
    judged = [v for v in verdicts.values() if v != "insufficient_data"]
    if not judged or verdicts.get("error_rate") == "insufficient_data":
        return "insufficient_data"
    return "hold" if "hold" in judged else "promote"


@dataclass(frozen=True, slots=True)
class _Measured:
    spec: SignalSpec
    n_a: int
    n_b: int
    value_a: float | None
    value_b: float | None
    effect: Interval | None


def _values(side: Observations, key: str) -> np.ndarray:
    values = np.asarray(side.get(key, ()), dtype=float)
    observed: np.ndarray = values[~np.isnan(values)]
    return observed


def _measure(spec: SignalSpec, a: np.ndarray, b: np.ndarray, level: float,
             n_plan: int) -> _Measured:
    value_a, value_b = _value(spec, a), _value(spec, b)
    if len(a) < spec.min_n or len(b) < spec.min_n:
        return _Measured(spec, len(a), len(b), value_a, value_b, None)
    options: dict[str, Any] = {"alpha": level, "design_alpha": level, "n_plan": n_plan}
    if spec.kind == "proportion":
        effect = sequential.proportions(int(a.sum()), len(a), int(b.sum()), len(b), **options)
    elif spec.kind == "mean":
        effect = sequential.difference(float(a.mean()), float(a.var(ddof=1)), len(a),
                                       float(b.mean()), float(b.var(ddof=1)), len(b), **options)
    else:
        effect = sequential.quantile_difference(a, b, spec.q, **options)
    return _Measured(spec, len(a), len(b), value_a, value_b, effect)


def _value(spec: SignalSpec, values: np.ndarray) -> float | None:
    if not len(values):
        return None
    if spec.kind == "quantile":
        return sequential.order_stat(np.sort(values), spec.q)
    return float(values.mean())


def _judge(m: _Measured, p_adjusted: float, alpha: float) -> SignalResult:
    spec = m.spec
    if m.effect is None:
        return SignalResult(spec, m.n_a, m.n_b, m.value_a, m.value_b, None, None, None,
                            "insufficient_data")
    margin = spec.threshold * abs(m.value_a or 0.0) if spec.relative else spec.threshold
    e = m.effect
    worse_estimate = spec.worse * e.estimate
    worst = e.high if spec.worse > 0 else -e.low  # the worst change the interval allows
    verdict: Verdict
    if p_adjusted <= alpha and worse_estimate > margin:
        verdict = "rollback"
    elif worst < margin or worst <= 0.0:
        verdict = "promote"
    else:
        verdict = "hold"
    return SignalResult(spec, m.n_a, m.n_b, m.value_a, m.value_b, e, margin, p_adjusted,
                        verdict)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
