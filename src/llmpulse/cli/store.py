"""``llmpulse store serve``: the embedded store shared over ClickHouse's HTTP interface."""

from __future__ import annotations

import ipaddress
import signal
import ssl
import sys
import threading
from pathlib import Path

import click


@click.group()
def store() -> None:
    """Share the embedded (chdb) store between processes."""


@store.command("serve")
@click.option("--path", "path", type=click.Path(file_okay=False, path_type=Path),
              default=None,
              help="The embedded store's directory (default: the path of "
                   "LLMPULSE_CLICKHOUSE_URL when it is chdb://PATH, else "
                   "LLMPULSE_DATA_DIR/chdb).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on.  The server has no authentication: keep it on "
                   "loopback.")
@click.option("--port", type=click.IntRange(0, 65535), default=8123, show_default=True,
              help="Port to listen on (0: a free one).")
@click.option("--handles", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Engine connections: how many statements run at once.")
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="Serve HTTPS with this PEM certificate (chain).")
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="The PEM private key of --tls-cert.")
def serve(path: Path | None, host: str, port: int, handles: int, tls_cert: Path | None,
          tls_key: Path | None) -> None:
    """Serve the embedded store over ClickHouse's HTTP interface, until Ctrl-C.

    chdb lets one process open a store; this process opens it and every other one (N
    workers, `llmpulse sql`, `alerts`, `retrain`) reaches it as a ClickHouse server.
    Prints `export LLMPULSE_CLICKHOUSE_URL=http://HOST:PORT` on stdout once listening:
    set that in their environment.  Speaks what clickhouse-connect sends (query
    parameters, settings, Native and other formats, compressed inserts); sessions and
    progress headers are accepted and ignored.  For one machine; production runs a
    ClickHouse server.
    """
    from llmpulse.config import load_settings
    from llmpulse.sinks.clickhouse import check_not_locked
    from llmpulse.store_server import StoreServer

    settings = load_settings()
    if path is None:
        path = settings.chdb_path if settings.embedded_store else settings.data_dir / "chdb"
    check_not_locked(path, f"chdb://{path}")
    tls = None
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    if tls_cert is not None and tls_key is not None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(str(tls_cert), str(tls_key))
    if not _loopback(host):
        click.echo(f"llmpulse store: warning: listening on {host} without authentication; "
                   "anyone who reaches it can read and change the store", err=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda signum, frame: stop.set())
    server = StoreServer(path, host=host, port=port, handles=handles, tls=tls).start()
    try:
        click.echo(f"export LLMPULSE_CLICKHOUSE_URL={server.url}")
        sys.stdout.flush()
        click.echo(f"llmpulse store: serving chdb://{path} at {server.url} "
                   f"(ClickHouse {server.engine.version}); Ctrl-C stops it", err=True)
        stop.wait()
    finally:
        server.stop()
    click.echo("llmpulse store: stopped", err=True)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
