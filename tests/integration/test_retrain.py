"""The retraining loop end to end on a real broker: worker + scorer processes, a loopback
webhook for the forwarded trigger, the real ClickHouse engine for the dataset query.

A model's RAG answers stop being grounded for a while (users thumb some of them
down); exactly one trigger reaches ``llm.retrain``, its evidence is from the
degraded window, and its dataset query returns those examples.  A second worker
that re-reads every topic from the start (a new consumer group) publishes no
second trigger.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from llmpulse.alerting.message import AlertMessage
from llmpulse.alerting.rules import parse_rules
from llmpulse.procs import WorkerProcess
from llmpulse.retrain.trigger import RetrainTrigger, build_trigger
from llmpulse.simulator import Incident, SimulationStats
from tests.harness.receiver import Receiver, Reply
from tests.integration.stack import Stack, make_stack, wait_metrics

MODEL = "acme-llama-3-70b-ft"
POLICY = """
channels:
  training-ci: {{type: webhook, url: "{url}", secret_env: IT_WEBHOOK_SECRET, retries: 2}}
rules:
  - name: grounding_drop
    metric: groundedness_mean
    operator: "<"
    threshold: 0.55
    group_by: [model]
    window: 5s
    for: 3s
    min_count: 5
    severity: warning
    retrain:
      cooldown: 1h
      forward: [training-ci]
