"""Groundedness with an NLI cross-encoder exported to ONNX.

The model folder holds ``model.onnx``, ``tokenizer.json`` (Hugging Face ``tokenizers``
format, pair-aware) and ``config.json`` whose ``id2label`` names the classes.  Each answer
sentence is the hypothesis and each candidate context chunk the premise; the sentence's
match strength is its highest entailment probability.  A confident contradiction by any
chunk counts like a negation conflict, and the shared fact check of
:mod:`llmpulse.detectors.groundedness` applies on top.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from llmpulse.detectors.groundedness import (
    GroundednessResult,
    PreparedItem,
    ScoringRules,
    assess,
    prepare_item,
)
from llmpulse.detectors.text_facts import content_words, stem
from llmpulse.errors import ConfigError
from llmpulse.models.onnx_runtime import create_session

MODEL_FILES = ("model.onnx", "tokenizer.json", "config.json")
#: Entailment is already a probability; a confident contradiction counts as a failed
#: polarity check.
NLI_RULES = ScoringRules(center=None)


def label_indices(config: Mapping[str, Any]) -> tuple[int, int]:
    """(entailment, contradiction) class indices from ``id2label``, matched case-insensitively."""
    labels = {int(index): str(name).lower() for index, name in
              dict(config.get("id2label") or {}).items()}
    found = {}
    for wanted in ("entailment", "contradiction"):
        matches = [index for index, name in labels.items() if name.startswith(wanted[:7])]
        if len(matches) != 1:
            raise ConfigError(f"config.json id2label {sorted(labels.values())} needs exactly one "
                              f"{wanted!r} label")
        found[wanted] = matches[0]
    return found["entailment"], found["contradiction"]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True), dtype=np.float32)


class NliGroundedness:
    """Batched NLI scoring of answer sentences against their most word-similar chunks."""

    def __init__(self, model_dir: str | Path, *, prefer_gpu: bool = True,
                 threads: int | None = None, batch_size: int = 16, max_length: int = 256,
                 top_chunks: int = 4, contradiction_threshold: float = 0.5,
                 rules: ScoringRules = NLI_RULES) -> None:
        folder = Path(model_dir)
        missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
        if missing:
            raise ConfigError(f"NLI model folder {folder} lacks {', '.join(missing)}")
        if batch_size < 1 or top_chunks < 1:
            raise ConfigError("NliGroundedness needs batch_size >= 1 and top_chunks >= 1")
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self.entailment, self.contradiction = label_indices(config)
        self._tokenizer = _load_tokenizer(folder / "tokenizer.json", config, max_length)
        self._session, self.providers = create_session(
            folder / "model.onnx", prefer_gpu=prefer_gpu, threads=threads)
        self._inputs = [node.name for node in self._session.get_inputs()]
        self.model_name = str(config.get("_name_or_path") or folder.name).rstrip("/")
        self.batch_size, self.top_chunks = batch_size, top_chunks
        self.contradiction_threshold = contradiction_threshold
        self.rules = rules

    @property
    def scorer(self) -> str:
        providers = "+".join(p.removesuffix("ExecutionProvider") for p in self.providers)
        return f"nli:{self.model_name}@1[{providers}]"

    def probabilities(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Class probabilities, shape (len(pairs), labels), for (premise, hypothesis) pairs."""
        batches = [self._run(pairs[start:start + self.batch_size])
                   for start in range(0, len(pairs), self.batch_size)]
        return np.concatenate(batches) if batches else np.zeros((0, 3), np.float32)

    def _run(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(list(pairs))
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        feed = {name: np.asarray(columns[name], dtype=np.int64) for name in self._inputs}
        logits = self._session.run(None, feed)[0]
        return softmax(np.asarray(logits, dtype=np.float32))

    def score_many(
        self, items: Sequence[tuple[str, Sequence[str]]]
    ) -> list[GroundednessResult]:
        prepared = [prepare_item(answer, contexts) for answer, contexts in items]
        candidates = [self._candidates(item) for item in prepared]
        pairs = list(dict.fromkeys(
            (item.chunks[c], sentence) for item, rows in zip(prepared, candidates, strict=True)
            for sentence, chunk_ids in zip(item.sentences, rows, strict=True) for c in chunk_ids))
        probs = self.probabilities(pairs)
        row_of = {pair: row for row, pair in enumerate(pairs)}
        return [self._result(item, rows, probs, row_of)
                for item, rows in zip(prepared, candidates, strict=True)]

    def _candidates(self, item: PreparedItem) -> list[list[int]]:
        """Per sentence, the chunks sharing most content words (all of them if few)."""
        chunk_stems = [{stem(w) for w in content_words(c)} for c in item.chunks]
        chosen = []
        for sentence in item.sentences:
            stems = {stem(w) for w in content_words(sentence)}
            ranked = sorted(range(len(chunk_stems)), key=lambda i: -len(stems & chunk_stems[i]))
            chosen.append(sorted(ranked[:self.top_chunks]))
        return chosen

    def _result(self, item: PreparedItem, rows: list[list[int]], probs: np.ndarray,
                row_of: dict[tuple[str, str], int]) -> GroundednessResult:
        matches = np.zeros((len(item.sentences), len(item.chunks)), dtype=np.float32)
        conflicts = []
        for index, (sentence, chunk_ids) in enumerate(zip(item.sentences, rows, strict=True)):
            found = [probs[row_of[(item.chunks[c], sentence)]] for c in chunk_ids]
            for chunk, prob in zip(chunk_ids, found, strict=True):
                matches[index, chunk] = prob[self.entailment]
            conflicts.append(any(p[self.contradiction] >= self.contradiction_threshold
                                 for p in found))
        return assess(item, matches, self.rules, self.scorer, conflicts)


def _load_tokenizer(path: Path, config: Mapping[str, Any], max_length: int) -> Any:
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise ConfigError("the tokenizers package is needed: pip install 'llmpulse[cpu]'") from exc
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length=max_length)
    pad_id = int(config.get("pad_token_id") or 0)
    tokenizer.enable_padding(pad_id=pad_id, pad_token=tokenizer.id_to_token(pad_id) or "[PAD]")
    return tokenizer
