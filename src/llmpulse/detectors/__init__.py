"""Pure detectors: ``score(records, now) -> list[Signal]``; no I/O, no clock, no globals."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from llmpulse.detectors.cost import CostDetector
from llmpulse.detectors.injection import score_injection
from llmpulse.detectors.insecure_output import score_insecure_output
from llmpulse.detectors.latency import score_latency
from llmpulse.detectors.leakage import score_leakage
from llmpulse.detectors.lengths import score_lengths
from llmpulse.detectors.usage import score_usage
from llmpulse.records import InferenceRecord
from llmpulse.signals import Signal

Detector = Callable[[Sequence[InferenceRecord], datetime], list[Signal]]


def cheap_path_detectors(cost: CostDetector | None = None) -> dict[str, Detector]:
    """The detectors of the cheap path, by name (explicit, no auto-registration)."""
    return {
        "latency": score_latency,
        "usage": score_usage,
        "cost": (cost or CostDetector()).score,
        "lengths": score_lengths,
        "injection": score_injection,
        "system_prompt_leak": score_leakage,
        "insecure_output": score_insecure_output,
    }
