"""The Prometheus rules in deploy/prometheus: promtool's own checks and unit tests,
and a drift guard against the metrics the worker really exports.

The drift guard scans the rule expressions for metric names and label names
(a scanner for the PromQL the rules use, not a full PromQL parser) and checks
them against the registry built by :func:`llmpulse.metrics.build_metrics`:
renaming a metric or a label in ``metrics.py`` fails here, instead of leaving
a recording rule that is silently empty and an alert that can never fire.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from llmpulse.metrics import build_metrics

ROOT = Path(__file__).resolve().parents[2]
RULES = "deploy/prometheus/llmpulse-rules.yml"
RULE_TESTS = "deploy/prometheus/tests/llmpulse-rules.test.yml"

#: Labels Prometheus attaches to every scraped series itself.
TARGET_LABELS = frozenset({"job", "instance"})
#: Series Prometheus makes itself, which the rules use as filters (a target's
#: scrape health; the alerts' own state, for hysteresis), with their labels
#: (ALERTS also has the labels of its alert, which the rules join on).
PROMETHEUS_SERIES: dict[str, frozenset[str]] = {
    "up": TARGET_LABELS,
    "ALERTS": frozenset({"alertname", "alertstate", "severity"}),
}
#: Bare words of PromQL that are neither metrics nor function calls.
KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "group_left",
                      "group_right"})
#: Series each metric type exposes, as suffix -> extra labels.
EXPOSED_SERIES: dict[str, dict[str, frozenset[str]]] = {
    "counter": {"_total": frozenset(), "_created": frozenset()},
    "histogram": {"_bucket": frozenset({"le"}), "_sum": frozenset(), "_count": frozenset(),
                  "_created": frozenset()},
    "gauge": {"": frozenset()},
    "summary": {"": frozenset({"quantile"}), "_sum": frozenset(), "_count": frozenset(),
                "_created": frozenset()},
}

STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
BRACES = re.compile(r"\{([^{}]*)\}")
MATCHER_LABEL = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
NAME_BEFORE = re.compile(r"([A-Za-z_:][\w:]*)\s*$")
RANGE = re.compile(r"\[[^\[\]]*\]")
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
# Numbers (and durations) first, so that the "e3" of 1e3 is not taken for a name.
TOKEN = re.compile(r"(?P<number>\d[\w.]*)|(?P<name>[A-Za-z_:][\w:]*)(?P<call>\s*\()?")
TEMPLATE_LABEL = re.compile(r"\$labels\.(\w+)")


# --- promtool ----------------------------------------------------------------

def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("`promtool` is not on PATH: install Debian's prometheus package "
                    "(apt-get install prometheus); scripts/test.sh does", pytrace=False)
    return subprocess.run([binary, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)


def _explain(result: subprocess.CompletedProcess[str]) -> str:
    return (f"{' '.join(result.args)} exited {result.returncode}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}")


def test_promtool_check_rules() -> None:
    result = _promtool("check", "rules", RULES)
    assert result.returncode == 0, _explain(result)


def test_promtool_unit_tests_of_the_rules() -> None:
    result = _promtool("test", "rules", RULE_TESTS)
    assert result.returncode == 0, _explain(result)


# --- scanning PromQL ---------------------------------------------------------

@dataclass(frozen=True)
class Clause:
    """``by (...)``, ``without (...)``, ``on (...)`` ...: its labels, and the text
    span it applies to (an aggregation's argument; the whole expression for the
    vector-matching ones)."""

    keyword: str
    labels: tuple[str, ...]
    at: int
    scope: tuple[int, int]


@dataclass(frozen=True)
class Scanned:
    names: tuple[tuple[int, str], ...]   # (position, metric or recording rule name)
    clauses: tuple[Clause, ...]
    matchers: tuple[tuple[str, str], ...]  # (selected name, label in its {...})
    quantile: bool                       # uses histogram_quantile (drops le)


def _blank(pattern: re.Pattern[str], text: str) -> str:
    """Replace what matches with spaces, keeping every other position."""
    return pattern.sub(lambda m: " " * len(m.group(0)), text)


def _closing(text: str, opening: int) -> int:
    depth = 0
    for i in range(opening, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i + 1
    raise ValueError(f"unbalanced parentheses in {text!r}")


def _opening(text: str, closing: int) -> int:
    depth = 0
    for i in range(closing, -1, -1):
        depth += {")": 1, "(": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise ValueError(f"unbalanced parentheses in {text!r}")


def scan(expr: str) -> Scanned:
    text = _blank(STRING, expr)
    matchers = []
    for braces in BRACES.finditer(text):
        before = NAME_BEFORE.search(text[:braces.start()])
        if before:  # not a bare {__name__=...} selector
            matchers += [(before.group(1), label)
                         for label in MATCHER_LABEL.findall(braces.group(1))]
    text = _blank(RANGE, _blank(BRACES, text))
    found = [(m.group(1), tuple(x.strip() for x in m.group(2).split(",") if x.strip()),
              m.start(), m.end()) for m in GROUPING.finditer(text)]
    text = _blank(GROUPING, text)
    clauses = []
    for keyword, labels, start, end in found:
        if keyword not in ("by", "without"):
            scope = (0, len(text))
        elif text[end:].lstrip().startswith("("):  # sum by (x) (...)
            opening = len(text) - len(text[end:].lstrip())
            scope = (opening, _closing(text, opening))
        elif text[:start].rstrip().endswith(")"):  # sum(...) by (x)
            closing = len(text[:start].rstrip()) - 1
            scope = (_opening(text, closing), closing + 1)
        else:
            raise ValueError(f"cannot tell what `{keyword}` applies to in {expr!r}")
        clauses.append(Clause(keyword, labels, start, scope))
    names = tuple((m.start(), m.group("name")) for m in TOKEN.finditer(text)
                  if m.group("name") and not m.group("call")
                  and m.group("name").lower() not in KEYWORDS)
    return Scanned(names, tuple(clauses), tuple(matchers), "histogram_quantile" in text)


@pytest.mark.parametrize(("expr", "names", "groupings"), [
    ('histogram_quantile(0.95, sum by (le, a) (rate(x_bucket{b="1"}[5m])))',
     ["x_bucket"], [("by", ("le", "a"), ["x_bucket"])]),
    ("sum(rate(x_total[1h])) by (a) / on (a) group_left y:z:rate5m > 1e3",
     ["x_total", "y:z:rate5m"], [("by", ("a",), ["x_total"]), ("on", ("a",), None)]),
    ("sum by (t) (max by (t, p) (lag)) and deriv(r:s:sum[10m:1m]) > bool 0",
     ["lag", "r:s:sum"], [("by", ("t",), ["lag"]), ("by", ("t", "p"), ["lag"])]),
    ('count(up{job=~"a|b"} offset 5m) or vector(0)', ["up"], []),
])
def test_the_scanner_finds_names_and_groupings(
        expr: str, names: list[str], groupings: list[tuple[str, tuple[str, ...], Any]]) -> None:
    scanned = scan(expr)
    assert [name for _, name in scanned.names] == names
    got = []
    for clause in scanned.clauses:
        inside = ([n for at, n in scanned.names if clause.scope[0] <= at < clause.scope[1]]
                  if clause.keyword in ("by", "without") else None)
        got.append((clause.keyword, clause.labels, inside))
    assert got == groupings


# --- the drift guard ---------------------------------------------------------

@cache
def exported_series() -> dict[str, frozenset[str]]:
    """Every series name llmpulse exposes, with its label names."""
    metrics = build_metrics(CollectorRegistry())
    labels_of: dict[str, frozenset[str]] = {}
    for field in fields(metrics):
        collector = getattr(metrics, field.name)
        if field.name != "registry":
            labels_of[collector._name] = frozenset(collector._labelnames)
    series: dict[str, frozenset[str]] = {}
    for family in metrics.registry.collect():
        assert family.name in labels_of, f"{family.name} is registered but not in Metrics"
        assert family.type in EXPOSED_SERIES, f"{family.name}: unexpected type {family.type}"
        for suffix, extra in EXPOSED_SERIES[family.type].items():
            series[family.name + suffix] = labels_of[family.name] | extra | TARGET_LABELS
    return series | PROMETHEUS_SERIES


def _rules(groups: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{group['name']}/{rule.get('record') or rule.get('alert')}", rule)
            for group in groups for rule in group["rules"]]


def drift_problems(groups: list[dict[str, Any]],
                   exported: dict[str, frozenset[str]]) -> list[str]:
    """Metric and label names the rules use that llmpulse does not export."""
    rules = _rules(groups)
    records = {rule["record"]: rule for _, rule in rules if "record" in rule}
    problems: list[str] = []

    def labels_of(name: str, seen: frozenset[str] = frozenset()) -> frozenset[str] | None:
        if name in exported:
            return exported[name]
        if name in records and name not in seen:
            return output_labels(scan(records[name]["expr"]), seen | {name})
        return None  # reported below

    def output_labels(scanned: Scanned, seen: frozenset[str] = frozenset()) -> frozenset[str]:
        """The labels an expression's result keeps (outermost aggregation wins)."""
        def inputs(lo: int, hi: int) -> frozenset[str]:
            found = [labels_of(n, seen) for at, n in scanned.names if lo <= at < hi]
            return frozenset().union(*(f for f in found if f is not None))

        aggregations = [c for c in scanned.clauses if c.keyword in ("by", "without")]
        outermost = [c for c in aggregations
                     if not any(o.scope[0] <= c.at < o.scope[1] for o in aggregations)]
        if outermost:
            result = frozenset().union(*(
                frozenset(c.labels) if c.keyword == "by" else inputs(*c.scope) - set(c.labels)
                for c in outermost))
        else:
            result = inputs(0, 1 << 30)
        return result - {"le"} if scanned.quantile else result

    for where, rule in rules:
        scanned = scan(rule["expr"])
        if not scanned.names:
            problems.append(f"{where}: no metric found in {rule['expr']!r} (scanner broken?)")
        for _, name in scanned.names:
            if labels_of(name) is None:
                kind = ("recording rule" if ":" in name
                        else "metric (not exported by llmpulse.metrics; renamed or removed?)")
                problems.append(f"{where}: unknown {kind} {name}")
        for name, label in scanned.matchers:
            known = labels_of(name)
            if known is not None and label not in known:
                problems.append(f"{where}: {name} has no label {label!r} (has {sorted(known)})")
        for clause in scanned.clauses:
            if clause.keyword in ("by", "without"):
                inside = [n for at, n in scanned.names
                          if clause.scope[0] <= at < clause.scope[1]]
                for label in clause.labels:
                    for name in inside:
                        if name in PROMETHEUS_SERIES:  # a filter, e.g. `unless on (...) up == 0`
                            continue
                        known = labels_of(name)
                        if known is not None and label not in known:
                            problems.append(f"{where}: `{clause.keyword} ({label})` but {name} "
                                            f"has no label {label!r} (has {sorted(known)})")
            else:
                everywhere = output_labels(Scanned(scanned.names, (), (), False))
                problems += [f"{where}: `{clause.keyword} ({label})` but no series in the "
                             f"expression has label {label!r}"
                             for label in clause.labels if label not in everywhere]
        if "alert" in rule:
            available = output_labels(scanned) | set(rule.get("labels", {}))
            templates = " ".join(str(v) for v in rule.get("annotations", {}).values())
            problems += [f"{where}: annotations use $labels.{label}, which the alert does not "
                         f"have (has {sorted(available)})"
                         for label in sorted(set(TEMPLATE_LABEL.findall(templates)))
                         if label not in available]
    return problems


