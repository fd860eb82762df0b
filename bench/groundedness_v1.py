"""The version-1 groundedness scorer (``embedding:<model>@1``), kept for comparison only.

Sentence-level: a sentence scores its calibrated cosine with the best context chunk, times
0.35 per fact (number, date, name) missing from the context, times 0.5 when its negation
differs from that chunk's, less a penalty for content words the context lacks; the answer
scores the mean of its sentences pulled half-way to the weakest.  bench/groundedness.py
runs it beside the current scorer on the same data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from llmpulse.detectors.groundedness import Embedder, context_chunks
from llmpulse.detectors.text_facts import (
    ContextEvidence,
    content_words,
    coverage,
    extract_facts,
    polarity_conflict,
    split_sentences,
)

_CALIBRATION = {"all-MiniLM-L6-v2": (0.55, 12.0), "hashing-1024": (0.3, 10.0)}


class V1Groundedness:
    label_threshold = 0.5

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self.center, self.slope = _CALIBRATION.get(embedder.name, (0.5, 12.0))

    @property
    def scorer(self) -> str:
        return f"embedding:{self._embedder.name}@1"

    def score_many(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[float]:
        prepared = []
        for answer, contexts in items:
            sentences = [s for s in split_sentences(answer) if content_words(s)]
            prepared.append((sentences, context_chunks(contexts),
                             ContextEvidence.of("\n".join(contexts))))
        texts = list(dict.fromkeys(t for s, c, _ in prepared for t in (*s, *c)))
        vectors = self._embedder.embed(texts) if texts else np.zeros((0, 1), np.float32)
        row_of = {text: row for row, text in enumerate(texts)}
        return [self._score(s, c, e, vectors, row_of) for s, c, e in prepared]

    def _score(self, sentences: list[str], chunks: list[str], evidence: ContextEvidence,
               vectors: np.ndarray, row_of: dict[str, int]) -> float:
        if not sentences:
            return 1.0
        scores, weights = [], []
        for sentence in sentences:
            if chunks:
                sims = vectors[[row_of[c] for c in chunks]] @ vectors[row_of[sentence]]
                best = int(np.argmax(sims))
                strength, conflict = float(sims[best]), polarity_conflict(sentence, chunks[best])
            else:
                strength, conflict = 0.0, False
            missing = sum(1 for f in extract_facts(sentence) if not evidence.supports(f))
            score = 1.0 / (1.0 + math.exp(-self.slope * (strength - self.center)))
            score *= 0.35 ** missing
            score *= 1.0 - 0.4 * (1.0 - coverage(sentence, evidence.stems))
            scores.append(score * (0.5 if conflict else 1.0))
            weights.append(len(content_words(sentence)))
        return 0.5 * float(np.average(scores, weights=weights)) + 0.5 * min(scores)
