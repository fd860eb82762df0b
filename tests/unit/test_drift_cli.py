"""``llmpulse drift check``: two JSONL files of events in, JSON verdict out, exit 0 / 1 / 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from llmpulse.cli import cli
from llmpulse.drift.scenarios import Shift, SimCall, SyntheticTraffic
from llmpulse.schema import to_wire


def write(path: Path, calls: list[SimCall], extra: tuple[str, ...] = ()) -> Path:
    lines = [orjson.dumps(to_wire(c.event)).decode() for c in calls]
    path.write_text("\n".join([*lines, *extra]) + "\n")
    return path


@pytest.fixture
def traffic() -> SyntheticTraffic:
    return SyntheticTraffic(seed=5)


@pytest.fixture
def reference(tmp_path: Path, traffic: SyntheticTraffic) -> Path:
    return write(tmp_path / "ref.jsonl", traffic.calls(600))


def current(tmp_path: Path, traffic: SyntheticTraffic, n: int = 400,
            shift: Shift | None = None, extra: tuple[str, ...] = ()) -> Path:
    return write(tmp_path / "cur.jsonl", traffic.calls(n, shift), extra)


def check(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["drift", "check", "--embedder", "hashing",
                                    *map(str, args)])


def verdict(result: Result) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def test_same_distribution_exits_0(tmp_path: Path, traffic: SyntheticTraffic,
                                   reference: Path) -> None:
    result = check("--reference", reference, "--current", current(tmp_path, traffic))
    assert result.exit_code == 0, result.output
    out = verdict(result)
    assert out["status"] == "no_drift" and out["drifted"] is False
    assert out["embedder"] == "hashing-1024"
    assert out["reference"]["events"] == 600 and out["current"]["events"] == 400
    tested = {f["feature"] for f in out["features"] if f["status"] == "tested"}
    assert {"prompt_chars", "duration_s", "prompt_script", "prompt_embedding"} <= tested
    assert "toxicity" not in tested  # not scored without --quality


def test_drift_exits_1_and_names_the_feature(tmp_path: Path, traffic: SyntheticTraffic,
                                             reference: Path) -> None:
    result = check("--reference", reference, "--current",
                   current(tmp_path, traffic, shift="language"))
    assert result.exit_code == 1, result.output
    out = verdict(result)
    assert out["status"] == "drift" and out["drifted_features"][0] == "prompt_script"
    assert "drift: drift in prompt_script" in result.stderr


def test_bad_lines_are_reported_by_number_and_skipped(
        tmp_path: Path, traffic: SyntheticTraffic, reference: Path) -> None:
    cur = current(tmp_path, traffic, n=300,
                  extra=("{not json", json.dumps({"request_id": "x", "event_type": "inference"})))
    result = check("--reference", reference, "--current", cur)
    assert result.exit_code == 0, result.output
    assert f"{cur}:301: not_json" in result.stderr
    assert f"{cur}:302: invalid" in result.stderr
    assert verdict(result)["current"] == {"path": str(cur), "lines": 302, "bad_lines": 2,
                                          "events": 300, "events_used": 300}


def test_too_few_events_exit_2_with_an_explanation(
        tmp_path: Path, traffic: SyntheticTraffic, reference: Path) -> None:
    result = check("--reference", reference, "--current",
                   current(tmp_path, traffic, n=40, shift="latency"))
    assert result.exit_code == 2, result.output
    assert verdict(result)["status"] == "insufficient_data"
    assert "too few calls to check drift" in result.stderr
    assert "current 40" in result.stderr


def test_model_filter_applies_to_both_files(tmp_path: Path, traffic: SyntheticTraffic,
                                            reference: Path) -> None:
    cur = current(tmp_path, traffic)
    result = check("--reference", reference, "--current", cur, "--model", "gpt-4o-mini")
    assert result.exit_code == 0, result.output
    result = check("--reference", reference, "--current", cur, "--model", "claude-x")
    assert result.exit_code == 2
    assert "of model 'claude-x'" in result.stderr


def test_missing_file_and_unknown_feature_exit_2(tmp_path: Path, reference: Path) -> None:
    result = check("--reference", reference, "--current", tmp_path / "nope.jsonl")
    assert result.exit_code == 2 and "does not exist" in result.output
    result = check("--reference", reference, "--current", reference, "--features", "bogus")
    assert result.exit_code == 2 and "unknown drift feature(s) bogus" in result.output


def test_features_and_embedder_none(tmp_path: Path, traffic: SyntheticTraffic,
                                    reference: Path) -> None:
    cur = current(tmp_path, traffic, shift="latency")
    result = CliRunner().invoke(cli, [
        "drift", "check", "--reference", str(reference), "--current", str(cur),
        "--embedder", "none", "--features", "prompt_chars,ttft_s"])
    assert result.exit_code == 1, result.output
    out = verdict(result)
    assert [f["feature"] for f in out["features"]] == ["ttft_s", "prompt_chars"]
    assert out["embedder"] is None and out["policy"]["features"] == ["prompt_chars", "ttft_s"]


def test_a_file_without_valid_events_or_a_directory_exits_2(
        tmp_path: Path, reference: Path) -> None:
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b"\x00\x01\x02\n" * 3)
    result = check("--reference", reference, "--current", garbage)
    assert result.exit_code == 2, result.output
    assert f"{garbage}:1: not_json" in result.stderr
    assert "current 0" in result.stderr
    result = check("--reference", reference, "--current", tmp_path)
    assert result.exit_code == 2 and "is a directory" in result.output


def test_a_read_error_exits_2(tmp_path: Path, reference: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)
    result = check("--reference", reference, "--current", reference)
    assert result.exit_code == 2
    assert f"cannot read {reference}: Permission denied" in result.output
