"""The signal: one named number about one call, the output of every detector."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Signal:
    """Shaped like the OTel ``gen_ai.evaluation.result`` event plus group keys."""

    name: str
    value: float
    request_id: str
    time: datetime
    model: str
    provider: str
    route: str
    tenant: str
    label: str = ""
    detector: str = ""
    source: str = "detector"
    explanation: str = ""
