"""Drift checks in the stream, against the real ClickHouse engine: a model's window of
stored calls against its automatic or pinned reference, signals stored, a window
partial for the rules, and the HTML report command (routes and prompt versions:
``test_drift_routes.py``)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

from llmpulse.config import load_settings
from llmpulse.detectors.cost import Cost
from llmpulse.drift.scenarios import ORIGIN, Shift, SyntheticTraffic
from llmpulse.metrics import build_metrics
from llmpulse.records import InferenceRecord
from llmpulse.sinks import drift_rows
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.rows import StoredCall
from llmpulse.streams.drift import DriftWatch
from llmpulse.windows import pane_of
from tests.unit.factories import T0

EVERY = 15


def store_traffic(store: ClickHouseStore, model: str, shift: Shift | None) -> None:
    """600 reference calls from T0 (30 s at 20/s), then a 15 s window of 300 calls."""
    traffic = SyntheticTraffic(seed=4, model=model, rate=20.0)
    calls = traffic.calls(600) + traffic.calls(300, shift)
    offset = T0 - ORIGIN

    def moved(r: InferenceRecord) -> InferenceRecord:
        return dataclasses.replace(r, start_time=r.start_time and r.start_time + offset,
                                   end_time=r.end_time and r.end_time + offset)

    stored = [StoredCall(moved(c.record), Cost(0.0, "prices", "test")) for c in calls]
    store.insert_calls(stored, T0 + timedelta(minutes=5))


def watch(store: ClickHouseStore, **env: str) -> tuple[DriftWatch, list[Any]]:
    settings = load_settings({"LLMPULSE_DRIFT_EVERY_S": str(EVERY),
                              "LLMPULSE_DRIFT_EMBEDDER": "hashing",
                              "LLMPULSE_WINDOW_LATENESS_S": "0",
                              "LLMPULSE_JOIN_TIMEOUT_S": "1",
                              **{f"LLMPULSE_{k.upper()}": v for k, v in env.items()}})
    sent: list[Any] = []

    async def publish(partials: Any) -> None:
        sent.append(partials)

    return DriftWatch(settings, store, build_metrics(), publish), sent


def after_window() -> float:
    return (T0 + timedelta(seconds=45 + 10)).timestamp()  # the margin is 7 s here


async def test_stationary_traffic_is_checked_and_does_not_drift(store: ClickHouseStore) -> None:
    store_traffic(store, "steady-model", None)
    w, sent = watch(store)
    checks = await w.tick(after_window())
    # the model, and its only route (busy enough) on its own
    window = (T0 + timedelta(seconds=30), T0 + timedelta(seconds=45))
    assert [(c.model, c.route, c.start, c.end) for c in checks] == [
        ("steady-model", "*", *window), ("steady-model", "support-chat", *window)]
    assert not any(c.report.drifted for c in checks), checks[0].report.as_dict()
    # its first 600 calls, less those still running at the window's start (in the window)
    assert checks[0].reference == "the first 562 calls without a prompt version"
    assert await w.tick(after_window() + 1) == []  # each window once
    restarted, _ = watch(store)
    assert await restarted.tick(after_window()) == []  # and once across restarts
    ((key, agg),) = sent[0].items()
    assert key[0].model == "steady-model" and key[0].route == "*"
    assert (agg.drift_checks, agg.drifted) == (1, 0)
    assert key[1] == pane_of(after_window(), 5.0)  # when it ran: not a late partial
    rows = store.query("SELECT route, name, label FROM signals FINAL WHERE name = 'drift' "
                       "ORDER BY route")
    assert rows == [("*", "drift", "ok"), ("support-chat", "drift", "ok")]
    assert store.query("SELECT count() FROM signals FINAL WHERE startsWith(name, 'drift.') "
                       "AND route = '*'")[0][0] >= 8


async def test_a_language_shift_drifts_and_names_the_prompt_script(
        store: ClickHouseStore, tmp_path: Path) -> None:
    store_traffic(store, "shifting-model", "language")
    w, sent = watch(store, drift_max_routes="0")
    (check,) = await w.tick(after_window())
    assert check.report.drifted and check.report.top_feature == "prompt_script"
    ((_, agg),) = sent[0].items()
    assert (agg.drift_checks, agg.drifted) == (1, 1)
    assert agg.summary()["drift_rate"] == 1.0
    assert w.metrics.registry.get_sample_value(
        "llmpulse_drift_detected", {"model": "shifting-model", "route": "*"}) == 1.0
    explanation = store.query("SELECT explanation FROM signals FINAL WHERE name = 'drift'")
    assert explanation == [
        ("prompt_script; reference: the first 562 calls without a prompt version",)]

    from llmpulse.cli.drift_store import write_html

    tables = w.tables("shifting-model", check.start, check.end)
    write_html(*tables, tmp_path / "report.html")
    assert "prompt_script" in (tmp_path / "report.html").read_text()


async def test_a_pinned_baseline_is_the_reference(store: ClickHouseStore) -> None:
    store_traffic(store, "pinned-model", None)
    w, _ = watch(store)
    start, end = T0 + timedelta(seconds=30), T0 + timedelta(seconds=45)
    auto = w.reference("pinned-model", start, end)
    assert auto is not None and (auto.start, auto.end, auto.first) == (
        T0, start, True)  # automatic: its first calls
    drift_rows.set_baseline(store, "pinned-model", T0 + timedelta(seconds=5),
                            T0 + timedelta(seconds=25), T0)
    pinned = w.reference("pinned-model", start, end)
    assert pinned is not None and (pinned.start, pinned.end, pinned.first) == (
        T0 + timedelta(seconds=5), T0 + timedelta(seconds=25), False)
    assert pinned.note.startswith("pinned baseline ")
    assert w.reference("no-such-model", T0, end) is None


def test_three_drifted_checks_in_a_row_fire_the_prompt_drift_policy() -> None:
    from types import SimpleNamespace

    from llmpulse.alerting.engine import AlertEngine
    from llmpulse.alerting.rules import parse_rules
    from llmpulse.streams.drift import DriftCheck, drift_partial
    from llmpulse.windows import GroupKey, WindowAggregate

    rules = parse_rules("""
