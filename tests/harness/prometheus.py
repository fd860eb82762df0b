"""Real Prometheus and Alertmanager servers on loopback ports, for integration tests.

Both are Debian's binaries (packages ``prometheus`` and ``prometheus-alertmanager``,
which ``scripts/test.sh`` installs); a missing binary fails the test with the
package to install, it is never skipped. Each server keeps its storage and its
log in the test's temporary directory and listens on a free 127.0.0.1 port;
the Alertmanager runs without clustering (``--cluster.listen-address=``).

Also here: :func:`compress_rules`, the time-compressed copy of a Prometheus
rules file that lets a test watch the shipped alerts fire and resolve in
seconds instead of minutes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
import yaml

from llmpulse.embedded_broker import log_tail, stop_process
from tests.harness.net import free_port
from tests.harness.receiver import Received

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The shipped rules; their process alerts expect these job names.
RULES = REPO_ROOT / "deploy" / "prometheus" / "llmpulse-rules.yml"
WORKER_JOB = "llmpulse"
SCORER_JOB = "llmpulse-scorer"


def require_binary(name: str, package: str) -> str:
    """The path of ``name``; fails the test (no skip) naming the Debian package."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"the `{name}` binary is missing: apt-get install {package} "
                    "(scripts/test.sh installs it)", pytrace=False)
    return path


def prometheus_binary() -> str:
    return require_binary("prometheus", "prometheus")


def alertmanager_binary() -> str:
    return require_binary("prometheus-alertmanager", "prometheus-alertmanager")


# --- time-compressed rules ----------------------------------------------------
#
# The shipped rules wait minutes (`for: 10m`) over windows of minutes to hours
# (`rate(...[5m])`, `[1h]`, `deriv(...[10m])`). compress_rules() divides every
# such duration by one factor, mechanically: each `for:` (and `keep_firing_for:`,
# a group's `interval:`), and in each expression every range `[d]`, subquery
# `[d:r]` and `offset d`, outside string literals; a non-zero result below 1s
# becomes 1s. Metric names, recording rule names (`...:rate5m` stays as it is),
# label matchers, thresholds, labels and annotations are the shipped ones.

_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000,
            "w": 7 * 86_400_000, "y": 365 * 86_400_000}
_DURATION = r"(?:\d+(?:ms|[smhdwy]))+"
_DURATION_PART = re.compile(r"(\d+)(ms|[smhdwy])")
_PROMQL_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_RANGE = re.compile(rf"\[(\s*)({_DURATION})(\s*)(?:(:)(\s*)({_DURATION})?(\s*))?\]")
_OFFSET = re.compile(rf"\b(offset\s+-?)({_DURATION})\b")


def duration_ms(text: str) -> int:
    """A Prometheus duration (``90s``, ``1h30m``, ``500ms``) in milliseconds."""
    if not re.fullmatch(_DURATION, text):
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNIT_MS[unit] for n, unit in _DURATION_PART.findall(text))


