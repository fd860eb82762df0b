"""The embedded engine behind the server: chdb connections on one store path."""

from __future__ import annotations

import os
import queue
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmpulse.store_server.errors import ServerError
from llmpulse.store_server.request import StoreRequest
from llmpulse.store_server.settings_gate import SettingsGate
from llmpulse.store_server.statement import from_infile, output_format, returns_rows

DEFAULT_DATABASE = "default"


@dataclass
class Outcome:
    """A statement's result: the body in ``format`` (``None``: no result set) and
    ClickHouse's summary counters."""

    body: bytes
    format: str | None
    summary: dict[str, str] = field(default_factory=dict)


@dataclass
class _Handle:
    conn: Any
    database: str = DEFAULT_DATABASE


class Engine:
    """``handles`` chdb connections to the store at ``path``; each statement borrows one,
    so up to ``handles`` statements run at once (chdb releases the GIL while it works).
    Insert data goes to the engine through a temporary file (``INSERT ... FROM INFILE``)."""

    def __init__(self, path: Path, handles: int = 4, tmp_dir: Path | None = None) -> None:
        import chdb

        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.tmp_dir = tmp_dir
        self._gate = SettingsGate()
        self._free: queue.Queue[_Handle] = queue.Queue()
        self._all: list[_Handle] = []
        try:
            for _ in range(max(1, handles)):
                handle = _Handle(chdb.connect(str(path)))  # type: ignore[no-untyped-call]
                self._all.append(handle)
                self._free.put(handle)
        except Exception:
            self.close()
            raise
        first = self._all[0].conn.query("SELECT version(), timezone()", "TabSeparated")
        self.version, self.timezone = first.bytes().decode().strip().split("\t")

    def run(self, request: StoreRequest) -> Outcome:
        fmt = output_format(request.query, request.default_format)
        with self._borrow() as handle, self._gate.held(
                request.settings, lambda name, value: _set(handle.conn, name, value)):
            self._use(handle, request.database or DEFAULT_DATABASE)
            if request.data is not None:
                result = self._insert(handle, request)
                return Outcome(b"", None, _summary(result, inserted=True))
            result = _query(handle.conn, request.query, fmt, request.params)
        return Outcome(result.bytes() or b"", fmt if returns_rows(request.query) else None,
                       _summary(result, inserted=False))

    def _insert(self, handle: _Handle, request: StoreRequest) -> Any:
        assert request.data is not None
        fd, name = tempfile.mkstemp(prefix="insert-", suffix=".data",
                                    dir=str(self.tmp_dir) if self.tmp_dir else None)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(request.data)
            try:
                sql = from_infile(request.query, name)
            except ValueError as exc:
                raise ServerError(62, str(exc)) from None
            return _query(handle.conn, sql, "TabSeparated", request.params)
        finally:
            os.unlink(name)

    def _use(self, handle: _Handle, database: str) -> None:
        if handle.database != database:
            _query(handle.conn, f"USE `{database.replace('`', '``')}`", "TabSeparated", {})
            handle.database = database

    @contextmanager
    def _borrow(self) -> Iterator[_Handle]:
        handle = self._free.get()
        try:
            yield handle
        finally:
            self._free.put(handle)

    def close(self, timeout: float = 30.0) -> None:
        """Close every connection once the statements running on them end (waiting up to
        ``timeout`` seconds in all)."""
        deadline = time.monotonic() + timeout
        for _ in range(len(self._all)):
            try:
                self._free.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
        for handle in self._all:
            with suppress(Exception):  # best effort: the process is ending
                handle.conn.close()
        self._all.clear()


def _query(conn: Any, sql: str, fmt: str, params: dict[str, str]) -> Any:
    try:
        return conn.query(sql, fmt, params=params)
    except Exception as exc:
        raise ServerError.from_engine(exc) from None


def _set(conn: Any, name: str, value: str | None) -> None:
    literal = "DEFAULT" if value is None else "'" + value.replace("\\", "\\\\").replace(
        "'", "\\'") + "'"
    _query(conn, f"SET {name} = {literal}", "TabSeparated", {})


def _summary(result: Any, inserted: bool) -> dict[str, str]:
    """ClickHouse's ``X-ClickHouse-Summary`` counters (strings, as the server sends)."""
    read_rows, read_bytes = int(result.rows_read()), int(result.bytes_read())
    written_rows = int(result.rows_written()) or (read_rows if inserted else 0)
    written_bytes = int(result.bytes_written()) or (read_bytes if inserted else 0)
    return {"read_rows": str(read_rows), "read_bytes": str(read_bytes),
            "written_rows": str(written_rows), "written_bytes": str(written_bytes),
            "total_rows_to_read": str(read_rows),
            "result_bytes": str(0 if inserted else len(result.bytes() or b"")),
            "elapsed_ns": str(int(float(result.elapsed()) * 1e9))}
