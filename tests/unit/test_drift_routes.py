"""Drift per route and the prompt-version reference, against the real ClickHouse engine:
busy routes are checked on their own (quiet ones not), a shift on one route is flagged
at route level, the automatic reference follows a prompt rollout, and every check is
done once across restarts."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from llmpulse.detectors.cost import Cost
from llmpulse.drift.scenarios import ORIGIN, Shift, SyntheticTraffic
from llmpulse.models.embedder import load_embedder
from llmpulse.records import InferenceRecord
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.rows import StoredCall
from llmpulse.streams.drift import check_id
from llmpulse.windows import GroupKey
from tests.unit.factories import T0
from tests.unit.test_drift_watch import after_window, watch

START, END = T0 + timedelta(seconds=30), T0 + timedelta(seconds=45)  # the window checked


def at_t0(records: Sequence[InferenceRecord], **changes: Any) -> list[InferenceRecord]:
    """The records moved from the scenario's origin to T0, with fields changed."""
    offset = T0 - ORIGIN
    return [dataclasses.replace(r, start_time=r.start_time and r.start_time + offset,
                                end_time=r.end_time and r.end_time + offset, **changes)
            for r in records]


def save(store: ClickHouseStore, records: Sequence[InferenceRecord]) -> None:
    store.insert_calls([StoredCall(r, Cost(0.0, "prices", "test")) for r in records],
                       T0 + timedelta(minutes=5))


def calls(traffic: SyntheticTraffic, n: int, shift: Shift | None = None
          ) -> list[InferenceRecord]:
    return [c.record for c in traffic.calls(n, shift)]


class Counting:
    """The hashing embedder, counting the prompts it embeds."""

    def __init__(self) -> None:
        self.inner = load_embedder("hashing")
        self.texts = 0

    @property
    def name(self) -> str:
        return str(self.inner.name)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        out: np.ndarray = self.inner.embed(texts)
        return out


def busy_and_quiet(store: ClickHouseStore) -> None:
    """900 calls of one model from T0 at 20/s: 70 % on route "busy" (about 210 in the
    window checked), 30 % on "quiet" (about 90: fewer than the 100 needed)."""
    records = at_t0(calls(SyntheticTraffic(seed=7, model="routed-model"), 900))
    save(store, [dataclasses.replace(r, route="busy" if i % 10 < 7 else "quiet")
                 for i, r in enumerate(records)])


async def test_a_busy_route_is_checked_on_its_own_and_a_quiet_one_is_not(
        store: ClickHouseStore) -> None:
    busy_and_quiet(store)
    w, sent = watch(store)
    counting = Counting()
    w._embedder = counting
    checks = await w.tick(after_window())
    assert [(c.model, c.route) for c in checks] == [("routed-model", "*"),
                                                    ("routed-model", "busy")]
    model, route = checks
    assert not model.report.drifted and not route.report.drifted, route.report.as_dict()
    assert 150 < route.report.n_cur < 250 and route.report.n_cur < model.report.n_cur
    assert route.reference.startswith("the first ") and route.reference.endswith(
        " calls without a prompt version on route busy")
    # the route reused the model check's embeddings: nothing embedded twice
    assert counting.texts == model.report.n_ref + model.report.n_cur
    embedded = {f.feature: f for f in route.report.features}["prompt_embedding"]
    assert embedded.status == "tested" and embedded.n_cur == route.report.n_cur

    gauge = w.metrics.registry.get_sample_value
    assert gauge("llmpulse_drift_detected", {"model": "routed-model", "route": "*"}) == 0.0
    assert gauge("llmpulse_drift_detected", {"model": "routed-model", "route": "busy"}) == 0.0
    assert gauge("llmpulse_drift_detected", {"model": "routed-model", "route": "quiet"}) is None
    assert gauge("llmpulse_drift_score", {"model": "routed-model", "route": "busy",
                                          "feature": "prompt_chars"}) is not None
    assert [next(iter(p))[0] for p in sent] == [GroupKey(model="routed-model"),
                                                GroupKey(model="routed-model", route="busy")]
    rows = store.query("SELECT request_id, route, label FROM signals FINAL "
                       "WHERE name = 'drift' ORDER BY route")
    assert rows == [(f"drift:routed-model:{END.isoformat()}", "*", "ok"),
                    (f"drift:routed-model:{END.isoformat()}#busy", "busy", "ok")]


