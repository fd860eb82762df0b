"""The Grafana dashboards and the shipped rules against a real Prometheus scraping a real
worker (job ``llmpulse``) and a real quality scorer (job ``llmpulse-scorer``).

After the worker has processed simulated traffic and closed a window:

* each panel's expression (the dashboard variables bound to values that exist,
  ``$__rate_interval`` to 1m) is evaluated as Grafana's time-series panels do,
  through ``/api/v1/query_range``; every query must succeed, and the core panels
  (call rate, latency quantiles, cost) must return finite, positive values;
* every metric name and label name in those expressions exists in the scrape
  (:func:`name_problems`; a misspelt metric or label fails here even where the
  query itself would just return nothing);
* the shipped rules (deploy/prometheus/llmpulse-rules.yml, loaded verbatim)
  evaluate without error on the live series;
* ``promtool check metrics`` passes on the worker's and the scorer's /metrics,
  as served by the running processes (tests/unit/test_exposition.py checks the
  registries only).

One stack on the embedded broker serves the four tests (a module-scoped fixture).
"""

from __future__ import annotations

import math
import re
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from llmpulse.dashboards import all_dashboards
from llmpulse.dashboards.model import PROMETHEUS
from llmpulse.dashboards.queries import Query, bind_promql, queries
from llmpulse.procs import WorkerProcess
from llmpulse.simulator import SimulationStats
from tests.harness.prometheus import (
    RULES,
    SCORER_JOB,
    WORKER_JOB,
    Prometheus,
    api_get,
    prometheus_binary,
    require_binary,
    wait_scraped,
    write_prometheus_config,
)
from tests.integration.stack import Stack, make_stack, wait_metrics
from tests.integration.test_prometheus_rules import exported_series, scan

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

#: (dashboard uid, panel title): must show data once the worker has stored calls.
CORE_PANELS = (
    ("llmpulse-oncall", "Calls/s"),
    ("llmpulse-oncall", "Calls/s by model"),
    ("llmpulse-oncall", "End-to-end duration"),
    ("llmpulse-oncall", "Time to first token"),
    ("llmpulse-oncall", "Time per output token"),
    ("llmpulse-oncall", "p95 latency"),
    ("llmpulse-oncall", "Cost per hour"),
    ("llmpulse-oncall", "Cost per hour by model"),
    ("llmpulse-oncall", "Tokens/s by type"),
)
#: Panels of gauges that may be 0 but must have series.
PRESENT_PANELS = (
    ("llmpulse-oncall", "Consumer lag by topic"),
    ("llmpulse-oncall", "Pending joins"),
)
#: Quality panels over the window gauges: data once a window with feedback has closed.
WINDOW_PANELS = (
    ("llmpulse-quality", "variable model"),
    ("llmpulse-quality", "variable prompt_version"),
    ("llmpulse-quality", "Thumbs down by model"),
    ("llmpulse-quality", "Thumbs down by prompt version"),
)


def _range(port: int, expr: str, seconds: int = 180) -> dict[str, Any]:
    end = time.time()
    return api_get(port, "/api/v1/query_range", [
        ("query", expr), ("start", f"{end - seconds:.3f}"), ("end", f"{end:.3f}"),
        ("step", "5")])


def _finite_positive(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(v)) and float(v) > 0
               for series in result for _, v in series["values"])


def _regex_value(value: str) -> str:
    """``value`` as Grafana puts a variable value into a PromQL regex: metacharacters escaped
    (the backslash doubled, as the PromQL string literal needs)."""
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", value)


def _variable_values(models: list[str]) -> dict[str, str]:
    return {"model": "|".join(_regex_value(m) for m in sorted(models)), "route": ".*",
            "prompt_version": ".*"}


Results = dict[tuple[str, str], Any]


def prometheus_queries() -> list[Query]:
    """The PromQL queries of every shipped dashboard (panel targets and variables)."""
    found = [q for board in all_dashboards().values() for q in queries(board)
             if q.kind == PROMETHEUS]
    assert len(found) > 40
    return found


