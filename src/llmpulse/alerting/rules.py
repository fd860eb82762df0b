"""The rules file: alert rules, notification channels and budgets, validated at start.

A rule watches one windowed metric per group and compares it with a static
threshold, a baseline learnt from the group's own past windows (EWMA, or
median + k*MAD), or both (the larger/smaller wins).  Every problem of a file is
reported at once, each as ``file:line:column: field: what is wrong`` (the YAML
node of the field, else of the nearest enclosing one).  The format is documented
in README.md ("Alert rules").
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
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
    ValidationInfo,
    field_validator,
    model_validator,
)

from llmpulse.alerting.canaries import Canary, canary_problems
from llmpulse.alerting.channels import ChannelConfig
from llmpulse.alerting.message import Severity, checked_runbook_url
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
    "injection_rate": "share of calls whose user messages were labelled prompt injection "
                      "(min_count: calls with user messages)",
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
        return checked_runbook_url(value)

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
    canaries: tuple[Canary, ...] = ()

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> RulesFile:
        if info.context and info.context.get("located"):
            return self  # parse_rules checks these on the YAML, with positions
        data = self.model_dump(by_alias=True)
        problems = [msg for _, msg in cross_reference_problems(data)]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def rule(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise ConfigError(f"no rule named {name!r}; rules: "
                          + ", ".join(r.name for r in self.rules))

    def check_panes(self, pane_s: float) -> None:
        """Every rule window must be a whole number of panes (all offenders in one error;
        :func:`load_rules` with ``pane_s`` gives their positions in the file)."""
        wrong = [f"rule {rule.name}: window {rule.window:g}s is not a multiple of "
                 f"LLMPULSE_WINDOW_PANE_S={pane_s:g}" for rule in self.rules
                 if abs(rule.window / pane_s - round(rule.window / pane_s)) > 1e-9
                 or round(rule.window / pane_s) < 1]
        if wrong:
            raise ConfigError("; ".join(wrong))


DEFAULT_RULES = "default_rules.yml"

#: A field's path in the file, as pydantic reports it: keys and list indices.
Loc = tuple[Any, ...]


def default_rules_text() -> str:
    return files("llmpulse.alerting").joinpath(DEFAULT_RULES).read_text(encoding="utf-8")


def load_rules(path: Path | None, *, pane_s: float | None = None,
               env: Mapping[str, str] | None = None) -> RulesFile:
    """The rules file at ``path`` (None: the shipped defaults); one ConfigError listing
    every problem.  With ``pane_s`` the rule windows are checked against the pane, with
    ``env`` the channels' secrets are looked up in it."""
    if path is None:
        return parse_rules(default_rules_text(), "<default rules>", pane_s=pane_s, env=env)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"rules file {path}: cannot read it: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"rules file {path}: not UTF-8 text: {exc}") from exc
    return parse_rules(text, str(path), pane_s=pane_s, env=env)


def parse_rules(text: str, source: str, *, pane_s: float | None = None,
                env: Mapping[str, str] | None = None) -> RulesFile:
    """Validate a rules file; every problem (fields, names, channel references, windows
    against ``pane_s``, secrets missing from ``env``) is reported in one ConfigError, each
    at its ``source:line:column``."""
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(f"invalid rules file:\n  {where}: not valid YAML: "
                          f"{exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid rules file:\n  {source}: not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"invalid rules file:\n  {source}:1:1: (top level): must be a "
                          "mapping with channels, rules, budgets and canaries")
    problems: list[tuple[Loc, str]] = []
    loaded: RulesFile | None = None
    try:
        loaded = RulesFile.model_validate(data, context={"located": True})
    except ValidationError as exc:
        problems.extend(_validation_problems(exc))
    problems.extend(cross_reference_problems(data))
    if pane_s is not None:
        problems.extend(pane_problems(data, pane_s))
    if env is not None:
        problems.extend(secret_problems(data, env))
    if problems or loaded is None:
        raise ConfigError(_describe(problems, node, source))
    return loaded


def _validation_problems(exc: ValidationError) -> Iterator[tuple[Loc, str]]:
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in _UNION_TAGS))
        yield loc, str(err["msg"]).removeprefix("Value error, ")


