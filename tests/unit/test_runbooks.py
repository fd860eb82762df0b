"""Every runbook link the project ships resolves to a heading of a file in the repository.

Links are collected from the Prometheus rules (``runbook_url`` annotations), the
alert-engine rule files shipped in the package (``runbook_url`` of each rule, which
Slack and PagerDuty messages carry), the Grafana dashboards in deploy/grafana and the
code that builds them. A link is either repository-relative (``docs/runbooks.md#x``)
or under :data:`BASE_URL`, the address of the repository's main branch.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BASE_URL = "https://github.com/llmpulse/llmpulse/blob/main/"
PROMETHEUS_RULES = ROOT / "deploy/prometheus/llmpulse-rules.yml"
ENGINE_RULES = sorted((ROOT / "src/llmpulse/alerting").glob("*.yml"))
DASHBOARD_FILES = sorted((ROOT / "deploy/grafana").glob("*.json"))
DASHBOARD_CODE = sorted((ROOT / "src/llmpulse/dashboards").glob("*.py"))

#: A runbook link in free text (JSON, Python): to a runbooks file, with an anchor.
LINK_IN_TEXT = re.compile(r"""(?:https?://[^\s"'<>)]*?/)?(?:[\w.-]+/)*runbooks?[\w.-]*\.md#[^\s"'<>)]*""")
HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
FENCE = re.compile(r"^(```|~~~)")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation (anything but
    letters, digits, '_', '-' and spaces) removed, spaces to '-'."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)             # inline code keeps its text
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)    # links keep their text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every heading anchor of a Markdown file (repeated headings get -1, -2, ...)."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match:
            anchor = github_anchor(match.group(2))
            count = seen.get(anchor, 0)
            seen[anchor] = count + 1
            found.add(anchor if count == 0 else f"{anchor}-{count}")
    return frozenset(found)


def resolve(link: str) -> str | None:
    """None when ``link`` resolves to a heading in the repository, else why not."""
    target = link.removeprefix(BASE_URL)
    if "://" in target:
        return f"{link}: not under {BASE_URL} (a shipped link must point into the repository)"
    path, _, anchor = target.partition("#")
    file = ROOT / unquote(path)
    if not path or not file.is_file():
        return f"{link}: no file {path!r} in the repository"
    if not anchor:
        return f"{link}: no #anchor (link to the section, not the whole file)"
    if unquote(anchor) not in anchors(file):
        return f"{link}: {path} has no heading with anchor #{anchor}"
    return None


# --- collecting the links ----------------------------------------------------------

def prometheus_links() -> dict[str, str | None]:
    """alert name -> its runbook_url (None: it has none)."""
    groups = yaml.safe_load(PROMETHEUS_RULES.read_text(encoding="utf-8"))["groups"]
    return {rule["alert"]: rule.get("annotations", {}).get("runbook_url")
            for group in groups for rule in group["rules"] if "alert" in rule}


