"""ONNX Runtime sessions on the best execution provider this machine has."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from llmpulse.errors import ConfigError

if TYPE_CHECKING:
    from onnxruntime import InferenceSession, SessionOptions

#: GPU providers in order of preference; the CPU provider is always added last.
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
CPU_PROVIDER = "CPUExecutionProvider"
INSTALL_HINT = "pip install 'llmpulse[cpu]' or 'llmpulse[gpu]', not both"


def wanted_providers(available: list[str], *, prefer_gpu: bool) -> list[str]:
    """The available GPU providers (when preferred) in preference order, then the CPU one."""
    gpu = [name for name in GPU_PROVIDERS if prefer_gpu and name in available]
    return [*gpu, CPU_PROVIDER]


def create_session(model_path: Path, *, prefer_gpu: bool = True,
                   threads: int | None = None) -> tuple[InferenceSession, tuple[str, ...]]:
    """A session for ``model_path`` and the providers it really got.

    A GPU build without a usable GPU falls back to the CPU without an error, so the
    providers come from the session, not from the request.
    """
    try:
        import onnxruntime
    except ImportError as exc:
        raise ConfigError(f"onnxruntime is not installed: {INSTALL_HINT}") from exc
    if not model_path.is_file():
        raise ConfigError(f"no ONNX model at {model_path}")
    providers = wanted_providers(onnxruntime.get_available_providers(), prefer_gpu=prefer_gpu)
    session = onnxruntime.InferenceSession(str(model_path), sess_options=session_options(threads),
                                           providers=providers)
    return session, tuple(session.get_providers())


def session_options(threads: int | None) -> SessionOptions:
    """All graph optimizations, operators run one after another, ``threads`` inside each.

    Without ``threads`` ONNX Runtime uses one thread per physical core.  The optimized graph
    is not saved: ``ORT_ENABLE_ALL`` rewrites it for this machine's CPU, and redoing that at
    each load costs about 0.3 s for a BERT-base model.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads is not None:
        options.intra_op_num_threads = threads
    return options
