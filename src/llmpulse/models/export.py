"""Export a Detoxify checkpoint to an ONNX model folder and check it against PyTorch.

The checkpoint is a Detoxify model name (downloaded, so online only) or a local ``.ckpt``
file.  A local checkpoint names its Hugging Face base model in ``config.arch.args.model_type``;
offline, ``hf_config_dir`` (a folder with that model's ``config.json`` and tokenizer files)
replaces it in a patched copy, so the checkpoint itself needs no editing.  Checkpoints are
pickles: export only ones you trust.

The graph is traced with eager (matmul-softmax) attention, then ONNX Runtime's transformer
optimizer fuses each attention block into one ``Attention`` operator.  When the optimizer
fails, fuses nothing, or its graph disagrees with PyTorch, the traced graph is kept and the
manifest says why.

The folder is written next to ``out_dir`` and moved into place only after the ONNX model
agrees with PyTorch on ``check_texts`` within the tolerance.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from llmpulse.errors import ConfigError, LlmpulseError
from llmpulse.models.toxicity_onnx import (
    MANIFEST_FILE,
    MODEL_FILE,
    MODEL_FILES,
    TOKENIZER_FILE,
    ModelManifest,
    OnnxToxicityModel,
)

DETOXIFY_NAMES = ("original", "unbiased", "multilingual", "original-small", "unbiased-small")
DEFAULT_TOLERANCE = 1e-3
MODELS_HINT = "pip install 'llmpulse[models]'"
CHECK_TEXTS: tuple[str, ...] = (
    "Thanks for the detailed answer, it solved my problem.",
    "You are a complete idiot and nobody wants you here.",
    "I will find you and hurt you.",
    "The quarterly report shows revenue grew by eight percent.",
    "What the hell is wrong with this stupid build?",
    "Kill the process with kill -9 and restart the service.",
    "People like them should go back where they came from.",
    "Could you send me the slides after the meeting?",
    "This is absolute garbage, written by a moron.",
    "Good morning! The weather is lovely today and the garden looks great after the rain.",
)
# Traced with padding present, so the graph keeps the attention-mask path.
_TRACE_TEXTS = ["a short text", "a longer text, so that the first one of the batch is padded"]
_ROBERTA_LIKE = ("roberta", "xlm-roberta", "camembert")
#: The traced graph, kept in the staging folder until the optimized one passes the check.
TRACED_FILE = "model.traced.onnx"
#: Hugging Face model types whose encoder ONNX Runtime's "bert" optimizer knows.
OPTIMIZER_MODEL_TYPES = {name: "bert" for name in (
    "bert", "roberta", "xlm-roberta", "camembert", "albert", "electra", "distilbert")}
#: Basic (hardware-independent) ONNX Runtime optimizations before the fusions, so the graph
#: still runs on every execution provider.
OPTIMIZER_LEVEL = 1

log = logging.getLogger(__name__)


class ExportCheckFailed(LlmpulseError):
    """The exported model disagrees with PyTorch by more than the tolerance."""


@dataclass(frozen=True, slots=True)
class ExportReport:
    out_dir: Path
    labels: tuple[str, ...]
    max_abs_diff: float
    label_diffs: Mapping[str, float]
    providers: tuple[str, ...]
    seconds: float


def export_toxicity(checkpoint: str, out_dir: Path, *, hf_config_dir: Path | None,
                    opset: int = 17, check_texts: Sequence[str] = CHECK_TEXTS,
                    tolerance: float = DEFAULT_TOLERANCE, optimize: bool = True
                    ) -> ExportReport:
    """Write ``model.onnx``, ``tokenizer.json`` and ``llmpulse-model.json`` to ``out_dir``.

    ``optimize=False`` keeps the traced graph without trying ONNX Runtime's optimizer.
    """
    started = time.perf_counter()
    detox = load_detoxify(checkpoint, hf_config_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}-", dir=out_dir.parent) as tmp:
        staging = Path(tmp)
        manifest = write_model_folder(detox, staging, checkpoint=checkpoint, opset=opset,
                                      optimize=optimize)
        manifest, model, diffs = check_folder(detox, staging, manifest, check_texts, tolerance)
        worst = max(diffs.values(), default=0.0)
        if worst > tolerance:
            raise ExportCheckFailed(
                f"ONNX and PyTorch differ by up to {worst:.2e} (tolerance {tolerance:.0e}): "
                + ", ".join(f"{label} {diff:.2e}" for label, diff in diffs.items()))
        check = {"texts": len(check_texts), "max_abs_diff": worst, "tolerance": tolerance}
        checked = replace(manifest, export={**manifest.export, "check": check})
        (staging / MANIFEST_FILE).write_text(checked.to_json(), encoding="utf-8")
        publish(staging, out_dir)
    return ExportReport(out_dir=out_dir, labels=model.labels, max_abs_diff=worst,
                        label_diffs=diffs, providers=model.providers,
                        seconds=time.perf_counter() - started)


def load_detoxify(checkpoint: str, hf_config_dir: Path | None) -> Any:
    """A ``detoxify.Detoxify`` for a model name or a local checkpoint file."""
    try:
        from detoxify import Detoxify
    except ImportError as exc:
        raise ConfigError(f"exporting needs PyTorch, transformers and detoxify: {MODELS_HINT}"
                          ) from exc
    config_path = str(hf_config_dir) if hf_config_dir is not None else None
    if checkpoint in DETOXIFY_NAMES:
        return _loading(checkpoint, lambda: Detoxify(model_type=checkpoint,
                                                     huggingface_config_path=config_path))
    path = Path(checkpoint)
    if not path.is_file():
        raise ConfigError(f"{checkpoint!r} is neither a Detoxify model name "
                          f"({', '.join(DETOXIFY_NAMES)}) nor a checkpoint file")
    if hf_config_dir is None:
        return _loading(checkpoint, lambda: Detoxify(checkpoint=str(path)))
    with tempfile.TemporaryDirectory(prefix="llmpulse-ckpt-") as tmp:
        patched = point_at_local_config(path, hf_config_dir, Path(tmp))
        # The config comes through model_type rather than huggingface_config_path: Detoxify
        # reads the latter without the checkpoint's label count, which breaks on stock configs.
        return _loading(checkpoint, lambda: Detoxify(checkpoint=str(patched)))


def _loading(checkpoint: str, load: Callable[[], Any]) -> Any:
    try:
        return load()
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ConfigError(
            f"cannot load Detoxify checkpoint {checkpoint!r}: {exc}. Offline, pass --hf-config "
            "with a folder holding the base model's config.json and tokenizer files") from exc


def point_at_local_config(checkpoint: Path, hf_config_dir: Path, tmp: Path) -> Path:
    """A copy of ``checkpoint`` whose ``config.arch.args.model_type`` is ``hf_config_dir``."""
    import torch

    if not (hf_config_dir / "config.json").is_file():
        raise ConfigError(f"--hf-config folder {hf_config_dir} has no config.json")
    loaded = torch.load(checkpoint, map_location="cpu", weights_only=False)
    try:
        loaded["config"]["arch"]["args"]["model_type"] = str(hf_config_dir.resolve())
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{checkpoint} is not a Detoxify checkpoint: it has no "
                          "config.arch.args") from exc
    patched = tmp / checkpoint.name
    torch.save(loaded, patched)
    return patched


def check_folder(detox: Any, folder: Path, manifest: ModelManifest, texts: Sequence[str],
                 tolerance: float) -> tuple[ModelManifest, OnnxToxicityModel, dict[str, float]]:
    """The model in ``folder`` and its differences from PyTorch on ``texts``.

    An optimized graph that misses the tolerance is swapped for the traced one, which is
    then checked instead; the manifest returned describes the graph that was checked.
    """
    model = OnnxToxicityModel(folder)
    diffs = compare(detox, model, texts)
    worst = max(diffs.values(), default=0.0)
    if worst <= tolerance or not manifest.export["optimizer"]["optimized"]:
        return manifest, model, diffs
    log.warning("the optimized graph differs from PyTorch by up to %.2e; keeping the "
                "unoptimized one", worst)
    manifest = keep_traced_graph(folder, manifest, f"differs from PyTorch by up to {worst:.2e}")
    model = OnnxToxicityModel(folder)
    return manifest, model, compare(detox, model, texts)


def write_model_folder(detox: Any, folder: Path, *, checkpoint: str, opset: int,
                       optimize: bool = True) -> ModelManifest:
    """The model files in ``folder``; an optimized ``model.onnx`` keeps the traced graph
    beside it (``model.traced.onnx``) for :func:`keep_traced_graph`."""
    inputs = export_graph(detox.model, detox.tokenizer, folder / TRACED_FILE, opset=opset)
    optimizer = (optimize_graph(folder / TRACED_FILE, folder / MODEL_FILE, detox.model.config)
                 if optimize else {"optimized": False, "reason": "not asked for"})
    if not optimizer["optimized"]:
        os.replace(folder / TRACED_FILE, folder / MODEL_FILE)
    save_fast_tokenizer(detox.tokenizer, folder)
    tokenizer = detox.tokenizer
    if tokenizer.pad_token is None or tokenizer.pad_token_id is None:
        raise ConfigError(f"the tokenizer of {checkpoint!r} has no padding token")
    manifest = ModelManifest(
        name=model_name(checkpoint), labels=tuple(detox.class_names),
        max_length=max_length(tokenizer, detox.model.config),
        pad_id=int(tokenizer.pad_token_id), pad_token=str(tokenizer.pad_token),
        source=checkpoint,
        export={**_export_info(detox.model, inputs, opset), "optimizer": optimizer})
    (folder / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
    return manifest


def keep_traced_graph(folder: Path, manifest: ModelManifest, reason: str) -> ModelManifest:
    """Put the traced graph back as ``model.onnx``; the manifest, saying why."""
    os.replace(folder / TRACED_FILE, folder / MODEL_FILE)
    optimizer = {**manifest.export["optimizer"], "optimized": False, "reason": reason}
    kept = replace(manifest, export={**manifest.export, "optimizer": optimizer})
    (folder / MANIFEST_FILE).write_text(kept.to_json(), encoding="utf-8")
    return kept


def _export_info(model: Any, inputs: Sequence[str], opset: int) -> dict[str, Any]:
    versions = {}
    for package in ("torch", "transformers", "detoxify", "onnx", "onnxruntime"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = ""
    return {"exporter": "torch.onnx.export (TorchScript)", "opset": opset,
            "inputs": list(inputs), "model_class": type(model).__name__, "versions": versions}


def optimize_graph(traced: Path, out: Path, config: Any) -> dict[str, Any]:
    """Fuse the attention blocks of ``traced`` into ``out``; what was done, for the manifest.

    Only attention is fused, with the raw 0/1 mask.  ONNX Runtime's session optimizer
    already fuses LayerNorm and GELU on load, and the optimizer's SkipLayerNormalization,
    BiasGelu and EmbedLayerNormalization versions ran about 6 % slower on a 2-core CPU.
    Nothing is written to ``out`` unless ``optimized`` is true.
    """
    hf_type = str(getattr(config, "model_type", ""))
    model_type = OPTIMIZER_MODEL_TYPES.get(hf_type)
    if model_type is None:
        return _not_optimized(f"no optimizer for model type {hf_type!r}")
    info: dict[str, Any] = {"tool": "onnxruntime.transformers.optimizer",
                            "model_type": model_type, "opt_level": OPTIMIZER_LEVEL}
    try:
        fused = _fuse_attention(traced, out, model_type, config)
    except Exception as exc:  # the optimizer's fusions fail with many exception types
        return _not_optimized(f"optimizer failed: {type(exc).__name__}: {exc}", info)
    if not fused["Attention"]:
        return _not_optimized("the optimizer fused no attention block", info)
    return {"optimized": True, **info, "fused": fused}


def _not_optimized(reason: str, info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    log.warning("exporting the unoptimized graph: %s", reason)
    return {"optimized": False, **(info or {}), "reason": reason}


def _fuse_attention(traced: Path, out: Path, model_type: str, config: Any) -> dict[str, int]:
    from onnxruntime.transformers.fusion_options import AttentionMaskFormat, FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions(model_type)
    for name in ("enable_gelu", "enable_layer_norm", "enable_skip_layer_norm",
                 "enable_bias_skip_layer_norm", "enable_embed_layer_norm", "enable_bias_gelu"):
        setattr(options, name, False)
    options.attention_mask_format = AttentionMaskFormat.AttentionMask
    optimized = optimize_model(
        str(traced), model_type=model_type, num_heads=int(config.num_attention_heads),
        hidden_size=int(config.hidden_size), optimization_options=options,
        opt_level=OPTIMIZER_LEVEL, use_gpu=False)
    blocks = int(optimized.get_fused_operator_statistics().get("Attention", 0))
    if blocks:
        optimized.save_model_to_file(str(out), use_external_data_format=False)
    return {"Attention": blocks}


def model_name(checkpoint: str) -> str:
    name = checkpoint if checkpoint in DETOXIFY_NAMES else Path(checkpoint).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name) or "model"


def max_length(tokenizer: Any, config: Any) -> int:
    """Longest input the model's position embeddings allow, or less if the tokenizer says so."""
    limit = int(getattr(config, "max_position_embeddings", 512))
    if getattr(config, "model_type", "") in _ROBERTA_LIKE:
        limit -= int(getattr(config, "pad_token_id", 1) or 1) + 1
    declared = getattr(tokenizer, "model_max_length", None)
    return min(limit, int(declared)) if isinstance(declared, int) and declared > 0 else limit