def engine_links(path: Path) -> dict[str, str | None]:
    """rule name -> its runbook_url, for one alert-engine rules file."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {rule["name"]: rule.get("runbook_url") for rule in document.get("rules") or ()}


def _walk(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _walk(v)]
    if isinstance(value, list):
        return [s for v in value for s in _walk(v)]
    return [value] if isinstance(value, str) else []


def text_links(text: str) -> list[str]:
    return LINK_IN_TEXT.findall(text)


def dashboard_links() -> dict[str, list[str]]:
    links: dict[str, list[str]] = {}
    for path in DASHBOARD_FILES:
        strings = _walk(json.loads(path.read_text(encoding="utf-8")))
        links[path.name] = [link for s in strings for link in text_links(s)]
    for path in DASHBOARD_CODE:
        links[path.name] = text_links(path.read_text(encoding="utf-8"))
    return links


def all_links() -> list[tuple[str, str]]:
    """(where, link) for every runbook link shipped."""
    found = [(f"{PROMETHEUS_RULES.name}: {alert}", url)
             for alert, url in prometheus_links().items() if url]
    found += [(f"{path.name}: {rule}", url)
              for path in ENGINE_RULES for rule, url in engine_links(path).items() if url]
    found += [(name, url) for name, urls in dashboard_links().items() for url in urls]
    return found


# --- the tests ---------------------------------------------------------------------

@pytest.mark.parametrize(("heading", "anchor"), [
    ("LlmLatencyP95High", "llmlatencyp95high"),
    ("`latency_p95_high`", "latency_p95_high"),
    ("Retraining policies", "retraining-policies"),
    ("Alert engine rules (`default_rules.yml`)", "alert-engine-rules-default_rulesyml"),
    ("Runbook links: hosted copies", "runbook-links-hosted-copies"),
    ("A [link](x.md) & more", "a-link--more"),
])
def test_github_anchor(heading: str, anchor: str) -> None:
    assert github_anchor(heading) == anchor


def test_anchors_skip_code_blocks_and_number_repeats(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("# Title\n\n## Checks\n\n```bash\n# not a heading\n```\n\n## Checks\n")
    assert anchors(doc) == {"title", "checks", "checks-1"}


def test_resolve_reports_what_is_wrong() -> None:
    assert resolve(BASE_URL + "docs/runbooks.md#llmpulseworkerdown") is None
    assert resolve("docs/runbooks.md#llmpulseworkerdown") is None
    assert "no heading" in str(resolve("docs/runbooks.md#no-such-alert"))
    assert "no file" in str(resolve(BASE_URL + "docs/runbook.md#llmpulseworkerdown"))
    assert "not under" in str(resolve("https://wiki.example/runbooks#x"))
    assert "no #anchor" in str(resolve("docs/runbooks.md"))


def test_text_links_are_found_in_json_and_code() -> None:
    text = ('{"url": "https://github.com/llmpulse/llmpulse/blob/main/docs/runbooks.md#a-b"}\n'
            'RUNBOOK = "docs/runbooks.md#c_d"  # and docs/other.md#e is no runbook\n')
    assert text_links(text) == [BASE_URL + "docs/runbooks.md#a-b", "docs/runbooks.md#c_d"]


def test_every_shipped_runbook_link_resolves() -> None:
    links = all_links()
    assert len(links) >= len(prometheus_links())  # the collection found something
    problems = [f"{where}: {problem}" for where, link in links
                if (problem := resolve(link)) is not None]
    assert not problems, "dead runbook links:\n" + "\n".join(problems)


def test_every_prometheus_alert_has_a_runbook() -> None:
    missing = [alert for alert, url in prometheus_links().items() if not url]
    assert not missing, f"alerts without a runbook_url: {missing}"


@pytest.mark.parametrize("path", ENGINE_RULES, ids=lambda p: p.name)
def test_every_shipped_engine_rule_has_a_runbook(path: Path) -> None:
    rules = engine_links(path)
    assert rules, f"{path.name} has no rules"
    missing = [rule for rule, url in rules.items() if not url]
    assert not missing, f"{path.name}: rules without a runbook_url: {missing}"


def test_prometheus_runbook_anchor_is_the_alert_name() -> None:
    """The README promises docs/runbooks.md#<alert name in lower case>."""
    wrong = {alert: url for alert, url in prometheus_links().items()
             if url != f"{BASE_URL}docs/runbooks.md#{alert.lower()}"}
    assert not wrong, wrong


def test_engine_rules_accept_only_absolute_runbook_urls() -> None:
    from pydantic import ValidationError

    from llmpulse.alerting.rules import Rule

    base = {"name": "r", "metric": "error_rate", "threshold": 0.1}
    assert Rule.model_validate({**base, "runbook_url": BASE_URL + "docs/runbooks.md#x"})
    with pytest.raises(ValidationError, match="absolute http"):
        Rule.model_validate({**base, "runbook_url": "docs/runbooks.md#error_rate_high"})


def test_default_rules_load_with_their_runbook_urls() -> None:
    """The engine puts a rule's runbook_url unchanged into its Slack and PagerDuty
    messages; the shipped defaults load with every link in place."""
    from llmpulse.alerting.rules import load_rules

    default = ROOT / "src/llmpulse/alerting/default_rules.yml"
    assert {r.name: r.runbook_url for r in load_rules(None).rules} == engine_links(default)
