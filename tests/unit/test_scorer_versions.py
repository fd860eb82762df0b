"""Quality scores of different scorer versions are never mixed in one window.

During a rolling upgrade of the scorers, old and new versions score the same
traffic on different scales and thresholds: the windows keep each version's
scores apart, rules evaluate each version on its own, and the gauges carry the
version as a label.
"""

from __future__ import annotations

import orjson
import pytest
from prometheus_client import generate_latest

from llmpulse.alerting.engine import AlertEngine, RuleStatus, pick_reading, reading
from llmpulse.alerting.message import AlertMessage
from llmpulse.alerting.rules import parse_rules
from llmpulse.metrics import build_metrics
from llmpulse.scoring.tasks import CallRef, Evaluation, ScoreResult
from llmpulse.streams.window_gauges import WindowGauges
from llmpulse.windows import (
    MAX_SCORER_VERSIONS,
    UNKNOWN_SCORER,
    ClosedWindow,
    GroupKey,
    PaneWindows,
    WindowAggregate,
    fold_quality,
    scorer_version,
)

OLD, NEW = "lexicon@1", "lexicon+minilm@2"
GROUND_OLD, GROUND_NEW = "embedding:all-MiniLM-L6-v2@1", "embedding:all-MiniLM-L6-v2@2"
MODEL = GroupKey("m", "chat")


def scored(rid: str, t: float, tox: float | None, toxic_scorer: str = OLD,
           grounded: float | None = None, ground_scorer: str = GROUND_NEW) -> ScoreResult:
    evaluations = []
    if tox is not None:
        evaluations.append(Evaluation("toxicity", tox, "toxic" if tox >= 0.5 else "ok",
                                      scorer=toxic_scorer))
    if grounded is not None:
        evaluations.append(Evaluation("groundedness", grounded,
                                      "grounded" if grounded >= 0.5 else "ungrounded",
                                      scorer=ground_scorer))
    return ScoreResult(CallRef(rid, t, "m", "p", "chat", "acme", "m"), "sampled", t + 1,
                       tuple(evaluations))


@pytest.mark.parametrize(("name", "version"), [
    ("lexicon+minilm@2", "lexicon+minilm@2"),
    ("embedding:all-MiniLM-L6-v2@2", "embedding:all-MiniLM-L6-v2@2"),
    ("detoxify-onnx:original@1a2b3c4d/cuda+cpu", "detoxify-onnx:original@1a2b3c4d"),
    ("detoxify-onnx:original@1a2b3c4d/cpu", "detoxify-onnx:original@1a2b3c4d"),
    ("nli:cross-encoder/nli-deberta@1[CUDA+CPU]", "nli:cross-encoder/nli-deberta@1"),
    ("judge:meta-llama/Llama-3", "judge:meta-llama/Llama-3"),
    ("", UNKNOWN_SCORER),
])
def test_a_scorer_version_is_its_name_without_the_execution_providers(
        name: str, version: str) -> None:
    # CPU and GPU scorer nodes of one model give the same scores: one version
    assert scorer_version(name) == version


def test_the_fold_keeps_each_scorer_versions_scores_apart() -> None:
    results = [scored("a", 1.0, 0.9, OLD), scored("b", 2.0, 0.1, OLD),
               scored("c", 3.0, 0.6, NEW), scored("d", 4.0, 0.7, NEW),
               scored("e", 4.5, 0.1, NEW, grounded=0.2, ground_scorer=GROUND_OLD)]
    agg = fold_quality(results, [("model", "route")], pane_s=5.0)[(MODEL, 0.0)]
    assert agg.versions("toxicity_rate") == [NEW, OLD]  # the most scored first
    assert agg.summary(OLD)["toxicity_rate"] == pytest.approx(1 / 2)
    assert agg.summary(NEW)["toxicity_rate"] == pytest.approx(2 / 3)
    assert agg.summary()["toxicity_rate"] == pytest.approx(2 / 3)  # never 3 / 5
    assert agg.count_for("toxicity_rate", OLD) == 2 and agg.count_for("toxicity_rate") == 3
    # groundedness has scorers of its own: a toxicity version has none of it
    assert agg.summary(NEW)["groundedness_mean"] is None
    assert agg.summary(GROUND_OLD)["groundedness_mean"] == pytest.approx(0.2)
    assert agg.summary(GROUND_OLD)["toxicity_rate"] is None
    worst = agg.part("toxicity", NEW)
    assert worst is not None and {rid for _, rid in worst.worst} == {"c", "d"}


