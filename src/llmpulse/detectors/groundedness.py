"""Groundedness of RAG answers: is each answer sentence supported by the retrieved context?

Pure; no I/O, no clock.  The answer is split into sentences and each is matched against
chunks of the context (single sentences and sliding pairs).  A backend supplies the match
strength (embedding cosine, NLI entailment, ...); every backend then applies the same
checks: the numbers, dates and names of the sentence must occur in the context, and a
sentence whose negation differs from its best chunk is penalised.  The response score is
a length-weighted mean pulled towards the weakest sentence, so one fabricated sentence in
an otherwise correct answer still shows.  Sentence splitting and fact extraction live in
:mod:`llmpulse.detectors.text_facts`; ``split_sentences`` and ``extract_facts`` are
re-exported here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

import numpy as np

from llmpulse.detectors._base import make_signal
from llmpulse.detectors.text_facts import (
    ContextEvidence,
    content_words,
    coverage,
    extract_facts,
    polarity_conflict,
    split_sentences,
)
from llmpulse.records import InferenceRecord
from llmpulse.signals import Signal

__all__ = [
    "EXPLANATION_LIMIT",
    "Embedder",
    "EmbeddingGroundedness",
    "GroundednessBackend",
    "GroundednessResult",
    "PreparedItem",
    "ScoringRules",
    "SentenceSupport",
    "answer_text",
    "assess",
    "context_chunks",
    "extract_facts",
    "prepare_item",
    "result_signals",
    "scorable",
    "score_groundedness",
    "split_sentences",
]

# --- scoring --------------------------------------------------------------------------------


class Embedder(Protocol):
    @property
    def name(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array of shape (len(texts), d) with L2-normalised rows."""
        ...


@dataclass(frozen=True, slots=True)
class SentenceSupport:
    sentence: str
    similarity: float  # the backend's match strength with the best chunk
    missing_facts: tuple[str, ...]
    supported: bool
    score: float


@dataclass(frozen=True, slots=True)
class GroundednessResult:
    score: float  # 0..1, 1 = fully supported by the context
    sentences: tuple[SentenceSupport, ...]
    scorer: str

    @property
    def unsupported(self) -> list[str]:
        return [s.sentence for s in self.sentences if not s.supported]


class GroundednessBackend(Protocol):
    """Scores (answer, contexts) pairs in batches.  ``None`` in the result means the item was
    not scored (a judge out of budget or sampled out); model backends never return it."""

    @property
    def scorer(self) -> str: ...

    def score_many(
        self, items: Sequence[tuple[str, Sequence[str]]]
    ) -> Sequence[GroundednessResult | None]: ...


@dataclass(frozen=True, slots=True)
class ScoringRules:
    """How match strength, missing facts and negation turn into scores.

    The defaults come from a coarse grid on tests/data/groundedness_set.jsonl; the ROC-AUC
    there is flat across it (0.88-0.90 with MiniLM), so none of them is finely tuned."""

    center: float | None = 0.5  # match strength that maps to 0.5; None: already a probability
    slope: float = 12.0
    missing_fact_factor: float = 0.35  # per fact of the sentence absent from the context
    negation_factor: float = 0.5  # sentence and best chunk disagree on what is negated
    coverage_weight: float = 0.4  # penalty for content words absent from the context
    min_weight: float = 0.5  # share of the weakest sentence in the response score
    support_threshold: float = 0.5

    def calibrate(self, match: float) -> float:
        if self.center is None:
            return min(1.0, max(0.0, match))
        return 1.0 / (1.0 + math.exp(-self.slope * (match - self.center)))

    def sentence_score(self, match: float, missing: int, conflict: bool,
                       covered: float = 1.0) -> float:
        score = self.calibrate(match) * self.missing_fact_factor ** missing
        score *= 1.0 - self.coverage_weight * (1.0 - covered)
        return score * (self.negation_factor if conflict else 1.0)

    def response_score(self, scores: Sequence[float], weights: Sequence[int]) -> float:
        if not scores:
            return 1.0
        mean = float(np.average(scores, weights=weights))
        return (1.0 - self.min_weight) * mean + self.min_weight * min(scores)


@dataclass(frozen=True, slots=True)
class PreparedItem:
    """One answer ready to score: its content-bearing sentences and the context chunks."""

    sentences: tuple[str, ...]
    weights: tuple[int, ...]
    chunks: tuple[str, ...]
    evidence: ContextEvidence


def context_chunks(contexts: Sequence[str]) -> list[str]:
    """Each context sentence, plus each pair of neighbouring sentences of one document."""
    chunks: list[str] = []
    for document in contexts:
        sentences = split_sentences(document) or ([document.strip()] if document.strip() else [])
        chunks.extend(sentences)
        chunks.extend(f"{a} {b}" for a, b in itertools.pairwise(sentences))
    return list(dict.fromkeys(chunks))


