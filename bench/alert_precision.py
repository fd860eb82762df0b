"""Alert precision of the shipped Prometheus rules on the demo's on-call schedule.

A real Prometheus (the shipped rules, scraping the worker and the scorer every
5 s) and a real Alertmanager (a webhook receiver on loopback) watch
``llmpulse demo --duration 1800`` (the on-call schedule: normal traffic, then an
incident for every default alert, then a store outage).  Every alert that fired
is attributed to the incident or drill it was meant for; one that no incident
explains is a false positive.  Every incident must fire its primary alerts.

    python bench/alert_precision.py --minutes 30 --rate 50

Needs the Debian packages ``prometheus`` and ``prometheus-alertmanager``.
Writes bench/results/alert_precision-<time>.json and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the webhook receiver lives with the tests

from llmpulse.drills import parse_drills  # noqa: E402
from llmpulse.simulator import ONCALL_SCHEDULE_S, default_incidents, oncall_drills  # noqa: E402
from tests.harness.receiver import Receiver  # noqa: E402

RULES = ROOT / "deploy" / "prometheus" / "llmpulse-rules.yml"
#: An alert may still fire, or first fire, this long after its incident ended (the
#: 5-minute windows, the `for` of the slower alerts and the hysteresis).
GRACE_S = 600.0


@dataclass(frozen=True)
class Cause:
    """An injected incident or drill, the alerts it may fire and those it must fire."""

    name: str
    start: float
    end: float
    allowed: dict[str, dict[str, str]]   # alertname -> labels the alert must carry
    primary: tuple[str, ...]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def causes(origin: float, duration: float) -> list[Cause]:
    """What the demo injects (simulator.oncall_incidents and oncall_drills)."""
    found: list[Cause] = []
    for incident in default_incidents(duration):
        start, end = origin + incident.start_s, origin + incident.start_s + incident.duration_s
        kind = incident.kind
        if kind == "latency_spike":
            found.append(Cause("latency_spike", start, end, {
                "LlmLatencyP95High": {"gen_ai_request_model": str(incident.model)}},
                ("LlmLatencyP95High",)))
        elif kind == "errors":
            target = {"gen_ai_request_model": str(incident.model),
                      "llmpulse_route": str(incident.route)}
            found.append(Cause("errors", start, end, {
                "LlmErrorRatioHigh": target, "LlmErrorBudgetFastBurn": target,
                "LlmErrorBudgetSlowBurn": target,
                "LlmLatencyP95High": target},  # its timeouts take 30 s
                ("LlmErrorRatioHigh", "LlmErrorBudgetFastBurn")))
        elif kind == "prompt_bloat":
            found.append(Cause("prompt_bloat", start, end, {"LlmCostBurnHigh": {}},
                               ("LlmCostBurnHigh",)))
        elif kind == "malformed":
            found.append(Cause("malformed", start, end, {"LlmpulseDeadLetterRateHigh": {}},
                               ("LlmpulseDeadLetterRateHigh",)))
        elif kind == "unpriced":
            found.append(Cause("unpriced", start, end, {"LlmUnknownPriceCalls": {
                "gen_ai_request_model": f"{incident.model}-preview"}},
                ("LlmUnknownPriceCalls",)))
        # ungrounded and toxic answers are the alert engine's (no Prometheus rule)
    for drill in parse_drills(oncall_drills(duration, origin)):
        end = drill.start + drill.duration_s
        if drill.kind == "scorer_slow":
            found.append(Cause("scorer_slow drill", drill.start, end, {
                "LlmpulseScorerShedding": {}, "LlmpulseScorerFallingBehind": {}},
                ("LlmpulseScorerShedding",)))
        else:
            found.append(Cause("store_down drill", drill.start, end, {
                "LlmpulseSinkFailing": {}, "LlmpulseConsumerLagGrowing": {},
                "LlmpulseWorkerNotConsuming": {}, "LlmpulseStoreDown": {},
                "LlmpulseScorerNotConsuming": {}},
                ("LlmpulseSinkFailing", "LlmpulseConsumerLagGrowing")))
    return found


def write_configs(work: Path, worker_port: int, scorer_port: int, am_port: int,
                  hook: str) -> tuple[Path, Path]:
    prom = work / "prometheus.yml"
    prom.write_text(f"""global:
  scrape_interval: 5s
  evaluation_interval: 15s
rule_files: ['{RULES}']
alerting:
  alertmanagers:
    - static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]
scrape_configs:
  - job_name: llmpulse
    static_configs: [{{targets: ['127.0.0.1:{worker_port}']}}]
  - job_name: llmpulse-scorer
    static_configs: [{{targets: ['127.0.0.1:{scorer_port}']}}]
""")
    am = work / "alertmanager.yml"
    am.write_text(f"""route:
  receiver: hook
  group_by: ['...']
  group_wait: 10s
  group_interval: 30s
  repeat_interval: 4h
receivers:
  - name: hook
    webhook_configs: [{{url: '{hook}', send_resolved: true}}]
