"""The rules file: alert rules, notification channels and budgets, validated at start.

A rule watches one windowed metric per group and compares it with a static
threshold, a baseline learnt from the group's own past windows (EWMA, or
median + k*MAD), or both (the larger/smaller wins).  Errors name the file, the
line and the field.  The format is documented in README.md ("Alert rules").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from llmpulse.alerting.channels import ChannelConfig
from llmpulse.alerting.message import Severity
from llmpulse.alerting.state import AlertPolicy, NoData
from llmpulse.budgets import Budget
from llmpulse.errors import ConfigError
from llmpulse.windows import DIMENSIONS, QUANTILES, SKETCHES

#: Metrics a rule can watch: keys of :meth:`WindowAggregate.summary`.
METRICS: dict[str, str] = {
    "calls": "calls in the window",
    "errors": "failed calls in the window",
    "error_rate": "share of calls that failed",
    "timeout_rate": "share of calls that timed out",
    "length_rate": "share of calls cut off by the token limit (finish_reason=length)",
    "content_filter_rate": "share of calls stopped by a content filter",
    "tokens_in": "input tokens in the window",
    "tokens_out": "output tokens in the window",
    "cost_usd": "spend in the window, USD",
    "toxicity_rate": "share of scored responses that were toxic (min_count: scored responses)",
    "groundedness_mean": "mean groundedness (0..1) of scored RAG answers (min_count: scored)",
    "ungrounded_rate": "share of scored RAG answers that were not grounded in their context",
    "feedback": "feedback events in the window (by the time they were given)",
    "thumbs_down_rate": "share of thumbs given that were down (min_count: thumbs given)",
    "rating_mean": "mean rating, 1..5 (min_count: ratings)",
    "correction_rate": "share of feedback that carried a corrected answer (min_count: feedback)",
    "drift_rate": "share of the model's drift checks that found drift (min_count: checks; "
                  "drift is checked every LLMPULSE_DRIFT_EVERY_S)",
    "prompt_drift_rate": "share of the model's drift checks that found drift in the prompt "
                         "embeddings (min_count: checks)",
    **{f"{s}_p{round(q * 100)}": f"{s} p{round(q * 100)}, seconds"
       for s in SKETCHES for q in QUANTILES},
}

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")


def parse_duration(value: Any) -> float:
    """``90``, ``"90s"``, ``"1.5m"``, ``"2h"`` or ``"1d"`` in seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 1h")
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError(f"{value!r} is not a duration such as 30s, 5m or 1h")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]


class BaselineSpec(BaseModel):
    """A threshold learnt from the group's own closed windows of the rule's width."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["ewma", "mad"]
    windows: int = Field(default=30, ge=3, le=10_000, description="history length")
    min_windows: int = Field(default=5, ge=2, description="no evaluation before this many")
    factor: float = Field(default=3.0, gt=0, description="ewma: threshold = factor x EWMA")
    k: float = Field(default=5.0, gt=0, description="mad: threshold = median + k x 1.4826*MAD")


class DatasetSpec(BaseModel):
    """Which examples a retraining trigger's dataset query selects from the window."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_groundedness: float = Field(default=0.5, ge=0, le=1,
                                    description="answers scored at most this grounded")
    max_rating: int = Field(default=2, ge=1, le=5, description="ratings at most this")
    limit: int = Field(default=10_000, ge=1, le=10_000_000)


