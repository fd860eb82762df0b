"""The user-facing commands, run as a user would."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.harness.browser import inspect_page
from tests.integration.stack import make_stack
from tests.integration.test_report_browser import PLOTS_JS
from tests.integration.test_report_browser import _artifact as artifact
from tests.integration.test_report_browser import _chromium as chromium


def test_demo_runs_the_whole_path_and_prints_a_summary(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPULSE_")}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "llmpulse", "demo", "--duration", "20",
                           "--rate", "150"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Summary (read back from ClickHouse)" in out
    assert "openai/gpt-4o" in out and "vllm/acme-llama-3-70b-ft" in out
    assert "unknown" in out  # the unpriced self-hosted model is flagged, not zero
    alerts = out[out.index("Alerts (from llm.alerts"):]
    # the demo's labelled latency spike (x5 on claude-sonnet-4-5) pages, and resolves
    assert "trigger  critical p95 latency of claude-sonnet-4-5" in alerts
    assert "resolve  critical resolved: p95 latency of claude-sonnet-4-5" in alerts
    # the rollout (a slower, less grounded prompt version on half of gpt-4o's RAG calls)
    # is rolled back by the demo's canary: one verdict on llm.releases, and a page
    assert "trigger  critical canary rag_prompt: roll back prompt_version " \
           "rag-answer-prompt@4" in alerts
    verdicts = out[out.index("canary verdicts"):]
    assert "rollback   canary rag_prompt: prompt_version rag-answer-prompt@4 vs " \
           "rag-answer-prompt@3" in verdicts
    assert (tmp_path / "llmpulse-data" / "chdb").is_dir()
    assert "llmpulse_events_in_total" in (tmp_path / "llmpulse-data" / "last-metrics.prom"
                                          ).read_text()
    report = (tmp_path / "llmpulse-data" / "report.html").resolve()
    assert f"report: {report}" in out
    html = report.read_text()
    assert '<svg class="plot"' in html and "claude-sonnet-4-5" in html
    assert time.monotonic() - started < 200

    # the demo's report, as a person opens it: every plot of the run drawn, nothing fetched
    run = inspect_page(chromium(), report.as_uri(), PLOTS_JS,
                       screenshot=artifact(tmp_path, "demo-report.png"))
    assert run.errors == [] and run.requests == [report.as_uri()], (run.errors, run.requests)
    plots = {p["title"]: p for p in run.value["plots"]}
    assert len(plots) >= 5, list(plots)
    for plot in plots.values():
        assert plot["marks"] > 0 and plot["sized"] == plot["marks"], plot
    assert "rollback" in run.value["text"]  # the canary verdict is on the page


def test_a_demo_rerun_with_the_same_seed_stores_its_own_calls(tmp_path: Path) -> None:
    """Issue 20: a second `demo --seed N` in the same folder sent the request ids the
    store already had, and the worker dropped most of its calls as duplicates."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPULSE_")}
    sent = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "llmpulse", "demo", "--duration", "6",
                               "--rate", "50", "--seed", "7"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stdout + done.stderr
        stored = re.search(r"^stored: (\d+) calls", done.stdout, re.MULTILINE)
        calls = re.search(r"^sent: (\d+) calls", done.stdout, re.MULTILINE)
        assert stored and calls, done.stdout
        assert stored[1] == calls[1], done.stdout  # every call of this run stored
        assert "already in the store" not in done.stdout
        sent.append(int(calls[1]))
    query = subprocess.run(
        [sys.executable, "-m", "llmpulse", "sql", "--format", "arrays",
         "SELECT count(), uniqExact(request_id) FROM inference_events FINAL"],
        cwd=tmp_path, env={**env, "LLMPULSE_CLICKHOUSE_URL": "chdb://./llmpulse-data/chdb"},
        capture_output=True, text=True, timeout=120)
    assert query.returncode == 0, query.stderr
    assert json.loads(query.stdout) == [sum(sent), sum(sent)]


def test_second_process_on_an_embedded_store_gets_a_clear_error(broker: str,
                                                                tmp_path: Path) -> None:
    stack = make_stack(broker, tmp_path)
    worker = stack.worker()
    embedded = {"LLMPULSE_CLICKHOUSE_URL": f"chdb://{tmp_path / 'chdb'}"}
    try:
        other = stack.cli("sql", "SELECT 1", env_extra=embedded)
        assert other.returncode == 2
        assert "exactly one writer" in other.stderr and "LLMPULSE_CLICKHOUSE_URL" in other.stderr
        assert "llmpulse store serve" in other.stderr
        if stack.store_server is not None:  # the served store: others read it meanwhile
            served = stack.cli("sql", "--format", "arrays", "SELECT 1")
            assert served.stdout.strip() == "[1]", served.stderr
    finally:
        worker.stop()
    if stack.store_server is None:
        assert stack.cli("sql", "--format", "arrays", "SELECT 1").stdout.strip() == "[1]"


def test_worker_refuses_bad_settings_with_the_name(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPULSE_")}
    for extra, text in (({}, "LLMPULSE_BROKER: not set"),
                        ({"LLMPULSE_BROKER": "x:1", "LLMPULSE_PARTITIONS": "zero"},
                         "LLMPULSE_PARTITIONS"),
                        ({"LLMPULSE_BROKER": "127.0.0.1:1"}, "cannot reach Kafka broker")):
        done = subprocess.run([sys.executable, "-m", "llmpulse", "worker"], cwd=tmp_path,
                              env={**env, "LLMPULSE_CLICKHOUSE_URL": f"chdb://{tmp_path}/s",
                                   **extra}, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert text in done.stderr
        assert "Traceback" not in done.stderr