def _run_all(port: int, values: dict[str, str]) -> Results:
    """Every dashboard query through the Prometheus HTTP API, as Grafana sends it."""
    found = prometheus_queries()
    failed: list[str] = []
    results: Results = {}
    for query in found:
        expr = bind_promql(query.text, values)
        if query.where.startswith("variable "):
            label = re.fullmatch(r"label_values\(.*,\s*(\w+)\)", query.text, re.S)
            assert label is not None, query.text
            body = api_get(port, f"/api/v1/label/{label[1]}/values", [("match[]", expr)])
        else:
            body = _range(port, expr)
        if body.get("status") != "success":
            failed.append(f"{query.dashboard}: {query.where}: {expr}\n  {body}")
        results[(query.dashboard, query.where)] = body.get("data")
    assert not failed, "\n".join(failed)
    empty = sorted(f"{d}: {w}" for (d, w), data in results.items()
                   if not (data if w.startswith("variable ") else data["result"]))
    print(f"{len(found)} queries ran; without data:", *empty, sep="\n  ")
    return results


def _check_panels(results: Results, present: tuple[tuple[str, str], ...],
                  positive: tuple[tuple[str, str], ...] = ()) -> None:
    """Every target of the ``present`` panels has series; of ``positive``, a value > 0."""
    for uid, title in present + positive:
        targets = {w: data for (d, w), data in results.items()
                   if d == uid and (w == title or w.rsplit(" [", 1)[0] == title)}
        assert targets, f"no panel {title!r} in {uid}"
        for where, data in targets.items():
            series = data if where.startswith("variable ") else data["result"]
            assert series, f"{uid}: {where}: no data"
            if (uid, title) in positive:
                assert _finite_positive(series), f"{uid}: {where}: {data}"


# --- metric and label names ----------------------------------------------------

#: Metrics the dashboards show of which this scenario may make no series (no drift check
#: runs, no retraining policy is configured). Their names must still be announced on
#: /metrics (``# TYPE``); without series, their labels are checked against
#: src/llmpulse/metrics.py instead.
NO_SERIES_HERE = frozenset({"llmpulse_drift_score", "llmpulse_drift_detected",
                            "llmpulse_retrain_triggers_total"})
#: Series names each metric type exposes, as suffixes of its family name (Prometheus
#: scrapes the OpenMetrics format, whose counter families are named without ``_total``).
SERIES_OF_TYPE = {"counter": ("_total", ""), "gauge": ("",), "unknown": ("",),
                  "histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count"),
                  "gaugehistogram": ("_bucket", "_gsum", "_gcount"), "info": ("_info",),
                  "stateset": ("",)}


@dataclass(frozen=True)
class Scrape:
    """What a live Prometheus has: the label names of each series name it stored, the
    series names the targets' metric families announce (``# TYPE``, samples or not),
    and the recording rules it evaluates."""

    labels: Mapping[str, frozenset[str]]
    announced: frozenset[str]
    records: frozenset[str]


def scrape_of(prom: Prometheus, since: float) -> Scrape:
    body = prom.get("/api/v1/series", [("match[]", '{__name__=~".+"}'),
                                       ("start", f"{since:.3f}")])
    assert body["status"] == "success", body
    labels: dict[str, set[str]] = {}
    for series in body["data"]:
        labels.setdefault(series["__name__"], set()).update(k for k in series if k != "__name__")
    meta = prom.get("/api/v1/targets/metadata")
    assert meta["status"] == "success", meta
    announced = {m["metric"] + suffix for m in meta["data"]
                 for suffix in SERIES_OF_TYPE.get(m["type"], ("",))}
    records = {r["name"] for r in prom.rules() if r["type"] == "recording"}
    return Scrape({k: frozenset(v) for k, v in labels.items()}, frozenset(announced),
                  frozenset(records))


