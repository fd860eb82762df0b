"""``llmpulse store serve`` with clickhouse-connect as the client, as every llmpulse
process reaches a ClickHouse server: the real engine behind a real HTTP server process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import clickhouse_connect
import lz4.block
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from llmpulse.sinks.clickhouse import ClickHouseStore, connect, migrations
from tests.harness.store_server import StoreServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

COLUMNS = ["id", "name", "at", "tags", "score", "note"]
TABLE = ("CREATE TABLE {name} (id UInt64, name LowCardinality(String), "
         "at DateTime64(3, 'UTC'), tags Array(String), score Float64, "
         "note Nullable(String)) ENGINE = MergeTree ORDER BY id")
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreServerProcess]:
    base = tmp_path_factory.mktemp("store-server")
    with StoreServerProcess(base / "chdb", base) as process:
        yield process


def rows(first: int, count: int) -> list[list[Any]]:
    return [[i, f"n{i % 7}", START + timedelta(milliseconds=i), [f"t{i % 3}", "x"],
             i / 4, None if i % 5 else f"note {i}"] for i in range(first, first + count)]


def as_stored(row: list[Any]) -> tuple[Any, ...]:
    return (*row[:2], row[2].replace(tzinfo=None), *row[3:])


def test_tables_compressed_inserts_and_parameterised_selects(
        server: StoreServerProcess) -> None:
    client = connect(server.url)
    client.command(TABLE.format(name="kinds"))
    # clickhouse-connect's default: chunked LZ4 frames, statement in the body
    assert client.insert("kinds", rows(0, 5000), column_names=COLUMNS).written_rows == 5000
    for compress, first in (("gzip", 5000), ("zstd", 6000), (False, 7000)):
        # the library's defaults otherwise: a session id, accepted and ignored
        other = clickhouse_connect.get_client(dsn=server.url, compress=compress)
        other.insert("kinds", rows(first, 1000), column_names=COLUMNS)
    assert client.command("SELECT count() FROM kinds") == 8000
    got = client.query("SELECT * FROM kinds WHERE id IN {ids:Array(UInt64)} ORDER BY id",
                       parameters={"ids": [3, 5002, 6999, 7500]}).result_rows
    assert [tuple(r) for r in got] == [as_stored(r) for r in (
        rows(3, 1) + rows(5002, 1) + rows(6999, 1) + rows(7500, 1))]
    # thousands of values: the client moves them from the URL to a form body
    many = [f"n{i}" for i in range(20000)]
    assert client.query("SELECT count() FROM kinds WHERE name IN {names:Array(String)} "
                        "AND at >= {since:DateTime64(3)}",
                        parameters={"names": many, "since": START}).result_rows == [(8000,)]
    frame = client.query_df("SELECT id, score FROM kinds WHERE id < {n:UInt32} ORDER BY id",
                            parameters={"n": 3})
    assert frame["score"].tolist() == [0.0, 0.25, 0.5]
    assert client.query_arrow("SELECT id FROM kinds ORDER BY id LIMIT 2").num_rows == 2
    assert client.command("SHOW TABLES") == "kinds"
    assert client.command("SELECT name FROM kinds WHERE 0") == ""  # a result, but empty


def test_raw_inserts_and_clickhouse_block_compression(server: StoreServerProcess) -> None:
    client = connect(server.url)
    client.command("CREATE TABLE raw (a UInt32, b String) ENGINE = MergeTree ORDER BY a")
    client.raw_insert("raw", ["a", "b"], "1\tone\n2\ttwo\n", fmt="TabSeparated")
    data = b"3\tthree\n"
    framed = (b"\0" * 16 + bytes([0x82]) + (len(block := lz4.block.compress(
        data, store_size=False)) + 9).to_bytes(4, "little") + len(data).to_bytes(4, "little")
        + block)
    url = f"{server.url}/?decompress=1&query=INSERT+INTO+raw+FORMAT+TabSeparated"
    with urllib.request.urlopen(urllib.request.Request(url, data=framed)) as reply:
        assert reply.status == 200
        assert b"written_rows" in reply.headers["X-ClickHouse-Summary"].encode()
    assert client.query("SELECT b FROM raw ORDER BY a").result_columns == [
        ["one", "two", "three"]]
    client.command("CREATE DATABASE IF NOT EXISTS other")
    in_other = connect(f"{server.url}/other")  # the database parameter
    in_other.command("CREATE TABLE raw (x UInt8) ENGINE = Memory")
    in_other.insert("raw", [[7]], column_names=["x"])
    assert in_other.command("SELECT x FROM raw") == 7
    assert client.command("SELECT count() FROM raw") == 3  # the default database's
    with urllib.request.urlopen(f"{server.url}/ping") as reply:
        assert reply.read() == b"Ok.\n"
    with urllib.request.urlopen(f"{server.url}/?query=SELECT+1+AS+x+FORMAT+JSONEachRow"
                                ) as reply:
        assert reply.headers["X-ClickHouse-Format"] == "JSONEachRow"
        assert reply.read() == b'{"x":1}\n'


def test_errors_come_back_as_clickhouse_exceptions(server: StoreServerProcess) -> None:
    client = connect(server.url)
    with pytest.raises(DatabaseError, match=r"Code: 60\. DB::Exception: .*nope") as unknown:
        client.query("SELECT * FROM nope")
    assert unknown.value.code == 60
    with pytest.raises(DatabaseError, match="SYNTAX_ERROR"):
        client.command("SELEC 1")
    with pytest.raises(DatabaseError, match="Unknown setting"):
        client.query("SELECT 1", settings={"no_such_setting_here": 1})
    assert client.command("SELECT 41 + 1") == 42  # still serving, settings back to normal


def test_concurrent_queries_and_inserts_from_threads(server: StoreServerProcess) -> None:
    client = connect(server.url)  # one client shared by every thread, as the worker does
    assert client.get_client_setting("session_id") is None  # a session admits one query
    client.command(TABLE.format(name="shared"))
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(15):
                client.insert("shared", rows(n * 1000 + i * 10, 10), column_names=COLUMNS)
                got = client.query("SELECT count() FROM shared WHERE id >= {lo:UInt64} "
                                   "AND id < {hi:UInt64}",
                                   parameters={"lo": n * 1000, "hi": n * 1000 + 1000})
                assert got.result_rows[0][0] == (i + 1) * 10
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[0]
    assert client.command("SELECT count() FROM shared") == 8 * 15 * 10


def test_the_store_migrates_and_other_processes_read_while_it_serves(
        server: StoreServerProcess, tmp_path: Path) -> None:
    store = ClickHouseStore(connect(server.url), server.url)
    assert store.migrate() and store.migrate() == []
    env = {**os.environ, "LLMPULSE_CLICKHOUSE_URL": server.url}
    done = subprocess.run([sys.executable, "-m", "llmpulse", "sql", "--format", "arrays",
                           "SELECT count() > 0 FROM schema_migrations"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1]"
    # the served path is taken: a second server (or an embedded user) is told why
    second = subprocess.run([sys.executable, "-m", "llmpulse", "store", "serve", "--path",
                             str(server.path), "--port", "0"],
                            env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert second.returncode != 0 and "in use by another process" in second.stderr


def test_several_processes_migrate_a_fresh_store_at_once(tmp_path: Path) -> None:
    """N workers starting together on a fresh store: each runs the migrations, none
    fails, and the schema is what one of them alone makes."""
    with StoreServerProcess(tmp_path / "chdb", tmp_path, handles=6) as fresh:
        stores = [ClickHouseStore(connect(fresh.url), fresh.url) for _ in range(4)]
        start = threading.Barrier(len(stores))
        failures: list[BaseException] = []

        def migrate(store: ClickHouseStore) -> None:
            start.wait()
            try:
                store.migrate()
            except BaseException as exc:  # reported below
                failures.append(exc)

        threads = [threading.Thread(target=migrate, args=(s,)) for s in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not failures, failures
        store = stores[0]
        assert store.migrate() == []
        assert store.applied_migrations() == {v for v, _, _ in migrations()}
        [[key]] = store.query("SELECT sorting_key FROM system.tables WHERE name = 'windows'")
        assert key.endswith("prompt_version")
