"""The rules file: validation with file/line/field errors, thresholds and baselines."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmpulse.alerting.evaluate import condition, ewma, median_mad, threshold
from llmpulse.alerting.rules import Rule, load_rules, parse_duration, parse_rules
from llmpulse.errors import ConfigError


def test_shipped_default_rules_load_and_fit_the_default_pane() -> None:
    rules = load_rules(None)
    assert {r.name for r in rules.rules} >= {"latency_p95_high", "error_rate_high",
                                             "tenant_cost_spike"}
    rules.check_panes(5.0)
    spike = rules.rule("tenant_cost_spike")
    assert spike.threshold is None and spike.baseline is not None
    assert spike.group_by == ("tenant",)


def test_errors_name_the_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text("rules:\n  - name: a\n    metric: duration_p95\n    threshold: 1\n"
                    "  - name: b\n    metric: latency\n    threshold: 2\n    for: soon\n")
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    text = str(err.value)
    assert f"{path}:6:13: rules.1.metric: unknown metric 'latency'" in text
    assert f"{path}:8:10: rules.1.for" in text and "not a duration" in text


@pytest.mark.parametrize("text, expected", [
    ("rules:\n  - {name: a, metric: calls}\n", "give a threshold, a baseline, or both"),
    ("rules:\n  - {name: a, metric: calls, threshold: 1, channels: [pager]}\n",
     "unknown channel 'pager'; defined: none"),
    ("rules:\n  - {name: a, metric: calls, threshold: 1, group_by: [region]}\n",
     "cannot group by ['region']"),
    ("channels:\n  pd: {type: pagerduty}\n", "channels.pd"),
    ("rules: [1, 2", "not valid YAML"),
])
def test_invalid_rules_are_refused_with_a_reason(text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=None) as err:
        parse_rules(text, "r.yml")
    assert expected in str(err.value)


def test_rule_window_must_be_whole_panes() -> None:
    rules = parse_rules("rules:\n  - {name: a, metric: calls, threshold: 1, window: 7s}\n", "r")
    with pytest.raises(ConfigError, match="not a multiple of LLMPULSE_WINDOW_PANE_S=5"):
        rules.check_panes(5.0)
    with pytest.raises(ConfigError) as err:  # located when the pane is known while parsing
        parse_rules("rules:\n  - {name: a, metric: calls, threshold: 1, window: 7s}\n", "r",
                    pane_s=5.0)
    assert "r:2:52: rules.0.window: window 7s is not a multiple of LLMPULSE_WINDOW_PANE_S=5" \
        in str(err.value)


#: One mistake of each kind; every one must be reported in one run, at its position.
MANY_MISTAKES = """\
channels:
  hook: {type: webhook, url: "https://x.example/h", secret_env: NOT_SET_SECRET}
rules:
  - name: a
    metric: duration_p95
    threshold: 1
    window: 7s
    channels: [oncall, hook]
  - name: b
    metric: latency
    threshold: 2
  - name: a
    metric: calls
    threshold: 3
budgets:
  - {name: month, group_by: tenant, period: month, amount_usd: 5, channels: [pager]}