def name_problems(found: Sequence[Query], values: Mapping[str, str], scrape: Scrape,
                  fallback: Mapping[str, frozenset[str]]) -> list[str]:
    """Metric names and label names the queries use that the scrape does not have.

    A name counts if Prometheus stored series of it, or a target announces it, or it
    is a recording rule. Labels (in ``{...}`` matchers, ``by``/``without`` of every
    metric aggregated, ``on``/``ignoring``, and ``label_values``) are checked against
    the labels of the name's series; a name without series is a problem unless
    ``fallback`` gives its labels.
    """
    problems: list[str] = []
    for query in found:
        where = f"{query.dashboard}: {query.where}"
        expr = bind_promql(query.text, values)
        scanned = scan(expr)

        def labels_of(name: str) -> frozenset[str] | None:
            return scrape.labels.get(name, fallback.get(name))

        if not scanned.names:
            problems.append(f"{where}: no metric found in {expr!r} (scanner broken?)")
        for _, name in scanned.names:
            if (name not in scrape.labels and name not in scrape.announced
                    and name not in scrape.records):
                problems.append(f"{where}: unknown metric {name} (neither scraped nor a "
                                "recording rule)")
            elif labels_of(name) is None:
                problems.append(f"{where}: {name} has no series in the scrape to check its "
                                "labels against")
        for name, label in scanned.matchers:
            known = labels_of(name)
            if known is not None and label not in known:
                problems.append(f"{where}: {name} has no label {label!r} (has {sorted(known)})")
        for clause in scanned.clauses:
            if clause.keyword in ("by", "without"):
                inside = [n for at, n in scanned.names
                          if clause.scope[0] <= at < clause.scope[1]]
            else:
                inside = [n for _, n in scanned.names]
            sets = [known for known in map(labels_of, inside) if known is not None]
            for label in clause.labels:
                if clause.keyword in ("by", "without"):
                    missing = [n for n, known in zip(inside, map(labels_of, inside), strict=True)
                               if known is not None and label not in known]
                    problems += [f"{where}: `{clause.keyword} ({label})` but {n} has no label "
                                 f"{label!r}" for n in missing]
                elif not any(label in known for known in sets):
                    problems.append(f"{where}: `{clause.keyword} ({label})` but no metric in "
                                    f"the expression has label {label!r}")
        variable = re.fullmatch(r"label_values\(.*,\s*(\w+)\)", query.text, re.S)
        if variable:
            for _, name in scanned.names:
                known = labels_of(name)
                if known is not None and variable[1] not in known:
                    problems.append(f"{where}: label_values of {variable[1]!r}, which {name} "
                                    f"does not have (has {sorted(known)})")
    return problems


#: Misspellings the name check must catch: (text replaced, replacement, expected problem).
MISSPELT = (
    ("llmpulse_calls_total{", "llmpulse_call_total{", "unknown metric llmpulse_call_total"),
    ('llmpulse_route=~"$route"', 'route=~"$route"', "has no label 'route'"),
    ("sum by (error_type)", "sum by (error_kind)", "`by (error_kind)` but llmpulse_call_errors"),
    ("llmpulse_calls_total, gen_ai_request_model)", "llmpulse_calls_total, model)",
     "label_values of 'model'"),
    ("llmpulse_drift_score{", "llmpulse_drift_scores{", "unknown metric llmpulse_drift_scores"),
    ('llmpulse_drift_score{model=~"$model"}', 'llmpulse_drift_score{modle=~"$model"}',
     "llmpulse_drift_score has no label 'modle'"),
)


# --- the live stack ---------------------------------------------------------------

#: The scorer's cheap detectors (lexicon toxicity, hashing groundedness), a sample of calls.
QUALITY = {"LLMPULSE_GROUNDEDNESS_BACKEND": "hashing", "LLMPULSE_SCORE_SAMPLE_RATE": "0.5"}


@dataclass
class Live:
    stack: Stack
    worker: WorkerProcess
    scorer: WorkerProcess
    prom: Prometheus
    stats: SimulationStats
    since: float


def _close_a_window(stack: Stack, worker: WorkerProcess) -> None:
    """Traffic past the next minute boundary, so a 1-minute window closes (lateness 1 s)
    and the worker exports its window gauges; then one more scrape."""
    stack.simulate(rate=8, duration=60 - time.time() % 60 + 4, seed=12)
    wait_metrics(worker, lambda m: any(k.startswith("llmpulse_window_thumbs_down_ratio{")
                                       for k in m),
                 timeout=60, what="the window gauges of a closed window")
    time.sleep(3)


