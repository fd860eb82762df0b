"""Live canaries: the rules file's ``canaries:`` section, the pure logic (sides, ending,
alert), the verdict, and the desk over the embedded store (real reads, a recording
producer)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from llmpulse.alerting.canaries import Canary
from llmpulse.alerting.canary_alerts import CanaryAlerts, CanaryState
from llmpulse.alerting.notifiers import Notifier
from llmpulse.alerting.rules import parse_rules
from llmpulse.detectors.cost import Cost
from llmpulse.errors import ConfigError
from llmpulse.records import from_inference
from llmpulse.release import canary as logic
from llmpulse.release.canary_desk import CanaryDesk
from llmpulse.release.compare import compare
from llmpulse.release.signals import Sample
from llmpulse.release.verdict import ReleaseVerdict, build_verdict, verdict_id
from llmpulse.schema import InferenceEvent
from llmpulse.sinks import release_store
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.kafka import OutMessage
from llmpulse.sinks.rows import StoredCall
from tests.unit.factories import T0, Borrowed, inference

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def canary(**over: Any) -> Canary:
    return Canary.model_validate({"name": "c", "route": "rag", "min_calls": 100, **over})


# -- the rules file -------------------------------------------------------------------------

def test_a_canary_section_is_parsed_with_its_defaults() -> None:
    rules = parse_rules("""
channels:
  deploy: {type: webhook, url: "https://deploy.example/hook", secret: s}
  oncall: {type: slack, url: "https://hooks.slack.example/x"}
canaries:
  - name: rag_prompt
    route: rag-answer
    signals: [duration_p50, error_rate]
    thresholds: {duration_p50: 0.2}
    max_duration: 2h
    channels: [oncall]
    rollback_webhook: deploy
  - name: model_upgrade
    by: model
    baseline: gpt-4o
    candidate: gpt-4.1
""", "rules.yml")
    first, second = rules.canaries
    assert first.follows_newest and first.baseline == "previous"
    assert first.max_duration == 7200.0 and first.every == 30.0 and first.alpha == 0.05
    assert [s.name for s in logic.specs(first)] == ["duration_p50", "error_rate"]
    assert logic.specs(first)[0].threshold == 0.2
    assert second.by == "model" and not second.follows_newest
    assert len(logic.specs(second)) == 18  # every signal by default


def test_canary_problems_are_reported_at_their_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_rules("""channels:
  oncall: {type: slack, url: "https://hooks.slack.example/x"}
rules:
  - {name: taken, metric: calls, threshold: 1}
canaries:
  - name: taken
    signals: [latency]
    rollback_webhook: oncall
    channels: [nowhere]
  - name: fixed
    candidate: v2
  - name: both
    candidate: newest
    baseline: v1
    max_duration: 0s
