"""Groundedness of RAG answers: does the context back each claim of the answer?

Pure; no I/O, no clock.  The answer is split into claims (its sentences,
:mod:`llmpulse.detectors.claims`); a backend finds each claim's best-matching context
chunks (single sentences and sliding pairs) and supplies the match strength (embedding
cosine, NLI entailment, ...).  Every backend then applies the same fact checks
(:mod:`llmpulse.detectors.fact_check`): amounts with rounding tolerance, dates, names,
negation and antonyms, changed quantifiers, modality, conditions and roles
(:mod:`llmpulse.detectors.scope`), the words a near-copy of a context sentence substitutes
or inserts (:mod:`llmpulse.detectors.edits`), participants swapped around a verb
(:mod:`llmpulse.detectors.swaps`), and details the context does not contain.  A claim's
score is its calibrated match strength times a factor per failed check; the answer's score
is its weakest claim, and each unsupported claim is reported with what failed ("'78
percent' \u2014 context says 87%").  Sentence splitting and fact extraction live in
:mod:`llmpulse.detectors.text_facts`; ``split_sentences`` and ``extract_facts`` are
re-exported here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

import numpy as np

from llmpulse.detectors._base import make_signal
from llmpulse.detectors.claims import split_claims
from llmpulse.detectors.fact_check import (
    CheckRules,
    ContextFacts,
    Problem,
    check_claim,
)
from llmpulse.detectors.text_facts import (
    extract_facts,
    split_sentences,
)
from llmpulse.records import InferenceRecord
from llmpulse.signals import Signal

__all__ = [
    "EXPLANATION_LIMIT",
    "LABEL_THRESHOLD",
    "SCORER_VERSION",
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
    "explain",
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
    problems: tuple[str, ...] = ()  # what failed, for a person ("'78 %' - context says 87 %")


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
    """How match strength and failed fact checks turn into claim and answer scores.

    A claim scores its calibrated match strength times the factor of each failed check
    (:class:`~llmpulse.detectors.fact_check.CheckRules`); the answer scores its weakest
    claim (``min_weight`` 1) or a blend with the weighted mean."""

    center: float | None = 0.5  # match strength that maps to 0.5; None: already a probability
    slope: float = 12.0
    min_weight: float = 1.0  # share of the weakest claim in the answer score
    support_threshold: float = 0.5
    support_chunks: int = 2  # context chunks a claim's polarity is judged against
    checks: CheckRules = field(default_factory=CheckRules)

    def calibrate(self, match: float) -> float:
        if self.center is None:
            return min(1.0, max(0.0, match))
        return 1.0 / (1.0 + math.exp(-self.slope * (match - self.center)))

    def sentence_score(self, match: float, problems: Sequence[Problem]) -> float:
        return self.calibrate(match) * math.prod(p.factor for p in problems)

    def response_score(self, scores: Sequence[float], weights: Sequence[int]) -> float:
        if not scores:
            return 1.0
        mean = float(np.average(scores, weights=weights))
        return (1.0 - self.min_weight) * mean + self.min_weight * min(scores)


@dataclass(frozen=True, slots=True)
class PreparedItem:
    """One answer ready to score: its claims, the context chunks and the context's facts."""

    sentences: tuple[str, ...]
    weights: tuple[int, ...]
    chunks: tuple[str, ...]
    facts: ContextFacts


def context_chunks(contexts: Sequence[str]) -> list[str]:
    """Each context sentence, plus each pair of neighbouring sentences of one document."""
    chunks: list[str] = []
    for document in contexts:
        sentences = split_sentences(document) or ([document.strip()] if document.strip() else [])
        chunks.extend(sentences)
        chunks.extend(f"{a} {b}" for a, b in itertools.pairwise(sentences))
    return list(dict.fromkeys(chunks))


def prepare_item(answer: str, contexts: Sequence[str]) -> PreparedItem:
    claims = split_claims(answer)
    return PreparedItem(
        sentences=tuple(c.text for c in claims), weights=tuple(c.weight for c in claims),
        chunks=tuple(context_chunks(contexts)), facts=ContextFacts.of(contexts),
    )


