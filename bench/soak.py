"""Fault soak: steady traffic for a long run while the worker is killed (SIGKILL) and
stopped (SIGTERM), the broker restarted, the store's disk filled and freed and a
webhook receiver killed, at random moments; then everything produced is reconciled
against everything stored, dead-lettered and committed.

    python bench/soak.py --minutes 12 --rate 150            # Apache Kafka 4.x
    python bench/soak.py --minutes 12 --broker embedded     # no broker restarts

Needs root for the store's own small filesystem (tmpfs; the disk_full fault), the
Apache Kafka jars (KAFKA_TEST_LIBS, as for the tests).  Prints a summary and writes
the full report (samples of RSS and lag every second, each fault and its recovery
time) to bench/results/soak-<broker>.json.  Exit 1 if anything was lost,
duplicated, misfiled, late or left uncommitted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))  # the shared harness lives with the tests

from llmpulse.embedded_broker import EmbeddedBroker  # noqa: E402
from tests.harness.apache_kafka import ApacheKafka  # noqa: E402
from tests.harness.soak import FAULTS, Broker, Soak, SoakConfig  # noqa: E402


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--rate", type=float, default=150.0, help="messages per second")
    parser.add_argument("--broker", choices=("kafka", "embedded"), default="kafka")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--fault-every", default="10,40", help="min,max seconds between")
    args = parser.parse_args()
    low, high = (float(x) for x in args.fault_every.split(","))
    config = SoakConfig(duration_s=args.minutes * 60, rate=args.rate, seed=args.seed,
                        faults=tuple(args.faults.split(",")), fault_every_s=(low, high),
                        settle_timeout_s=600.0)
    workdir = Path(tempfile.mkdtemp(prefix="llmpulse-soak-"))
    if args.broker == "kafka":
        kafka = ApacheKafka()
        kafka.start()
        broker, bootstrap, stop = (Broker(lambda: kafka.restart(down_s=3.0)), kafka.bootstrap,
                                   kafka.stop)
    else:
        embedded = EmbeddedBroker(log_path=workdir / "tansu.log")
        embedded.start()
        broker, bootstrap, stop = Broker(None), embedded.bootstrap, embedded.stop
    try:
        report = Soak(bootstrap, broker, workdir, config, log=log).run()
    finally:
        stop()
    summary = report.summary()
    out = ROOT / "results" / f"soak-{args.broker}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"summary": summary, "faults": [asdict(f) for f in report.faults],
                               "samples": [asdict(s) for s in report.samples]}, indent=1,
                              default=str))
    print(json.dumps(summary, indent=1, default=str))
    problems = report.problems()
    print("PROBLEMS: " + json.dumps(problems) if problems else "nothing lost, duplicated, "
          "misfiled, late or uncommitted")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
