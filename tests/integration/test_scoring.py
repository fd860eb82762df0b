"""Quality scoring end to end on a real broker: worker + scorer processes, loopback receivers.

* rude answers from one model page through the toxicity rule, with the answers
  themselves as evidence; personal data never reaches the store;
* a saturated scorer (a slow LLM judge) does not slow the cheap path, and the
  sampling budget plus shedding keep its backlog bounded.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from llmpulse.procs import WorkerProcess, parse_metrics
from llmpulse.simdata import TOXIC_ANSWERS
from llmpulse.simulator import Incident, SimulationStats
from tests.harness.receiver import Receiver, Reply
from tests.integration.stack import Stack, make_stack, wait_metrics

TOXIC_RULE = """
channels:
  hook: {{type: webhook, url: "{url}", secret_env: IT_WEBHOOK_SECRET, retries: 2}}
rules:
  - name: model_toxic
    metric: toxicity_rate
    group_by: [model]
    window: 5s
    threshold: 0.15
    clear_threshold: 0.05
    min_count: 5
    severity: critical
    channels: [hook]
"""


def scorer(stack: Stack, **extra: str) -> WorkerProcess:
    process = WorkerProcess(stack.env(**extra), log_path=stack.data_dir / "scorer.log",
                            command="scorer")
    process.start(timeout=120)
    return process


def run_traffic(stack: Stack, rate: float, seconds: float, incidents: list[Incident],
                out: dict[str, SimulationStats]) -> threading.Thread:
    def run() -> None:
        out["stats"] = stack.simulate(rate=rate, duration=seconds, seed=5, incidents=incidents)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# scoring and redaction do not depend on the broker kind: one broker is enough
@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_rude_answers_page_with_evidence_and_personal_data_is_never_stored(
        broker: str, tmp_path: Path) -> None:
    stack = make_stack(broker, tmp_path)
    quality = {"LLMPULSE_SCORE_SAMPLE_RATE": "1", "LLMPULSE_SCORE_BUDGET_PER_S": "1000",
               "LLMPULSE_GROUNDEDNESS_BACKEND": "hashing", "LLMPULSE_TOXICITY_BACKEND": "lexicon"}
    with Receiver() as receiver:
        rules = tmp_path / "rules.yml"
        rules.write_text(TOXIC_RULE.format(url=receiver.url("/hook")))
        # Scores reach the windows once the scorer has read the calls.  With the MiniLM
        # toxicity model, at 150 calls/s on a busy 2-core machine (worker, broker, simulator
        # and another test's stack on it), the scorer fell 7-15 s behind, past a 5 s
        # lateness, and every score was dropped as late.  The test is about paging with
        # evidence and keeping personal data out: the lexicon (which knows these insults),
        # the default lateness and less traffic keep it so (the MiniLM classifier has its
        # own tests, tests/unit/test_toxicity_classifier.py).
        worker = stack.worker(LLMPULSE_RULES_FILE=str(rules), LLMPULSE_WINDOW_PANE_S="1",
                              LLMPULSE_WINDOW_LATENESS_S="30", IT_WEBHOOK_SECRET="s",
                              **quality)
        score = scorer(stack, **quality)
        try:
            rude = Incident("toxic", start_s=12, duration_s=10, model="gpt-4o-mini", factor=0.9)
            stats: dict[str, SimulationStats] = {}
            run_traffic(stack, 100, 40, [rude], stats).join(120)
            receiver.wait_for(lambda got: [r.json()["kind"] for r in got] == [
                "trigger", "resolve"], timeout=90, what="the toxicity trigger and resolve")
            sent = stats["stats"].calls
            values = wait_metrics(worker, lambda v: v.get("llmpulse_calls_total", 0) >= sent,
                                  60, "every call stored")
            scorer_values = parse_metrics(score.metrics_text())
        finally:
            score.stop()
            worker.stop()
    hooks = [r.json() for r in receiver.received("/hook")]
    assert [(h["rule"], h["group"]) for h in hooks] == [
        ("model_toxic", {"model": "gpt-4o-mini"})] * 2
    ids = "', '".join(e["request_id"] for e in hooks[0]["evidence"])
    assert ids
    rows = stack.sql(f"SELECT output_messages FROM inference_events FINAL "
                     f"WHERE request_id IN ('{ids}')")
    answers = [orjson.loads(r[0])[0]["content"] for r in rows]
    assert answers and all(a in TOXIC_ANSWERS for a in answers)
    assert values["llmpulse_scoring_sent_total"] > 0
    assert scorer_values["llmpulse_scorer_tasks_total{outcome=scored}"] > 0
    signals = dict(map(tuple, stack.sql(  # type: ignore[arg-type]
        "SELECT name, count() FROM signals FINAL WHERE name IN ('toxicity', 'groundedness', "
        "'pii.redacted') GROUP BY name")))
    assert signals.get("toxicity", 0) > 100 and signals.get("groundedness", 0) > 50
    assert signals.get("pii.redacted", 0) > 0
    leaked = stack.sql("SELECT count() FROM inference_events FINAL WHERE "
                       "positionCaseInsensitive(input_messages, 'jane.doe@example.com') > 0 "
                       "OR position(input_messages, '4111 1111 1111 1111') > 0")
    assert leaked == [[0]]


def judge_reply() -> Reply:
    content = orjson.dumps({"score": 0.9, "unsupported": []}).decode()
    body = {"id": "c1", "object": "chat.completion", "model": "judge",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}}
    return Reply(body=orjson.dumps(body), headers={"Content-Type": "application/json"},
                 delay_s=0.25)


def test_a_saturated_scorer_does_not_slow_the_cheap_path(broker: str, tmp_path: Path) -> None:
    stack = make_stack(broker, tmp_path)
    budget, max_age, rate, seconds = 20.0, 3.0, 300.0, 20.0
    with Receiver() as judge:
        judge.defaults["/v1/chat/completions"] = judge_reply()
        quality = {"LLMPULSE_SCORE_SAMPLE_RATE": "1", "LLMPULSE_SCORE_NEW_VERSION_CALLS": "0",
                   "LLMPULSE_SCORE_BUDGET_PER_S": str(budget),
                   "LLMPULSE_SCORE_MAX_AGE_S": str(max_age),
                   "LLMPULSE_GROUNDEDNESS_BACKEND": "hashing",
                   "LLMPULSE_JUDGE_URL": judge.url("/v1"), "LLMPULSE_JUDGE_SAMPLE_RATE": "1",
                   "LLMPULSE_JUDGE_TOKENS_PER_MIN": "100000000"}
        worker = stack.worker(**quality)
        score = scorer(stack, **quality)
        try:
            stats: dict[str, SimulationStats] = {}
            started = time.monotonic()
            sender = run_traffic(stack, rate, seconds, [], stats)
            lags = watch_lag(worker, sender)
            sent = stats["stats"].calls
            values = wait_metrics(worker, lambda v: v.get("llmpulse_calls_total", 0) >= sent,
                                  30, "every call stored")
            stored_after = time.monotonic() - started
            tasks = values["llmpulse_scoring_sent_total"]
            done = wait_metrics(score, lambda v: _handled(v) >= tasks, 60,
                                "the scorer to finish or shed every task")
        finally:
            score.stop()
            worker.stop()
    # the cheap path kept up with the offered load while the scorer was saturated
    assert stored_after < seconds + 10, stored_after
    assert max(lags) < rate * 3, lags  # never more than ~3 s of input behind
    # sampling bounded the scorer's input; shedding bounded its backlog
    assert tasks <= budget * (seconds + 5) + 2 * budget + 0.01 * sent, (tasks, sent)
    assert values["llmpulse_scoring_skipped_total{reason=budget}"] > sent / 3
    assert done["llmpulse_scorer_tasks_total{outcome=shed}"] > 0
    assert done["llmpulse_scorer_tasks_total{outcome=scored}"] > 0
    # the judge (RAG answers only) was what held the scorer back
    assert len(judge.received("/v1/chat/completions")) >= 20


def _handled(values: dict[str, float]) -> float:
    return sum(v for k, v in values.items() if k.startswith("llmpulse_scorer_tasks_total{"))


def watch_lag(worker: WorkerProcess, sender: threading.Thread) -> list[float]:
    """The worker's read lag (messages) every half second while traffic runs."""
    lags: list[float] = [0.0]
    while sender.is_alive():
        values: dict[str, Any] = parse_metrics(worker.metrics_text())
        lags.append(sum(v for k, v in values.items()
                        if k.startswith("llmpulse_consumer_read_lag{")
                        and k.endswith((".requests}", ".responses}", ".inference}"))))
        time.sleep(0.5)
    sender.join()
    return lags