def test_merging_panes_partials_and_travel_never_averages_two_versions() -> None:
    old = fold_quality([scored(f"o{i}", 1.0, 0.0, OLD) for i in range(30)],
                       [("model", "route")], 5.0)[(MODEL, 0.0)]
    new = fold_quality([scored(f"n{i}", 6.0, 0.9 if i % 2 else 0.0, NEW) for i in range(10)],
                       [("model", "route")], 5.0)[(MODEL, 5.0)]
    travelled = WindowAggregate.from_dict(orjson.loads(orjson.dumps(new.to_dict())))
    windows = PaneWindows(5.0, 0.0, [10.0])
    windows.add(MODEL, 0.0, old)
    windows.add(MODEL, 5.0, travelled)
    _, trailing = windows.trailing(MODEL, 10.0)
    assert trailing.summary(OLD)["toxicity_rate"] == 0.0
    assert trailing.summary(NEW)["toxicity_rate"] == pytest.approx(0.5)
    assert trailing.summary()["toxicity_rate"] == 0.0  # the most scored version, alone
    windows.add(MODEL, 10.0, WindowAggregate(latest=11.0))
    [closed] = windows.close_ready()
    assert closed.aggregate.versions("toxicity") == [OLD, NEW]
    assert closed.aggregate.summary(NEW)["toxicity_rate"] == pytest.approx(0.5)
    assert closed.aggregate.scored("toxicity") == 40


def test_a_partial_from_a_worker_not_yet_upgraded_is_of_an_unknown_version() -> None:
    legacy = {"calls": 0, "tox_scored": 4, "toxic": 1, "ground_scored": 2, "ungrounded": 1,
              "ground_sum": 1.1, "most_toxic": [[0.9, "a"]], "least_grounded": [[0.8, "b"]],
              "latest": 10.0, "cost_usd": 0.0}
    agg = WindowAggregate.from_dict(legacy)
    assert agg.versions("toxicity_rate") == [UNKNOWN_SCORER]
    assert agg.summary()["toxicity_rate"] == pytest.approx(0.25)
    assert agg.summary(UNKNOWN_SCORER)["groundedness_mean"] == pytest.approx(0.55)
    ground = agg.part("groundedness")
    assert ground is not None and ground.worst == [(0.8, "b")]
    assert agg.late_count() == 6


def test_a_partial_also_names_its_most_scored_version_for_workers_not_yet_upgraded(
        ) -> None:
    results = [scored("a", 1.0, 0.9, OLD), scored("c", 3.0, 0.6, NEW),
               scored("d", 4.0, 0.1, NEW, grounded=0.2, ground_scorer=GROUND_OLD)]
    agg = fold_quality(results, [("model", "route")], pane_s=5.0)[(MODEL, 0.0)]
    wire = orjson.loads(orjson.dumps(agg.to_dict()))
    # what an older worker reads: one version's counts (NEW's 2 scores, 1 toxic), no blend
    assert (wire["tox_scored"], wire["toxic"]) == (2, 1)
    assert (wire["ground_scored"], wire["ungrounded"], wire["ground_sum"]) == (1, 1, 0.2)
    new = agg.part("toxicity", NEW)
    assert new is not None and [rid for _, rid in wire["most_toxic"]] == [
        rid for _, rid in new.worst]
    # an upgraded worker reads the versions and does not count the copies again
    back = WindowAggregate.from_dict(wire)
    assert back.versions("toxicity") == [NEW, OLD] and back.scored("toxicity") == 3


def test_scorer_versions_per_window_are_bounded() -> None:
    many = [scored(f"r{i}", 1.0, 0.1, f"tox@{i % (MAX_SCORER_VERSIONS + 2)}")
            for i in range(30)]
    agg = fold_quality(many, [("model", "route")], 5.0)[(MODEL, 0.0)]
    assert len(agg.versions("toxicity")) == MAX_SCORER_VERSIONS
    assert agg.scored("toxicity") + agg.scores_overflow == 30
    other = fold_quality([scored("x", 1.0, 0.1, "tox@new")] * 9, [("model", "route")],
                         5.0)[(MODEL, 0.0)]
    agg.merge(other)  # the most scored versions stay, the rest is counted as overflow
    assert len(agg.versions("toxicity")) == MAX_SCORER_VERSIONS
    assert "tox@new" in agg.versions("toxicity")
    assert agg.scored("toxicity") + agg.scores_overflow == 39


