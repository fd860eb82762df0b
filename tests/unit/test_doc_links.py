"""Every relative link in the Markdown documents leads to a file of the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([ROOT / "README.md", ROOT / "BENCHMARKS.md", *ROOT.glob("docs/*.md"),
                    *ROOT.glob("deploy/**/README.md")])
LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links(document: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", document.read_text(encoding="utf-8"), flags=re.S)
    return [target for target in LINK.findall(text)
            if not target.startswith(("http://", "https://", "mailto:", "#"))]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_to_files(document: Path) -> None:
    missing = [target for target in relative_links(document)
               if not (document.parent / target.split("#", 1)[0]).exists()]
    assert not missing, f"{document.relative_to(ROOT)}: {missing}"


def test_the_deployment_guide_is_linked_and_links_the_deployments() -> None:
    guide = relative_links(ROOT / "docs" / "deploying.md")
    assert "docs/deploying.md" in relative_links(ROOT / "README.md")
    for target in ("../deploy/compose/README.md", "../deploy/helm/llmpulse/README.md",
                   "runbooks.md"):
        assert target in guide
