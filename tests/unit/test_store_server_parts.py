"""The store server's parts that need no engine: bodies, statements, requests, settings."""

from __future__ import annotations

import gzip
import struct
import threading
import time

import lz4.block
import lz4.frame
import pytest

from llmpulse.store_server.encoding import decode_content, unframe_blocks
from llmpulse.store_server.errors import ServerError
from llmpulse.store_server.request import read_request
from llmpulse.store_server.settings_gate import SettingsGate
from llmpulse.store_server.statement import (
    expects_data,
    from_infile,
    output_format,
    returns_rows,
    split_insert,
)

DATA = bytes(range(256)) * 40


def test_bodies_are_decoded_as_clients_encode_them() -> None:
    assert decode_content(gzip.compress(DATA), "gzip") == DATA
    # clickhouse-connect sends one LZ4 frame per block, back to back
    assert decode_content(lz4.frame.compress(DATA[:100]) + lz4.frame.compress(DATA[100:]),
                          "lz4") == DATA
    assert decode_content(DATA, None) == DATA
    with pytest.raises(ServerError, match="lz4"):
        decode_content(lz4.frame.compress(DATA)[:-8], "lz4")
    with pytest.raises(ServerError, match="unknown Content-Encoding"):
        decode_content(DATA, "snappy")


def _block(method: int, payload: bytes, plain: int) -> bytes:
    return b"\0" * 16 + struct.pack("<BII", method, len(payload) + 9, plain) + payload


def test_clickhouse_compressed_blocks_are_unframed() -> None:
    lz4_block = lz4.block.compress(DATA[:500], store_size=False)
    framed = _block(0x82, lz4_block, 500) + _block(0x02, DATA[500:], len(DATA) - 500)
    assert unframe_blocks(framed) == DATA
    with pytest.raises(ServerError, match="compressed blocks"):
        unframe_blocks(framed[:-3])


def test_an_insert_body_splits_into_statement_and_data() -> None:
    body = b"INSERT INTO `t` (`a`, `format`) FORMAT Native\n\x00\x01\nFORMAT x"
    assert split_insert(body) == ("INSERT INTO `t` (`a`, `format`) FORMAT Native",
                                  b"\x00\x01\nFORMAT x")
    assert split_insert(b"SELECT 1 FORMAT Native") is None
    assert split_insert(b"INSERT INTO t VALUES (1)") is None


def test_an_insert_reads_its_rows_from_a_file() -> None:
    assert expects_data("INSERT INTO t (a) FORMAT Native")
    assert not expects_data("INSERT INTO t SELECT 1")
    assert from_infile("INSERT INTO `db`.`t` (`a`, `b`) SETTINGS x = 1 FORMAT RowBinary",
                       "/tmp/it's") == (
        "INSERT INTO `db`.`t` (`a`, `b`) FROM INFILE '/tmp/it\\'s' SETTINGS x = 1 "
        "FORMAT RowBinary")


def test_the_output_format_and_whether_rows_come_back() -> None:
    assert output_format("SELECT 1\n FORMAT Native", "TabSeparated") == "Native"
    assert output_format("SELECT 1", "JSON") == "JSON"
    assert returns_rows("-- c\n/* d */ SELECT 1") and returns_rows("(SELECT 1) UNION ALL "
                                                                   "SELECT 2")
    assert returns_rows("SHOW TABLES") and returns_rows("WITH 1 AS x SELECT x")
    assert not returns_rows("CREATE TABLE t (a UInt8) ENGINE = Memory")
    assert not returns_rows("INSERT INTO t SELECT 1")


