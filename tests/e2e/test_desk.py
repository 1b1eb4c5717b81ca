"""A moderator at the desk, in a real Chromium through the gateway: signs in, works the queue
with the keyboard, rejects with a reason, edits and answers on the case's page; the desk fits
a desktop and a tablet screen. Screenshots of the queue and a case page are saved in the
test's temporary directory."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page

from tests.e2e.conftest import BROWSER_AGENT, Accounts, eventually, sign_in_page
from tests.e2e.test_browser import browser, stack_url  # noqa: F401 (fixtures)
from tests.e2e.test_flows import publish
from tests.support.tools import needs

DESKTOP = {"width": 1280, "height": 900}
TABLET = {"width": 820, "height": 1180}
DESK = "/quan-tri/phan-hoi"

pytestmark = needs("chromium")


async def send(http: aiohttp.ClientSession, article_id: int | None, name: str, body: str) -> Any:
    """A reader's feedback through the API; None while feedback does not know the article."""
    payload = {"article_id": article_id, "author_name": name, "body": body, "email": None}
    async with http.post("/api/v1/feedback", json=payload) as response:
        if response.status in (422, 429):
            # Not yet: feedback does not know the article, or the gateway's limit on this one
            # address asks to wait.
            return None
        assert response.status == 202, await response.text()
        return (await response.json())["id"]


async def status_of(http: aiohttp.ClientSession, headers: dict[str, str], item_id: int) -> str:
    async with http.get(f"/api/v1/feedback/{item_id}", headers=headers) as response:
        return str((await response.json())["status"])


@pytest.fixture
async def desk(
    browser: Browser,  # noqa: F811
    stack_url: str,  # noqa: F811
    accounts: Accounts,
) -> AsyncIterator[Page]:
    """A moderator signed in with the login form, on a desktop screen."""
    await accounts.headers("moderator")  # the account exists
    context = await browser.new_context(
        base_url=stack_url, viewport=DESKTOP, user_agent=BROWSER_AGENT, locale="vi-VN"
    )
    page = await context.new_page()
    page.on("console", lambda message: blocked.append(message.text))
    blocked: list[str] = []
    await sign_in_page(page, accounts, "moderator", DESK)
    yield page
    assert not [m for m in blocked if "Content Security Policy" in m], blocked
    await context.close()


async def overflow(page: Page) -> list[str]:
    """The elements wider than the window (none on a tidy page)."""
    return await page.evaluate(
        """[...document.querySelectorAll('body *')]
             .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
             .slice(0, 5).map(e => e.tagName + '.' + e.className)"""
    )


async def test_a_moderator_works_the_queue_and_a_case(
    desk: Page,
    http: aiohttp.ClientSession,
    editor_headers: dict[str, str],
    moderator_headers: dict[str, str],
    tmp_path: Path,
) -> None:
    article = await publish(http, editor_headers, f"Hội nghị tổng kết {uuid.uuid4().hex[:6]}")
    first = await eventually(
        lambda: send(
            http,
            article["id"],
            "Nguyễn Thị Hoa",
            "Xin cảm ơn ban biên tập về bản tin rất kịp thời.",
        )
    )
    second = await eventually(
        lambda: send(
            http,
            article["id"],
            "Trần Văn Bình",
            "Đề nghị đăng thêm danh sách các đơn vị được khen thưởng\nvà thời gian trao giải.",
        )
    )
    await eventually(
        lambda: send(http, None, "Lê Minh", "Trang thông tin nên có thêm mục hỏi đáp về thủ tục.")
    )

    await desk.goto(DESK)
    body = await desk.inner_text("body")
    assert "Kiểm duyệt ý kiến bạn đọc" in body and article["title"] in body
    assert "vừa xong" in body or "phút trước" in body
    await desk.screenshot(path=tmp_path / "desk-queue-desktop.png", full_page=True)
    assert await overflow(desk) == []

    # The keyboard: focus the first case, "a" approves it (desk.js, a file under /static).
    await desk.locator(f"#y-kien-{first} .desk-body").click()
    await desk.keyboard.press("a")
    await desk.wait_for_url(f"**{DESK}?da=duyet")
    assert "Đã duyệt ý kiến." in await desk.inner_text("body")
    assert await status_of(http, moderator_headers, first) == "approved"

    # The case page: edit, answer, then the history shows both, by this moderator.
    await desk.locator(f"#y-kien-{second} .desk-open").click()
    await desk.wait_for_url(f"**{DESK}/{second}")
    await desk.get_by_label("Nội dung", exact=True).fill(
        "Đề nghị đăng thêm danh sách các đơn vị được khen thưởng."
    )
    await desk.get_by_role("button", name="Lưu nội dung").click()
    await desk.wait_for_url(f"**{DESK}/{second}?da=sua")
    await desk.get_by_label("Nội dung trả lời").fill(
        "Danh sách sẽ được đăng trong bản tin tuần tới. Trân trọng cảm ơn bạn."
    )
    await desk.get_by_role("button", name="Gửi trả lời").click()
    await desk.wait_for_url(f"**{DESK}/{second}?da=tra-loi")
    history = await desk.inner_text(".desk-history")
    assert "Sửa nội dung" in history and "Trả lời" in history
    await desk.screenshot(path=tmp_path / "desk-case-desktop.png", full_page=True)
    assert await overflow(desk) == []

    # Reject with a reason from the list.
    await desk.get_by_label("Trùng lặp").check()
    await desk.get_by_role("button", name="Từ chối", exact=True).click()
    await desk.wait_for_url(f"**{DESK}/{second}?da=tu-choi")
    assert "Lý do từ chối" in await desk.inner_text("body")
    assert await status_of(http, moderator_headers, second) == "rejected"

    # A tablet: the same pages fit.
    await desk.set_viewport_size(TABLET)
    await desk.goto(f"{DESK}?trang-thai=tat-ca")
    await desk.screenshot(path=tmp_path / "desk-queue-tablet.png", full_page=True)
    assert await overflow(desk) == []
    await desk.goto(f"{DESK}/{second}")
    await desk.screenshot(path=tmp_path / "desk-case-tablet.png", full_page=True)
    assert await overflow(desk) == []

    # The articles' desk home wears the same layout: one desk; a moderator's menu has
    # the moderation desk only, and the home the count of feedback waiting.
    await desk.goto("/quan-tri")
    assert await desk.locator(".admin-menu a").all_inner_texts() == ["Phản hồi"]
    assert "ý kiến đang chờ" in await desk.inner_text("main")
    await desk.screenshot(path=tmp_path / "admin-articles-tablet.png", full_page=True)