def _entries(data: Mapping[str, Any], section: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, entry) of the well-formed entries of a list section (the others are
    reported by the field validation)."""
    items = data.get(section)
    if isinstance(items, list | tuple):
        for index, item in enumerate(items):
            if isinstance(item, dict):
                yield index, item


def _names(value: Any) -> list[tuple[int, str]]:
    return [(i, v) for i, v in enumerate(value) if isinstance(v, str)] \
        if isinstance(value, list | tuple) else []


def cross_reference_problems(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Unique rule and budget names, channels that exist, retraining forwards that are
    webhooks: each problem at the entry that has it."""
    raw_channels = data.get("channels")
    channels = ({str(k): (v.get("type") if isinstance(v, dict) else None)
                 for k, v in raw_channels.items()} if isinstance(raw_channels, dict) else {})
    defined = ", ".join(channels) or "none"
    problems: list[tuple[Loc, str]] = []
    seen: dict[str, str] = {}
    for section in ("rules", "budgets"):
        for index, entry in _entries(data, section):
            name = entry.get("name")
            if isinstance(name, str):
                if name in seen:
                    problems.append(((section, index, "name"),
                                     f"name {name!r} is already used by {seen[name]}; "
                                     "rule and budget names must be unique"))
                else:
                    seen[name] = f"{section}.{index}"
            for j, channel in _names(entry.get("channels")):
                if channel not in channels:
                    problems.append(((section, index, "channels", j),
                                     f"unknown channel {channel!r}; defined: {defined}"))
            retrain = entry.get("retrain") if section == "rules" else None
            forward = retrain.get("forward") if isinstance(retrain, dict) else None
            for j, channel in _names(forward):
                kind = channels.get(channel, "missing")
                if kind != "webhook":
                    what = "not defined under channels" if kind == "missing" else \
                        f"a {kind} channel"
                    problems.append(((section, index, "retrain", "forward", j),
                                     f"retrain.forward names {channel!r}, {what}; it must "
                                     "be a webhook channel defined under channels"))
    problems.extend(canary_problems(data, channels, seen))
    return problems


def pane_problems(data: Mapping[str, Any], pane_s: float) -> list[tuple[Loc, str]]:
    """Rule windows that are not a whole number of panes of ``pane_s`` seconds."""
    problems: list[tuple[Loc, str]] = []
    default = Rule.model_fields["window"].default
    for index, entry in _entries(data, "rules"):
        try:
            window = parse_duration(entry.get("window", default))
        except ValueError:
            continue  # reported by the field validation
        panes = window / pane_s
        if window > 0 and (abs(panes - round(panes)) > 1e-9 or round(panes) < 1):
            where: Loc = ("rules", index, "window") if "window" in entry else ("rules", index)
            problems.append((where, f"window {window:g}s is not a multiple of "
                                    f"LLMPULSE_WINDOW_PANE_S={pane_s:g}"))
    return problems


#: Channel type -> (inline secret, the key naming its environment variable, what it is).
_SECRETS = {"pagerduty": ("routing_key", "routing_key_env", "PagerDuty routing key"),
            "webhook": ("secret", "secret_env", "webhook secret")}


def secret_problems(data: Mapping[str, Any], env: Mapping[str, str]) -> list[tuple[Loc, str]]:
    """Channel secrets named by an environment variable that is not set (or empty)."""
    raw = data.get("channels")
    problems: list[tuple[Loc, str]] = []
    for name, channel in (raw.items() if isinstance(raw, dict) else ()):
        if not isinstance(channel, dict) or channel.get("type") not in _SECRETS:
            continue
        inline, env_key, what = _SECRETS[channel["type"]]
        variable = channel.get(env_key)
        if channel.get(inline) is None and isinstance(variable, str) and variable \
                and not env.get(variable):
            problems.append((("channels", name, env_key),
                             f"channel {name!r}: {what}: environment variable {variable} is "
                             "not set or empty"))
    return problems


def _describe(problems: list[tuple[Loc, str]], node: yaml.Node | None, source: str) -> str:
    located = []
    for loc, msg in problems:
        line, column = _position(node, loc)
        path = ".".join(str(p) for p in loc) or "(top level)"
        located.append(((line, column), f"{source}:{line}:{column}: {path}: {msg}"))
    located.sort(key=lambda item: item[0])  # in file order, stable for one position
    count = f"{len(located)} problems" if len(located) != 1 else "1 problem"
    return f"invalid rules file ({count}):\n  " + "\n  ".join(text for _, text in located)


_UNION_TAGS = {"slack", "pagerduty", "webhook"}


def _position(node: yaml.Node | None, loc: Loc) -> tuple[int, int]:
    """1-based (line, column) of the deepest YAML node on the path ``loc``."""
    found = node
    for part in loc:
        child = _child(found, part)
        if child is None:
            break
        found = child
    if found is None:
        return 1, 1
    return found.start_mark.line + 1, found.start_mark.column + 1


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