RULES = """
rules:
  - name: toxic
    metric: toxicity_rate
    group_by: [model, route]
    window: 10s
    threshold: 0.2
    clear_threshold: 0.1
    min_count: 5
"""


def _run(engine: AlertEngine, batches: list[list[ScoreResult]], start: int = 1
         ) -> list[AlertMessage]:
    sent: list[AlertMessage] = []
    for t, batch in enumerate(batches, start):
        engine.add((g, p, a) for (g, p), a in
                   fold_quality(batch, [("model", "route")], 5).items())
        messages, _ = engine.evaluate(float(t))
        sent.extend(messages)
    return sent


def test_a_rule_fires_on_one_versions_values_that_a_blend_would_hide() -> None:
    """Many clean scores of the old version and a toxic share of the new one's: a blend
    (5 / 40 = 12.5 %) stays under 20 %; the new version alone (50 %) fires, and the alert
    names it and points at its answers only."""
    engine = AlertEngine(parse_rules(RULES, "test"), pane_s=5, lateness_s=0, store={})
    n = 0
    batches = []
    for t in range(1, 13):
        batch = []
        for i in range(4):
            n += 1
            batch.append(scored(f"new{n}", float(t), 0.9 if i % 2 else 0.05, NEW))
        batch += [scored(f"old{n}-{i}", float(t), 0.9 if i == 0 else 0.05, OLD)
                  for i in range(12)]
        batches.append(batch)
    sent = _run(engine, batches)
    assert [m.kind for m in sent] == ["trigger"]
    trigger = sent[0]
    assert trigger.scorer == NEW and trigger.value == pytest.approx(0.5)
    assert "scorer lexicon+minilm@2" in trigger.summary
    assert trigger.count == 8  # the new version's scores (the old one has 24)
    assert trigger.evidence and all(e.request_id.startswith("new") for e in trigger.evidence)
    [status] = engine.statuses()
    assert status.scorer == NEW and status.threshold == pytest.approx(0.2)


def test_the_alert_resolves_only_when_every_version_is_clear() -> None:
    engine = AlertEngine(parse_rules(RULES, "test"), pane_s=5, lateness_s=0, store={})
    toxic = [[scored(f"a{t}-{i}", float(t), 0.9, OLD) for i in range(5)] for t in range(1, 6)]
    sent = _run(engine, toxic)
    assert [m.kind for m in sent] == ["trigger"] and sent[0].scorer == OLD
    # the new version is clean, the old still toxic: still firing
    mixed = [[*(scored(f"b{t}-{i}", float(t), 0.0, NEW) for i in range(10)),
              *(scored(f"c{t}-{i}", float(t), 0.9, OLD) for i in range(5))]
             for t in range(6, 16)]
    assert _run(engine, mixed, start=6) == []
    # the old version gone (upgrade done), the new one clean: resolved
    clean = [[scored(f"d{t}-{i}", float(t), 0.0, NEW) for i in range(10)]
             for t in range(16, 30)]
    resolved = _run(engine, clean, start=16)
    assert [m.kind for m in resolved] == ["resolve"] and resolved[0].scorer == NEW


def test_readings_pick_the_breaching_version() -> None:
    rule = parse_rules(RULES, "test").rules[0]
    agg = fold_quality([*(scored(f"o{i}", 1.0, 0.0, OLD) for i in range(20)),
                        *(scored(f"n{i}", 1.0, 0.9, NEW) for i in range(5))],
                       [("model", "route")], 5.0)[(MODEL, 0.0)]
    readings = [r for v in agg.versions(rule.metric)
                if (r := reading(rule, agg, v, [])) is not None]
    assert [(r.version, r.breach) for r in readings] == [(OLD, False), (NEW, True)]
    assert pick_reading(readings).version == NEW
    few = fold_quality([scored(f"n{i}", 1.0, 0.9, NEW) for i in range(4)],
                       [("model", "route")], 5.0)[(MODEL, 0.0)]
    assert reading(rule, few, NEW, []) is None  # min_count counts one version's scores


BASELINE = """
rules:
  - name: ungrounded_regression
    metric: ungrounded_rate
    group_by: [model, route]
    window: 10s
    baseline: {method: ewma, windows: 5, min_windows: 2, factor: 2}
    min_count: 2
"""


