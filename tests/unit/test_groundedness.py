"""Groundedness: sentence splitting, facts, scoring rules, signals and the labelled RAG set."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llmpulse.detectors.groundedness import (
    EXPLANATION_LIMIT,
    Embedder,
    EmbeddingGroundedness,
    GroundednessResult,
    SentenceSupport,
    score_groundedness,
)
from llmpulse.detectors.text_facts import (
    ContextEvidence,
    extract_facts,
    polarity_conflict,
    split_sentences,
)
from llmpulse.errors import ConfigError
from llmpulse.evaluation import roc_auc
from llmpulse.models import embedder as embedder_module
from llmpulse.models.embedder import HashingEmbedder, load_embedder
from llmpulse.records import InferenceRecord, from_inference
from llmpulse.schema import EVENT_ADAPTER
from tests.unit.factories import inference

DATA = Path(__file__).resolve().parents[1] / "data" / "groundedness_set.jsonl"
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
#: Measured on this older labelled set with scorer @2: hashing 0.849, MiniLM 0.864 (the @1
#: scorer, tuned on it: 0.873 and 0.897); floors leave a small margin.  The held-out hard set
#: is checked in test_fact_check.py.
HASHING_AUC_FLOOR = 0.82
MINILM_AUC_FLOOR = 0.84


@pytest.mark.parametrize(("text", "expected"), [
    ("Dr. Smith joined Acme Inc. in 2019. He leads the U.S. team.",
     ["Dr. Smith joined Acme Inc. in 2019.", "He leads the U.S. team."]),
    ("Prices rose 3.5% in v1.2.3, e.g. for Pro users. Ask J. K. Rowling.",
     ["Prices rose 3.5% in v1.2.3, e.g. for Pro users.", "Ask J. K. Rowling."]),
    ("The office opens at 9 a.m. The desk closes at 5 p.m. every day.",
     ["The office opens at 9 a.m.", "The desk closes at 5 p.m. every day."]),
    ("Wait... what happened? It rained... The end came fast!",
     ["Wait... what happened?", "It rained...", "The end came fast!"]),
    ("Sure! Here is the list:\n- Reset the router\n* Hold the button\n1. Wait 10 s\n2) Done now",
     ["Sure!", "Here is the list:", "Reset the router", "Hold the button", "Wait 10 s",
      "Done now"]),
    ("This line is hard\nwrapped mid sentence. See Fig. 3 for it.\n\n## Summary\nAll good.",
     ["This line is hard wrapped mid sentence.", "See Fig. 3 for it.", "Summary",
      "All good."]),
    ("OK. No. 5 is sold out. I said no. Then I left.",
     ["No. 5 is sold out.", "I said no.", "Then I left."]),
    ("", []),
    ("  \n-\n..", []),
])
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_split_sentences_is_linear_on_large_documents() -> None:
    document = "Dr. Smith met the U.S. team at 9 a.m. It rained. " * 20_000  # ~1 MB
    started = time.perf_counter()
    sentences = split_sentences(document)
    assert len(sentences) == 40_000 and time.perf_counter() - started < 5.0
    started = time.perf_counter()
    ContextEvidence.of("The Very Long Title Case Heading " * 20_000)
    assert time.perf_counter() - started < 5.0


@pytest.mark.parametrize(("sentence", "expected"), [
    ("Revenue was $4.2 billion, up 8% on 1,200 units.", {"4200000000", "8", "1200"}),
    ("It costs €35, takes 3.50 hours and two tries.", {"35", "3.5", "2"}),
    ("Founded on 2024-03-15 at 10:30, released in March 2025.",
     {"2024-03-15", "10:30", "march", "2025"}),
    ("The Treaty of Westphalia was signed by Pierre Curie.",
     {"treaty of westphalia", "pierre curie"}),
    ("Amoxicillin treats pneumonia.", set()),  # a lone capitalised opener is not a name
    ("Use PixelNote or the iPhone app under GDPR and the S&P 500.",
     {"pixelnote", "iphone", "gdpr", "s&p", "500"}),
    ("The Nimbus X2 supports COVID-19 checks and HMAC-SHA256 in v2.1.0.",
     {"nimbus", "x2", "covid-19", "hmac-sha256", "v2.1.0"}),
    ("Dr. Albert Einstein's team won in the 1st round.", {"albert einstein", "1"}),
])
def test_extract_facts(sentence: str, expected: set[str]) -> None:
    assert extract_facts(sentence) == expected


def test_facts_are_found_in_context_after_normalisation() -> None:
    evidence = ContextEvidence.of(
        "The European Central Bank raised rates by 0.25 percent to 4.50% on Tuesday. "
        "Acme's CEO met Marie Curie. Sales hit 1.2 million units, about twelve per store.")
    for fact in ("ecb", "european central bank", "4.5", "0.25", "tuesdays", "acme",
                 "marie curie", "1200000", "12", "ceo"):
        assert evidence.supports(fact), fact
    for fact in ("bank of england", "4.2", "paris", "curie institute"):
        assert not evidence.supports(fact), fact


@pytest.mark.parametrize(("sentence", "chunk", "conflict"), [
    ("The basic fare includes one checked bag at no extra cost.",
     "Checked baggage on the basic fare is not included and costs €35 per bag.", True),
    ("The basic fare does not include checked baggage.",
     "Checked baggage on the basic fare is not included and costs €35 per bag.", False),
    ("Failed deliveries are never retried.", "Failed deliveries are retried up to 5 times.", True),
    ("Take no more than 3 tablets a day.", "Take up to 3 tablets a day.", False),
    ("It works with Alexa.", "It works with Alexa but not with Apple HomeKit.", False),
    ("You must keep a minimum balance.", "There is no minimum balance.", True),
])
def test_polarity_conflict(sentence: str, chunk: str, conflict: bool) -> None:
    assert polarity_conflict(sentence, chunk) is conflict


def test_groundedness_re_exports_text_functions() -> None:
    from llmpulse.detectors import groundedness, text_facts

    assert groundedness.split_sentences is text_facts.split_sentences
    assert groundedness.extract_facts is text_facts.extract_facts
    assert {"split_sentences", "extract_facts"} <= set(groundedness.__all__)


def test_roc_auc_ranks_with_half_credit_for_ties() -> None:
    assert roc_auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert roc_auc([0.1], [0.9]) == 0.0
    assert roc_auc([0.5, 0.5], [0.5]) == 0.5
    assert roc_auc([0.9, 0.4], [0.5, 0.1, 0.4]) == pytest.approx((3 + 1.5) / 6)
    with pytest.raises(ValueError):
        roc_auc([], [0.1])


class CountingEmbedder:
    """The hashing embedder, counting calls and texts."""

    def __init__(self) -> None:
        self.inner = HashingEmbedder()
        self.calls: list[int] = []

    @property
    def name(self) -> str:
        return "counting"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        return self.inner.embed(texts)


CONTEXT = ["The Aero 5 vacuum runs for up to 60 minutes in Eco mode. The battery charges fully "
           "in 3.5 hours. The dust bin holds 0.6 liters and is washable."]


def test_embedding_backend_batches_and_scores_sentences() -> None:
    embedder = CountingEmbedder()
    backend = EmbeddingGroundedness(embedder)
    grounded, fabricated, trivial = backend.score_many([
        ("Sure! Here is the answer: The battery charges fully in 3.5 hours.", CONTEXT),
        ("The battery charges fully in 3.5 hours. The Aero 5 runs 90 minutes in Turbo mode.",
         CONTEXT),
        ("Sure! I hope this helps.", CONTEXT),
    ])
    assert len(embedder.calls) == 1  # every sentence and chunk of the batch in one call
    assert [s.sentence for s in grounded.sentences] == [
        "The battery charges fully in 3.5 hours."]
    assert grounded.score > 0.8 and grounded.unsupported == []
    bad = fabricated.sentences[1]
    assert set(bad.missing_facts) == {"90", "turbo"} and not bad.supported
    assert fabricated.unsupported == [bad.sentence] and fabricated.score < 0.5
    assert trivial.sentences == () and trivial.score == 1.0
    assert grounded.scorer == "embedding:counting@5"
    assert backend.score_many([]) == []


def test_answer_without_context_text_is_unsupported() -> None:
    [result] = EmbeddingGroundedness(HashingEmbedder()).score_many([("It rains a lot.", [" "])])
    assert result.score < 0.5 and result.unsupported == ["It rains a lot."]


def record(request_id: str, answer: str | None, docs: list[str]) -> InferenceRecord:
    fields: dict[str, Any] = {"context_documents": [{"id": f"d{i}", "content": text}
                                                    for i, text in enumerate(docs)]}
    if answer is not None:
        fields["gen_ai.output.messages"] = [{"role": "assistant", "content": answer}]
    return from_inference(EVENT_ADAPTER.validate_python(inference(request_id, **fields)))


class ScriptedBackend:
    scorer = "scripted@1"

    def __init__(self, results: list[GroundednessResult | None]) -> None:
        self.results = results
        self.seen: list[tuple[str, Sequence[str]]] = []

    def score_many(self, items: Sequence[tuple[str, Sequence[str]]]
                   ) -> list[GroundednessResult | None]:
        self.seen.extend(items)
        return self.results[: len(items)]


def test_signals_only_for_records_with_context_and_answer() -> None:
    long = "x" * 400
    unsupported = [SentenceSupport(text, 0.1, (), False, 0.1) for text in (long, "Second.")]
    result = GroundednessResult(0.2, (*unsupported, SentenceSupport("Ok.", 0.9, (), True, 0.9)),
                                "scripted@1")
    backend = ScriptedBackend([result, None])
    records = [record("r1", "An answer.", CONTEXT), record("r2", None, CONTEXT),
               record("r3", "No docs here.", []), record("r4", "Skipped by judge.", CONTEXT)]
    records.append(replace(records[0], request_id="r5", output_messages=()))
    signals = score_groundedness(records, NOW, backend)
    assert [item[0] for item in backend.seen] == ["An answer.", "Skipped by judge."]
    assert backend.seen[0][1] == CONTEXT
    assert [(s.name, s.request_id) for s in signals] == [
        ("groundedness", "r1"), ("groundedness.unsupported_sentences", "r1")]
    score, count = signals
    assert score.value == 0.2 and score.label == "ungrounded" and score.detector == "scripted@1"
    assert score.explanation.startswith(long + " | Second")
    assert len(score.explanation) <= EXPLANATION_LIMIT
    assert count.value == 2.0 and count.detector == "scripted@1" and count.model == "gpt-4o"
    assert score_groundedness([], NOW, backend) == []


def test_grounded_label_and_real_backend() -> None:
    backend = EmbeddingGroundedness(HashingEmbedder())
    [score, count] = score_groundedness(
        [record("r1", "The battery charges fully in 3.5 hours.", CONTEXT)], NOW, backend)
    assert score.label == "grounded" and score.explanation == "" and count.value == 0.0
    assert score.detector == "embedding:hashing-1024@5"


def load_cases() -> list[dict[str, Any]]:
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line]


def test_labelled_set_is_well_formed() -> None:
    cases = load_cases()
    assert len(cases) >= 45 and len({c["id"] for c in cases}) == len(cases)
    no_number_change = 0
    for case in cases:
        assert set(case) == {"id", "context", "grounded", "hallucinated"}
        assert 1 <= len(case["context"]) <= 3
        assert 2 <= sum(len(split_sentences(doc)) for doc in case["context"]) <= 5
        for answer in (case["grounded"], case["hallucinated"]):
            assert 1 <= len(split_sentences(answer)) <= 4
        numbers = {f for f in extract_facts(case["hallucinated"]) if f[0].isdigit()}
        evidence = ContextEvidence.of(" ".join(case["context"]))
        no_number_change += all(evidence.supports(n) for n in numbers)
    assert no_number_change >= 15  # not everything is detectable by numbers alone


def labelled_auc(backend: EmbeddingGroundedness) -> float:
    cases = load_cases()
    results = backend.score_many([(c["grounded"], c["context"]) for c in cases]
                                 + [(c["hallucinated"], c["context"]) for c in cases])
    scores = [r.score for r in results]
    return roc_auc(scores[: len(cases)], scores[len(cases):])


def test_hashing_auc_on_labelled_set() -> None:
    auc = labelled_auc(EmbeddingGroundedness(HashingEmbedder()))
    print(f"groundedness ROC-AUC with hashing-1024: {auc:.3f}")
    assert auc >= HASHING_AUC_FLOOR


def test_minilm_auc_on_labelled_set(minilm: Embedder) -> None:
    auc = labelled_auc(EmbeddingGroundedness(minilm))
    print(f"groundedness ROC-AUC with all-MiniLM-L6-v2: {auc:.3f}")
    assert auc >= MINILM_AUC_FLOOR


SENTENCES = ["The battery charges in 3.5 hours.", "A glass of wine is fine.",
             "Refunds are issued within 14 days of the return arriving at our warehouse.", "Hi"]


def test_minilm_rows_are_unit_vectors_whatever_the_batch(minilm: Embedder) -> None:
    vectors = minilm.embed(SENTENCES * 2)  # two batches of 4, padded differently
    assert vectors.shape == (8, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    alone = minilm.embed(SENTENCES[2:3])[0]
    np.testing.assert_allclose(vectors[2], alone, atol=1e-5)
    np.testing.assert_allclose(vectors[2], vectors[6], atol=1e-5)
    assert minilm.name == "all-MiniLM-L6-v2" and minilm.embed([]).shape == (0, 384)
    close = minilm.embed(["The battery takes 3.5 hours to charge fully."])[0]
    assert float(close @ vectors[0]) > float(close @ vectors[1]) + 0.3


def test_hashing_embedder_is_stable_and_normalised() -> None:
    embedder = HashingEmbedder(dim=256)
    vectors = embedder.embed(SENTENCES)
    assert vectors.shape == (4, 256) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(vectors, HashingEmbedder(dim=256).embed(SENTENCES))
    assert np.all(embedder.embed(["", "the a of"]) == 0.0)  # nothing to hash: zero rows


def test_load_embedder_kinds_and_missing_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(load_embedder("hashing"), HashingEmbedder)
    with pytest.raises(ConfigError, match="unknown embedder"):
        load_embedder("word2vec")
    real_find_spec = embedder_module.importlib.util.find_spec
    monkeypatch.setattr(embedder_module.importlib.util, "find_spec",
                        lambda name: None if name == "torch" else real_find_spec(name))
    assert isinstance(load_embedder("auto"), HashingEmbedder)
    with pytest.raises(ConfigError, match=r"torch: pip install 'llmpulse\[models\]'"):
        load_embedder("minilm")