def test_a_request_takes_its_statement_parameters_and_settings_apart() -> None:
    request = read_request(
        "query=SELECT+%7Bx%3AUInt8%7D&param_x=3&database=db&session_id=s&wait_end_of_query=1"
        "&max_threads=2&http_headers_progress_interval_ms=1000&query_id=q1",
        {}, b"")
    assert (request.query, request.params, request.settings, request.database,
            request.query_id, request.data) == (
        "SELECT {x:UInt8}", {"x": "3"}, {"max_threads": "2"}, "db", "q1", None)
    body = b"INSERT INTO t (a) FORMAT Native\n\x01\x02"
    insert = read_request("", {"Content-Encoding": "lz4"}, lz4.frame.compress(body))
    assert (insert.query, insert.data) == ("INSERT INTO t (a) FORMAT Native", b"\x01\x02")
    by_param = read_request("query=INSERT+INTO+t+FORMAT+RowBinary", {}, b"\x01")
    assert (by_param.query, by_param.data) == ("INSERT INTO t FORMAT RowBinary", b"\x01")
    joined = read_request("query=SELECT", {}, b"1")
    assert (joined.query, joined.data) == ("SELECT\n1", None)
    with pytest.raises(ServerError, match="Empty query"):
        read_request("", {}, b"  ")
    with pytest.raises(ServerError, match="compress=1"):
        read_request("compress=1&query=SELECT+1", {}, b"")


def test_a_form_request_carries_the_query_and_its_parameters() -> None:
    boundary = "xyz"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"query\"\r\n\r\n"
            "SELECT {ids:Array(String)}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"param_ids\"\r\n\r\n"
            "['a','b']\r\n"
            f"--{boundary}--\r\n").encode()
    request = read_request("max_threads=1", {
        "Content-Type": f"multipart/form-data; boundary={boundary}"}, body)
    assert (request.query, request.params, request.settings) == (
        "SELECT {ids:Array(String)}", {"ids": "['a','b']"}, {"max_threads": "1"})


def test_settings_change_only_when_no_statement_runs() -> None:
    gate = SettingsGate()
    calls: list[tuple[str, str | None]] = []
    running: list[dict[str, str]] = []
    overlap: list[tuple[str, ...]] = []

    def setter(name: str, value: str | None) -> None:
        assert not running, "a setting changed under a running statement"
        calls.append((name, value))

    def statement(wanted: dict[str, str]) -> None:
        with gate.held(wanted, setter):
            running.append(wanted)
            overlap.append(tuple(sorted({str(sorted(w.items())) for w in running})))
            time.sleep(0.01)
            running.remove(wanted)

    threads = [threading.Thread(target=statement, args=({"a": "1"} if i % 3 else {"b": "2"},))
               for i in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(len(kinds) == 1 for kinds in overlap)  # never two settings at once
    assert ("a", "1") in calls and ("b", "2") in calls

    def refuse(name: str, value: str | None) -> None:
        raise ServerError(115, f"Unknown setting {name}")

    with pytest.raises(ServerError, match="Unknown setting"), gate.held({"zz": "1"}, refuse):
        pass
    with pytest.raises(ServerError, match="not a valid name"), gate.held({"a; DROP": "1"},
                                                                          setter):
        pass


class FlakyClient:
    """A client whose first ``failures`` reads cannot reach the server."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    def query(self, sql: str, parameters: object = None) -> object:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error

        class Result:
            result_rows = [(1,)]
            column_names = ("x",)
        return Result()


def test_reads_from_a_server_are_tried_again_when_it_was_not_reached(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

    from llmpulse.sinks import clickhouse

    monkeypatch.setattr(clickhouse, "wait_exponential", lambda **_: lambda state: 0.0)
    flaky = FlakyClient(2, OperationalError("Error ... Connection refused"))
    store = clickhouse.ClickHouseStore(flaky, "http://127.0.0.1:1")
    assert store.query("SELECT 1") == [(1,)] and flaky.calls == 3
    refused = FlakyClient(1, DatabaseError("Code: 60. DB::Exception: Unknown table"))
    with pytest.raises(DatabaseError):  # the server answered: no second try
        clickhouse.ClickHouseStore(refused, "http://127.0.0.1:1").query("SELECT 1")
    assert refused.calls == 1
    down = FlakyClient(99, OperationalError("Connection refused"))
    with pytest.raises(OperationalError):
        clickhouse.ClickHouseStore(down, "http://127.0.0.1:1").query_columns("SELECT 1")
    assert down.calls == clickhouse.READ_ATTEMPTS
    embedded = FlakyClient(1, OperationalError("no"))
    with pytest.raises(OperationalError):  # in process: nothing to reach
        clickhouse.ClickHouseStore(embedded, "chdb:///tmp/x").query("SELECT 1")
