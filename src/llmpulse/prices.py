"""Operator price overrides (private deployments, negotiated prices) with effective dates.

The file (``LLMPULSE_PRICES_FILE``) is YAML::

    overrides:
      - model: llama-3-70b-private      # model name as sent in the events
        provider: self-hosted            # optional: only calls of this gen_ai.provider.name
        effective_from: 2026-01-01       # date or datetime (UTC unless it has an offset)
        input_per_mtok: 0.50             # USD per million uncached input tokens
        output_per_mtok: 1.50            # USD per million output tokens
        cache_read_per_mtok: 0.05        # optional, default = the input price
        cache_write_per_mtok: 0.60       # optional, default = the input price
        note: "negotiated contract #123" # optional; quote it if it holds " #" (a YAML comment)

Several entries for one model are its price changes over time: a call is priced by
the latest entry whose ``effective_from`` is at or before the call's time.  An entry
with a ``provider`` wins over entries without one for calls of that provider (as long
as one of its entries is in effect); model and provider match case-insensitively.

Token semantics follow the OTel usage attributes (and :mod:`llmpulse.detectors.cost`):
``input_tokens`` counts the cached tokens too, so uncached input = input tokens minus
cache-read minus cache-creation tokens.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from llmpulse.errors import ConfigError

__all__ = ["PriceOverride", "PriceOverrides", "load_overrides"]

_MTOK = 1_000_000

Price = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]


def as_utc(value: datetime) -> datetime:
    """Aware datetimes converted to UTC; naive ones taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class PriceOverride(BaseModel):
    """One price of one model from one moment on; prices are USD per million tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    model: str = Field(min_length=1)
    provider: str | None = Field(default=None, min_length=1)
    effective_from: datetime
    input_per_mtok: Price
    output_per_mtok: Price
    cache_read_per_mtok: Price | None = None
    cache_write_per_mtok: Price | None = None
    note: str | None = None

    @field_validator("effective_from", mode="before")
    @classmethod
    def _date_or_datetime(cls, value: Any) -> Any:
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime.combine(value, time(), tzinfo=UTC)
        if isinstance(value, str):
            try:
                return datetime.combine(date.fromisoformat(value.strip()), time(), tzinfo=UTC)
            except ValueError:
                return value  # pydantic parses (or rejects) it as a datetime
        return value

    @field_validator("effective_from")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)

    @property
    def cache_read_price(self) -> float:
        """USD per million cache-read tokens (the input price unless set)."""
        return self.input_per_mtok if self.cache_read_per_mtok is None else self.cache_read_per_mtok

    @property
    def cache_write_price(self) -> float:
        """USD per million cache-creation tokens (the input price unless set)."""
        if self.cache_write_per_mtok is None:
            return self.input_per_mtok
        return self.cache_write_per_mtok

    @property
    def price_version(self) -> str:
        return f"override:{self.effective_from.date().isoformat()}"

    def cost_usd(self, input_tokens: int, output_tokens: int, cache_read_tokens: int = 0,
                 cache_write_tokens: int = 0) -> float:
        """Cost of one call; ``input_tokens`` includes the cached (read and written) ones."""
        uncached = max(0, input_tokens - cache_read_tokens - cache_write_tokens)
        return (uncached * self.input_per_mtok
                + cache_read_tokens * self.cache_read_price
                + cache_write_tokens * self.cache_write_price
                + output_tokens * self.output_per_mtok) / _MTOK


def _key(provider: str | None, model: str) -> tuple[str | None, str]:
    return (provider.casefold() if provider is not None else None, model.casefold())


class PriceOverrides:
    """The overrides indexed by (provider or None, model), each series sorted by time."""

    def __init__(self, overrides: Iterable[PriceOverride] = ()) -> None:
        self.entries: tuple[PriceOverride, ...] = tuple(overrides)
        series: dict[tuple[str | None, str], list[PriceOverride]] = {}
        for entry in self.entries:
            series.setdefault(_key(entry.provider, entry.model), []).append(entry)
        self._series: dict[tuple[str | None, str], tuple[list[datetime], list[PriceOverride]]]
        self._series = {}
        for key, items in series.items():
            items.sort(key=lambda e: e.effective_from)
            starts = [e.effective_from for e in items]
            if len(set(starts)) != len(starts):
                raise ValueError(f"two price overrides of {key[1]!r} (provider {key[0]!r}) "
                                 "share an effective_from")
            self._series[key] = (starts, items)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[PriceOverride]:
        return iter(self.entries)

    def lookup(self, provider: str, model: str, when: datetime) -> PriceOverride | None:
        """The override in effect for this call at ``when`` (naive = UTC), if any."""
        if not self._series:
            return None
        when = as_utc(when)
        for key in (_key(provider, model), _key(None, model)):
            found = self._series.get(key)
            if found is not None:
                starts, items = found
                index = bisect_right(starts, when)
                if index:
                    return items[index - 1]
        return None


# ---------------------------------------------------------------- loading


def _line(node: yaml.Node | None) -> str:
    return f" (line {node.start_mark.line + 1})" if node is not None else ""


def _fields(node: yaml.Node) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """Key -> (key node, value node) of a mapping node."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(k.value): (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}


