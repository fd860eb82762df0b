"""The report's SVG builders, from plain numbers."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from llmpulse.report import svg
from llmpulse.report.svg import Lane, Mark, Scale, Series, Span

NS = {"s": "http://www.w3.org/2000/svg"}
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC).timestamp()
HOSTILE = "<script>alert('x')</script> & \"quoted\""


def parsed(text: str) -> ET.Element:
    """The chart as XML (it must be well-formed to be inline SVG)."""
    return ET.fromstring(text)


def marks(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter() if "mark" in (e.get("class") or "").split()]


def test_a_scale_maps_the_domain_onto_the_range_and_an_empty_domain_to_the_middle() -> None:
    scale = Scale(0, 10, 100, 0)  # y: up is smaller
    assert (scale(0), scale(5), scale(10)) == (100, 50, 0)
    assert Scale(3, 3, 0, 200)(3) == 100


@pytest.mark.parametrize(("lo", "hi", "expected"), [
    (0, 7.3, [0, 2, 4, 6, 8]),
    (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (0.013, 0.048, [0.01, 0.02, 0.03, 0.04, 0.05]),
    (5, 5, [4.0, 4.5, 5.0, 5.5, 6.0]),
    (0, 0, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
])
def test_ticks_are_round_and_cover_the_values(lo: float, hi: float,
                                              expected: list[float]) -> None:
    ticks = svg.nice_ticks(lo, hi)
    assert ticks == pytest.approx(expected)
    assert ticks[0] <= lo and ticks[-1] >= hi


def test_time_ticks_fall_on_round_utc_times_with_labels_for_the_span() -> None:
    hour = svg.time_ticks(T0 + 100, T0 + 3700)
    assert [label for _, label in hour] == ["09:10", "09:20", "09:30", "09:40", "09:50", "10:00"]
    assert all(at % 600 == 0 for at, _ in hour)
    week = svg.time_ticks(T0, T0 + 6 * 86400)
    assert week[0][1] == "12-02" and len(week) <= 6
    assert svg.time_ticks(T0, T0 + 20)[0][1] == "09:00:00"


def test_a_line_chart_draws_a_path_per_series_with_axes_labels_and_a_legend() -> None:
    chart = svg.line_chart("Calls", [Series("calls", ((T0, 1.0), (T0 + 60, 3.0), (T0 + 120, 2.0))),
                                     Series("errors", ((T0, 0.0), (T0 + 60, 1.0)))],
                           y_label="calls per 1 min")
    root = parsed(chart)
    paths = root.findall(".//s:path", NS)
    assert len(paths) == 2 and paths[0].get("stroke") != paths[1].get("stroke")
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "calls per 1 min" in texts and "time (UTC)" in texts  # axis titles
    assert "calls" in texts and "errors" in texts  # legend
    assert "09:00:00" in texts and "09:01:00" in texts  # time ticks (seconds: a short span)
    # y grows upwards: the highest value is nearest the top
    ys = [float(c.get("cy", 0)) for c in root.findall(".//s:circle", NS)[:3]]
    assert ys[1] < ys[2] < ys[0]


def test_an_empty_chart_says_so_and_draws_no_marks() -> None:
    for chart in (svg.line_chart("Latency", [], y_label="s"),
                  svg.line_chart("Latency", [Series("m", ())], y_label="s"),
                  svg.line_chart("Latency", [Series("m", ((T0, None),))], y_label="s"),
                  svg.stacked_bars("Cost", [], y_label="USD", x_label="day"),
                  svg.timeline("Alerts", [], T0, T0 + 60)):
        root = parsed(chart)
        assert not marks(root)
        assert "no data" in chart or "nothing happened" in chart


def test_a_single_point_is_drawn_as_a_dot_not_a_zero_length_line() -> None:
    root = parsed(svg.line_chart("One", [Series("m", ((T0, 2.5),))], y_label="s"))
    found = marks(root)
    assert [m.tag.split("}")[1] for m in found] == ["circle"]
    assert float(found[0].get("r", 0)) > 0
    assert "nan" not in ET.tostring(root, encoding="unicode").lower()


def test_missing_values_break_the_line() -> None:
    series = Series("m", ((T0, 1.0), (T0 + 60, 2.0), (T0 + 120, None), (T0 + 180, 1.0),
                          (T0 + 240, 1.5)))
    root = parsed(svg.line_chart("Gaps", [series], y_label="x"))
    assert len(root.findall(".//s:path", NS)) == 2


def test_a_threshold_is_drawn_with_its_label() -> None:
    chart = svg.line_chart("Drift", [Series("m", ((T0, 0.4), (T0 + 60, 0.5)))], y_label="x",
                           threshold=(1.0, "drifted above"))
    root = parsed(chart)
    assert root.find(".//s:line[@class='threshold']", NS) is not None
    assert "drifted above" in chart
    assert svg.nice_ticks(0, 1.0)[-1] >= 1.0  # the scale reaches the threshold


def test_labels_are_escaped_everywhere() -> None:
    charts = [
        svg.line_chart(HOSTILE, [Series(HOSTILE, ((T0, 1.0), (T0 + 1, 2.0)))], y_label=HOSTILE,
                       x_label=HOSTILE),
        svg.stacked_bars(HOSTILE, [(HOSTILE, {HOSTILE: 1.0})], y_label=HOSTILE,
                         x_label=HOSTILE),
        svg.timeline(HOSTILE, [Lane(HOSTILE, (Span(T0, T0 + 5, "#000", HOSTILE),),
                                    (Mark(T0 + 2, "#000", HOSTILE),))], T0, T0 + 10),
    ]
    for chart in charts:
        assert "<script" not in chart and "&lt;script&gt;" in chart
        root = parsed(chart)  # still well-formed
        assert not root.findall(".//script") and not root.findall(".//s:script", NS)
        assert any(HOSTILE in (t.text or "") for t in root.iter())  # shown as text


def test_stacked_bars_stack_groups_largest_first_with_heights_in_proportion() -> None:
    chart = svg.stacked_bars("Cost", [("12-01", {"a": 3.0, "b": 1.0}), ("12-02", {"a": 1.0})],
                             y_label="USD per day", x_label="day", fmt=svg.usd)
    root = parsed(chart)
    bars = [m for m in marks(root) if m.tag.endswith("rect")]
    assert len(bars) == 3
    heights = [float(b.get("height", 0)) for b in bars]
    assert heights[0] == pytest.approx(3 * heights[1], rel=0.02)
    assert heights[2] == pytest.approx(heights[1], rel=0.02)
    legend = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")
              if t.get("class") == "legend"]
    assert legend == ["a", "b"]


def test_a_timeline_has_a_lane_per_row_with_spans_and_marks_inside_the_axis() -> None:
    lanes = [Lane("alert: p95", spans=(Span(T0 + 10, T0 + 40, "#D55E00", "fired"),),
                  marks=(Mark(T0 + 40, "#009E73", "resolved"),)),
             Lane("retraining", marks=(Mark(T0 + 50, "#CC79A7", "trigger", "diamond"),))]
    root = parsed(svg.timeline("Events", lanes, T0, T0 + 60))
    kinds = sorted(m.tag.split("}")[1] for m in marks(root))
    assert kinds == ["circle", "path", "rect"]
    rect = next(m for m in marks(root) if m.tag.endswith("rect"))
    assert float(rect.get("width", 0)) > 0
    xs = [float(m.get("cx", 0)) for m in marks(root) if m.tag.endswith("circle")]
    assert all(0 < x < svg.WIDTH for x in xs)


def test_many_series_keep_distinct_looks() -> None:
    series = [Series(f"s{i}", ((T0, float(i)), (T0 + 1, float(i)))) for i in range(12)]
    chart = svg.line_chart("Many", series, y_label="x")
    looks = set(re.findall(r'<path class="mark line"[^>]*stroke="([^"]+)"[^>]*?'
                           r'(?: stroke-dasharray="([^"]+)")?/>', chart))
    assert len(looks) == 12


def test_the_rest_of_the_groups_stacks_last_whatever_its_size() -> None:
    chart = svg.stacked_bars("Cost", [("12-01", {"other": 9.0, "a": 1.0, "b": 2.0})],
                             y_label="USD", x_label="day", last="other")
    legend = [t.text for t in parsed(chart).iter("{http://www.w3.org/2000/svg}text")
              if t.get("class") == "legend"]
    assert legend == ["b", "a", "other"]