""", "rules.yml")
    text = str(caught.value)
    assert "rules.yml:6:11: canaries.0.name: name 'taken' is already used by rules.0" in text
    assert "rules.yml:7:14: canaries.0.signals: unknown signal(s) 'latency'" in text
    assert "rules.yml:8:23: canaries.0.rollback_webhook: rollback_webhook names 'oncall', " \
           "a slack channel" in text
    assert "rules.yml:9:16: canaries.0.channels.0: unknown channel 'nowhere'" in text
    assert "rules.yml:10:5: canaries.1: candidate 'v2' needs a baseline value" in text
    assert "rules.yml:15:19: canaries.2.max_duration: Input should be greater than 0" in text


# -- which versions, from when --------------------------------------------------------------

def test_newest_is_the_value_first_seen_last_against_the_one_before() -> None:
    c = canary()
    minutes = [timedelta(minutes=m) for m in range(100)]
    seen = [("p@2", NOW - minutes[50], NOW - minutes[51]),
            # one slow call of the newest started before p@3's first one ended
            ("p@4", NOW - minutes[3], NOW - minutes[40]),
            ("p@3", NOW - minutes[30], NOW - minutes[31])]
    assert logic.sides(c, seen) == logic.Sides("p@4", "p@3", NOW - minutes[40])
    assert logic.sides(c, seen[:1]) is None  # nothing to compare with


def test_given_values_start_at_the_candidates_first_call() -> None:
    c = canary(candidate="p@9", baseline="p@3")
    assert logic.sides(c, [("p@9", NOW, NOW - timedelta(seconds=3))]) == \
        logic.Sides("p@9", "p@3", NOW - timedelta(seconds=3))
    assert logic.sides(c, []) is None


# -- when a canary ends ---------------------------------------------------------------------

def _observations(n: int, seed: int, slow: float = 1.0, error: float = 0.01
                  ) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"error": (rng.random(n) < error).astype(float),
            "duration": rng.lognormal(0.2, 0.4, n) * slow}


def test_a_clear_regression_ends_in_a_rollback_once_min_calls_are_in() -> None:
    c = canary()
    worse = compare(_observations(400, 1), _observations(400, 2, slow=1.8), logic.specs(c))
    assert worse.verdict == "rollback"
    start = NOW - timedelta(minutes=5)
    assert logic.decide(c, start, worse, 400, NOW) == logic.Decision("rollback")
    assert logic.decide(c, start, worse, 99, NOW).verdict is None  # below min_calls


def test_a_candidate_still_holding_ends_as_hold_when_max_duration_passes() -> None:
    c = canary(max_duration="10m")
    same = compare(_observations(250, 3), _observations(250, 4), logic.specs(c))
    assert same.verdict == "hold"
    start = NOW - timedelta(minutes=5)
    assert logic.decide(c, start, same, 250, NOW).verdict is None
    late = logic.decide(c, start, same, 250, NOW + timedelta(minutes=5))
    assert (late.verdict, late.expired) == ("hold", True)
    starved = logic.decide(c, start, same, 20, NOW + timedelta(minutes=5))
    assert (starved.verdict, starved.expired) == ("insufficient_data", True)


def test_an_equal_candidate_is_promoted_with_enough_calls() -> None:
    c = canary(signals=["duration_p50"], thresholds={"duration_p50": 0.3})
    same = compare(_observations(3000, 5), _observations(3000, 6), logic.specs(c))
    assert logic.decide(c, NOW, same, 3000, NOW).verdict == "promote"


# -- the verdict ----------------------------------------------------------------------------

def _sample(prefix: str, n: int, failed_every: int = 0) -> Sample:
    sample = Sample()
    for i in range(n):
        sample.add_call(f"{prefix}-{i}", error=bool(failed_every and i % failed_every == 0),
                        error_type=None, finish_reasons=("stop",), duration=1.0 + i % 7)
    return sample


def test_the_verdict_id_is_one_per_canary_verdict_and_candidate() -> None:
    assert verdict_id("c", "rollback", "p@4") == verdict_id("c", "rollback", "p@4")
    assert len({verdict_id("c", "rollback", "p@4"), verdict_id("c", "promote", "p@4"),
                verdict_id("c", "rollback", "p@5"), verdict_id("d", "rollback", "p@4")}) == 4


def test_a_verdict_carries_effects_intervals_and_failed_calls_first() -> None:
    c = canary()
    cand = _sample("b", 300, failed_every=10)
    comparison = compare(_observations(300, 1), cand.observations(), logic.specs(c))
    v = build_verdict(canary="c", model=None, route="rag", selector="prompt_version",
                      baseline="p@3", candidate="p@4", comparison=comparison,
                      candidate_sample=cand, calls_baseline=300, started_at=NOW, now=NOW)
    assert v.id == verdict_id("c", comparison.verdict, "p@4") and v.approval == "required"
    assert v.sample_request_ids[:3] == ("b-0", "b-10", "b-20")
    duration = next(s for s in v.signals if s.signal == "duration_p50")
    assert duration.ci_low is not None and duration.ci_low <= duration.effect  # type: ignore
    assert ReleaseVerdict.from_wire(v.to_wire()) == v


# -- the alert ------------------------------------------------------------------------------

def test_a_rollback_pages_once_and_resolves_when_a_new_candidate_takes_over() -> None:
    c = canary(channels=())
    alerts = CanaryAlerts({})  # type: ignore[arg-type]
    t = NOW.timestamp()
    running = CanaryState(c, "p@4", "p@3", None, "running", NOW)
    rolled = CanaryState(c, "p@4", "p@3", "rollback", "duration_p50 +80%", NOW,
                         ("r1", "r2"), "release:x")
    assert alerts.evaluate([running], t) == []
    [trigger] = alerts.evaluate([rolled], t + 5)
    assert trigger.kind == "trigger" and trigger.rule == "c" and trigger.severity == "critical"
    assert "roll back prompt_version p@4 (vs p@3, route=rag): duration_p50 +80%" in \
        trigger.summary
    assert [e.request_id for e in trigger.evidence] == ["r1", "r2"]
    assert trigger.labels["verdict_id"] == "release:x"
    assert alerts.evaluate([rolled], t + 10) == []  # still rolled back: no second page
    [resolve] = alerts.evaluate([CanaryState(c, "p@5", "p@4", None, "running", NOW)], t + 15)
    assert resolve.kind == "resolve" and resolve.dedup_key == trigger.dedup_key
    assert len(alerts.take_changes()) == 1  # one status to persist, the canary's


# -- the desk over the store ----------------------------------------------------------------

class Recorder:
    """Stands in for the producer: keeps what would have been sent."""

    def __init__(self) -> None:
        self.sent: list[OutMessage] = []

    async def send_all(self, messages: list[OutMessage]) -> None:
        self.sent.extend(messages)


def _store_calls(store: ClickHouseStore, version: str, n: int, start: datetime, seed: int,
                 slow: float = 1.0, template: str = "answer") -> None:
    rng = random.Random(seed)
    events = []
    for i in range(n):
        begin = start + timedelta(seconds=i * 2)
        duration = slow * rng.lognormvariate(0.2, 0.4)
        events.append(inference(
            f"{version}-{seed}-{i}", start_time=begin.isoformat(),
            end_time=(begin + timedelta(seconds=duration)).isoformat(), route="rag",
            prompt_template_id=template, prompt_template_version=version,
            **{"gen_ai.response.time_to_first_chunk": duration / 4}))
    records = [from_inference(InferenceEvent.model_validate(e)) for e in events]
    store.insert_calls([StoredCall(r, Cost(0.001, "prices", "test")) for r in records],
                       start)


def _desk(store: ClickHouseStore, c: Canary, now: float) -> tuple[CanaryDesk, Recorder]:
    rules = parse_rules("", "rules.yml").model_copy(update={"canaries": (c,)})
    producer = Recorder()
    desk = CanaryDesk("llm.releases", rules, store, producer,  # type: ignore[arg-type]
                      Notifier({}, {}), None, lambda: now)
    return desk, producer


def test_the_desk_publishes_a_rollback_of_the_newest_version_once(
        store: ClickHouseStore) -> None:
    _store_calls(store, "3", 600, T0 - timedelta(minutes=10), 1)
    _store_calls(store, "4", 300, T0, 2, slow=2.0)  # the newest version, twice as slow
    c = canary(min_calls=100, lookback="3d")
    now = (T0 + timedelta(minutes=11)).timestamp()
    desk, producer = _desk(store, c, now)
    [state] = asyncio.run(desk.check())
    assert (state.candidate, state.baseline, state.verdict) == ("answer@4", "answer@3",
                                                                "rollback")
    [message] = producer.sent
    verdict = ReleaseVerdict.from_wire(message.value)
    assert message.topic == "llm.releases" and message.key == verdict.id.encode()
    assert verdict.started_at == T0 and verdict.calls_candidate == 300
    # the baseline is read from the candidate's start on: the same period
    assert verdict.calls_baseline == 300
    assert release_store.get(store, verdict.id) == verdict
    # a later look (or another worker after a rebalance) finds it ended: nothing again
    again, producer_again = _desk(store, c, now + 60)
    [state_again] = asyncio.run(again.check())
    assert state_again.verdict == "rollback" and producer_again.sent == []


def test_rules_check_lists_the_canaries(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from llmpulse.cli import cli

    path = tmp_path / "rules.yml"
    path.write_text("""
