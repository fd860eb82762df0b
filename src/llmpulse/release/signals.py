"""What a release comparison looks at: the signals, their kind, which way is worse, and how
much worse matters; and the per-call observations they are computed from.

The definitions follow the windows' (:class:`llmpulse.windows.WindowAggregate`): a timeout
is an ``error.type`` containing "timeout", the length and content-filter rates count
finish reasons, the toxicity rate is the share of scored responses labelled toxic, the
ungrounded rate the share of scored RAG answers labelled ungrounded, the thumbs-down rate
is per thumb given, the correction rate per piece of feedback.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # numpy is imported when a sample is read, not with the command line
    import numpy as np

Kind = Literal["proportion", "mean", "quantile"]


@dataclass(frozen=True, slots=True)
class SignalSpec:
    """One compared signal.

    ``data`` names the observations it reads (several signals may share them);
    ``worse`` is +1 when higher is worse, -1 when higher is better; a change is a
    regression only when it is worse by more than ``threshold`` (in the signal's units
    when ``relative`` is false, else as a share of the baseline's value); ``min_n`` is the
    fewest observations per side before it is judged.
    """

    name: str
    kind: Kind
    data: str
    worse: int
    threshold: float
    relative: bool
    min_n: int
    q: float = 0.5  # for quantiles
    unit: str = ""


def _rate(name: str, data: str, threshold: float, min_n: int = 200) -> SignalSpec:
    return SignalSpec(name, "proportion", data, +1, threshold, False, min_n)


def _quantile(name: str, data: str, q: float) -> SignalSpec:
    return SignalSpec(name, "quantile", data, +1, 0.10, True, 100 if q <= 0.5 else 200, q,
                      "s")


#: Every signal, in report order.  Thresholds are absolute for rates (a difference in
#: percentage points) and for bounded scores, relative for latency, tokens and cost.
SIGNALS: tuple[SignalSpec, ...] = (
    _rate("error_rate", "error", 0.01),
    _rate("timeout_rate", "timeout", 0.01),
    _rate("length_rate", "length", 0.02),
    _rate("content_filter_rate", "content_filter", 0.01),
    _quantile("duration_p50", "duration", 0.50),
    _quantile("duration_p95", "duration", 0.95),
    _quantile("ttft_p50", "ttft", 0.50),
    _quantile("ttft_p95", "ttft", 0.95),
    _quantile("tpot_p50", "tpot", 0.50),
    SignalSpec("input_tokens_mean", "mean", "input_tokens", +1, 0.10, True, 100),
    SignalSpec("output_tokens_mean", "mean", "output_tokens", +1, 0.10, True, 100),
    SignalSpec("cost_per_call", "mean", "cost", +1, 0.10, True, 100, unit="USD"),
    _rate("toxicity_rate", "toxic", 0.01),
    SignalSpec("groundedness_mean", "mean", "groundedness", -1, 0.05, False, 100),
    _rate("ungrounded_rate", "ungrounded", 0.05, 100),
    _rate("thumbs_down_rate", "thumbs_down", 0.05, 100),
    SignalSpec("rating_mean", "mean", "rating", -1, 0.25, False, 100),
    _rate("correction_rate", "correction", 0.05, 100),
)
BY_NAME = {s.name: s for s in SIGNALS}


def pick(names: Iterable[str] | None = None,
         thresholds: Mapping[str, float] | None = None) -> tuple[SignalSpec, ...]:
    """The named signals (all by default; a name given twice counts once) with
    ``thresholds`` overriding the defaults; an unknown name raises ``KeyError`` naming it."""
    chosen = [BY_NAME[n] for n in dict.fromkeys(names)] if names else list(SIGNALS)
    over = dict(thresholds or {})
    for name in over:
        if name not in BY_NAME:
            raise KeyError(name)
    return tuple(replace(s, threshold=over[s.name]) if s.name in over else s for s in chosen)


DATA_KEYS = ("error", "timeout", "length", "content_filter", "duration", "ttft", "tpot",
             "input_tokens", "output_tokens", "cost", "toxic", "groundedness", "ungrounded",
             "thumbs_down", "rating", "correction")


@dataclass
class Sample:
    """One side's observations, one list per data key (appended call by call)."""

    values: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in DATA_KEYS})
    request_ids: list[str] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return len(self.values["error"])

    def array(self, key: str) -> np.ndarray:
        import numpy as np

        return np.asarray(self.values[key], dtype=float)

    def observations(self) -> dict[str, np.ndarray]:
        """Every data key's values, as :func:`llmpulse.release.compare.compare` takes them."""
        return {key: self.array(key) for key in DATA_KEYS}

    def add_call(self, request_id: str, *, error: bool, error_type: str | None,
                 finish_reasons: Iterable[str], duration: float | None = None,
                 ttft: float | None = None, tpot: float | None = None,
                 input_tokens: float | None = None, output_tokens: float | None = None,
                 cost: float | None = None) -> None:
        v = self.values
        reasons = set(finish_reasons)
        self.request_ids.append(request_id)
        v["error"].append(float(error))
        v["timeout"].append(float(error_type is not None and "timeout" in error_type.lower()))
        v["length"].append(float("length" in reasons))
        v["content_filter"].append(float("content_filter" in reasons))
        for key, value in (("duration", duration), ("ttft", ttft), ("tpot", tpot),
                           ("input_tokens", input_tokens), ("output_tokens", output_tokens),
                           ("cost", cost)):
            if value is not None:
                v[key].append(float(value))

    def add_score(self, name: str, value: float, label: str) -> None:
        """A quality score of one call (``toxicity`` or ``groundedness``)."""
        if name == "toxicity":
            self.values["toxic"].append(float(label == "toxic"))
        elif name == "groundedness":
            self.values["groundedness"].append(float(value))
            self.values["ungrounded"].append(float(label == "ungrounded"))

    def add_feedback(self, thumbs: str | None, rating: int | None, corrected: bool) -> None:
        v = self.values
        if thumbs in ("up", "down"):
            v["thumbs_down"].append(float(thumbs == "down"))
        if rating is not None:
            v["rating"].append(float(rating))
        v["correction"].append(float(corrected))
