"""ClickHouse store through clickhouse-connect: embedded chdb or a server over HTTP(S).

Calls block; the stream runs them in a worker thread.  Writes are idempotent:
every table is a ReplacingMergeTree keyed by the event's id, so a redelivered
batch replaces itself; read with ``FINAL``.
"""

from __future__ import annotations

import fcntl
import logging
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from llmpulse.config import Settings, read_secret_file, redacted_url
from llmpulse.errors import ConfigError, StoreError, StoreLocked
from llmpulse.governance.guard import ErasureGuard
from llmpulse.schema import FeedbackEvent
from llmpulse.signals import Signal
from llmpulse.sinks.rows import (
    CALL_REF_COLUMNS,
    FEEDBACK_COLUMNS,
    INFERENCE_COLUMNS,
    SIGNAL_COLUMNS,
    StoredCall,
    feedback_of,
)

log = logging.getLogger(__name__)

_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
#: The column the tables of :meth:`ClickHouseStore._insert` are partitioned on by month
#: (``toYYYYMM``, see the migrations): event times, which producers choose.
PARTITION_COLUMNS = {"inference_events": "call_time", "signals": "time", "feedback": "time"}
#: ClickHouse's default ``max_partitions_per_insert_block``.
MAX_PARTITIONS_PER_INSERT = 100
#: Options of every client of a ClickHouse server (a DSN's own query parameters win).
#: No session: clickhouse-connect's default session id makes a second concurrent query of
#: one client fail ("session is locked"), and the store's client is shared by threads.
HTTP_CLIENT_OPTIONS: dict[str, Any] = {
    "autogenerate_session_id": False,
    "connect_timeout": 10,
    "send_receive_timeout": 120,
    "query_retries": 2,
}
#: A read that fails to reach the server is tried this many times in all.
READ_ATTEMPTS = 4
T = TypeVar("T")


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, sql) of every shipped migration, in order."""
    folder = files("llmpulse.sinks").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def server_options(settings: Settings) -> dict[str, Any]:
    """clickhouse-connect options for a server from the settings: TLS (CA, client
    certificate, verification) and the password from its file."""
    options: dict[str, Any] = {}
    if settings.clickhouse_url.startswith("https://"):
        options["verify"] = settings.clickhouse_verify
        if settings.clickhouse_ca_file is not None:
            options["ca_cert"] = str(settings.clickhouse_ca_file)
        if settings.clickhouse_cert_file is not None:
            options["client_cert"] = str(settings.clickhouse_cert_file)
            options["client_cert_key"] = str(settings.clickhouse_key_file)
    if settings.clickhouse_password_file is not None:
        try:
            options["password"] = read_secret_file(settings.clickhouse_password_file,
                                                   "LLMPULSE_CLICKHOUSE_PASSWORD_FILE").strip()
        except ConfigError as exc:  # a store that cannot be opened, as the store reports it
            raise StoreError(str(exc)) from None
    return options


def connect(url: str, options: Mapping[str, Any] | None = None) -> Any:
    """A clickhouse-connect client for ``chdb://PATH`` or ``http(s)://...`` (``options``:
    :func:`server_options`)."""
    import clickhouse_connect

    try:
        if url.startswith("chdb://"):
            path = url.removeprefix("chdb://")
            check_not_locked(Path(path), url)
            return clickhouse_connect.get_client(interface="chdb", path=path)
        # the URL's scheme decides TLS: clickhouse-connect reads it from the port alone
        # (443 and 8443), so https://host:9440 would otherwise go out in plain HTTP
        scheme = "https" if url.startswith("https://") else "http"
        return clickhouse_connect.get_client(dsn=url, interface=scheme,
                                             **{**HTTP_CLIENT_OPTIONS, **(options or {})})
    except StoreError:
        raise
    except Exception as exc:
        text = str(exc)
        if "already initialized with path" in text:
            raise StoreError(
                f"cannot open {url}: this process already opened another embedded store "
                "(chdb allows one path per process)") from exc
        raise StoreError(f"cannot open ClickHouse at {redacted_url(url)}: "
                         f"{text.splitlines()[0]}") from exc


def check_not_locked(path: Path, url: str) -> None:
    """The embedded engine holds an exclusive lock on ``status``; fail clearly if taken."""
    status = path / "status"
    if not status.exists():
        return
    with status.open("rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreLocked(
                f"the embedded ClickHouse store {url} is in use by another process. An "
                "embedded (chdb) store has exactly one writer: stop the other llmpulse process, "
                "or share the store with `llmpulse store serve` and set LLMPULSE_CLICKHOUSE_URL "
                "to the URL it prints (or to a ClickHouse server, http(s)://...)"
            ) from None
        fcntl.flock(handle, fcntl.LOCK_UN)


class ClickHouseStore:
    """Migrations, batched idempotent inserts and the read-back queries."""

    def __init__(self, client: Any, url: str) -> None:
        self.client = client
        self.url = url
        #: Reads are idempotent: over the network, one that could not reach the server
        #: (connection refused or reset, a timeout) is tried again.
        self.retry_reads = url.startswith(("http://", "https://"))
        #: Rows of erased subjects arriving after the erasure are not written.
        self.guard = ErasureGuard(self.query)

    @classmethod
    def open(cls, settings: Settings, retention: bool = False) -> ClickHouseStore:
        """The store, migrated; with ``retention`` its TTLs brought to the settings (the
        worker does it: a CLI run with other settings leaves them)."""
        if settings.embedded_store:
            settings.chdb_path.mkdir(parents=True, exist_ok=True)
        store = cls(connect(settings.clickhouse_url, server_options(settings)),
                    settings.clickhouse_url)
        store.migrate()
        if retention:
            from llmpulse.governance.retention import apply_retention

            apply_retention(store, settings)
        return store

    @classmethod
    def open_for_service(cls, settings: Settings) -> ClickHouseStore:
        """:meth:`open` with the retention settings applied (the worker at start-up)."""
        return cls.open(settings, retention=True)

    def migrate(self) -> list[int]:
        """Apply shipped migrations not yet applied; returns the versions applied now.

        Several processes may migrate one store at once (N workers starting on a fresh
        store): every statement is idempotent (``IF NOT EXISTS``, a sorting key set to
        what it already is), so a migration another process is applying, or has just
        applied, is run again harmlessly, and its version is recorded unless another
        process recorded it meanwhile (a version recorded twice reads as once)."""
        self.client.command(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, "
            "applied_at DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY version"
        )
        done = self.applied_migrations()
        applied = []
        for version, name, sql in migrations():
            if version in done:
                continue
            for statement in _statements(sql):
                self.client.command(statement)
            if version not in self.applied_migrations():
                self.client.insert("schema_migrations", [[version, name, datetime.now(UTC)]],
                                   column_names=["version", "name", "applied_at"])
                log.info("applied ClickHouse migration %s", name)
            applied.append(version)
        return applied

    def applied_migrations(self) -> set[int]:
        """The versions recorded in ``schema_migrations``."""
        return {int(row[0]) for row in self.query(
            "SELECT DISTINCT version FROM schema_migrations")}

    def stored_ranks(self, request_ids: Sequence[str]) -> dict[str, int]:
        """The join rank (see ``join.RANK``) already stored for each of these calls."""
        if not request_ids:
            return {}
        rows = self.query(
            "SELECT request_id, max(intDiv(version, 10000000000000)) FROM inference_events "
            "WHERE request_id IN {ids:Array(String)} GROUP BY request_id",
            {"ids": list(request_ids)})
        return {str(rid): int(rank) for rid, rank in rows}

    def erased_calls(self, calls: Sequence[StoredCall], now: datetime) -> set[str]:
        """The request ids of ``calls`` an erasure drops.  Those dropped for their user or
        tenant are recorded as erased request ids, so every worker also drops their
        signals and feedback that come later."""
        erased = self.guard.current()
        if not erased:
            return set()
        dropped = {c.record.request_id for c in calls
                   if erased.drops(c.record.request_id, c.call_time(now), c.record.user_hash,
                                   c.record.tenant)}
        new = sorted(dropped - erased.request_ids)
        if new:
            self.client.insert("erasures", [["request_id", rid, now] for rid in new],
                               column_names=["kind", "value", "erased_at"])
            erased.request_ids.update(new)
        return dropped

    def insert_calls(self, calls: Sequence[StoredCall], now: datetime) -> int:
        erased = self.guard.current()
        rows = [call.row(now) for call in calls
                if not (erased and erased.drops(call.record.request_id, call.call_time(now),
                                                call.record.user_hash, call.record.tenant))]
        return self._insert("inference_events", rows, INFERENCE_COLUMNS)

    def insert_signals(self, signals: Sequence[Signal], versions: dict[str, int],
                       now: datetime) -> int:
        """``versions``: the stored call's row version by request_id."""
        rows = [[s.time, versions.get(s.request_id, 0), s.name, s.value, s.label, s.request_id,
                 s.provider, s.model, s.route, s.tenant, s.detector, s.source, now,
                 s.explanation]
                for s in self._kept_signals(signals)]
        return self._insert("signals", rows, SIGNAL_COLUMNS)

    def scoring_rows(self, request_ids: Sequence[str]) -> list[tuple[Any, ...]]:
        """Stored calls' keys and texts, to score them again (see scoring.results)."""
        from llmpulse.scoring.results import SCORING_COLUMNS

        return self.query(
            f"SELECT {', '.join(SCORING_COLUMNS)} FROM inference_events FINAL "
            "WHERE request_id IN {ids:Array(String)}", {"ids": list(request_ids)})

    def call_refs(self, request_ids: Sequence[str]) -> list[tuple[Any, ...]]:
        """Group keys of stored calls, for feedback that refers to them (``CALL_REF_COLUMNS``)."""
        return self.query(
            f"SELECT {', '.join(CALL_REF_COLUMNS)} FROM inference_events FINAL "
            "WHERE request_id IN {ids:Array(String)}", {"ids": list(request_ids)})

    def stored_feedback(self, feedback_ids: Sequence[str]) -> set[str]:
        """Which of these feedback events are stored already (a redelivery)."""
        rows = self.query("SELECT DISTINCT feedback_id FROM feedback "
                          "WHERE feedback_id IN {ids:Array(String)}", {"ids": list(feedback_ids)})
        return {str(r[0]) for r in rows}

    def insert_feedback(self, events: Sequence[FeedbackEvent], now: datetime,
                        waiting: Collection[str] = ()) -> int:
        """Store feedback; those in ``waiting`` (feedback ids) wait for their call."""
        rows = [[e.feedback_id, e.request_id, e.time, e.thumbs or "", e.rating,
                 e.correction or "", list(e.flags), e.comment or "", e.given_by,
                 e.user_hash or "", now, "waiting" if e.feedback_id in waiting else "done"]
                for e in self._kept_feedback(events)]
        return self._insert("feedback", rows, FEEDBACK_COLUMNS)

    def _kept_signals(self, signals: Sequence[Signal]) -> Sequence[Signal]:
        erased = self.guard.current()
        if not erased:
            return signals
        gone = self.guard.tenant_calls(s.request_id for s in signals)
        return [s for s in signals if s.request_id not in gone
                and not erased.drops(s.request_id, s.time, tenant=s.tenant)]

    def _kept_feedback(self, events: Sequence[FeedbackEvent]) -> Sequence[FeedbackEvent]:
        """Feedback of erased calls dropped: also of an erased tenant's calls, which
        feedback does not name the tenant of."""
        erased = self.guard.current()
        if not erased:
            return events
        gone = self.guard.tenant_calls(e.request_id for e in events)
        return [e for e in events if e.request_id not in gone
                and not erased.drops(e.request_id, e.time, e.user_hash)]

    def waiting_feedback(self, limit: int) -> list[FeedbackEvent]:
        """Stored feedback still waiting for its call (its worker stopped meanwhile)."""
        rows = self.query(
            f"SELECT {', '.join(FEEDBACK_COLUMNS)} FROM feedback FINAL "
            "WHERE window_state = 'waiting' ORDER BY ingested_at LIMIT {n:UInt64}",
            {"n": limit})
        return [feedback_of(dict(zip(FEEDBACK_COLUMNS, row, strict=True))) for row in rows]

    def _insert(self, table: str, rows: list[list[Any]], columns: Sequence[str]) -> int:
        """Insert ``rows``, in blocks of at most ``MAX_PARTITIONS_PER_INSERT`` monthly
        partitions: ClickHouse refuses a block touching more (calls dated across the years
        would otherwise fail the batch for ever)."""
        for block in _partition_blocks(rows, columns, PARTITION_COLUMNS.get(table)):
            self.client.insert(table, block, column_names=list(columns))
        return len(rows)

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self._read(lambda: [tuple(row) for row in self.client.query(
            sql, parameters=parameters).result_rows])

    def query_columns(self, sql: str, parameters: dict[str, Any] | None = None
                      ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The column names and rows of a query."""
        def run() -> tuple[list[str], list[tuple[Any, ...]]]:
            result = self.client.query(sql, parameters=parameters)
            return list(result.column_names), [tuple(row) for row in result.result_rows]
        return self._read(run)

    def _read(self, run: Callable[[], T]) -> T:
        if not self.retry_reads:
            return run()
        for attempt in Retrying(stop=stop_after_attempt(READ_ATTEMPTS),
                                wait=wait_exponential(multiplier=0.25, max=2),
                                retry=retry_if_exception(unreachable), reraise=True,
                                before_sleep=before_sleep_log(log, logging.WARNING)):
            with attempt:
                return run()
        raise AssertionError("unreachable: Retrying reraises the last error")

    def close(self) -> None:
        try:
            self.client.close()
        except AttributeError:
            # grafana-client's niquests installs urllib3-future over urllib3; its pool manager
            # lacks the lock clickhouse-connect takes to close a client's own pools (TLS
            # options give a client its own): drop the connections without it
            self.client.close_connections()


def unreachable(exc: BaseException) -> bool:
    """Whether a client error means the server was not reached or did not answer (and a
    read may be tried again), not that it refused the statement."""
    from clickhouse_connect.driver.exceptions import OperationalError

    return isinstance(exc, OperationalError)


def _partition_blocks(rows: list[list[Any]], columns: Sequence[str], column: str | None
                      ) -> Iterator[list[list[Any]]]:
    """``rows`` in blocks spanning at most ``MAX_PARTITIONS_PER_INSERT`` months of
    ``column`` (one block when the table is not partitioned by month)."""
    if not rows:
        return
    if column is None:
        yield rows
        return
    at = list(columns).index(column)
    months: dict[tuple[int, int], list[list[Any]]] = {}
    for row in rows:
        when = row[at]
        months.setdefault((when.year, when.month) if isinstance(when, datetime) else (0, 0),
                          []).append(row)
    if len(months) <= MAX_PARTITIONS_PER_INSERT:
        yield rows
        return
    groups = list(months.values())
    for i in range(0, len(groups), MAX_PARTITIONS_PER_INSERT):
        yield [row for group in groups[i:i + MAX_PARTITIONS_PER_INSERT] for row in group]
