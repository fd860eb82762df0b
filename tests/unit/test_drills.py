"""Drills: parsing, windows, and the store client that fails during store_down."""

from __future__ import annotations

from typing import Any

import pytest

from llmpulse.config import Settings
from llmpulse.demo import oncall_env
from llmpulse.drills import Drill, DrillClient, DrillStoreDown, active, parse_drills
from llmpulse.errors import ConfigError
from llmpulse.simulator import oncall_drills


def test_parse_and_windows() -> None:
    drills = parse_drills("store_down@1000+60, scorer_slow@1030.5+10")
    assert drills == (Drill("store_down", 1000.0, 60.0), Drill("scorer_slow", 1030.5, 10.0))
    assert not active(drills, "store_down", 999.9)
    assert active(drills, "store_down", 1000.0) and active(drills, "store_down", 1059.9)
    assert not active(drills, "store_down", 1060.0)
    assert not active(drills, "scorer_slow", 1000.0)
    assert parse_drills("") == ()
    assert parse_drills(",".join(d.spec() for d in drills)) == drills


@pytest.mark.parametrize(("text", "message"), [
    ("store_down", r"KIND@START\+SECONDS"),
    ("store_down@later+60", r"KIND@START\+SECONDS"),
    ("disk_full@1000+60", "unknown drill 'disk_full'"),
])
def test_bad_drills_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_drills(text)
    with pytest.raises((ConfigError, ValueError), match="drills"):
        Settings(drills=text)


class _Client:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.url = "chdb://x"

    def insert(self, *args: Any) -> str:
        self.calls.append("insert")
        return "ok"

    def query(self, *args: Any) -> str:
        self.calls.append("query")
        return "rows"


def test_drill_client_fails_only_inside_the_window() -> None:
    now = [0.0]
    inner = _Client()
    client = DrillClient(inner, parse_drills("store_down@100+50"), lambda: now[0])
    assert client.insert("t", []) == "ok" and client.query("SELECT 1") == "rows"
    now[0] = 120.0
    with pytest.raises(DrillStoreDown, match="store_down drill"):
        client.insert("t", [])
    with pytest.raises(DrillStoreDown):
        client.query("SELECT 1")
    assert client.url == "chdb://x"  # attributes pass through
    now[0] = 150.0
    assert client.insert("t", []) == "ok"
    assert inner.calls == ["insert", "query", "insert"]


def test_demo_sets_drills_and_prices_for_long_runs_only() -> None:
    assert oncall_env(600.0, 1000.0, environ={}) == {}
    env = oncall_env(1800.0, 1000.0, environ={})
    assert parse_drills(env["LLMPULSE_DRILLS"]) == parse_drills(oncall_drills(1800.0, 1000.0))
    assert env["LLMPULSE_PRICES_FILE"].endswith("demo_prices.yml")
    kept = oncall_env(1800.0, 1000.0, environ={"LLMPULSE_DRILLS": "", "LLMPULSE_PRICES_FILE": "p"})
    assert kept == {}
    drills = parse_drills(oncall_drills(1800.0, 1000.0))
    slow, down = (next(d for d in drills if d.kind == k) for k in ("scorer_slow", "store_down"))
    assert slow.start == 1720.0 and down.start == 2260.0
    assert slow.start + slow.duration_s <= down.start  # the scorer has tasks to shed
    assert down.start + down.duration_s < 1000.0 + 1800.0  # over before the traffic ends


def test_demo_price_file_prices_the_self_hosted_model() -> None:
    from importlib.resources import files

    from llmpulse.prices import load_overrides

    overrides = load_overrides(str(files("llmpulse").joinpath("demo_prices.yml")))
    assert len(list(overrides)) == 1
