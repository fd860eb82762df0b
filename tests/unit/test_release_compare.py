"""The release comparison on plain numbers: the statistics of each kind of signal, the
verdicts, and the error rates under continuous monitoring (a canary checked every 50 calls
up to 2,000 per side) against a fixed-sample test repeated the same way."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from statistics import NormalDist

import numpy as np
import pytest

from llmpulse.release import sequential
from llmpulse.release.compare import Comparison, Policy, compare, holm
from llmpulse.release.scenarios import PLANTED, Traffic, head
from llmpulse.release.signals import SIGNALS, pick

ALPHA = 0.05
LOOKS = range(50, 2001, 50)
OPTIONS = {"alpha": ALPHA, "design_alpha": ALPHA, "n_plan": 1000}


def monitor(baseline: Traffic, candidate: Traffic, seed: int,
            looks: range = LOOKS) -> list[Comparison]:
    """The comparison at every look of one canary (both sides grow together)."""
    a, b = baseline.calls(looks[-1], 2 * seed), candidate.calls(looks[-1], 2 * seed + 1)
    return [compare(head(a, n), head(b, n)) for n in looks]


def test_holm_adjusts_step_down_and_keeps_the_order() -> None:
    adjusted = holm([0.01, 0.04, 0.03, 0.5])
    assert adjusted == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert holm([0.2, 0.3]) == pytest.approx([0.4, 0.4])


def test_the_mixture_boundary_is_the_likelihood_ratio_crossing_one_over_alpha() -> None:
    r = sequential.mixture_r(500, 1000, ALPHA)
    z = sequential.z_boundary(r, ALPHA)
    assert sequential.p_value(z, r) == pytest.approx(ALPHA)
    assert sequential.p_value(z + 0.5, r) < ALPHA < sequential.p_value(z - 0.5, r)
    # wider than the fixed-sample 1.96 (the price of looking at every call), tightest
    # near the planned sample size
    widths = {n: sequential.z_boundary(sequential.mixture_r(n, 1000, ALPHA), ALPHA)
              for n in (100, 1000, 10_000)}
    assert 1.96 < widths[1000] < min(widths[100], widths[10_000])


def test_a_proportion_difference_is_exact_in_its_estimate_and_consistent_in_its_test() -> None:
    e = sequential.proportions(30, 1000, 60, 1000, **OPTIONS)
    assert e.estimate == pytest.approx(0.03)
    assert e.low < 0.03 < e.high and e.low > 0 and e.p_value < ALPHA
    same = sequential.proportions(30, 1000, 31, 1000, **OPTIONS)
    assert same.low < 0 < same.high and same.p_value > ALPHA
    # no event on either side still has a non-degenerate interval (Agresti-Caffo)
    none = sequential.proportions(0, 300, 0, 300, **OPTIONS)
    assert none.estimate == 0 and none.low < 0 < none.high and none.p_value == 1.0
    # the minimum detectable effect shrinks like 1 / sqrt(n)
    big = sequential.proportions(300, 10_000, 300, 10_000, **OPTIONS)
    small = sequential.proportions(30, 1000, 30, 1000, **OPTIONS)
    assert big.mde < small.mde / 2


def test_a_mean_difference_uses_welch_standard_errors() -> None:
    e = sequential.difference(4.0, 1.0, 400, 3.8, 4.0, 100, **OPTIONS)
    se = math.sqrt(1.0 / 400 + 4.0 / 100)
    half = sequential.z_boundary(sequential.mixture_r(160, 1000, ALPHA), ALPHA) * se
    assert (e.estimate, e.low, e.high) == pytest.approx((-0.2, -0.2 - half, -0.2 + half))
    constant = sequential.difference(1.0, 0.0, 50, 1.0, 0.0, 50, **OPTIONS)
    assert (constant.low, constant.high, constant.p_value) == (0.0, 0.0, 1.0)


def test_a_quantile_difference_brackets_the_shift_and_its_p_value_matches_the_interval() -> None:
    rng = np.random.default_rng(3)
    a = rng.lognormal(0, 0.5, 3000)
    b = rng.lognormal(0, 0.5, 3000) * 1.5
    for q in (0.5, 0.95):
        e = sequential.quantile_difference(a, b, q, **OPTIONS)
        true_shift = 0.5 * float(np.exp(0.5 * NormalDist().inv_cdf(q)))
        assert e.low < true_shift < e.high and e.low > 0
        assert e.low <= e.estimate <= e.high
        assert e.p_value < ALPHA
    # at the p-value's level the interval just reaches 0
    nearer = b / 1.5 * 1.15
    p = sequential.quantile_difference(a, nearer, 0.5, **OPTIONS).p_value
    assert 1e-9 < p < ALPHA
    assert _quantile_interval(a, nearer, 0.5, p * 1.05)[0] > 0
    assert _quantile_interval(a, nearer, 0.5, p * 0.95)[0] <= 0
    same = sequential.quantile_difference(a, rng.lognormal(0, 0.5, 3000), 0.5, **OPTIONS)
    assert same.low < 0 < same.high and same.p_value > ALPHA


def _quantile_interval(a: np.ndarray, b: np.ndarray, q: float,
                       level: float) -> tuple[float, float]:
    e = sequential.quantile_difference(a, b, q, alpha=level, design_alpha=ALPHA, n_plan=1000)
    return e.low, e.high


def test_small_samples_are_insufficient_data() -> None:
    result = compare(Traffic().calls(60, 1), Traffic(error=0.5).calls(60, 2))
    assert result.verdict == "insufficient_data"
    assert {r.verdict for r in result.results} == {"insufficient_data"}
    assert result.by_name("error_rate").candidate == pytest.approx(0.5, abs=0.15)


def test_signals_never_observed_are_not_judged_and_do_not_block_a_promotion() -> None:
    a, b = Traffic().calls(20_000, 1), Traffic().calls(20_000, 2)
    for side in (a, b):
        for key in ("toxic", "groundedness", "ungrounded", "thumbs_down", "rating",
                    "correction"):
            del side[key]
    specs = pick(["error_rate", "duration_p50", "cost_per_call", "rating_mean"])
    result = compare(a, b, specs)
    assert result.by_name("rating_mean").verdict == "insufficient_data"
    assert result.verdict == "promote"
    assert result.as_dict()["not_judged"] == ["rating_mean"]


def test_an_aa_canary_watched_every_50_calls_keeps_its_false_alarms_below_alpha() -> None:
    seeds = 200
    alarms = significant = 0
    for seed in range(seeds):
        looks = monitor(Traffic(), Traffic(), seed)
        alarms += any(c.verdict == "rollback" for c in looks)
        significant += any(r.p_adjusted is not None and r.p_adjusted <= ALPHA
                           for c in looks for r in c.results)
    # any significant difference on any of the 18 signals at any of the 40 looks
    assert significant / seeds <= ALPHA
    assert alarms / seeds <= ALPHA


@pytest.mark.parametrize("split", [1, 9], ids=["even", "canary_10pct"])
@pytest.mark.parametrize("signal", ["error_rate", "cost_per_call", "rating_mean",
                                    "duration_p95"])
def test_each_kind_alone_holds_alpha_while_watched(signal: str, split: int) -> None:
    """One signal, no correction for the others: a proportion, a skewed mean, a discrete
    mean and a tail quantile; even traffic, and a canary taking a tenth of it."""
    specs = pick([signal])
    seeds = 150
    alarms = 0
    for seed in range(seeds):
        a, b = Traffic().calls(2000 * split, 2 * seed), Traffic().calls(2000, 2 * seed + 1)
        for n in LOOKS:
            effect = compare(head(a, n * split), head(b, n), specs).results[0].effect
            if effect is not None and effect.p_value <= ALPHA:
                alarms += 1
                break
    assert alarms / seeds <= ALPHA


def test_a_fixed_sample_test_repeated_as_data_arrives_would_not_hold_alpha() -> None:
    """The same check (one signal, no other correction) with the fixed-sample z boundary
    raises far more false alarms when repeated at every look; the always-valid one does
    not."""
    z = NormalDist().inv_cdf(1 - ALPHA / 2)
    seeds = 400
    naive = always_valid = 0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        a, b = rng.random(2000) < 0.1, rng.random(2000) < 0.1
        naive_hit = valid_hit = False
        for n in LOOKS:
            pa, pb = float(a[:n].mean()), float(b[:n].mean())
            se = math.sqrt((pa * (1 - pa) + pb * (1 - pb)) / n)
            naive_hit |= se > 0 and abs(pb - pa) / se > z
            valid_hit |= sequential.proportions(int(a[:n].sum()), n, int(b[:n].sum()), n,
                                                **OPTIONS).p_value <= ALPHA
        naive += naive_hit
        always_valid += valid_hit
    assert always_valid / seeds <= ALPHA
    assert naive / seeds > 3 * ALPHA  # about 0.29 here


@pytest.mark.parametrize(("signal", "change"), PLANTED.items(), ids=list(PLANTED))
def test_a_planted_regression_is_found_while_watching(signal: str,
                                                      change: dict[str, float]) -> None:
    seeds = 30
    found = 0
    for seed in range(seeds):
        looks = monitor(Traffic(), replace(Traffic(), **change), seed)  # type: ignore[arg-type]
        hit = [c for c in looks if c.by_name(signal).verdict == "rollback"]
        found += bool(hit)
        if hit:
            assert hit[0].verdict == "rollback"
    assert found / seeds >= 0.7, found


def test_an_improvement_is_never_a_regression() -> None:
    better = replace(Traffic(), error=0.005, rating=4.6, duration_median=0.8)
    for c in monitor(Traffic(), better, 0):
        assert c.verdict != "rollback"
    last = c.results
    assert {r.spec.name: r.verdict for r in last}["error_rate"] == "promote"


def test_a_significant_but_negligible_change_does_not_alarm() -> None:
    """5 % more tokens (the margin is 10 %): significant with 20,000 calls a side, yet
    below the practical threshold, so never a rollback, not at any look either."""
    more = replace(Traffic(), output_tokens=262.5)
    specs = pick(["error_rate", "output_tokens_mean"])
    a, b = Traffic().calls(20_000, 7), more.calls(20_000, 8)
    for n in range(500, 20_001, 500):
        c = compare(head(a, n), head(b, n), specs)
        assert c.verdict != "rollback", n
    tokens = c.by_name("output_tokens_mean")
    assert tokens.p_adjusted is not None and tokens.p_adjusted <= ALPHA
    assert tokens.relative_change == pytest.approx(0.05, abs=0.02)
    assert tokens.verdict == "promote" and c.verdict == "promote"


def test_thresholds_can_be_overridden_and_unknown_signals_are_named() -> None:
    strict = pick(["output_tokens_mean", "output_tokens_mean"], {"output_tokens_mean": 0.02})
    assert len(strict) == 1 and strict[0].threshold == 0.02
    a, b = Traffic().calls(20_000, 7), replace(Traffic(), output_tokens=262.5).calls(20_000, 8)
    assert compare(a, b, strict).verdict == "rollback"
    with pytest.raises(KeyError, match="latency"):
        pick(thresholds={"latency": 1.0})


def test_the_report_is_plain_json() -> None:
    c = compare(Traffic().calls(500, 1), Traffic().calls(500, 2), SIGNALS, Policy(n_plan=500))
    text = json.dumps(c.as_dict(), allow_nan=False)
    out = json.loads(text)
    assert out["signal_alpha"] == pytest.approx(ALPHA / len(SIGNALS))
    assert [s["signal"] for s in out["signals"]] == [s.name for s in SIGNALS]