channels:
  deploy: {type: webhook, url: "https://deploy.example/hook", secret: s}
canaries:
  - {name: rag_prompt, model: gpt-4o, route: rag, rollback_webhook: deploy}
""")
    result = CliRunner().invoke(cli, ["rules", "check", str(path), "--pane", "1"])
    assert result.exit_code == 0, result.output
    assert "0 rules, 1 channels, 0 budgets, 1 canaries: OK" in result.output
    assert "canary rag_prompt: prompt_version newest vs previous [model=gpt-4o,route=rag] " \
           "-> llm.releases, rollback webhook deploy" in result.output


def test_canary_statuses_are_kept_on_the_partition_of_the_worker_that_evaluates_them() -> None:
    """After a rebalance the new maintenance owner must find the canary's status (else it
    would page again for a candidate already rolled back)."""
    from llmpulse.alerting.budget_alerts import BUDGET_GROUP
    from llmpulse.alerting.canary_alerts import CANARY_GROUP
    from llmpulse.alerting.engine import group_of_key, status_key
    from llmpulse.streams.alerting import group_partition

    key = status_key("rag_prompt", CANARY_GROUP)
    for partitions in (1, 3, 12):
        assert group_partition(group_of_key(key), partitions) == \
            group_partition(BUDGET_GROUP.encode(), partitions)


def test_a_rollback_the_webhook_refused_is_posted_again_when_due(
        store: ClickHouseStore) -> None:
    from llmpulse.alerting.channels import WebhookChannel
    from llmpulse.alerting.notifiers import verify
    from tests.harness.receiver import Receiver, Reply

    _store_calls(store, "3", 600, T0 - timedelta(minutes=10), 1)
    _store_calls(store, "4", 300, T0, 2, slow=2.0)
    c = canary(min_calls=100, lookback="3d", rollback_webhook="deploy")
    rules = parse_rules("", "rules.yml").model_copy(update={"canaries": (c,)})
    clock = [(T0 + timedelta(minutes=11)).timestamp()]
    with Receiver() as deploy:
        deploy.script("/hook", Reply(status=503))  # down at first, then back
        hook = WebhookChannel(type="webhook", url=deploy.url("/hook"), secret="s", retries=0)

        async def run(looks: int) -> None:
            notifier = Notifier({"deploy": hook}, {})
            desk = CanaryDesk("llm.releases", rules, store, Recorder(),  # type: ignore[arg-type]
                              notifier, None, lambda: clock[0])
            for _ in range(looks):
                await desk.check()
                clock[0] += 61.0
                desk._next.clear()  # look again at once
            await notifier.aclose()

        asyncio.run(run(1))
        [first] = deploy.received("/hook")
        stored = release_store.ended(store, "c", "answer@4")
        assert stored is not None and stored.forward.failed == ("deploy",)
        assert stored.forward.attempts == 1 and stored.forward.next_at is not None
        asyncio.run(run(2))  # a minute later it is due: POSTed again, then not again
        _, second = deploy.received("/hook")
        assert second.body == first.body
        assert verify(second.body, "s", second.headers, second.at)
        stored = release_store.ended(store, "c", "answer@4")
        assert stored is not None and stored.forward == release_store.Forward((), 2, None)


def test_the_worker_starts_each_canarys_verdict_counters_at_zero() -> None:
    from llmpulse.config import load_settings
    from llmpulse.metric_zeros import zero_worker_series
    from llmpulse.metrics import build_metrics

    metrics = build_metrics()
    zero_worker_series(metrics, load_settings({}), (), (), ["rag_prompt"])
    value = metrics.registry.get_sample_value(
        "llmpulse_release_verdicts_total", {"canary": "rag_prompt", "verdict": "rollback"})
    assert value == 0


def test_a_canary_on_one_prompt_template_ignores_the_others(store: ClickHouseStore) -> None:
    _store_calls(store, "3", 600, T0 - timedelta(minutes=10), 1)
    _store_calls(store, "4", 300, T0, 2)
    _store_calls(store, "9", 50, T0 + timedelta(minutes=5), 3, template="other")  # newer
    c = canary(min_calls=100, lookback="3d", template="answer", max_duration="1h")
    desk, _ = _desk(store, c, (T0 + timedelta(minutes=11)).timestamp())
    [state] = asyncio.run(desk.check())
    assert (state.candidate, state.baseline) == ("answer@4", "answer@3")
    everything, _ = _desk(store, canary(min_calls=100, lookback="3d"),
                          (T0 + timedelta(minutes=11)).timestamp())
    [state] = asyncio.run(everything.check())
    assert (state.candidate, state.baseline) == ("other@9", "answer@4")


def test_releases_list_shows_the_stored_verdicts(store: ClickHouseStore,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import json

    from click.testing import CliRunner

    from llmpulse.cli import cli

    _store_calls(store, "3", 600, T0 - timedelta(minutes=10), 1)
    _store_calls(store, "4", 300, T0, 2, slow=2.0)
    desk, _ = _desk(store, canary(min_calls=100, lookback="3d"),
                    (T0 + timedelta(minutes=11)).timestamp())
    asyncio.run(desk.check())

    for module in ("llmpulse.cli.releases", "llmpulse.cli.audit"):
        monkeypatch.setattr(importlib.import_module(module), "open_store",
                            lambda settings: Borrowed(store))
    shown = CliRunner().invoke(cli, ["releases", "list"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("ROLLBACK")
    assert "c [route=rag] prompt_version answer@4 vs answer@3 release:" in shown.output
    as_json = CliRunner().invoke(cli, ["releases", "list", "--json", "--canary", "c"])
    assert ReleaseVerdict.model_validate(json.loads(as_json.output)).verdict == "rollback"
    none = CliRunner().invoke(cli, ["releases", "list", "--canary", "other"])
    assert none.output == "no canary verdicts of canary other\n"

    verdict_id = ReleaseVerdict.model_validate(json.loads(as_json.output)).id
    approved = CliRunner().invoke(cli, ["releases", "approve", verdict_id, "--actor", "dana"])
    assert approved.exit_code == 0, approved.output
    assert approved.output.startswith(f"approved {verdict_id}: rollback of answer@4")
    again = CliRunner().invoke(cli, ["releases", "approve", verdict_id, "--actor", "eve"])
    assert again.exit_code == 0 and "was approved already, by dana" in again.output
    unknown = CliRunner().invoke(cli, ["releases", "approve", "no-such-id"])
    assert unknown.exit_code == 1 and "no canary verdict no-such-id" in unknown.output
    log = CliRunner().invoke(cli, ["audit", "--action", "release approve", "--json"])
    entries = [json.loads(line) for line in log.output.splitlines()]
    assert [(e["actor"], e["target"], e["outcome"][:6]) for e in entries] == [
        ("dana", verdict_id, "ok"), (entries[1]["actor"], "no-such-id", "failed")]
    assert entries[0]["details"]["verdict"] == "rollback"


def test_a_canary_alert_is_stored_with_the_other_alert_states(store: ClickHouseStore) -> None:
    from llmpulse.sinks import alert_store

    c = canary(model="gpt-4o")
    rules = parse_rules("", "rules.yml").model_copy(update={"canaries": (c,)})
    alerts = CanaryAlerts({})  # type: ignore[arg-type]
    alerts.evaluate([CanaryState(c, "p@4", "p@3", "rollback", "slower", NOW)], NOW.timestamp())
    alert_store.write_states(store, rules, [], NOW, canaries=alerts.statuses())
    rows = store.query("SELECT rule, severity, model, route, state FROM alert_state FINAL")
    assert [tuple(r) for r in rows] == [("c", "critical", "gpt-4o", "rag", "firing")]
