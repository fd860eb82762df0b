"""Cost of one join-table sweep: full read vs pending-only, same table, same run.

    python bench/sweep.py --entries 1000000

The table holds done marks (what a dedup horizon of 15 min keeps at ~1k calls/s)
and 1 % pending halves; a sweep runs every few seconds in the worker.
"""

from __future__ import annotations

import argparse
import time

from llmpulse import join


def build(entries: int) -> join.MemoryJoinTable:
    table = join.MemoryJoinTable()
    done = {"k": "d", "s": "inference", "t": 0.0, "half": None}
    for i in range(entries):
        if i % 100 == 0:
            table[f"req-{i:09d}"] = {"k": "p", "req": None, "resp": None, "t": 1e12}
        else:
            table[f"req-{i:09d}"] = done
    return table


def timed(table: join.MemoryJoinTable, full: bool, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        join.sweep(table, 100.0, 60.0, 900.0, set(), full=full)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    table = build(args.entries)
    full, light = timed(table, True), timed(table, False)
    print(f"entries {args.entries}, pending {len(table.pending)}")
    print(f"full sweep     {full * 1000:9.1f} ms  1.00")
    print(f"pending-only   {light * 1000:9.1f} ms  {light / full:.4f}")


if __name__ == "__main__":
    main()
