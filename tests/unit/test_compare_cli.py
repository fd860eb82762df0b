"""``llmpulse compare``: two JSONL files scored by the stream's detectors, and two versions
of stored calls in the embedded store; the verdict as a table or JSON and as exit code."""

from __future__ import annotations

import importlib
import json
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from llmpulse.cli import cli
from llmpulse.detectors.cost import Cost
from llmpulse.records import from_inference
from llmpulse.schema import FeedbackEvent, InferenceEvent
from llmpulse.signals import Signal
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.rows import StoredCall
from tests.unit.factories import T0, Borrowed, feedback, inference


def calls(prefix: str, n: int, seed: int, error: float = 0.02, slow: float = 1.0,
          **over: Any) -> list[dict[str, Any]]:
    """``n`` wire inference events: lognormal latency, ``error`` of them failed."""
    rng = random.Random(seed)
    events = []
    for i in range(n):
        start = T0 + timedelta(seconds=i)
        duration = slow * rng.lognormvariate(0.2, 0.4)
        failed = rng.random() < error
        event = inference(
            f"{prefix}-{i}", start_time=start.isoformat(),
            end_time=(start + timedelta(seconds=duration)).isoformat(),
            **{"gen_ai.response.time_to_first_chunk": duration / 4,
               "gen_ai.usage.output_tokens": rng.randint(80, 120),
               "gen_ai.output.messages": [{"role": "assistant", "content": "Sure, done."}]},
            **over)
        if failed:
            event["error.type"] = "timeout" if rng.random() < 0.5 else "rate_limited"
            event["gen_ai.response.finish_reasons"] = []
        events.append(event)
    return events


def write(path: Path, events: list[dict[str, Any]], *extra: str) -> Path:
    path.write_text("\n".join([json.dumps(e) for e in events] + list(extra)) + "\n")
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["compare", *args],
                              env={"LLMPULSE_GROUNDEDNESS_BACKEND": "hashing"})


def files(tmp_path: Path, base: list[dict[str, Any]], cand: list[dict[str, Any]]) -> list[str]:
    a, b = write(tmp_path / "a.jsonl", base), write(tmp_path / "b.jsonl", cand)
    return ["--baseline", str(a), "--candidate", str(b)]


CORE = ["--signal", "error_rate", "--signal", "timeout_rate", "--signal", "duration_p50",
        "--signal", "output_tokens_mean"]


def test_a_candidate_failing_more_often_is_a_rollback_exit_1(tmp_path: Path) -> None:
    result = run(*files(tmp_path, calls("a", 800, 1), calls("b", 800, 2, error=0.12)))
    assert result.exit_code == 1, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line}
    assert rows["error_rate"].endswith("rollback")
    assert "800/800" in rows["toxicity_rate"]  # every response scored, none toxic
    assert "verdict: rollback" in result.stdout
    assert "candidate: " in result.stdout and "(800 calls)" in result.stdout


def test_json_gives_every_signal_with_its_interval(tmp_path: Path) -> None:
    result = run(*files(tmp_path, calls("a", 800, 1), calls("b", 800, 2, error=0.12)),
                 "--json")
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["verdict"] == "rollback" and out["rollback"][0] == "error_rate"
    assert out["baseline"]["calls"] == out["candidate"]["calls"] == 800
    error = next(s for s in out["signals"] if s["signal"] == "error_rate")
    assert error["ci_low"] > 0 and error["p_adjusted"] <= 0.05 and error["n_baseline"] == 800
    duration = next(s for s in out["signals"] if s["signal"] == "duration_p50")
    assert duration["verdict"] in ("promote", "hold") and duration["baseline"] > 0
    assert len(out["signals"]) == 18


