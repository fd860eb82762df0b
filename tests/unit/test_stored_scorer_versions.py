"""Store readers (report, compare, canaries) read one scorer version per quality signal,
on the real ClickHouse engine (chdb)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from llmpulse.release.from_store import Selection, read_side, scorer_choice
from llmpulse.release.signals import Sample
from llmpulse.report import Period
from llmpulse.report.queries import load
from llmpulse.signals import Signal
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.scorer_versions import Choice, common
from tests.harness.report_rows import fill

START = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
NEW = "embedding:all-MiniLM-L6-v2@4"


def _rescore(store: ClickHouseStore, at: datetime, model: str | None = None,
             n: int = 100) -> list[str]:
    """Groundedness by a newer scorer (run on two providers) on ``n`` chat calls that had
    none (calls after an upgrade), stored later than the old scores."""
    rows = store.query(
        "SELECT s.request_id, s.time, s.model, s.provider, s.route, s.tenant FROM signals AS s "
        "WHERE s.name = 'toxicity' AND ({m:String} = '' OR s.model = {m:String}) "
        "ORDER BY s.request_id LIMIT {n:UInt32}", {"m": model or "", "n": n})
    signals = [Signal(name="groundedness", value=0.2, request_id=rid, time=time, model=m,
                      provider=p, route=route, tenant=tenant, label="ungrounded",
                      detector=NEW + ("/cuda+cpu" if i % 2 else "/cpu"))
               for i, (rid, time, m, p, route, tenant) in enumerate(rows)]
    store.insert_signals(signals, {}, at)
    return [str(r[0]) for r in rows]


def test_the_report_reads_the_newest_version_and_says_what_it_left_out(
        store: ClickHouseStore) -> None:
    filled = fill(store, START)
    _rescore(store, filled.end + timedelta(hours=1))
    data = load(store, Period(START - timedelta(hours=1), filled.end + timedelta(hours=1)),
                filled.end + timedelta(hours=2))
    t = data.totals
    assert t.ground_scored == 100 and abs((t.groundedness or 0) - 0.2) < 1e-9
    assert t.tox_scored == 450  # one version only: all read
    assert t.scorers == (f"toxicity by test, groundedness by {NEW}; 450 groundedness "
                         "scores of other scorer versions left out")
    grounded = [p.values[1] for p in data.quality if p.values[1] is not None]
    assert grounded and all(abs(v - 0.2) < 1e-9 for v in grounded)


def test_compared_sides_share_one_version(store: ClickHouseStore) -> None:
    filled = fill(store, START)
    _rescore(store, filled.end + timedelta(hours=1), model="gpt-4o", n=40)
    sides = [Selection("model", m, START - timedelta(hours=1), filled.end + timedelta(hours=1))
             for m in ("gpt-4o", "claude-sonnet-4-5")]
    choice = scorer_choice(store, sides)
    # only gpt-4o has @4 scores: both sides are compared on the version they share
    assert choice.versions == {"toxicity": "test", "groundedness": "test"}
    assert choice.left_out == {"groundedness": 40}
    gpt = read_side(store, sides[0], choice)
    alone = read_side(store, sides[0])  # on its own, the side reads its newest version
    assert _grounded(gpt) == 150 and _grounded(alone) == 40


def test_sides_with_no_shared_version_leave_the_signal_out() -> None:
    found_a = {"groundedness": {"g@3": (10, 1)}, "toxicity": {"t@1": (5, 1)}}
    found_b = {"groundedness": {"g@4": (7, 2)}, "toxicity": {"t@1": (3, 1)}}
    choice = common([found_a, found_b])
    assert choice.versions == {"toxicity": "t@1"}
    assert choice.left_out == {"groundedness": 17}
    assert choice.describe() == ("toxicity by t@1; 17 groundedness scores of other scorer "
                                 "versions left out")
    assert Choice().condition() == ("0", {})


def _grounded(sample: Sample) -> int:
    return len(sample.values["groundedness"])


def test_a_side_without_scores_does_not_hide_the_others() -> None:
    choice = common([{"toxicity": {"t@2": (250, 1)}}, {}])
    assert choice.versions == {"toxicity": "t@2"} and choice.left_out == {}
