"""axe-core (vendored: tests/support/vendor/axe.min.js, npm axe-core 4.14.1, MPL-2.0) in a Playwright page.

:func:`violations` injects axe into the page (once), runs it over the whole document against WCAG 2.x
A/AA rules plus best practice, and returns its violations; :func:`serious` keeps the serious and
critical ones, as short lines a failing test can print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def violations(page: Any, tags: list[str] | None = None) -> list[dict[str, Any]]:
    """Run axe-core on ``page`` as it is now; its violations (id, impact, help, nodes)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol, not as a <script> tag: the pages' Content-Security-Policy
        # (script-src 'self') rightly refuses an inline script, and the test must not weaken it.
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result: list[dict[str, Any]] = page.evaluate(
        "async tags => (await axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})).violations", tags or TAGS)
    return result


def serious(page: Any, where: str = "") -> list[str]:
    """The serious and critical violations on ``page``, one line each: rule, help, the first elements."""
    out = []
    for v in violations(page):
        if v.get("impact") in ("serious", "critical"):
            targets = ", ".join(str(n["target"]) for n in v["nodes"][:3])
            out.append(f"{where} {v['id']} ({v['impact']}): {v['help']} [{len(v['nodes'])}x: {targets}]")
    return out
