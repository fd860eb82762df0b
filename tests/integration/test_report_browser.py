"""`llmpulse report` opened in a real headless Chromium: it loads without a console error or
a request for anything else, and every plot is drawn (its marks have a size)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.harness.browser import PageRun, chromium_binary, inspect_page
from tests.harness.report_rows import HOSTILE_PROMPT, HOSTILE_TENANT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

#: Per plot: its title, how many data marks it has and how many of them have a size.
PLOTS_JS = """(() => ({
  plots: [...document.querySelectorAll('svg.plot')].map(svg => {
    const marks = [...svg.querySelectorAll('.mark')];
    const sized = marks.filter(m => {
      const box = m.getBBox(), rect = m.getBoundingClientRect();
      return (box.width > 0 || box.height > 0) && (rect.width > 0 || rect.height > 0);
    });
    const rect = svg.getBoundingClientRect();
    return {title: svg.getAttribute('aria-label'), marks: marks.length, sized: sized.length,
            width: rect.width, height: rect.height,
            kinds: [...new Set(marks.map(m => m.tagName))].sort()};
  }),
  active: document.querySelectorAll('script, img, iframe, object, embed, link').length,
  sections: [...document.querySelectorAll('section h2')].map(h => h.textContent),
  text: document.body.innerText,
}))()"""

EXPECTED_PLOTS = 9  # calls, latency, cost, toxicity, groundedness, thumbs, rating, drift,
#                     timeline


def _chromium() -> str:
    binary = chromium_binary()
    if binary is None:
        pytest.fail("chromium is not installed: the report is tested in a real browser.  "
                    "Install the Debian package (apt-get install chromium); scripts/test.sh "
                    "installs it.", pytrace=False)
    return binary


def _artifact(tmp_path: Path, name: str) -> Path:
    folder = os.environ.get("TEST_ARTIFACTS_DIR")
    return (Path(folder) if folder else tmp_path) / name


def _env(store: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPULSE_")}
    return {**env, "LLMPULSE_CLICKHOUSE_URL": f"chdb://{store}"}


def _report(store: Path, output: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "llmpulse", "report", *args, "-o",
                           str(output)], env=_env(store), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == str(output)


def _clean(run: PageRun, page: Path) -> None:
    assert run.errors == [], run.errors
    assert run.requests == [page.resolve().as_uri()], run.requests  # nothing else fetched


def test_the_report_renders_every_plot_in_a_real_browser(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    binary = _chromium()
    store = tmp_path / "chdb"
    start = (datetime.now(UTC) - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    filled = subprocess.run([sys.executable, "-m", "tests.harness.report_rows", str(store),
                             start.isoformat()], env=_env(store), capture_output=True,
                            text=True, timeout=120, cwd=Path(__file__).parents[2])
    assert filled.returncode == 0, filled.stderr
    page = tmp_path / "report.html"
    _report(store, page, "--from", (start - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "--to", (start + timedelta(hours=3)).isoformat())
    shot = _artifact(tmp_path, "report.png")
    run = inspect_page(binary, page.resolve().as_uri(), PLOTS_JS, screenshot=shot)
    with capsys.disabled():
        print(f"\nreport screenshot: {shot}")
    _clean(run, page)
    found = run.value
    plots = found["plots"]
    assert len(plots) == EXPECTED_PLOTS, [p["title"] for p in plots]
    for plot in plots:
        assert plot["marks"] > 0, plot
        assert plot["sized"] == plot["marks"], plot  # every line, bar, dot and span drawn
        assert plot["width"] > 300 and plot["height"] > 150, plot
    kinds = {kind for p in plots for kind in p["kinds"]}
    assert {"path", "rect", "circle"} <= kinds
    assert found["active"] == 0  # the stored markup stayed text
    assert HOSTILE_TENANT in found["text"] and "900" in found["text"]
    assert found["sections"][:3] == ["Calls and errors", "Latency per model",
                                     "Cost per tenant and model"]
    assert shot.stat().st_size > 50_000 and shot.read_bytes()[:4] == b"\x89PNG"

    # one model, and the slowest call's prompt (hostile markup) as text
    gpt = tmp_path / "gpt-4o.html"
    _report(store, gpt, "--from", start.isoformat(), "--to",
            (start + timedelta(hours=3)).isoformat(), "--model", "gpt-4o")
    run = inspect_page(binary, gpt.resolve().as_uri(), PLOTS_JS)
    _clean(run, gpt)
    assert "llmpulse report: gpt-4o" in run.value["text"]
    assert "claude-sonnet-4-5" not in run.value["text"].split("Worst calls")[1]
    assert HOSTILE_PROMPT not in gpt.read_text()  # escaped in the file


def test_an_empty_report_loads_cleanly_in_a_real_browser(tmp_path: Path) -> None:
    binary = _chromium()
    store = tmp_path / "chdb"
    store.mkdir()
    page = tmp_path / "empty.html"
    _report(store, page)  # a store with no calls at all, the default period
    run = inspect_page(binary, page.resolve().as_uri(), PLOTS_JS,
                       screenshot=_artifact(tmp_path, "report-empty.png"))
    _clean(run, page)
    assert run.value["plots"] == []
    assert "No calls are stored for this period" in run.value["text"]
