"""The report page from plain data: self-contained, every stored text escaped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

from llmpulse.report.data import (
    AlertEvent,
    DriftCheck,
    Period,
    Point,
    Releases,
    ReportData,
    RetrainEvent,
    Totals,
    WorstCall,
)
from llmpulse.report.page import render, width_name

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
S0 = T0.timestamp()
EVIL = "<script>alert('x')</script><img src=x onerror=alert(1)>"
#: What a page may contain: no script, no image, frame, link or object of any kind.
ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3",
                "p", "div", "section", "footer", "code", "figure", "figcaption", "table",
                "caption", "thead", "tbody", "tr", "th", "td", "svg", "text", "line", "path",
                "rect", "circle"}


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.urls: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href")]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


def empty(model: str | None = None) -> ReportData:
    return ReportData(period=Period(T0, T0 + timedelta(days=1), model), generated=T0,
                      bucket_s=60, trend_bucket_s=300, cost_bucket_s=3600, x_range=None)


def hostile() -> ReportData:
    """A report whose every stored text is hostile markup."""
    data = empty(EVIL)
    data.x_range = (S0, S0 + 3600)
    data.totals = Totals(calls=10, errors=1, cost_usd=0.5, models=1, tenants=1, p50_s=1.0,
                         p95_s=2.0, tox_scored=5, toxic=1, ground_scored=5, groundedness=0.7,
                         feedback=3, thumbs=3, thumbs_down=1, ratings=2, rating=4.0)
    data.traffic = [Point(S0, "", (5.0, 1.0)), Point(S0 + 60, "", (5.0, 0.0))]
    data.latency = [Point(S0, EVIL, (1.0, 2.0)), Point(S0 + 60, EVIL, (1.1, 2.2))]
    data.cost = [Point(S0, f"{EVIL} / {EVIL}", (0.5,))]
    data.quality = [Point(S0, EVIL, (0.2, 0.7)), Point(S0 + 300, EVIL, (0.0, 0.8))]
    data.feedback = [Point(S0, EVIL, (0.33, 4.0))]
    data.drift = [DriftCheck(S0 + 1800, EVIL, "*", 1.5, True, EVIL)]
    data.alerts = [AlertEvent(S0 + 600, "trigger", EVIL, "critical", EVIL, "k"),
                   AlertEvent(S0 + 900, "resolve", EVIL, "critical", EVIL, "k")]
    data.retrains = [RetrainEvent(S0 + 1200, "pending_approval", EVIL, EVIL, EVIL, EVIL)]
    data.releases = Releases(("decided_at", "model", "verdict"),
                             ((T0 + timedelta(minutes=50), EVIL, "rollback"),),
                             time_column="decided_at", verdict_column="verdict")
    call = WorstCall(EVIL, S0, EVIL, EVIL, EVIL, 9.5, EVIL, EVIL)
    data.worst = {"slowest": [call], "costliest": [call], "least_grounded": [call],
                  "most_toxic": [call]}
    return data


def test_every_stored_text_is_escaped() -> None:
    html = render(hostile())
    page = parse(html)
    assert page.tags <= ALLOWED_TAGS, page.tags - ALLOWED_TAGS
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    shown = "".join(page.text)
    assert shown.count(EVIL) >= 15  # model, tenant, route, prompt, rule, summary, ... as text


def test_the_page_is_self_contained() -> None:
    html = render(hostile())
    page = parse(html)
    assert page.urls == []  # nothing loaded: no src or href at all
    assert "@import" not in html and "url(" not in html
    urls = {u for u in html.split('"') if u.startswith(("http://", "https://", "//"))}
    assert urls == {"http://www.w3.org/2000/svg"}  # the SVG namespace, not a fetch
    assert "default-src 'none'" in html  # and the browser is told to fetch nothing


def test_every_section_has_a_plot_or_a_note() -> None:
    html = render(hostile())
    for anchor in ("traffic", "latency", "cost", "quality", "feedback", "drift", "timeline"):
        section = html.split(f'<section id="{anchor}">')[1].split("</section>")[0]
        assert '<svg class="plot"' in section, anchor
    releases = html.split('<section id="releases">')[1].split("</section>")[0]
    assert "rollback" in releases and "<table>" in releases
    assert "release verdicts" in html  # a lane of the timeline


def test_an_empty_report_is_a_clear_page() -> None:
    html = render(empty())
    assert '<svg class="plot"' not in html
    assert "No calls are stored for this period" in html
    for note in ("No calls in this period.", "No cost in this period.",
                 "No drift checks in this period.", "No feedback on the calls"):
        assert note in html
    assert "2026-12-01 09:00:00 to 2026-12-02 09:00:00 UTC" in html


def test_the_header_has_the_period_the_model_and_the_totals() -> None:
    data = hostile()
    data.period = Period(T0, T0 + timedelta(hours=2), "gpt-4o")
    html = render(data)
    header = html.split("<header>")[1].split("</header>")[0]
    assert "llmpulse report: gpt-4o" in header and "model gpt-4o" in header
    assert '<div class="value">1</div><div class="sub">10.0%</div>' in header  # errors
    for value in ("10", "$0.5000", "1.00s / 2.00s", "20.0%", "0.70", "33.3%",
                  "4.00 / 5"):
        assert f'<div class="value">{value}</div>' in header, value


def test_bucket_widths_read_as_words() -> None:
    assert [width_name(s) for s in (5, 60, 300, 3600, 86400, 172800)] == [
        "5 s", "1 min", "5 min", "1 h", "day", "2 days"]


def test_a_plot_notes_only_the_groups_it_could_have_drawn() -> None:
    data = hostile()
    data.quality = [Point(S0, "grounded", (0.0, 0.8))] + [
        Point(S0, f"chat-{i}", (0.1, None)) for i in range(3)]
    html = render(data)
    quality = html.split('<section id="quality">')[1].split("</section>")[0]
    assert "more prompt versions not drawn" not in quality  # the chat ones have no grounding