def export_graph(model: Any, tokenizer: Any, path: Path, *, opset: int) -> tuple[str, ...]:
    """Trace the classifier to ONNX with dynamic batch and sequence axes; the input names."""
    import torch

    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in tokenizer.model_input_names:
        names.append("token_type_ids")
    sample = tokenizer(_TRACE_TEXTS, return_tensors="pt", padding=True, truncation=True)
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    model.eval()
    with torch.no_grad(), warnings.catch_warnings(), eager_attention(model):
        tracer_warning = torch.jit.TracerWarning  # type: ignore[attr-defined]
        warnings.filterwarnings("ignore", category=tracer_warning)
        warnings.filterwarnings("ignore", message=".*TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", message=".*aten::index")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        torch.onnx.export(
            _logits_only(model, names), tuple(sample[name] for name in names), str(path),
            input_names=names, output_names=["logits"],
            dynamic_axes={**axes, "logits": {0: "batch"}}, opset_version=opset,
            do_constant_folding=True, dynamo=False)
    return tuple(names)


@contextmanager
def eager_attention(model: Any) -> Iterator[None]:
    """Run ``model`` with eager attention, whose traced pattern the optimizer can fuse.

    The SDPA kernel, the default of recent transformers, traces to a graph it does not
    recognise.  Models without ``set_attn_implementation`` are left as they are.
    """
    before = getattr(getattr(model, "config", None), "_attn_implementation", None)
    switch = getattr(model, "set_attn_implementation", None)
    if switch is None or before in (None, "eager"):
        yield
        return
    switch("eager")
    try:
        yield
    finally:
        switch(before)