def compress_duration(text: str, factor: int) -> str:
    """``text`` divided by ``factor``, at least 1s unless it is 0: ``10m`` / 20 = ``30s``."""
    ms = duration_ms(text)
    if ms == 0:
        return text
    scaled = max(1_000, ms // factor)
    return f"{scaled // 1000}s" if scaled % 1000 == 0 else f"{scaled}ms"


def compress_expr(expr: str, factor: int) -> str:
    """``expr`` with its ranges, subquery ranges and offsets divided by ``factor``."""
    def ranges(match: re.Match[str]) -> str:
        lead, length, gap, colon, space, step, tail = match.groups()
        out = f"[{lead}{compress_duration(length, factor)}{gap}"
        if colon:
            out += f":{space}{compress_duration(step, factor) if step else ''}{tail or ''}"
        return out + "]"

    def code(text: str) -> str:
        text = _RANGE.sub(ranges, text)
        return _OFFSET.sub(lambda m: m[1] + compress_duration(m[2], factor), text)

    out, at = [], 0
    for literal in _PROMQL_STRING.finditer(expr):
        out += [code(expr[at:literal.start()]), literal[0]]
        at = literal.end()
    return "".join([*out, code(expr[at:])])


def compress_rules(text: str, factor: int) -> str:
    """A rules file (YAML text) with every duration divided by ``factor`` (see above);
    comments are dropped."""
    if factor < 1:
        raise ValueError("factor must be >= 1")
    document = yaml.safe_load(text)
    for group in document["groups"]:
        if "interval" in group:
            group["interval"] = compress_duration(group["interval"], factor)
        for rule in group["rules"]:
            rule["expr"] = compress_expr(rule["expr"], factor)
            for key in ("for", "keep_firing_for"):
                if key in rule:
                    rule[key] = compress_duration(rule[key], factor)
    return (f"# Time-compressed copy (tests/harness/prometheus.py): every duration / {factor}\n"
            + str(yaml.dump(document, Dumper=_BlockDumper, sort_keys=False, width=10_000)))


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (the expressions) as ``|`` blocks, as in the shipped file."""


_BlockDumper.add_representer(str, lambda dumper, value: dumper.represent_scalar(
    "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None))


# --- configuration ------------------------------------------------------------

def write_prometheus_config(path: Path, jobs: Mapping[str, Sequence[int]], *,
                            rule_files: Sequence[Path] = (), alertmanager: int | None = None,
                            interval: str = "1s") -> Path:
    """Scrape each job's loopback ports and evaluate the rules every ``interval``."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "scrape_timeout": interval,
                   "evaluation_interval": interval},
        "scrape_configs": [
            {"job_name": job, "static_configs": [
                {"targets": [f"127.0.0.1:{port}" for port in ports]}]}
            for job, ports in jobs.items()],
    }
    if rule_files:
        config["rule_files"] = [str(p) for p in rule_files]
    if alertmanager is not None:
        config["alerting"] = {"alertmanagers": [
            {"static_configs": [{"targets": [f"127.0.0.1:{alertmanager}"]}]}]}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def prometheus_config(tmp_path: Path, target: int) -> Path:
    """A scrape config for the worker's metrics on ``target``, every second."""
    return write_prometheus_config(tmp_path / "prometheus.yml", {WORKER_JOB: [target]})


def alertmanager_config(webhook_url: str, *, group_by: Sequence[str] = (
        "alertname", "gen_ai_request_model"), wait: str = "1s", repeat: str = "30s") -> str:
    """One route to one webhook receiver, resolved alerts included, with intervals of
    seconds (group_wait and group_interval ``wait``, repeat_interval ``repeat``)."""
    return yaml.safe_dump({
        "route": {"receiver": "webhook", "group_by": list(group_by), "group_wait": wait,
                  "group_interval": wait, "repeat_interval": repeat},
        "receivers": [{"name": "webhook", "webhook_configs": [
            {"url": webhook_url, "send_resolved": True}]}],
    }, sort_keys=False)


# --- HTTP ---------------------------------------------------------------------

def api_get(port: int, path: str, params: Sequence[tuple[str, str]] = (),
            timeout: float = 10) -> dict[str, Any]:
    """GET a JSON API on 127.0.0.1; an HTTP error's JSON body is returned as well."""
    url = f"http://127.0.0.1:{port}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # a bad query: Prometheus says why in the body
        body = json.loads(exc.read())
    return body


