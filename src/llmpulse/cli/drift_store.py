"""``llmpulse drift baseline set`` and ``llmpulse drift report``: drift against the store.

Heavy modules (Evidently, the embedders) are imported inside the commands.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from llmpulse.cli.alerts import _settings, open_store
from llmpulse.cli.times import moment, period


@click.group()
def baseline() -> None:
    """The pinned reference a model's drift is checked against."""


@baseline.command("set")
@click.option("--model", required=True, help="The model as requested (gen_ai.request.model).")
@click.option("--from", "start", required=True, help="Start of the reference (ISO time).")
@click.option("--to", "end", required=True, help="End of the reference (ISO time).")
def baseline_set(model: str, start: str, end: str) -> None:
    """Pin the calls of MODEL between --from and --to as its drift reference."""
    from llmpulse.sinks import drift_rows

    t1, t2 = period(start, end, timedelta(0))  # both are required here
    store = open_store(_settings())
    try:
        calls = store.query("SELECT count() FROM inference_events WHERE request_model = "
                            "{m:String} AND call_time >= {s:DateTime64(6)} AND call_time < "
                            "{e:DateTime64(6)}", {"m": model, "s": t1, "e": t2})[0][0]
        if not calls:
            raise click.ClickException(f"no calls of {model} between {t1} and {t2}")
        drift_rows.set_baseline(store, model, t1, t2, datetime.now(UTC))
    finally:
        store.close()
    click.echo(f"{model}: drift reference pinned to {t1:%Y-%m-%d %H:%M:%S} .. "
               f"{t2:%Y-%m-%d %H:%M:%S} UTC ({calls} calls)")


@click.command("report")
@click.option("--model", required=True, help="The model as requested (gen_ai.request.model).")
@click.option("--from", "start", default=None,
              help="Start of the current period (default: one drift window before --to).")
@click.option("--to", "end", default=None, help="End of the current period (default: now).")
@click.option("--route", default=None,
              help="Only the calls of this route, on both sides (default: every route).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("drift-report.html"), show_default=True)
def report(model: str, start: str | None, end: str | None, route: str | None,
           output: Path) -> None:
    """An HTML report (Evidently) of MODEL's (or one route's) current period against its
    reference, and llmpulse's own verdict as JSON on stdout."""
    from llmpulse.drift import detect_drift
    from llmpulse.metrics import build_metrics
    from llmpulse.streams.drift import ALL, DriftWatch

    settings = _settings()
    t2 = moment(end) if end else datetime.now(UTC)
    t1 = moment(start) if start else t2 - timedelta(seconds=settings.drift_every_s)
    store = open_store(settings)

    async def nowhere(_: Any) -> None:
        return None

    scope = route if route is not None else ALL
    of = f"{model}" if route is None else f"{model} on route {route}"
    try:
        watch = DriftWatch(settings, store, build_metrics(), nowhere)
        ref = watch.reference(model, t1, t2, scope)
        tables = watch.tables(model, t1, t2, scope, ref) if ref is not None else None
    finally:
        store.close()
    if ref is None or tables is None:
        raise click.ClickException(f"{of} has no reference before {t1}: pin one with "
                                   "`llmpulse drift baseline set`")
    reference, current = tables
    if min(reference.n_events, current.n_events) == 0:
        raise click.ClickException(f"no calls of {of} in the reference or in "
                                   f"{t1} .. {t2}")
    verdict = detect_drift(reference, current, watch.policy)
    started = time.perf_counter()
    write_html(reference, current, output)
    click.echo(json.dumps({"model": model, "route": scope, "from": t1.isoformat(),
                           "to": t2.isoformat(), "reference": ref.note, "html": str(output),
                           **verdict.as_dict()}, default=str))
    click.echo(f"wrote {output} in {time.perf_counter() - started:.1f}s", err=True)


def write_html(reference: Any, current: Any, output: Path) -> None:
    """Evidently's data drift report over the descriptor columns of both tables."""
    import warnings

    import pandas as pd

    def frame(table: Any) -> pd.DataFrame:
        return pd.DataFrame({**table.numeric, **table.categorical})

    ref, cur = frame(reference), frame(current)
    empty = [c for c in ref.columns if ref[c].isna().all() or cur[c].isna().all()]
    ref, cur = ref.drop(columns=empty), cur.drop(columns=empty)  # e.g. nothing scored

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from evidently.legacy.metric_preset import DataDriftPreset
        from evidently.legacy.report import Report

        evidently_report = Report(metrics=[DataDriftPreset()])
        evidently_report.run(reference_data=ref, current_data=cur)
        evidently_report.save_html(str(output))
