"""Live canaries end to end on the embedded broker: a worker process, simulated traffic
with a new prompt version on half the RAG calls, loopback webhooks for the page and the
rollback.

A candidate that is slower, less grounded and fails more often ends as exactly one
``rollback`` on ``llm.releases``, pages once, and reaches the rollback webhook signed; an
A/A candidate (as good as its baseline) is not rolled back and pages nobody.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from llmpulse.alerting.message import AlertMessage
from llmpulse.alerting.notifiers import verify
from llmpulse.release.verdict import ReleaseVerdict, verdict_id
from llmpulse.simulator import Incident, SimulationStats
from tests.harness.receiver import Receiver
from tests.integration.stack import Stack, make_stack, wait_metrics
from tests.integration.test_retrain import read_topic

RULES = """
channels:
  oncall: {{type: webhook, url: "{oncall}", secret_env: IT_SECRET, retries: 1}}
  deploy: {{type: webhook, url: "{deploy}", secret_env: IT_SECRET, retries: 1}}
canaries:
  - name: rag_prompt
    route: rag-answer
    candidate: newest
    min_calls: 100
    every: 1s
    max_duration: {max_duration}
    channels: [oncall]
    rollback_webhook: deploy
"""
BASELINE, CANDIDATE = "rag-answer-prompt@3", "rag-answer-prompt@4"


def run_traffic(stack: Stack, incident: Incident, seconds: float) -> threading.Thread:
    stats: dict[str, SimulationStats] = {}

    def traffic() -> None:
        stats["s"] = stack.simulate(rate=150, duration=seconds, seed=23, incidents=[incident])

    sender = threading.Thread(target=traffic, daemon=True)
    sender.start()
    return sender


def start(stack: Stack, hooks: Receiver, tmp_path: Path, max_duration: str
          ) -> tuple[dict[str, str], object]:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES.format(oncall=hooks.url("/oncall"), deploy=hooks.url("/deploy"),
                                  max_duration=max_duration))
    env = {"LLMPULSE_RULES_FILE": str(rules), "IT_SECRET": "s3cret"}
    return env, stack.worker(**env)


@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_a_worse_prompt_version_is_rolled_back_once(broker: str, tmp_path: Path) -> None:
    stack = make_stack(broker, tmp_path)
    with Receiver() as hooks:
        _, worker = start(stack, hooks, tmp_path, "10m")
        try:
            sender = run_traffic(stack, Incident("rollout", 2, 60, route="rag-answer",
                                                 factor=0.5), 30)
            got = hooks.wait_for(lambda r: any(x.path == "/deploy" for x in r), timeout=60,
                                 what="the rollback webhook")
            sender.join(60)
            hooks.wait_for(lambda r: any(x.path == "/oncall" for x in r), timeout=20,
                           what="the page")
            time.sleep(6)  # more looks at the canary: nothing is published again
        finally:
            worker.stop()  # type: ignore[attr-defined]
        published = read_topic(stack, "releases")
        assert len(published) == 1, [m.value()[:300] for m in published]
        verdict = ReleaseVerdict.from_wire(published[0].value())
        assert published[0].key() == verdict.id.encode()
        assert (verdict.verdict, verdict.candidate, verdict.baseline) == (
            "rollback", CANDIDATE, BASELINE)
        assert verdict.id == verdict_id("rag_prompt", "rollback", CANDIDATE)
        assert verdict.approval == "required" and verdict.route == "rag-answer"
        assert verdict.calls_candidate >= 100 and verdict.sample_request_ids
        worse = {s.signal for s in verdict.signals if s.verdict == "rollback"}
        assert worse & {"duration_p50", "ttft_p50", "duration_p95"}, verdict.reason

        # the deploy system got the same verdict, signed like an alert, once
        deployed = hooks.received("/deploy")
        assert len(deployed) == 1 and ReleaseVerdict.from_wire(deployed[0].body) == verdict
        assert verify(deployed[0].body, "s3cret", deployed[0].headers, time.time())
        assert deployed[0].headers["X-Llmpulse-Delivery"] == verdict.id
        # on-call was paged once, through the alert state machine
        pages = [AlertMessage.from_wire(r.body) for r in hooks.received("/oncall")]
        assert [p.kind for p in pages] == ["trigger"], got
        assert pages[0].rule == "rag_prompt" and pages[0].severity == "critical"
        assert CANDIDATE in pages[0].summary and pages[0].labels["verdict_id"] == verdict.id
        assert stack.sql("SELECT id, verdict FROM release_verdicts FINAL") == [
            [verdict.id, "rollback"]]
        assert stack.sql("SELECT rule, state FROM alert_state FINAL") == [
            ["rag_prompt", "firing"]]


@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_an_aa_candidate_is_not_rolled_back(broker: str, tmp_path: Path) -> None:
    stack = make_stack(broker, tmp_path)
    with Receiver() as hooks:
        _, worker = start(stack, hooks, tmp_path, "16s")
        try:
            sender = run_traffic(stack, Incident("release", 2, 60, route="rag-answer",
                                                 factor=0.5), 26)
            ended = wait_metrics(worker, lambda v: any(  # type: ignore[arg-type]
                n > 0 for k, n in v.items()
                if k.startswith("llmpulse_release_verdicts_total{canary=rag_prompt,")),
                70, "the canary's end")
            sender.join(60)
        finally:
            worker.stop()  # type: ignore[attr-defined]
        published = [ReleaseVerdict.from_wire(m.value()) for m in read_topic(stack, "releases")]
        assert len(published) == 1, ended
        verdict = published[0]
        assert verdict.candidate == CANDIDATE and verdict.verdict != "rollback"
        assert verdict.verdict in ("hold", "promote", "insufficient_data")
        assert verdict.expired == (verdict.verdict != "promote")
        assert hooks.received() == []  # nobody paged, no rollback sent