def query(port: int, expr: str) -> list[dict[str, Any]]:
    """An instant query's result vector."""
    body = api_get(port, "/api/v1/query", [("query", expr)], timeout=5)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _wait_ready(port: int, proc: subprocess.Popen[bytes], what: str, log: Path,
                timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited ({proc.returncode}) at start:\n{log_tail(log)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    stop_process(proc, 10)
    pytest.fail(f"{what} not ready after {timeout:.0f}s:\n{log_tail(log)}")


# --- Prometheus ---------------------------------------------------------------

def start_prometheus(binary: str, tmp_path: Path, config: Path
                     ) -> tuple[subprocess.Popen[bytes], int]:
    """A real Prometheus server on a free loopback port (the caller terminates it)."""
    port = free_port()
    prom = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"))
    return prom, port


def wait_scraped(port: int, calls: int, timeout: float = 90) -> float:
    """Wait until Prometheus has scraped ``calls`` stored calls; the total it saw."""
    deadline = time.monotonic() + timeout
    total = 0.0
    while time.monotonic() < deadline:
        try:
            result = query(port, "sum(llmpulse_calls_total)")
        except OSError:
            result = []
        total = float(result[0]["value"][1]) if result else 0.0
        if total >= calls:
            return total
        time.sleep(1)
    pytest.fail(f"Prometheus saw {total} of {calls} calls")


class Prometheus:
    """A Prometheus server (``with Prometheus(tmp_path, config) as prom``), ready on exit
    of ``__enter__``; its TSDB and log in ``tmp_path``."""

    def __init__(self, tmp_path: Path, config: Path, ready_timeout: float = 60) -> None:
        self.tmp_path, self.config, self.ready_timeout = tmp_path, config, ready_timeout
        self.log = tmp_path / "prometheus.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def __enter__(self) -> Prometheus:
        binary = prometheus_binary()
        checked = subprocess.run([require_binary("promtool", "prometheus"), "check", "config",
                                  str(self.config)], capture_output=True, text=True,
                                 timeout=60, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        self.proc, self.port = start_prometheus(binary, self.tmp_path, self.config)
        _wait_ready(self.port, self.proc, "prometheus", self.log, self.ready_timeout)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.proc is not None:
            stop_process(self.proc, 30)

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log, lines)

    def get(self, path: str, params: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        return api_get(self.port, path, params)

    def query(self, expr: str) -> list[dict[str, Any]]:
        return query(self.port, expr)

    def rules(self) -> list[dict[str, Any]]:
        """Every loaded rule (``/api/v1/rules``), with its group's name as ``group``."""
        body = self.get("/api/v1/rules")
        assert body["status"] == "success", body
        return [{**rule, "group": group["name"]} for group in body["data"]["groups"]
                for rule in group["rules"]]

    def wait_rules_evaluated(self, timeout: float = 30) -> list[dict[str, Any]]:
        """Wait until every rule has been evaluated at least once (health no longer
        ``unknown``); the rules."""
        deadline = time.monotonic() + timeout
        while True:
            rules = self.rules()
            pending = [r["name"] for r in rules if r.get("health") == "unknown"]
            if rules and not pending:
                return rules
            if time.monotonic() > deadline:
                pytest.fail(f"rules not evaluated after {timeout:.0f}s: "
                            f"{pending or 'none loaded'}\n{self.log_tail()}")
            time.sleep(0.5)

    def rule_problems(self) -> list[str]:
        """Rules whose last evaluation failed (health not ok, or a lastError)."""
        return [f"{r['group']}/{r['name']}: health {r.get('health')}, "
                f"lastError {r.get('lastError')!r}"
                for r in self.rules() if r.get("health") != "ok" or r.get("lastError")]

    def alerts(self) -> list[dict[str, Any]]:
        """The pending and firing alerts (``/api/v1/alerts``)."""
        body = self.get("/api/v1/alerts")
        assert body["status"] == "success", body
        return list(body["data"]["alerts"])


# --- Alertmanager -------------------------------------------------------------

class Alertmanager:
    """An Alertmanager (``with Alertmanager(tmp_path, config_text) as am``), no cluster,
    storage and log in ``tmp_path``."""

    def __init__(self, tmp_path: Path, config_text: str, ready_timeout: float = 60) -> None:
        self.dir = tmp_path / "alertmanager"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "alertmanager.yml"
        self.config.write_text(config_text)
        self.log = self.dir / "alertmanager.log"
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def __enter__(self) -> Alertmanager:
        binary = alertmanager_binary()
        amtool = require_binary("amtool", "prometheus-alertmanager")
        checked = subprocess.run([amtool, "check-config", str(self.config)],
                                 capture_output=True, text=True, timeout=60, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, f"--config.file={self.config}", f"--storage.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address="],
            stdout=subprocess.DEVNULL, stderr=self.log.open("w"))
        _wait_ready(self.port, self.proc, "prometheus-alertmanager", self.log,
                    self.ready_timeout)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.proc is not None:
            stop_process(self.proc, 30)

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log, lines)


def notified(received: Sequence[Received]) -> list[dict[str, Any]]:
    """Every alert of every Alertmanager webhook notification, in arrival order, each with
    ``at`` (arrival time) added; ``status`` is the alert's own (firing or resolved)."""
    return [{**alert, "at": request.at} for request in received
            for alert in request.json()["alerts"]]


def matching(alerts: Sequence[dict[str, Any]], status: str | None = None,
             **labels: str) -> list[dict[str, Any]]:
    """The alerts with ``status`` (any if None) and every label in ``labels``."""
    return [a for a in alerts if (status is None or a["status"] == status)
            and all(a["labels"].get(k) == v for k, v in labels.items())]


def wait_until(check: Callable[[], Any], timeout: float, what: str,
               explain: Callable[[], str] = lambda: "") -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``explain()``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{explain()}")
