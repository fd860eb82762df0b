"""The Grafana dashboards: structure, every query checked by a real engine, export and push.

* PromQL: every expression, with Grafana's variables bound to concrete values,
  becomes a recording rule that the real ``promtool check rules`` parses; metric
  and label names are checked against the registry ``metrics.py`` builds.
* ClickHouse: every query, with the plugin's macros bound, runs on a real
  ClickHouse (chdb) with the project's migrations and a few stored rows.
* Push: a protocol test. No Grafana server runs here (none in Debian; it is not
  vendored), so a loopback HTTP server plays Grafana's folder and dashboard API
  and records what grafana-client sends.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from llmpulse.cli import cli
from llmpulse.dashboards import all_dashboards
from llmpulse.dashboards.export import PROVISIONING_FILE, render_json, write_dashboards
from llmpulse.dashboards.model import CLICKHOUSE, DS_VARIABLE, GRID_WIDTH, PROMETHEUS
from llmpulse.dashboards.push import GrafanaPushError, push_dashboards
from llmpulse.dashboards.queries import bind_promql, bind_sql, queries
from llmpulse.detectors.cost import Cost
from llmpulse.metrics import build_metrics
from llmpulse.records import InferenceRecord
from llmpulse.schema import FeedbackEvent
from llmpulse.signals import Signal
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.rows import StoredCall

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "grafana"
#: Where deploy/grafana/dashboards.yml tells Grafana the JSON files are.
DEPLOY_PROVISIONING_PATH = "/var/lib/grafana/dashboards/llmpulse"
BOARDS = all_dashboards()
#: Values for the dashboards' variables in the PromQL checks.
PROM_VALUES = {"model": "gpt-4o|claude-3-5-sonnet", "route": ".*", "prompt_version": ".*"}
BUILTINS = {"__rate_interval", "__interval", "__range", "__fromTime", "__toTime",
            "__interval_s"}


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]


# --- structure -------------------------------------------------------------------------------


def test_three_dashboards_with_unique_stable_uids() -> None:
    uids = [b["uid"] for b in BOARDS.values()]
    assert uids == ["llmpulse-oncall", "llmpulse-quality", "llmpulse-clickhouse"]
    assert sorted(BOARDS) == sorted(f"{uid}.json" for uid in uids)
    for board in BOARDS.values():
        assert board["title"] and board["tags"] == ["llmpulse"]
        assert board["id"] is None and board["schemaVersion"] >= 39
        assert len(board["uid"]) <= 40
    assert all_dashboards() == BOARDS  # deterministic


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_panel_ids_unique_and_grid_positions_do_not_overlap(name: str) -> None:
    panels = BOARDS[name]["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["w"] > 0 and pos["h"] > 0 and pos["x"] >= 0
        assert pos["x"] + pos["w"] <= GRID_WIDTH, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_target_has_the_dashboards_datasource(name: str) -> None:
    board = BOARDS[name]
    [ds_var] = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
    assert ds_var["name"] == "datasource" and ds_var["query"] in (PROMETHEUS, CLICKHOUSE)
    for panel in _panels(board):
        assert panel["targets"], panel["title"]
        assert panel["datasource"] == {"type": ds_var["query"], "uid": DS_VARIABLE}
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
            key = "expr" if ds_var["query"] == PROMETHEUS else "rawSql"
            assert target[key].strip(), panel["title"]
        defaults = panel["fieldConfig"]["defaults"]
        assert defaults["unit"] and defaults["thresholds"]["steps"], panel["title"]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"] == {"type": ds_var["query"], "uid": DS_VARIABLE}


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_queries_use_only_defined_variables(name: str) -> None:
    board = BOARDS[name]
    defined = {v["name"] for v in board["templating"]["list"]}
    for query in queries(board):
        used = {a or b for a, _, b in re.findall(r"\$\{(\w+)(:\w+)?\}|\$(\w+)", query.text)}
        assert used - BUILTINS - {"__timeFilter", "__timeInterval"} <= defined, query.where


def test_prometheus_dashboards_have_model_and_route_variables() -> None:
    oncall = {v["name"]: v for v in BOARDS["llmpulse-oncall.json"]["templating"]["list"]}
    assert oncall["datasource"]["query"] == PROMETHEUS
    assert oncall["model"]["query"].startswith("label_values(")
    assert oncall["route"]["query"].startswith("label_values(")
    quality = {v["name"] for v in BOARDS["llmpulse-quality.json"]["templating"]["list"]}
    assert {"datasource", "model", "prompt_version"} <= quality


def test_window_gauge_panels_select_the_right_groups() -> None:
    """Per-model panels read the model-overall windows; per-version ones the version rows."""
    exprs = [q.text for q in queries(BOARDS["llmpulse-quality.json"])
             if "llmpulse_window_" in q.text and "label_values" not in q.text]
    assert exprs
    for expr in exprs:
        assert 'route="*"' in expr and 'tenant="*"' in expr, expr
        assert ('prompt_version="*"' in expr) != ('prompt_version!="*"' in expr), expr


# --- PromQL: real promtool, names checked against the registry -------------------------------


def _prom_queries() -> list[tuple[str, str]]:
    return [(f"{q.dashboard}: {q.where}", bind_promql(q.text, PROM_VALUES))
            for board in BOARDS.values() for q in queries(board) if q.kind == PROMETHEUS]


def _promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("the `promtool` binary is missing: apt-get install prometheus "
                    "(scripts/test.sh installs it)")
    return binary


def _check_rules(tmp_path: Path, exprs: list[str]) -> subprocess.CompletedProcess[str]:
    rules = {"groups": [{"name": "llmpulse_dashboards", "rules": [
        {"record": f"llmpulse_dashboard:query_{i}", "expr": expr}
        for i, expr in enumerate(exprs)]}]}
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    return subprocess.run([_promtool(), "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60)


def test_every_promql_expression_parses_with_promtool(tmp_path: Path) -> None:
    found = _prom_queries()
    assert len(found) > 40
    checked = _check_rules(tmp_path, [expr for _, expr in found])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(found)} rules found" in checked.stdout, checked.stdout


def test_promtool_rejects_a_broken_expression(tmp_path: Path) -> None:
    """The check above is not vacuous: promtool does fail on bad PromQL."""
    checked = _check_rules(tmp_path, ["sum by (le (rate(x[1m]))"])
    assert checked.returncode != 0


def _exposed_series() -> dict[str, set[str]]:
    """Series name -> label names, as /metrics exposes the registry's metrics."""
    registry = CollectorRegistry()
    build_metrics(registry)
    suffixes: dict[str, dict[str, set[str]]] = {
        "counter": {"_total": set()},
        "histogram": {"_bucket": {"le"}, "_sum": set(), "_count": set()},
        "gauge": {"": set()}}
    series: dict[str, set[str]] = {}
    for collector in list(registry._names_to_collectors.values()):
        name = collector._name  # type: ignore[attr-defined]
        kind = collector._type  # type: ignore[attr-defined]
        labels = set(collector._labelnames)  # type: ignore[attr-defined]
        for suffix, extra in suffixes[kind].items():
            series[name + suffix] = labels | extra
    return series


