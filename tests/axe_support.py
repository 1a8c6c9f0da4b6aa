"""axe-core (bundled with axe-playwright-python) run on a Playwright page: WCAG 2.x A/AA
rules; a serious or critical violation fails the test."""

from __future__ import annotations

from typing import Any

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
FAILING = ("serious", "critical")


def violations(page: Any) -> list[str]:
    """The serious and critical violations on the page, one line each (rule, impact, where)."""
    from axe_playwright_python.sync_playwright import Axe

    options = {"runOnly": {"type": "tag", "values": TAGS}, "resultTypes": ["violations"]}
    result = Axe().run(page, options=options)
    found = []
    for v in result.response["violations"]:
        if v.get("impact") in FAILING:
            targets = [" ".join(map(str, n["target"])) for n in v["nodes"]][:3]
            found.append(f"{page.url}: {v['id']} ({v['impact']}) at {targets}")
    return found
