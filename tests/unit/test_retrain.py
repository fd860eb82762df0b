"""Retraining triggers: policy parsing, the trigger and its dataset query (on the real
ClickHouse engine), and the desk's idempotency, cooldown and approval, forwarding
to a real webhook receiver on loopback."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from llmpulse.alerting.message import AlertMessage, Evidence
from llmpulse.alerting.notifiers import SIGNATURE_HEADER, Notifier, verify
from llmpulse.alerting.rules import parse_rules
from llmpulse.detectors.cost import Cost
from llmpulse.errors import ConfigError
from llmpulse.records import from_inference
from llmpulse.retrain.desk import RetrainDesk
from llmpulse.retrain.trigger import RetrainTrigger, build_trigger, trigger_id
from llmpulse.schema import EVENT_ADAPTER
from llmpulse.signals import Signal
from llmpulse.sinks import retrain_store
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.kafka import OutMessage
from llmpulse.sinks.rows import StoredCall
from tests.harness.receiver import Receiver, Reply
from tests.unit.factories import T0, feedback, inference

SECRET = "retrain-hook-secret"

RULES = f"""
channels:
  ci: {{type: webhook, url: "http://127.0.0.1:1/hook", secret: {SECRET}}}
  chat: {{type: slack, url: "https://hooks.slack.invalid/x"}}
rules:
  - name: grounding_drop
    metric: groundedness_mean
    operator: "<"
    threshold: 0.6
    window: 5m
    for: 10m
    group_by: [model]
    retrain:
      cooldown: 1h
      forward: [ci]
  - name: reviewed_drop
    metric: thumbs_down_rate
    threshold: 0.3
    window: 5m
    group_by: [model]
    retrain: {{approval: required, cooldown: 0s}}
