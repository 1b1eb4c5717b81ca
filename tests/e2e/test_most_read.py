"""Readers in a real Chromium, through the gateway: their browsers' own sendBeacon raises an
article's count, and the home page's most-read lists (today, 7 days, 30 days), switched
with plain links, show it."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager as AsyncContextManager
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, Page

from tests.e2e.conftest import BROWSER_AGENT, eventually
from tests.e2e.test_browser import browser, stack_url  # noqa: F401 - fixtures
from tests.e2e.test_flows import counter_knows, publish
from tests.support.tools import needs

pytestmark = needs("chromium")

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
TABLET = {"width": 768, "height": 1024}
TABS = {"Hôm nay": "hom-nay", "7 ngày": "7-ngay", "30 ngày": "30-ngay"}


async def read_in_a_browser(chromium: Browser, base_url: str, url: str, reader: str) -> None:
    """An ordinary browser (HeadlessChrome's own agent is, rightly, a bot) opens the page;
    its beacon.js sends the view."""
    context = await chromium.new_context(
        base_url=base_url, viewport=TABLET, user_agent=f"{BROWSER_AGENT} {reader}", locale="vi-VN"
    )
    try:
        page = await context.new_page()
        async with page.expect_response("**/api/v1/views") as beacon:
            await page.goto(url)
        assert (await beacon.value).status == 204
    finally:
        await context.close()


@pytest.fixture
def home(browser: Browser, stack_url: str) -> Callable[[], AsyncContextManager[Page]]:  # noqa: F811
    """A reader's home page, each time in a new browser: the page says max-age=30, and a
    browser keeping it would show the lists of half a minute ago."""

    @asynccontextmanager
    async def opened() -> AsyncIterator[Page]:
        context = await browser.new_context(
            base_url=stack_url, viewport=TABLET, user_agent=BROWSER_AGENT, locale="vi-VN"
        )
        try:
            yield await context.new_page()
        finally:
            await context.close()

    return opened


async def most_read(home: Callable[[], AsyncContextManager[Page]], label: str) -> list[str]:
    """The home page's most-read list after following the period's link."""
    async with home() as page:
        return await _most_read(page, label)


async def _most_read(page: Page, label: str) -> list[str]:
    await page.goto("/")
    await (
        page.get_by_role("navigation", name="Đọc nhiều nhất theo thời gian")
        .get_by_role("link", name=label)
        .click()
    )
    await page.wait_for_url(re.compile(rf"xem={TABS[label]}"))
    current = page.locator(".most-read-tabs a[aria-current='true']")
    assert await current.inner_text() == label
    return await page.locator(".most-read ol li").all_inner_texts()


async def test_readers_browsers_raise_the_count_and_the_three_lists_show_it(
    browser: Browser,  # noqa: F811
    stack_url: str,  # noqa: F811
    home: Callable[[], AsyncContextManager[Page]],
    http: aiohttp.ClientSession,
    editor_headers: dict[str, str],
) -> None:
    title = f"Hội thi nhà nông đua tài {uuid.uuid4().hex[:6]}"
    article = await publish(http, editor_headers, title)
    await eventually(lambda: counter_knows(http, article["id"]))
    for label in TABS:
        assert not any(title in item for item in await most_read(home, label))

    async def total_is(expected: int) -> bool:
        async with http.get(f"/api/v1/views/{article['id']}") as response:
            total = int((await response.json())["total"])
        assert total <= expected, f"{total} views counted, {expected} readers"
        return total == expected

    # The count rises with each reader's own sendBeacon.
    for reader, expected in (("Visitor/an", 1), ("Visitor/binh", 2), ("Visitor/chi", 3)):
        await read_in_a_browser(browser, stack_url, article["url"], reader)
        await eventually(
            lambda expected=expected: total_is(expected), message=f"{expected} views counted"
        )

    shown: dict[str, list[str]] = {}

    async def listed_everywhere() -> bool:
        for label in TABS:
            shown[label] = await most_read(home, label)
        return all(f"{title} (3 lượt xem)" in items for items in shown.values())

    await eventually(
        listed_everywhere, timeout=40, message="listed in every period (shown: the lists last seen)"
    )
    async with home() as page:
        await _most_read(page, "7 ngày")
        await page.locator("#doc-nhieu").scroll_into_view_if_needed()
        await page.screenshot(path=IMAGES / "most-read-on-a-tablet.png", full_page=False)