"""
# Toxicity is not what this test is about: the lexicon keeps the scorer's CPU for the
# groundedness scores it waits for (the MiniLM toxicity model could leave the scorer far
# behind the traffic on a busy 2-core machine, and its scores late for the windows).
QUALITY = {"LLMPULSE_SCORE_SAMPLE_RATE": "1", "LLMPULSE_SCORE_BUDGET_PER_S": "1000",
           "LLMPULSE_TOXICITY_BACKEND": "lexicon",
           "LLMPULSE_GROUNDEDNESS_BACKEND": "hashing", "LLMPULSE_DRIFT_EVERY_S": "10",
           "LLMPULSE_DRIFT_MIN_SAMPLES": "50", "LLMPULSE_DRIFT_EMBEDDER": "hashing",
           "LLMPULSE_JOIN_TIMEOUT_S": "5"}


def read_topic(stack: Stack, role: str, quiet_s: float = 3.0) -> list[Any]:
    """Every message of a topic, from the start, until it has been quiet for a while."""
    consumer = Consumer({"bootstrap.servers": stack.broker, "group.id": f"it-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    topic = stack.prefix + role
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        messages: list[Any] = []
        last = time.monotonic()
        while time.monotonic() - last < quiet_s:
            message = consumer.poll(0.2)
            if message is None:
                continue
            assert message.error() is None, message.error()
            messages.append(message)
            last = time.monotonic()
        return messages
    finally:
        consumer.close()


def scorer(stack: Stack) -> WorkerProcess:
    process = WorkerProcess(stack.env(**QUALITY), log_path=stack.data_dir / "scorer.log",
                            command="scorer")
    process.start(timeout=120)
    return process


# the trigger goes back onto the bus: Apache Kafka, what a deployment runs on, is enough
@pytest.mark.parametrize("broker", ["kafka"], indirect=True)
def test_a_quality_drop_triggers_retraining_exactly_once(broker: str, tmp_path: Path) -> None:
    stack = make_stack(broker, tmp_path)
    with Receiver() as ci:
        rules = tmp_path / "rules.yml"
        rules.write_text(POLICY.format(url=ci.url("/dispatch")))
        env = {"LLMPULSE_RULES_FILE": str(rules), "LLMPULSE_WINDOW_PANE_S": "1",
               "LLMPULSE_WINDOW_LATENESS_S": "5", "IT_WEBHOOK_SECRET": "s", **QUALITY}
        worker = stack.worker(**env)
        score = scorer(stack)
        started = time.time()
        try:
            drop = Incident("ungrounded", start_s=12, duration_s=12, model=MODEL, factor=0.95)
            stats: dict[str, SimulationStats] = {}

            def traffic() -> None:
                stats["s"] = stack.simulate(rate=120, duration=40, seed=11, incidents=[drop])

            sender = threading.Thread(target=traffic, daemon=True)
            sender.start()
            ci.wait_for(lambda got: len(got) >= 1, timeout=120, what="the forwarded trigger")
            sender.join(120)
            sent = stats["s"].calls
            wait_metrics(worker, lambda v: v.get("llmpulse_calls_total", 0) >= sent, 60,
                         "every call stored")
            time.sleep(8)  # the incident has resolved; nothing else may fire
            # the worker also checked each busy model for drift, every 10 s
            checked = wait_metrics(worker, lambda v: any(
                k.startswith("llmpulse_drift_detected{") for k in v), 30, "a drift check")
            assert f"llmpulse_drift_detected{{model={MODEL},route=*}}" in checked
        finally:
            score.stop()
            worker.stop()
        published = read_topic(stack, "retrain")
        assert len(published) == 1, [m.value()[:300] for m in published]
        trigger = RetrainTrigger.from_wire(published[0].value())
        assert published[0].key() == trigger.id.encode()
        assert trigger.status == "triggered" and trigger.model == MODEL
        forwarded = ci.received("/dispatch")
        assert len(forwarded) == 1 and RetrainTrigger.from_wire(forwarded[0].body) == trigger

        # the evidence is from the degraded window, and poorly grounded
        ids = [e.request_id for e in trigger.evidence]
        assert ids
        quoted = ", ".join(f"'{i}'" for i in ids)
        rows = stack.sql(
            "SELECT e.request_id, toUnixTimestamp64Milli(e.end_time) / 1000, s.value "
            "FROM inference_events AS e FINAL INNER JOIN (SELECT request_id, value FROM signals "
            "FINAL WHERE name = 'groundedness') AS s ON s.request_id = e.request_id "
            f"WHERE e.request_id IN ({quoted})")
        assert sorted(r[0] for r in rows) == sorted(ids)
        first, last = trigger.window_start.timestamp(), trigger.window_end.timestamp()
        assert started + drop.start_s - 15 < first < started + drop.start_s + drop.duration_s
        for rid, at, grounded in rows:  # windows place a call at its end, in 1 s panes
            assert first - 1.0 <= float(at) <= last + 0.01, (rid, at, first, last)
            assert grounded < 0.55, (rid, grounded)

        # the dataset query returns those examples, and only calls of that model and range
        examples = stack.sql(trigger.dataset.query)
        got = {r[0] for r in examples}
        assert set(ids) <= got
        assert all(r[2] == MODEL for r in examples)
        lo, hi = trigger.dataset.start.timestamp(), trigger.dataset.end.timestamp()
        assert all(lo <= datetime.fromisoformat(r[1]).timestamp() < hi for r in examples if r[1])
        drift = stack.sql("SELECT count() FROM signals FINAL WHERE name = 'drift'")
        assert drift[0][0] >= 1
        stored = stack.sql("SELECT id, status FROM retrain_triggers FINAL")
        assert stored == [[trigger.id, "triggered"]]

        # a new consumer group re-reads every topic from the start: no second trigger
        again = stack.worker("replay", LLMPULSE_APP_ID=f"{stack.app_id}-replay", **env)
        try:
            wait_metrics(again, lambda v: v.get("llmpulse_duplicate_events_total{topic=stored}",
                                                0) >= sent * 0.9, 120, "the replay")
            # the replayed trigger reached the retraining desk, which recognised it
            seen = "llmpulse_retrain_triggers_total{outcome=duplicate,policy=grounding_drop}"
            wait_metrics(again, lambda v: v.get(seen, 0) >= 1, 60, "the replayed trigger")
            time.sleep(5)
        finally:
            again.stop()
        assert len(read_topic(stack, "retrain")) == 1
        assert len(ci.received("/dispatch")) == 1

        # an operator forwards it again by hand: the same signed trigger, not republished
        done = stack.cli("retrain", "resend", trigger.id, "--channel", "training-ci",
                         env_extra=env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "forwarded to training-ci: ok" in done.stdout
        resent = ci.received("/dispatch")
        assert len(resent) == 2 and RetrainTrigger.from_wire(resent[1].body).id == trigger.id
        assert len(read_topic(stack, "retrain")) == 1


TWO_HOOKS = """
channels:
  ci: {{type: webhook, url: "{ci}", secret_env: IT_WEBHOOK_SECRET, retries: 0}}
  deadci: {{type: webhook, url: "{dead}", secret_env: IT_WEBHOOK_SECRET, retries: 0}}
rules:
  - name: reviewed_drop
    metric: thumbs_down_rate
    threshold: 0.3
    window: 5m
    group_by: [model]
    retrain: {{approval: required, cooldown: 0s, forward: [ci, deadci]}}
