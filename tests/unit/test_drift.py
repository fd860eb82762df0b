"""Drift detection with real Evidently tests: stationary traffic stays quiet, each labelled
shift is found and named, small windows never alarm."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from llmpulse.drift import DriftPolicy, FeatureTable, build_table, detect_drift
from llmpulse.drift.columns import RARE, pool_rare
from llmpulse.drift.embedding import model_threshold
from llmpulse.drift.features import EMBEDDING, FEATURES, NUMERIC
from llmpulse.drift.sampling import Reservoir, subsample_indices
from llmpulse.drift.scenarios import (
    EXPECTED,
    SHIFTS,
    Shift,
    SimCall,
    SyntheticTraffic,
    records_of,
    scores_of,
)
from llmpulse.drift.script import script_of
from llmpulse.models.embedder import HashingEmbedder

EMBEDDER = HashingEmbedder()
WINDOW = 500


def table(calls: list[SimCall], *, scores: bool = True) -> FeatureTable:
    return build_table(records_of(calls), scores=scores_of(calls) if scores else None,
                       embedder=EMBEDDER)


@pytest.fixture
def traffic() -> SyntheticTraffic:
    return SyntheticTraffic(seed=11)


@pytest.fixture
def reference(traffic: SyntheticTraffic) -> FeatureTable:
    return table(traffic.calls(4 * WINDOW))


# --- features -------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "script"), [
    ("How do I reset my password?", "latin"),
    ("Ça coûte combien, s'il vous plaît?", "latin"),
    ("Как сбросить пароль? (v2)", "cyrillic"),
    ("密码怎么重置?", "cjk"),
    ("パスワードをリセット", "cjk"),
    ("كيف أعيد تعيين كلمة المرور", "arabic"),
    ("Πώς αλλάζω τον κωδικό;", "other"),
    ("12345 !!! ??", "none"),
    ("", "none"),
])
def test_script_of_names_the_writing_system_most_letters_use(text: str, script: str) -> None:
    assert script_of(text) == script


def test_features_of_a_call_missing_values_stay_missing(traffic: SyntheticTraffic) -> None:
    full = records_of(traffic.calls(3))
    bare = replace(full[0], input_messages=(), system_instructions=None, output_messages=(),
                   input_tokens=None, finish_reasons=(), error_type="timeout")
    t = build_table([*full, bare], scores={full[0].request_id: {"toxicity": 0.25}},
                    embedder=EMBEDDER)
    assert t.n_events == 4
    assert t.numeric["toxicity"][0] == 0.25 and np.isnan(t.numeric["toxicity"][1])
    for name in ("prompt_chars", "response_chars", "input_tokens"):
        assert np.isnan(t.numeric[name][3]), name
    assert t.numeric["prompt_chars"][0] == len(full[0].input_messages[0].content)
    assert t.categorical["finish_reason"][3] == "error"
    assert t.categorical["prompt_script"][3] is None
    assert list(t.categorical["prompt_script"][:3]) == ["latin"] * 3
    assert t.embeddings is not None and t.embeddings.shape == (3, EMBEDDER.dim)
    assert t.embedder == "hashing-1024"
    assert len(t.values("prompt_chars")) == 3


def test_only_a_bounded_seeded_sample_of_prompts_is_embedded(traffic: SyntheticTraffic) -> None:
    records = records_of(traffic.calls(300))
    a = build_table(records, embedder=EMBEDDER, max_embedding_rows=120, seed=3)
    b = build_table(records, embedder=EMBEDDER, max_embedding_rows=120, seed=3)
    assert a.embeddings is not None and b.embeddings is not None
    assert a.embeddings.shape[0] == 120
    assert np.array_equal(a.embeddings, b.embeddings)


def test_rare_categories_are_pooled_and_a_tiny_pool_left_out() -> None:
    ref = np.array(["stop"] * 480 + ["length"] * 18 + ["content_filter"] * 2, dtype=object)
    cur = np.array(["stop"] * 470 + ["length"] * 25 + ["other"] * 5, dtype=object)
    r, c = pool_rare(ref, cur)
    assert set(r) | set(c) == {"stop", "length"}  # 2 + 5 rare calls: left out
    assert len(r) == 498 and len(c) == 495
    many = np.array(["stop"] * 400 + [f"x{i}" for i in range(100)], dtype=object)
    r, c = pool_rare(many, many)
    assert set(r) == {"stop", RARE}


def test_sampling_is_bounded_uniform_and_seeded() -> None:
    assert list(subsample_indices(5, 10, 0)) == [0, 1, 2, 3, 4]
    picked = subsample_indices(10_000, 100, 7)
    assert len(set(picked)) == 100 and list(picked) == sorted(picked)
    assert np.array_equal(picked, subsample_indices(10_000, 100, 7))
    reservoir: Reservoir[int] = Reservoir(50, seed=1)
    reservoir.extend(range(10_000))
    assert reservoir.seen == 10_000 and len(reservoir.items) == 50
    assert max(reservoir.items) > 5_000  # late items get in too


def test_the_classifier_threshold_follows_sample_size_and_allowed_false_alarms() -> None:
    small, large = model_threshold(200, 200, 1e-5), model_threshold(5000, 5000, 1e-5)
    assert small > large >= 0.55
    assert model_threshold(1000, 1000, 1e-2) < model_threshold(1000, 1000, 1e-6)


# --- detection ------------------------------------------------------------------------------

def test_stationary_windows_do_not_drift(traffic: SyntheticTraffic,
                                         reference: FeatureTable) -> None:
    for _ in range(5):
        report = detect_drift(reference, table(traffic.calls(WINDOW)))
        assert report.status == "no_drift", report.reason
        assert not report.drifted_features
        assert {f.status for f in report.features} == {"tested"}
        assert {f.feature for f in report.features} == set(FEATURES)


@pytest.mark.parametrize("shift", SHIFTS)
def test_each_shift_is_detected_and_the_shifted_feature_is_on_top(
        shift: Shift, traffic: SyntheticTraffic, reference: FeatureTable) -> None:
    report = detect_drift(reference, table(traffic.calls(WINDOW, shift)))
    assert report.status == "drift", report.reason
    assert report.top_feature in EXPECTED[shift], report.drifted_features
    top = report.features[0]
    assert top.feature == report.top_feature and top.severity >= 1.0
    assert all(t.drifted for t in top.tests)
    assert report.top_feature in report.reason


def test_report_is_json_ready_with_methods_thresholds_and_counts(
        traffic: SyntheticTraffic, reference: FeatureTable) -> None:
    out = detect_drift(reference, table(traffic.calls(WINDOW, "latency"))).as_dict()
    assert out["status"] == "drift" and out["drifted"] is True
    assert out["embedder"] == "hashing-1024" and out["n_ref"] == 4 * WINDOW
    by_name = {f["feature"]: f for f in out["features"]}
    ttft = by_name["ttft_s"]
    assert [t["method"] for t in ttft["tests"]] == ["ks", "wasserstein"]
    assert ttft["tests"][0]["threshold"] == pytest.approx(1e-4 / len(FEATURES))
    assert ttft["tests"][1]["threshold"] == 0.1
    assert (ttft["n_ref"], ttft["n_cur"]) == (4 * WINDOW, WINDOW)
    assert [t["method"] for t in by_name["prompt_script"]["tests"]] == ["z", "jensenshannon"]
    assert by_name[EMBEDDING]["tests"][0]["method"] == "model"
    assert by_name[EMBEDDING]["n_ref"] == 1000  # the embedding sample is bounded


def test_detection_is_deterministic(traffic: SyntheticTraffic, reference: FeatureTable) -> None:
    current = table(traffic.calls(WINDOW, "topic"))
    assert detect_drift(reference, current) == detect_drift(reference, current)


def test_small_windows_never_alarm(traffic: SyntheticTraffic, reference: FeatureTable) -> None:
    report = detect_drift(reference, table(traffic.calls(60, "latency")))
    assert report.status == "insufficient_data" and not report.drifted
    assert "at least 100" in report.reason
    assert {f.status for f in report.features} == {"insufficient_data"}


def test_a_feature_without_enough_values_is_reported_not_tested(
        traffic: SyntheticTraffic, reference: FeatureTable) -> None:
    report = detect_drift(reference, table(traffic.calls(WINDOW), scores=False))
    status = {f.feature: f.status for f in report.features}
    assert status["toxicity"] == status["groundedness"] == "insufficient_data"
    assert status["prompt_chars"] == "tested" and report.status == "no_drift"
    assert "9 features" in report.reason


def test_without_any_testable_feature_the_verdict_is_insufficient(
        traffic: SyntheticTraffic) -> None:
    bare = [replace(r, input_messages=(), output_messages=(), system_instructions=None,
                    input_tokens=None, output_tokens=None, end_time=None,
                    time_to_first_chunk=None, finish_reasons=())
            for r in records_of(traffic.calls(300))]
    t = build_table(bare)
    report = detect_drift(t, t)
    assert report.status == "insufficient_data" and "no feature" in report.reason


def test_embeddings_of_different_embedders_are_not_compared(
        traffic: SyntheticTraffic, reference: FeatureTable) -> None:
    other = build_table(records_of(traffic.calls(WINDOW)), embedder=HashingEmbedder(dim=256))
    other = replace(other, embedder="other-model")
    report = detect_drift(reference, other)
    emb = next(f for f in report.features if f.feature == EMBEDDING)
    assert emb.status == "incompatible" and not emb.drifted


def test_non_key_features_drift_only_by_share(traffic: SyntheticTraffic,
                                              reference: FeatureTable) -> None:
    current = table(traffic.calls(WINDOW, "latency"))
    policy = DriftPolicy(key_features=frozenset({EMBEDDING}))
    report = detect_drift(reference, current, policy)
    assert report.status == "no_drift" and "ttft_s" in report.drifted_features
    assert "non-key" in report.reason
    assert detect_drift(reference, current, replace(policy, drift_share=0.1)).drifted


def test_features_can_be_selected(traffic: SyntheticTraffic, reference: FeatureTable) -> None:
    policy = DriftPolicy(features=("prompt_chars", "duration_s"))
    report = detect_drift(reference, table(traffic.calls(WINDOW, "latency")), policy)
    assert [f.feature for f in report.features] == ["duration_s", "prompt_chars"]
    assert report.drifted_features == ("duration_s",)
    with pytest.raises(ValueError, match="unknown drift feature"):
        detect_drift(reference, reference, DriftPolicy(features=("nope",)))


def test_evidently_default_tests_are_available_for_comparison(
        traffic: SyntheticTraffic, reference: FeatureTable) -> None:
    policy = DriftPolicy(column_tests="evidently_defaults", features=(*NUMERIC, EMBEDDING))
    report = detect_drift(reference, table(traffic.calls(WINDOW, "length")), policy)
    methods = {f.feature: f.tests[0].method for f in report.features}
    assert methods["prompt_chars"] == "wasserstein"  # reference > 1,000 rows
    assert methods[EMBEDDING] == "model" and report.drifted


def test_large_windows_are_subsampled_to_the_policy_bounds(traffic: SyntheticTraffic) -> None:
    big = table(traffic.calls(3000))
    policy = DriftPolicy(max_rows=1200, max_embedding_rows=400)
    report = detect_drift(big, big, policy)
    counts = {f.feature: (f.n_ref, f.n_cur) for f in report.features}
    assert counts["duration_s"] == (1200, 1200) and counts[EMBEDDING] == (400, 400)


def test_policy_rejects_nonsense() -> None:
    for bad in ({"alpha": 0.0}, {"drift_share": 0.0}, {"min_samples": 1},
                {"max_rows": 10}, {"embedding_method": "pca"}):
        with pytest.raises(ValueError):
            DriftPolicy(**bad)
