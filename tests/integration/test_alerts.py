"""Alerts end to end on a real broker: simulator → worker → loopback Slack/PagerDuty receivers."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from llmpulse.alerting.notifiers import verify
from llmpulse.simulator import Incident, SimulationStats
from tests.harness.receiver import Received, Receiver, Reply
from tests.integration.stack import Stack, make_stack, wait_metrics

SECRET = "loopback-secret"


def rules_file(tmp_path: Path, receiver: Receiver, rules: str) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(f"""
channels:
  slack: {{type: slack, url: "{receiver.url('/slack')}", retries: 2}}
  pager: {{type: pagerduty, url: "{receiver.url('/pd')}", routing_key: rk-test, retries: 2}}
  hook: {{type: webhook, url: "{receiver.url('/hook')}", secret_env: IT_WEBHOOK_SECRET,
         retries: 2}}
rules:
{rules}
""")
    return path


LATENCY_RULE = """
  - name: route_slow
    metric: duration_p95
    group_by: [route]
    window: 5s
    threshold: 30
    clear_threshold: 20
    min_count: 10
    severity: critical
    channels: [slack, pager, hook]
    runbook_url: https://runbooks.example/route-slow
"""
COST_RULE = """
  - name: tenant_spend
    metric: cost_usd
    group_by: [tenant]
    window: 4s
    baseline: {method: ewma, windows: 20, min_windows: 4, factor: 3}
    min_count: 5
    channels: [slack, hook]
budgets:
  - {name: acme_daily, group_by: tenant, match: acme, period: day, amount_usd: 0.01}
