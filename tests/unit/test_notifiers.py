"""Notifiers against a real HTTP receiver on 127.0.0.1 (no mocked transport)."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from llmpulse.alerting.channels import (
    ChannelConfig,
    PagerDutyChannel,
    SlackChannel,
    WebhookChannel,
    parse_channels,
)
from llmpulse.alerting.message import AlertMessage, Baseline, Evidence
from llmpulse.alerting.notifiers import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Notifier,
    pagerduty_payload,
    retry_after_s,
    sign,
    slack_payload,
    verify,
)
from llmpulse.errors import ConfigError
from tests.harness.receiver import Receiver, Reply

NOW = 1_700_000_000.0
SECRET = "s3cret-webhook-key"


class Rig(Receiver):
    """The loopback receiver, and notifiers wired to it through ``client`` with a no-op
    sleep that records its waits."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        super().__init__()
        self.client = client
        self.sleeps: list[float] = []

    def notifier(self, channels: dict[str, ChannelConfig], env: dict[str, str] | None = None
                 ) -> Notifier:
        return Notifier(channels, env or {}, client=self.client, sleep=self.sleep,
                        clock=lambda: NOW)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with httpx.AsyncClient(trust_env=False) as client:
        with Rig(client) as rig:
            yield rig


def make_alert(**update: Any) -> AlertMessage:
    end = datetime(2024, 5, 1, 12, 5, tzinfo=UTC)
    alert = AlertMessage(
        id="alert-0001", dedup_key="llmpulse-0123456789abcdef", kind="trigger",
        state="firing", rule="p95_latency_high", severity="critical",
        summary="p95 latency 3.25 s is above 2 s", metric="latency_p95", operator=">",
        value=3.25, threshold=2.0, baseline=Baseline(method="ewma", value=1.12, windows=30),
        group={"model": "gpt-4o", "route": "chat"}, count=42, window_s=300.0,
        window_start=end - timedelta(minutes=5), window_end=end, since=end, time=end,
        runbook_url="https://runbooks.example/latency", channels=("slack",),
        evidence=tuple(Evidence(request_id=f"req-{i}", value=3.0 + i / 10, detail="slow")
                       for i in range(7)),
    )
    return alert.model_copy(update=update)


def slack(rig: Rig, **kw: Any) -> SlackChannel:
    return SlackChannel(type="slack", url=rig.url("/slack"), **kw)


async def test_slack_delivery_sends_block_kit(rig: Rig) -> None:
    alert = make_alert()
    [result] = await rig.notifier({"slack": slack(rig)}).deliver(alert)
    assert result.ok and result.attempts == 1 and result.status == 200 and result.error is None
    [request] = rig.received("/slack")
    assert request.headers[DELIVERY_HEADER] == "alert-0001"
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    assert body == slack_payload(alert)
    assert "p95_latency_high" in body["text"] and "CRITICAL" in body["text"]
    types = [b["type"] for b in body["blocks"]]
    assert types[0] == "header" and "section" in types and "actions" in types
    fields = " ".join(f["text"] for b in body["blocks"] for f in b.get("fields", []))
    for expected in ("*Value*\n3.25", "*Threshold*\n&gt; 2", "*Baseline*\n1.12 (ewma",
                     "*Window*\n2024-05-01 12:00:00", "12:05:00 UTC (5m)",
                     "model=gpt-4o, route=chat", "*Count*\n42"):
        assert expected in fields
    [button] = next(b for b in body["blocks"] if b["type"] == "actions")["elements"]
    assert button["url"] == "https://runbooks.example/latency"
    evidence = json.dumps(body)  # the first five of seven
    assert "5 of 7" in evidence and all(f"req-{i}" in evidence for i in range(5))
    assert "req-5" not in evidence and "req-6" not in evidence


