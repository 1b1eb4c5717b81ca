"""Signing in to the desk in a real Chromium, through the gateway, on a stack whose access
tokens live 15 seconds (ACCESS_TOKEN_TTL_SECONDS): the first admin signs in with the
password from the settings and must choose a new one; a desk page left open for several
token lifetimes keeps its person signed in (session.js renews the token from the sign-in
session) and then saves: a moderation action posted from the moderation desk (feedback,
which cannot reach articles) and an article changed through the API from the page. When
the session ends (signed out in another tab), the page says so and signs in again in place.
Screenshots of the sign-in and password pages at desktop and tablet widths, and of the
"session ended" notice, go to docs/images/."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Response

from scripts.run_local import LocalStack
from tests.e2e.conftest import (
    ADMIN,
    BROWSER_AGENT,
    SCREENSHOTS,
    Accounts,
    eventually,
    running_stack,
)
from tests.e2e.test_browser import browser  # noqa: F401 (fixture)
from tests.e2e.test_flows import publish
from tests.support.tools import needs

pytestmark = needs("chromium")

TTL_SECONDS = 15
# Verifiers accept a token up to 10 s past its expiry (clock leeway): stay open for
# longer than two whole lifetimes past that.
OPEN_SECONDS = 2 * (TTL_SECONDS + 10) + 5
DESKTOP = {"width": 1280, "height": 900}
TABLET = {"width": 768, "height": 1024}
DESK = "/quan-tri/phan-hoi"
ADMIN_OWN_PASSWORD = "mat-khau-rieng-cua-quan-tri-2026"


@pytest.fixture(scope="module")
def short_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    settings = {"ACCESS_TOKEN_TTL_SECONDS": str(TTL_SECONDS)}
    yield from running_stack(tmp_path_factory, demo_content=False, settings=settings)


@pytest.fixture(scope="module")
async def short_http(short_stack: LocalStack) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        base_url=short_stack.url, timeout=aiohttp.ClientTimeout(total=30)
    ) as session:
        yield session


@pytest.fixture(scope="module")
def short_accounts(short_http: aiohttp.ClientSession) -> Accounts:
    return Accounts(short_http)


async def new_context(browser: Browser, url: str, viewport: dict[str, int]) -> BrowserContext:  # noqa: F811
    return await browser.new_context(
        base_url=url, viewport=viewport, user_agent=BROWSER_AGENT, locale="vi-VN"
    )


async def overflow(page: Page) -> list[str]:
    return list(
        await page.evaluate(
            """[...document.querySelectorAll('body *')]
                 .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                 .slice(0, 5).map(e => e.tagName + '.' + e.className)"""
        )
    )


async def test_the_first_admin_chooses_a_password_and_works_past_the_token_lifetime(
    browser: Browser,  # noqa: F811
    short_stack: LocalStack,
    short_http: aiohttp.ClientSession,
    short_accounts: Accounts,
) -> None:
    context = await new_context(browser, short_stack.url, DESKTOP)
    page = await context.new_page()
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text))
    renewals: list[int] = []

    def on_response(response: Response) -> None:
        if response.url.endswith("/api/v1/auth/refresh"):
            renewals.append(response.status)

    page.on("response", on_response)

    # The README's first sign-in: the password from the settings, then one's own.
    await page.goto(f"/dang-nhap?next={DESK}")
    await page.screenshot(path=SCREENSHOTS / "desk-sign-in-desktop.png")
    await page.get_by_label("Tên đăng nhập").fill(ADMIN["username"])
    await page.get_by_label("Mật khẩu").fill(ADMIN["password"])
    await page.get_by_role("button", name="Đăng nhập").click()
    await page.wait_for_url("**/doi-mat-khau?**")
    body = await page.inner_text("body")
    assert "xin chọn mật khẩu mới" in body and "Ít nhất 10 ký tự" in body
    await page.screenshot(path=SCREENSHOTS / "desk-password-desktop.png", full_page=True)
    assert await overflow(page) == []
    # A slip first: the two new passwords differ; the form says so beside the field.
    await page.get_by_label("Mật khẩu hiện tại").fill(ADMIN["password"])
    await page.get_by_label("Mật khẩu mới", exact=True).fill(ADMIN_OWN_PASSWORD)
    await page.get_by_label("Nhập lại mật khẩu mới").fill(ADMIN_OWN_PASSWORD + "x")
    await page.get_by_role("button", name="Đổi mật khẩu").click()
    await page.wait_for_load_state()
    assert "Hai lần nhập mật khẩu mới không giống nhau" in await page.inner_text("body")
    await page.get_by_label("Mật khẩu hiện tại").fill(ADMIN["password"])
    await page.get_by_label("Mật khẩu mới", exact=True).fill(ADMIN_OWN_PASSWORD)
    await page.get_by_label("Nhập lại mật khẩu mới").fill(ADMIN_OWN_PASSWORD)
    await page.get_by_role("button", name="Đổi mật khẩu").click()
    await page.wait_for_url(f"**{DESK}")
    short_accounts.passwords["admin"] = ADMIN_OWN_PASSWORD
    old = {"username": ADMIN["username"], "password": ADMIN["password"]}
    async with short_http.post("/api/v1/auth/token", json=old) as response:
        assert response.status == 401  # the settings' password no longer opens anything

    # Something to save later: an article, and a reader's feedback waiting at the desk.
    admin = await short_accounts.headers("admin")
    article = await publish(short_http, admin, f"Hội nghị {uuid.uuid4().hex[:6]}")
    item_id = await eventually(lambda: send_feedback(short_http, article["id"]))
    await page.goto(DESK)
    case = page.locator(f"#y-kien-{item_id}")
    assert "Chào ban biên tập" in await case.inner_text()

    # The page stays open, untouched, for more than two token lifetimes.
    opened = time.monotonic()
    await page.wait_for_timeout(OPEN_SECONDS * 1000)
    assert time.monotonic() - opened > 2 * (TTL_SECONDS + 10)
    assert len(renewals) >= 2 and set(renewals) == {200}, renewals

    # Then the person saves: a moderation action from the form loaded a minute ago...
    await case.get_by_role("button", name="Duyệt").click()
    await page.wait_for_url(f"**{DESK}**")
    assert "Đã duyệt ý kiến." in await page.inner_text("body")
    admin = await short_accounts.headers("admin")  # the test's own token lives 15 s too
    async with short_http.get(f"/api/v1/feedback/{item_id}", headers=admin) as response:
        assert (await response.json())["status"] == "approved"
    # ... and an article saved through the API from the page, with the cookies alone.
    saved = await page.evaluate(
        """async ([id, version]) => {
             const r = await fetch('/api/v1/articles/' + id, {
               method: 'PATCH', credentials: 'same-origin',
               headers: {'Content-Type': 'application/json'},
               body: JSON.stringify({title: 'Tiêu đề sửa sau một phút', version: version})});
             return [r.status, (await r.json()).title];
           }""",
        [article["id"], article["version"]],
    )
    assert saved == [200, "Tiêu đề sửa sau một phút"]
    assert not [m for m in blocked if "Content Security Policy" in m], blocked

    # Signed out in another tab: the session is over, and the open page says so...
    other = await context.new_page()
    await other.goto(DESK)
    await other.get_by_role("button", name="Đăng xuất").first.click()
    await other.wait_for_url("**/")
    assert await page.evaluate("window.BantinSession.renew()") is False
    notice = page.locator("#session-notice")
    assert "Phiên đăng nhập đã kết thúc" in await notice.inner_text()
    await page.screenshot(path=SCREENSHOTS / "desk-session-ended.png")
    # ... and signs in again in place (what the editor's dialog does), the notice gone.
    signed_in = await page.evaluate(
        """async ([username, password]) => {
             const r = await fetch('/api/v1/auth/session', {
               method: 'POST', credentials: 'same-origin',
               headers: {'Content-Type': 'application/json'},
               body: JSON.stringify({username, password})});
             return [r.status, await window.BantinSession.renew()];
           }""",
        [ADMIN["username"], ADMIN_OWN_PASSWORD],
    )
    assert signed_in == [200, True]
    assert await notice.count() == 0
    await context.close()


async def send_feedback(http: aiohttp.ClientSession, article_id: int) -> Any:
    """A reader's feedback; None while feedback does not know the article yet."""
    body = {"article_id": article_id, "author_name": "Nguyễn Thị Hoa", "body": "Chào ban biên tập."}
    async with http.post("/api/v1/feedback", json=body) as response:
        if response.status in (422, 429):
            return None
        assert response.status == 202, await response.text()
        return (await response.json())["id"]


async def test_the_sign_in_pages_fit_a_tablet(
    browser: Browser,  # noqa: F811
    short_stack: LocalStack,
) -> None:
    context = await new_context(browser, short_stack.url, TABLET)
    page = await context.new_page()
    await page.goto("/dang-nhap")
    assert await overflow(page) == []
    await page.screenshot(path=SCREENSHOTS / "desk-sign-in-tablet.png")
    await page.goto("/doi-mat-khau?ten=quantri&buoc=dau")
    assert await overflow(page) == []
    # With the keyboard alone: each field, in order, then the button.
    await page.get_by_label("Tên đăng nhập").focus()
    for label in ("Mật khẩu hiện tại", "Mật khẩu mới", "Nhập lại mật khẩu mới"):
        await page.keyboard.press("Tab")
        focused = await page.evaluate("document.activeElement.labels[0].textContent")
        assert focused == label
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Đổi mật khẩu"
    await page.screenshot(path=SCREENSHOTS / "desk-password-tablet.png", full_page=True)
    await context.close()
