"""``llmpulse report``: an HTML page with plots of the stored calls of a period.

The rendering lives in :mod:`llmpulse.report`; it is imported inside the command.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from llmpulse.cli.alerts import _settings, open_store
from llmpulse.cli.times import period

DEFAULT_PERIOD = timedelta(hours=24)


@click.command("report")
@click.option("--from", "start", default=None,
              help="Calls from this ISO time, e.g. 2026-12-01T09:00:00Z (default: 24 hours "
                   "before --to).")
@click.option("--to", "end", default=None, help="Calls before this ISO time (default: now).")
@click.option("--model", default=None,
              help="Only this model (as requested, gen_ai.request.model); default: all.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("report.html"), show_default=True, help="The HTML file to write.")
def report(start: str | None, end: str | None, model: str | None, output: Path) -> None:
    """Write one self-contained HTML page with plots of the stored calls of a period.

    Calls and errors over time, latency p50/p95 per model, cost per tenant and model,
    toxicity, groundedness and feedback per prompt version, drift checks, a timeline of
    alerts, retraining triggers and release verdicts, and the worst calls (slowest,
    costliest, least grounded, most toxic) with their request ids.  The page fetches
    nothing (charts are inline SVG) and can be mailed or archived as is.  Prints the
    file's path.  With the embedded store, stop the worker first or use `store serve`.
    """
    from llmpulse.report import Period, write

    t1, t2 = period(start, end, DEFAULT_PERIOD)
    store = open_store(_settings())
    try:
        path = write(store, Period(t1, t2, model), output)
    finally:
        store.close()
    click.echo(f"report of {t1:%Y-%m-%d %H:%M:%S} to {t2:%Y-%m-%d %H:%M:%S} UTC"
               + (f" for {model}" if model else ""), err=True)
    click.echo(str(path))
