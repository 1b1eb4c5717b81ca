"""The public site through the whole stack (real nginx gateway, services, Chromium): pages
revalidated by ETag, a new count and new feedback shown within seconds through the
micro-cache, a random query string answered from the cache; then, on the demo portal, the
home, article, category, tag, search, print and 404 pages checked with axe-core and
photographed at phone and desktop widths into docs/images/."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, async_playwright

from scripts.run_local import LocalStack
from tests.e2e.accessibility import serious_violations
from tests.e2e.conftest import (
    BROWSER_AGENT,
    SCREENSHOTS,
    Accounts,
    eventually,
    running_stack,
    text_of,
)
from tests.e2e.test_browser import CHROMIUM
from tests.e2e.test_flows import counter_knows, publish, send_feedback, views_shown
from tests.support.tools import needs

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


# --- caching through the gateway ----------------------------------------------------------


async def test_pages_are_revalidated_and_new_counts_and_feedback_show_within_seconds(
    http: aiohttp.ClientSession,
    editor_headers: dict[str, str],
    moderator_headers: dict[str, str],
) -> None:
    article = await publish(http, editor_headers, f"Tin có bộ đệm {uuid.uuid4().hex[:6]}")
    await eventually(lambda: counter_knows(http, article["id"]))
    async with http.get(article["url"]) as response:
        assert response.status == 200
        etag = response.headers["ETag"]
        assert response.headers["Cache-Control"] == "public, max-age=2, stale-while-revalidate=5"
        assert "Last-Modified" in response.headers
    # The browser's copy is still the page: a 304 without a body, from the cache.
    async with http.get(article["url"], headers={"If-None-Match": etag}) as response:
        assert response.status == 304 and await response.read() == b""
    # A random query string is the same page, answered from the cache.
    async with http.get(f"{article['url']}?r={uuid.uuid4().hex}") as response:
        assert response.status == 200
        assert response.headers["X-Cache"] in ("HIT", "STALE", "UPDATING", "REVALIDATED")
        assert response.headers["ETag"] == etag

    # A reader is counted: through the micro-cache (no bypass) the page shows it soon.
    counted_at = time.monotonic()
    async with http.post(
        "/api/v1/views", json={"article_id": article["id"]}, headers={"User-Agent": BROWSER_AGENT}
    ) as response:
        assert response.status == 204

    async def shows_count() -> aiohttp.ClientResponse | None:
        async with http.get(article["url"], headers={"If-None-Match": etag}) as response:
            if response.status == 200 and views_shown(text_of(await response.text())) == 1:
                return response
        return None

    changed = await eventually(shows_count, timeout=30, interval=0.3)
    # The counter's pipeline (beacon, batch, event, read model) and at most 7 s of cache.
    assert time.monotonic() - counted_at < 20
    assert changed.headers["ETag"] != etag

    item = await send_feedback(http, article["id"], "Lê Văn Tâm", "Cảm ơn bản tin kịp thời.")
    async with http.post(f"/api/v1/feedback/{item}/approve", headers=moderator_headers) as answer:
        assert answer.status == 200
    approved_at = time.monotonic()

    async def shows_feedback() -> bool:
        async with http.get(article["url"]) as response:
            return "Cảm ơn bản tin kịp thời." in await response.text()

    await eventually(shows_feedback, timeout=30, interval=0.3)
    assert time.monotonic() - approved_at < 20


# --- the demo portal in a browser ---------------------------------------------------------


@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    yield from running_stack(tmp_path_factory, demo_content=True)


async def _json(response: aiohttp.ClientResponse, status: int) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


@pytest.fixture(scope="module")
async def portal(demo_stack: LocalStack) -> AsyncIterator[dict[str, str]]:
    """The demo portal with a child category, a topic and tags on two more articles: the
    paths of the pages to look at."""
    async with aiohttp.ClientSession(base_url=demo_stack.url) as http:
        editor = await Accounts(http).headers("editor")
        async with http.get("/api/v1/articles?limit=50") as response:
            demo = (await _json(response, 200))["items"]
        lead = next(a for a in demo if a["image_id"])
        async with http.post(
            "/api/v1/categories",
            json={"name": "Hoạt động cơ sở", "parent_id": lead["category"]["id"]},
            headers=editor,
        ) as response:
            child = await _json(response, 201)
        async with http.post(
            "/api/v1/topics", json={"name": "Giao ước thi đua 2017"}, headers=editor
        ) as response:
            topic = await _json(response, 201)
        made = []
        for title in (
            "Hội Nông dân phường An Khánh ra quân làm đường giao thông nông thôn",
            "Phụ nữ quận Ninh Kiều hưởng ứng giao ước thi đua năm 2017",
        ):
            body = {
                "title": title,
                "summary": "Các đơn vị cơ sở triển khai giao ước thi đua đã ký kết.",
                "body_html": "<p>Sáng nay, các hội viên cùng nhân dân địa phương ra quân.</p>",
                "byline": "Thu Trang",
                "category_id": child["id"],
                "topic_id": topic["id"],
                "tags": ["Thi đua", "Nông thôn mới"],
                "image_id": lead["image_id"],
                "image_caption": "Hội viên ra quân.",
            }
            async with http.post("/api/v1/articles", json=body, headers=editor) as response:
                created = await _json(response, 201)
            async with http.post(
                f"/api/v1/articles/{created['id']}/publish", headers=editor
            ) as response:
                made.append(await _json(response, 200))
        yield {
            "home": "/",
            "article": made[-1]["url"],
            "category": f"/chuyen-muc/{lead['category']['slug']}",
            "tag": f"/the/{made[-1]['tags'][0]['slug']}",
            "search": "/tim-kiem?q=giao+uoc+thi+dua",
            "print": f"/tin/{made[-1]['id']}/in",
            "not-found": "/tin/khong-co-ban-tin-nay-424242",
        }


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        await launched.close()


async def open_page(
    browser: Browser, base_url: str, viewport: dict[str, int], path: str
) -> tuple[Page, list[str]]:
    """The page in a fresh context, with what the console reported as errors (a script
    the Content-Security-Policy refused, say)."""
    context = await browser.new_context(
        base_url=base_url, viewport=viewport, user_agent=BROWSER_AGENT, locale="vi-VN"
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    response = await page.goto(path)
    assert response is not None
    await page.wait_for_load_state("networkidle")
    return page, errors


@needs("chromium")
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1280"])
async def test_public_pages_pass_axe_and_are_photographed(
    browser: Browser, demo_stack: LocalStack, portal: dict[str, str], viewport: dict[str, int]
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    failures: dict[str, Any] = {}
    for name, path in portal.items():
        page, errors = await open_page(browser, demo_stack.url, viewport, path)
        try:
            if name != "not-found":
                await page.screenshot(
                    path=str(SCREENSHOTS / f"public-{name}-{viewport['width']}.png"),
                    full_page=True,
                )
            found = await serious_violations(page)
            width = await page.evaluate("document.documentElement.scrollWidth")
            # A 404 is reported by the browser as a failed load: not a page error.
            errors = [e for e in errors if "404" not in e]
            if found or errors or width > viewport["width"]:
                failures[name] = {"axe": found, "console": errors, "width": width}
        finally:
            await page.context.close()
    assert not failures, json.dumps(failures, ensure_ascii=False, indent=1)


@needs("chromium")
async def test_the_article_page_is_read_with_the_keyboard_and_its_data_is_not_run(
    browser: Browser, demo_stack: LocalStack, portal: dict[str, str]
) -> None:
    page, errors = await open_page(browser, demo_stack.url, DESKTOP, portal["article"])
    try:
        # The structured data is there for search engines, as data: the CSP refused nothing.
        data = json.loads(await page.inner_text('script[type="application/ld+json"]'))
        assert data["@type"] == "NewsArticle"
        assert not [e for e in errors if "Content Security Policy" in e]
        # The first Tab reaches a link, and focus is visible (an outline or a shadow).
        await page.keyboard.press("Tab")
        focused = await page.evaluate(
            """() => { const e = document.activeElement, s = getComputedStyle(e);
                       return {tag: e.tagName, outline: s.outlineStyle, width: s.outlineWidth,
                               shadow: s.boxShadow}; }"""
        )
        assert focused["tag"] == "A", focused
        assert (focused["outline"] != "none" and focused["width"] != "0px") or (
            focused["shadow"] != "none"
        ), focused
        # Headings go in order: one h1, and no level skipped.
        levels = await page.evaluate(
            "[...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => +h.tagName[1])"
        )
        assert levels.count(1) == 1 and levels[0] == 1
        assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False)), levels
        related = page.get_by_role("region", name="Tin liên quan")
        assert await related.is_visible()
        # The check can fail: a picture without a text alternative is a critical violation.
        await page.evaluate(
            "document.querySelector('main').append(Object.assign("
            "document.createElement('img'), {src: '/anh/1'}))"
        )
        assert "image-alt" in [v["id"] for v in await serious_violations(page)]
    finally:
        await page.context.close()
