"""Command line: ``llmpulse demo | broker | worker | scorer | score | otlp | simulate | schema |
sql | dlq | rules | alerts | budgets | models | drift | retrain | compare | releases | report |
dashboards | topics | store | erase | audit | config | metrics | commands`` (``llmpulse commands``
lists them all, generated from this tree).

Heavy modules are imported inside the commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import faulthandler
import json
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from llmpulse.cli.alerts import alerts, budgets, rules
from llmpulse.cli.audit import audit
from llmpulse.cli.compare import compare
from llmpulse.cli.dashboards import dashboards
from llmpulse.cli.drift import drift
from llmpulse.cli.drift_store import baseline, report
from llmpulse.cli.erase import erase
from llmpulse.cli.models import models
from llmpulse.cli.releases import releases
from llmpulse.cli.report import report as report_command
from llmpulse.cli.retrain import retrain
from llmpulse.cli.score import score, scorer
from llmpulse.cli.store import store
from llmpulse.cli.topics import topics
from llmpulse.errors import ConfigError, LlmpulseError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from llmpulse.dlq import Unreplayable


def _settings(**overrides: Any) -> Any:
    from llmpulse.config import load_settings

    return load_settings(**overrides)


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("aiokafka", "faust", "mode", "kafka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(
            level.upper())))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="llmpulse")
def cli() -> None:
    """llmpulse: streaming monitoring for LLM applications.

    Services publish LLM requests, responses and feedback to Kafka; the worker
    turns them into latency, token, cost, error and feedback signals in
    ClickHouse and Prometheus, windows them per model, route, tenant and prompt
    version, checks drift, fires alerts and publishes retraining triggers; the
    scorer adds toxicity and groundedness.  Start with `llmpulse demo`.
    Settings come from LLMPULSE_* environment variables (and the YAML file named
    by LLMPULSE_CONFIG): `llmpulse config --markdown` lists them all.
    """


@cli.command()
@click.option("--duration", type=click.FloatRange(min=1), default=30.0, show_default=True,
              help="Seconds of simulated traffic.")
@click.option("--rate", type=click.FloatRange(min=1), default=200.0, show_default=True,
              help="Simulated LLM calls per second.")
@click.option("--seed", type=int, default=None,
              help="Seed of the simulated traffic (default: a new one each run).")
def demo(duration: float, rate: float, seed: int | None) -> None:
    """Run everything locally: embedded broker, worker, store and a traffic simulator.

    With LLMPULSE_BROKER set, on that broker instead, on topics and a consumer group of
    its own (printed, with the settings to reach them afterwards).
    """
    from llmpulse.demo import run_demo
    from llmpulse.preflight import check, describe

    settings = _settings()
    problems = check(settings).problems  # before anything starts, as the services would
    if problems:
        raise ConfigError(describe(problems))
    _logging("warning")
    sys.exit(run_demo(settings, duration=duration, rate=rate, seed=_seed(seed)))


def _seed(seed: int | None) -> int:
    """A given seed, or a fresh one (so repeated runs do not reuse request ids)."""
    if seed is not None:
        return seed
    import secrets

    fresh = secrets.randbelow(1_000_000)
    click.echo(f"seed {fresh} (repeat this traffic with --seed {fresh})", err=True)
    return fresh


@cli.command()
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 to listen on (0: a free one).")
@click.option("--log", "log_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Append the broker's own output to this file.")
@click.option("--no-topics", is_flag=True,
              help="Do not create llmpulse's topics at start (by default they are created "
                   "with LLMPULSE_TOPIC_PREFIX and LLMPULSE_PARTITIONS, so the SDK can send "
                   "before a worker runs).")
def broker(port: int, log_path: Path | None, no_topics: bool) -> None:
    """Run the embedded Kafka-protocol broker alone, in memory, until Ctrl-C.

    Prints `export LLMPULSE_BROKER=127.0.0.1:PORT` on stdout: point the SDK, `worker`,
    `scorer` and `simulate` at that address.  Everything it holds is lost when it
    stops (restart the worker too then).  For trying llmpulse out, not for production.
    """
    import signal
    import threading

    from llmpulse.embedded_broker import EmbeddedBroker, log_tail
    from llmpulse.topics import ensure_llmpulse_topics

    settings = _settings()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # also when started in the background
        signal.signal(signum, lambda signum, frame: stop.set())
    embedded = EmbeddedBroker(log_path=log_path, port=port or None)
    embedded.start()
    try:
        address = embedded.bootstrap
        if not no_topics:
            ensure_llmpulse_topics(settings.model_copy(update={"broker": address}))
        click.echo(f"export LLMPULSE_BROKER={address}")
        topics = ("" if no_topics else f"; topics {settings.topic_prefix}* created with "
                  f"{settings.partitions} partitions")
        click.echo(f"llmpulse broker: listening on {address}, in memory{topics}; "
                   "Ctrl-C stops it", err=True)
        while embedded.running and not stop.wait(0.5):
            pass
        if not stop.is_set():
            code = embedded.proc.returncode if embedded.proc is not None else None
            click.echo(f"llmpulse broker: the broker exited with status {code}\n"
                       + log_tail(log_path), err=True)
            sys.exit(1)
        click.echo("llmpulse broker: stopped", err=True)
    finally:
        embedded.stop()


@cli.command()
@click.option("--ready-file", type=click.Path(path_type=Path), hidden=True)
def worker(ready_file: Path | None) -> None:
    """Consume the input topics and write signals (needs LLMPULSE_BROKER).

    With LLMPULSE_WORKERS=N (N > 1) it starts and supervises N worker processes in the
    consumer group; with chdb://PATH also a store server for PATH that they share.
    """
    from llmpulse.runner import run_worker

    settings = _settings()
    _logging(settings.log_level)
    if settings.workers > 1:
        from llmpulse.supervisor import run_fleet

        sys.exit(run_fleet(settings, ready_file=ready_file))
    sys.exit(run_worker(settings, ready_file=ready_file))


@cli.command()
def otlp() -> None:
    """Receive OpenTelemetry GenAI spans over OTLP/HTTP and publish them to Kafka.

    Serves POST /v1/traces (protobuf or JSON, gzip or not) on LLMPULSE_OTLP_HOST:PORT
    (127.0.0.1:4318 by default) and publishes each batch holding GenAI spans to
    LLMPULSE_OTLP_TOPIC, answering 200 once the broker has it (503 with Retry-After while
    it is unavailable, 413 above LLMPULSE_OTLP_MAX_BYTES, 400/415 for what is not OTLP).
    The worker, with the same LLMPULSE_OTLP_TOPIC, turns the spans into calls.  With
    LLMPULSE_OTLP_TOKENS (or _FILE) a bearer token is required (401 without); a token
    pinned to a tenant forces the tenant of its spans.  LLMPULSE_OTLP_TLS_CERT_FILE and
    _KEY_FILE serve HTTPS; LLMPULSE_OTLP_CLIENT_CA_FILE also requires a client certificate
    it signed (mutual TLS).  Runs until Ctrl-C or SIGTERM.
    """
    from llmpulse.otel.serve import run_receiver

    settings = _settings()
    _logging(settings.log_level)
    sys.exit(run_receiver(settings, lambda line: click.echo(line, err=True)))


@cli.command()
@click.option("--rate", type=click.FloatRange(min=0.1), default=200.0, show_default=True,
              help="LLM calls per second.")
@click.option("--duration", type=click.FloatRange(min=0), default=None,
              help="Seconds to run (default: until --count or Ctrl-C).")
@click.option("--count", type=click.IntRange(min=1), default=None, help="Calls to send.")
@click.option("--malformed-ratio", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of deliberately invalid events (they go to the DLQ).")
@click.option("--seed", type=int, default=None,
              help="Seed: the same seed sends the same request ids (default: a new one).")
def simulate(rate: float, duration: float | None, count: int | None, malformed_ratio: float,
             seed: int | None) -> None:
    """Produce realistic LLM traffic (with incidents) to LLMPULSE_BROKER.

    Progress goes to stderr: on a terminal one line updated every second, otherwise a
    line every 10 s.  What was sent is printed as JSON on stdout at the end.
    """
    from llmpulse.demo import run_simulation
    from llmpulse.progress import ProgressLine

    settings = _settings()
    _logging(settings.log_level)
    line = ProgressLine()
    planned = f" of {count:,}" if count is not None else ""
    until = f" of {duration:.0f}s" if duration is not None else ""

    def progress(sent: Any, elapsed: float) -> None:
        incidents = ", ".join(sorted(sent.incidents)) or "none yet"
        line.update(f"simulate: {elapsed:5.0f}s{until}  {sent.calls:,}{planned} calls sent "
                    f"({sent.calls / max(elapsed, 1e-9):.0f}/s)  errors {sent.errors:,}  "
                    f"malformed {sent.malformed:,}  incidents: {incidents}")

    try:
        stats = run_simulation(settings, rate=rate, duration=duration, count=count,
                               malformed_ratio=malformed_ratio, seed=_seed(seed),
                               progress=progress)
    finally:
        line.close()
    click.echo(json.dumps(stats, indent=2, default=str))


@cli.command()
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Write to a file instead of stdout.")
def schema(output: Path | None) -> None:
    """Print the JSON Schema of every event type (generated from the code)."""
    from llmpulse.schema import json_schema

    text = json.dumps(json_schema(), indent=2, sort_keys=True)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")


@cli.command()
@click.option("--markdown", is_flag=True, help="A Markdown table of every setting.")
def config(markdown: bool) -> None:
    """Show the effective settings and check them, or document them all.

    Besides the values, the check reads what they name: the rules file (with the
    pane and the channels' secrets), the prices file, the toxicity and NLI model
    folders, the installed backends.  Every problem is listed (on stderr) and the
    exit code is 2 if there is any.  Broker and store are not contacted.
    """
    from llmpulse.config import ENV_PREFIX, Settings, check_settings, markdown_table, redacted_url
    from llmpulse.preflight import check, describe

    if markdown:
        click.echo(markdown_table())
        return
    settings, problems = check_settings()
    # a value that failed validation is shown as such, not as the default checked instead
    invalid = {line.split(":", 1)[0] for line in problems}
    if settings is not None:
        for name in Settings.model_fields:
            env_name = f"{ENV_PREFIX}{name.upper()}"
            value = getattr(settings, name)
            if env_name in invalid:
                value = "(invalid: see below)"
            elif name == "clickhouse_url":
                value = redacted_url(value)
            click.echo(f"{env_name}={value}")
        report = check(settings)
        problems += report.problems
        if not problems:
            click.echo("checked: " + "; ".join(report.checked), err=True)
    if problems:
        raise ConfigError(describe(problems))


@cli.command()
@click.option("--markdown", is_flag=True, help="A Markdown table (as in the README).")
def metrics(markdown: bool) -> None:
    """List every Prometheus metric: name, type, labels and the process exporting it."""
    from llmpulse.metrics import SPECS, markdown_table

    if markdown:
        click.echo(markdown_table())
        return
    for spec in SPECS:
        by = ",".join(sorted(spec.processes))
        click.echo(f"{spec.exposed_name} {spec.kind} {{{','.join(spec.labels)}}} {by}")


@cli.command()
@click.option("--markdown", is_flag=True,
              help="The full reference in Markdown (docs/commands.md).")
@click.option("--summary", is_flag=True,
              help="With --markdown: the one-line-per-command table of README.md.")
def commands(markdown: bool, summary: bool) -> None:
    """List every command, with its arguments, options, defaults and help.

    Generated from the command line itself, so it is never out of date.
    """
    from llmpulse.cli.reference import plain, reference_markdown, summary_markdown

    if summary and not markdown:
        raise click.UsageError("--summary goes with --markdown")
    if not markdown:
        click.echo(plain(cli))
    else:
        click.echo((summary_markdown(cli) if summary else reference_markdown(cli)).rstrip())


@cli.command()
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "tsv", "jsonl", "arrays"]),
              default="table", show_default=True,
              help="table: aligned columns under a header; tsv: a header line, then "
                   "tab-separated rows; jsonl: one JSON object per row, keyed by column; "
                   "arrays: one JSON array per row, no header (for scripts).")
@click.option("--json", "as_json", is_flag=True, help="The same as --format jsonl.")
def sql(query: str, fmt: str, as_json: bool) -> None:
    """Run a read query on the store and print the rows with their column names.

    With the embedded store (chdb has one process per path), stop the worker first, or
    share the store with `llmpulse store serve` and query it while the worker runs.
    """
    from llmpulse.errors import StoreError

    store = _read_store(_settings())
    try:
        columns, rows = store.query_columns(query)
    except Exception as exc:
        raise StoreError(f"query failed: {str(exc).strip().splitlines()[0]}") from None
    finally:
        store.close()
    for line in format_rows(columns, rows, "jsonl" if as_json else fmt):
        click.echo(line)


def _read_store(settings: Any) -> Any:
    """The configured store as it is (no migration: a read must not change it)."""
    from llmpulse.cli.alerts import require_store
    from llmpulse.sinks.clickhouse import ClickHouseStore, connect, server_options

    require_store(settings)
    return ClickHouseStore(connect(settings.clickhouse_url, server_options(settings)),
                           settings.clickhouse_url)


def format_rows(columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> list[str]:
    """The lines `llmpulse sql` prints for ``fmt`` (see its --format)."""
    if fmt == "arrays":
        return [json.dumps(list(row), default=str) for row in rows]
    if fmt == "jsonl":
        return [json.dumps(dict(zip(columns, row, strict=True)), default=str) for row in rows]
    cells = [[_cell(value, exact=fmt == "tsv") for value in row] for row in rows]
    if fmt == "tsv":
        return ["\t".join(columns)] + ["\t".join(c.replace("\t", " ").replace("\n", " ")
                                                 for c in row) for row in cells]
    widths = [max([len(name)] + [len(row[i]) for row in cells]) for i, name in enumerate(columns)]
    numeric = [bool(rows) and all(isinstance(row[i], int | float) or row[i] is None
                                  for row in rows) for i in range(len(columns))]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric, strict=True)).rstrip()

    out = [line(columns), line(["-" * w for w in widths])]
    out += [line(row) for row in cells]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return out


def _cell(value: Any, exact: bool) -> str:
    """A value as text on one line; floats to 6 significant digits unless ``exact``."""
    if value is None:
        return "NULL"
    if isinstance(value, float) and not exact:
        return f"{value:.6g}"
    return " ".join(str(value).splitlines())


@cli.group()
def dlq() -> None:
    """Inspect and replay the dead-letter topic."""


@dlq.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Print at most this many, oldest first.")
def dlq_list(limit: int) -> None:
    """Print dead letters (reason, source, original value) as JSON lines.

    The rest of the topic is still read, to say on stderr how many were left out.
    """
    from llmpulse.dlq import read_dead_letters

    settings = _settings()
    shown = more = 0
    for letter in read_dead_letters(settings):
        if shown < limit:
            click.echo(json.dumps(letter))
            shown += 1
            continue
        more += 1
        if more >= DLQ_COUNT_MAX:
            break
    topic = settings.topic("dlq")
    if more:
        many = f"at least {more}" if more >= DLQ_COUNT_MAX else str(more)
        click.echo(f"... {many} more dead letters not shown ({shown + more}"
                   f"{'+' if more >= DLQ_COUNT_MAX else ''} in {topic}); "
                   f"--limit {shown + more} lists them all", err=True)
    elif not shown:
        click.echo(f"no dead letters in {topic}", err=True)


def _report_unreplayable(letters: Sequence[Unreplayable]) -> None:
    """Name the redacted letters a replay passed over (at most UNREPLAYABLE_SHOWN)."""
    if not letters:
        return
    click.echo(f"{len(letters)} dead letters hold a redacted copy "
               "(LLMPULSE_DLQ_PAYLOAD=redacted when they were written) and cannot be "
               "replayed; the producer must send them again:", err=True)
    for letter in letters[:UNREPLAYABLE_SHOWN]:
        click.echo(f"  partition {letter.partition} offset {letter.offset}: {letter.reason} "
                   f"(from {letter.source_topic})", err=True)
    if len(letters) > UNREPLAYABLE_SHOWN:
        click.echo(f"  ... and {len(letters) - UNREPLAYABLE_SHOWN} more", err=True)


#: Redacted letters `dlq replay` names one by one.
UNREPLAYABLE_SHOWN = 20

#: Dead letters `dlq list` counts past its --limit before it stops counting.
DLQ_COUNT_MAX = 1_000_000


@dlq.command("replay")
@click.option("--reason", default=None, help="Only letters with this reason.")
@click.option("--limit", type=click.IntRange(min=1), default=None)
def dlq_replay(reason: str | None, limit: int | None) -> None:
    """Send dead letters not replayed yet back to their source topics (after the
    producer is fixed); --limit: at most that many."""
    from llmpulse.dlq import replay_dead_letters

    settings = _settings()
    done = replay_dead_letters(settings, reason=reason, limit=limit)
    earlier = (f" ({done.skipped} replayed earlier with their --reason, skipped)"
               if done.skipped else "")
    _report_unreplayable(done.unreplayable)
    if not done.sent:
        with_reason = f" with reason {reason}" if reason else ""
        click.echo(f"nothing to replay: no dead letter{with_reason} left that was not "
                   f"replayed already{earlier}")
        return
    click.echo(f"replayed {done.sent} dead letters{earlier}")


cli.add_command(rules)
cli.add_command(alerts)
cli.add_command(budgets)
cli.add_command(scorer)
cli.add_command(score)
cli.add_command(models)
drift.add_command(baseline)
drift.add_command(report)
cli.add_command(drift)
cli.add_command(retrain)
cli.add_command(releases)
cli.add_command(dashboards)
cli.add_command(topics)
cli.add_command(store)
cli.add_command(compare)
cli.add_command(report_command)
cli.add_command(erase)
cli.add_command(audit)


def enable_stack_dumps() -> None:
    """``kill -USR1 <pid>`` prints every thread's stack to stderr (the process goes on):
    what a stuck worker is waiting for, without a debugger."""
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, all_threads=True)


def interruptible() -> None:
    """SIGINT raises KeyboardInterrupt even when the parent ignored it.

    A non-interactive shell starts `cmd &` with SIGINT ignored, and Python then keeps it
    ignored: a worker started that way would ignore `kill -INT` while it starts up
    (waiting for its broker or store) yet obey it once Faust runs, which installs its own
    handler. Every llmpulse command stops on SIGINT, at any moment."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def main() -> None:
    enable_stack_dumps()
    interruptible()
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except LlmpulseError as exc:
        click.echo(f"llmpulse: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
