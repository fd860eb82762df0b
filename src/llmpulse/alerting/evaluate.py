"""Thresholds and conditions of one rule for one window: pure arithmetic.

Baselines come from the group's own closed windows of the rule's width:

* ``ewma``: the exponentially weighted mean with alpha = 2 / (N + 1) over the last
  N windows; the threshold is ``factor x EWMA`` (``EWMA / factor`` for ``<``).
* ``mad``: the median and the median absolute deviation, scaled by 1.4826 so
  it estimates the standard deviation of normal data; the threshold is
  ``median +/- k * 1.4826 * MAD``.  A MAD of zero (a flat history) is floored at
  5 % of the median so a constant series does not alarm on the first wiggle.

With a static ``threshold`` as well, the stricter of the two applies (for
``>`` the larger), so a near-zero history cannot make a rule fire on noise.
"""

from __future__ import annotations

import operator
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llmpulse.alerting.message import Baseline
from llmpulse.alerting.rules import Rule

MAD_SCALE = 1.4826
MAD_FLOOR = 0.05

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def ewma(values: Sequence[float], windows: int) -> float:
    alpha = 2.0 / (windows + 1)
    mean = values[0]
    for value in values[1:]:
        mean = alpha * value + (1 - alpha) * mean
    return mean


def median_mad(values: Sequence[float]) -> tuple[float, float]:
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    return median, max(mad, MAD_FLOOR * abs(median))


@dataclass(frozen=True, slots=True)
class Threshold:
    value: float
    clear: float
    baseline: Baseline | None = None


def threshold(rule: Rule, history: Sequence[float]) -> Threshold | None:
    """The threshold in force, or None while a baseline-only rule is still learning."""
    upward = rule.operator in (">", ">=")
    derived: float | None = None
    baseline: Baseline | None = None
    spec = rule.baseline
    if spec is not None and len(history) >= spec.min_windows:
        recent = list(history[-spec.windows:])
        if spec.method == "ewma":
            usual = ewma(recent, spec.windows)
            derived = usual * spec.factor if upward else usual / spec.factor
        else:
            usual, mad = median_mad(recent)
            spread = spec.k * MAD_SCALE * mad
            derived = usual + spread if upward else usual - spread
        baseline = Baseline(method=spec.method, value=usual, windows=len(recent))
    candidates = [v for v in (rule.threshold, derived) if v is not None]
    if not candidates or (spec is not None and derived is None and rule.threshold is None):
        return None
    value = max(candidates) if upward else min(candidates)
    clear = value
    if rule.clear_threshold is not None and rule.threshold is not None and rule.threshold:
        clear = value * rule.clear_threshold / rule.threshold  # same ratio as configured
    return Threshold(value, clear, baseline)


def condition(rule: Rule, value: float, limit: Threshold) -> tuple[bool, bool]:
    """(breach, clear): past the threshold, and back past the clear threshold."""
    compare = _COMPARE[rule.operator]
    return compare(value, limit.value), not compare(value, limit.clear)