"""


def start(stack: Stack, rules: Path, name: str = "worker") -> Any:
    return stack.worker(name, LLMPULSE_RULES_FILE=str(rules), LLMPULSE_WINDOW_PANE_S="1",
                        LLMPULSE_WINDOW_LATENESS_S="1", IT_WEBHOOK_SECRET=SECRET)


def traffic(stack: Stack, seconds: float, incidents: list[Incident]) -> threading.Thread:
    result: dict[str, SimulationStats] = {}

    def run() -> None:
        result["stats"] = stack.simulate(rate=250, duration=seconds, seed=11,
                                         incidents=incidents)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def pd(receiver: Receiver) -> list[dict[str, Any]]:
    return [r.json() for r in receiver.received("/pd")]


def slack_texts(receiver: Receiver) -> list[str]:
    return [r.json()["text"] for r in receiver.received("/slack")]


def test_latency_spike_on_one_route_pages_for_that_route_then_resolves(
        broker: str, tmp_path: Path) -> None:
    stack = make_stack(broker, tmp_path)
    with Receiver() as receiver:
        worker = start(stack, rules_file(tmp_path, receiver, LATENCY_RULE))
        try:
            spike = Incident("latency_spike", start_s=8, duration_s=10, route="summarize",
                             factor=8)
            sender = traffic(stack, 30, [spike])
            # each channel is its own delivery lane: wait for the resolve on all three
            receiver.wait_for(
                lambda got: any(r.path == "/pd" and r.json()["event_action"] == "resolve"
                                for r in got)
                and sum(r.path == "/slack" for r in got) >= 2
                and sum(r.path == "/hook" for r in got) >= 2,
                timeout=120, what="the resolve on PagerDuty, Slack and the webhook")
            sender.join(60)
        finally:
            worker.stop()
    pages = pd(receiver)
    assert [p["event_action"] for p in pages] == ["trigger", "resolve"]
    trigger, resolve = pages
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["group"] == "summarize"  # the route, and only that route
    assert trigger["payload"]["custom_details"]["group"] == {"route": "summarize"}
    assert resolve["dedup_key"] == trigger["dedup_key"] and trigger["routing_key"] == "rk-test"
    slack = [r.json() for r in receiver.received("/slack")]
    assert len(slack) == 2 and "summarize" in slack[0]["text"]
    assert "RESOLVED" in slack[1]["text"]
    blocks = str(slack[0]["blocks"])
    assert "https://runbooks.example/route-slow" in blocks and "30" in blocks
    hooks = receiver.received("/hook")
    assert len(hooks) == 2 and all(_signed(h) for h in hooks)
    assert {h.json()["group"]["route"] for h in hooks} == {"summarize"}
    evidence = hooks[0].json()["evidence"]
    assert evidence and all(e["value"] > 10 for e in evidence)  # the slow calls themselves
    ids = "', '".join(e["request_id"] for e in evidence)
    rows = stack.sql(f"SELECT route, duration_s FROM inference_events FINAL "
                     f"WHERE request_id IN ('{ids}')")
    assert rows and all(route == "summarize" and d > 10 for route, d in rows)
    listed = stack.cli("alerts", "list", "--all", "--json")
    assert listed.returncode == 0, listed.stderr
    states = {(a["route"], a["state"]) for a in map(json.loads, listed.stdout.splitlines())}
    assert ("summarize", "resolved") in states
    assert not any(state == "firing" for _, state in states)


def _signed(request: Received) -> bool:
    return verify(request.body, SECRET, request.headers, now=request.at)


# spend baselines are computed from stored windows, not from the broker: one broker is enough
@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_tenant_spend_three_times_its_baseline_fires_only_for_that_tenant(
        broker: str, tmp_path: Path) -> None:
    stack = make_stack(broker, tmp_path)
    with Receiver() as receiver:
        receiver.script("/hook", *[Reply(status=500, body=b"down")] * 50)  # always failing
        worker = start(stack, rules_file(tmp_path, receiver, COST_RULE))
        try:
            spike = Incident("cost_spike", start_s=30, duration_s=12, tenant="acme", factor=5)
            traffic(stack, 50, [spike]).join(120)
            receiver.wait_for(lambda got: any("RESOLVED" in text for text in slack_texts(receiver))
                              and len(receiver.received("/hook")) >= 6,
                              timeout=60, what="the resolve of the spend alert")
            values = wait_metrics(worker, lambda m: m.get("llmpulse_calls_total", 0) > 0,
                                  timeout=10, what="metrics")
        finally:
            worker.stop()
    texts = slack_texts(receiver)
    assert len(texts) == 2 and "acme" in texts[0] and "RESOLVED" in texts[1]
    firing = next(r.json() for r in receiver.received("/slack"))
    assert "tenant_spend" in firing["text"]
    # the stationary tenants, over the same 50 s, fired nothing
    assert not any(t in text for text in texts for t in ("globex", "initech", "umbrella"))
    assert values.get("llmpulse_alerts_firing{rule=tenant_spend,severity=warning}") == 0
    # the failing webhook was retried, then recorded as failed; Slack got its messages anyway
    hook = stack.sql("SELECT kind, ok, attempts, http_status FROM alert_notifications FINAL "
                     "WHERE channel = 'hook' ORDER BY time")
    assert hook == [["trigger", 0, 3, 500], ["resolve", 0, 3, 500]]
    assert len(receiver.received("/hook")) == 6
    assert values["llmpulse_alert_notifications_total{channel=hook,kind=trigger,outcome=failed}"] \
        == 1
    env = {"LLMPULSE_RULES_FILE": str(tmp_path / "rules.yml")}
    report = stack.cli("budgets", env_extra=env)
    assert report.returncode == 0, report.stderr
    assert report.stdout.startswith("OVER") and "acme" in report.stdout
    listed = stack.cli("alerts", "list", "--json", env_extra=env)
    firing = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(a["rule"], a["tenant"], a["state"]) for a in firing] == \
        [("acme_daily", "acme", "firing")]  # the budget (no channel), not the resolved spike


def test_restart_while_firing_neither_repages_nor_loses_the_resolve(
        broker: str, tmp_path: Path) -> None:
    stack = make_stack(broker, tmp_path)
    with Receiver() as receiver:
        rules = rules_file(tmp_path, receiver, LATENCY_RULE)
        first = start(stack, rules, "first")
        spike = Incident("latency_spike", start_s=5, duration_s=35, route="summarize", factor=8)
        sender = traffic(stack, 60, [spike])
        try:
            receiver.wait_for(lambda got: len(got) >= 1 and bool(pd(receiver)), timeout=90,
                              what="the first page")
        finally:
            first.stop()
        second = start(stack, rules, "second")
        try:
            receiver.wait_for(lambda got: any(p["event_action"] == "resolve"
                                              for p in pd(receiver)),
                              timeout=120, what="the resolve after the restart")
            sender.join(60)
        finally:
            second.stop()
    assert [p["event_action"] for p in pd(receiver)] == ["trigger", "resolve"]
    rows = stack.sql("SELECT kind, count() FROM alert_notifications FINAL WHERE channel = 'pager' "
                     "GROUP BY kind ORDER BY kind")
    assert rows == [["resolve", 1], ["trigger", 1]]


def test_rules_check_and_a_test_notification_from_the_command_line(
        broker: str, tmp_path: Path) -> None:
    stack = make_stack(broker, tmp_path)
    with Receiver() as receiver:
        path = rules_file(tmp_path, receiver, LATENCY_RULE)
        env = {"LLMPULSE_RULES_FILE": str(path), "IT_WEBHOOK_SECRET": SECRET}
        checked = stack.cli("rules", "check", str(path), env_extra=env)
        assert checked.returncode == 0, checked.stderr
        assert "1 rules, 3 channels" in checked.stdout and "route_slow" in checked.stdout
        sent = stack.cli("alerts", "test", "route_slow", env_extra=env)
        assert sent.returncode == 0, sent.stderr + sent.stdout
        assert {r.path for r in receiver.received()} == {"/slack", "/pd", "/hook"}
        assert "TEST" in receiver.received("/slack")[0].json()["text"]
        assert _signed(receiver.received("/hook")[0])
        receiver.script("/slack", *[Reply(status=400, body=b"invalid_payload")])
        failed = stack.cli("alerts", "test", "route_slow", env_extra=env)
        assert failed.returncode == 1 and "slack: FAILED: HTTP 400" in failed.stdout
    bad = tmp_path / "bad.yml"
    bad.write_text("rules:\n  - name: x\n    metric: p95\n    threshold: 1\n")
    refused = stack.cli("rules", "check", str(bad))
    assert refused.returncode == 2
    assert f"{bad}:3:13: rules.0.metric: unknown metric 'p95'" in refused.stderr
    missing = stack.cli("rules", "check", str(path))  # the webhook secret is not set
    assert missing.returncode == 2 and "IT_WEBHOOK_SECRET" in missing.stderr