def _load_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((ROOT / RULES).read_text())
    groups: list[dict[str, Any]] = document["groups"]
    return groups


def test_rules_use_only_exported_metrics_and_labels() -> None:
    groups = _load_rules()
    problems = drift_problems(groups, exported_series())
    assert not problems, "the rules drifted from src/llmpulse/metrics.py:\n" + "\n".join(problems)
    used = {name for _, rule in _rules(groups) for _, name in scan(rule["expr"]).names
            if ":" not in name}
    assert {"llmpulse_calls_total", "gen_ai_client_operation_duration_seconds_bucket",
            "llmpulse_consumer_lag"} <= used  # the scan sees what the rules are about


def test_drift_guard_catches_renamed_metrics_and_labels() -> None:
    text = (ROOT / RULES).read_text()
    renamed = (text.replace("rate(llmpulse_calls_total[5m])", "rate(llmpulse_requests_total[5m])")
                   .replace("sum by (sink)", "sum by (sink_name)")
                   .replace("{{ $labels.topic }} go to", "{{ $labels.partition }} go to"))
    assert renamed.count("llmpulse_requests_total") == 1
    problems = drift_problems(yaml.safe_load(renamed)["groups"], exported_series())
    expected = [
        "model_route:llmpulse_calls:rate5m: unknown metric (not exported by llmpulse.metrics; "
        "renamed or removed?) llmpulse_requests_total",
        "sink:llmpulse_sink_failures:rate5m: `by (sink_name)` but llmpulse_sink_failures_total "
        "has no label 'sink_name'",
        "LlmpulseDeadLetterRateHigh: annotations use $labels.partition",
        "LlmpulseSinkFailing: `by (sink_name)` but llmpulse_sink_failures_total has no label "
        "'sink_name'",
        # the renamed grouping label no longer reaches the alert's annotations
        "LlmpulseSinkFailing: annotations use $labels.sink",
    ]
    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected, strict=True):
        assert start in problem, problems
