"""What editors write cannot run in a reader's browser: article bodies and static pages full
of hostile markup (script tags, event handlers, javascript: and data: links, SVG, iframes,
forms, style tricks) are sanitised on the way in; in a real Chromium through the gateway,
the article page, its print page and the static page run none of it (the test listens for
alert and friends, dialogs and Content-Security-Policy violations, not only for strings)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, Page

from tests.e2e.conftest import BROWSER_AGENT
from tests.e2e.test_browser import browser, stack_url  # noqa: F401 (fixtures)
from tests.e2e.test_flows import publish
from tests.support.tools import needs

pytestmark = needs("chromium")

HOSTILE_BODY = """
<p>Đoạn mở đầu <b onmouseover="alert('b')">in đậm</b>.</p>
<script>alert('script')</script>
<img src="x" onerror="alert('img')" alt="ảnh">
<svg onload="alert('svg')"><script>alert('svg-script')</script></svg>
<iframe src="javascript:alert('iframe')"></iframe>
<a href="javascript:alert('link')">liên kết javascript</a>
<a href="JaVaScRiPt&#58;alert('entity')">liên kết mã hoá</a>
<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">liên kết data</a>
<form action="https://ke-gian.example"><input name="mat-khau"><button>Gửi</button></form>
<div style="background:url(javascript:alert('style'))">kiểu</div>
<object data="javascript:alert('object')"></object><embed src="javascript:alert('embed')">
<math><mtext><table><mglyph><style>
<img src=x onerror=alert('mxss')></style></mglyph></table></mtext></math>
<noscript><p title="</noscript><img src=x onerror=alert('noscript')>"></p></noscript>
<table><tr><td>Ô bảng giữ nguyên</td></tr></table>
"""
WATCH = """
    window.__ran = [];
    for (const name of ['alert', 'confirm', 'prompt']) {
        window[name] = (m) => { window.__ran.push(name + ':' + m); };
    }
    document.addEventListener('securitypolicyviolation',
        (e) => window.__ran.push('csp:' + e.violatedDirective));
"""
DANGEROUS = (
    "script:not([src]):not([type='application/ld+json']), script[src^='data:'], iframe,"
    " object, embed, form[action^='http'],"
    " [onerror], [onload], [onmouseover], a[href^='javascript:' i], a[href^='data:' i]"
)


@pytest.fixture
async def reader(
    browser: Browser,  # noqa: F811
    stack_url: str,  # noqa: F811
) -> AsyncIterator[tuple[Page, list[str]]]:
    context = await browser.new_context(base_url=stack_url, user_agent=BROWSER_AGENT)
    await context.add_init_script(WATCH)
    dialogs: list[str] = []
    page = await context.new_page()
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    yield page, dialogs
    await context.close()


async def nothing_ran(page: Page, dialogs: list[str], path: str, shots: Path) -> None:
    response = await page.goto(path)
    assert response is not None and response.status == 200, path
    await page.wait_for_load_state("networkidle")
    await page.mouse.move(10, 10)
    for element in await page.locator("b, img, a").all():
        await element.hover(timeout=2000, force=True)  # handlers that wait for the mouse
    name = path.strip("/").replace("/", "-") or "home"
    await page.screenshot(path=shots / f"hostile-{name}.png", full_page=True)
    assert (await page.evaluate("window.__ran"), dialogs) == ([], []), path
    # The inline code the page has is only its own data (JSON-LD), never the input's.
    inline = await page.locator("script:not([src])").evaluate_all(
        "(nodes) => nodes.filter((n) => n.type !== 'application/ld+json').length"
    )
    assert inline == 0, path
    assert await page.locator(DANGEROUS).count() == 0, path
    assert "Ô bảng giữ nguyên" in await page.inner_text("body")


async def test_hostile_article_bodies_and_pages_never_run(
    reader: tuple[Page, list[str]],
    http: aiohttp.ClientSession,
    editor_headers: dict[str, str],
    tmp_path: Path,
) -> None:
    page, dialogs = reader
    article = await publish(http, editor_headers, f"Bài có mã độc {uuid.uuid4().hex[:6]}")
    async with http.patch(
        f"/api/v1/articles/{article['id']}",
        json={"body_html": HOSTILE_BODY, "version": article["version"]},
        headers=editor_headers,
    ) as response:
        assert response.status == 200, await response.text()
    static = {"title": f"Trang có mã độc {uuid.uuid4().hex[:6]}", "body_html": HOSTILE_BODY}
    async with http.post("/api/v1/pages", json=static, headers=editor_headers) as response:
        assert response.status == 201, await response.text()
        slug = (await response.json())["slug"]
    async with http.post(f"/api/v1/pages/{slug}/publish", headers=editor_headers) as response:
        assert response.status == 200, await response.text()

    # Query strings: a fresh render, not a micro-cached copy from before the change.
    fresh = f"?t={uuid.uuid4().hex[:6]}"
    for path in (article["url"] + fresh, f"/tin/{article['id']}/in{fresh}", f"/trang/{slug}"):
        await nothing_ran(page, dialogs, path, tmp_path)