def test_slack_resolved_is_marked_and_optional_parts_are_left_out() -> None:
    alert = make_alert(kind="resolve", state="resolved", runbook_url=None, baseline=None,
                       evidence=(), value=float("nan"))
    body = slack_payload(alert)
    assert body["text"].startswith("[RESOLVED]")
    assert "RESOLVED" in body["blocks"][0]["text"]["text"]
    assert body["blocks"][2]["fields"][0]["text"] == "*Value*\nnan"
    text = json.dumps(body)
    assert "Baseline" not in text and "Evidence" not in text
    assert all(b["type"] != "actions" for b in body["blocks"])


async def test_pagerduty_trigger_with_env_routing_key(rig: Rig) -> None:
    channel = PagerDutyChannel(type="pagerduty", routing_key_env="PD_KEY",
                               url=rig.url("/pd"))
    notifier = rig.notifier({"pd": channel}, {"PD_KEY": "rk-from-env"})
    [result] = await notifier.deliver(make_alert(channels=("pd",)))
    assert result.ok
    [request] = rig.received("/pd")
    assert request.headers[DELIVERY_HEADER] == "alert-0001"
    event = json.loads(request.body)
    assert (event["routing_key"], event["event_action"], event["dedup_key"]) == (
        "rk-from-env", "trigger", "llmpulse-0123456789abcdef")
    payload = event["payload"]
    assert payload["source"] == "llmpulse" and payload["severity"] == "critical"
    assert payload["component"] == "gpt-4o" and payload["group"] == "chat"
    assert payload["class"] == "latency_p95"
    assert payload["timestamp"] == "2024-05-01T12:05:00+00:00"
    details = payload["custom_details"]
    assert details["value"] == 3.25 and details["threshold"] == 2.0
    assert details["window"]["seconds"] == 300.0
    assert details["group"] == {"model": "gpt-4o", "route": "chat"}
    assert [e["request_id"] for e in details["evidence"]][:2] == ["req-0", "req-1"]
    assert event["links"] == [{"href": "https://runbooks.example/latency", "text": "Runbook"}]


async def test_pagerduty_resolve_sends_only_the_key(rig: Rig) -> None:
    channel = PagerDutyChannel(type="pagerduty", routing_key="rk", url=rig.url("/pd"))
    alert = make_alert(kind="resolve", state="resolved", channels=("pd",))
    [result] = await rig.notifier({"pd": channel}).deliver(alert)
    assert result.ok
    assert json.loads(rig.received("/pd")[0].body) == {
        "routing_key": "rk", "event_action": "resolve",
        "dedup_key": "llmpulse-0123456789abcdef"}


@pytest.mark.parametrize("severity", ["critical", "error", "warning", "info"])
@pytest.mark.parametrize("kind", ["trigger", "renotify", "test"])
def test_pagerduty_severity_and_trigger_kinds(severity: str, kind: str) -> None:
    event = pagerduty_payload(make_alert(severity=severity, kind=kind), "rk")
    assert event["event_action"] == "trigger"
    assert event["payload"]["severity"] == severity


async def test_webhook_is_signed_and_verifiable(rig: Rig) -> None:
    channel = WebhookChannel(type="webhook", url=rig.url("/hook"), secret_env="HOOK_SECRET",
                             headers={"X-Team": "ml-platform"})
    notifier = rig.notifier({"hook": channel}, {"HOOK_SECRET": SECRET})
    alert = make_alert(channels=("hook",))
    [result] = await notifier.deliver(alert)
    assert result.ok
    [request] = rig.received("/hook")
    assert AlertMessage.from_wire(request.body) == alert
    headers = request.headers
    assert headers["X-Team"] == "ml-platform"
    assert headers[DELIVERY_HEADER] == "alert-0001"
    assert headers[TIMESTAMP_HEADER] == str(int(NOW))
    assert headers[SIGNATURE_HEADER].startswith("sha256=")
    assert verify(request.body, SECRET, headers, now=NOW + 10)
    assert not verify(request.body, "wrong-secret", headers, now=NOW)
    assert not verify(request.body + b" ", SECRET, headers, now=NOW)
    assert not verify(request.body, SECRET, headers, now=NOW + 301)
    assert not verify(request.body, SECRET, headers, now=NOW - 301)


