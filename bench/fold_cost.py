"""Cost of the prompt-version grouping in the cheap path's fold, same run.

    python bench/fold_cost.py              # writes bench/results/fold_cost.json
    python bench/fold_cost.py --calls 5000 --repeats 3   # a quick look

``windows.fold`` turns each batch of calls into partial aggregates per (group, pane),
once per grouping.  The baseline folds with the two groupings the worker used before
prompt versions were a dimension ((model, route, tenant) and the model overall); the
current worker folds with ``STANDARD_GROUPINGS``, which adds (model, prompt_version).
Calls: ``--calls`` records over 4 models x 6 routes x 3 tenants x 5 prompt versions,
spread over 60 s (12 panes of 5 s), in batches of ``--batch`` (the worker's batch
size), with realistic latencies and token counts.  Each way is timed ``--repeats``
times, taking turns; the fastest pass counts.  Partials per batch are counted too: they
are what goes to ``llm.windows``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from llmpulse.records import InferenceRecord
from llmpulse.windows import STANDARD_GROUPINGS, fold

BEFORE = (("model", "route", "tenant"), ("model",))
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def records(n: int, seed: int = 7) -> list[InferenceRecord]:
    rng = random.Random(seed)
    models = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash"]
    routes = ["chat", "rag", "summarize", "classify", "extract", "agent"]
    out = []
    for i in range(n):
        end = T0 + timedelta(seconds=60 * i / n)
        duration = rng.lognormvariate(0.0, 0.8)
        out.append(InferenceRecord(
            request_id=f"r{i}", join_status="inference", provider="openai",
            request_model=rng.choice(models), response_model=None, operation="chat",
            start_time=end - timedelta(seconds=duration), end_time=end,
            tenant=f"t{rng.randrange(3)}", route=rng.choice(routes),
            input_tokens=rng.randrange(50, 4000), output_tokens=rng.randrange(10, 800),
            time_to_first_chunk=duration * 0.2, finish_reasons=("stop",),
            prompt_template_id="answer", prompt_template_version=f"v{rng.randrange(5)}"))
    return out


def run(calls: list[InferenceRecord], groupings: tuple[tuple[str, ...], ...], batch: int
        ) -> tuple[float, int]:
    partials = 0
    start = time.perf_counter()
    for i in range(0, len(calls), batch):
        partials += len(fold(((c, 0.001) for c in calls[i:i + batch]), groupings, 5.0))
    return time.perf_counter() - start, partials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/results/fold_cost.json"))
    args = parser.parse_args()
    calls = records(args.calls)
    best = {"before": float("inf"), "current": float("inf")}
    partials = {}
    for _ in range(args.repeats):
        for name, groupings in (("before", BEFORE), ("current", STANDARD_GROUPINGS)):
            seconds, partials[name] = run(calls, groupings, args.batch)
            best[name] = min(best[name], seconds)
    result = {
        "calls": args.calls, "batch": args.batch, "repeats": args.repeats,
        "python": platform.python_version(),
        "before": {"groupings": len(BEFORE), "calls_per_s": args.calls / best["before"],
                   "partials": partials["before"]},
        "current": {"groupings": len(STANDARD_GROUPINGS),
                    "calls_per_s": args.calls / best["current"],
                    "partials": partials["current"]},
        "time_ratio_current_over_before": best["current"] / best["before"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
