"""The time-compressed copy of the shipped Prometheus rules that the Alertmanager
integration test loads (tests/harness/prometheus.py, ``compress_rules``): only
durations change, each divided by the factor."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.harness.prometheus import (
    RULES,
    compress_duration,
    compress_expr,
    compress_rules,
    duration_ms,
)


@pytest.mark.parametrize(("text", "ms"), [
    ("5m", 300_000), ("1h30m", 5_400_000), ("500ms", 500), ("2d", 172_800_000), ("0s", 0)])
def test_duration_ms(text: str, ms: int) -> None:
    assert duration_ms(text) == ms


def test_duration_ms_refuses_other_text() -> None:
    with pytest.raises(ValueError):
        duration_ms("5 minutes")


@pytest.mark.parametrize(("text", "factor", "out"), [
    ("10m", 20, "30s"), ("5m", 20, "15s"), ("1h", 20, "180s"), ("6h", 20, "1080s"),
    ("3m", 10, "18s"), ("10s", 20, "1s"),  # at least one second
    ("1h30m", 20, "270s"), ("90s", 60, "1500ms"), ("0s", 20, "0s"), ("5m", 1, "300s")])
def test_compress_duration(text: str, factor: int, out: str) -> None:
    assert compress_duration(text, factor) == out


@pytest.mark.parametrize(("expr", "out"), [
    ("sum by (a) (rate(x_total[5m]) unless on (job, instance) up == 0)",
     "sum by (a) (rate(x_total[15s]) unless on (job, instance) up == 0)"),
    ("(a:b_error_ratio:rate5m or a:b_calls:rate5m * 0) / a:b_calls:rate5m",  # names kept
     "(a:b_error_ratio:rate5m or a:b_calls:rate5m * 0) / a:b_calls:rate5m"),
    ("deriv(t:lag:sum[10m]) > 0 and max_over_time(x[ 1h : 1m ]) offset 10m",
     "deriv(t:lag:sum[30s]) > 0 and max_over_time(x[ 180s : 3s ]) offset 30s"),
    ("rate(x[10m:]) offset -1h", "rate(x[30s:]) offset -180s"),
    ('x{le=~"[5m]", a=\'offset 5m\'} offset 5m', 'x{le=~"[5m]", a=\'offset 5m\'} offset 15s'),
    ("histogram_quantile(0.95, x_bucket) > 20", "histogram_quantile(0.95, x_bucket) > 20"),
])
def test_compress_expr_divides_ranges_and_offsets_only(expr: str, out: str) -> None:
    assert compress_expr(expr, 20) == out


_DURATIONS = re.compile(r"\[[^\]]*\]|offset\s+-?\w+")


def test_the_compressed_shipped_rules_differ_only_in_durations() -> None:
    shipped = yaml.safe_load(RULES.read_text())
    compressed = yaml.safe_load(compress_rules(RULES.read_text(), 20))
    assert [g["name"] for g in compressed["groups"]] == [g["name"] for g in shipped["groups"]]
    pairs = [(a, b) for g, h in zip(shipped["groups"], compressed["groups"], strict=True)
             for a, b in zip(g["rules"], h["rules"], strict=True)]
    assert len(pairs) > 30
    changed = 0
    for before, after in pairs:
        assert set(before) == set(after)
        for key in set(before) - {"expr", "for"}:
            assert after[key] == before[key]  # record/alert name, labels, annotations
        if "for" in before:
            assert duration_ms(after["for"]) == max(1000, duration_ms(before["for"]) // 20)
        assert _DURATIONS.sub("D", after["expr"]) == _DURATIONS.sub("D", before["expr"])
        changed += after["expr"] != before["expr"]
    assert changed > 20  # every rate window is compressed
    error_ratio = next(a for b, a in pairs if b.get("alert") == "LlmErrorRatioHigh")
    assert error_ratio["for"] == "15s"  # 5m / 20


def test_promtool_accepts_the_compressed_rules(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed (Debian: apt-get install prometheus)")
    path = tmp_path / "rules.yml"
    path.write_text(compress_rules(RULES.read_text(), 20))
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
