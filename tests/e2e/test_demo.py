"""A newcomer's first start: the demo content makes a living portal out of an empty
database, through the public APIs, and is never loaded twice."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from scripts.run_local import LocalStack
from services.demo.content import ARTICLES
from tests.e2e.conftest import eventually, running_stack, text_of

SCREENSHOT = os.environ.get("BANTIN_SCREENSHOT")  # set to refresh the README's picture


@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    yield from running_stack(tmp_path_factory, demo_content=True)


async def test_first_start_shows_a_living_portal(demo_stack: LocalStack) -> None:
    async with aiohttp.ClientSession(base_url=demo_stack.url) as http:
        async with http.get("/") as response:
            home = text_of(await response.text())
        for article in ARTICLES:
            assert article.title in home
        async with http.get("/api/v1/articles?limit=50") as response:
            listed = (await response.json())["items"]
        first = next(a for a in listed if a["title"] == ARTICLES[0].title)

        async def complete_page() -> str | None:
            async with http.get(first["url"]) as response:
                html = await response.text()
            text = text_of(html)
            wanted = [f"Số lần xem: {ARTICLES[0].views}", *(n for n, _ in ARTICLES[0].feedback)]
            return html if all(w in text for w in wanted) else None

        html = await eventually(complete_page, timeout=40)
        # The count is the counter's: the starting total the demo set, no reader sent.
        async with http.get(f"/api/v1/views/{first['id']}") as response:
            counts = await response.json()
        assert (counts["total"], counts["today"]) == (ARTICLES[0].views, 0)
        assert '<img src="/anh/' in html
        assert ARTICLES[0].caption in text_of(html)
        assert ARTICLES[0].reply and ARTICLES[0].reply in text_of(html)
        if SCREENSHOT:
            await take_screenshot(demo_stack.url + first["url"], Path(SCREENSHOT))


async def test_a_site_with_content_is_never_touched(demo_stack: LocalStack) -> None:
    async with aiohttp.ClientSession(base_url=demo_stack.url) as http:
        async with http.get("/api/v1/articles?limit=50") as response:
            before = sorted(a["id"] for a in (await response.json())["items"])
        demo_stack.run_job("demo-content")
        async with http.get("/api/v1/articles?limit=50") as response:
            after = sorted(a["id"] for a in (await response.json())["items"])
    assert len(before) == len(ARTICLES)
    assert after == before
    log = (demo_stack.logs / "demo-content.log").read_text()
    assert "already has content" in log


async def take_screenshot(url: str, path: Path) -> None:
    from playwright.async_api import async_playwright

    from tests.e2e.test_browser import CHROMIUM

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        page = await browser.new_page(viewport={"width": 1024, "height": 1400})
        await page.goto(url)
        await page.screenshot(path=str(path), full_page=False)
        await browser.close()
