"""Browser tests: Playwright driving the machine's Chromium, and axe-core on every page.

The browser is Debian's chromium (``CHROMIUM`` names another); Playwright's own browser
download is never used. axe-core comes from npm (package.json) and is injected into each page
checked. The fixtures that use these live in the root conftest.py: ``browser_page`` (a fresh
page, 1280 px wide, against pytest-django's live server), ``axe_check`` and ``sign_in``.
"""

import json
import os
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings

# WCAG 2.2 AA: the rules axe tags for levels A and AA of WCAG 2.0, 2.1 and 2.2.
WCAG_AA_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"


def chromium_path() -> str | None:
    return (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )


def axe_script() -> Path:
    return Path(settings.NODE_MODULES) / "axe-core" / "axe.min.js"


def axe_violations(page: Any, *, tags: list[str] | None = None) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now; the violations, each with its nodes."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_script()))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})",
        tags or WCAG_AA_TAGS,
    )
    return list(result["violations"])


def describe_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:5]:
            lines.append(f"    {' '.join(map(str, node['target']))}: {node['failureSummary']}")
    return "\n".join(lines)


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/ (kept by CI as evidence)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def overflows_horizontally(page: Any) -> bool:
    """Whether the page is wider than the window (it should reflow at 320 px)."""
    return bool(page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1"))


def dump(violations: list[dict[str, Any]]) -> str:
    return json.dumps(violations, indent=2)[:4000]