"""


def rules(url: str = "http://127.0.0.1:1/hook") -> Any:
    return parse_rules(RULES.replace("http://127.0.0.1:1/hook", url), "test")


def alert(rule: str = "grounding_drop", since_min: int = 0, model: str = "gpt-4o"
          ) -> AlertMessage:
    since = T0 + timedelta(minutes=since_min)
    return AlertMessage(
        id=f"{model}\x1e*\x1e*\x1e{rule}:trigger:{int(since.timestamp() * 1000)}",
        dedup_key=f"{model}\x1e{rule}", kind="trigger", state="firing", rule=rule,
        severity="warning", summary="mean groundedness of gpt-4o is 0.31",
        metric="groundedness_mean",
        operator="<", value=0.31, threshold=0.6, group={"model": model}, count=40,
        window_s=300, window_start=since + timedelta(minutes=5),
        window_end=since + timedelta(minutes=10), since=since, time=since + timedelta(minutes=10),
        evidence=(Evidence(request_id="bad1", value=0.9), Evidence(request_id="bad2", value=0.8)))


def test_a_policy_is_a_rule_with_a_retrain_section() -> None:
    loaded = rules()
    policy = loaded.rule("grounding_drop")
    assert policy.retrain is not None and policy.retrain.cooldown == 3600
    assert policy.retrain.forward == ("ci",)
    with pytest.raises(ConfigError, match="must be a webhook channel"):
        parse_rules(RULES.replace("forward: [ci]", "forward: [chat]"), "test")


def test_the_trigger_carries_its_id_evidence_and_a_dataset_selector() -> None:
    loaded = rules()
    a = alert()
    t = build_trigger(a, loaded.rule("grounding_drop"), "triggered", T0)
    assert t.id == trigger_id(a) == build_trigger(a, loaded.rule("grounding_drop"),
                                                  "triggered", T0 + timedelta(hours=1)).id
    assert [e.request_id for e in t.evidence] == ["bad1", "bad2"]
    assert t.model == "gpt-4o" and t.route == "*" and t.dataset.filters == {"model": "gpt-4o"}
    assert t.dataset.start == T0 - timedelta(minutes=5) and t.dataset.end == a.window_end
    wire = t.to_wire()
    assert b'"from"' in wire and RetrainTrigger.from_wire(wire) == t


def call(rid: str, minutes: float, model: str = "gpt-4o") -> StoredCall:
    start = T0 + timedelta(minutes=minutes)
    event = EVENT_ADAPTER.validate_python(inference(
        rid, start_time=start.isoformat(), end_time=(start + timedelta(seconds=2)).isoformat(),
        **{"gen_ai.request.model": model, "prompt_template_id": "support",
           "prompt_template_version": "v7",
           "gen_ai.input.messages": [{"role": "user", "content": f"question {rid}"}],
           "gen_ai.output.messages": [{"role": "assistant", "content": f"answer {rid}"}]}))
    return StoredCall(from_inference(event), Cost(0.001, "prices", "test"))


def test_the_dataset_query_selects_the_bad_examples_of_the_range(store: ClickHouseStore) -> None:
    now = T0 + timedelta(hours=1)
    calls = [call("ok", 1), call("ungrounded", 2), call("down", 3), call("fixed", 4),
             call("rated", 5), call("other-model", 3, "gpt-4o-mini"), call("too-early", -30)]
    store.insert_calls(calls, now)
    signals = [Signal(name="groundedness", value=v, request_id=rid, time=T0, model="gpt-4o",
                      provider="openai", route="chat", tenant="acme", label="", detector="x")
               for rid, v in (("ok", 0.9), ("ungrounded", 0.2), ("other-model", 0.1),
                              ("too-early", 0.1))]
    store.insert_signals(signals, {}, now)
    events = [EVENT_ADAPTER.validate_python(f) for f in (
        feedback("down"), feedback("ok", thumbs="up"),
        feedback("fixed", thumbs=None, correction="The right answer."),
        feedback("rated", thumbs=None, rating=1))]
    store.insert_feedback(events, now)
    t = build_trigger(alert(since_min=0), rules().rule("grounding_drop"), "triggered", now)
    rows = store.query(t.dataset.query)
    assert [r[0] for r in rows] == ["ungrounded", "down", "fixed", "rated"]
    by_id = {r[0]: r for r in rows}
    assert "answer down" in by_id["down"][7] and by_id["fixed"][13] == "The right answer."
    assert by_id["down"][10] == 1 and by_id["down"][11] == "down"
    drifted = build_trigger(alert(since_min=0).model_copy(update={"metric": "prompt_drift_rate"}),
                            rules().rule("grounding_drop"), "triggered", now)
    assert sorted(r[0] for r in store.query(drifted.dataset.query)) == [
        "down", "fixed", "ok", "rated", "ungrounded"]  # drift: the window's traffic itself
    assert retrain_store.prompt_versions(store, t.dataset.start, t.dataset.end,
                                         t.dataset.filters) == ("support@v7",)
    pairs = store.query("SELECT request_id, corrected_answer FROM training_pairs")
    assert pairs == [("fixed", "The right answer.")]


class Producer:
    def __init__(self) -> None:
        self.sent: list[OutMessage] = []

    async def send_all(self, messages: list[OutMessage]) -> None:
        self.sent.extend(messages)


class Clock:
    def __init__(self) -> None:
        self.now = (T0 + timedelta(minutes=10)).timestamp()

    def __call__(self) -> float:
        return self.now


async def test_one_trigger_per_incident_cooldown_and_forwarding(store: ClickHouseStore) -> None:
    with Receiver() as hook:
        loaded = rules(hook.url("/hook"))
        producer, clock = Producer(), Clock()
        notifier = Notifier(loaded.channels, {}, backoff_initial_s=0.01)
        desk = RetrainDesk("llm.retrain", loaded, store, producer, notifier,  # type: ignore[arg-type]
                           None, clock)
        first = await desk.on_alert(alert())
        assert first is not None and first.status == "triggered"
        assert await desk.on_alert(alert()) is None  # a replayed alert: same id, stored
        clock.now += 1800
        again = await desk.on_alert(alert(since_min=30))  # a new incident inside the cooldown
        assert again is not None and again.status == "suppressed"
        clock.now += 3600
        later = await desk.on_alert(alert(since_min=90))
        assert later is not None and later.status == "triggered"
        await notifier.aclose()
        assert [m.key for m in producer.sent] == [first.id.encode(), later.id.encode()]
        got = hook.wait_for(lambda r: len(r) == 2, 5, "two forwarded triggers")
        assert verify(got[0].body, SECRET, got[0].headers, time.time())
        assert SIGNATURE_HEADER in got[0].headers
        assert RetrainTrigger.from_wire(got[0].body).id == first.id
    stored = {t.id: t.status for t in retrain_store.listing(store)}
    assert stored == {first.id: "triggered", again.id: "suppressed", later.id: "triggered"}


async def test_a_failed_forward_is_sent_again_when_due_until_it_lands(
        store: ClickHouseStore) -> None:
    from llmpulse.retrain.desk import FORWARD_FIRST_RETRY_S

    with Receiver() as hook:
        loaded = rules(hook.url("/hook"))
        retries = loaded.channels["ci"].retries + 1
        hook.script("/hook", *[Reply(status=503)] * (2 * retries))  # two rounds fail
        producer, clock = Producer(), Clock()
        notifier = Notifier(loaded.channels, {}, backoff_initial_s=0.01)
        desk = RetrainDesk("llm.retrain", loaded, store, producer, notifier,  # type: ignore[arg-type]
                           None, clock)
        first = await desk.on_alert(alert())
        assert first is not None and first.forward_failed == ("ci",)
        assert first.forward_attempts == 1 and first.next_forward_at is not None
        assert await desk.resend_due() == []  # not due yet
        clock.now += FORWARD_FIRST_RETRY_S
        [second] = await desk.resend_due()
        assert second.forward_failed == ("ci",) and second.forward_attempts == 2
        assert second.next_forward_at is not None
        assert second.next_forward_at - first.next_forward_at >= timedelta(
            seconds=2 * FORWARD_FIRST_RETRY_S)  # backing off
        clock.now += 2 * FORWARD_FIRST_RETRY_S
        [third] = await desk.resend_due()  # the receiver is back
        assert third.forward_failed == () and third.next_forward_at is None
        assert await desk.resend_due() == []
        await notifier.aclose()
        landed = [r for r in hook.received("/hook")]
        assert len(landed) == 2 * retries + 1
        assert RetrainTrigger.from_wire(landed[-1].body).id == first.id
        assert len(producer.sent) == 1  # published on llm.retrain once
    stored = retrain_store.get(store, first.id)
    assert stored is not None and stored.forward_failed == () and stored.status == "triggered"


async def test_a_policy_needing_approval_waits_for_a_human(store: ClickHouseStore) -> None:
    loaded = rules()
    producer, clock = Producer(), Clock()
    notifier = Notifier(loaded.channels, {})
    desk = RetrainDesk("llm.retrain", loaded, store, producer, notifier,  # type: ignore[arg-type]
                       None, clock)
    waiting = await desk.on_alert(alert("reviewed_drop"))
    assert waiting is not None and waiting.status == "pending_approval" and producer.sent == []
    approved = await desk.approve(waiting, "dana")
    await notifier.aclose()
    assert approved.approved_by == "dana" and len(producer.sent) == 1
    stored = retrain_store.get(store, waiting.id)
    assert stored is not None and stored.status == "approved"
    assert await desk.on_alert(alert("reviewed_drop")) is None


def test_a_policy_per_prompt_version_selects_that_version_only(store: ClickHouseStore) -> None:
    now = T0 + timedelta(hours=1)
    v8 = call("v8-bad", 2).record
    other = StoredCall(replace(v8, prompt_template_version="v8"), Cost(0.001, "prices", "test"))
    store.insert_calls([call("v7-bad", 2), other], now)
    store.insert_feedback([EVENT_ADAPTER.validate_python(feedback(rid))
                           for rid in ("v7-bad", "v8-bad")], now)
    a = alert().model_copy(update={"group": {"model": "gpt-4o",
                                             "prompt_version": "support@v7"}})
    t = build_trigger(a, rules().rule("grounding_drop"), "triggered", now)
    assert t.prompt_version == "support@v7"
    assert t.dataset.filters == {"model": "gpt-4o", "prompt_version": "support@v7"}
    assert [r[0] for r in store.query(t.dataset.query)] == ["v7-bad"]
    assert retrain_store.prompt_versions(store, t.dataset.start, t.dataset.end,
                                         {"model": "gpt-4o"}) in (
        ("support@v7", "support@v8"), ("support@v8", "support@v7"))
    retrain_store.write(store, t, 1)
    other_version = t.model_copy(update={"id": "x", "prompt_version": "support@v8"})
    assert retrain_store.last_live(store, other_version) is None  # cooldown is per version
    assert retrain_store.last_live(store, t.model_copy(update={"id": "y"})) is not None


async def test_a_resend_to_some_webhooks_keeps_the_others_to_reach(
        store: ClickHouseStore) -> None:
    """Issue 20: `resend --channel ci` must not drop `deadci` from the webhooks to reach,
    nor its retry schedule."""
    with Receiver() as hook:
        text = RULES.replace("http://127.0.0.1:1/hook", hook.url("/hook")).replace(
            "  chat:", f"  deadci: {{type: webhook, url: \"{hook.url('/dead')}\", "
            f"secret: {SECRET}, retries: 0}}\n  chat:").replace(
            "retrain: {approval: required, cooldown: 0s}",
            "retrain: {approval: required, cooldown: 0s, forward: [ci, deadci]}")
        loaded = parse_rules(text, "test")
        hook.script("/hook", *[Reply(status=503)] * (loaded.channels["ci"].retries + 1))
        hook.defaults["/dead"] = Reply(status=503)
        producer, clock = Producer(), Clock()
        notifier = Notifier(loaded.channels, {}, backoff_initial_s=0.01)
        desk = RetrainDesk("llm.retrain", loaded, store, producer, notifier,  # type: ignore[arg-type]
                           None, clock)
        waiting = await desk.on_alert(alert("reviewed_drop"))
        assert waiting is not None
        approved = await desk.approve(waiting, "dana")
        assert approved.forward_failed == ("ci", "deadci") and approved.forward_attempts == 1
        schedule = approved.next_forward_at
        assert schedule is not None

        clock.now += 5
        one = await desk.resend(approved, ["ci"])  # ci is back; deadci is not named
        assert [(r.channel, r.ok) for r in desk.last_forward] == [("ci", True)]
        assert one.forward_failed == ("deadci",)
        assert one.forward_attempts == 1 and one.next_forward_at == schedule
        stored = retrain_store.get(store, waiting.id)
        assert stored is not None and stored.forward_failed == ("deadci",)
        assert stored.next_forward_at == schedule

        clock.now += 5
        again = await desk.resend(stored)  # the default: the webhooks still to reach
        assert [(r.channel, r.ok) for r in desk.last_forward] == [("deadci", False)]
        assert again.forward_failed == ("deadci",) and again.forward_attempts == 2

        clock.now += 5
        hook.script("/hook", *[Reply(status=503)] * (loaded.channels["ci"].retries + 1))
        both = await desk.resend(again, ["ci"])  # ci fails now too: it joins deadci
        await notifier.aclose()
    assert both.forward_failed == ("deadci", "ci") and both.forward_attempts == 2
    assert both.next_forward_at == again.next_forward_at
    assert len(hook.received("/dead")) == 2
