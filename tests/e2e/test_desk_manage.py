"""The desk's management pages in a real Chromium through the gateway: the home, the
article list with a filter, a category created and renamed, a user created, an import whose
progress bar reaches its summary, and the menu on a tablet with the keyboard. Every page is
checked with axe-core (no serious or critical violation) and saved as a screenshot at 768
and 1280 px in docs/images/ (desk-*.png).

The axe helper is this module's own (tests/e2e/accessibility.py, the editor part's, was not
in this tree when it was written); it injects the pinned axe-core of tests/e2e/vendor."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page

from tests.e2e.conftest import (
    ADMIN,
    BROWSER_AGENT,
    GATEWAY_REFUSED,
    SCREENSHOTS,
    Accounts,
    eventually,
    post_as_reader,
)
from tests.e2e.test_browser import browser, stack_url  # noqa: F401 (fixtures)
from tests.support.tools import needs

pytestmark = needs("chromium")

DESKTOP = {"width": 1280, "height": 900}
TABLET = {"width": 768, "height": 1024}
AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"


async def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA violations rated serious or critical on the page as it is."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        # Through the DevTools protocol: the page's CSP refuses inline <script> tags.
        await page.evaluate(AXE.read_text() + "\n;undefined")
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => {
            const result = await axe.run(document, {runOnly: {type: "tag",
                values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}});
            return result.violations.filter(v => ["serious", "critical"].includes(v.impact))
                .map(v => ({id: v.id, impact: v.impact, help: v.help,
                            nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
        }"""
    )
    return found


async def overflow(page: Page) -> list[str]:
    """Elements wider than the window (none on a page that fits)."""
    return await page.evaluate(
        """[...document.querySelectorAll('body *')]
             .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
             .slice(0, 5).map(e => e.tagName + '.' + e.className)"""
    )


async def look(page: Page, name: str) -> None:
    """The page passes axe and fits; its screenshots at 1280 and 768 px are saved."""
    assert await serious_violations(page) == [], name
    for label, size in (("desktop", DESKTOP), ("tablet", TABLET)):
        await page.set_viewport_size(size)
        assert await overflow(page) == [], f"{name} at {label}"
        await page.screenshot(path=SCREENSHOTS / f"desk-{name}-{label}.png", full_page=True)
    await page.set_viewport_size(DESKTOP)


async def sign_in(page: Page, username: str, password: str, next_path: str) -> None:
    """Sign in with the login form, as a person does; when the gateway slows sign-ins
    from this machine's one address (429), wait and sign in again."""
    for _ in range(8):
        await page.goto(f"/dang-nhap?next={next_path}")
        await page.get_by_label("Tên đăng nhập").fill(username)
        await page.get_by_label("Mật khẩu").fill(password)
        await page.get_by_role("button", name="Đăng nhập").click()
        await page.wait_for_load_state()
        if GATEWAY_REFUSED not in await page.inner_text("body"):
            break
        await page.wait_for_timeout(5000)
    await page.wait_for_url(f"**{next_path}")


@pytest.fixture
async def admin_page(
    browser: Browser,  # noqa: F811
    stack_url: str,  # noqa: F811
    accounts: Accounts,
) -> AsyncIterator[Page]:
    await accounts.headers("admin")  # the first admin can sign in (not slowed down)
    context = await browser.new_context(
        base_url=stack_url, viewport=DESKTOP, user_agent=BROWSER_AGENT, locale="vi-VN"
    )
    page = await context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    # The first admin chose their own password at the first sign-in (Accounts did).
    await sign_in(page, ADMIN["username"], accounts.password("admin"), "/quan-tri")
    yield page
    assert not [m for m in console if "Content Security Policy" in m], console
    await context.close()


async def draft(
    http: aiohttp.ClientSession, headers: dict[str, str], category_id: int, title: str
) -> Any:
    body = {"title": title, "summary": "Tóm tắt.", "body_html": "<p>Nội dung.</p>"}
    body["category_id"] = category_id
    async with http.post("/api/v1/articles", json=body, headers=headers) as r:
        assert r.status == 201, await r.text()
        return await r.json()


async def category(http: aiohttp.ClientSession, headers: dict[str, str]) -> int:
    name = f"Tin trong tỉnh {uuid.uuid4().hex[:5]}"
    async with http.post("/api/v1/categories", json={"name": name}, headers=headers) as r:
        assert r.status == 201, await r.text()
        return int((await r.json())["id"])