"""


def pending_trigger(rules_text: str) -> RetrainTrigger:
    since = datetime.now().astimezone() - timedelta(minutes=10)
    alert = AlertMessage(
        id=f"{MODEL}\x1e*\x1e*\x1ereviewed_drop:trigger:{int(since.timestamp() * 1000)}",
        dedup_key=f"{MODEL}\x1ereviewed_drop", kind="trigger", state="firing",
        rule="reviewed_drop", severity="warning", summary="thumbs-down rate is 0.4",
        metric="thumbs_down_rate", operator=">", value=0.4, threshold=0.3,
        group={"model": MODEL}, count=40, window_s=300, window_start=since,
        window_end=since + timedelta(minutes=5), since=since, time=since, evidence=())
    rule = parse_rules(rules_text, "test").rule("reviewed_drop")
    return build_trigger(alert, rule, "pending_approval", since + timedelta(minutes=5))


def store_trigger(stack: Stack, trigger: RetrainTrigger) -> None:
    """Write a trigger into the stack's store from a process of its own (as the worker
    would have)."""
    code = ("import sys\n"
            "from llmpulse.config import load_settings\n"
            "from llmpulse.retrain.trigger import RetrainTrigger\n"
            "from llmpulse.sinks import retrain_store\n"
            "from llmpulse.sinks.clickhouse import ClickHouseStore\n"
            "store = ClickHouseStore.open(load_settings())\n"
            "retrain_store.write(store, RetrainTrigger.from_wire(sys.stdin.read()), 1)\n"
            "store.close()\n")
    done = subprocess.run([sys.executable, "-c", code], input=trigger.to_wire().decode(),
                          env=stack.env_for_cli(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_resend_to_one_webhook_keeps_retrying_the_other(broker: str, tmp_path: Path
                                                          ) -> None:
    """Issue 20: after `approve` failed to reach ci and deadci, `resend --channel ci` must
    leave deadci to reach (on its schedule), and a plain `resend` must then try deadci."""
    stack = make_stack(broker, tmp_path)
    with Receiver() as hooks:
        text = TWO_HOOKS.format(ci=hooks.url("/ci"), dead=hooks.url("/dead"))
        rules = tmp_path / "rules.yml"
        rules.write_text(text)
        env = {"LLMPULSE_RULES_FILE": str(rules), "IT_WEBHOOK_SECRET": "s"}
        hooks.script("/ci", Reply(status=503))  # ci is down at first, then back
        hooks.defaults["/dead"] = Reply(status=503)
        trigger = pending_trigger(text)
        store_trigger(stack, trigger)

        approved = stack.cli("retrain", "approve", trigger.id, "--by", "dana", env_extra=env)
        assert approved.returncode == 1, approved.stdout + approved.stderr
        assert "forwarded to ci: FAILED" in approved.stdout
        assert "forwarded to deadci: FAILED" in approved.stdout

        def shown() -> dict[str, Any]:
            done = stack.cli("retrain", "show", trigger.id, env_extra=env)
            assert done.returncode == 0, done.stderr
            return dict(json.loads(done.stdout))

        before = shown()
        assert before["forward_failed"] == ["ci", "deadci"] and before["next_forward_at"]

        one = stack.cli("retrain", "resend", trigger.id, "--channel", "ci", env_extra=env)
        assert one.returncode == 0, one.stdout + one.stderr
        assert one.stdout.splitlines()[0] == "forwarded to ci: ok"
        assert "still to reach: deadci" in one.stdout
        after = shown()
        assert after["forward_failed"] == ["deadci"]
        assert after["next_forward_at"] == before["next_forward_at"]
        assert after["forward_attempts"] == before["forward_attempts"]

        rest = stack.cli("retrain", "resend", trigger.id, env_extra=env)
        assert rest.returncode == 1, rest.stdout + rest.stderr
        assert "forwarded to deadci: FAILED" in rest.stdout
        assert "reached all its webhooks" not in rest.stdout
        assert len(hooks.received("/ci")) == 2 and len(hooks.received("/dead")) == 2
        assert shown()["forward_failed"] == ["deadci"]

        audit = stack.cli("audit", "--json", env_extra=env)
        assert audit.returncode == 0, audit.stderr
        entries = [json.loads(line) for line in audit.stdout.splitlines()]
        assert [(e["action"], e["target"], e["outcome"]) for e in entries] == [
            ("retrain approve", trigger.id, "ok; a webhook was not reached"),
            ("retrain resend", trigger.id, "ok"),
            ("retrain resend", trigger.id, "failed: a webhook was not reached")]
        assert entries[0]["actor"] == "dana"
        assert entries[1]["details"] == {"channels": ["ci"], "forwarded": {"ci": "ok"}}
