"""What a report shows, as plain values: read from the store by :mod:`.queries`, drawn
by :mod:`.page`.  Times are epoch seconds (UTC)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Period:
    """The calls a report covers: [start, end), of ``model`` (as requested) when set."""

    start: datetime
    end: datetime
    model: str | None = None


@dataclass(frozen=True)
class Totals:
    calls: int = 0
    errors: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0
    models: int = 0
    tenants: int = 0
    p50_s: float | None = None
    p95_s: float | None = None
    tox_scored: int = 0
    toxic: int = 0
    ground_scored: int = 0
    groundedness: float | None = None
    feedback: int = 0
    thumbs: int = 0
    thumbs_down: int = 0
    ratings: int = 0
    rating: float | None = None
    #: which scorer version the quality figures are of (llmpulse.sinks.scorer_versions)
    scorers: str = ""


@dataclass(frozen=True)
class Point:
    """One time bucket of one group (a model, a prompt version, a tenant / model)."""

    at: float
    group: str
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class DriftCheck:
    at: float
    model: str
    route: str
    severity: float | None
    drifted: bool
    note: str


@dataclass(frozen=True)
class AlertEvent:
    at: float
    kind: str  # trigger | renotify | resolve
    rule: str
    severity: str
    summary: str
    dedup_key: str


@dataclass(frozen=True)
class RetrainEvent:
    at: float
    status: str
    policy: str
    model: str
    reason: str
    trigger_id: str


@dataclass(frozen=True)
class Releases:
    """The ``release_verdicts`` table, read without knowing its columns in advance:
    ``note`` says why there is nothing to show."""

    columns: tuple[str, ...] = ()
    rows: tuple[tuple[object, ...], ...] = ()
    note: str = ""
    time_column: str | None = None
    verdict_column: str | None = None


@dataclass(frozen=True)
class WorstCall:
    request_id: str
    at: float
    model: str
    tenant: str
    route: str
    value: float
    prompt: str
    note: str = ""


#: The lists of worst calls, in the order shown: (key, title, what the value is).
WORST_KINDS = (("slowest", "Slowest calls", "duration (s)"),
               ("costliest", "Costliest calls", "cost (USD)"),
               ("least_grounded", "Least grounded answers", "groundedness (0-1)"),
               ("most_toxic", "Most toxic answers", "toxicity (0-1)"))


@dataclass
class ReportData:
    period: Period
    generated: datetime
    bucket_s: int  # calls, errors, latency
    trend_bucket_s: int  # quality and feedback: fewer, fuller buckets
    cost_bucket_s: int
    x_range: tuple[float, float] | None  # the plotted time span (None: nothing stored)
    totals: Totals = field(default_factory=Totals)
    traffic: list[Point] = field(default_factory=list)  # (calls, errors), group ""
    latency: list[Point] = field(default_factory=list)  # (p50, p95) per model
    cost: list[Point] = field(default_factory=list)  # (usd,) per "tenant / model"
    quality: list[Point] = field(default_factory=list)  # (toxic rate, groundedness mean)
    feedback: list[Point] = field(default_factory=list)  # (thumbs-down rate, rating mean)
    drift: list[DriftCheck] = field(default_factory=list)
    alerts: list[AlertEvent] = field(default_factory=list)
    retrains: list[RetrainEvent] = field(default_factory=list)
    releases: Releases = field(default_factory=Releases)
    worst: dict[str, list[WorstCall]] = field(default_factory=dict)
