"""Texts/s of Detoxify (PyTorch) next to llmpulse's ONNX toxicity model, same texts, same run.

    python bench/toxicity_speed.py                                  # BERT-base size
    python bench/toxicity_speed.py --hidden 64 --layers 2 --texts 64   # a quick look

The model has random weights but Detoxify "original"'s shape (BERT-base: hidden 768,
12 layers, 12 heads, intermediate 3072), built offline by ``tests/harness/tiny_models.py``
and exported with ``llmpulse.models.export``.  Its vocabulary is small, so most words are
one [UNK] token; sequence lengths (and so the work) follow the word counts.

Every model runs ``--batch-size`` texts at a time, on the CPU with ``--threads`` threads,
tokenisation included, in four ways:

- ``pytorch``: Detoxify on batches in input order;
- ``pytorch_sorted``: Detoxify on the same texts batched by token count (less padding);
- ``onnx_batches``: the ONNX model given the input-order batches one by one;
- ``onnx``: the ONNX model given all texts at once; it batches them by token count itself,
  as the scorer does with each chunk it gets.

Each is warmed up, then timed ``--repeats`` times, taking turns so that a slow spell on a
shared machine hits all of them; the fastest pass counts.  ``onnx / pytorch`` is the gain a
user sees; ``onnx / pytorch_sorted`` is the like-for-like one.  The lexicon fallback is
timed on the same texts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
SENTENCES = (
    "Thanks for reaching out, I checked your account and the refund was sent this morning.",
    "To restart the service, stop the worker first and then run the deploy script again.",
    "The report shows that revenue grew by eight percent while costs stayed flat.",
    "You are an idiot if you think this is going to work.",
    "Could you send me the slides from yesterday's meeting before noon?",
    "I hate how slow this build is, it takes forever on my laptop.",
    "The function returns an empty list when the input has no valid rows.",
    "Nobody on this team knows what they are doing, honestly.",
    "Here is a short summary of the article in three bullet points.",
    "Kill the process with kill -9 if it does not respond to the signal.",
    "Our support hours are nine to five on weekdays, except public holidays.",
    "That answer was garbage and you should be ashamed of it.",
    "The weather tomorrow looks sunny with a light wind from the west.",
    "Please make sure the migration runs before the new version goes live.",
    "What a stupid question, read the documentation before asking.",
    "The recipe needs two cups of flour, one egg and a pinch of salt.",
    "If the tests fail again, open an issue and tag the on-call engineer.",
    "I will find you and make you regret this.",
    "The patient should rest for a week and avoid heavy lifting.",
    "Our new pricing plan starts at ten dollars per month for small teams.",
)


def realistic_texts(count: int, seed: int) -> list[str]:
    """``count`` texts of 10 to 60 words, cut from a mix of helpful and rude sentences."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        words: list[str] = []
        target = rng.randint(10, 60)
        while len(words) < target:
            words.extend(rng.choice(SENTENCES).split())
        texts.append(" ".join(words[:target]))
    return texts


def batches(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[start:start + size]) for start in range(0, len(items), size)]


Rows = list[dict[str, float]]


def by_length(lengths: Sequence[int]) -> list[int]:
    """Text indices ordered by token count (ties in input order)."""
    return sorted(range(len(lengths)), key=lambda i: lengths[i])


def padded_tokens(lengths: Sequence[int], size: int) -> int:
    """Tokens the model computes when ``lengths`` go ``size`` at a time, each padded to its
    batch's longest."""
    return sum(len(group) * max(group) for group in batches(lengths, size))


def torch_rows(result: dict[str, Any], labels: Sequence[str]) -> Rows:
    """Detoxify's label -> list (or float, for one text) as one dict per text."""
    columns = {label: v if isinstance(v, list) else [v] for label, v in result.items()}
    return [dict(zip(labels, values, strict=True))
            for values in zip(*(columns[label] for label in labels), strict=True)]


def best_passes(passes: dict[str, Callable[[], Rows]], repeats: int
                ) -> tuple[dict[str, float], dict[str, Rows]]:
    """Fastest of ``repeats`` timed passes per name, taking turns; each pass's rows."""
    seconds = dict.fromkeys(passes, float("inf"))
    rows: dict[str, Rows] = {}
    for _ in range(repeats):
        for name, run_pass in passes.items():
            started = time.perf_counter()
            rows[name] = run_pass()
            seconds[name] = min(seconds[name], time.perf_counter() - started)
    return seconds, rows


def max_diff(expected: Rows, got: Rows) -> float:
    return max(abs(a[label] - b[label]) for a, b in zip(expected, got, strict=True)
               for label in b)


def lexicon_rate(texts: Sequence[str], min_seconds: float = 1.0) -> float:
    from llmpulse.detectors.toxicity import LexiconToxicityModel

    model = LexiconToxicityModel()
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < min_seconds:
        model.predict(texts)
        done += len(texts)
    return done / elapsed


def make_passes(detox: Any, onnx: Any, texts: list[str], order: list[int],
                size: int) -> dict[str, Callable[[], Rows]]:
    """The four ways of scoring ``texts``, each returning rows in input order."""
    in_order = batches(texts, size)
    sorted_groups = batches([texts[i] for i in order], size)

    def pytorch(groups: list[list[str]]) -> Rows:
        return [row for group in groups for row in torch_rows(detox.predict(group), onnx.labels)]

    def pytorch_sorted() -> Rows:
        rows: Rows = [{} for _ in texts]
        for index, row in zip(order, pytorch(sorted_groups), strict=True):
            rows[index] = row
        return rows

    return {
        "pytorch": lambda: pytorch(in_order),
        "pytorch_sorted": pytorch_sorted,
        "onnx_batches": lambda: [row for group in in_order for row in onnx.predict(group)],
        "onnx": lambda: list(onnx.predict(texts)),
    }


