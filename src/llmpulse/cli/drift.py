"""``llmpulse drift``: compare the calls of a current period with a reference.

``drift check`` runs the stream's drift detectors over two JSONL files of events (the format
``llmpulse score`` reads), without Kafka: a CI gate before a model or prompt switch.
Heavy modules (Evidently, the embedders) are imported inside the command.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from llmpulse.detectors.groundedness import Embedder
    from llmpulse.drift import DriftPolicy, Scores
    from llmpulse.records import InferenceRecord

#: Exit codes of ``drift check``.
NO_DRIFT, DRIFT, BAD_INPUT = 0, 1, 2
_FILE = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)


class BadInput(click.ClickException):
    exit_code = BAD_INPUT


@click.group()
def drift() -> None:
    """Drift detection: is current traffic distributed like the reference?"""


@dataclass
class _Side:
    path: Path
    records: list[InferenceRecord]
    lines: int
    bad: list[tuple[int, str]]
    events: int

    def summary(self) -> dict[str, Any]:
        return {"path": str(self.path), "lines": self.lines, "bad_lines": len(self.bad),
                "events": self.events, "events_used": len(self.records)}


def _read(path: Path, model: str | None, policy: DriftPolicy) -> _Side:
    """The file's calls (of ``model``), a seeded uniform sample of at most ``max_rows``."""
    from llmpulse.drift.sampling import Reservoir
    from llmpulse.offline import Report, read_records

    report = Report()
    keep: Reservoir[InferenceRecord] = Reservoir(policy.max_rows, policy.seed)
    try:
        with path.open("rb") as source:
            for record in read_records(iter(source), report):
                if model is None or model in (record.model, record.request_model):
                    keep.add(record)
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror or exc}") from None
    for number, why in report.bad[:50]:
        click.echo(f"{path}:{number}: {why}", err=True)
    if len(report.bad) > 50:
        click.echo(f"{path}: ... and {len(report.bad) - 50} more bad lines", err=True)
    return _Side(path, keep.items, report.lines, report.bad, keep.seen)


def _embedder(kind: str) -> Embedder | None:
    if kind == "none":
        return None
    from llmpulse.errors import ConfigError
    from llmpulse.models.embedder import load_embedder

    try:
        return load_embedder(kind)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--embedder") from None


def _quality(records: list[InferenceRecord]) -> Scores:
    """Toxicity and groundedness of the calls, by the configured scorers."""
    from llmpulse.cli.main import _settings
    from llmpulse.scoring.scorer import load_scorer

    scores: dict[str, dict[str, float]] = {}
    for signal in load_scorer(_settings()).signals(records, time.time()):
        if signal.name in ("toxicity", "groundedness"):
            scores.setdefault(signal.request_id, {})[signal.name] = signal.value
    return scores


def _policy(options: dict[str, Any]) -> DriftPolicy:
    from llmpulse.drift import DriftPolicy

    def names(value: str | None) -> tuple[str, ...] | None:
        return tuple(n.strip() for n in value.split(",") if n.strip()) if value else None

    keys = names(options["key_features"])
    try:
        return DriftPolicy(
            min_samples=options["min_samples"], alpha=options["alpha"],
            drift_share=options["drift_share"], features=names(options["features"]),
            key_features=frozenset(keys) if keys is not None else None,
            seed=options["seed"])
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


@drift.command()
@click.option("--reference", required=True, type=_FILE,
              help="JSONL events of the reference period (the validated model or prompt).")
@click.option("--current", required=True, type=_FILE,
              help="JSONL events of the period to check.")
@click.option("--model", default=None,
              help="Only calls of this model (the response model, or the requested one).")
@click.option("--features", default=None,
              help="Comma-separated features to test (default: all): prompt_chars, "
                   "response_chars, input_tokens, output_tokens, duration_s, ttft_s, toxicity, "
                   "groundedness, finish_reason, prompt_script, prompt_embedding.")
@click.option("--key-features", default=None,
              help="Features whose drift alone is drift (default: all).")
@click.option("--drift-share", type=click.FloatRange(0, 1, min_open=True), default=0.5,
              show_default=True, help="Drift when this share of the tested features drifted.")
@click.option("--embedder", type=click.Choice(["auto", "minilm", "hashing", "none"]),
              default="auto", show_default=True,
              help="Prompt embeddings: all-MiniLM-L6-v2 when installed (auto), the hashing "
                   "fallback, or none.")
@click.option("--quality", is_flag=True,
              help="Also score toxicity and groundedness (the configured scorers) and test "
                   "them.")
@click.option("--min-samples", type=click.IntRange(min=2), default=100, show_default=True,
              help="Fewer calls (or values of a feature) on a side: not tested.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=1e-4, show_default=True,
              help="False-alarm rate allowed per check, shared by the features.")
@click.option("--seed", type=int, default=0, show_default=True, help="Subsampling seed.")
def check(reference: Path, current: Path, model: str | None, embedder: str, quality: bool,
          **options: Any) -> None:
    """Compare two JSONL files of events; print per-feature scores and the verdict as JSON.

    Exit codes: 0 no drift; 1 drift; 2 bad input (a file missing or unreadable, or too few
    calls to tell -- explained on stderr).  Bad lines are reported with their line numbers
    and skipped.
    """
    from llmpulse.drift import build_table, detect_drift

    policy = _policy(options)
    sides = [_read(path, model, policy) for path in (reference, current)]
    embed = _embedder(embedder)
    tables = [build_table(side.records, scores=_quality(side.records) if quality else None,
                          embedder=embed, max_embedding_rows=policy.max_embedding_rows,
                          seed=policy.seed) for side in sides]
    report = detect_drift(tables[0], tables[1], policy)
    out = report.as_dict() | {"reference": sides[0].summary(), "current": sides[1].summary(),
                              "model": model}
    click.echo(json.dumps(out, indent=2))
    click.echo(f"{report.status}: {report.reason}", err=True)
    if report.status == "insufficient_data":
        which = f" of model {model!r}" if model else ""
        click.echo(f"too few calls{which} to check drift: {report.reason}", err=True)
        sys.exit(BAD_INPUT)
    sys.exit(DRIFT if report.drifted else NO_DRIFT)