rules:
  - {name: prompt_drift, metric: prompt_drift_rate, group_by: [model], window: 15m,
     operator: ">=", threshold: 1.0, min_count: 2}
""", "test")
    engine = AlertEngine(rules, pane_s=5, lateness_s=30, store={})
    fired: list[float] = []
    t0 = T0.timestamp()
    for step in range(0, 1800, 5):
        now = t0 + step
        engine.add([(GroupKey(model="m"), now - 5, WindowAggregate(calls=10, latest=now - 5))])
        if step and step % 300 == 0:  # a drift check every 5 minutes; all but the first drift
            drifted = step > 300
            report = SimpleNamespace(drifted=drifted, drifted_features=(
                ("prompt_embedding",) if drifted else ()))
            check = DriftCheck("m", T0, T0, report)  # type: ignore[arg-type]
            engine.add([(g, p, a) for (g, p), a in drift_partial(check, 5, now).items()])
        messages, _ = engine.evaluate(now)
        fired += [step for m in messages if m.kind == "trigger"]
    # once, right after the third drifted check in a row (600, 900, 1200), when the
    # clean check at 300 has left the window
    assert len(fired) == 1 and 1200 <= fired[0] < 1300, fired


def test_the_embedder_is_loaded_once_in_the_background_before_the_first_check(
        monkeypatch: Any, caplog: Any) -> None:
    """The first tick starts loading the embedder (and Evidently) in a daemon thread; a
    check needing it meanwhile waits for that load instead of loading a second copy; a
    failed load is logged and tried again by the next caller."""
    import threading
    import time

    from llmpulse.drift import _evidently
    from llmpulse.models import embedder as embedder_module

    loads: list[str] = []
    failing = [True]

    def load(kind: str = "auto", **_: Any) -> str:
        loads.append(kind)
        time.sleep(0.2)
        if failing[0]:
            failing[0] = False
            raise RuntimeError("no model here")
        return "embedder"

    imported: list[bool] = []
    monkeypatch.setattr(embedder_module, "load_embedder", load)
    monkeypatch.setattr(_evidently, "load", lambda: imported.append(True))
    w, _ = watch(None, drift_embedder="auto")  # type: ignore[arg-type]  # no store used
    w.warm_up()
    assert w._warming is not None and w._warming.daemon
    w._warming.join(5)
    assert loads == ["auto"] and "could not load the drift embedder" in caplog.text
    w._warming = None
    w.warm_up()  # starts a second load: the first failed
    got: list[Any] = []
    check = threading.Thread(target=lambda: got.append(w._embed()))
    check.start()
    w.warm_up()  # once only
    check.join(5)
    w._warming.join(5)
    assert got == ["embedder"] and loads == ["auto", "auto"] and imported == [True, True]
    assert w._embed() == "embedder" and len(loads) == 2


def test_no_embedder_no_warm_up() -> None:
    w, _ = watch(None, drift_embedder="none")  # type: ignore[arg-type]  # no store used
    w.warm_up()
    assert w._warming is None and w._embed() is None
