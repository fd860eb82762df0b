"""The ``canaries:`` section of the rules file: live release comparisons the worker runs.

A canary compares a candidate (a prompt version, model version or model) with its
baseline over the calls since the candidate's first one, again and again as calls
arrive, and ends with a verdict: ``rollback`` (pages through ``channels``, and the
verdict goes to ``rollback_webhook``), ``promote``, or ``hold`` once ``max_duration``
has passed without either.  ``candidate: newest`` follows the newest value of the
selector (by first stored call) against the one before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from llmpulse.alerting.message import Severity, checked_runbook_url

By = Literal["prompt_version", "model_version", "model"]
NEWEST = "newest"
PREVIOUS = "previous"


def _seconds(value: Any) -> float:
    from llmpulse.alerting.rules import parse_duration  # the rules file's durations

    return parse_duration(value)


Seconds = Annotated[float, BeforeValidator(_seconds), Field(gt=0)]


class Canary(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    by: By = "prompt_version"
    model: str | None = Field(default=None, description="only calls that requested it")
    route: str | None = Field(default=None, description="only calls on this route")
    template: str | None = Field(default=None,
                                 description="only calls with this prompt template id")
    candidate: str = NEWEST
    baseline: str = PREVIOUS
    signals: tuple[str, ...] = Field(default=(), description="compared signals (none: all)")
    thresholds: dict[str, float] = Field(default_factory=dict,
                                         description="per-signal practical thresholds")
    min_calls: int = Field(default=200, ge=1,
                           description="candidate calls before any verdict")
    max_duration: Seconds = Field(default=86_400.0,
                                  description="a canary still holding then ends as hold")
    every: Seconds = Field(default=30.0, description="how often it is evaluated")
    lookback: Seconds = Field(default=7 * 86_400.0,
                              description="newest: values first seen this long ago at most")
    alpha: float = Field(default=0.05, gt=0, lt=1)
    severity: Severity = "critical"
    channels: tuple[str, ...] = ()
    rollback_webhook: str | None = None
    runbook_url: str | None = None

    @field_validator("signals", mode="before")
    @classmethod
    def _signal_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        _check_signals(value)
        return value

    @field_validator("thresholds")
    @classmethod
    def _threshold_names(cls, value: dict[str, float]) -> dict[str, float]:
        _check_signals(list(value))
        bad = [k for k, v in value.items() if v < 0]
        if bad:
            raise ValueError(f"thresholds must not be negative: {', '.join(bad)}")
        return value

    @field_validator("runbook_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        return checked_runbook_url(value)

    @model_validator(mode="after")
    def _sides(self) -> Canary:
        if self.candidate == NEWEST and self.baseline != PREVIOUS:
            raise ValueError("candidate: newest is compared with the previous value; "
                             "leave baseline out (or say previous)")
        if self.candidate != NEWEST and self.baseline == PREVIOUS:
            raise ValueError(f"candidate {self.candidate!r} needs a baseline value "
                             "(previous only goes with candidate: newest)")
        if self.candidate == self.baseline:
            raise ValueError("candidate and baseline must differ")
        return self

    @property
    def follows_newest(self) -> bool:
        return self.candidate == NEWEST


def _check_signals(names: Any) -> None:
    from llmpulse.release.signals import BY_NAME

    if not isinstance(names, list | tuple):
        return  # the field's type check reports it
    unknown = [n for n in names if isinstance(n, str) and n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown signal(s) {', '.join(map(repr, unknown))}; known: "
                         + ", ".join(BY_NAME))


def canary_problems(data: Mapping[str, Any], channels: Mapping[str, str | None],
                    taken: dict[str, str]) -> list[tuple[tuple[Any, ...], str]]:
    """Names unique among rules, budgets and canaries (``taken``: name -> where), channels
    that exist, a rollback webhook that is a webhook channel."""
    defined = ", ".join(channels) or "none"
    problems: list[tuple[tuple[Any, ...], str]] = []
    entries = data.get("canaries")
    for index, entry in enumerate(entries if isinstance(entries, list | tuple) else ()):
        if not isinstance(entry, dict):
            continue
        name = entry.get("name")
        if isinstance(name, str):
            if name in taken:
                problems.append((("canaries", index, "name"),
                                 f"name {name!r} is already used by {taken[name]}; rule, "
                                 "budget and canary names must be unique"))
            else:
                taken[name] = f"canaries.{index}"
        listed = entry.get("channels")
        for j, channel in enumerate(listed if isinstance(listed, list | tuple) else ()):
            if isinstance(channel, str) and channel not in channels:
                problems.append((("canaries", index, "channels", j),
                                 f"unknown channel {channel!r}; defined: {defined}"))
        hook = entry.get("rollback_webhook")
        if isinstance(hook, str):
            kind = channels.get(hook, "missing")
            if kind != "webhook":
                what = "not defined under channels" if kind == "missing" else \
                    f"a {kind} channel"
                problems.append((("canaries", index, "rollback_webhook"),
                                 f"rollback_webhook names {hook!r}, {what}; it must be a "
                                 "webhook channel defined under channels"))
    return problems
