"""``llmpulse score``: the stream's detectors over a JSONL file, bad lines reported by number."""

from __future__ import annotations

import json
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


def run(args: list[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LLMPULSE_GROUNDEDNESS_BACKEND", "hashing")
    return CliRunner().invoke(cli, args)


def test_scores_every_good_line_and_reports_bad_ones_by_number(
        events: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "scores.jsonl"
    result = run(["score", str(events), "-o", str(out), "--quiet"], monkeypatch)
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
    assert rude["toxicity"]["scorer"] == "lexicon@1"
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
