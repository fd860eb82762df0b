"""Toxicity scores from an exported Detoxify model, run by ONNX Runtime.

A model folder holds ``model.onnx`` (inputs ``input_ids``, ``attention_mask`` and maybe
``token_type_ids``; output ``logits``), ``tokenizer.json`` (a fast tokenizer, read with the
``tokenizers`` library) and ``llmpulse-model.json`` (labels in output order, max_length,
padding token and how the model was exported).  ``llmpulse models export-toxicity`` writes one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmpulse.detectors.toxicity import LexiconToxicityModel, ToxicityModel
from llmpulse.errors import ConfigError
from llmpulse.models.onnx_runtime import INSTALL_HINT, create_session

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Encoding, Tokenizer

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "llmpulse-model.json"
MODEL_FILES = (MODEL_FILE, TOKENIZER_FILE, MANIFEST_FILE)
MANIFEST_FORMAT = 1
#: Graph input name -> attribute of a ``tokenizers.Encoding`` that feeds it.
ENCODING_FIELDS = {"input_ids": "ids", "attention_mask": "attention_mask",
                   "token_type_ids": "type_ids"}
#: Texts per ONNX Runtime run unless the caller says otherwise.
DEFAULT_BATCH_SIZE = 16
_SHORT_PROVIDER = {"TensorrtExecutionProvider": "tensorrt", "CUDAExecutionProvider": "cuda",
                   "CPUExecutionProvider": "cpu"}

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ModelManifest:
    """The contents of ``llmpulse-model.json``."""

    name: str
    labels: tuple[str, ...]
    max_length: int
    pad_id: int
    pad_token: str
    source: str
    export: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        body = {"format": MANIFEST_FORMAT, "kind": "toxicity", "name": self.name,
                "labels": list(self.labels), "max_length": self.max_length,
                "pad_id": self.pad_id, "pad_token": self.pad_token, "source": self.source,
                "export": dict(self.export)}
        return json.dumps(body, indent=2) + "\n"

    @classmethod
    def read(cls, path: Path) -> ModelManifest:
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            manifest = cls(name=str(body["name"]), labels=tuple(map(str, body["labels"])),
                           max_length=int(body["max_length"]), pad_id=int(body["pad_id"]),
                           pad_token=str(body["pad_token"]), source=str(body.get("source", "")),
                           export=dict(body.get("export", {})))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"unreadable model manifest {path}: {exc}") from exc
        if not manifest.labels or manifest.max_length < 2:
            raise ConfigError(f"model manifest {path} needs labels and a max_length of 2 or more")
        return manifest


def missing_files(folder: Path) -> list[str]:
    return [name for name in MODEL_FILES if not (folder / name).is_file()]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def load_tokenizer(path: Path, manifest: ModelManifest) -> Tokenizer:
    """The fast tokenizer, truncating to ``max_length``; it does not pad (the model does)."""
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise ConfigError(f"tokenizers is not installed: {INSTALL_HINT}") from exc
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # the Rust side raises plain Exception
        raise ConfigError(f"unreadable tokenizer {path}: {exc}") from exc
    tokenizer.enable_truncation(max_length=manifest.max_length)
    tokenizer.no_padding()
    return tokenizer


def padded(rows: Sequence[Sequence[int]], width: int, fill: int) -> np.ndarray:
    """``rows`` as one int64 matrix, each row right-padded with ``fill`` to ``width``."""
    import numpy as np

    out = np.full((len(rows), width), fill, dtype=np.int64)
    for index, row in enumerate(rows):
        out[index, :len(row)] = row
    return out


class OnnxToxicityModel:
    """A Detoxify model exported to ONNX; probabilities are the sigmoid of its logits.

    The scorer names the model, the first 8 hex digits of model.onnx's SHA-256 and the
    execution providers the session got, e.g. ``detoxify-onnx:original@1a2b3c4d/cuda+cpu``.
    :meth:`predict` runs texts ``batch_size`` at a time, grouped by token count so that a
    batch carries little padding; scores come back in input order.
    """

    def __init__(self, folder: Path, *, prefer_gpu: bool = True, threads: int | None = None,
                 batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, not {batch_size}")
        self.batch_size = batch_size
        missing = missing_files(folder)
        if missing:
            raise ConfigError(f"toxicity model folder {folder} lacks {', '.join(missing)} "
                              "(write one with: llmpulse models export-toxicity)")
        self.manifest = ModelManifest.read(folder / MANIFEST_FILE)
        self._tokenizer = load_tokenizer(folder / TOKENIZER_FILE, self.manifest)
        self._session, self.providers = create_session(
            folder / MODEL_FILE, prefer_gpu=prefer_gpu, threads=threads)
        self._inputs = tuple(node.name for node in self._session.get_inputs())
        self._check_graph(folder)
        providers = "+".join(_SHORT_PROVIDER.get(p, p) for p in self.providers)
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", self.manifest.name)
        self._scorer = (f"detoxify-onnx:{name}@{file_sha256(folder / MODEL_FILE)[:8]}"
                        f"/{providers}")

    def _check_graph(self, folder: Path) -> None:
        unknown = [name for name in self._inputs if name not in ENCODING_FIELDS]
        if unknown or "input_ids" not in self._inputs:
            raise ConfigError(f"{folder / MODEL_FILE} has inputs {list(self._inputs)}; "
                              f"expected some of {list(ENCODING_FIELDS)} with input_ids")
        outputs = self._session.get_outputs()
        width = outputs[0].shape[-1] if outputs and outputs[0].shape else None
        if isinstance(width, int) and width != len(self.manifest.labels):
            raise ConfigError(f"{folder / MODEL_FILE} gives {width} scores but the manifest "
                              f"names {len(self.manifest.labels)} labels")

    @property
    def scorer(self) -> str:
        return self._scorer

    @property
    def labels(self) -> tuple[str, ...]:
        return self.manifest.labels

    @property
    def threshold(self) -> float:
        return 0.5

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        import numpy as np

        if not texts:
            return []
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        probs = np.empty((len(encodings), len(self.labels)), dtype=np.float64)
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            probs[rows] = self._probabilities([encodings[i] for i in rows])
        return [dict(zip(self.labels, map(float, row), strict=True)) for row in probs]

    def _probabilities(self, encodings: Sequence[Encoding]) -> np.ndarray:
        import numpy as np

        width = max(len(encoding.ids) for encoding in encodings)
        fills = {"input_ids": self.manifest.pad_id}
        feeds = {name: padded([getattr(e, ENCODING_FIELDS[name]) for e in encodings], width,
                              fills.get(name, 0))
                 for name in self._inputs}
        logits = np.asarray(self._session.run(None, feeds)[0], dtype=np.float64)
        probs: np.ndarray = 1.0 / (1.0 + np.exp(-logits))
        return probs


def load_toxicity_model(path: Path | None, *, prefer_gpu: bool = True,
                        threads: int | None = None,
                        batch_size: int = DEFAULT_BATCH_SIZE) -> ToxicityModel:
    """The ONNX model in ``path``, or the lexicon fallback when there is no folder there.

    A folder that exists but is incomplete or unreadable is an error, not a fallback.
    """
    if path is None:
        return LexiconToxicityModel()
    if not path.exists():
        log.warning("no toxicity model folder at %s; scoring with the lexicon fallback", path)
        return LexiconToxicityModel()
    if not path.is_dir():
        raise ConfigError(f"toxicity model path {path} is a file; it should be a folder "
                          f"holding {', '.join(MODEL_FILES)}")
    return OnnxToxicityModel(path, prefer_gpu=prefer_gpu, threads=threads,
                             batch_size=batch_size)