async def test_the_home_and_the_article_list_with_a_filter(
    admin_page: Page, http: aiohttp.ClientSession, accounts: Accounts
) -> None:
    page = admin_page
    editor = await accounts.headers("editor")
    where = await category(http, editor)
    word = uuid.uuid4().hex[:6]
    for n in range(3):
        await draft(http, editor, where, f"Hội nghị tổng kết {word} số {n}")
    await draft(http, editor, where, f"Tập huấn kỹ thuật {word}")
    admin = await accounts.headers("admin")
    mine = await draft(http, admin, where, f"Nháp của quản trị {word}")

    await page.goto("/quan-tri")
    main = page.locator("main")
    assert await page.locator('.admin-menu a[aria-current="page"]').inner_text() == "Tổng quan"
    drafts = page.get_by_role("region", name="Bản nháp của tôi")
    await drafts.get_by_role("link", name=mine["title"]).wait_for()
    waiting = int(await page.locator("#h-feedback + p .desk-count").inner_text())

    # A reader's suggestion reaches the count through feedback's event, no HTTP call.
    suggestion = {
        "article_id": None,
        "author_name": "Lê Minh",
        "body": f"Trang nên có mục hỏi đáp về thủ tục {word}.",
        "email": None,
    }
    await post_as_reader(http, "/api/v1/feedback", suggestion)

    async def counted() -> bool:
        await page.goto("/quan-tri")
        shown = await page.locator("#h-feedback + p .desk-count").inner_text()
        return int(shown) == waiting + 1

    await eventually(counted)
    await look(page, "home")

    await page.get_by_role("link", name="Tất cả bài viết").click()
    await page.wait_for_url("**/quan-tri/bai-viet")
    await page.get_by_label("Tìm trong bài").fill(f"hoi nghi tong ket {word}")
    await page.get_by_label("Trạng thái", exact=True).select_option("draft")
    await page.get_by_role("button", name="Lọc").click()
    await page.wait_for_url("**trang-thai=draft**")
    rows = page.locator("table.desk-articles tbody tr")
    assert await rows.count() == 3
    assert "3 bài viết" in await main.inner_text()
    assert f"Tập huấn kỹ thuật {word}" not in await main.inner_text()
    await look(page, "list")


async def test_a_category_is_created_renamed_and_moved_without_script(
    admin_page: Page,
) -> None:
    page = admin_page
    name = f"Khuyến nông {uuid.uuid4().hex[:5]}"
    await page.goto("/quan-tri/chuyen-muc")
    await page.get_by_label("Tên chuyên mục").fill(name)
    await page.get_by_role("button", name="Thêm", exact=True).click()
    await page.get_by_text(f"Đã tạo chuyên mục “{name}”.").wait_for()
    renamed = name.replace("Khuyến nông", "Khuyến nông và thú y")
    await page.get_by_label(f"Tên mới của chuyên mục “{name}”").fill(renamed)
    await page.get_by_label(f"Tên mới của chuyên mục “{name}”").press("Enter")
    await page.get_by_text(f"Đã đổi tên chuyên mục thành “{renamed}”.").wait_for()
    # It moves among the top-level categories with its buttons (up unless it is first).
    before = await page.locator(".desk-item-name strong").all_inner_texts()
    up = page.get_by_role("button", name=f"Chuyển “{renamed}” lên")
    way, step = ("lên", -1) if await up.is_enabled() else ("xuống", 1)
    await page.get_by_role("button", name=f"Chuyển “{renamed}” {way}").click()
    await page.get_by_text(f"Đã chuyển chuyên mục {way}.").wait_for()
    after = await page.locator(".desk-item-name strong").all_inner_texts()
    assert (after.index(renamed) - before.index(renamed)) * step > 0
    await look(page, "categories")
    for path, name_ in (("/quan-tri/the", "tags"), ("/quan-tri/dong-su-kien", "topics")):
        await page.goto(path)
        await look(page, name_)