def test_the_same_release_twice_is_promoted_within_loose_margins_exit_0(
        tmp_path: Path) -> None:
    result = run(*files(tmp_path, calls("a", 1500, 3), calls("b", 1500, 4)), *CORE,
                 "--threshold", "error_rate=0.05", "--threshold", "timeout_rate=0.05",
                 "--threshold", "duration_p50=0.25", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["verdict"] == "promote"
    # with the default margins the same data cannot rule out a 1-point regression yet
    held = run(*files(tmp_path, calls("a", 1500, 3), calls("b", 1500, 4)), *CORE, "--json")
    assert held.exit_code == 3 and json.loads(held.stdout)["verdict"] == "hold"


def test_too_few_calls_is_not_enough_data_exit_3(tmp_path: Path) -> None:
    result = run(*files(tmp_path, calls("a", 60, 1), calls("b", 60, 2, error=0.5)))
    assert result.exit_code == 3, result.output
    assert "verdict: insufficient_data" in result.stdout


def test_slower_latency_and_feedback_in_the_files_are_compared(tmp_path: Path) -> None:
    base = calls("a", 600, 5)
    cand = calls("b", 600, 6, slow=1.6)
    down = [json.dumps(feedback(e["request_id"], feedback_id=f"f-{e['request_id']}",
                                thumbs="down" if i % 2 else "up"))
            for i, e in enumerate(cand[:300])]
    up = [json.dumps(feedback(e["request_id"], feedback_id=f"f-{e['request_id']}",
                              thumbs="up" if i % 10 else "down"))
          for i, e in enumerate(base[:300])]
    a = write(tmp_path / "a.jsonl", base, *up, json.dumps(feedback("elsewhere")))
    b = write(tmp_path / "b.jsonl", cand, *down)
    result = run("--baseline", str(a), "--candidate", str(b), "--json")
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert {"duration_p50", "ttft_p50", "thumbs_down_rate"} <= set(out["rollback"])
    thumbs = next(s for s in out["signals"] if s["signal"] == "thumbs_down_rate")
    assert (thumbs["n_baseline"], thumbs["n_candidate"]) == (300, 300)
    assert thumbs["baseline"] == pytest.approx(0.1) and thumbs["candidate"] == 0.5
    assert "1 feedback events on calls not in the file" in result.stderr


def test_bad_input_is_exit_2(tmp_path: Path) -> None:
    a = write(tmp_path / "a.jsonl", calls("a", 300, 1), "{not json")
    b = write(tmp_path / "b.jsonl", calls("b", 300, 2))
    result = run("--baseline", str(a), "--candidate", str(b))
    assert result.exit_code == 2 and f"{a}:301: not_json" in result.stderr
    missing = run("--baseline", str(tmp_path / "nope.jsonl"), "--candidate", str(b))
    assert missing.exit_code == 2 and "no file" in missing.output
    assert run("--baseline", str(b), "--candidate", str(b), "--threshold",
               "latency=2").exit_code == 2
    assert run("--baseline", "v1", "--candidate", "v2", "--by",
               "prompt_version").exit_code == 2  # versions of which model?
    assert run("--baseline", "a", "--candidate", "b", "--by", "model", "--model",
               "gpt-4o").exit_code == 2
    assert run("--baseline", "a", "--candidate", "a", "--by", "model").exit_code == 2
    assert run("--baseline", str(b), "--candidate", str(b), "--route", "x").exit_code == 2


def save(store: ClickHouseStore, events: list[dict[str, Any]]) -> None:
    records = [from_inference(InferenceEvent.model_validate(e)) for e in events]
    store.insert_calls([StoredCall(r, Cost(0.001, "prices", "test")) for r in records],
                       T0 + timedelta(hours=2))


def test_stored_prompt_versions_of_a_model_are_compared(
        store: ClickHouseStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.import_module("llmpulse.cli.main"), "_read_store",
                        lambda settings: Borrowed(store))
    v1 = calls("v1", 700, 7, prompt_template_id="answer", prompt_template_version="1")
    v2 = calls("v2", 700, 8, error=0.15, prompt_template_id="answer",
               prompt_template_version="2", model_version="2026-11")
    other = calls("o", 300, 9, error=0.5, prompt_template_id="answer",
                  prompt_template_version="2", route="other")
    save(store, v1 + v2 + other)
    # toxicity scores and feedback of the stored calls
    now = T0 + timedelta(hours=2)
    store.insert_signals([Signal("toxicity", 0.9 if i % 5 == 0 else 0.01, e["request_id"], T0,
                                 "gpt-4o", "openai", "chat", "acme",
                                 label="toxic" if i % 5 == 0 else "ok")
                          for i, e in enumerate(v2[:250])], {}, now)
    store.insert_feedback([FeedbackEvent.model_validate(
        feedback(e["request_id"], feedback_id=f"f-{e['request_id']}", thumbs="up"))
        for e in v1[:150]], now)
    period = ["--from", (T0 - timedelta(hours=1)).isoformat(),
              "--to", (T0 + timedelta(hours=1)).isoformat()]
    result = run("--model", "gpt-4o", "--baseline", "answer@1", "--candidate", "answer@2",
                 "--route", "chat", *period, "--json")
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert out["baseline"] == {"name": "gpt-4o prompt_version answer@1 on route chat",
                               "calls": 700}
    assert out["candidate"]["calls"] == 700
    assert out["rollback"] == ["error_rate", "timeout_rate"]
    by_name = {s["signal"]: s for s in out["signals"]}
    assert by_name["toxicity_rate"]["n_candidate"] == 250
    assert by_name["toxicity_rate"]["candidate"] == pytest.approx(0.2)
    assert by_name["thumbs_down_rate"]["n_baseline"] == 150
    # without the route the other route's failures count too
    every_route = json.loads(run("--model", "gpt-4o", "--baseline", "answer@1", "--candidate",
                                 "answer@2", *period, "--json").stdout)
    assert every_route["candidate"]["calls"] == 1000
    # by model version, and outside the period nothing is there
    result = run("--model", "gpt-4o", "--by", "model_version", "--baseline", "",
                 "--candidate", "2026-11", "--route", "chat", *period)
    assert result.exit_code == 1 and "(700 calls)" in result.stdout
    assert "candidate: gpt-4o model_version 2026-11 on route chat (700 calls)" in result.stdout
    empty = run("--model", "gpt-4o", "--baseline", "answer@1", "--candidate", "answer@2",
                "--from", (T0 + timedelta(days=3)).isoformat(),
                "--to", (T0 + timedelta(days=4)).isoformat())
    assert empty.exit_code == 3 and "(0 calls)" in empty.stdout


def test_two_stored_models_are_compared_without_model(
        store: ClickHouseStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.import_module("llmpulse.cli.main"), "_read_store",
                        lambda settings: Borrowed(store))
    a = calls("a", 500, 1)
    b = [{**e, "gen_ai.request.model": "gpt-4o-mini"} for e in calls("b", 500, 2, slow=1.5)]
    save(store, a + b)
    result = run("--by", "model", "--baseline", "gpt-4o", "--candidate", "gpt-4o-mini",
                 "--from", (T0 - timedelta(hours=1)).isoformat(), "--to",
                 (T0 + timedelta(hours=1)).isoformat(), "--signal", "duration_p50", "--json")
    out = json.loads(result.stdout)
    assert result.exit_code == 1 and out["rollback"] == ["duration_p50"]
    assert out["candidate"]["name"] == "model gpt-4o-mini"