def prepare_item(answer: str, contexts: Sequence[str]) -> PreparedItem:
    scorable = [(s, len(content_words(s))) for s in split_sentences(answer)]
    scorable = [(s, n) for s, n in scorable if n > 0]
    return PreparedItem(
        sentences=tuple(s for s, _ in scorable), weights=tuple(n for _, n in scorable),
        chunks=tuple(context_chunks(contexts)), evidence=ContextEvidence.of("\n".join(contexts)),
    )


def assess(item: PreparedItem, matches: np.ndarray, rules: ScoringRules, scorer: str,
           conflicts: Sequence[bool] | None = None) -> GroundednessResult:
    """Result from ``matches``, the (sentences, chunks) match strengths (higher = better
    support).  ``conflicts`` per sentence replaces the lexical negation check when given."""
    supports = []
    for row, sentence in enumerate(item.sentences):
        best = int(np.argmax(matches[row])) if item.chunks else -1
        strength = float(matches[row, best]) if best >= 0 else 0.0
        missing = tuple(sorted(f for f in extract_facts(sentence)
                               if not item.evidence.supports(f)))
        conflict = conflicts[row] if conflicts is not None else (
            best >= 0 and polarity_conflict(sentence, item.chunks[best]))
        covered = coverage(sentence, item.evidence.stems)
        score = rules.sentence_score(strength, len(missing), conflict, covered)
        supports.append(SentenceSupport(sentence, strength, missing,
                                        score >= rules.support_threshold, score))
    total = rules.response_score([s.score for s in supports], item.weights)
    return GroundednessResult(total, tuple(supports), scorer)


#: (center, slope) per embedder: roughly midway between the cosine of supported and of
#: unrelated sentences as seen on tests/data/groundedness_set.jsonl (no held-out split).
_CALIBRATION = {"all-MiniLM-L6-v2": (0.55, 12.0), "hashing-1024": (0.3, 10.0)}


class EmbeddingGroundedness:
    """Match strength = cosine similarity of sentence embeddings; one embed call per batch."""

    def __init__(self, embedder: Embedder, *, rules: ScoringRules | None = None) -> None:
        self._embedder = embedder
        if rules is None:
            center, slope = _CALIBRATION.get(embedder.name, (0.5, 12.0))
            rules = ScoringRules(center=center, slope=slope)
        self.rules = rules

    @property
    def scorer(self) -> str:
        return f"embedding:{self._embedder.name}@1"

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    def score_many(
        self, items: Sequence[tuple[str, Sequence[str]]]
    ) -> list[GroundednessResult]:
        prepared = [prepare_item(answer, contexts) for answer, contexts in items]
        texts = list(dict.fromkeys(t for p in prepared for t in (*p.sentences, *p.chunks)))
        vectors = self._embedder.embed(texts) if texts else np.zeros((0, 1), np.float32)
        row_of = {text: row for row, text in enumerate(texts)}
        results = []
        for item in prepared:
            left = vectors[[row_of[s] for s in item.sentences]]
            right = vectors[[row_of[c] for c in item.chunks]]
            matches = left @ right.T if len(item.chunks) else np.zeros((len(left), 0))
            results.append(assess(item, matches, self.rules, self.scorer))
        return results


# --- signals --------------------------------------------------------------------------------

EXPLANATION_LIMIT = 500


def answer_text(record: InferenceRecord) -> str:
    parts = [m.content for m in record.output_messages if m.role == "assistant"]
    return "\n".join(p for p in parts if p.strip())


def scorable(records: Sequence[InferenceRecord]
             ) -> tuple[list[InferenceRecord], list[tuple[str, list[str]]]]:
    """The records with context documents and an assistant answer, and their items."""
    chosen = [r for r in records if r.context_documents and answer_text(r)]
    return chosen, [(answer_text(r), [d.content for d in r.context_documents]) for r in chosen]


def result_signals(record: InferenceRecord, result: GroundednessResult, now: datetime, *,
                   detector: str, name: str = "groundedness",
                   source: str = "detector") -> list[Signal]:
    """``<name>`` (score, label, unsupported sentences) and ``<name>.unsupported_sentences``."""
    text = " | ".join(result.unsupported)
    if len(text) > EXPLANATION_LIMIT:
        text = text[: EXPLANATION_LIMIT - 1] + "\u2026"
    label = "grounded" if result.score >= 0.5 else "ungrounded"
    signals = [
        make_signal(record, name, result.score, now, label=label, detector=detector,
                    explanation=text),
        make_signal(record, f"{name}.unsupported_sentences", float(len(result.unsupported)),
                    now, detector=detector),
    ]
    return [replace(s, source=source) for s in signals]


def score_groundedness(records: Sequence[InferenceRecord], now: datetime,
                       backend: GroundednessBackend) -> list[Signal]:
    """``groundedness`` and ``groundedness.unsupported_sentences`` for each record that has
    context documents and an assistant answer; records the backend skips get no signal."""
    chosen, items = scorable(records)
    results = backend.score_many(items) if items else []
    return [signal for record, result in zip(chosen, results, strict=True) if result is not None
            for signal in result_signals(record, result, now, detector=backend.scorer)]
