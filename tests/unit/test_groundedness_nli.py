"""NLI groundedness on ONNX: plumbing checked with a tiny random model exported in the test."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llmpulse.errors import ConfigError
from llmpulse.models.nli_onnx import NliGroundedness, label_indices, softmax

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnxruntime")

LABELS = {0: "contradiction", 1: "entailment", 2: "neutral"}
CONTEXT = [
    "The Nimbus X2 router supports Wi-Fi 6. A factory reset is done by holding the rear button "
    "for 10 seconds. Firmware updates are installed every night.",
    "Support is available by chat from 9 to 5 on weekdays.",
]
ITEMS: list[tuple[str, list[str]]] = [
    ("Hold the rear button for 10 seconds to reset the router.", CONTEXT),
    ("Sure! Firmware updates are installed every night. Chat support runs on weekdays.",
     CONTEXT),
    ("The router supports Wi-Fi 7 and costs 300 dollars.", CONTEXT[:1]),
]


def _build_model(folder: Path) -> Any:
    import torch
    from tokenizers.implementations import BertWordPieceTokenizer
    from transformers import BertConfig, BertForSequenceClassification

    tokenizer = BertWordPieceTokenizer(lowercase=True)
    corpus = [text for answer, docs in ITEMS for text in (answer, *docs)]
    tokenizer.train_from_iterator(corpus, vocab_size=300, min_frequency=1)
    tokenizer.save(str(folder / "tokenizer.json"))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128,
        num_labels=3, id2label=LABELS, label2id={v: k for k, v in LABELS.items()},
        pad_token_id=tokenizer.token_to_id("[PAD]"), attn_implementation="eager")
    model = BertForSequenceClassification(config).eval()
    config.save_pretrained(str(folder))
    example = tokenizer.encode_batch([("a premise", "a hypothesis")])
    inputs = tuple(torch.tensor([getattr(example[0], name)], dtype=torch.long)
                   for name in ("ids", "attention_mask", "type_ids"))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation and trace notes
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, inputs, str(folder / "model.onnx"), input_names=names,
            output_names=["logits"], opset_version=17, dynamo=False,
            dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in names},
                          "logits": {0: "batch"}})
    return model


@pytest.fixture(scope="module")
def tiny_nli(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    folder = tmp_path_factory.mktemp("tiny-nli")
    return folder, _build_model(folder)


@pytest.fixture(scope="module")
def backend(tiny_nli: tuple[Path, Any]) -> NliGroundedness:
    return NliGroundedness(tiny_nli[0], threads=1, batch_size=3, max_length=64)


def test_label_lookup_is_case_insensitive_and_strict() -> None:
    assert label_indices({"id2label": {"0": "contradiction", "1": "entailment",
                                       "2": "neutral"}}) == (1, 0)
    assert label_indices({"id2label": {"0": "ENTAILMENT", "1": "Neutral",
                                       "2": "CONTRADICTION"}}) == (0, 2)
    with pytest.raises(ConfigError, match="entailment"):
        label_indices({"id2label": {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"}})
    with pytest.raises(ConfigError):
        label_indices({})


def test_softmax_rows_are_probabilities() -> None:
    probs = softmax(np.array([[1000.0, 0.0, -1000.0], [1.0, 1.0, 1.0]], dtype=np.float32))
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(probs[1], 1 / 3, rtol=1e-6)


def test_onnx_probabilities_match_torch(backend: NliGroundedness,
                                        tiny_nli: tuple[Path, Any]) -> None:
    import torch
    from tokenizers import Tokenizer

    pairs = [(CONTEXT[0], ITEMS[0][0]), (CONTEXT[1], "Chat is open on weekdays."),
             ("short premise", "a much longer hypothesis about firmware updates every night")]
    probs = backend.probabilities(pairs)
    assert probs.shape == (3, 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    tokenizer = Tokenizer.from_file(str(tiny_nli[0] / "tokenizer.json"))
    for (premise, hypothesis), got in zip(pairs, probs, strict=True):
        encoding = tokenizer.encode(premise, hypothesis)
        with torch.no_grad():
            logits = tiny_nli[1](
                input_ids=torch.tensor([encoding.ids]),
                attention_mask=torch.tensor([encoding.attention_mask]),
                token_type_ids=torch.tensor([encoding.type_ids])).logits
        np.testing.assert_allclose(got, torch.softmax(logits, dim=-1)[0].numpy(), atol=1e-5)
    assert backend.probabilities([]).shape[0] == 0


def test_batched_scores_equal_one_by_one(backend: NliGroundedness) -> None:
    together = backend.score_many(ITEMS)
    alone = [backend.score_many([item])[0] for item in ITEMS]
    assert len(together) == len(ITEMS)
    for batched, single in zip(together, alone, strict=True):
        assert batched.score == pytest.approx(single.score, abs=1e-5)
        assert [s.sentence for s in batched.sentences] == [s.sentence for s in single.sentences]
        for a, b in zip(batched.sentences, single.sentences, strict=True):
            assert a.similarity == pytest.approx(b.similarity, abs=1e-5)
            assert 0.0 <= a.similarity <= 1.0 and 0.0 <= a.score <= 1.0


def test_result_shape_and_fact_check(backend: NliGroundedness) -> None:
    results = backend.score_many(ITEMS)
    assert [len(r.sentences) for r in results] == [1, 2, 1]  # "Sure!" does not count
    fabricated = results[2].sentences[0]
    assert set(fabricated.missing_facts) == {"300", "7"}
    assert not fabricated.supported and results[2].unsupported == [fabricated.sentence]
    assert all(r.scorer == backend.scorer for r in results)


def test_scorer_names_the_providers_the_session_really_uses(backend: NliGroundedness) -> None:
    assert backend.providers == tuple(backend._session.get_providers())
    assert "CPUExecutionProvider" in backend.providers
    assert backend.scorer.startswith("nli:") and backend.scorer.endswith("CPU]")


def test_missing_files_and_bad_labels_fail_clearly(tmp_path: Path,
                                                   tiny_nli: tuple[Path, Any]) -> None:
    with pytest.raises(ConfigError, match=r"model\.onnx"):
        NliGroundedness(tmp_path)
    for name in ("model.onnx", "tokenizer.json"):
        (tmp_path / name).write_bytes((tiny_nli[0] / name).read_bytes())
    (tmp_path / "config.json").write_text(json.dumps({"id2label": {"0": "yes", "1": "no"}}))
    with pytest.raises(ConfigError, match="id2label"):
        NliGroundedness(tmp_path)
