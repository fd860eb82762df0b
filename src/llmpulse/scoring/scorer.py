"""Runs the model detectors over a batch of scoring tasks (no I/O of its own: the models
are loaded by :func:`load_scorer`, the judge is the only part that calls out).

Each task becomes a minimal :class:`InferenceRecord` so the stream, ``llmpulse
score`` and the tests all go through the same pure detectors.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from llmpulse.detectors.groundedness import Embedder, GroundednessBackend, score_groundedness
from llmpulse.detectors.injection_similarity import (
    InjectionSimilarity,
    score_injection_similarity,
)
from llmpulse.detectors.toxicity import ToxicityModel, score_toxicity
from llmpulse.records import InferenceRecord
from llmpulse.schema import ContextDocument, Message
from llmpulse.scoring.tasks import Evaluation, ScoreResult, ScoringTask, evaluation_of
from llmpulse.signals import Signal

if TYPE_CHECKING:
    from llmpulse.config import Settings
    from llmpulse.judge import LlmJudge

log = logging.getLogger(__name__)
Timer = Callable[[str, float], None]  # (detector, seconds) for metrics
#: Task reasons the judge sees whatever its sample rate (a user flagged the answer);
#: other tasks, mandatory or not, reach the judge at ``judge_sample_rate``.
ALWAYS_JUDGE = frozenset({"feedback"})


def task_record(task: ScoringTask, key: str | None = None) -> InferenceRecord:
    """The task as a record; ``key`` (default: the call's request_id) becomes its request_id,
    so the signals of a batch can be told apart even when two tasks share a call."""
    c = task.call
    when = datetime.fromtimestamp(c.call_time, UTC)
    prompt = (Message(role="user", content=task.prompt),) if task.prompt else ()
    return InferenceRecord(
        request_id=c.request_id if key is None else key, join_status="inference",
        provider=c.provider, request_model=c.request_model or c.model, response_model=c.model,
        operation="chat", start_time=None, end_time=when, tenant=c.tenant, route=c.route,
        response_id=c.response_id or None, input_messages=prompt,
        output_messages=(Message(role="assistant", content=task.response),),
        context_documents=tuple(ContextDocument(content=t) for t in task.contexts))


@dataclass
class QualityScorer:
    """Toxicity for every task, groundedness where there is context, similarity of the
    prompt and documents to known injection attempts when MiniLM is loaded, the judge
    sampled (and always for answers users gave negative feedback on)."""

    toxicity: ToxicityModel
    groundedness: GroundednessBackend | None
    judge: LlmJudge | None = None
    threshold: float | None = None  # None: the toxicity model's own
    batch_size: int = 32
    injection: InjectionSimilarity | None = None

    def describe(self) -> str:
        parts = [f"toxicity={self.toxicity.scorer}"]
        if self.groundedness is not None:
            parts.append(f"groundedness={self.groundedness.scorer}")
        if self.injection is not None:
            parts.append(f"injection={self.injection.scorer}")
        if self.judge is not None:
            parts.append(f"judge={self.judge.scorer}")
        return ", ".join(parts)

    def score(self, tasks: Sequence[ScoringTask], now: float,
              timer: Timer | None = None) -> list[ScoreResult]:
        """One result per task, in order.  Signals are matched back to their task by its
        position in the batch (two tasks about one call must not share evaluations)."""
        keys = [str(i) for i in range(len(tasks))]
        records = [task_record(t, key) for t, key in zip(tasks, keys, strict=True)]
        always = {key for t, key in zip(tasks, keys, strict=True) if t.reason in ALWAYS_JUDGE}
        by_task: dict[str, list[Evaluation]] = {}
        for signal in self.signals(records, now, always, timer):
            by_task.setdefault(signal.request_id, []).append(evaluation_of(signal))
        return [ScoreResult(t.call, t.reason, now, tuple(by_task.get(key, ())))
                for t, key in zip(tasks, keys, strict=True)]

    def signals(self, records: Sequence[InferenceRecord], now: float,
                always_judge: set[str] | None = None, timer: Timer | None = None
                ) -> list[Signal]:
        """Every quality signal of some records (the offline ``score`` command uses this)."""
        import time

        when = datetime.fromtimestamp(now, UTC)
        out: list[Signal] = []
        started = time.perf_counter()
        out += score_toxicity(records, when, self.toxicity, threshold=self.threshold,
                              batch_size=self.batch_size)
        if timer:
            timer("toxicity", time.perf_counter() - started)
        if self.groundedness is not None:
            started = time.perf_counter()
            out += score_groundedness(records, when, self.groundedness)
            if timer:
                timer("groundedness", time.perf_counter() - started)
        if self.injection is not None:
            started = time.perf_counter()
            out += score_injection_similarity(records, when, self.injection)
            if timer:
                timer("injection", time.perf_counter() - started)
        if self.judge is not None:
            started = time.perf_counter()
            out += self._judge(records, when, always_judge or set())
            if timer:
                timer("judge", time.perf_counter() - started)
        return out

    def _judge(self, records: Sequence[InferenceRecord], when: datetime,
               always: set[str]) -> list[Signal]:
        assert self.judge is not None
        from llmpulse.judge import judge_signals

        return judge_signals(self.judge, records, when, always)


def load_scorer(settings: Settings, rng: random.Random | None = None) -> QualityScorer:
    """The configured models: ONNX toxicity or an offline scorer (the MiniLM classifier or
    the lexicon), an embedding / NLI groundedness backend, and the judge when a URL is set.
    The toxicity classifier and embedding groundedness share one MiniLM."""
    path = configured_toxicity_model(settings)
    minilm = _shared_minilm(settings, onnx_toxicity=path is not None)
    if path is not None:
        from llmpulse.models.toxicity_onnx import load_toxicity_model

        toxicity = load_toxicity_model(path)
    else:
        from llmpulse.models.toxicity_classifier import load_offline_toxicity

        toxicity = load_offline_toxicity(settings.toxicity_backend, minilm)
    groundedness = load_groundedness(settings, minilm)
    judge = None
    if settings.judge_url:
        from llmpulse.judge import judge_from_settings

        judge = judge_from_settings(settings, rng or random.Random())
    scorer = QualityScorer(toxicity, groundedness, judge, settings.toxicity_threshold,
                           settings.score_batch_size, injection_similarity(groundedness))
    log.info("quality scorer: %s", scorer.describe())
    return scorer


def configured_toxicity_model(settings: Settings) -> Path | None:
    """``LLMPULSE_TOXICITY_MODEL`` if set, after checking it is there: the offline scorers
    are for when no model was configured, not for a mistyped path or a missing volume."""
    from llmpulse.errors import ConfigError

    path = settings.toxicity_model
    if path is not None and not path.exists():
        raise ConfigError(f"LLMPULSE_TOXICITY_MODEL: {path} does not exist; point it at a "
                          "folder made by `llmpulse models export-toxicity`, or unset it to "
                          "score with the offline scorer (LLMPULSE_TOXICITY_BACKEND)")
    return path


def injection_similarity(groundedness: GroundednessBackend | None
                         ) -> InjectionSimilarity | None:
    """Similarity to known injection attempts, on the groundedness backend's MiniLM (loaded
    once for both); none with another backend: the hashing embedder matches words, not
    meaning, and loading MiniLM for this alone is left to a later setting."""
    from llmpulse.detectors.groundedness import EmbeddingGroundedness
    from llmpulse.models.embedder import MINILM_NAME

    if isinstance(groundedness, EmbeddingGroundedness) and (
            groundedness.embedder.name == MINILM_NAME):
        return InjectionSimilarity(groundedness.embedder)
    return None


def _shared_minilm(settings: Settings, *, onnx_toxicity: bool) -> Embedder | None:
    """One all-MiniLM-L6-v2 for the toxicity classifier and embedding groundedness, when
    installed and either uses it; None otherwise."""
    from llmpulse.models.embedder import load_embedder, minilm_available

    toxicity = not onnx_toxicity and settings.toxicity_backend == "embedding"
    groundedness = settings.groundedness_backend == "embedding"
    if (toxicity or groundedness) and minilm_available():
        return load_embedder("minilm")
    return None


def load_groundedness(settings: Settings, minilm: Embedder | None = None
                      ) -> GroundednessBackend:
    if settings.groundedness_backend == "nli":
        from llmpulse.errors import ConfigError
        from llmpulse.models.nli_onnx import NliGroundedness

        if settings.nli_model is None:
            raise ConfigError("LLMPULSE_GROUNDEDNESS_BACKEND=nli needs LLMPULSE_NLI_MODEL "
                              "(a folder with model.onnx, tokenizer.json and config.json)")
        return NliGroundedness(settings.nli_model)
    from llmpulse.detectors.groundedness import EmbeddingGroundedness
    from llmpulse.models.embedder import load_embedder

    if settings.groundedness_backend == "embedding" and minilm is not None:
        return EmbeddingGroundedness(minilm)
    kind = "auto" if settings.groundedness_backend == "embedding" else "hashing"
    return EmbeddingGroundedness(load_embedder(kind))