def test_a_route_check_reuses_embedded_prompts_and_embeds_few_more() -> None:
    from llmpulse.drift import build_table
    from llmpulse.streams.drift import PromptVectors

    records = calls(SyntheticTraffic(seed=5), 1000)
    counting = Counting()
    vectors = PromptVectors(counting)
    model = vectors.add_to(build_table(records), records, 1000, 0)  # the model check
    assert model.embeddings is not None and len(model.embeddings) == counting.texts == 1000
    assert len(vectors.vectors) == 1000
    # a route with 400 of those calls and 600 others: its 400 known prompts are used and
    # none is embedded again (more than the 250 it would embed otherwise)
    others = [dataclasses.replace(r, request_id=f"other-{r.request_id}")
              for r in calls(SyntheticTraffic(seed=6), 600)]
    route = records[:400] + others
    table = vectors.add_to(build_table(route), route, 1000, 0, fresh=250)
    assert table.embeddings is not None and len(table.embeddings) == 400
    assert counting.texts == 1000
    # a route with 100 known calls: topped up to 250 with 150 new embeddings, the known
    # ones all in the sample
    route = records[:100] + others
    table = vectors.add_to(build_table(route), route, 1000, 0, fresh=250)
    assert table.embeddings is not None and len(table.embeddings) == 250
    assert counting.texts == 1150 and vectors.embedded == 1150
    known = [vectors.vectors[r.request_id] for r in records[:100]]
    assert all(any(np.array_equal(k, row) for row in table.embeddings) for k in known)


async def test_a_route_with_too_small_a_reference_is_not_checked(
        store: ClickHouseStore) -> None:
    # route "late" starts 2.5 s before the window: about 50 calls before it, 150 in it
    records = at_t0(calls(SyntheticTraffic(seed=8, model="late-model"), 900))
    save(store, [dataclasses.replace(r, route="late" if i >= 550 and i % 2 else "main")
                 for i, r in enumerate(records)])
    w, sent = watch(store)
    counting = Counting()
    w._embedder = counting
    checks = await w.tick(after_window())
    assert [c.route for c in checks] == ["*", "main"]
    assert len(sent) == 2
    late = w.reference("late-model", START, END, "late")
    assert late is not None and late.first  # it has one, too small: skipped, not embedded
    assert counting.texts == checks[0].report.n_ref + checks[0].report.n_cur


async def test_the_routes_checked_are_capped_busiest_first(store: ClickHouseStore) -> None:
    busy_and_quiet(store)
    w, _ = watch(store, drift_min_samples="50", drift_max_routes="1")
    checks = await w.tick(after_window())
    assert [c.route for c in checks] == ["*", "busy"]  # "quiet" has enough but is second
    # with two allowed, a restart adds the second busiest (the checks done count)
    w, _ = watch(store, drift_min_samples="50", drift_max_routes="2")
    assert [c.route for c in await w.tick(after_window())] == ["quiet"]


async def test_a_shift_on_one_route_is_flagged_for_that_route(store: ClickHouseStore) -> None:
    # two routes at 10/s each; in the window checked, 30 % of route b's prompts are Russian
    for route, seed, shift in (("a", 1, None), ("b", 2, "language")):
        traffic = SyntheticTraffic(seed=seed, model="two-routes", rate=10.0)
        records = calls(traffic, 300) + calls(traffic, 150, shift)  # type: ignore[arg-type]
        save(store, [dataclasses.replace(r, request_id=f"{route}-{r.request_id}")
                     for r in at_t0(records, route=route)])
    w, sent = watch(store)
    checks = {c.route: c for c in await w.tick(after_window())}
    assert set(checks) == {"*", "a", "b"}
    assert checks["b"].report.drifted and checks["b"].report.top_feature == "prompt_script"
    assert not checks["a"].report.drifted, checks["a"].report.as_dict()
    gauge = w.metrics.registry.get_sample_value
    assert gauge("llmpulse_drift_detected", {"model": "two-routes", "route": "b"}) == 1.0
    assert gauge("llmpulse_drift_detected", {"model": "two-routes", "route": "a"}) == 0.0
    partials = {key.route: agg for p in sent for (key, _), agg in p.items()}
    assert (partials["b"].drifted, partials["a"].drifted) == (1, 0)
    assert partials["b"].summary()["drift_rate"] == 1.0
    (explanation,) = store.query("SELECT explanation FROM signals FINAL WHERE name = 'drift' "
                                 "AND route = 'b'")[0]
    assert explanation.startswith("prompt_script; reference: the first ")


def rollout(store: ClickHouseStore) -> None:
    """300 calls of prompt version support@1, then support@2 (whose prompts are longer)
    from T0 + 15 s: 300 calls before the window checked and 300 in it."""
    traffic = SyntheticTraffic(seed=9, model="versioned")
    v1, v2 = calls(traffic, 300), calls(traffic, 600, "length")
    save(store, at_t0(v1, prompt_template_id="support", prompt_template_version="1")
         + at_t0(v2, prompt_template_id="support", prompt_template_version="2"))