async def test_an_admin_creates_a_user_who_then_signs_in(
    admin_page: Page,
    browser: Browser,  # noqa: F811
    stack_url: str,  # noqa: F811
) -> None:
    page = admin_page
    username = f"pv.{uuid.uuid4().hex[:6]}"
    await page.goto("/quan-tri/nguoi-dung")
    await page.get_by_label("Tên đăng nhập").fill(username)
    await page.get_by_label("Tên hiển thị").fill("Phóng viên Trần Văn Ba")
    create = page.locator("form.desk-create")
    await create.get_by_label("Tác giả").check()
    await create.get_by_role("button", name="Tạo tài khoản").click()
    shown = page.locator(".desk-password-value code")
    password = await shown.inner_text()
    assert len(password) >= 10
    assert username in await page.locator("main").inner_text()
    await look(page, "users")

    other = await browser.new_context(
        base_url=stack_url, viewport=TABLET, user_agent=BROWSER_AGENT, locale="vi-VN"
    )
    try:
        person = await other.new_page()
        await person.goto("/dang-nhap")
        await person.get_by_label("Tên đăng nhập").fill(username)
        await person.get_by_label("Mật khẩu").fill(password)
        await person.get_by_role("button", name="Đăng nhập").click()
        # The temporary password is the right one, and its owner chooses their own first.
        await person.wait_for_url("**/doi-mat-khau?**")
        assert "xin chọn mật khẩu mới" in await person.locator("main").inner_text()
    finally:
        await other.close()


async def test_the_menu_folds_on_a_tablet_and_works_with_the_keyboard(admin_page: Page) -> None:
    page = admin_page
    await page.set_viewport_size(TABLET)
    await page.goto("/quan-tri/bai-viet")
    toggle = page.get_by_role("button", name="Danh mục quản trị: Bài viết")
    menu = page.locator("#admin-menu")
    assert await menu.is_hidden()
    await toggle.focus()
    await page.keyboard.press("Enter")
    assert await menu.is_visible()
    assert await toggle.get_attribute("aria-expanded") == "true"
    await page.screenshot(path=SCREENSHOTS / "desk-menu-tablet.png")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Tổng quan"
    await page.keyboard.press("Escape")
    assert await menu.is_hidden()
    assert await page.evaluate("document.activeElement.className") == "admin-menu-toggle"
    # On a desktop the whole menu shows, no button.
    await page.set_viewport_size(DESKTOP)
    assert await menu.is_visible() and await toggle.is_hidden()


def export_lines(count: int, marker: str) -> bytes:
    records = [
        {
            "external_id": f"e2e-{marker}-{n}",
            "title": f"Bài cũ số {n} ({marker})",
            "body_html": f"<p>Nội dung bài cũ số {n}.</p>",
            "category": "Tin cũ",
            "status": "draft" if n % 2 else "published",
            "published_at": "2018-03-01T08:00:00+07:00",
            "tags": ["lưu trữ"],
        }
        for n in range(count)
    ]
    records.append({"external_id": f"e2e-{marker}-x", "title": "Thiếu chuyên mục"})
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode()


async def test_an_import_shows_its_progress_then_its_summary(
    admin_page: Page, tmp_path: Path
) -> None:
    page = admin_page
    marker = uuid.uuid4().hex[:6]
    export = tmp_path / "bai-cu.jsonl"
    export.write_bytes(export_lines(400, marker))
    await page.goto("/quan-tri/nhap-bai")
    await look(page, "import")
    await page.get_by_label("Tệp cần nhập").set_input_files(export)
    await page.get_by_role("button", name="Bắt đầu nhập").click()
    await page.wait_for_url("**/quan-tri/nhap-bai/*")
    # The script moves the bar as the import goes (unless it is over before the page
    # even showed it, on a fast machine): a screenshot of it part way.
    moved = await page.wait_for_function(
        """() => { const bar = document.querySelector("progress");
                   return bar ? (bar.value > 0 ? "moved" : false) : "over"; }""",
        timeout=60_000,
    )
    if await moved.json_value() == "moved":
        assert "Đã xử lý" in await page.locator(".import-progress-text").inner_text()
        await page.screenshot(path=SCREENSHOTS / "desk-import-progress-desktop.png")
    summary = page.get_by_text("Nhập xong: 400 bài mới")
    await summary.wait_for(timeout=120_000)  # the script reloads the page at the end
    text = await page.locator("main").inner_text()
    assert "trong đó 200 bản nháp" in text and "1 bài bị từ chối" in text
    refused = page.locator(".import-summary table tbody tr")
    assert (await refused.first.inner_text()).split()[0] == "401"  # its line, and why
    assert "Thiếu published_at" in await refused.first.inner_text()
    await look(page, "import-summary")
    await page.get_by_role("link", name="Xem danh sách bài viết").click()
    await page.get_by_label("Tìm trong bài").fill(marker)
    await page.get_by_role("button", name="Lọc").click()
    await eventually(lambda: page.get_by_text("400 bài viết", exact=False).is_visible(), timeout=10)