"""


def test_every_problem_is_reported_at_once_with_line_and_column() -> None:
    with pytest.raises(ConfigError) as err:
        parse_rules(MANY_MISTAKES, "rules.yml", pane_s=5.0, env={})
    lines = str(err.value).splitlines()
    assert lines[0] == "invalid rules file (6 problems):"
    assert [line.strip().split(": ", 2)[:2] for line in lines[1:]] == [
        ["rules.yml:2:65", "channels.hook.secret_env"],  # its variable is not set
        ["rules.yml:7:13", "rules.0.window"],            # not whole panes
        ["rules.yml:8:16", "rules.0.channels.0"],        # unknown channel, where it is named
        ["rules.yml:10:13", "rules.1.metric"],           # unknown metric
        ["rules.yml:12:11", "rules.2.name"],             # the name a again
        ["rules.yml:16:78", "budgets.0.channels.0"],     # a budget's unknown channel
    ]
    assert "NOT_SET_SECRET is not set" in lines[1] and "'oncall'; defined: hook" in lines[3]
    assert "already used by rules.0" in lines[5]
    # without pane and environment those two are not checked; the others still are
    with pytest.raises(ConfigError, match=r"\(4 problems\)"):
        parse_rules(MANY_MISTAKES, "rules.yml")


def test_a_retraining_forward_must_name_a_webhook_channel() -> None:
    text = ("channels:\n  s: {type: slack, url: 'https://hooks.example/x'}\n"
            "rules:\n  - name: p\n    metric: calls\n    threshold: 1\n"
            "    retrain: {forward: [s, nowhere]}\n")
    with pytest.raises(ConfigError) as err:
        parse_rules(text, "r.yml")
    assert "r.yml:7:25: rules.0.retrain.forward.0: retrain.forward names 's', a slack " \
        "channel" in str(err.value)
    assert "r.yml:7:28: rules.0.retrain.forward.1: retrain.forward names 'nowhere', not " \
        "defined under channels" in str(err.value)


def test_durations() -> None:
    assert [parse_duration(v) for v in (90, "90s", "1.5m", "2h", "1d")] == \
        [90, 90, 90, 7200, 86400]


def rule(**over: object) -> Rule:
    return Rule.model_validate({"name": "r", "metric": "cost_usd", **over})


def test_ewma_baseline_threshold_is_factor_times_usual() -> None:
    r = rule(baseline={"method": "ewma", "windows": 10, "min_windows": 3, "factor": 3})
    assert threshold(r, [1.0, 1.0]) is None  # still learning
    limit = threshold(r, [1.0, 1.0, 1.0, 1.0])
    assert limit is not None and limit.value == pytest.approx(3.0)
    assert limit.baseline is not None and limit.baseline.value == pytest.approx(1.0)
    assert condition(r, 3.5, limit) == (True, False)
    assert condition(r, 2.0, limit) == (False, True)
    assert ewma([0.0, 10.0], 3) == pytest.approx(5.0)


def test_mad_baseline_and_static_floor() -> None:
    r = rule(baseline={"method": "mad", "k": 3, "min_windows": 3}, threshold=0.5)
    median, mad = median_mad([1.0, 2.0, 3.0, 4.0, 100.0])  # robust to the outlier
    assert (median, mad) == (3.0, 1.0)
    limit = threshold(r, [1.0, 2.0, 3.0, 4.0, 100.0])
    assert limit is not None and limit.value == pytest.approx(3.0 + 3 * 1.4826)
    flat = threshold(r, [0.0] * 5)  # a zero history: the static threshold is the floor
    assert flat is not None and flat.value == 0.5


def test_hysteresis_uses_the_clear_threshold_ratio() -> None:
    r = rule(threshold=10.0, clear_threshold=8.0)
    limit = threshold(r, [])
    assert limit is not None and (limit.value, limit.clear) == (10.0, 8.0)
    assert condition(r, 9.0, limit) == (False, False)  # in between: neither
    assert condition(r, 7.9, limit) == (False, True)
    down = rule(threshold=0.5, operator="<")
    low = threshold(down, [])
    assert low is not None and condition(down, 0.4, low) == (True, False)


def test_rules_check_lists_every_problem_in_one_run(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    path = tmp_path / "rules.yml"
    path.write_text(MANY_MISTAKES)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LLMPULSE_") and k != "NOT_SET_SECRET"}
    done = subprocess.run([sys.executable, "-m", "llmpulse", "rules", "check", str(path)],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "invalid rules file (6 problems):" in done.stderr
    assert f"{path}:7:13: rules.0.window: window 7s is not a multiple" in done.stderr
    assert f"{path}:8:16: rules.0.channels.0: unknown channel 'oncall'" in done.stderr
    assert "(top level)" not in done.stderr and "Traceback" not in done.stderr
