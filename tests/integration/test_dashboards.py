"""Every PromQL query of the Grafana dashboards, run by a real Prometheus scraping a real worker.

After the worker has processed simulated traffic, each panel's expression (the
dashboard variables bound to values that exist, ``$__rate_interval`` to 1m) is
evaluated as Grafana's time-series panels do, through ``/api/v1/query_range``;
every query must succeed, and the core panels (call rate, latency quantiles,
cost) must return finite, positive values.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from llmpulse.dashboards import all_dashboards
from llmpulse.dashboards.model import PROMETHEUS
from llmpulse.dashboards.queries import Query, bind_promql, queries
from llmpulse.procs import WorkerProcess
from tests.integration.stack import Stack, make_stack, wait_metrics
from tests.integration.test_prometheus import (
    prometheus_config,
    start_prometheus,
    wait_scraped,
)

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


def _get(port: int, path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}{path}?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # a bad query: Prometheus says why in the body
        body = json.loads(exc.read())
    return body


def _range(port: int, expr: str, seconds: int = 180) -> dict[str, Any]:
    end = time.time()
    return _get(port, "/api/v1/query_range", [
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


def _run_all(port: int, values: dict[str, str]) -> Results:
    """Every dashboard query through the Prometheus HTTP API, as Grafana sends it."""
    found: list[Query] = [q for board in all_dashboards().values()
                          for q in queries(board) if q.kind == PROMETHEUS]
    assert len(found) > 40
    failed: list[str] = []
    results: Results = {}
    for query in found:
        expr = bind_promql(query.text, values)
        if query.where.startswith("variable "):
            label = re.fullmatch(r"label_values\(.*,\s*(\w+)\)", query.text, re.S)
            assert label is not None, query.text
            body = _get(port, f"/api/v1/label/{label[1]}/values", [("match[]", expr)])
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


def _close_a_window(stack: Stack, worker: WorkerProcess, port: int) -> None:
    """Traffic past the next minute boundary, so a 1-minute window closes (lateness 1 s)
    and the worker exports its window gauges; then one more scrape."""
    stack.simulate(rate=8, duration=60 - time.time() % 60 + 4, seed=12)
    wait_metrics(worker, lambda m: any(k.startswith("llmpulse_window_thumbs_down_ratio{")
                                       for k in m),
                 timeout=60, what="the window gauges of a closed window")
    time.sleep(3)


def test_every_dashboard_query_runs_on_real_prometheus(broker: str, tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("the `prometheus` binary is missing: apt-get install prometheus "
                    "(scripts/test.sh installs it)")
    stack = make_stack(broker, tmp_path)
    worker = stack.worker(LLMPULSE_WINDOW_PANE_S="1", LLMPULSE_WINDOW_LATENESS_S="1")
    assert worker.metrics_port is not None
    prom, port = start_prometheus(
        binary, tmp_path, prometheus_config(tmp_path, worker.metrics_port))
    try:
        # Spread over several scrapes, so rate() sees the counters grow.
        stats = stack.simulate(rate=60, count=360, seed=11)
        wait_metrics(worker, lambda m: m.get("llmpulse_calls_total", 0) >= stats.calls,
                     timeout=90, what="the calls to be stored")
        wait_metrics(worker, lambda m: any(k.startswith("llmpulse_consumer_lag{") for k in m),
                     timeout=60, what="the consumer lag to be reported")
        wait_scraped(port, stats.calls)
        time.sleep(2)  # a scrape after the lag appeared
        values = _variable_values(list(stats.models))
        results = _run_all(port, values)
        assert set(results[("llmpulse-oncall", "variable model")]) == set(stats.models)
        _check_panels(results, PRESENT_PANELS, CORE_PANELS)

        _close_a_window(stack, worker, port)
        results = _run_all(port, values)
        _check_panels(results, WINDOW_PANELS)
    finally:
        prom.terminate()
        prom.wait(30)
        worker.stop()
