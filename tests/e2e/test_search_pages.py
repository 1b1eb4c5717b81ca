"""The search page in a real Chromium through the gateway, on a phone (390 px), a tablet
(768 px) and a desktop (1280 px): results with their marked passages, and the page for
nothing found. The screenshots go to docs/images/ (search-results-390.png,
search-empty-1280.png, ...)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from playwright.async_api import Browser, async_playwright

from scripts.run_local import LocalStack
from tests.e2e.conftest import BROWSER_AGENT, SCREENSHOTS
from tests.e2e.test_browser import CHROMIUM
from tests.support.tools import needs

pytestmark = needs("chromium")

ARTICLES = (
    (
        "Khối thi đua ký kết giao ước thi đua năm 2026",
        "<p>Sáng 11-4, đại diện lãnh đạo các đơn vị thuộc Khối thi đua đã ký kết giao ước "
        "thi đua năm 2026, thống nhất các chỉ tiêu trọng tâm.</p>",
    ),
    (
        "Hội nghị tổng kết phong trào thi đua yêu nước",
        "<p>Hội nghị đánh giá kết quả thực hiện giao ước thi đua giữa các đơn vị và trao "
        "bằng khen cho 12 tập thể, 25 cá nhân có thành tích xuất sắc.</p>",
    ),
    (
        "Đoàn Thanh niên ra quân bảo vệ môi trường",
        "<p>Hưởng ứng phong trào thi đua, hơn 300 đoàn viên tham gia dọn vệ sinh kênh "
        "rạch, trồng cây xanh và tuyên truyền giao thông an toàn.</p>",
    ),
)


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        yield browser
        await browser.close()


async def publish(
    http: aiohttp.ClientSession, headers: dict[str, str], title: str, body: str
) -> dict[str, Any]:
    name = f"Thi đua khen thưởng {uuid.uuid4().hex[:4]}"
    async with http.post("/api/v1/categories", json={"name": name}, headers=headers) as answer:
        category = await answer.json()
    article = {"title": title, "summary": "", "body_html": body, "category_id": category["id"]}
    async with http.post("/api/v1/articles", json=article, headers=headers) as answer:
        assert answer.status == 201, await answer.text()
        created = await answer.json()
    async with http.post(f"/api/v1/articles/{created['id']}/publish", headers=headers) as answer:
        assert answer.status == 200, await answer.text()
        return dict(await answer.json())


@pytest.mark.parametrize("width", [390, 768, 1280])
async def test_search_results_and_the_empty_page_in_a_browser(
    chromium: Browser,
    stack: LocalStack,
    http: aiohttp.ClientSession,
    editor_headers: dict[str, str],
    width: int,
) -> None:
    # Another search than the reader's below: the gateway keeps a search page for a few
    # seconds, so asking the reader's own now would show them this copy, from before the
    # articles were published.
    async with http.get("/tim-kiem?q=khoi+thi+dua+ky+ket") as answer:
        if "Khối thi đua ký kết" not in await answer.text():
            for title, body in ARTICLES:
                await publish(http, editor_headers, title, body)
    context = await chromium.new_context(
        base_url=stack.url,
        viewport={"width": width, "height": 900},
        user_agent=BROWSER_AGENT,
        locale="vi-VN",
    )
    page = await context.new_page()
    try:
        # As a reader does it: the field, typed without diacritics, Enter.
        await page.goto("/tim-kiem")
        await page.get_by_label("Từ khóa").fill("giao uoc thi dua")
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/tim-kiem?q=giao+uoc+thi+dua**")
        links = page.locator(".search-list .article-link")
        assert await links.first.inner_text() == ARTICLES[0][0]
        assert await page.locator(".search-list mark").count() >= 4
        await page.screenshot(path=SCREENSHOTS / f"search-results-{width}.png", full_page=True)
        assert await page.evaluate("document.documentElement.scrollWidth") <= width

        await page.goto(f"/tim-kiem?q={quote('hội nghị trực tuyến ngoài không gian')}")
        body = await page.inner_text("body")
        assert "Không tìm thấy bản tin nào" in body and "kiểm tra lại chính tả" in body
        await page.screenshot(path=SCREENSHOTS / f"search-empty-{width}.png", full_page=True)
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
    finally:
        await context.close()
