"""A comparison as a text table (the JSON form is :meth:`Comparison.as_dict`)."""

from __future__ import annotations

from llmpulse.release.compare import Comparison, SignalResult

COLUMNS = ["signal", "baseline", "candidate", "change [interval]", "margin", "mde",
           "n base/cand", "p adj", "verdict"]

#: One line per verdict, printed under the table.
MEANING = {
    "promote": "no signal is worse by more than its margin (within the intervals)",
    "hold": "no regression found, but some intervals still reach past their margin: "
            "keep collecting calls",
    "rollback": "a signal is significantly worse, by more than its margin",
    "insufficient_data": "too few calls to judge",
}


def table_rows(comparison: Comparison) -> list[list[str]]:
    return [_row(r) for r in comparison.results]


def _row(r: SignalResult) -> list[str]:
    e = r.effect
    change = "" if e is None else f"{e.estimate:+.3g} [{e.low:+.3g}, {e.high:+.3g}]"
    return [r.spec.name + (f" ({r.spec.unit})" if r.spec.unit else ""), _num(r.baseline),
            _num(r.candidate), change, _num(r.margin), _num(e.mde if e else None),
            f"{r.n_baseline}/{r.n_candidate}", _num(r.p_adjusted),
            r.verdict]


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def summary_lines(comparison: Comparison) -> list[str]:
    d = comparison.as_dict()
    lines = [f"verdict: {comparison.verdict}: {MEANING[comparison.verdict]}"]
    for key in ("rollback", "hold", "not_judged"):
        if d[key]:
            lines.append(f"  {key.replace('_', ' ')}: {', '.join(d[key])}")
    lines.append(f"  alpha {comparison.policy.alpha:g} over all signals and looks "
                 f"({comparison.signal_alpha:.2g} each); intervals always valid, tightest "
                 f"at {comparison.policy.n_plan} calls a side")
    return lines