class RetrainSpec(BaseModel):
    """Makes a rule a retraining policy: its trigger goes to ``llm.retrain``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cooldown: Duration = Field(default=86_400.0, description="no second trigger sooner")
    approval: Literal["auto", "required"] = "auto"
    forward: tuple[str, ...] = Field(default=(), description="webhook channels to POST to")
    dataset: DatasetSpec = Field(default_factory=DatasetSpec)


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    metric: str
    group_by: tuple[str, ...] = ("model",)
    window: Duration = 60.0
    operator: Literal[">", ">=", "<", "<="] = ">"
    threshold: float | None = None
    clear_threshold: float | None = None
    baseline: BaselineSpec | None = None
    for_: Duration = Field(default=0.0, alias="for")
    resolve_for: Duration = 0.0
    min_count: int = Field(default=1, ge=1)
    no_data: NoData = "ok"
    stale_after: Duration = 300.0
    renotify: Duration | None = None
    severity: Severity = "warning"
    channels: tuple[str, ...] = ()
    runbook_url: str | None = None
    summary: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    retrain: RetrainSpec | None = None

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in METRICS:
            raise ValueError(f"unknown metric {value!r}; known: {', '.join(METRICS)}")
        return value

    @field_validator("runbook_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        # Slack drops a message whose button has no absolute URL; PagerDuty shows a dead link
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError(f"runbook_url {value!r} must be an absolute http(s) URL")
        return value

    @field_validator("group_by", mode="before")
    @classmethod
    def _dims(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        unknown = [d for d in value if d not in DIMENSIONS]
        if unknown:
            raise ValueError(f"cannot group by {unknown}; choose from {', '.join(DIMENSIONS)}")
        return tuple(d for d in DIMENSIONS if d in value)  # canonical order

    @model_validator(mode="after")
    def _has_threshold(self) -> Rule:
        if self.threshold is None and self.baseline is None:
            raise ValueError("give a threshold, a baseline, or both")
        if self.window <= 0:
            raise ValueError("window must be positive")
        return self

    def policy(self) -> AlertPolicy:
        return AlertPolicy(for_s=self.for_, resolve_for_s=self.resolve_for,
                           renotify_s=self.renotify, no_data=self.no_data,
                           stale_after_s=self.stale_after)


class RulesFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    budgets: tuple[Budget, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> RulesFile:
        names = [r.name for r in self.rules] + [b.name for b in self.budgets]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"rule and budget names must be unique: {', '.join(twice)}")
        used = [(r.name, r.channels) for r in self.rules]
        used += [(b.name, b.channels) for b in self.budgets]
        for name, channels in used:
            missing = [c for c in channels if c not in self.channels]
            if missing:
                raise ValueError(f"{name}: unknown channel(s) {', '.join(missing)}; "
                                 f"defined: {', '.join(self.channels) or 'none'}")
        for rule in self.rules:
            forward = rule.retrain.forward if rule.retrain else ()
            wrong = [c for c in forward if getattr(self.channels.get(c), "type", "") != "webhook"]
            if wrong:
                raise ValueError(f"{rule.name}: retrain.forward names {', '.join(wrong)}, "
                                 "which must be webhook channels defined under channels")
        return self

    def rule(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise ConfigError(f"no rule named {name!r}; rules: "
                          + ", ".join(r.name for r in self.rules))

    def check_panes(self, pane_s: float) -> None:
        """Every rule window must be a whole number of panes."""
        for rule in self.rules:
            panes = rule.window / pane_s
            if abs(panes - round(panes)) > 1e-9 or round(panes) < 1:
                raise ConfigError(f"rule {rule.name}: window {rule.window:g}s is not a multiple "
                                  f"of LLMPULSE_WINDOW_PANE_S={pane_s:g}")


DEFAULT_RULES = "default_rules.yml"


def default_rules_text() -> str:
    return files("llmpulse.alerting").joinpath(DEFAULT_RULES).read_text(encoding="utf-8")


def load_rules(path: Path | None) -> RulesFile:
    """The rules file at ``path`` (None: the shipped defaults); ConfigError on any problem."""
    if path is None:
        return parse_rules(default_rules_text(), "<default rules>")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"rules file {path}: cannot read it: {exc.strerror}") from exc
    return parse_rules(text, str(path))


def parse_rules(text: str, source: str) -> RulesFile:
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: must be a mapping with channels, rules and budgets")
    try:
        return RulesFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, node, source)) from None


def _describe(exc: ValidationError, node: yaml.Node | None, source: str) -> str:
    lines = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p in _UNION_TAGS)]
        line = _line_of(node, loc)
        where = f"{source}:{line}" if line else source
        path = ".".join(str(p) for p in loc) or "(top level)"
        msg = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {path}: {msg}")
    return "invalid rules file:\n  " + "\n  ".join(lines)


_UNION_TAGS = {"slack", "pagerduty", "webhook"}


def _line_of(node: yaml.Node | None, loc: list[Any]) -> int | None:
    """The 1-based line of the deepest YAML node on the error's path."""
    found = node
    for part in loc:
        child = _child(found, part)
        if child is None:
            break
        found = child
    return found.start_mark.line + 1 if found is not None else None


def _child(node: yaml.Node | None, part: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(part):
                return value  # type: ignore[no-any-return]
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]  # type: ignore[no-any-return]
    return None


def groupings(rules: RulesFile) -> tuple[tuple[str, ...], ...]:
    """Every grouping the cheap path must aggregate: the standard ones and the rules'."""
    from llmpulse.windows import STANDARD_GROUPINGS

    seen = list(STANDARD_GROUPINGS)
    for rule in rules.rules:
        if rule.group_by not in seen:
            seen.append(rule.group_by)
    return tuple(seen)


def describe_metrics() -> Mapping[str, str]:
    return METRICS
