"""Drift detector evaluation: false alarms, detection delay, and cost per window.

    python bench/drift_eval.py [--window 500] [--stationary 100] [--embedder auto]

Synthetic traffic of one model (``llmpulse.drift.scenarios``), windows of ``--window``
calls, the reference is the first window:

- **false alarms**: ``--stationary`` stationary windows against the reference (must be 0);
- **detection**: per labelled shift (length, topic, language, latency), 3 stationary
  windows, then the shift, starting half-way through a window (``--shift-offset``); the
  delay is the number of windows, counting the one the shift starts in, until the first
  drift verdict (must be <= 3), also in calls and seconds (at the simulated rate) from the
  shift's first call to the end of that window; the strongest feature there must be one
  the shift moves;
- **cost**: ``detect_drift`` with ``--timing-events`` calls per side (must be < 1 s),
  against the same run's feature extraction and an Evidently ``Report`` (DataDriftPreset)
  over the full-size tables (no subsampling, no embeddings).

Prints a table and writes bench/results/drift_eval.json; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from llmpulse.detectors.groundedness import Embedder
from llmpulse.drift import DriftPolicy, FeatureTable, build_table, detect_drift
from llmpulse.drift.policy import EMBEDDING_METHODS
from llmpulse.drift.scenarios import (
    EXPECTED,
    SHIFTS,
    Shift,
    SimCall,
    SyntheticTraffic,
    records_of,
    scores_of,
)
from llmpulse.models.embedder import load_embedder

ROOT = Path(__file__).resolve().parent
PRE_SHIFT_WINDOWS = 3
MAX_DELAY_WINDOWS = 3
MAX_SECONDS = 1.0


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class CachedEmbedder:
    """Prompts repeat (they come from pools): embed each distinct text once."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.cache: dict[str, np.ndarray] = {}

    @property
    def name(self) -> str:
        return self.inner.name

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if missing:
            self.cache.update(zip(missing, self.inner.embed(missing), strict=True))
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([self.cache[t] for t in texts])


def table(calls: list[SimCall], embedder: Embedder, policy: DriftPolicy) -> FeatureTable:
    return build_table(records_of(calls), scores=scores_of(calls), embedder=embedder,
                       max_embedding_rows=policy.max_embedding_rows, seed=policy.seed)


def stationary(args: argparse.Namespace, embedder: Embedder, policy: DriftPolicy
               ) -> dict[str, Any]:
    """Stationary windows against the reference, under ``policy`` and, for comparison,
    Evidently's default per-column method choice and thresholds."""
    defaults = replace(policy, column_tests="evidently_defaults")
    traffic = SyntheticTraffic(args.seed)
    reference = table(traffic.calls(args.window * args.reference_windows), embedder, policy)
    alarms: list[dict[str, Any]] = []
    default_alarms: dict[str, int] = {}
    closest: dict[str, float] = {}
    for index in range(1, args.stationary + 1):
        current = table(traffic.calls(args.window), embedder, policy)
        report = detect_drift(reference, current, policy)
        for feature, severity in report.scores().items():
            closest[feature] = max(closest.get(feature, 0.0), severity)
        if report.status == "drift":
            alarms.append({"window": index, "reason": report.reason})
        baseline = detect_drift(reference, current, defaults)
        default_alarms["windows"] = default_alarms.get("windows", 0) + baseline.drifted
        for feature in baseline.drifted_features:
            default_alarms[feature] = default_alarms.get(feature, 0) + 1
    return {"windows": args.stationary, "events_per_window": args.window,
            "reference_events": reference.n_events,
            "false_alarms": len(alarms), "alarms": alarms,
            "max_severity_by_feature": {k: round(v, 3) for k, v in sorted(closest.items())},
            "baseline_evidently_defaults_false_alarms": default_alarms.pop("windows", 0),
            "baseline_evidently_defaults_by_feature": dict(sorted(default_alarms.items()))}


def shift_run(shift: Shift, offset: int, args: argparse.Namespace, embedder: Embedder,
              policy: DriftPolicy) -> dict[str, Any]:
    traffic = SyntheticTraffic(args.seed + 100 * offset)
    reference = table(traffic.calls(args.window * args.reference_windows), embedder, policy)
    pre = [detect_drift(reference, table(traffic.calls(args.window), embedder, policy), policy)
           for _ in range(PRE_SHIFT_WINDOWS)]
    before = round(args.shift_offset * args.window)  # the shift starts inside a window
    windows = [traffic.calls(before)]
    shift_at = traffic.now
    windows[0] += traffic.calls(args.window - before, shift)
    windows += [traffic.calls(args.window, shift) for _ in range(args.post - 1)]
    post = [detect_drift(reference, table(calls, embedder, policy), policy) for calls in windows]
    hits = [i for i, r in enumerate(post, start=1) if r.drifted]
    delay = hits[0] if hits else None
    top = post[delay - 1].top_feature if delay else None
    expected = EXPECTED[shift]
    return {
        "shift": shift, "expected_features": sorted(expected),
        "false_alarms_before_shift": sum(r.drifted for r in pre),
        "delay_windows": delay,
        "delay_events": delay * args.window - before if delay else None,
        "delay_seconds": (delay * args.window - before) / traffic.rate if delay else None,
        "shift_started": shift_at.isoformat(),
        "top_feature": top, "top_is_shifted": top in expected,
        "detected_windows": f"{len(hits)}/{args.post}",
        "top_features_per_window": [r.top_feature for r in post],
        "drifted_features_at_detection": list(post[delay - 1].drifted_features) if delay
        else [],
        "passed": bool(delay and delay <= MAX_DELAY_WINDOWS and top in expected
                       and not any(r.drifted for r in pre)),
    }


