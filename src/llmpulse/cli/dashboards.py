"""``llmpulse dashboards``: export the Grafana dashboards as files, or push them to Grafana."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


@click.group()
def dashboards() -> None:
    """Grafana dashboards: on-call overview, quality/feedback/drift, ClickHouse drill-down."""


@dashboards.command("export")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write the dashboards' JSON and dashboards.yml into.")
@click.option("--provisioning-path", default=None,
              help="The folder as Grafana sees it, written into dashboards.yml "
                   "(default: OUT, absolute).")
@click.option("--folder", default="llmpulse", show_default=True,
              help="Grafana folder the provisioned dashboards appear in.")
def export(out: Path, provisioning_path: str | None, folder: str) -> None:
    """Write one JSON file per dashboard and a Grafana file-provisioning config."""
    from llmpulse.dashboards import all_dashboards
    from llmpulse.dashboards.export import write_dashboards

    for path in write_dashboards(all_dashboards(), out, provisioning_path, folder):
        click.echo(str(path))


@dashboards.command("push")
@click.option("--url", required=True, envvar="GRAFANA_URL", show_envvar=True,
              help="Grafana's base URL, e.g. http://grafana:3000.")
@click.option("--token", envvar="GRAFANA_TOKEN", show_envvar=True, default=None,
              help="Service-account token (Editor role); --user on the command line wins "
                   "over GRAFANA_TOKEN.")
@click.option("--user", default=None, help="Basic-auth user (instead of a token).")
@click.option("--password", envvar="GRAFANA_PASSWORD", show_envvar=True, default=None,
              help="Basic-auth password (asked for when --user is given without it).")
@click.option("--folder", default="llmpulse", show_default=True,
              help="Folder to put the dashboards in (created if missing; 'General': none).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds per HTTP request.")
@click.option("--actor", default=None,
              help="Who pushes, for the audit log (default: the OS user).")
def push(url: str, token: str | None, user: str | None, password: str | None, folder: str,
         timeout: float, actor: str | None) -> None:
    """Upload every dashboard to Grafana, replacing the ones with the same uid.

    GRAFANA_URL, GRAFANA_TOKEN and GRAFANA_PASSWORD stand in for --url, --token and
    --password, so secrets need not be on the command line.
    """
    from llmpulse.cli.audit import record_if_possible
    from llmpulse.config import redacted_url
    from llmpulse.dashboards import all_dashboards
    from llmpulse.dashboards.push import push_dashboards

    if token and user:
        source = click.get_current_context().get_parameter_source("token")
        if source is not click.core.ParameterSource.ENVIRONMENT:
            raise click.UsageError("pass either --token or --user/--password, not both")
        token = None  # --user given: it wins over GRAFANA_TOKEN from the environment
    if user and password is None:
        password = click.prompt("Grafana password", hide_input=True)
    credential = (user, password or "") if user else token
    details: dict[str, Any] = {"folder": folder, "dashboards": []}
    try:
        for pushed in push_dashboards(all_dashboards(), url, credential, folder, timeout):
            details["dashboards"].append({"uid": pushed.uid, "version": pushed.version})
            click.echo(f"{pushed.uid}: {pushed.title} (version {pushed.version}) {pushed.url}")
    except Exception as exc:
        record_if_possible(actor, "dashboards push", redacted_url(url), details,
                           f"failed: {exc}"[:500])
        raise
    record_if_possible(actor, "dashboards push", redacted_url(url), details, "ok")