def test_each_version_learns_its_own_baseline() -> None:
    engine = AlertEngine(parse_rules(BASELINE, "test"), pane_s=5, lateness_s=0, store={})
    for t in range(0, 60, 5):
        batch = [scored(f"o{t}-{i}", float(t) + 0.5, None, grounded=0.2 if i == 0 else 0.9,
                        ground_scorer=GROUND_OLD) for i in range(4)]
        batch += [scored(f"n{t}-{i}", float(t) + 0.5, None, grounded=0.9,
                         ground_scorer=GROUND_NEW) for i in range(4)]
        engine.add((g, p, a) for (g, p), a in
                   fold_quality(batch, [("model", "route")], 5).items())
        engine.evaluate(float(t) + 1)
    [status] = engine.statuses()
    assert set(status.histories) == {GROUND_OLD, GROUND_NEW}
    old, new = status.histories[GROUND_OLD], status.histories[GROUND_NEW]
    assert len(old) >= 2 and old == pytest.approx([0.25] * len(old))  # 1 of 4 ungrounded
    assert new == [0.0] * len(old)
    assert status.history == []  # the unversioned history is not used by quality rules
    again = RuleStatus.from_dict(orjson.loads(orjson.dumps(status.to_dict())))
    assert again.histories == status.histories and again.scorer == status.scorer


def test_histories_of_at_most_a_few_versions_are_kept() -> None:
    rs = RuleStatus("r", MODEL)
    for i in range(MAX_SCORER_VERSIONS + 2):
        rs.learn(f"v@{i}", float(i), keep=3)
    rs.learn("v@2", 9.0, keep=3)
    assert len(rs.histories) == MAX_SCORER_VERSIONS
    assert list(rs.histories)[-1] == "v@2" and rs.histories["v@2"] == [2.0, 9.0]
    assert "v@0" not in rs.histories and "v@1" not in rs.histories


def test_old_statuses_without_histories_still_load() -> None:
    old = RuleStatus("r", MODEL, history=[0.1, 0.2]).to_dict()
    old.pop("histories", None)
    loaded = RuleStatus.from_dict(old)
    assert loaded.history == [0.1, 0.2] and loaded.histories == {} and loaded.scorer is None


def test_quality_gauges_are_labelled_with_the_scorer_version() -> None:
    metrics = build_metrics(process="worker")
    gauges = WindowGauges(metrics, 0)
    both = fold_quality([*(scored(f"o{i}", 1.0, 0.0, OLD) for i in range(3)),
                         scored("n", 1.0, 0.9, NEW, grounded=0.4)],
                        [("model", "route")], 60.0)[(MODEL, 0.0)]
    gauges.export([ClosedWindow(0.0, 60.0, MODEL, both)])
    text = generate_latest(metrics.registry).decode()
    labels = 'model="m",prompt_version="*",route="chat",scorer="{}",tenant="*"'
    assert f"llmpulse_window_toxicity_rate{{{labels.format(OLD)}}} 0.0" in text
    assert f"llmpulse_window_toxicity_rate{{{labels.format(NEW)}}} 1.0" in text
    assert f"llmpulse_window_groundedness{{{labels.format(GROUND_NEW)}}} 0.4" in text
    # the old version no longer scoring: its series goes, the new one's stays
    only_new = fold_quality([scored("n2", 61.0, 0.0, NEW)], [("model", "route")],
                            60.0)[(MODEL, 60.0)]
    gauges.export([ClosedWindow(60.0, 60.0, MODEL, only_new)])
    text = generate_latest(metrics.registry).decode()
    assert f'scorer="{OLD}"' not in text
    assert f"llmpulse_window_toxicity_rate{{{labels.format(NEW)}}} 0.0" in text
    assert "llmpulse_window_groundedness{" not in text


def test_a_rules_summary_can_name_the_scorer_version() -> None:
    rules = parse_rules(RULES.replace("    min_count: 5\n", "    min_count: 5\n    summary: "
                                      "\"{value:.0%} toxic by {scorer}\"\n"), "test")
    engine = AlertEngine(rules, pane_s=5, lateness_s=0, store={})
    sent = _run(engine, [[scored(f"n{t}-{i}", float(t), 0.9, NEW) for i in range(5)]
                         for t in range(1, 3)])
    assert [m.summary for m in sent] == ["100% toxic by lexicon+minilm@2"]