METRIC = re.compile(r"\b((?:llmpulse|gen_ai)_[a-z0-9_]+)\b")


def _metric_names(expr: str) -> list[str]:
    """The metric names of ``expr``, in order (label names in matchers and by () left out)."""
    return METRIC.findall(re.sub(r"by \([^)]*\)", "", re.sub(r"\{[^}]*\}", "", expr)))


def test_promql_metrics_and_labels_exist_in_the_registry() -> None:
    series = _exposed_series()
    for where, expr in _prom_queries():
        names = _metric_names(expr)
        assert names, where
        for name in names:
            assert name in series, f"{where}: no metric {name} in metrics.py"
        for metric, matchers in re.findall(r"\b([a-z_:][a-z0-9_:]*)\{([^}]*)\}", expr):
            for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers):
                assert label in series[metric], f"{where}: {metric} has no label {label}"
        for by in re.finditer(r"by \(([^)]*)\) \(", expr):
            metric = _metric_names(expr[by.end():])[0]
            for label in (x.strip() for x in by[1].split(",")):
                assert label in series[metric], f"{where}: {metric} has no label {label}"


def test_core_oncall_queries_are_there() -> None:
    exprs = "\n".join(q.text for q in queries(BOARDS["llmpulse-oncall.json"]))
    for histogram in ("gen_ai_client_operation_duration_seconds",
                      "gen_ai_server_time_to_first_token_seconds",
                      "gen_ai_server_time_per_output_token_seconds"):
        for q in ("0.5", "0.95", "0.99"):
            assert f"histogram_quantile({q}, sum by (le) (rate({histogram}_bucket" in exprs
    for metric in ("llmpulse_calls_total", "llmpulse_call_errors_total",
                   "llmpulse_cost_usd_total", "llmpulse_tokens_total", "llmpulse_alerts_firing",
                   "llmpulse_consumer_lag", "llmpulse_dlq_events_total",
                   "llmpulse_pending_joins", "llmpulse_sink_failures_total"):
        assert metric in exprs


