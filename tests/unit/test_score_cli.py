"""``llmpulse score``: the stream's detectors over a JSONL file, bad lines reported by number."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from llmpulse.cli import cli
from tests.unit.factories import feedback, inference, request, response

CONTEXT = [{"id": "d1", "content": "The Eiffel Tower is 330 metres tall; it opened in 1889."}]


def line(event: dict[str, Any]) -> str:
    return json.dumps(event)


@pytest.fixture
def events(tmp_path: Path) -> Path:
    out = [
        line(inference("ok", **{
            "gen_ai.input.messages": [{"role": "user", "content": "Mail jo@example.com: height?"}],
            "gen_ai.output.messages": [{"role": "assistant",
                                        "content": "The Eiffel Tower is 330 metres tall."}],
            "context_documents": CONTEXT})),
        "{not json",
        line(inference("rude", **{"gen_ai.output.messages": [
            {"role": "assistant", "content": "Shut up, you worthless idiot."}]})),
        line(request("split", context_documents=CONTEXT)),
        line(response("split", **{"gen_ai.output.messages": [
            {"role": "assistant", "content": "It is 500 metres tall and opened in 1925."}]})),
        line(feedback("ok")),
        line({"request_id": "bad", "event_type": "inference"}),
        "",
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(out) + "\n")
    return path


def run(args: list[str], monkeypatch: pytest.MonkeyPatch, *,
        default_toxicity: bool = False) -> Any:
    """``llmpulse ARGS``, with the lexicon for toxicity (no MiniLM to load for each run)
    unless ``default_toxicity``."""
    monkeypatch.setenv("LLMPULSE_GROUNDEDNESS_BACKEND", "hashing")
    if default_toxicity:
        monkeypatch.delenv("LLMPULSE_TOXICITY_BACKEND", raising=False)
    else:
        monkeypatch.setenv("LLMPULSE_TOXICITY_BACKEND", "lexicon")
    return CliRunner().invoke(cli, args)


def test_scores_every_good_line_and_reports_bad_ones_by_number(
        events: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "scores.jsonl"
    result = run(["score", str(events), "-o", str(out), "--quiet"], monkeypatch,
                 default_toxicity=True)
    assert result.exit_code == 1, result.output  # bad lines, the rest scored
    assert f"{events}:2: not_json" in result.output
    assert f"{events}:7: invalid" in result.output
    rows = {r["request_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(rows) == {"ok", "rude", "split"}
    assert rows["ok"]["pii"] == {"email": 1}
    assert rows["ok"]["signals"]["groundedness"] > 0.6
    assert rows["split"]["join_status"] == "joined"
    assert rows["split"]["signals"]["groundedness"] < 0.4
    assert rows["rude"]["signals"]["toxicity"] > 0.5
    rude = {e["gen_ai.evaluation.name"]: e for e in rows["rude"]["evaluations"]}
    assert rude["toxicity"]["gen_ai.evaluation.score.label"] == "toxic"
    assert rude["toxicity"]["scorer"] == "lexicon+minilm@2"  # the offline default
    assert "cost.usd" in rows["ok"]["signals"] and "latency.duration_s" in rows["ok"]["signals"]
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["scored"] == 3 and summary["bad_lines"] == 2
    assert summary["feedback_skipped"] == 1


def test_quality_gates_fail_with_exit_code_3(events: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    out = str(tmp_path / "o.jsonl")
    toxic = run(["score", str(events), "-o", out, "--quiet", "--max-toxicity-rate", "0.1"],
                monkeypatch)
    assert toxic.exit_code == 3 and "gate failed: toxicity rate" in toxic.output
    grounded = run(["score", str(events), "-o", out, "--quiet", "--min-groundedness", "0.9"],
                   monkeypatch)
    assert grounded.exit_code == 3 and "gate failed: groundedness" in grounded.output


PRICES = """
overrides:
  - model: gpt-4o
    provider: openai
    effective_from: 2020-01-01
    input_per_mtok: 1000
    output_per_mtok: 1000
"""


def test_score_prices_calls_with_the_operator_overrides(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 20: `score` runs the worker's cost detector, LLMPULSE_PRICES_FILE included."""
    events = tmp_path / "one.jsonl"
    events.write_text(line(inference("priced")) + "\n")
    out = tmp_path / "scores.jsonl"
    plain = run(["score", str(events), "-o", str(out), "--quiet"], monkeypatch)
    assert plain.exit_code == 0, plain.output
    listed = json.loads(out.read_text())["signals"]["cost.usd"]
    assert 0 < listed < 0.1  # genai-prices' gpt-4o price
    prices = tmp_path / "prices.yml"
    prices.write_text(PRICES)
    monkeypatch.setenv("LLMPULSE_PRICES_FILE", str(prices))
    priced = run(["score", str(events), "-o", str(out), "--quiet"], monkeypatch)
    assert priced.exit_code == 0, priced.output
    row = json.loads(out.read_text())
    assert row["signals"]["cost.usd"] == pytest.approx((1000 + 101) * 1000 / 1e6)


def test_score_refuses_a_prices_file_it_cannot_read(tmp_path: Path) -> None:
    events = tmp_path / "one.jsonl"
    events.write_text(line(inference("priced")) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPULSE_")}
    done = subprocess.run(
        [sys.executable, "-m", "llmpulse", "score", str(events), "-o", str(tmp_path / "o"),
         "--quiet"], env={**env, "LLMPULSE_PRICES_FILE": str(tmp_path / "missing.yml"),
                          "LLMPULSE_GROUNDEDNESS_BACKEND": "hashing"},
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "missing.yml" in done.stderr and "No such file" in done.stderr
    assert "Traceback" not in done.stderr


def test_every_failing_gate_is_reported(events: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    both = run(["score", str(events), "-o", str(tmp_path / "o.jsonl"), "--quiet",
                "--max-toxicity-rate", "0.1", "--min-groundedness", "0.9"], monkeypatch)
    assert both.exit_code == 3
    assert "gate failed: toxicity rate" in both.output
    assert "gate failed: groundedness" in both.output


def test_a_gate_with_nothing_to_judge_fails(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 20: an empty file passed both gates, and a file without RAG answers passed
    --min-groundedness."""
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    out = str(tmp_path / "o.jsonl")
    nothing = run(["score", str(empty), "-o", out, "--quiet", "--max-toxicity-rate", "0.1",
                   "--min-groundedness", "0.5"], monkeypatch)
    assert nothing.exit_code == 3, nothing.output
    assert "no call was scored" in nothing.output
    assert "gate failed: --max-toxicity-rate 0.1: no response was scored" in nothing.output
    assert "gate failed: --min-groundedness 0.5: no RAG answer" in nothing.output
    assert run(["score", str(empty), "-o", out, "--quiet"], monkeypatch).exit_code == 0

    no_rag = tmp_path / "no-rag.jsonl"
    no_rag.write_text(line(inference("plain", **{"gen_ai.output.messages": [
        {"role": "assistant", "content": "Paris is the capital of France."}]})) + "\n")
    ungated = run(["score", str(no_rag), "-o", out, "--quiet", "--max-toxicity-rate", "0.1",
                   "--min-groundedness", "0.5"], monkeypatch)
    assert ungated.exit_code == 3, ungated.output
    assert "gate failed: --min-groundedness 0.5: no RAG answer" in ungated.output
    assert "gate failed: toxicity" not in ungated.output  # 0 toxic: that gate passed
    assert ungated.output.count("gate failed") == 1
