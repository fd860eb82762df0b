"""Cost of per-route drift checks: one DriftWatch interval, model only vs model and routes.

    python bench/drift_routes.py [--routes 5] [--calls 2000] [--embedder auto] [--repeats 3]

One model, ``--routes`` routes, ``--calls`` calls per route in the drift window checked
and as many before it (the automatic reference: the first 2,000 calls of the model, and
of each route), synthetic stationary traffic (``llmpulse.drift.scenarios``) stored in
an embedded ClickHouse (chdb) in a temporary directory.  Timed, each on the same data
with the stored checks cleared in between (the embedder is loaded before):

- ``model``: one interval with ``LLMPULSE_DRIFT_MAX_ROUTES=0`` (the model check only);
- ``model+routes``: one interval with ``LLMPULSE_DRIFT_MAX_ROUTES=--routes``: the route
  checks reuse the model check's prompt embeddings;
- ``routes alone, full samples``: the same route checks, each embedding its own full
  sample (``max_embedding_rows`` per side, as a model check does): what sharing the
  model check's embeddings and capping the rest saves.

Prints a table (median wall seconds of ``--repeats`` runs, prompts embedded) and writes
bench/results/drift_routes.json.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from llmpulse.config import load_settings
from llmpulse.detectors.cost import Cost
from llmpulse.drift.scenarios import ORIGIN, SyntheticTraffic
from llmpulse.metrics import build_metrics
from llmpulse.models.embedder import load_embedder
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.rows import StoredCall
from llmpulse.streams import drift
from llmpulse.streams.drift import DriftWatch

ROOT = Path(__file__).resolve().parent
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Counting:
    """An embedder that counts the prompts it embeds."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.texts = inner, 0

    @property
    def name(self) -> str:
        return str(self.inner.name)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        out: np.ndarray = self.inner.embed(texts)
        return out


def fill(store: ClickHouseStore, routes: int, calls: int, rate: float) -> None:
    traffic = SyntheticTraffic(seed=11, model="bench-model", rate=rate)
    offset = T0 - ORIGIN
    stored = []
    for i, sim in enumerate(traffic.calls(2 * routes * calls)):
        r = sim.record
        r = dataclasses.replace(r, route=f"route-{i % routes}",
                                start_time=r.start_time and r.start_time + offset,
                                end_time=r.end_time and r.end_time + offset)
        stored.append(StoredCall(r, Cost(0.0, "prices", "bench")))
    for at in range(0, len(stored), 5000):
        store.insert_calls(stored[at:at + 5000], T0)


def watch(store: ClickHouseStore, every: float, routes: int, embedder: Counting
          ) -> DriftWatch:
    settings = load_settings({"LLMPULSE_DRIFT_EVERY_S": str(every),
                              "LLMPULSE_DRIFT_MAX_ROUTES": str(routes),
                              "LLMPULSE_WINDOW_LATENESS_S": "0",
                              "LLMPULSE_JOIN_TIMEOUT_S": "1"})

    async def nowhere(_: Any) -> None:
        return None

    w = DriftWatch(settings, store, build_metrics(), nowhere)
    w._embedder = embedder
    return w


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000, help="calls per route per window")
    parser.add_argument("--embedder", default="auto", choices=("auto", "minilm", "hashing"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "drift_routes.json")
    args = parser.parse_args()

    every = 100.0
    rate = args.routes * args.calls / every
    start = T0 + timedelta(seconds=every)  # the window checked: [T0 + every, T0 + 2 every)
    end = start + timedelta(seconds=every)
    now = (end + timedelta(seconds=10)).timestamp()
    embedder = Counting(load_embedder(args.embedder))
    embedder.embed(["warm up"])
    results: dict[str, Any] = {"embedder": embedder.name, "routes": args.routes,
                               "calls_per_route": args.calls, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        store = ClickHouseStore.open(load_settings(
            {"LLMPULSE_CLICKHOUSE_URL": f"chdb://{Path(tmp) / 'store'}"}))
        fill(store, args.routes, args.calls, rate)

        def once(name: str, routes: int, reuse: bool = True) -> tuple[float, int, int]:
            store.client.command("TRUNCATE TABLE signals")
            w = watch(store, every, routes, embedder)
            embedder.texts = 0
            began = time.perf_counter()
            if reuse:
                checks = asyncio.run(w.tick(now))
            else:  # each route check on its own, full size, as if nothing were shared
                capped = drift.ROUTE_EMBEDDING_ROWS
                drift.ROUTE_EMBEDDING_ROWS = w.policy.max_embedding_rows
                try:
                    checks = [c for route in range(routes) if (c := w.check(
                        "bench-model", start, end, f"route-{route}")) is not None]
                finally:
                    drift.ROUTE_EMBEDDING_ROWS = capped
            took = time.perf_counter() - began
            print(f"  {name}: {took:.2f} s, {len(checks)} checks, {embedder.texts} prompts "
                  f"embedded", file=sys.stderr, flush=True)
            return took, len(checks), embedder.texts

        for name, routes, reuse in (("model", 0, True), ("model+routes", args.routes, True),
                                    ("routes alone, full samples", args.routes, False)):
            runs = [once(name, routes, reuse) for _ in range(args.repeats)]
            results["runs"][name] = {"seconds": round(statistics.median(r[0] for r in runs), 3),
                                     "checks": runs[0][1], "embedded": runs[0][2]}
        store.close()
    runs = results["runs"]
    print(f"| interval ({embedder.name}, 1 model x {args.routes} routes x {args.calls} calls) "
          "| seconds | checks | prompts embedded |")
    print("|---|---:|---:|---:|")
    for name, run in runs.items():
        print(f"| {name} | {run['seconds']:.2f} | {run['checks']} | {run['embedded']} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