# --- ClickHouse: every query on the real engine with the migrations -------------------------

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _call(i: int, model: str, version: str, duration: float) -> StoredCall:
    end = T0 + timedelta(minutes=i)
    record = InferenceRecord(
        request_id=f"d{i}", join_status="inference", provider="openai", request_model=model,
        response_model=None, operation="chat", start_time=end - timedelta(seconds=duration),
        end_time=end, tenant="acme", route="chat", input_tokens=100, output_tokens=20,
        error_type=None, prompt_template_id="answer", prompt_template_version=version)
    return StoredCall(record, Cost(0.01 * (i + 1), "genai-prices", "test"))


def _fill(store: ClickHouseStore) -> None:
    now = T0 + timedelta(hours=1)
    calls = [_call(i, "gpt-4o" if i % 2 else "claude-3-5-sonnet", f"v{i % 3}", 1.0 + i)
             for i in range(12)]
    store.insert_calls(calls, now)
    thumbs = ["down", "up", "down", "down", "up", "up"]
    store.insert_feedback([
        FeedbackEvent(request_id=f"d{i}", feedback_id=f"f{i}", time=T0 + timedelta(minutes=20),
                      thumbs=t, rating=1 + i % 5, correction="better" if i == 3 else None)
        for i, t in enumerate(thumbs)], now)
    store.insert_signals([
        Signal(name=name, value=value, request_id="drift:gpt-4o:x", time=T0 + timedelta(
            minutes=30), model="gpt-4o", provider="", route="*", tenant="*", label=label,
            detector="drift@1", explanation="prompt_embedding")
        for name, value, label in (("drift", 1.0, "drift"),
                                   ("drift.prompt_embedding", 2.5, "drift"))], {}, now)
    store.client.command(
        "INSERT INTO alert_notifications (id, channel, dedup_key, kind, state, rule, severity, "
        "summary, time, ok, attempts, delivered_at) VALUES ('a1', 'oncall', 'k', 'trigger', "
        "'firing', 'route_slow', 'critical', 'p95 high', '2026-11-02 09:10:00', 1, 1, "
        "'2026-11-02 09:10:01')")
    store.client.command(
        "INSERT INTO retrain_triggers (id, version, status, policy, model, created_at, "
        "window_start, window_end, reason, evidence) VALUES ('t1', 1, 'triggered', "
        "'retrain_on_feedback', 'gpt-4o', '2026-11-02 09:15:00', '2026-11-02 09:00:00', "
        "'2026-11-02 09:15:00', 'thumbs down', ['d1', 'd3'])")


@pytest.fixture
def filled(store: ClickHouseStore) -> ClickHouseStore:
    _fill(store)
    return store


def _sql(text: str) -> str:
    return bind_sql(text, T0 - timedelta(hours=1), T0 + timedelta(hours=2),
                    {"model": "'gpt-4o','claude-3-5-sonnet'"})


def _rows(store: ClickHouseStore, title: str) -> list[tuple[Any, ...]]:
    board = BOARDS["llmpulse-clickhouse.json"]
    [panel] = [p for p in board["panels"] if p["title"] == title]
    return store.query(_sql(panel["targets"][0]["rawSql"]))


def test_every_clickhouse_query_runs_and_returns_rows(filled: ClickHouseStore) -> None:
    board = BOARDS["llmpulse-clickhouse.json"]
    found = [q for q in queries(board) if q.kind == CLICKHOUSE]
    assert len(found) >= 9
    for query in found:
        bound = _sql(query.text)
        assert "$" not in bound, query.where
        rows = filled.query(bound)
        assert rows, f"{query.where}: no rows from\n{bound}"


