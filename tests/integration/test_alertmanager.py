"""The shipped Prometheus alerts, end to end: worker -> Prometheus -> Alertmanager -> webhook.

A worker reads simulated traffic with one injected incident (60 % of the calls
to gpt-4o-mini fail for a minute). A real Prometheus scrapes it every second
and evaluates the shipped rules; a real Alertmanager routes the alerts to a
loopback webhook. The test checks that every rule evaluates without error
(before, during and after the incident, and with the worker down), that
``LlmErrorRatioHigh`` reaches the webhook firing with the model's labels and
an absolute runbook link, that its resolved notification follows once the
incident is over, and that killing the worker (SIGKILL) fires
``LlmpulseWorkerDown``.

Time compression: the shipped rules wait minutes (``for: 10m`` over
``rate(...[5m])``), so Prometheus loads a copy in which every duration (``for``,
range, subquery and offset) is divided by ``FACTOR`` (see ``compress_rules`` in
tests/harness/prometheus.py and its unit test). The expressions, thresholds,
labels and annotations are the shipped ones: ``LlmErrorRatioHigh`` looks at a
15 s window and fires after 30 s, ``LlmpulseWorkerDown`` after 9 s.

One broker only (the embedded one): what is under test is the path from
/metrics through Prometheus and Alertmanager, which does not depend on the
broker, while the run takes about two minutes of real time on a shared 2-core
CI machine; the worker's own behaviour on Apache Kafka is covered elsewhere.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from llmpulse.embedded_broker import EmbeddedBroker
from llmpulse.simulator import Incident, SimulationStats
from tests.harness.prometheus import (
    RULES,
    WORKER_JOB,
    Alertmanager,
    Prometheus,
    alertmanager_binary,
    alertmanager_config,
    compress_rules,
    matching,
    notified,
    prometheus_binary,
    require_binary,
    wait_until,
    write_prometheus_config,
)
from tests.harness.receiver import Receiver
from tests.integration.stack import make_stack

README = RULES.parent / "README.md"

pytestmark = [pytest.mark.integration, pytest.mark.timeout(360)]

FACTOR = 20
MODEL = "gpt-4o-mini"
RATE = 10.0  # calls/s: each gpt-4o-mini route gets >= 0.5 calls/s, over the 0.1 guard
INCIDENT = Incident("errors", start_s=20, duration_s=60, model=MODEL, factor=0.6)
HOOK = "/alertmanager"


def _state(prom: Prometheus, am: Alertmanager, receiver: Receiver) -> str:
    """What Prometheus and Alertmanager see, for a failure message."""
    alerts = [(a["labels"].get("alertname"), a["labels"].get("gen_ai_request_model"),
               a["labels"].get("llmpulse_route"), a["state"]) for a in prom.alerts()]
    ratios = {(r["metric"].get("gen_ai_request_model"), r["metric"].get("llmpulse_route")):
              r["value"][1] for r in prom.query("model_route:llmpulse_call_error_ratio:rate5m")}
    received = [(a["status"], a["labels"].get("alertname"),
                 a["labels"].get("gen_ai_request_model"), a["labels"].get("llmpulse_route"))
                for a in notified(receiver.received(HOOK))]
    return (f"Prometheus alerts: {alerts}\nerror ratios (15s window): {ratios}\n"
            f"webhook received: {received}\nrule problems: {prom.rule_problems()}\n"
            f"--- prometheus log ---\n{prom.log_tail(15)}\n"
            f"--- alertmanager log ---\n{am.log_tail(15)}")


def _absolute(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def test_shipped_alerts_reach_a_webhook_through_alertmanager(
        embedded_broker: EmbeddedBroker, tmp_path: Path) -> None:
    prometheus_binary()  # a missing binary fails the test before anything starts
    alertmanager_binary()
    stack = make_stack(embedded_broker.bootstrap, tmp_path)
    rules = tmp_path / "llmpulse-rules.compressed.yml"
    rules.write_text(compress_rules(RULES.read_text(), FACTOR))
    worker = stack.worker()
    assert worker.metrics_port is not None
    instance = f"127.0.0.1:{worker.metrics_port}"
    stop = threading.Event()
    out: dict[str, Any] = {}

    def traffic() -> None:
        try:
            out["stats"] = stack.simulate(rate=RATE, duration=240, seed=19,
                                          incidents=[INCIDENT], stop=stop.is_set)
        except BaseException as exc:  # reported by the main thread
            out["error"] = exc

    try:
        with Receiver() as receiver, \
                Alertmanager(tmp_path, alertmanager_config(receiver.url(HOOK))) as am:
            config = write_prometheus_config(
                tmp_path / "prometheus.yml", {WORKER_JOB: [worker.metrics_port]},
                rule_files=[rules], alertmanager=am.port)
            with Prometheus(tmp_path, config) as prom:
                def explain() -> str:
                    return _state(prom, am, receiver) + (
                        f"\ntraffic: {out}\n--- worker log ---\n{worker.log_tail(15)}")

                rule_count = len(prom.wait_rules_evaluated())
                assert not prom.rule_problems(), prom.rule_problems()

                sender = threading.Thread(target=traffic, daemon=True)
                started = time.time()
                sender.start()
                incident_end = started + INCIDENT.start_s + INCIDENT.duration_s

                # 1. The incident fires LlmErrorRatioHigh for gpt-4o-mini, through Alertmanager.
                firing = wait_until(
                    lambda: matching(notified(receiver.received(HOOK)), "firing",
                                     alertname="LlmErrorRatioHigh", gen_ai_request_model=MODEL),
                    timeout=INCIDENT.start_s + INCIDENT.duration_s + 30,
                    what=f"LlmErrorRatioHigh firing for {MODEL} at the webhook", explain=explain)
                alert = firing[0]
                assert alert["labels"] == {
                    "alertname": "LlmErrorRatioHigh", "severity": "warning",
                    "gen_ai_provider_name": "openai", "gen_ai_request_model": MODEL,
                    "llmpulse_route": alert["labels"]["llmpulse_route"]}
                assert alert["labels"]["llmpulse_route"] in ("chat", "summarize", "classify")
                runbook = alert["annotations"]["runbook_url"]
                assert _absolute(runbook) and runbook.endswith("#llmerrorratiohigh"), runbook
                assert MODEL in alert["annotations"]["summary"]
                assert alert["at"] > started + INCIDENT.start_s
                problems = prom.rule_problems()  # every rule, now with data flowing
                assert not problems, "\n".join(problems)

                # 2. ... and resolves once the incident is over: every route that fired.
                def resolved() -> bool:
                    got = notified(receiver.received(HOOK))
                    routes = {a["labels"]["llmpulse_route"] for a in matching(
                        got, "firing", alertname="LlmErrorRatioHigh",
                        gen_ai_request_model=MODEL)}
                    done = {a["labels"]["llmpulse_route"] for a in matching(
                        got, "resolved", alertname="LlmErrorRatioHigh",
                        gen_ai_request_model=MODEL)}
                    return routes <= done

                wait_until(resolved, timeout=incident_end - time.time() + 60,
                           what=f"LlmErrorRatioHigh of {MODEL} resolved", explain=explain)
                first_resolve = min(a["at"] for a in matching(
                    notified(receiver.received(HOOK)), "resolved",
                    alertname="LlmErrorRatioHigh", gen_ai_request_model=MODEL))
                assert first_resolve > incident_end, "resolved while the calls still failed"
                stop.set()
                sender.join(60)
                assert "error" not in out, out
                stats: SimulationStats = out["stats"]
                assert stats.incidents[INCIDENT.name] > 100, stats.incidents

                # 3. A worker that dies fires LlmpulseWorkerDown.
                killed = time.time()
                worker.kill()
                down = wait_until(
                    lambda: matching(notified(receiver.received(HOOK)), "firing",
                                     alertname="LlmpulseWorkerDown"),
                    timeout=60, what="LlmpulseWorkerDown at the webhook", explain=explain)
                assert down[0]["labels"] == {"alertname": "LlmpulseWorkerDown", "job": WORKER_JOB,
                                             "instance": instance, "severity": "critical"}
                assert down[0]["at"] - killed >= 180 / FACTOR  # its `for`, compressed
                assert _absolute(down[0]["annotations"]["runbook_url"])
                problems = prom.rule_problems()
                assert not problems, "\n".join(problems)
                assert len(prom.rules()) == rule_count
                print("webhook timeline (s after the traffic started):", *(
                    f"{a['at'] - started:6.1f} {a['status']:8} {a['labels']['alertname']} "
                    f"{a['labels'].get('gen_ai_request_model', '')} "
                    f"{a['labels'].get('llmpulse_route', '')}"
                    for a in notified(receiver.received(HOOK))), sep="\n  ")
    finally:
        stop.set()
        worker.stop()


def test_the_readme_alertmanager_configs_are_valid(tmp_path: Path) -> None:
    """deploy/prometheus/README.md's Alertmanager snippets, alone and together, pass
    ``amtool check-config``."""
    amtool = require_binary("amtool", "prometheus-alertmanager")
    snippets = re.findall(r"```yaml\n# alertmanager\.yml\n(.*?)```", README.read_text(), re.S)
    assert len(snippets) == 2  # routing, inhibit rules
    for name, text in (("routing", snippets[0]), ("all", "".join(snippets))):
        path = tmp_path / f"{name}.yml"
        path.write_text(text)
        done = subprocess.run([amtool, "check-config", str(path)], capture_output=True,
                              text=True, timeout=60, check=False)
        assert done.returncode == 0, f"{name}:\n{done.stdout}{done.stderr}"
