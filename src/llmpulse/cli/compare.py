"""``llmpulse compare``: a candidate release against its baseline, signal by signal.

Heavy modules (numpy, the scorers, the store client) are imported inside the command.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from llmpulse.cli.times import period
from llmpulse.release.signals import SIGNALS

#: Exit code of each overall verdict (2 is bad input).
EXIT = {"promote": 0, "rollback": 1, "hold": 3, "insufficient_data": 3}
BY_CHOICES = ("prompt_version", "model_version", "model")
DEFAULT_PERIOD = timedelta(hours=24)


@click.command()
@click.option("--baseline", required=True,
              help="The release compared against: a JSONL file of events, or with --model "
                   "/ --by a stored prompt version, model version or model.")
@click.option("--candidate", required=True, help="The new release, in the same form.")
@click.option("--model", default=None,
              help="Compare stored calls of this model (as requested); --baseline and "
                   "--candidate are then its versions (see --by).")
@click.option("--by", type=click.Choice(BY_CHOICES), default=None,
              help="What the stored versions are: prompt_version (template@version, as "
                   "grouped in the windows; the default with --model), model_version, or "
                   "model (two models, no --model needed).")
@click.option("--from", "start", default=None,
              help="Stored calls from this ISO time (default: 24 hours before --to).  "
                   "Watching a canary, give its start, so every rerun sees all its calls.")
@click.option("--to", "end", default=None, help="Stored calls before this ISO time "
                                                "(default: now).")
@click.option("--route", default=None, help="Only stored calls of this route, on both sides.")
@click.option("--signal", "signals", multiple=True,
              type=click.Choice([s.name for s in SIGNALS]), metavar="SIGNAL",
              help="Compare only this signal, e.g. error_rate or duration_p95 (repeatable; "
                   "default: all, named in the first column of the table).")
@click.option("--threshold", "thresholds", multiple=True, metavar="SIGNAL=VALUE",
              help="The practical threshold of a signal (repeatable): how much worse counts "
                   "as a regression, in the signal's units for rates and scores, as a share "
                   "of the baseline for latency, tokens and cost (e.g. duration_p95=0.2).")
@click.option("--alpha", type=click.FloatRange(0.001, 0.5), default=0.05, show_default=True,
              help="Chance of a false alarm over all signals, however often it is rerun.")
@click.option("--plan", type=click.IntRange(min=10), default=1000, show_default=True,
              help="Calls per side at which the intervals are tightest (the expected size).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def compare(baseline: str, candidate: str, model: str | None, by: str | None,
            start: str | None, end: str | None, route: str | None, signals: tuple[str, ...],
            thresholds: tuple[str, ...], alpha: float, plan: int, as_json: bool) -> None:
    """Compare a candidate release with its baseline: every signal (error, timeout, length
    and content-filter rates, p50/p95 latency, TTFT, TPOT, tokens and cost per call,
    toxicity, groundedness, feedback) with an interval that stays valid however often the
    comparison is repeated while a canary runs, and a verdict: promote, hold, rollback or
    insufficient_data.

    Two JSONL files of events (what `llmpulse score` reads; the same detectors score
    them, feedback lines join their calls), or with --model / --by two versions of stored
    calls in the same period.

    Exit codes: 0 promote (no regression); 1 rollback (a regression); 2 bad input (bad
    options, unreadable lines); 3 not enough data to decide (insufficient_data, or hold:
    keep the canary running).
    """
    from llmpulse.release.compare import Policy
    from llmpulse.release.compare import compare as run_compare
    from llmpulse.release.signals import pick

    specs = pick(signals or None, _thresholds(thresholds))
    stored = model is not None or by is not None
    if not stored and (start or end or route):
        raise click.UsageError("--from, --to and --route select stored calls: give --model "
                               "or --by too")
    if stored:
        sides = _stored_sides(baseline, candidate, model, by or "prompt_version", start, end,
                              route)
    else:
        sides = _file_sides(baseline, candidate)
    (base_name, base), (cand_name, cand) = sides
    result = run_compare(base.observations(), cand.observations(), specs,
                         Policy(alpha=alpha, n_plan=plan))
    if as_json:
        click.echo(json.dumps({"baseline": {"name": base_name, "calls": base.calls},
                               "candidate": {"name": cand_name, "calls": cand.calls},
                               **result.as_dict()}, allow_nan=False))
    else:
        _print_table(result, base_name, base.calls, cand_name, cand.calls)
    sys.exit(EXIT[result.verdict])


def _thresholds(pairs: tuple[str, ...]) -> dict[str, float]:
    known = {s.name for s in SIGNALS}
    out = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if name not in known or number < 0:
            raise click.BadParameter(f"{pair!r}: expected SIGNAL=VALUE with a known signal "
                                     "and a value >= 0", param_hint="--threshold")
        out[name] = number
    return out


def _stored_sides(baseline: str, candidate: str, model: str | None, by: str,
                  start: str | None, end: str | None, route: str | None) -> list[Any]:
    from llmpulse.cli.main import _read_store, _settings
    from llmpulse.release.from_store import Selection, read_side, scorer_choice

    if by != "model" and model is None:
        raise click.UsageError(f"--by {by} compares versions of one model: give --model")
    if by == "model" and model is not None:
        raise click.UsageError("--by model compares the models --baseline and --candidate: "
                               "leave out --model")
    if baseline == candidate:
        raise click.UsageError("--baseline and --candidate are the same")
    t1, t2 = period(start, end, DEFAULT_PERIOD)
    store = _read_store(_settings())
    try:
        selections = [Selection(by, value, t1, t2, model, route)  # type: ignore[arg-type]
                      for value in (baseline, candidate)]
        scorers = scorer_choice(store, selections)
        sides = [(s.describe(), read_side(store, s, scorers)) for s in selections]
    finally:
        store.close()
    click.echo(f"stored calls from {t1:%Y-%m-%d %H:%M:%S} to {t2:%Y-%m-%d %H:%M:%S} UTC",
               err=True)
    if scorers.versions or scorers.left_out:
        click.echo(f"quality scores: {scorers.describe() or 'none comparable'}", err=True)
    return sides


def _file_sides(baseline: str, candidate: str) -> list[Any]:
    from llmpulse.cli.main import _settings
    from llmpulse.detectors.cost import CostDetector
    from llmpulse.prices import load_overrides
    from llmpulse.redaction import Redactor
    from llmpulse.release.from_file import read_side
    from llmpulse.scoring.scorer import load_scorer

    paths = [Path(baseline), Path(candidate)]
    for option, path in zip(("--baseline", "--candidate"), paths, strict=True):
        if not path.is_file():
            raise click.BadParameter(f"no file {path} (to compare stored versions, give "
                                     "--model or --by)", param_hint=option)
    settings = _settings()
    cost = CostDetector(load_overrides(settings.prices_file) if settings.prices_file else None)
    scorer = load_scorer(settings)
    redactor = Redactor.from_settings(settings)
    click.echo(f"scorers: {scorer.describe()}", err=True)
    sides, bad = [], 0
    for path in paths:
        with path.open("rb") as source:
            side = read_side(source, scorer, redactor, cost)
        for number, why in side.report.bad[:20]:
            click.echo(f"{path}:{number}: {why}", err=True)
        if len(side.report.bad) > 20:
            click.echo(f"... and {len(side.report.bad) - 20} more bad lines in {path}",
                       err=True)
        if side.feedback_unmatched:
            click.echo(f"{path}: {side.feedback_unmatched} feedback events on calls not in "
                       "the file (left out)", err=True)
        bad += len(side.report.bad)
        sides.append((str(path), side.sample))
    if bad:
        click.echo(f"{bad} bad lines: fix them to compare", err=True)
        sys.exit(2)
    return sides


def _print_table(result: Any, base_name: str, base_calls: int, cand_name: str,
                 cand_calls: int) -> None:
    from llmpulse.cli.main import format_rows
    from llmpulse.release.report import COLUMNS, summary_lines, table_rows

    click.echo(f"baseline:  {base_name} ({base_calls} calls)")
    click.echo(f"candidate: {cand_name} ({cand_calls} calls)")
    for line in format_rows(COLUMNS, [tuple(row) for row in table_rows(result)],
                            "table")[:-1]:
        click.echo(line)
    for line in summary_lines(result):
        click.echo(line)
