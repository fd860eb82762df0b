"""Commands for quality scoring: ``llmpulse scorer`` (the stream stage) and
``llmpulse score`` (the same detectors over a file, without Kafka).

Heavy modules are imported inside the commands, so ``llmpulse --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any

import click


@click.command()
@click.option("--ready-file", type=click.Path(path_type=Path), hidden=True)
def scorer(ready_file: Path | None) -> None:
    """Score sampled calls for toxicity and groundedness (its own consumer group on
    llm.scoring; run as many as the backlog needs, on CPU or GPU nodes)."""
    from llmpulse.cli.main import _logging, _settings
    from llmpulse.runner import run_scorer

    settings = _settings()
    _logging(settings.log_level)
    sys.exit(run_scorer(settings, ready_file=ready_file))


@click.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write one JSON line of signals per call (default: stdout).")
@click.option("--max-toxicity-rate", type=click.FloatRange(0, 1), default=None,
              help="Exit 3 if more than this share of responses is toxic (a CI gate).")
@click.option("--min-groundedness", type=click.FloatRange(0, 1), default=None,
              help="Exit 3 if the mean groundedness of RAG answers is below this (a CI gate).")
@click.option("--max-injection-rate", type=click.FloatRange(0, 1), default=None,
              help="Exit 3 if more than this share of user prompts is labelled prompt "
                   "injection (a CI gate).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def score(source: Path, output: Path | None, max_toxicity_rate: float | None,
          min_groundedness: float | None, max_injection_rate: float | None,
          quiet: bool) -> None:
    """Score a JSONL file of events: toxicity, groundedness, PII, cost, latency, lengths,
    prompt injection (prompts and documents), system prompt leaks and insecure output.

    Exit codes: 0 all lines scored; 1 some lines were bad (reported with their line
    numbers, the rest scored); 2 bad settings (e.g. LLMPULSE_PRICES_FILE); 3 a
    --max-toxicity-rate / --min-groundedness / --max-injection-rate gate failed, or had
    nothing to judge (no response scored for toxicity, no RAG answer for groundedness, no
    user prompt checked for injection).
    """
    from llmpulse.cli.main import _settings
    from llmpulse.detectors.cost import CostDetector
    from llmpulse.offline import score_file
    from llmpulse.prices import load_overrides
    from llmpulse.redaction import Redactor
    from llmpulse.scoring.scorer import load_scorer

    settings = _settings()
    # the worker's prices: LLMPULSE_PRICES_FILE overrides win (a bad file is an error, exit 2)
    cost = CostDetector(load_overrides(settings.prices_file) if settings.prices_file else None)
    quality = load_scorer(settings)
    click.echo(f"scorers: {quality.describe()}", err=True)
    total = _count_lines(source)
    with source.open("rb") as inp, _open_out(output) as out, click.progressbar(
            length=total, label="scoring", file=sys.stderr,
            hidden=quiet or not sys.stderr.isatty()) as bar:
        report = score_file(inp, out, quality, Redactor.from_settings(settings),
                            progress=bar.update, cost=cost)
    for number, why in report.bad[:50]:
        click.echo(f"{source}:{number}: {why}", err=True)
    if len(report.bad) > 50:
        click.echo(f"... and {len(report.bad) - 50} more bad lines", err=True)
    summary = report.summary()
    click.echo(json.dumps(summary), err=True)
    if not report.scored:
        click.echo(f"{source}: no call was scored", err=True)
    sys.exit(_exit_code(summary, max_toxicity_rate, min_groundedness, max_injection_rate))


def _exit_code(summary: dict[str, Any], max_toxicity_rate: float | None,
               min_groundedness: float | None, max_injection_rate: float | None = None
               ) -> int:
    """3 if a gate failed (every failed gate is printed; a gate with nothing to judge
    fails), else 1 if lines were bad, else 0."""
    tox, grounded = summary["toxicity_rate"], summary["groundedness_mean"]
    failed = []
    if max_toxicity_rate is not None:
        if tox is None:
            failed.append(f"--max-toxicity-rate {max_toxicity_rate}: no response was scored "
                          "for toxicity (nothing to judge)")
        elif tox > max_toxicity_rate:
            failed.append(f"toxicity rate {tox:.3f} > {max_toxicity_rate}")
    if min_groundedness is not None:
        if grounded is None:
            failed.append(f"--min-groundedness {min_groundedness}: no RAG answer (a response "
                          "with context documents) was scored for groundedness (nothing to "
                          "judge)")
        elif grounded < min_groundedness:
            failed.append(f"groundedness {grounded:.3f} < {min_groundedness}")
    injected = summary["injection_rate"]
    if max_injection_rate is not None:
        if injected is None:
            failed.append(f"--max-injection-rate {max_injection_rate}: no user prompt was "
                          "checked for prompt injection (nothing to judge)")
        elif injected > max_injection_rate:
            failed.append(f"injection rate {injected:.3f} > {max_injection_rate}")
    for why in failed:
        click.echo(f"gate failed: {why}", err=True)
    if failed:
        return 3
    return 1 if summary["bad_lines"] else 0


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


def _open_out(output: Path | None) -> IO[bytes]:
    if output is None or str(output) == "-":
        return open(sys.stdout.fileno(), "wb", closefd=False)
    return output.open("wb")