""")
    return prom, am


def query_range(port: int, expr: str, start: float, end: float, step: float = 15.0
                ) -> list[dict[str, Any]]:
    url = (f"http://127.0.0.1:{port}/api/v1/query_range?"
           + urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step}))
    with urllib.request.urlopen(url, timeout=30) as response:
        body = json.loads(response.read())
    return list(body["data"]["result"])


def firing_intervals(series: list[dict[str, Any]], step: float = 15.0
                     ) -> list[tuple[dict[str, str], float, float]]:
    """(labels, first, last) of every stretch an alert was firing."""
    out = []
    for s in series:
        times = [float(t) for t, _ in s["values"]]
        begin = prev = times[0]
        for t in times[1:]:
            if t - prev > 2 * step:
                out.append((s["metric"], begin, prev))
                begin = t
            prev = t
        out.append((s["metric"], begin, prev))
    return out


def attribute(labels: dict[str, str], first: float, found: list[Cause]) -> Cause | None:
    name = labels["alertname"]
    for cause in found:
        wanted = cause.allowed.get(name)
        if wanted is None or not cause.start <= first <= cause.end + GRACE_S:
            continue
        if all(labels.get(k) == v for k, v in wanted.items()):
            return cause
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=50.0, help="calls per second")
    args = parser.parse_args()
    duration = args.minutes * 60
    if duration < ONCALL_SCHEDULE_S:
        parser.error("the on-call schedule needs --minutes 30 or more")
    for binary in ("prometheus", "prometheus-alertmanager"):
        if shutil.which(binary) is None:
            parser.error(f"`{binary}` is missing: apt-get install {binary}")
    work = Path(tempfile.mkdtemp(prefix="llmpulse-alert-precision-"))
    worker_port, scorer_port = _free_port(), _free_port()
    prom_port, am_port = _free_port(), _free_port()
    procs: list[subprocess.Popen[bytes]] = []
    with Receiver() as receiver:
        prom_cfg, am_cfg = write_configs(work, worker_port, scorer_port, am_port,
                                         receiver.url("/am"))
        procs.append(subprocess.Popen(
            ["prometheus-alertmanager", f"--config.file={am_cfg}",
             f"--storage.path={work / 'am'}", f"--web.listen-address=127.0.0.1:{am_port}",
             "--cluster.listen-address="],
            stdout=subprocess.DEVNULL, stderr=(work / "alertmanager.log").open("w")))
        procs.append(subprocess.Popen(
            ["prometheus", f"--config.file={prom_cfg}", f"--storage.tsdb.path={work / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.DEVNULL, stderr=(work / "prometheus.log").open("w")))
        env = {**os.environ, "LLMPULSE_METRICS_PORT": str(worker_port),
               "LLMPULSE_SCORER_METRICS_PORT": str(scorer_port),
               "LLMPULSE_DATA_DIR": str(work / "demo")}
        env.pop("LLMPULSE_DRILLS", None)
        env.pop("LLMPULSE_PRICES_FILE", None)
        origin = time.time()  # the demo's origin, within the second it takes to start
        demo = subprocess.run(
            [sys.executable, "-m", "llmpulse", "demo", "--duration", str(duration),
             "--rate", str(args.rate)], env=env, capture_output=True, text=True)
        end = time.time()
        time.sleep(30)  # the last notifications through Alertmanager
        try:
            series = query_range(prom_port, 'ALERTS{alertstate="firing"}', origin, end)
            rules = json.loads(urllib.request.urlopen(
                f"http://127.0.0.1:{prom_port}/api/v1/rules", timeout=10).read())
        finally:
            for proc in procs:
                proc.terminate()
        notifications = [r.json() for r in receiver.received("/am")]
    found = causes(origin, duration)
    # what the processes' own shutdown at the end makes fire is not an alert on traffic
    fired = [(labels, first, last) for labels, first, last in firing_intervals(series)]
    explained, unexplained = [], []
    for labels, first, last in fired:
        cause = attribute(labels, first, found)
        row = {"alert": labels["alertname"],
               "labels": {k: v for k, v in labels.items()
                          if k not in ("alertname", "alertstate", "__name__")},
               "first_min": round((first - origin) / 60, 2),
               "last_min": round((last - origin) / 60, 2),
               "cause": cause.name if cause else None}
        (explained if cause else unexplained).append(row)
    detection = {}
    for cause in found:
        for name in cause.primary:
            hits = [r["first_min"] for r in explained
                    if r["cause"] == cause.name and r["alert"] == name]
            detection[f"{cause.name}: {name}"] = (
                round(min(hits) - (cause.start - origin) / 60, 2) if hits else None)
    unhealthy = [r["name"] for g in rules["data"]["groups"] for r in g["rules"]
                 if r.get("health") != "ok"]
    result = {
        "minutes": args.minutes, "rate": args.rate, "demo_exit": demo.returncode,
        "rules_unhealthy": unhealthy,
        "alerts_fired": len(fired), "explained": explained, "unexplained": unexplained,
        "detection_minutes_after_start": detection,
        "missed": [k for k, v in detection.items() if v is None],
        "alertmanager_notifications": {
            "firing": sum(a["status"] == "firing" for n in notifications for a in n["alerts"]),
            "resolved": sum(a["status"] == "resolved" for n in notifications
                            for a in n["alerts"])},
        "demo_tail": demo.stdout[-3000:], "work_dir": str(work),
    }
    out = ROOT / "bench" / "results" / f"alert_precision-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"alerts fired: {len(fired)}, unexplained (false positives): {len(unexplained)}, "
          f"incidents missed: {len(result['missed'])}; rules unhealthy: {unhealthy}")
    for key, minutes in detection.items():
        print(f"  {key:<55} " + ("MISSED" if minutes is None else f"+{minutes:.1f} min"))
    for row in unexplained:
        print(f"  UNEXPLAINED {row['alert']} {row['labels']} at {row['first_min']} min")
    print(f"Alertmanager delivered {result['alertmanager_notifications']}; details: {out}")
    return 0 if not unexplained and not result["missed"] and not unhealthy else 1


if __name__ == "__main__":
    sys.exit(main())
