"""A reader on a phone, in a real Chromium, through the gateway: the article page, its view
beacon, the print link and the feedback form."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, Page, async_playwright

from scripts.run_local import LocalStack
from tests.e2e.conftest import BROWSER_AGENT, eventually, send_form
from tests.e2e.test_flows import counter_knows, publish
from tests.support.tools import needs

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}

pytestmark = needs("chromium")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        await browser.close()


@pytest.fixture
async def phone(browser: Browser, stack_url: str) -> AsyncIterator[Page]:
    # An ordinary phone browser: HeadlessChrome's own user agent is (rightly) a bot.
    context = await browser.new_context(
        base_url=stack_url, viewport=PHONE, user_agent=f"{BROWSER_AGENT} Mobile", locale="vi-VN"
    )
    yield await context.new_page()
    await context.close()


@pytest.fixture
def stack_url(stack: LocalStack) -> str:
    return stack.url


async def test_a_reader_on_a_phone_reads_and_is_counted(
    phone: Page, http: aiohttp.ClientSession, editor_headers: dict[str, str], tmp_path: Path
) -> None:
    # Enough categories that the menu is wider than the phone: it must scroll in its bar.
    for n in range(3):
        await publish(http, editor_headers, f"Hội nghị chuyên đề {n} {uuid.uuid4().hex[:6]}")
    article = await publish(http, editor_headers, f"Tập huấn nghiệp vụ {uuid.uuid4().hex[:6]}")
    await eventually(lambda: counter_knows(http, article["id"]))

    await phone.goto(article["url"])
    assert await phone.title() != ""
    heading = phone.get_by_role("heading", name=article["title"])
    assert await heading.is_visible()
    body = await phone.inner_text("body")
    assert "Cập nhật vào ngày" in body and "Số lần xem" in body
    assert "Các ý kiến của bạn đọc" in body
    # Nothing is wider than the phone's screen.
    await phone.screenshot(path=tmp_path / "article-on-a-phone.png", full_page=True)
    width = await phone.evaluate("document.documentElement.scrollWidth")
    wider = await phone.evaluate(
        """[...document.querySelectorAll('body *')]
             .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
             .slice(0, 5).map(e => e.tagName + '.' + e.className)"""
    )
    assert width <= PHONE["width"], f"wider than the screen: {wider}"

    async def counted() -> bool:
        async with http.get(f"/api/v1/views/{article['id']}") as response:
            return (await response.json())["total"] == 1

    await eventually(counted, timeout=30)  # the page's own sendBeacon did it

    await phone.get_by_role("link", name="In bài viết").click()
    await phone.wait_for_url(f"**/tin/{article['id']}/in")
    assert article["title"] in await phone.inner_text("body")


async def test_a_reader_sends_feedback_through_the_form(
    phone: Page, http: aiohttp.ClientSession, editor_headers: dict[str, str]
) -> None:
    article = await publish(http, editor_headers, f"Ngày hội tình nguyện {uuid.uuid4().hex[:6]}")
    await phone.goto(article["url"])
    await phone.get_by_role("link", name="Gửi phản hồi cho bản tin").click()
    await phone.wait_for_url(f"**/tin/{article['id']}/phan-hoi")

    async def fill() -> None:
        await phone.get_by_label("Họ và tên").fill("Phạm Thu Trang")
        await phone.get_by_label("Nội dung").fill("Bản tin rất hữu ích cho cán bộ cơ sở.")

    await send_form(phone, fill)
    assert "Cảm ơn" in await phone.inner_text("body")