def measure(detox: Any, onnx: Any, texts: list[str], lengths: list[int],
            args: argparse.Namespace) -> dict[str, Any]:
    """Texts/s of each pass, the ratios and the largest score differences."""
    for group in batches(texts, args.batch_size)[:args.warmup]:
        detox.predict(group)
        onnx.predict(group)
    passes = make_passes(detox, onnx, texts, by_length(lengths), args.batch_size)
    seconds, rows = best_passes(passes, args.repeats)
    rate = {name: len(texts) / value for name, value in seconds.items()}
    return {
        **{f"{name}_texts_per_s": value for name, value in rate.items()},
        "onnx_over_pytorch": rate["onnx"] / rate["pytorch"],
        "onnx_over_pytorch_sorted": rate["onnx"] / rate["pytorch_sorted"],
        "onnx_batches_over_pytorch": rate["onnx_batches"] / rate["pytorch"],
        "max_abs_diff": max(max_diff(rows["pytorch"], rows[name])
                            for name in ("onnx", "onnx_batches")),
        "max_abs_diff_sorted": max_diff(rows["pytorch_sorted"], rows["onnx"]),
        "pytorch_sorted_vs_pytorch_diff": max_diff(rows["pytorch"], rows["pytorch_sorted"]),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import torch

    from llmpulse.models.export import export_toxicity, load_detoxify
    from llmpulse.models.toxicity_onnx import OnnxToxicityModel
    from tests.harness.tiny_models import build_tiny_detoxify

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="llmpulse-bench-") as tmp:
        checkpoint, hf_dir = build_tiny_detoxify(
            Path(tmp), hidden=args.hidden, layers=args.layers, heads=max(2, args.hidden // 64))
        export = export_toxicity(str(checkpoint), Path(tmp) / "onnx", hf_config_dir=hf_dir,
                                 optimize=not args.no_optimize)
        optimizer = json.loads((Path(tmp) / "onnx" / "llmpulse-model.json").read_text()
                               )["export"]["optimizer"]
        detox = load_detoxify(str(checkpoint), hf_dir)
        onnx = OnnxToxicityModel(Path(tmp) / "onnx", prefer_gpu=False, threads=args.threads,
                                 batch_size=args.batch_size)
        texts = realistic_texts(args.texts, args.seed)
        lengths = [len(ids) for ids in detox.tokenizer(texts, truncation=True)["input_ids"]]
        measured = measure(detox, onnx, texts, lengths, args)
    return {
        "bench": "toxicity_speed", "hidden": args.hidden, "layers": args.layers,
        "batch_size": args.batch_size, "texts": len(texts), "threads": args.threads,
        "repeats": args.repeats, "mean_words": sum(len(t.split()) for t in texts) / len(texts),
        "mean_tokens": sum(lengths) / len(lengths),
        "padded_tokens_in_order": padded_tokens(lengths, args.batch_size),
        "padded_tokens_sorted": padded_tokens(sorted(lengths), args.batch_size),
        **measured, "lexicon_texts_per_s": lexicon_rate(texts),
        "providers": list(onnx.providers), "graph_optimized": bool(optimizer["optimized"]),
        "export_seconds": export.seconds, "export_check_diff": export.max_abs_diff,
        "versions": {name: metadata.version(name)
                     for name in ("torch", "transformers", "onnxruntime", "detoxify")},
    }


ROWS = (
    ("detoxify (pytorch), input order", "pytorch"),
    ("detoxify (pytorch), by length", "pytorch_sorted"),
    ("llmpulse onnx, input-order batches", "onnx_batches"),
    ("llmpulse onnx (sorts itself)", "onnx"),
)


def print_table(result: dict[str, Any]) -> None:
    size = f"hidden {result['hidden']}, {result['layers']} layers"
    print(f"{result['texts']} texts ({result['mean_words']:.0f} words, "
          f"{result['mean_tokens']:.0f} tokens on average), batch {result['batch_size']}, "
          f"{result['threads']} threads, {size}, best of {result['repeats']}")
    print(f"padded tokens: {result['padded_tokens_in_order']} in input order, "
          f"{result['padded_tokens_sorted']} by length")
    print(f"{'scorer':<40}{'texts/s':>10}")
    for title, name in ROWS:
        print(f"{title:<40}{result[f'{name}_texts_per_s']:>10.1f}")
    print(f"{'lexicon fallback':<40}{result['lexicon_texts_per_s']:>10.0f}")
    print(f"onnx / pytorch: {result['onnx_over_pytorch']:.2f}x   "
          f"onnx / pytorch by length: {result['onnx_over_pytorch_sorted']:.2f}x   "
          f"same batches: {result['onnx_batches_over_pytorch']:.2f}x")
    print(f"max abs diff: {result['max_abs_diff']:.1e} (vs pytorch by length "
          f"{result['max_abs_diff_sorted']:.1e})")
    print(json.dumps(result, sort_keys=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches per backend")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per way")
    parser.add_argument("--no-optimize", action="store_true",
                        help="export without ONNX Runtime's transformer optimizer")
    parser.add_argument("--seed", type=int, default=0)
    print_table(run(parser.parse_args()))


if __name__ == "__main__":
    main()