def _duplicate_keys(node: yaml.Node) -> list[tuple[str, yaml.Node]]:
    seen: set[str] = set()
    dupes: list[tuple[str, yaml.Node]] = []
    if isinstance(node, yaml.MappingNode):
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    dupes.append((str(key.value), key))
                seen.add(key.value)
    return dupes


def _read(path: Path) -> tuple[Any, yaml.Node | None]:
    """The parsed document and its node tree (for line numbers)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"price overrides file {path}: cannot read it: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"price overrides file {path}: not UTF-8 text: {exc}") from exc
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"price overrides file {path}: not valid YAML{where}: "
                          f"{exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"price overrides file {path}: not valid YAML: {exc}") from exc
    finally:
        loader.dispose()
    return data, node


def _entry_errors(exc: ValidationError, index: int, node: yaml.Node) -> list[str]:
    fields = _fields(node)
    lines = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        msg = str(err["msg"]).removeprefix("Value error, ")
        key_node, value_node = fields.get(field, (None, None))
        if err["type"] == "missing":
            lines.append(f"overrides[{index}]{_line(node)}: {field!r} is required")
        elif err["type"] == "extra_forbidden":
            known = ", ".join(PriceOverride.model_fields)
            lines.append(f"overrides[{index}].{field}{_line(key_node)}: unknown field "
                         f"(known: {known})")
        else:
            lines.append(f"overrides[{index}].{field}{_line(value_node)}: {msg}; "
                         f"got {err.get('input')!r}")
    return lines


def load_overrides(path: Path | str) -> PriceOverrides:
    """Read and check a price overrides file; every problem is reported in one ConfigError."""
    path = Path(path)
    data, root = _read(path)
    if data is None:
        return PriceOverrides()
    prefix = f"price overrides file {path}"
    if not isinstance(data, dict) or root is None:
        raise ConfigError(f"{prefix}: must be a mapping with an 'overrides' list")
    unknown = sorted(str(k) for k in data if k != "overrides")
    if unknown:
        key_node = _fields(root).get(unknown[0], (None, None))[0]
        raise ConfigError(f"{prefix}: unknown top-level key {unknown[0]!r}{_line(key_node)}; "
                          "expected only 'overrides'")
    items = data.get("overrides")
    seq_node = _fields(root).get("overrides", (None, None))[1]
    if items is None:
        return PriceOverrides()
    if not isinstance(items, list) or not isinstance(seq_node, yaml.SequenceNode):
        raise ConfigError(f"{prefix}: 'overrides'{_line(seq_node)} must be a list of entries")
    problems: list[str] = []
    parsed: list[tuple[int, PriceOverride, yaml.Node]] = []
    for index, (item, node) in enumerate(zip(items, seq_node.value, strict=True)):
        if not isinstance(item, dict):
            problems.append(f"overrides[{index}]{_line(node)}: must be a mapping of "
                            f"field: value, got {item!r}")
            continue
        for name, name_node in _duplicate_keys(node):
            problems.append(f"overrides[{index}].{name}{_line(name_node)}: given twice")
        try:
            parsed.append((index, PriceOverride.model_validate(item), node))
        except ValidationError as exc:
            problems.extend(_entry_errors(exc, index, node))
    seen: dict[tuple[tuple[str | None, str], datetime], tuple[int, yaml.Node]] = {}
    for index, entry, node in parsed:
        series_at = (_key(entry.provider, entry.model), entry.effective_from)
        if series_at in seen:
            first, first_node = seen[series_at]
            problems.append(
                f"overrides[{index}]{_line(node)}: same model, provider and effective_from "
                f"as overrides[{first}]{_line(first_node)}")
        else:
            seen[series_at] = (index, node)
    if problems:
        raise ConfigError(f"{prefix}: invalid price overrides:\n  " + "\n  ".join(problems))
    return PriceOverrides(entry for _, entry, _ in parsed)