def test_clickhouse_query_results(filled: ClickHouseStore) -> None:
    slowest = _rows(filled, "Slowest calls")
    assert slowest[0][1] == "d11" and slowest[0][5] == pytest.approx(12.0)
    thumbs = {(r[0], r[2]): (r[3], r[4]) for r in _rows(filled, "Thumbs down per model and "
                                                           "prompt version")}
    # d0 (claude, v0) down, d1 (gpt, v1) up, d2 (claude, v2) down, d3 (gpt, v0) down,
    # d4 (claude, v1) up, d5 (gpt, v2) up
    assert thumbs[("gpt-4o", "v0")] == (1, 1.0)
    assert thumbs[("gpt-4o", "v1")] == (1, 0.0)
    assert thumbs[("claude-3-5-sonnet", "v2")] == (1, 1.0)
    pairs = _rows(filled, "Training pairs (corrections)")
    assert [(r[5], r[8]) for r in pairs] == [("d3", "better")]
    drift = _rows(filled, "Drift checks")
    assert {(r[2], r[3], r[5]) for r in drift} == {("*", "overall", "drift"),
                                                   ("*", "prompt_embedding", "drift")}
    costs = _rows(filled, "Costliest models per day")
    assert sum(r[2] for r in costs) == 12
    assert sum(r[3] for r in costs) == pytest.approx(sum(0.01 * (i + 1) for i in range(12)))


def test_time_filter_macro_limits_the_rows(filled: ClickHouseStore) -> None:
    [sql] = [p["targets"][0]["rawSql"] for p in BOARDS["llmpulse-clickhouse.json"]["panels"]
             if p["title"] == "Slowest calls"]
    later = bind_sql(sql, T0 + timedelta(days=1), T0 + timedelta(days=2),
                     {"model": "'gpt-4o'"})
    assert filled.query(later) == []


# --- export -----------------------------------------------------------------------------------