def _timed(fn: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def _evidently_report(reference: FeatureTable, current: FeatureTable) -> Callable[[], object]:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    def frame(t: FeatureTable) -> pd.DataFrame:
        return pd.DataFrame({**t.numeric, **{k: v.astype(str) for k, v in
                                             t.categorical.items()}})

    definition = DataDefinition(numerical_columns=list(reference.numeric),
                                categorical_columns=list(reference.categorical))
    ref = Dataset.from_pandas(frame(reference), data_definition=definition)
    cur = Dataset.from_pandas(frame(current), data_definition=definition)
    return lambda: Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)


def cost(args: argparse.Namespace, embedder: Embedder, policy: DriftPolicy) -> dict[str, Any]:
    traffic = SyntheticTraffic(args.seed + 1000)
    sides = [traffic.calls(args.timing_events) for _ in range(2)]
    records = [records_of(side) for side in sides]
    scores = [scores_of(side) for side in sides]
    extract = _timed(lambda: [build_table(r, scores=s) for r, s in zip(records, scores,
                                                                         strict=True)],
                     args.repeats)
    started = time.perf_counter()
    reference, current = (table(side, embedder, policy) for side in sides)
    embed_s = time.perf_counter() - started
    detect_drift(reference, current, policy)  # warm-up: Evidently and sklearn imports
    detect = _timed(lambda: detect_drift(reference, current, policy), args.repeats)
    report = _timed(_evidently_report(reference, current), max(1, args.repeats // 2))
    by_method = {method: statistics.median(_timed(partial(
        detect_drift, reference, current, replace(policy, embedding_method=method)), 3))
        for method in EMBEDDING_METHODS}
    median = statistics.median(detect)
    return {
        "events_per_side": args.timing_events,
        "rows_tested_per_side": min(args.timing_events, policy.max_rows),
        "embedding_rows_per_side": min(args.timing_events, policy.max_embedding_rows),
        "detect_drift_s": {"median": median, "max": max(detect)},
        "baseline_feature_extraction_s": statistics.median(extract),
        "baseline_evidently_report_full_s": statistics.median(report),
        "detect_drift_s_by_embedding_method": by_method,
        "excluded_embedding_s": {"prompts": 2 * min(args.timing_events,
                                                    policy.max_embedding_rows),
                                 "seconds": embed_s},
        "passed": median < MAX_SECONDS,
    }


def print_table(result: dict[str, Any]) -> None:
    s = result["stationary"]
    print(f"embedder: {result['embedder']}; windows of {s['events_per_window']} calls")
    print(f"stationary: {s['false_alarms']} false alarms in {s['windows']} windows "
          f"(reference: {s['reference_events']} calls); with Evidently's default tests and "
          f"thresholds: {s['baseline_evidently_defaults_false_alarms']}")
    print(f"{'shift':<10}{'delay (win)':>12}{'events':>8}{'seconds':>9}  "
          f"{'top feature':<18}{'ok':>4}  detected")
    for r in result["shifts"]:
        print(f"{r['shift']:<10}{r['delay_windows'] or '-':>12}{r['delay_events'] or '-':>8}"
              f"{r['delay_seconds'] or '-':>9}  {r['top_feature'] or '-':<18}"
              f"{'yes' if r['passed'] else 'NO':>4}  {r['detected_windows']}")
    c = result["cost"]
    print(f"cost at {c['events_per_side']} calls per side: detect_drift "
          f"{c['detect_drift_s']['median']:.3f} s (max {c['detect_drift_s']['max']:.3f}); "
          f"feature extraction {c['baseline_feature_extraction_s']:.3f} s; Evidently Report "
          f"(full size, no embeddings) {c['baseline_evidently_report_full_s']:.3f} s")
    print("detect_drift by embedding method: " + ", ".join(
        f"{m} {t:.3f} s" for m, t in c["detect_drift_s_by_embedding_method"].items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--reference-windows", type=int, default=4,
                        help="the reference is the first N windows")
    parser.add_argument("--stationary", type=int, default=100)
    parser.add_argument("--post", type=int, default=5, help="windows after each shift")
    parser.add_argument("--shift-offset", type=float, default=0.5,
                        help="where in its first window the shift starts (0: at the start)")
    parser.add_argument("--embedder", choices=("auto", "minilm", "hashing"), default="auto")
    parser.add_argument("--timing-events", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "drift_eval.json")
    args = parser.parse_args()
    policy = DriftPolicy(seed=args.seed)
    embedder = CachedEmbedder(load_embedder(args.embedder))
    log(f"embedder {embedder.name}; {args.stationary} stationary windows ...")
    result: dict[str, Any] = {"embedder": embedder.name, "policy": policy.as_dict(),
                              "stationary": stationary(args, embedder, policy)}
    log("shifts ...")
    result["shifts"] = [shift_run(s, i, args, embedder, policy)
                        for i, s in enumerate(SHIFTS, start=1)]
    log(f"cost at {args.timing_events} calls per side ...")
    result["cost"] = cost(args, embedder, policy)
    result["passed"] = bool(result["stationary"]["false_alarms"] == 0
                            and all(r["passed"] for r in result["shifts"])
                            and result["cost"]["passed"])
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print_table(result)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
