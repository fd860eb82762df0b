"""Release comparison evaluation: false alarms under continuous monitoring, and power.

    python bench/compare_eval.py [--seeds 500] [--every 50] [--calls 2000]

Synthetic canaries (``llmpulse.release.scenarios``): both sides grow together and the
comparison is repeated every ``--every`` calls up to ``--calls`` per side.

- **A/A, all 18 signals**: how many canaries of two identical releases ever get a
  ``rollback`` verdict, and ever get any significant change (Holm-adjusted p <= alpha):
  both must be <= alpha;
- **A/A, one signal, no other correction**: the always-valid test against the
  fixed-sample z-test repeated at every look (the naive check), on the error rate;
- **power**: per planted regression of practical size, the share of canaries where its
  signal reaches ``rollback`` by ``--calls``, and the median calls per side until then.

Prints a table and writes bench/results/compare_eval.json; exits 1 when the A/A false
alarm rate exceeds alpha.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from statistics import NormalDist
from typing import Any

from llmpulse.release.compare import compare
from llmpulse.release.scenarios import PLANTED, Traffic, head
from llmpulse.release.signals import pick

ROOT = Path(__file__).resolve().parent
ALPHA = 0.05


def aa_all_signals(seeds: int, looks: range) -> dict[str, float]:
    rollback = significant = 0
    for seed in range(seeds):
        a, b = Traffic().calls(looks[-1], 2 * seed), Traffic().calls(looks[-1], 2 * seed + 1)
        results = [compare(head(a, n), head(b, n)) for n in looks]
        rollback += any(c.verdict == "rollback" for c in results)
        significant += any(r.p_adjusted is not None and r.p_adjusted <= ALPHA
                           for c in results for r in c.results)
    return {"rollback": rollback / seeds, "any_significant": significant / seeds}


def aa_one_signal(seeds: int, looks: range) -> dict[str, float]:
    """The error rate alone: always-valid p-value vs the fixed-sample z-test, both at
    alpha, checked at every look."""
    z = NormalDist().inv_cdf(1 - ALPHA / 2)
    specs = pick(["error_rate"])
    naive = valid = 0
    for seed in range(seeds):
        a, b = Traffic().calls(looks[-1], 2 * seed), Traffic().calls(looks[-1], 2 * seed + 1)
        naive_hit = valid_hit = False
        for n in looks:
            pa, pb = float(a["error"][:n].mean()), float(b["error"][:n].mean())
            se = math.sqrt((pa * (1 - pa) + pb * (1 - pb)) / n)
            naive_hit |= se > 0 and abs(pb - pa) / se > z
            effect = compare(head(a, n), head(b, n), specs).results[0].effect
            valid_hit |= effect is not None and effect.p_value <= ALPHA
        naive += naive_hit
        valid += valid_hit
    return {"always_valid": valid / seeds, "fixed_sample_repeated": naive / seeds}


def power(seeds: int, looks: range) -> dict[str, dict[str, Any]]:
    out = {}
    for signal, change in PLANTED.items():
        candidate = replace(Traffic(), **change)  # type: ignore[arg-type]
        found: list[int] = []
        for seed in range(seeds):
            a, b = Traffic().calls(looks[-1], 2 * seed), candidate.calls(looks[-1], 2 * seed + 1)
            for n in looks:
                if compare(head(a, n), head(b, n)).by_name(signal).verdict == "rollback":
                    found.append(n)
                    break
        out[signal] = {"change": change, "power": len(found) / seeds,
                       "median_calls": statistics.median(found) if found else None}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=500)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    looks = range(args.every, args.calls + 1, args.every)
    started = time.perf_counter()
    result = {"seeds": args.seeds, "every": args.every, "calls": args.calls, "alpha": ALPHA,
              "aa_all_signals": aa_all_signals(args.seeds, looks),
              "aa_error_rate": aa_one_signal(args.seeds, looks),
              "power": power(max(args.seeds // 5, 20), looks)}
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(f"A/A, all signals, {args.seeds} canaries: rollback "
          f"{result['aa_all_signals']['rollback']:.3f}, any significant change "
          f"{result['aa_all_signals']['any_significant']:.3f} (alpha {ALPHA})")
    print(f"A/A, error rate alone: always-valid {result['aa_error_rate']['always_valid']:.3f}"
          f", fixed-sample test repeated "
          f"{result['aa_error_rate']['fixed_sample_repeated']:.3f}")
    for signal, p in result["power"].items():
        print(f"  {signal:18} {json.dumps(p['change']):50} power {p['power']:.2f}  "
              f"median calls {p['median_calls']}")
    out = ROOT / "results" / "compare_eval.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["aa_all_signals"]["any_significant"] <= ALPHA else 1


if __name__ == "__main__":
    sys.exit(main())