def test_verify_rejects_missing_or_malformed_headers() -> None:
    body = b'{"id":"x"}'
    good = sign(body, SECRET, 1000)
    assert verify(body, SECRET, {k.lower(): v for k, v in good.items()}, now=1000)
    assert not verify(body, SECRET, {}, now=1000)
    assert not verify(body, SECRET, {TIMESTAMP_HEADER: "soon", SIGNATURE_HEADER: "x"}, now=1000)
    assert not verify(body, SECRET, {TIMESTAMP_HEADER: "1000"}, now=1000)
    sig = good[SIGNATURE_HEADER]
    tampered = {**good, SIGNATURE_HEADER: sig[:-1] + ("1" if sig.endswith("0") else "0")}
    assert not verify(body, SECRET, tampered, now=1000)


async def test_retries_on_503_then_succeeds(rig: Rig) -> None:
    rig.script("/slack", Reply(503, b"busy"), Reply(503, b"busy"), Reply(200))
    [result] = await rig.notifier({"slack": slack(rig)}).deliver(make_alert())
    assert result.ok and result.attempts == 3 and result.status == 200
    ids = [r.headers[DELIVERY_HEADER] for r in rig.received("/slack")]
    assert ids == ["alert-0001"] * 3  # the same idempotency key on every attempt
    assert len(rig.sleeps) == 2 and all(s > 0 for s in rig.sleeps)


async def test_429_honours_a_short_retry_after(rig: Rig) -> None:
    rig.script("/slack", Reply(429, b"rate_limited", {"Retry-After": "2"}), Reply(200))
    [result] = await rig.notifier({"slack": slack(rig)}).deliver(make_alert())
    assert result.ok and result.attempts == 2
    assert rig.sleeps == [2.0]
    assert retry_after_s("7", NOW) == 7.0
    assert retry_after_s(None, NOW) is None
    assert retry_after_s("garbage", NOW) is None
    assert retry_after_s("Tue, 14 Nov 2023 22:13:30 GMT", NOW) == 10.0


async def test_no_retry_on_400(rig: Rig) -> None:
    rig.script("/slack", Reply(400, b"invalid_payload"))
    [result] = await rig.notifier({"slack": slack(rig)}).deliver(make_alert())
    assert not result.ok and result.attempts == 1 and result.status == 400
    assert result.error is not None and "invalid_payload" in result.error
    assert len(rig.received("/slack")) == 1 and rig.sleeps == []


async def test_5xx_until_retries_run_out(rig: Rig) -> None:
    rig.script("/slack", *[Reply(500, b"boom")] * 5)
    [result] = await rig.notifier({"slack": slack(rig, retries=2)}).deliver(make_alert())
    assert not result.ok and result.attempts == 3 and result.status == 500
    assert result.error == "HTTP 500: boom"
    assert len(rig.received("/slack")) == 3


async def test_slow_receiver_times_out_and_is_retried(rig: Rig) -> None:
    rig.script("/slack", Reply(delay_s=10), Reply(delay_s=10))
    channel = slack(rig, timeout_s=0.2, retries=1)
    [result] = await rig.notifier({"slack": channel}).deliver(make_alert())
    assert not result.ok and result.attempts == 2 and result.status is None
    assert result.error is not None and "Timeout" in result.error
    assert len(rig.received("/slack")) == 2


async def test_connection_refused_is_retried_then_reported(rig: Rig) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = SlackChannel(type="slack", url=f"http://127.0.0.1:{port}/x", retries=2)
    [result] = await rig.notifier({"slack": channel}).deliver(make_alert())
    assert not result.ok and result.attempts == 3 and result.status is None
    assert result.error is not None and "ConnectError" in result.error


