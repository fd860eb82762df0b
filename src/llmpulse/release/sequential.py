"""Always-valid inference: confidence sequences and p-values that hold under continuous
monitoring (the check may be repeated after every new call without inflating its error).

The one boundary used everywhere is the **two-sided normal mixture** (Robbins 1970,
"Statistical methods related to the law of the iterated logarithm", Ann. Math. Statist.
41(5); as set out by Howard, Ramdas, McAuliffe and Sekhon 2021, "Time-uniform,
nonparametric, nonasymptotic confidence sequences", Ann. Statist. 49(2)).  For an estimate
``d`` with standard error ``se`` and the mixing variance ``tau**2`` of the effect, write
``r = se**2 / tau**2``.  Then the mixture likelihood ratio against
"no difference" is::

    Lambda = sqrt(r / (1 + r)) * exp(z**2 / (2 * (1 + r))),   z = d / se

which is the mixture SPRT of Johari, Koomen, Pekelis and Walsh ("Always valid inference:
continuous monitoring of A/B tests", Operations Research 70(3), 2022); its
always-valid p-value is ``min(1, 1 / Lambda)`` and the confidence sequence at level
``alpha`` is ``d +- se * sqrt((1 + r) * (log((1 + r) / r) + 2 * log(1 / alpha)))``.  With a
variance estimated from the data the guarantee is asymptotic (Waudby-Smith, Arbour,
Sinha, Kennedy and Ramdas, "Time-uniform central limit theory and asymptotic confidence
sequences", Ann. Statist. 2024); minimum sample sizes keep us out of the small-sample
regime.

``tau`` is chosen so the boundary is tightest when each arm holds ``n_plan`` calls (the
``r`` minimising it is found numerically): ``r = r_star * n_plan / n_eff`` where ``n_eff``
is the harmonic mean of the two sample sizes, so the mixture depends on the counts only,
never on the observed effect.

Quantiles use the confidence sequence for a Bernoulli(q) mean at a fixed point of the
empirical distribution, turned into order statistics (Howard and Ramdas 2022, "Sequential
estimation of quantiles with applications to A/B-testing and best-arm identification",
Bernoulli 28(3)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

import numpy as np

#: z of 80 % power, for the minimum detectable effect (Bloom 1995, "Minimum detectable
#: effects", Evaluation Review 19(5): MDE = (critical value + z_power) * se).
Z_POWER = NormalDist().inv_cdf(0.8)


@lru_cache(maxsize=64)
def r_star(alpha: float) -> float:
    """The ``r`` at which the level-``alpha`` boundary (in z units) is smallest."""
    lo, hi = math.log(1e-6), math.log(1e3)
    for _ in range(100):  # golden-section search on log r (the boundary is unimodal)
        a = hi - (hi - lo) / 1.618033988749895
        b = lo + (hi - lo) / 1.618033988749895
        if _z_bound(math.exp(a), alpha) < _z_bound(math.exp(b), alpha):
            hi = b
        else:
            lo = a
    return math.exp((lo + hi) / 2)


def _z_bound(r: float, alpha: float) -> float:
    return math.sqrt((1 + r) * (math.log((1 + r) / r) + 2 * math.log(1 / alpha)))


def mixture_r(n_eff: float, n_plan: float, design_alpha: float) -> float:
    """``se**2 / tau**2`` for ``n_eff`` calls per arm, tau tuned for ``n_plan``."""
    return r_star(design_alpha) * n_plan / max(n_eff, 1e-9)


def z_boundary(r: float, alpha: float) -> float:
    """The half-width of the level-``alpha`` confidence sequence, in standard errors."""
    return _z_bound(r, alpha)


def p_value(z: float, r: float) -> float:
    """The always-valid p-value (1 / mixture likelihood ratio) of ``z`` at mixture ``r``."""
    log_lambda = 0.5 * math.log(r / (1 + r)) + z * z / (2 * (1 + r))
    return 1.0 if log_lambda <= 0 else math.exp(-log_lambda)


def harmonic_n(n_a: int, n_b: int) -> float:
    return 2.0 / (1.0 / n_a + 1.0 / n_b)


@dataclass(frozen=True, slots=True)
class Interval:
    """An effect (candidate minus baseline, in the signal's units) and its bounds."""

    estimate: float
    low: float
    high: float
    p_value: float  # always-valid, for "no difference"
    mde: float  # minimum detectable effect at these sample sizes, same units


def difference(mean_a: float, var_a: float, n_a: int, mean_b: float, var_b: float, n_b: int,
               *, alpha: float, design_alpha: float, n_plan: float) -> Interval:
    """Mean of B minus mean of A, with unequal variances (Welch's standard error)."""
    d = mean_b - mean_a
    se = math.sqrt(max(var_a, 0.0) / n_a + max(var_b, 0.0) / n_b)
    r = mixture_r(harmonic_n(n_a, n_b), n_plan, design_alpha)
    bound = z_boundary(r, alpha)
    if se == 0.0:  # constant values on both sides: the difference is exact
        return Interval(d, d, d, 1.0 if d == 0 else 0.0, 0.0)
    return Interval(d, d - bound * se, d + bound * se, p_value(d / se, r),
                    (bound + Z_POWER) * se)


def proportions(k_a: int, n_a: int, k_b: int, n_b: int, *, alpha: float,
                design_alpha: float, n_plan: float) -> Interval:
    """Difference of two rates, on Agresti-Caffo adjusted counts (one success and one
    failure added per arm: Agresti and Caffo 2000, The American Statistician 54(4)), which
    keeps the variance away from zero when events are rare; the estimate is the raw one."""
    pa, pb = (k_a + 1) / (n_a + 2), (k_b + 1) / (n_b + 2)
    adjusted = difference(pa, pa * (1 - pa), n_a + 2, pb, pb * (1 - pb), n_b + 2,
                          alpha=alpha, design_alpha=design_alpha, n_plan=n_plan)
    raw = k_b / n_b - k_a / n_a
    shift = raw - adjusted.estimate
    return Interval(raw, adjusted.low + shift, adjusted.high + shift, adjusted.p_value,
                    adjusted.mde)


def order_stat(sorted_values: np.ndarray, p: float) -> float:
    """The empirical p-quantile as an order statistic (-inf / +inf outside (0, 1])."""
    n = len(sorted_values)
    if p <= 0:
        return -math.inf
    if p > 1:
        return math.inf
    return float(sorted_values[min(n, max(1, math.ceil(n * p))) - 1])


def quantile_bounds(sorted_values: np.ndarray, q: float, *, alpha: float,
                    design_alpha: float, n_plan: float) -> tuple[float, float]:
    """A level-``alpha`` confidence sequence for one arm's q-quantile: the order statistics
    at q -+ w, w the boundary of the Bernoulli(q) mean "value <= true quantile"."""
    n = len(sorted_values)
    r = mixture_r(n, n_plan, design_alpha)
    w = z_boundary(r, alpha) * math.sqrt(q * (1 - q) / n)
    return order_stat(sorted_values, q - w), order_stat(sorted_values, q + w + 1.0 / n)


def quantile_difference(a: np.ndarray, b: np.ndarray, q: float, *, alpha: float,
                        design_alpha: float, n_plan: float) -> Interval:
    """Candidate (``b``) minus baseline (``a``) q-quantile.  Each arm's quantile has a
    confidence sequence at alpha / 2; the difference's interval joins them (if both
    cover, so does it).  The p-value is the smallest alpha whose interval excludes 0."""
    sa, sb = np.sort(a), np.sort(b)
    d = order_stat(sb, q) - order_stat(sa, q)

    def interval(level: float) -> tuple[float, float]:
        a_lo, a_hi = quantile_bounds(sa, q, alpha=level / 2, design_alpha=design_alpha / 2,
                                     n_plan=n_plan)
        b_lo, b_hi = quantile_bounds(sb, q, alpha=level / 2, design_alpha=design_alpha / 2,
                                     n_plan=n_plan)
        return b_lo - a_hi, b_hi - a_lo

    low, high = interval(alpha)
    p = _smallest_excluding(interval)
    half = (high - low) / 2 if math.isfinite(high - low) else math.inf
    bound = z_boundary(mixture_r(harmonic_n(len(a), len(b)), n_plan, design_alpha), alpha)
    return Interval(d, low, high, p, half * (bound + Z_POWER) / bound)


def _smallest_excluding(interval: Callable[[float], tuple[float, float]]) -> float:
    """Bisection (on log alpha) for the smallest level whose interval excludes 0."""
    def excludes(level: float) -> bool:
        low, high = interval(level)
        return bool(low > 0 or high < 0)

    if not excludes(1.0 - 1e-9):
        return 1.0
    lo, hi = math.log(1e-12), 0.0  # excludes at exp(hi), maybe not at exp(lo)
    if excludes(math.exp(lo)):
        return 1e-12
    for _ in range(30):
        mid = (lo + hi) / 2
        if excludes(math.exp(mid)):
            hi = mid
        else:
            lo = mid
    return math.exp(hi)
