"""The cost of sharing the embedded store over HTTP (``llmpulse store serve``) next to
opening it in process (chdb), with clickhouse-connect as the client in both.

    python bench/store_server.py --rows 100000 --batch 1000

Measures batched inserts (rows/s) into a 20-column table shaped like llmpulse's wide
rows, point reads with a bound parameter (latency), and the same reads from 1 and 4
threads sharing one HTTP client.  Results are printed and written to
bench/results/store_server.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from llmpulse.sinks.clickhouse import connect
from tests.harness.store_server import StoreServerProcess

ROOT = Path(__file__).resolve().parent
COLUMNS = [f"s{i}" for i in range(8)] + [f"f{i}" for i in range(6)] + [
    "id", "at", "n", "tags", "note", "flag"]
TABLE = ("CREATE TABLE IF NOT EXISTS wide (" + ", ".join(
    [f"s{i} LowCardinality(String)" for i in range(8)] + [f"f{i} Float64" for i in range(6)])
    + ", id String, at DateTime64(3, 'UTC'), n UInt64, tags Array(String), note String, "
    "flag UInt8) ENGINE = ReplacingMergeTree ORDER BY (s0, id)")


def rows(first: int, count: int) -> list[list[Any]]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [[f"v{(i + k) % 9}" for k in range(8)] + [i * 0.5 + k for k in range(6)]
            + [f"req-{i:012d}", start + timedelta(milliseconds=i), i, ["a", "b"],
               "a response text of some length " * 4, i % 2]
            for i in range(first, first + count)]


def measure(client: Any, total: int, batch: int, reads: int) -> dict[str, float]:
    client.command(TABLE)
    began = time.perf_counter()
    for first in range(0, total, batch):
        client.insert("wide", rows(first, batch), column_names=COLUMNS)
    insert_s = time.perf_counter() - began
    latencies = []
    for i in range(reads):
        at = time.perf_counter()
        client.query("SELECT n, note FROM wide WHERE id = {id:String}",
                     parameters={"id": f"req-{(i * 7919) % total:012d}"})
        latencies.append(time.perf_counter() - at)
    latencies.sort()
    return {"insert_rows_per_s": total / insert_s,
            "read_ms_median": 1000 * statistics.median(latencies),
            "read_ms_p99": 1000 * latencies[int(0.99 * (len(latencies) - 1))]}


def threaded_reads(client: Any, threads: int, each: int, total: int) -> float:
    """Reads per second from ``threads`` threads sharing ``client``."""
    def work(n: int) -> None:
        for i in range(each):
            client.query("SELECT n FROM wide WHERE id = {id:String}",
                         parameters={"id": f"req-{(n * 31 + i * 7919) % total:012d}"})
    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    began = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return threads * each / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--reads", type=int, default=300)
    args = parser.parse_args()
    results: dict[str, Any] = {"rows": args.rows, "batch": args.batch}
    with tempfile.TemporaryDirectory() as tmp:
        embedded = connect(f"chdb://{Path(tmp) / 'embedded'}")
        results["chdb_in_process"] = measure(embedded, args.rows, args.batch, args.reads)
        embedded.close()
        with StoreServerProcess(Path(tmp) / "served", Path(tmp)) as server:
            client = connect(server.url)
            results["http_store_serve"] = measure(client, args.rows, args.batch, args.reads)
            one = threaded_reads(client, 1, args.reads, args.rows)
            four = threaded_reads(client, 4, args.reads, args.rows)
            results["http_reads_per_s"] = {"1_thread": one, "4_threads": four}
    print(json.dumps(results, indent=2))
    out = ROOT / "results" / "store_server.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
