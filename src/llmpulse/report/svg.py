"""Charts as inline SVG text, from plain numbers: line charts, stacked bars, timelines.

Pure functions: no store, no clock.  Every text that reaches the SVG is escaped.  Each
chart is an ``<svg class="plot">``; its data marks (lines, bars, points, spans) carry
``class="mark"`` so a test can check that they were drawn with a size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

#: Okabe-Ito colours (distinguishable with the common colour blindnesses), then a few more.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
           "#8C6D31", "#7F7F7F", "#B2182B")
DASHES = ("", "6 3", "2 2", "8 3 2 3")
WIDTH = 1000
PLOT_HEIGHT = 220
LEFT, RIGHT, TOP = 72, 20, 30
AXIS_BELOW = 46  # tick labels and the x axis title
LEGEND_ROW = 18
CHAR_W = 6.6  # average width of a 11px character, to lay the legend out

Format = Callable[[float], str]


def text(value: object) -> str:
    """Text for SVG/HTML content or attribute values (quotes escaped too)."""
    return escape(str(value), quote=True)


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def dash(index: int) -> str:
    """A dash pattern once the colours are used up, so series stay apart."""
    return DASHES[(index // len(PALETTE)) % len(DASHES)]


@dataclass(frozen=True)
class Scale:
    """A linear map of the domain [lo, hi] onto [a, b]; an empty domain maps to the middle."""

    lo: float
    hi: float
    a: float
    b: float

    def __call__(self, value: float) -> float:
        if self.hi == self.lo:
            return (self.a + self.b) / 2
        return self.a + (value - self.lo) * (self.b - self.a) / (self.hi - self.lo)


def nice_step(span: float, count: int) -> float:
    """A step of 1, 2, 2.5 or 5 times a power of ten giving about ``count`` intervals."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return float(factor * power)
    return float(10 * power)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (the first <= lo, the last >= hi)."""
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        lo, hi = (lo - 1, hi + 1) if lo else (0.0, 1.0)
    step = nice_step(hi - lo, count)
    first = math.floor(lo / step) * step
    ticks: list[float] = []
    value = first
    while value < hi + step * 0.5 and len(ticks) < 50:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < hi:
        ticks.append(round(value, 12))
    return ticks


_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
               43200, 86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400)


def time_ticks(lo: float, hi: float, count: int = 6) -> list[tuple[float, str]]:
    """Tick positions (epoch seconds, UTC-aligned) and labels for a time axis."""
    span = max(hi - lo, 1.0)
    step = next((s for s in _TIME_STEPS if span / s <= count), _TIME_STEPS[-1])
    pattern = "%m-%d" if step >= 86400 else "%H:%M" if step >= 60 else "%H:%M:%S"
    if step < 86400 and span > 86400:
        pattern = "%m-%d %H:%M"
    first = math.ceil(lo / step) * step
    ticks: list[tuple[float, str]] = []
    value = float(first)
    while value <= hi and len(ticks) < 40:
        ticks.append((value, datetime.fromtimestamp(value, UTC).strftime(pattern)))
        value += step
    return ticks


def number(value: float) -> str:
    """A tick label: short, no float noise."""
    if value == 0:
        return "0"
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:g}M"
    if size >= 1e4:
        return f"{value / 1e3:g}k"
    return f"{value:.4g}"


def percent(value: float) -> str:
    return f"{value * 100:.3g}%"


def usd(value: float) -> str:
    return f"${value:.3g}" if abs(value) < 1000 else f"${number(value)}"


def seconds(value: float) -> str:
    return f"{value:.3g}s"


@dataclass(frozen=True)
class Series:
    """One line: (x, y) points, x in epoch seconds; ``None`` y values break the line."""

    name: str
    points: tuple[tuple[float, float | None], ...]
    dashed: bool = False
    group: int | None = None  # series of one group share a colour (e.g. p50 and p95)


@dataclass(frozen=True)
class Span:
    """A bar on a timeline lane from ``start`` to ``end`` (epoch seconds)."""

    start: float
    end: float
    colour: str
    label: str


@dataclass(frozen=True)
class Mark:
    """A point event on a timeline lane."""

    at: float
    colour: str
    label: str
    shape: str = "circle"  # circle | diamond


@dataclass(frozen=True)
class Lane:
    name: str
    spans: tuple[Span, ...] = ()
    marks: tuple[Mark, ...] = ()


@dataclass(frozen=True)
class Key:
    """A legend entry."""

    name: str
    colour: str
    dashed: str = ""


@dataclass
class _Canvas:
    """The frame shared by every chart: title, plot area, legend below."""

    title: str
    legend: Sequence[Key] = ()
    plot_height: int = PLOT_HEIGHT
    parts: list[str] = field(default_factory=list)

    @property
    def left(self) -> float:
        return LEFT

    @property
    def right(self) -> float:
        return WIDTH - RIGHT

    @property
    def top(self) -> float:
        return TOP

    @property
    def bottom(self) -> float:
        return TOP + self.plot_height

    def legend_rows(self) -> list[list[tuple[Key, float]]]:
        rows: list[list[tuple[Key, float]]] = [[]]
        x = self.left
        for key in self.legend:
            width = 22 + len(key.name) * CHAR_W + 14
            if rows[-1] and x + width > self.right:
                rows.append([])
                x = self.left
            rows[-1].append((key, x))
            x += width
        return rows if rows[0] else []

    def finish(self) -> str:
        rows = self.legend_rows()
        height = self.bottom + AXIS_BELOW + len(rows) * LEGEND_ROW + 6
        out = [f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" role="img" '
               f'viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}" height="{height:.0f}" '
               f'aria-label="{text(self.title)}">',
               f"<title>{text(self.title)}</title>",
               f'<text class="chart-title" x="{self.left}" y="18">{text(self.title)}</text>']
        out += self.parts
        y = self.bottom + AXIS_BELOW + 4
        for row in rows:
            for key, x in row:
                pattern = f' stroke-dasharray="{key.dashed}"' if key.dashed else ""
                out.append(f'<line class="key" x1="{x:.1f}" y1="{y + 6:.1f}" x2="{x + 18:.1f}" '
                           f'y2="{y + 6:.1f}" stroke="{key.colour}" stroke-width="3"'
                           f'{pattern}/>')
                out.append(f'<text class="legend" x="{x + 22:.1f}" y="{y + 10:.1f}">'
                           f"{text(key.name)}</text>")
            y += LEGEND_ROW
        out.append("</svg>")
        return "\n".join(out)

    def y_axis(self, scale: Scale, ticks: Sequence[float], fmt: Format, label: str) -> None:
        for tick in ticks:
            y = scale(tick)
            self.parts.append(f'<line class="grid" x1="{self.left}" y1="{y:.1f}" '
                              f'x2="{self.right}" y2="{y:.1f}"/>')
            self.parts.append(f'<text class="tick" x="{self.left - 6}" y="{y + 4:.1f}" '
                              f'text-anchor="end">{text(fmt(tick))}</text>')
        middle = (self.top + self.bottom) / 2
        self.parts.append(f'<text class="axis-title" x="14" y="{middle:.1f}" '
                          f'text-anchor="middle" transform="rotate(-90 14 {middle:.1f})">'
                          f"{text(label)}</text>")

    def x_axis_line(self, label: str) -> None:
        self.parts.append(f'<line class="axis" x1="{self.left}" y1="{self.bottom}" '
                          f'x2="{self.right}" y2="{self.bottom}"/>')
        middle = (self.left + self.right) / 2
        self.parts.append(f'<text class="axis-title" x="{middle:.1f}" y="{self.bottom + 36}" '
                          f'text-anchor="middle">{text(label)}</text>')

    def time_axis(self, scale: Scale, lo: float, hi: float, label: str) -> None:
        for at, name in time_ticks(lo, hi):
            x = scale(at)
            self.parts.append(f'<line class="tickmark" x1="{x:.1f}" y1="{self.bottom}" '
                              f'x2="{x:.1f}" y2="{self.bottom + 4}"/>')
            self.parts.append(f'<text class="tick" x="{x:.1f}" y="{self.bottom + 16}" '
                              f'text-anchor="middle">{text(name)}</text>')
        self.x_axis_line(label)

    def no_data(self, note: str) -> None:
        self.parts.append(f'<text class="no-data" x="{(self.left + self.right) / 2:.1f}" '
                          f'y="{(self.top + self.bottom) / 2:.1f}" text-anchor="middle">'
                          f"{text(note)}</text>")


def _domain(values: Sequence[float], floor: float | None, ceiling: float | None
            ) -> tuple[float, float]:
    lo = min(values) if values else 0.0
    hi = max(values) if values else 1.0
    if floor is not None:
        lo = min(lo, floor)
    if ceiling is not None:
        hi = max(hi, ceiling)
    return lo, hi


def line_chart(title: str, series: Sequence[Series], *, y_label: str, fmt: Format = number,
               x_label: str = "time (UTC)", x_range: tuple[float, float] | None = None,
               y_floor: float | None = 0.0, y_ceiling: float | None = None,
               threshold: tuple[float, str] | None = None) -> str:
    """Lines over time, one per series, points marked; a dashed ``threshold`` line with
    its label when given.  Without any point the frame says there is no data."""
    keys = []
    for i, s in enumerate(series):
        index = s.group if s.group is not None else i
        keys.append(Key(s.name, colour(index), "6 3" if s.dashed else dash(index)))
    canvas = _Canvas(title, keys)
    xs = [x for s in series for x, y in s.points if y is not None]
    ys = [y for s in series for _, y in s.points if y is not None]
    if threshold is not None:
        ys.append(threshold[0])
    lo_x, hi_x = x_range if x_range is not None else _domain(xs, None, None)
    if not xs:
        canvas.no_data("no data in this period")
        canvas.x_axis_line(x_label)
        return canvas.finish()
    lo_y, hi_y = _domain(ys, y_floor, y_ceiling)
    ticks = nice_ticks(lo_y, hi_y)
    y = Scale(ticks[0], ticks[-1], canvas.bottom, canvas.top)
    x = Scale(lo_x, hi_x, canvas.left + 6, canvas.right - 6)
    canvas.y_axis(y, ticks, fmt, y_label)
    canvas.time_axis(x, lo_x, hi_x, x_label)
    if threshold is not None:
        at = y(threshold[0])
        canvas.parts.append(f'<line class="threshold" x1="{canvas.left}" y1="{at:.1f}" '
                            f'x2="{canvas.right}" y2="{at:.1f}"/>')
        canvas.parts.append(f'<text class="tick" x="{canvas.right - 4}" y="{at - 4:.1f}" '
                            f'text-anchor="end">{text(threshold[1])}</text>')
    for index, (s, key) in enumerate(zip(series, keys, strict=True)):
        canvas.parts += _line(s, key, x, y, fmt, many=len(s.points) > 60, index=index)
    return canvas.finish()


def _line(s: Series, key: Key, x: Scale, y: Scale, fmt: Format, many: bool, index: int
          ) -> list[str]:
    out = []
    runs: list[list[tuple[float, float]]] = [[]]
    for px, py in s.points:
        if py is None:
            runs.append([])
        else:
            runs[-1].append((px, py))
    pattern = f' stroke-dasharray="{key.dashed}"' if key.dashed else ""
    for run in runs:
        if len(run) >= 2:
            d = " ".join(f"{'M' if i == 0 else 'L'}{x(px):.1f},{y(py):.1f}"
                         for i, (px, py) in enumerate(run))
            out.append(f'<path class="mark line" data-series="{index}" d="{d}" fill="none" '
                       f'stroke="{key.colour}" stroke-width="2"{pattern}/>')
    for run in runs:
        for px, py in run:
            if many and len(run) >= 2:
                continue
            when = datetime.fromtimestamp(px, UTC).strftime("%Y-%m-%d %H:%M:%S")
            out.append(f'<circle class="mark point" cx="{x(px):.1f}" cy="{y(py):.1f}" r="3" '
                       f'fill="{key.colour}"><title>{text(s.name)} {when} UTC: '
                       f"{text(fmt(py))}</title></circle>")
    return out


def stacked_bars(title: str, columns: Sequence[tuple[str, dict[str, float]]], *,
                 y_label: str, x_label: str, fmt: Format = number, last: str = "") -> str:
    """One bar per column (its label under it), stacked by group; groups in the legend
    in order of their total, largest first (at the bottom of each bar), and the group
    ``last`` (e.g. "other") last."""
    totals: dict[str, float] = {}
    for _, parts in columns:
        for group, value in parts.items():
            totals[group] = totals.get(group, 0.0) + value
    groups = sorted(totals, key=lambda g: (g == last, -totals[g], g))
    keys = [Key(g, colour(i)) for i, g in enumerate(groups)]
    canvas = _Canvas(title, keys)
    if not columns or not groups:
        canvas.no_data("no data in this period")
        canvas.x_axis_line(x_label)
        return canvas.finish()
    highest = max(sum(parts.values()) for _, parts in columns)
    ticks = nice_ticks(0.0, highest if highest > 0 else 1.0)
    y = Scale(ticks[0], ticks[-1], canvas.bottom, canvas.top)
    canvas.y_axis(y, ticks, fmt, y_label)
    slot = (canvas.right - canvas.left) / len(columns)
    width = max(min(slot * 0.7, 60.0), 2.0)
    every = max(1, math.ceil(len(columns) / 12))  # at most about 12 labels
    for i, (label, parts) in enumerate(columns):
        middle = canvas.left + slot * (i + 0.5)
        base = 0.0
        for key in keys:
            value = parts.get(key.name, 0.0)
            if value <= 0:
                continue
            top, bottom = y(base + value), y(base)
            canvas.parts.append(
                f'<rect class="mark bar" x="{middle - width / 2:.1f}" y="{top:.1f}" '
                f'width="{width:.1f}" height="{max(bottom - top, 1.0):.1f}" '
                f'fill="{key.colour}"><title>{text(label)} {text(key.name)}: '
                f"{text(fmt(value))}</title></rect>")
            base += value
        if i % every == 0:
            canvas.parts.append(f'<text class="tick" x="{middle:.1f}" y="{canvas.bottom + 16}" '
                                f'text-anchor="middle">{text(label)}</text>')
    canvas.x_axis_line(x_label)
    return canvas.finish()


def timeline(title: str, lanes: Sequence[Lane], start: float, end: float, *,
             legend: Sequence[Key] = (), x_label: str = "time (UTC)") -> str:
    """Lanes of spans (e.g. an alert firing) and marks (e.g. a trigger) on one time axis."""
    lane_h = 26
    canvas = _Canvas(title, legend, plot_height=max(len(lanes), 1) * lane_h + 10)
    if not lanes:
        canvas.no_data("nothing happened in this period")
        canvas.x_axis_line(x_label)
        return canvas.finish()
    if end <= start:
        start, end = start - 30, start + 30
    label_room = min(max(len(_clip(lane.name, 40)) for lane in lanes) * CHAR_W + 16, 270.0)
    x = Scale(start, end, max(label_room, canvas.left) + 8, canvas.right - 6)
    for i, lane in enumerate(lanes):
        middle = canvas.top + 5 + i * lane_h + lane_h / 2
        canvas.parts.append(f'<line class="grid" x1="{x(start):.1f}" y1="{middle:.1f}" '
                            f'x2="{canvas.right}" y2="{middle:.1f}"/>')
        canvas.parts.append(f'<text class="lane" x="{x(start) - 8:.1f}" y="{middle + 4:.1f}" '
                            f'text-anchor="end">{text(_clip(lane.name, 40))}</text>')
        for span in lane.spans:
            x0, x1 = x(max(span.start, start)), x(min(span.end, end))
            canvas.parts.append(
                f'<rect class="mark span" x="{x0:.1f}" y="{middle - 7:.1f}" '
                f'width="{max(x1 - x0, 3.0):.1f}" height="14" rx="3" fill="{span.colour}" '
                f'fill-opacity="0.75"><title>{text(span.label)}</title></rect>')
        for mark in lane.marks:
            at = x(min(max(mark.at, start), end))
            tip = f"<title>{text(mark.label)}</title>"
            if mark.shape == "diamond":
                canvas.parts.append(
                    f'<path class="mark event" d="M{at:.1f},{middle - 7:.1f} '
                    f'L{at + 7:.1f},{middle:.1f} L{at:.1f},{middle + 7:.1f} '
                    f'L{at - 7:.1f},{middle:.1f} Z" fill="{mark.colour}" stroke="#fff">'
                    f"{tip}</path>")
            else:
                canvas.parts.append(f'<circle class="mark event" cx="{at:.1f}" '
                                    f'cy="{middle:.1f}" r="5" fill="{mark.colour}" '
                                    f'stroke="#fff">{tip}</circle>')
    canvas.time_axis(x, start, end, x_label)
    return canvas.finish()


def _clip(value: str, size: int) -> str:
    return value if len(value) <= size else value[: size - 1] + "…"