def assess(item: PreparedItem, matches: np.ndarray, rules: ScoringRules, scorer: str,
           conflicts: Sequence[bool] | None = None) -> GroundednessResult:
    """Result from ``matches``, the (sentences, chunks) match strengths (higher = better
    support).  ``conflicts`` per sentence (a model's contradiction verdict) adds a polarity
    problem."""
    supports = []
    for row, sentence in enumerate(item.sentences):
        order: list[int] = ([int(i) for i in np.argsort(-matches[row])[: rules.support_chunks]]
                            if item.chunks else [])
        support = [item.chunks[i] for i in order]
        strength = float(matches[row, order[0]]) if order else 0.0
        problems = check_claim(sentence, support, item.facts, rules=rules.checks)
        if conflicts is not None and conflicts[row] and not any(
                p.kind == "polarity" for p in problems):
            problems.append(Problem("polarity", "contradicted by the context",
                                    rules.checks.polarity_factor))
        missing = tuple(sorted(f for f in extract_facts(sentence)
                               if not item.facts.evidence.supports(f)))
        score = rules.sentence_score(strength, problems)
        if not support:
            problems.append(Problem("support", "the context has no text", 0.0))
        elif not problems and score < rules.support_threshold:
            problems.append(Problem("support", "no context sentence says this", 1.0))
        supports.append(SentenceSupport(sentence, strength, missing,
                                        score >= rules.support_threshold, score,
                                        tuple(p.reason for p in problems)))
    total = rules.response_score([s.score for s in supports], item.weights)
    return GroundednessResult(total, tuple(supports), scorer)


#: (center, slope) per embedder: where a claim's cosine with its best chunk reads as 0.5.
_CALIBRATION = {"all-MiniLM-L6-v2": (0.55, 12.0), "hashing-1024": (0.3, 10.0)}
#: Scorer version: bumped whenever scores change meaning, so that stored scores of two
#: versions are never averaged together (2: claim-level fact checks, weakest claim; 3: scope
#: checks -- quantifiers, modality, conditions, swapped roles -- and polarity against every
#: context clause; 4: edit check -- a claim that copies a context sentence nearly word for
#: word fails on each content word it substitutes or inserts, see detectors/edits.py; 5: a
#: broader list of common synonyms and set phrases for the edit and added-word checks
#: (detectors/_synonyms.py), participants swapped around a verb within a clause
#: (detectors/swaps.py), a negating prefix ("synchronous" for "asynchronous") counted as a
#: change, hyphenated amounts ("a two-second pause"), "at no charge" no longer read as a
#: negated modal, "lack" and "without a ..." read as negations, and everyday capitalised
#: words ("Earth", "TV") no longer unknown names).
SCORER_VERSION = 5
#: Answers scoring below this are labelled ``ungrounded``; set on the tune split of
#: tests/data/groundedness_hard.jsonl (see BENCHMARKS.md, "Groundedness: fact checks").
LABEL_THRESHOLD = 0.45


class EmbeddingGroundedness:
    """Match strength = cosine similarity of sentence embeddings; one embed call per batch."""

    label_threshold = LABEL_THRESHOLD

    def __init__(self, embedder: Embedder, *, rules: ScoringRules | None = None) -> None:
        self._embedder = embedder
        if rules is None:
            center, slope = _CALIBRATION.get(embedder.name, (0.5, 12.0))
            rules = ScoringRules(center=center, slope=slope)
        self.rules = rules

    @property
    def scorer(self) -> str:
        return f"embedding:{self._embedder.name}@{SCORER_VERSION}"

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


def explain(result: GroundednessResult) -> str:
    """The unsupported claims, each with what failed: "claim [reason; reason] | claim"."""
    parts = [f"{s.sentence} [{'; '.join(s.problems)}]" if s.problems else s.sentence
             for s in result.sentences if not s.supported]
    text = " | ".join(parts)
    if len(text) > EXPLANATION_LIMIT:
        text = text[: EXPLANATION_LIMIT - 1] + "\u2026"
    return text


def result_signals(record: InferenceRecord, result: GroundednessResult, now: datetime, *,
                   detector: str, name: str = "groundedness", source: str = "detector",
                   threshold: float = 0.5) -> list[Signal]:
    """``<name>`` (score, label, unsupported claims and why) and
    ``<name>.unsupported_sentences``; scores below ``threshold`` are ``ungrounded``."""
    text = explain(result)
    label = "grounded" if result.score >= threshold else "ungrounded"
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
    threshold = float(getattr(backend, "label_threshold", 0.5))
    results = backend.score_many(items) if items else []
    return [signal for record, result in zip(chosen, results, strict=True) if result is not None
            for signal in result_signals(record, result, now, detector=backend.scorer,
                                         threshold=threshold)]