async def test_unknown_channel_and_concurrent_fan_out(rig: Rig) -> None:
    channels: dict[str, ChannelConfig] = {
        "slack": slack(rig),
        "pd": PagerDutyChannel(type="pagerduty", routing_key="rk", url=rig.url("/pd")),
        "hook": WebhookChannel(type="webhook", url=rig.url("/hook"), secret=SECRET),
    }
    alert = make_alert(channels=("slack", "nope", "pd", "hook", "slack"))
    results = await rig.notifier(channels).deliver(alert)
    assert [r.channel for r in results] == ["slack", "nope", "pd", "hook"]
    unknown = results[1]
    assert not unknown.ok and unknown.error == "unknown channel" and unknown.attempts == 0
    assert all(r.ok for r in results if r.channel != "nope")
    assert all(len(rig.received(p)) == 1 for p in ("/slack", "/pd", "/hook"))


async def test_notifier_owns_a_client_when_none_is_given(rig: Rig,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    notifier = Notifier({"slack": slack(rig)}, {}, sleep=rig.sleep)
    try:
        [result] = await notifier.deliver(make_alert())
    finally:
        await notifier.aclose()
    assert result.ok


def test_missing_env_secret_is_a_config_error_naming_it() -> None:
    pd = PagerDutyChannel(type="pagerduty", routing_key_env="LLMPULSE_TEST_PD_KEY")
    with pytest.raises(ConfigError, match="LLMPULSE_TEST_PD_KEY"):
        pd.resolve_routing_key({})
    hook = WebhookChannel(type="webhook", url="https://h.example/x", secret_env="HOOK_KEY")
    with pytest.raises(ConfigError, match="HOOK_KEY"):
        hook.resolve_secret({"HOOK_KEY": ""})
    assert hook.resolve_secret({"HOOK_KEY": "v"}) == "v"
    with pytest.raises(ConfigError, match=r"'pager'.*LLMPULSE_TEST_PD_KEY"):
        Notifier({"pager": pd}, {})  # fails before it opens a client


@pytest.mark.parametrize("raw", [
    {"type": "pagerduty"},
    {"type": "pagerduty", "routing_key": "a", "routing_key_env": "B"},
    {"type": "webhook", "url": "https://h.example/x"},
    {"type": "slack", "url": "ftp://h.example/x"},
    {"type": "slack", "url": "https://h.example/x", "colour": "red"},
    {"type": "slack", "url": "https://h.example/x", "retries": -1},
    {"type": "teams", "url": "https://h.example/x"},
])
def test_invalid_channel_configs_are_rejected(raw: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"channels\.bad"):
        parse_channels({"bad": raw})


def test_parse_channels_picks_the_model_by_type() -> None:
    channels = parse_channels({
        "s": {"type": "slack", "url": "https://hooks.slack.example/T/B/x"},
        "p": {"type": "pagerduty", "routing_key_env": "PD"},
        "w": {"type": "webhook", "url": "https://h.example/x", "secret": "topsecret",
              "timeout_s": 2},
    })
    assert isinstance(channels["s"], SlackChannel) and channels["s"].retries == 5
    assert isinstance(channels["p"], PagerDutyChannel)
    assert channels["p"].url == "https://events.pagerduty.com/v2/enqueue"
    assert isinstance(channels["w"], WebhookChannel) and channels["w"].timeout_s == 2.0
    with pytest.raises(ValidationError):
        channels["w"].retries = 1  # type: ignore[misc]
    assert "topsecret" not in repr(channels["w"])


async def test_pagerduty_body_stays_valid(rig: Rig) -> None:
    channel = PagerDutyChannel(type="pagerduty", routing_key="rk", url=rig.url("/pd"))
    alert = make_alert(value=float("nan"), threshold=float("inf"), summary="x" * 5000,
                       channels=("pd",))
    [result] = await rig.notifier({"pd": channel}).deliver(alert)
    assert result.ok
    payload = json.loads(rig.received("/pd")[0].body)["payload"]
    assert len(payload["summary"]) <= 1024
    details = payload["custom_details"]
    assert details["value"] is None and details["threshold"] is None  # NaN is not JSON