@pytest.fixture(scope="module")
def live(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """Worker and scorer after traffic and a closed window, scraped every second by a
    Prometheus that evaluates the shipped rules."""
    prometheus_binary()
    tmp_path = tmp_path_factory.mktemp("dashboards")
    stack = make_stack(broker, tmp_path)
    worker = stack.worker(LLMPULSE_WINDOW_PANE_S="1", LLMPULSE_WINDOW_LATENESS_S="1",
                          **QUALITY)
    scorer = WorkerProcess(stack.env(**QUALITY), log_path=tmp_path / "scorer.log",
                           command="scorer")
    try:
        scorer.start(timeout=120)
        assert worker.metrics_port is not None and scorer.metrics_port is not None
        config = write_prometheus_config(
            tmp_path / "prometheus.yml",
            {WORKER_JOB: [worker.metrics_port], SCORER_JOB: [scorer.metrics_port]},
            rule_files=[RULES])
        since = time.time()
        with Prometheus(tmp_path, config) as prom:
            # Spread over several scrapes, so rate() sees the counters grow.
            stats = stack.simulate(rate=60, count=360, seed=11)
            wait_metrics(worker, lambda m: m.get("llmpulse_calls_total", 0) >= stats.calls,
                         timeout=90, what="the calls to be stored")
            wait_metrics(worker, lambda m: any(k.startswith("llmpulse_consumer_lag{")
                                               for k in m),
                         timeout=60, what="the consumer lag to be reported")
            wait_scraped(prom.port, stats.calls)
            _close_a_window(stack, worker)
            wait_metrics(scorer, lambda m: m.get("llmpulse_scorer_tasks_total{outcome=scored}",
                                                 0) > 0,
                         timeout=60, what="the scorer to score a task")
            time.sleep(2)  # one more scrape of both
            yield Live(stack, worker, scorer, prom, stats, since)
    finally:
        scorer.stop()
        worker.stop()


# --- the tests ----------------------------------------------------------------------

#: What the dashboards and rules read is the processes' scrape, the same whichever broker feeds
#: them: one stack on the embedded broker serves every test.
ONE_BROKER = pytest.mark.parametrize("broker", ["embedded"], indirect=True)

@ONE_BROKER
def test_every_dashboard_query_runs_on_real_prometheus(live: Live) -> None:
    results = _run_all(live.prom.port, _variable_values(list(live.stats.models)))
    assert set(results[("llmpulse-oncall", "variable model")]) == set(live.stats.models)
    _check_panels(results, PRESENT_PANELS, CORE_PANELS)
    _check_panels(results, WINDOW_PANELS)


@ONE_BROKER
def test_dashboards_name_only_metrics_and_labels_of_the_scrape(live: Live) -> None:
    scrape = scrape_of(live.prom, live.since)
    found = prometheus_queries()
    values = _variable_values(list(live.stats.models))
    fallback = {name: labels for name, labels in exported_series().items()
                if name in NO_SERIES_HERE}
    problems = name_problems(found, values, scrape, fallback)
    assert not problems, "dashboards use names the scrape does not have:\n" + "\n".join(
        problems)
    used = {name for q in found for _, name in scan(bind_promql(q.text, values)).names}
    assert used >= NO_SERIES_HERE  # still shown, and announced on /metrics
    assert scrape.announced >= NO_SERIES_HERE
    print("labels checked against metrics.py (no series here):",
          sorted(NO_SERIES_HERE - set(scrape.labels)))
    # the scorer's metrics and the quality metrics were scraped too
    assert used & set(scrape.labels) >= {"llmpulse_scorer_tasks_total",
                                         "llmpulse_quality_score_bucket"}
    for old, new, expected in MISSPELT:
        mutated = [Query(q.dashboard, q.where, q.kind, q.text.replace(old, new))
                   for q in found]
        assert mutated != found, old
        caught = name_problems(mutated, values, scrape, fallback)
        assert any(expected in p for p in caught), (old, new, caught)


@ONE_BROKER
def test_shipped_rules_evaluate_without_error_on_the_live_scrape(live: Live) -> None:
    rules = live.prom.wait_rules_evaluated()
    assert len(rules) > 30
    problems = live.prom.rule_problems()
    assert not problems, "\n".join(problems)


@ONE_BROKER
@pytest.mark.parametrize("process", ["worker", "scorer"])
def test_promtool_check_metrics_passes_on_the_running_process(live: Live, process: str) -> None:
    target: WorkerProcess = getattr(live, process)
    assert target.running()
    text = target.metrics_text()
    assert "llmpulse_broker_up" in text
    done = subprocess.run([require_binary("promtool", "prometheus"), "check", "metrics"],
                          input=text, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"promtool check metrics:\n{done.stdout}{done.stderr}"