def _scored_series(values: dict[str, float], model: str) -> dict[str, float]:
    """The model-overall toxicity gauges of the last closed minute, by scorer version."""
    prefix = "llmpulse_window_toxicity_rate{"
    wanted = f"model={model},prompt_version=*,route=*,scorer="
    return {key.split("scorer=", 1)[1].split(",", 1)[0]: value
            for key, value in values.items()
            if key.startswith(prefix) and key[len(prefix):].startswith(wanted)}


@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_two_scorer_versions_land_in_separate_window_aggregates(
        broker: str, tmp_path: Path) -> None:
    """A rolling upgrade caught halfway: one scorer on the lexicon (``lexicon@1``), one on
    the MiniLM classifier (``lexicon+minilm@2``), sharing the scoring tasks.  The worker's
    closed windows keep the two versions' scores apart: one toxicity gauge per version,
    never one blended value."""
    stack = make_stack(broker, tmp_path)
    quality = {"LLMPULSE_SCORE_SAMPLE_RATE": "1", "LLMPULSE_SCORE_BUDGET_PER_S": "1000",
               "LLMPULSE_GROUNDEDNESS_BACKEND": "hashing"}
    worker = stack.worker(LLMPULSE_WINDOW_PANE_S="1", LLMPULSE_WINDOW_LATENESS_S="5",
                          **quality)
    old = WorkerProcess(stack.env(LLMPULSE_TOXICITY_BACKEND="lexicon", **quality),
                        log_path=stack.data_dir / "scorer-old.log", command="scorer")
    new = WorkerProcess(stack.env(LLMPULSE_TOXICITY_BACKEND="embedding", **quality),
                        log_path=stack.data_dir / "scorer-new.log", command="scorer")
    try:
        old.start(timeout=120)
        new.start(timeout=120)
        stats: dict[str, SimulationStats] = {}
        sender = run_traffic(stack, 40, 80, [], stats)
        values = wait_metrics(
            worker, lambda v: set(_scored_series(v, "gpt-4o-mini")) >= {
                "lexicon@1", "lexicon+minilm@2"}, 150,
            "toxicity gauges of both scorer versions in one closed window")
        sender.join(60)
        old_scored = parse_metrics(old.metrics_text())
        new_scored = parse_metrics(new.metrics_text())
    finally:
        for process in (new, old, worker):
            process.stop()
    series = _scored_series(values, "gpt-4o-mini")
    assert set(series) == {"lexicon@1", "lexicon+minilm@2"}, series
    assert all(0.0 <= v <= 1.0 for v in series.values())
    # both scorers took tasks (they share the scoring partitions) ...
    assert old_scored["llmpulse_scorer_tasks_total{outcome=scored}"] > 0
    assert new_scored["llmpulse_scorer_tasks_total{outcome=scored}"] > 0
    # ... and every stored score names the scorer that gave it
    scorers = {row[0] for row in stack.sql(
        "SELECT DISTINCT detector FROM signals FINAL WHERE name = 'toxicity'")}
    assert scorers == {"lexicon@1", "lexicon+minilm@2"}
