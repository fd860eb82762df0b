"""Export of a tiny random Detoxify-format checkpoint to ONNX, all offline."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from llmpulse.cli.models import models
from llmpulse.detectors.toxicity import LexiconToxicityModel
from llmpulse.errors import ConfigError
from llmpulse.models import export as export_module
from llmpulse.models.export import CHECK_TEXTS, ExportCheckFailed, export_toxicity
from llmpulse.models.toxicity_onnx import OnnxToxicityModel, load_toxicity_model
from tests.harness.tiny_models import build_tiny_detoxify

RENAMED = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack")
TEXTS = [
    "hello",
    "you are an idiot and i hate you",
    "thanks for the help with the report today, it was really good work",
    "",
    "kill the process and start the service again, then check the report and tell me " * 3,
    "Zebra quantum xylophone!",  # words outside the vocabulary
]


@pytest.fixture(scope="module")
def offline() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        import huggingface_hub.constants

        patch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        yield


@pytest.fixture(scope="module")
def tiny(offline: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_tiny_detoxify(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def exported(tiny: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[export_module.ExportReport, Path]:
    checkpoint, hf_dir = tiny
    out = tmp_path_factory.mktemp("export") / "toxicity-model"
    return export_toxicity(str(checkpoint), out, hf_config_dir=hf_dir), out


@pytest.fixture(scope="module")
def pytorch(tiny: tuple[Path, Path]) -> Any:
    return export_module.load_detoxify(str(tiny[0]), tiny[1])


def test_export_writes_a_checked_model_folder(exported: tuple[Any, Path]) -> None:
    report, out = exported
    assert sorted(p.name for p in out.iterdir()) == [
        "llmpulse-model.json", "model.onnx", "tokenizer.json"]
    assert report.labels == RENAMED
    assert report.max_abs_diff < 1e-4
    assert set(report.label_diffs) == set(RENAMED)
    assert "CPUExecutionProvider" in report.providers
    manifest = json.loads((out / "llmpulse-model.json").read_text())
    assert manifest["labels"] == list(RENAMED)
    assert manifest["export"]["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert manifest["export"]["check"]["max_abs_diff"] == report.max_abs_diff
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


def test_onnx_matches_pytorch_on_other_texts(exported: tuple[Any, Path], pytorch: Any) -> None:
    model = OnnxToxicityModel(exported[1])
    diffs = export_module.compare(pytorch, model, TEXTS)
    assert max(diffs.values()) < 1e-4
    spread = [row["insult"] for row in model.predict(TEXTS)]
    assert max(spread) - min(spread) > 1e-3  # the random model still depends on the text


def test_onnx_model_names_model_and_providers(exported: tuple[Any, Path]) -> None:
    model = OnnxToxicityModel(exported[1], prefer_gpu=False, threads=1)
    digest = hashlib.sha256((exported[1] / "model.onnx").read_bytes()).hexdigest()[:8]
    assert model.scorer == f"detoxify-onnx:tiny-detoxify-h32-l2@{digest}/cpu"
    assert model.providers == ("CPUExecutionProvider",)
    assert model.labels == RENAMED


def test_batches_give_the_same_scores_as_single_texts(exported: tuple[Any, Path]) -> None:
    model = OnnxToxicityModel(exported[1])
    single = [model.predict([text])[0] for text in TEXTS]
    for size in (2, 4, len(TEXTS)):
        batched = [row for start in range(0, len(TEXTS), size)
                   for row in model.predict(TEXTS[start:start + size])]
        for one, many in zip(single, batched, strict=True):
            assert max(abs(one[label] - many[label]) for label in RENAMED) < 1e-5
    assert model.predict([]) == []


def test_long_texts_are_truncated_to_max_length(exported: tuple[Any, Path]) -> None:
    model = OnnxToxicityModel(exported[1])
    (row,) = model.predict(["hello " * 5000])
    assert set(row) == set(RENAMED)


def test_cli_exports_and_prints_a_summary(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    checkpoint, hf_dir = tiny
    out = tmp_path / "model"
    result = CliRunner().invoke(models, ["export-toxicity", str(checkpoint), "-o", str(out),
                                         "--hf-config", str(hf_dir), "--opset", "17"])
    assert result.exit_code == 0, result.output
    assert "toxicity, severe_toxicity, obscene, threat, insult, identity_attack" in result.output
    assert "CPUExecutionProvider" in result.output
    assert "max diff" in result.output
    assert (out / "model.onnx").is_file()


def test_failed_check_publishes_nothing(tiny: tuple[Path, Path], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export_module, "compare", lambda *_: dict.fromkeys(RENAMED, 0.5))
    out = tmp_path / "model"
    with pytest.raises(ExportCheckFailed, match=r"differ by up to 5\.00e-01"):
        export_toxicity(str(tiny[0]), out, hf_config_dir=tiny[1])
    assert list(tmp_path.iterdir()) == []


def test_export_errors_name_the_problem(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="neither a Detoxify model name"):
        export_toxicity(str(tmp_path / "missing.ckpt"), tmp_path / "out", hf_config_dir=None)
    with pytest.raises(ConfigError, match="--hf-config"):
        export_toxicity(str(tiny[0]), tmp_path / "out", hf_config_dir=None)
    with pytest.raises(ConfigError, match=r"no config\.json"):
        export_toxicity(str(tiny[0]), tmp_path / "out", hf_config_dir=tmp_path)


def test_stock_config_with_another_label_count_still_loads(tiny: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    stock = tmp_path / "bert-base-uncased"
    shutil.copytree(tiny[1], stock)
    config = json.loads((stock / "config.json").read_text())
    for key in ("id2label", "label2id"):
        config.pop(key, None)
    (stock / "config.json").write_text(json.dumps(config))
    report = export_toxicity(str(tiny[0]), tmp_path / "out", hf_config_dir=stock)
    assert report.labels == RENAMED
    assert report.max_abs_diff < 1e-4


def test_load_toxicity_model_falls_back_or_fails_clearly(exported: tuple[Any, Path],
                                                         tmp_path: Path) -> None:
    assert isinstance(load_toxicity_model(None), LexiconToxicityModel)
    assert isinstance(load_toxicity_model(tmp_path / "nowhere"), LexiconToxicityModel)
    assert isinstance(load_toxicity_model(exported[1]), OnnxToxicityModel)
    broken = tmp_path / "broken"
    shutil.copytree(exported[1], broken)
    (broken / "tokenizer.json").unlink()
    with pytest.raises(ConfigError, match=r"lacks tokenizer\.json"):
        load_toxicity_model(broken)
    shutil.copy(exported[1] / "tokenizer.json", broken)
    (broken / "llmpulse-model.json").write_text("{not json")
    with pytest.raises(ConfigError, match="unreadable model manifest"):
        load_toxicity_model(broken)
    with pytest.raises(ConfigError, match="is a file"):
        load_toxicity_model(broken / "model.onnx")


def manifest_export(folder: Path) -> dict[str, Any]:
    export: dict[str, Any] = json.loads((folder / "llmpulse-model.json").read_text())["export"]
    return export


def graph_ops(folder: Path) -> set[str]:
    import onnx

    return {node.op_type for node in onnx.load(str(folder / "model.onnx")).graph.node}


def test_optimized_export_fuses_attention_and_matches_pytorch(exported: tuple[Any, Path],
                                                              pytorch: Any) -> None:
    optimizer = manifest_export(exported[1])["optimizer"]
    assert optimizer["optimized"] is True
    assert optimizer["fused"] == {"Attention": 2}  # one per layer of the tiny model
    assert optimizer["model_type"] == "bert"
    assert "Attention" in graph_ops(exported[1])
    diffs = export_module.compare(pytorch, OnnxToxicityModel(exported[1]),
                                  [*CHECK_TEXTS, *TEXTS])
    assert max(diffs.values()) < 1e-4


def test_optimizer_failure_keeps_the_traced_graph(tiny: tuple[Path, Path], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    def broken(*_: Any) -> dict[str, int]:
        raise RuntimeError("no pattern")

    monkeypatch.setattr(export_module, "_fuse_attention", broken)
    out = tmp_path / "model"
    with caplog.at_level(logging.WARNING, logger="llmpulse.models.export"):
        report = export_toxicity(str(tiny[0]), out, hf_config_dir=tiny[1])
    optimizer = manifest_export(out)["optimizer"]
    assert optimizer["optimized"] is False
    assert optimizer["reason"] == "optimizer failed: RuntimeError: no pattern"
    assert "unoptimized graph" in caplog.text
    assert "Attention" not in graph_ops(out)
    assert report.max_abs_diff < 1e-4
    assert sorted(p.name for p in out.iterdir()) == [
        "llmpulse-model.json", "model.onnx", "tokenizer.json"]


def test_optimized_graph_failing_the_check_falls_back(tiny: tuple[Path, Path], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    real_compare, calls = export_module.compare, []

    def first_check_fails(detox: Any, model: Any, texts: Any) -> dict[str, float]:
        calls.append(model)
        diffs = real_compare(detox, model, texts)
        return dict.fromkeys(diffs, 0.5) if len(calls) == 1 else diffs

    monkeypatch.setattr(export_module, "compare", first_check_fails)
    out = tmp_path / "model"
    report = export_toxicity(str(tiny[0]), out, hf_config_dir=tiny[1])
    assert len(calls) == 2
    optimizer = manifest_export(out)["optimizer"]
    assert optimizer["optimized"] is False
    assert optimizer["reason"] == "differs from PyTorch by up to 5.00e-01"
    assert optimizer["fused"] == {"Attention": 2}
    assert "Attention" not in graph_ops(out)
    assert report.max_abs_diff < 1e-4


def test_optimizer_can_be_skipped_and_names_what_it_cannot_do(
        tiny: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "model"
    with caplog.at_level(logging.WARNING, logger="llmpulse.models.export"):
        export_toxicity(str(tiny[0]), out, hf_config_dir=tiny[1], optimize=False)
    assert manifest_export(out)["optimizer"] == {"optimized": False, "reason": "not asked for"}
    assert not [r for r in caplog.records if r.name == "llmpulse.models.export"]
    info = export_module.optimize_graph(out / "model.onnx", tmp_path / "never.onnx",
                                        SimpleNamespace(model_type="gpt2"))
    assert info == {"optimized": False, "reason": "no optimizer for model type 'gpt2'"}
    assert not (tmp_path / "never.onnx").exists()


class RecordingSession:
    """Wraps an ONNX Runtime session and remembers the shape of each batch it runs."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.shapes: list[tuple[int, int]] = []

    def run(self, outputs: Any, feeds: dict[str, Any]) -> Any:
        self.shapes.append(feeds["input_ids"].shape)
        return self.session.run(outputs, feeds)


def test_predict_batches_by_length_and_keeps_input_order(exported: tuple[Any, Path]) -> None:
    model = OnnxToxicityModel(exported[1], batch_size=2)
    texts = [*TEXTS, *reversed(TEXTS), "hello again"]
    single = [model.predict([text])[0] for text in texts]
    recorder = RecordingSession(model._session)
    model._session = recorder
    rows = model.predict(texts)
    for one, row in zip(single, rows, strict=True):
        assert max(abs(one[label] - row[label]) for label in RENAMED) < 1e-5
    assert [size for size, _ in recorder.shapes] == [2] * 6 + [1]
    widths = [width for _, width in recorder.shapes]
    assert widths == sorted(widths)


def test_batch_size_must_be_positive(exported: tuple[Any, Path]) -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        OnnxToxicityModel(exported[1], batch_size=0)
