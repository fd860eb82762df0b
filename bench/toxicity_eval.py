"""Toxicity scorers on the held-out split of the shipped corpus: the lexicon (lexicon@1)
next to the MiniLM classifier with the lexicon (lexicon+minilm@2), and both on CPU.

    python bench/toxicity_eval.py [--threads 2] [--batch-size 32] [--rounds 3]

The classifier is trained as the scorer trains it at start-up: on the corpus' training
split only (cross-validation there picks the L2 strength, the calibration and the
threshold).  The held-out split is scored once.  Printed:

- ROC-AUC overall, and implicit toxicity (implicit, threat, dehumanisation, harassment)
  against the hard clean texts (fiction, news about violence, medicine, quotation,
  reclaimed terms);
- per category: a toxic category's texts against every held-out clean text, a clean
  category's texts against every held-out toxic text;
- precision and recall at each scorer's default threshold (0.5 for the lexicon, the
  cross-validated one for the classifier);
- the same on tests/data/toxicity_set.jsonl (160 texts written apart from the corpus);
- texts/s of each scorer (``--batch-size`` texts per call, as the scorer sends them, best
  of ``--rounds``) on the held-out texts (12 words on average) and on the 10-60 word
  texts of bench/toxicity_speed.py, the MiniLM load time and the training time;

then one JSON line with the same numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmpulse.detectors.toxicity import LexiconToxicityModel, ToxicityModel
from llmpulse.detectors.toxicity_classifier import (
    HARD_CLEAN,
    IMPLICIT,
    NEGATIVE_CATEGORIES,
    POSITIVE_CATEGORIES,
    LabelledText,
    train_model,
)
from llmpulse.evaluation import precision_recall, roc_auc
from llmpulse.models.embedder import MiniLMEmbedder
from llmpulse.models.toxicity_classifier import load_corpus

EXTERNAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "toxicity_set.jsonl"
LONGER_TEXTS = 256


def scores_of(model: ToxicityModel, texts: Sequence[str], batch_size: int) -> list[float]:
    return [row["toxicity"] for start in range(0, len(texts), batch_size)
            for row in model.predict(texts[start:start + batch_size])]


def split_scores(rows: Sequence[LabelledText], scores: Sequence[float], toxic: Sequence[str],
                 clean: Sequence[str]) -> tuple[list[float], list[float]]:
    pos = [s for r, s in zip(rows, scores, strict=True) if r.category in toxic]
    neg = [s for r, s in zip(rows, scores, strict=True) if r.category in clean]
    return pos, neg


def quality(rows: Sequence[LabelledText], scores: Sequence[float],
            threshold: float) -> dict[str, Any]:
    pos, neg = split_scores(rows, scores, POSITIVE_CATEGORIES, NEGATIVE_CATEGORIES)
    precision, recall = precision_recall(pos, neg, threshold)
    per_category = {}
    for category in POSITIVE_CATEGORIES:
        mine, _ = split_scores(rows, scores, (category,), ())
        per_category[category] = roc_auc(mine, neg)
    for category in NEGATIVE_CATEGORIES:
        _, mine = split_scores(rows, scores, (), (category,))
        per_category[category] = roc_auc(pos, mine)
    return {"auc": roc_auc(pos, neg),
            "auc_implicit_vs_hard_clean": roc_auc(*split_scores(rows, scores, IMPLICIT,
                                                                HARD_CLEAN)),
            "auc_per_category": per_category, "threshold": threshold,
            "precision": precision, "recall": recall,
            "flagged_clean": {c: sum(s >= threshold for s in split_scores(rows, scores, (),
                                                                         (c,))[1])
                              for c in NEGATIVE_CATEGORIES},
            "missed_toxic": {c: sum(s < threshold for s in split_scores(rows, scores, (c,),
                                                                       ())[0])
                             for c in POSITIVE_CATEGORIES}}


def external(model: ToxicityModel, batch_size: int) -> dict[str, float]:
    cases = [json.loads(line) for line in EXTERNAL.read_text(encoding="utf-8").splitlines()
             if line]
    scores = scores_of(model, [c["text"] for c in cases], batch_size)
    pos = [s for c, s in zip(cases, scores, strict=True) if c["toxic"]]
    neg = [s for c, s in zip(cases, scores, strict=True) if not c["toxic"]]
    precision, recall = precision_recall(pos, neg, model.threshold)
    return {"auc": roc_auc(pos, neg), "precision": precision, "recall": recall}


def texts_per_s(model: ToxicityModel, texts: Sequence[str], batch_size: int,
                rounds: int) -> float:
    scores_of(model, texts[:batch_size], batch_size)  # warm-up
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        scores_of(model, texts, batch_size)
        best = min(best, time.perf_counter() - started)
    return len(texts) / best


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from toxicity_speed import realistic_texts

    longer = realistic_texts(LONGER_TEXTS, seed=0)
    corpus = load_corpus()
    held = [row for row in corpus if row.split == "heldout"]
    texts = [row.text for row in held]
    started = time.perf_counter()
    embedder = MiniLMEmbedder(threads=args.threads, batch_size=args.batch_size)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    new = train_model(embedder, corpus)
    train_s = time.perf_counter() - started
    old = LexiconToxicityModel()
    models: dict[str, ToxicityModel] = {"lexicon@1": old, new.scorer: new}
    result: dict[str, Any] = {
        "bench": "toxicity_eval", "train_texts": len(corpus) - len(held),
        "heldout_texts": len(held), "threads": args.threads, "batch_size": args.batch_size,
        "cpu": cpu_name(), "cpu_count": os.cpu_count(), "minilm_load_s": load_s,
        "train_s": train_s, "l2": new.classifier.l2, "cv_auc": new.classifier.cv_auc,
        "calibration": list(new.classifier.calibration)}
    for name, model in models.items():
        result[name] = {
            "heldout": quality(held, scores_of(model, texts, args.batch_size), model.threshold),
            "external": external(model, args.batch_size),
            "texts_per_s": texts_per_s(model, texts, args.batch_size, args.rounds),
            "longer_texts_per_s": texts_per_s(model, longer, args.batch_size, args.rounds)}
    return result


def print_table(result: dict[str, Any]) -> None:
    names = [k for k in result if "@" in k]
    print(f"held-out split: {result['heldout_texts']} texts (trained on "
          f"{result['train_texts']}); {result['cpu']}, {result['threads']} threads, "
          f"batch {result['batch_size']}")
    print(f"{'':<34}" + "".join(f"{name:>20}" for name in names))

    def line(title: str, values: Sequence[float], fmt: str = "{:>20.3f}") -> None:
        print(f"{title:<34}" + "".join(fmt.format(v) for v in values))

    held = [result[name]["heldout"] for name in names]
    line("ROC-AUC, all", [h["auc"] for h in held])
    line("ROC-AUC, implicit vs hard clean", [h["auc_implicit_vs_hard_clean"] for h in held])
    for category in (*POSITIVE_CATEGORIES, *NEGATIVE_CATEGORIES):
        line(f"  {category}", [h["auc_per_category"][category] for h in held])
    line("threshold", [h["threshold"] for h in held])
    line("precision", [h["precision"] for h in held])
    line("recall", [h["recall"] for h in held])
    ext = [result[name]["external"] for name in names]
    line("toxicity_set.jsonl ROC-AUC", [e["auc"] for e in ext])
    line("toxicity_set.jsonl precision", [e["precision"] for e in ext])
    line("toxicity_set.jsonl recall", [e["recall"] for e in ext])
    line("texts/s, held-out texts", [result[name]["texts_per_s"] for name in names],
         "{:>20.0f}")
    line("texts/s, 10-60 words", [result[name]["longer_texts_per_s"] for name in names],
         "{:>20.0f}")
    print(f"MiniLM load {result['minilm_load_s']:.1f} s, training {result['train_s']:.2f} s "
          f"(l2 {result['l2']}, cross-validated AUC {result['cv_auc']:.3f})")
    print(json.dumps(result, sort_keys=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    print_table(run(parser.parse_args()))


if __name__ == "__main__":
    main()
