"""What drift is measured on: per-call descriptors and prompt embeddings, as a table.

Pure: records (and, when known, their quality scores) in, arrays out.  A value the call does
not carry (no content, no token counts, not scored) is missing -- NaN or ``None`` -- never
zero, and is left out of the tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from llmpulse.detectors.latency import duration_s
from llmpulse.drift.sampling import subsample_indices
from llmpulse.drift.script import script_of
from llmpulse.records import InferenceRecord

if TYPE_CHECKING:
    from llmpulse.detectors.groundedness import Embedder

Kind = Literal["numeric", "categorical", "embedding"]
#: Quality scores by request id: ``{"toxicity": 0.02, "groundedness": 0.91}``.
Scores = Mapping[str, Mapping[str, float]]

NUMERIC = ("prompt_chars", "response_chars", "input_tokens", "output_tokens", "duration_s",
           "ttft_s", "toxicity", "groundedness")
CATEGORICAL = ("finish_reason", "prompt_script")
EMBEDDING = "prompt_embedding"
_NUMERIC_KIND: Kind = "numeric"
_CATEGORICAL_KIND: Kind = "categorical"
FEATURES: dict[str, Kind] = ({name: _NUMERIC_KIND for name in NUMERIC}
                             | {name: _CATEGORICAL_KIND for name in CATEGORICAL}
                             | {EMBEDDING: "embedding"})
#: Prompt characters passed to the embedder (MiniLM reads 256 tokens at most anyway).
EMBED_CHARS = 2000


def prompt_text(record: InferenceRecord) -> str | None:
    """What the user asked: the user messages, joined; ``None`` without content."""
    parts = [m.content for m in record.input_messages if m.role == "user" and m.content]
    return "\n".join(parts) if parts else None


def _prompt_chars(record: InferenceRecord) -> float:
    """Characters of the input messages.  The system instructions are left out: they are
    fixed per prompt version (a new one is a new version, compared on its own) and stored
    calls read back for baselines do not carry them."""
    if not record.input_messages:
        return np.nan
    return float(sum(len(m.content) for m in record.input_messages))


def _response_chars(record: InferenceRecord) -> float:
    if not record.output_messages:
        return np.nan
    return float(sum(len(m.content) for m in record.output_messages))


def _number(value: float | int | None) -> float:
    return np.nan if value is None else float(value)


def finish_reason(record: InferenceRecord) -> str | None:
    if record.finish_reasons:
        return record.finish_reasons[0]
    return "error" if record.error_type else None


def numeric_row(record: InferenceRecord, scores: Mapping[str, float]) -> tuple[float, ...]:
    """The values of :data:`NUMERIC` for one call, NaN where unknown."""
    return (_prompt_chars(record), _response_chars(record), _number(record.input_tokens),
            _number(record.output_tokens), _number(duration_s(record)),
            _number(record.time_to_first_chunk), _number(scores.get("toxicity")),
            _number(scores.get("groundedness")))


def categorical_row(record: InferenceRecord) -> tuple[str | None, ...]:
    """The values of :data:`CATEGORICAL` for one call, ``None`` where unknown."""
    prompt = prompt_text(record)
    return finish_reason(record), (script_of(prompt) if prompt is not None else None)


@dataclass(frozen=True, slots=True)
class FeatureTable:
    """One side of a comparison: ``n_events`` calls, one array per feature.

    ``embeddings`` holds the prompt embeddings of a subsample of the calls with a prompt
    (``None`` when no embedder was given); ``embedder`` names the model that made them.
    """

    n_events: int
    numeric: Mapping[str, np.ndarray]  # float64, NaN = missing
    categorical: Mapping[str, np.ndarray]  # object (str | None)
    embeddings: np.ndarray | None = None
    embedder: str | None = None

    def values(self, feature: str) -> np.ndarray:
        """The feature's known values (missing ones dropped)."""
        if feature in self.numeric:
            column = self.numeric[feature]
            known: np.ndarray = column[~np.isnan(column)]
            return known
        if feature in self.categorical:
            labels = self.categorical[feature]
            present: np.ndarray = labels[np.array([v is not None for v in labels], dtype=bool)]
            return present
        if feature == EMBEDDING:
            return self.embeddings if self.embeddings is not None else np.zeros((0, 0))
        raise KeyError(f"unknown drift feature {feature!r}")

    def take(self, rows: np.ndarray) -> FeatureTable:
        """The same table restricted to some rows (the embedding sample is kept as is)."""
        return FeatureTable(len(rows), {k: v[rows] for k, v in self.numeric.items()},
                            {k: v[rows] for k, v in self.categorical.items()},
                            self.embeddings, self.embedder)


def build_table(records: Sequence[InferenceRecord], *, scores: Scores | None = None,
                embedder: Embedder | None = None, max_embedding_rows: int = 1000,
                seed: int = 0) -> FeatureTable:
    """Descriptors of every record, and embeddings of up to ``max_embedding_rows`` prompts
    (a seeded subsample: embedding is the expensive part)."""
    known = scores or {}
    numbers = np.array([numeric_row(r, known.get(r.request_id, {})) for r in records],
                       dtype=np.float64).reshape(len(records), len(NUMERIC))
    labels = np.empty((len(records), len(CATEGORICAL)), dtype=object)
    for row, record in enumerate(records):
        labels[row] = categorical_row(record)
    embeddings = None
    if embedder is not None:
        prompts = [p for p in map(prompt_text, records) if p is not None]
        chosen = subsample_indices(len(prompts), max_embedding_rows, seed)
        embeddings = embedder.embed([prompts[i][:EMBED_CHARS] for i in chosen])
    return FeatureTable(
        len(records), {name: numbers[:, i] for i, name in enumerate(NUMERIC)},
        {name: labels[:, i] for i, name in enumerate(CATEGORICAL)}, embeddings,
        embedder.name if embedder is not None else None)