async def test_after_a_rollout_the_new_version_is_compared_with_its_own_start(
        store: ClickHouseStore) -> None:
    rollout(store)
    w, _ = watch(store, drift_reference_events="200", drift_max_routes="0")
    (check,) = await w.tick(after_window())
    assert check.reference == "the first 200 calls of prompt version support@2"
    assert not check.report.drifted, check.report.as_dict()
    assert check.report.n_ref == 200
    (explanation,) = store.query("SELECT explanation FROM signals FINAL "
                                 "WHERE name = 'drift'")[0]
    assert explanation == "reference: the first 200 calls of prompt version support@2"

    # the new version has fewer calls than a reference needs: the model's first calls,
    # mostly of the old version -- the rollout shows as drift, and the note says why
    w, _ = watch(store, drift_reference_events="400", drift_max_routes="0")
    fallback = w.check("versioned", START, END)
    assert fallback is not None
    assert fallback.reference.startswith("the model's first 400 calls; prompt version "
                                         "support@2 (")
    assert "of the 400 calls needed before it" in fallback.reference
    assert fallback.report.drifted and "prompt_chars" in fallback.report.drifted_features
    reference = w.reference("versioned", START, END)
    assert reference is not None and (reference.start, reference.version) == (T0, None)


async def test_a_window_of_mixed_versions_keeps_the_model_reference(
        store: ClickHouseStore) -> None:
    traffic = SyntheticTraffic(seed=3, model="mixed")
    records = at_t0(calls(traffic, 900))
    save(store, [dataclasses.replace(r, prompt_template_version=str(i % 3))
                 for i, r in enumerate(records)])  # three versions, a third each
    w, _ = watch(store, drift_reference_events="200")
    reference = w.reference("mixed", START, END)
    assert reference is not None
    assert (reference.start, reference.first, reference.version) == (T0, True, None)
    assert reference.note == "the model's first 200 calls"


async def test_each_model_and_route_is_checked_once_per_window_across_restarts(
        store: ClickHouseStore) -> None:
    busy_and_quiet(store)
    first, _ = watch(store, drift_max_routes="0")
    assert [c.route for c in await first.tick(after_window())] == ["*"]
    # restarted with route checks: the model's check is not repeated, the route's is done
    second, _ = watch(store)
    assert [c.route for c in await second.tick(after_window())] == ["busy"]
    third, _ = watch(store)
    assert await third.tick(after_window()) == []
    rows = store.query("SELECT request_id, count() FROM signals FINAL WHERE name = 'drift' "
                       "GROUP BY request_id ORDER BY request_id")
    assert rows == [(check_id("routed-model", END), 1),
                    (check_id("routed-model", END, "busy"), 1)]
    assert check_id("routed-model", END) == f"drift:routed-model:{END.isoformat()}"


def test_the_report_command_restricts_both_sides_to_a_route(
        store: ClickHouseStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmpulse.cli import cli
    from llmpulse.cli import drift_store as cli_drift_store
    from llmpulse.config import load_settings

    for route, seed, shift in (("a", 1, None), ("b", 2, "language")):
        traffic = SyntheticTraffic(seed=seed, model="two-routes", rate=10.0)
        records = calls(traffic, 300) + calls(traffic, 150, shift)  # type: ignore[arg-type]
        save(store, [dataclasses.replace(r, request_id=f"{route}-{r.request_id}")
                     for r in at_t0(records, route=route)])
    monkeypatch.setattr(cli_drift_store, "_settings", lambda: load_settings(
        {"LLMPULSE_DRIFT_EMBEDDER": "hashing"}))
    monkeypatch.setattr(cli_drift_store, "open_store", lambda _: store)
    monkeypatch.setattr(store, "close", lambda: None)  # the session's store stays open

    def report(*route: str) -> dict[str, Any]:
        result = CliRunner().invoke(cli, [
            "drift", "report", "--model", "two-routes", "--from", START.isoformat(),
            "--to", END.isoformat(), "-o", str(tmp_path / "r.html"), *route])
        assert result.exit_code == 0, result.output
        out: dict[str, Any] = json.loads(result.stdout)
        return out

    b, a, both = report("--route", "b"), report("--route", "a"), report()
    assert (b["route"], b["drifted"], b["drifted_features"][0]) == ("b", True, "prompt_script")
    assert (a["route"], a["drifted"]) == ("a", False)
    assert both["route"] == "*" and both["n_cur"] == a["n_cur"] + b["n_cur"]
    assert both["n_ref"] == a["n_ref"] + b["n_ref"]
    assert b["reference"].endswith("calls without a prompt version on route b")
    result = CliRunner().invoke(cli, [
        "drift", "report", "--model", "two-routes", "--route", "c", "--from",
        START.isoformat(), "--to", END.isoformat(), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 1 and "two-routes on route c has no reference" in result.output