def _logits_only(model: Any, names: Sequence[str]) -> Any:
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.classifier = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            logits: torch.Tensor = self.classifier(**dict(zip(names, tensors, strict=True))).logits
            return logits

    return LogitsOnly()


def save_fast_tokenizer(tokenizer: Any, folder: Path) -> None:
    """Write the tokenizer's ``tokenizer.json`` to ``folder`` (converting a slow one if able)."""
    saved = folder / "hf-tokenizer"
    tokenizer.save_pretrained(str(saved))
    reason = "" if (saved / TOKENIZER_FILE).is_file() else _convert_to_fast(saved)
    if not (saved / TOKENIZER_FILE).is_file():
        raise ConfigError(f"the checkpoint's tokenizer ({type(tokenizer).__name__}) is not a "
                          f"fast tokenizer and could not be converted to one{reason}")
    os.replace(saved / TOKENIZER_FILE, folder / TOKENIZER_FILE)
    shutil.rmtree(saved)


def _convert_to_fast(saved: Path) -> str:
    """Rewrite the slow tokenizer saved in ``saved`` as a fast one; why it failed, or ""."""
    from transformers import AutoTokenizer

    try:
        AutoTokenizer.from_pretrained(str(saved), use_fast=True).save_pretrained(str(saved))
    except (OSError, ValueError, ImportError) as exc:
        return f": {exc}"
    return ""


def compare(detox: Any, model: OnnxToxicityModel, texts: Sequence[str]) -> dict[str, float]:
    """Largest absolute difference per label between PyTorch and ONNX probabilities."""
    reference = detox.predict(list(texts))
    rows = model.predict(texts)
    diffs: dict[str, float] = {}
    for label in model.labels:
        column = reference[label]
        values = column if isinstance(column, list) else [column]
        diffs[label] = max((abs(float(a) - row[label])
                            for a, row in zip(values, rows, strict=True)), default=0.0)
    return diffs


def publish(staging: Path, out_dir: Path) -> None:
    """Move the model files from ``staging`` into ``out_dir``, replacing older ones."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        os.replace(staging / name, out_dir / name)
