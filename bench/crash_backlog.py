"""A backlog read through two SIGKILLs: 6,300 input messages are produced, the worker
is killed once 20 % and once 50 % of the input is committed, and restarted each time.
Every call must be stored once, as what it is (joined, not a join timeout), every
stored call's signals must have their call row, and the group's committed offsets
must reach the end.  Each run prints what it found: messages committed but never
stored (lost), not committed, double-counted, misfiled.

    python bench/crash_backlog.py --broker kafka --runs 5
    python bench/crash_backlog.py --broker embedded --runs 5

The scenario lives in ``tests/harness/backlog.py``; CI runs it once per broker
(``tests/integration/test_crash_backlog.py``).  Results are in BENCHMARKS.md, "Fault
soak": before the fix in ``llmpulse.streams.commits``, Faust's start-up race committed
input messages that were dropped from the stream.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the stack harness lives with the tests

from tests.harness.backlog import run_backlog  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description="SIGKILL twice while a backlog is read")
    parser.add_argument("--broker", choices=("kafka", "embedded"), default="kafka")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-rows", type=int, default=500,
                        help="LLMPULSE_BATCH_MAX_ROWS of the worker")
    parser.add_argument("--loaded", action="store_true",
                        help="run the workers as on a loaded machine (slower agent and "
                        "committed-offset lookup: tests/harness/loaded_worker)")
    parser.add_argument("--stale-first-assignment", action="store_true",
                        help="the first assignment each worker computes leaves out the changelog "
                        "topics, as from a group leader's stale metadata "
                        "(tests/harness/stale_assignment); not with --loaded")
    args = parser.parse_args()
    from llmpulse.embedded_broker import EmbeddedBroker
    from tests.harness.apache_kafka import ApacheKafka

    server: ApacheKafka | EmbeddedBroker = (ApacheKafka() if args.broker == "kafka"
                                            else EmbeddedBroker())
    bootstrap = server.start()
    failed = lost = 0
    try:
        for run in range(args.runs):
            started = time.monotonic()
            tmp = Path(tempfile.mkdtemp(prefix="llmpulse-backlog-"))
            try:
                result = run_backlog(bootstrap, tmp, batch_rows=args.batch_rows,
                                     loaded=args.loaded, stale=args.stale_first_assignment)
            except BaseException as exc:  # the harness giving up (a timeout, a crash)
                failed += 1
                print(f"run {run + 1}: FAILED {str(exc)[:500]} ({tmp})", flush=True)
                continue
            lost += result.lost_count
            took = time.monotonic() - started
            if result.problems:
                failed += 1
                print(f"run {run + 1}: FAILED in {took:.0f} s ({tmp}): "
                      + " | ".join(result.problems), flush=True)
            else:
                print(f"run {run + 1}: ok in {took:.0f} s: {result.calls} calls stored once, "
                      f"{result.committed} offsets committed, 0 lost", flush=True)
    finally:
        server.stop()
    print(f"{args.runs - failed} of {args.runs} runs ok; {lost} messages lost in all", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