def test_export_writes_json_and_provisioning(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["dashboards", "export", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == sorted([*BOARDS, PROVISIONING_FILE])
    for name, board in BOARDS.items():
        assert json.loads((out / name).read_text()) == json.loads(json.dumps(board))
    config = yaml.safe_load((out / PROVISIONING_FILE).read_text())
    [provider] = config["providers"]
    assert config["apiVersion"] == 1 and provider["type"] == "file"
    assert provider["options"]["path"] == str(out.resolve())
    assert provider["folder"] == "llmpulse"


def test_deploy_grafana_is_up_to_date(tmp_path: Path) -> None:
    """deploy/grafana holds what the code generates: regenerate and compare."""
    write_dashboards(BOARDS, tmp_path, DEPLOY_PROVISIONING_PATH)
    stale = [p.name for p in sorted(tmp_path.iterdir())
             if not (DEPLOY / p.name).is_file()
             or (DEPLOY / p.name).read_text(encoding="utf-8") != p.read_text(encoding="utf-8")]
    extra = {p.name for p in DEPLOY.glob("*.json")} - set(BOARDS)
    assert not stale and not extra, (
        f"deploy/grafana is out of date ({stale or sorted(extra)}); regenerate with: "
        f"llmpulse dashboards export --out deploy/grafana "
        f"--provisioning-path {DEPLOY_PROVISIONING_PATH}")
    assert render_json(BOARDS["llmpulse-oncall.json"]).endswith("}\n")


# --- push: protocol test against a loopback server standing in for Grafana ------------------


@dataclass
class FakeGrafana:
    """Grafana's folder and dashboard endpoints, in memory; records every request."""

    auth: str
    requests: list[tuple[str, str, Any, str]] = field(default_factory=list)
    folders: list[dict[str, Any]] = field(default_factory=list)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)

    def handle(self, method: str, path: str, body: Any, auth: str) -> tuple[int, Any]:
        self.requests.append((method, path, body, auth))
        if auth != self.auth:
            return 401, {"message": "invalid API key"}
        if (method, path) == ("GET", "/api/folders"):
            return 200, self.folders
        if (method, path) == ("POST", "/api/folders"):
            folder = {"id": len(self.folders) + 1, "uid": body["uid"], "title": body["title"]}
            self.folders.append(folder)
            return 200, folder
        if (method, path) == ("POST", "/api/dashboards/db"):
            uid = body["dashboard"]["uid"]
            if uid in self.dashboards and not body.get("overwrite"):
                return 412, {"message": "version-mismatch", "status": "version-mismatch"}
            version = self.dashboards.get(uid, {}).get("version", 0) + 1
            self.dashboards[uid] = {**body, "version": version}
            return 200, {"id": 1, "uid": uid, "url": f"/d/{uid}/x", "status": "success",
                         "version": version, "slug": "x"}
        return 404, {"message": "not found"}


@pytest.fixture
def grafana() -> Iterator[tuple[FakeGrafana, str]]:
    fake = FakeGrafana(auth="Bearer s3cret")

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, reply = fake.handle(self.command, self.path.split("?")[0], body,
                                        self.headers.get("Authorization", ""))
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_push_creates_the_folder_and_uploads_every_dashboard(
        grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    pushed = push_dashboards(BOARDS, url, "s3cret", "LLM monitoring")
    assert [p.uid for p in pushed] == [b["uid"] for b in BOARDS.values()]
    assert [p.version for p in pushed] == [1, 1, 1]
    calls = [(m, p) for m, p, _, _ in fake.requests]
    assert calls == [("GET", "/api/folders"), ("POST", "/api/folders")] + [
        ("POST", "/api/dashboards/db")] * 3
    assert fake.requests[1][2] == {"title": "LLM monitoring", "uid": "llm-monitoring"}
    for (_, _, body, auth), board in zip(fake.requests[2:], BOARDS.values(), strict=True):
        assert auth == "Bearer s3cret"
        assert body["overwrite"] is True and body["folderUid"] == "llm-monitoring"
        assert body["dashboard"]["uid"] == board["uid"] and body["dashboard"]["id"] is None
        assert body["dashboard"]["panels"] == json.loads(json.dumps(board["panels"]))


def test_push_again_reuses_the_folder_and_overwrites_by_uid(
        grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    push_dashboards(BOARDS, url, "s3cret", "llmpulse")
    fake.requests.clear()
    again = push_dashboards(BOARDS, url, "s3cret", "llmpulse")
    assert [p.version for p in again] == [2, 2, 2]
    assert [m for m, p, _, _ in fake.requests].count("POST") == 3  # no second folder
    assert len(fake.folders) == 1 and len(fake.dashboards) == 3


def test_push_with_user_and_password_uses_basic_auth(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    fake.auth = "Basic " + base64.b64encode(b"admin:pw").decode()
    push_dashboards(BOARDS, url, ("admin", "pw"), "General")
    assert [(m, p) for m, p, _, _ in fake.requests] == [("POST", "/api/dashboards/db")] * 3
    assert all("folderUid" not in body for _, _, body, _ in fake.requests)


def test_push_with_a_wrong_token_is_a_clear_error(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    with pytest.raises(GrafanaPushError, match=r"refused the request \(401.*--token"):
        push_dashboards(BOARDS, url, "wrong", "llmpulse")
    assert not fake.dashboards


def test_push_to_nothing_listening_is_a_clear_error() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        port = closed.server_address[1]
    with pytest.raises(GrafanaPushError, match="cannot reach Grafana"):
        push_dashboards(BOARDS, f"http://127.0.0.1:{port}", "t", "llmpulse", timeout=2)


def _llmpulse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmpulse", *args], capture_output=True,
                          text=True, timeout=60)


def test_push_command_exit_codes(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    ok = _llmpulse("dashboards", "push", "--url", url, "--token", "s3cret")
    assert ok.returncode == 0, ok.stderr
    assert "llmpulse-oncall" in ok.stdout and len(fake.dashboards) == 3
    denied = _llmpulse("dashboards", "push", "--url", url, "--token", "nope")
    assert denied.returncode != 0
    assert "refused the request (401" in denied.stderr
    both = _llmpulse("dashboards", "push", "--url", url, "--token", "a", "--user", "b",
                     "--password", "c")
    assert both.returncode != 0 and "either --token or --user" in both.stderr
