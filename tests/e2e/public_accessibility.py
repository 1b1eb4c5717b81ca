"""An accessibility check of a public page in the browser: axe-core 4.14.1 (MPL-2.0, from
the npm registry: `npm pack axe-core@4.14.1`, integrity
sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==,
kept in tests/e2e/vendor/) injected with Playwright. The desk's helper of the same kind
(tests/e2e/accessibility.py) injects the same file; this one serves the public pages' tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Page

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
# What fails a page: violations axe rates serious or critical (WCAG 2.x A and AA).
BLOCKING = ("serious", "critical")


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Every WCAG A/AA violation axe finds on the page as it is now: rule, impact, help
    text and the first few offending elements."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol: the page's Content-Security-Policy
        # (script-src 'self') would refuse an inline <script> tag.
        await page.evaluate(AXE.read_text() + "\n;undefined")
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => {
            const result = await axe.run(document, {
                runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
            });
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ")),
            }));
        }"""
    )
    return found


async def blocking_violations(page: Page) -> list[dict[str, Any]]:
    """The violations that fail a page: serious or critical ones."""
    return [v for v in await axe_violations(page) if v["impact"] in BLOCKING]
