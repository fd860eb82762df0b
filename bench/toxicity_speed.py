"""Texts/s of Detoxify (PyTorch) next to llmpulse's ONNX toxicity model, same texts, same run.

    python bench/toxicity_speed.py                                  # BERT-base size
    python bench/toxicity_speed.py --hidden 64 --layers 2 --texts 64   # a quick look

The model has random weights but Detoxify "original"'s shape (BERT-base: hidden 768,
12 layers, 12 heads, intermediate 3072), built offline by ``tests/harness/tiny_models.py``
and exported with ``llmpulse.models.export``.  Its vocabulary is small, so most words are
one [UNK] token; sequence lengths (and so the work) follow the word counts.  Both backends
get the same batches, run on the CPU with as many threads as cores, and are warmed up
first; tokenisation is included in both.  The lexicon fallback is timed on the same texts.
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
from typing import Any

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


def batches(texts: Sequence[str], size: int) -> list[list[str]]:
    return [list(texts[start:start + size]) for start in range(0, len(texts), size)]


def timed(predict: Callable[[list[str]], Any], groups: list[list[str]],
          warmup: int) -> tuple[float, list[Any]]:
    """Seconds for one pass over ``groups`` after ``warmup`` untimed batches; the outputs."""
    for group in groups[:warmup]:
        predict(group)
    started = time.perf_counter()
    outputs = [predict(group) for group in groups]
    return time.perf_counter() - started, outputs


def torch_rows(result: dict[str, Any], labels: Sequence[str]) -> list[dict[str, float]]:
    """Detoxify's label -> list (or float, for one text) as one dict per text."""
    columns = {label: v if isinstance(v, list) else [v] for label, v in result.items()}
    return [dict(zip(labels, values, strict=True))
            for values in zip(*(columns[label] for label in labels), strict=True)]


def lexicon_rate(texts: Sequence[str], min_seconds: float = 1.0) -> float:
    from llmpulse.detectors.toxicity import LexiconToxicityModel

    model = LexiconToxicityModel()
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < min_seconds:
        model.predict(texts)
        done += len(texts)
    return done / elapsed


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
        export = export_toxicity(str(checkpoint), Path(tmp) / "onnx", hf_config_dir=hf_dir)
        detox = load_detoxify(str(checkpoint), hf_dir)
        onnx = OnnxToxicityModel(Path(tmp) / "onnx", prefer_gpu=False, threads=args.threads)
        texts = realistic_texts(args.texts, args.seed)
        groups = batches(texts, args.batch_size)
        torch_s, torch_out = timed(detox.predict, groups, args.warmup)
        onnx_s, onnx_out = timed(onnx.predict, groups, args.warmup)
        tokens = [len(ids) for ids in detox.tokenizer(texts)["input_ids"]]
    labels = onnx.labels
    expected = [row for result in torch_out for row in torch_rows(result, labels)]
    got = [row for rows in onnx_out for row in rows]
    diff = max(abs(a[label] - b[label]) for a, b in zip(expected, got, strict=True)
               for label in labels)
    return {
        "bench": "toxicity_speed", "hidden": args.hidden, "layers": args.layers,
        "batch_size": args.batch_size, "texts": len(texts), "threads": args.threads,
        "mean_words": sum(len(t.split()) for t in texts) / len(texts),
        "mean_tokens": sum(tokens) / len(tokens),
        "pytorch_texts_per_s": len(texts) / torch_s, "onnx_texts_per_s": len(texts) / onnx_s,
        "onnx_over_pytorch": torch_s / onnx_s, "max_abs_diff": diff,
        "lexicon_texts_per_s": lexicon_rate(texts), "providers": list(onnx.providers),
        "export_seconds": export.seconds, "export_check_diff": export.max_abs_diff,
        "versions": {name: metadata.version(name)
                     for name in ("torch", "transformers", "onnxruntime", "detoxify")},
    }


def print_table(result: dict[str, Any]) -> None:
    size = f"hidden {result['hidden']}, {result['layers']} layers"
    print(f"{result['texts']} texts ({result['mean_words']:.0f} words, "
          f"{result['mean_tokens']:.0f} tokens on average), batch {result['batch_size']}, "
          f"{result['threads']} threads, {size}")
    print(f"{'scorer':<28}{'texts/s':>12}")
    print(f"{'detoxify (pytorch)':<28}{result['pytorch_texts_per_s']:>12.1f}")
    print(f"{'llmpulse onnx':<28}{result['onnx_texts_per_s']:>12.1f}")
    print(f"{'lexicon fallback':<28}{result['lexicon_texts_per_s']:>12.0f}")
    print(f"onnx / pytorch: {result['onnx_over_pytorch']:.2f}x   "
          f"max abs diff: {result['max_abs_diff']:.1e}")
    print(json.dumps(result, sort_keys=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches per backend")
    parser.add_argument("--seed", type=int, default=0)
    print_table(run(parser.parse_args()))


if __name__ == "__main__":
    main()
