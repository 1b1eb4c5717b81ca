"""The article editor in a real Chromium through the gateway: an author writes an article
with a heading, bold text, a list, a table and uploaded images and submits it; an editor
sends it back with a reason; the author sees the reason, fixes it and resubmits; the editor
schedules it a minute ahead and it appears on the public site by itself, with its image
variants; the editor compares two revisions and restores one. Pasted Word-like HTML is
saved as clean structure, and its scripts never run. A save over a newer version shows
both. Screenshots of the editor, the preview and the revisions at tablet and desktop
widths go to docs/images/; axe finds no serious or critical violation on the pages."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from services.articles.desk_editor import AUTOSAVE_SECONDS, EDITOR_ASSETS
from services.common.vietnam import VIETNAM
from tests.e2e.accessibility import serious_violations
from tests.e2e.conftest import BROWSER_AGENT, GATEWAY_REFUSED, SCREENSHOTS, Accounts, eventually
from tests.e2e.test_browser import browser, stack_url  # noqa: F401 (fixtures)
from tests.support.documents import PDF_BYTES
from tests.support.pictures import encode, halves
from tests.support.tools import needs

pytestmark = needs("chromium")

DESKTOP = {"width": 1280, "height": 900}
TABLET = {"width": 768, "height": 1024}
AUTHOR = {"username": "tacgia", "password": "tac-gia-viet-bai-2026", "roles": ["author"]}
# The author is one more person of the shared accounts (created and signed in like the
# others, whatever sign-in asks of a new account).
Accounts.PEOPLE.setdefault("author", AUTHOR)

Desk = Callable[..., Awaitable[Page]]


def credentials(accounts: Accounts, who: str) -> tuple[str, str]:
    """The name and the password `who` signs in with now: the accounts helper's own
    password when it has one (a first sign-in may make the owner choose theirs)."""
    person = Accounts.PEOPLE[who]
    current = getattr(accounts, "password", None)
    return str(person["username"]), str(current(who) if current else person["password"])


@pytest.fixture
async def desk(
    browser: Browser,  # noqa: F811
    stack_url: str,  # noqa: F811
    accounts: Accounts,
) -> AsyncIterator[Desk]:
    """Opens a browser signed in as someone with the login form; every page is checked for
    refusals of the Content-Security-Policy and script errors when the test ends."""
    contexts = []
    problems: list[str] = []

    async def open_desk(who: str, viewport: dict[str, int] = DESKTOP, watch: bool = True) -> Page:
        await accounts.headers(who)  # the account exists and has signed in once
        context = await browser.new_context(
            base_url=stack_url, viewport=viewport, user_agent=BROWSER_AGENT, locale="vi-VN"
        )
        contexts.append(context)
        page = await context.new_page()
        if watch:  # a test that pastes hostile HTML expects the policy to refuse things
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
        username, password = credentials(accounts, who)
        for _ in range(12):
            await page.goto("/dang-nhap?next=/quan-tri")
            await page.get_by_label("Tên đăng nhập").fill(username)
            await page.get_by_label("Mật khẩu").fill(password)
            await page.get_by_role("button", name="Đăng nhập").click()
            await page.wait_for_load_state()
            # Every browser here signs in from one address: when an earlier test's wrong
            # passwords made the service slow sign-ins from it (or the gateway limits
            # them), wait as a person would and sign in again.
            refused = await page.inner_text("body")
            if "thử lại sau" not in refused and GATEWAY_REFUSED not in refused:
                break
            await page.wait_for_timeout(10_000)
        await page.wait_for_url("**/quan-tri")
        return page

    yield open_desk
    for context in contexts:
        await context.close()
    assert not [p for p in problems if "Content Security Policy" in p or "Error" in p], problems


async def api(
    http: aiohttp.ClientSession, method: str, path: str, headers: dict[str, str], **kw: Any
) -> Any:
    async with http.request(method, path, headers=headers, **kw) as response:
        assert response.status < 300, f"{method} {path}: {response.status} {await response.text()}"
        return await response.json() if response.status != 204 else None


async def new_category(http: aiohttp.ClientSession, headers: dict[str, str]) -> dict[str, Any]:
    name = f"Hoạt động {uuid.uuid4().hex[:6]}"
    created: dict[str, Any] = await api(
        http, "POST", "/api/v1/categories", headers, json={"name": name}
    )
    return created


async def saved(page: Page, before: str = "", timeout: float = 15_000) -> None:
    """Waits until the status line says the page saved (again)."""
    status = page.locator("#save-status")
    await expect(status).to_contain_text(re.compile(r"Đã .* lúc \d\d:\d\d"), timeout=timeout)
    if before:
        await expect(status).not_to_have_text(before)


async def check_accessibility(page: Page, name: str) -> None:
    found = await serious_violations(page)
    assert found == [], f"{name}: {found}"


async def screenshots(page: Page, name: str) -> None:
    """The page at a tablet's and a desktop's width, into docs/images/; nothing on it is
    wider than the screen (but within a bar made to scroll sideways)."""
    for label, viewport in (("768", TABLET), ("1280", DESKTOP)):
        await page.set_viewport_size(viewport)
        await page.wait_for_timeout(300)
        await page.screenshot(path=str(SCREENSHOTS / f"desk-{name}-{label}.png"), full_page=True)
        # Beyond the screen and not within a bar that scrolls sideways by design (the
        # public pages' menu of categories, which a site with many scrolls).
        too_wide = await page.evaluate(
            """[...document.querySelectorAll("body *")]
                 .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                 .filter(e => {
                   for (let p = e.parentElement; p; p = p.parentElement) {
                     const o = getComputedStyle(p).overflowX;
                     if (o === "auto" || o === "scroll") return false;
                   }
                   return true;
                 })
                 .slice(0, 5).map(e => e.tagName + "." + e.className)"""
        )
        assert too_wide == [], (name, label, too_wide)
    await page.set_viewport_size(DESKTOP)


async def editor_area(page: Page) -> Any:
    area = page.locator(".jodit-wysiwyg")
    await expect(area).to_be_visible()
    return area


def vietnam_now() -> datetime:
    return datetime.now(UTC).astimezone(VIETNAM)


async def write_body(page: Page, image: str) -> None:
    """Writes the body as a person does: a heading from the paragraph menu, bold text with
    Ctrl+B, a bulleted list, a 2 x 2 table and an image uploaded from the computer."""
    area = await editor_area(page)
    await area.click()
    await page.keyboard.type("Kết quả thi đua")
    await page.get_by_role("button", name="Kiểu đoạn").first.click()
    await page.locator(".jodit-popup button", has_text="Tiêu đề lớn").click()
    await page.keyboard.press("End")
    await page.keyboard.press("Enter")
    await page.keyboard.type("Hội nghị đã ")
    await page.keyboard.press("Control+b")
    await page.keyboard.type("thống nhất")
    await page.keyboard.press("Control+b")
    await page.keyboard.type(" các chỉ tiêu.")
    await page.keyboard.press("Enter")
    await page.get_by_role("button", name="Danh sách dấu chấm").first.click()
    await page.keyboard.type("Chỉ tiêu một")
    await page.keyboard.press("Enter")
    await page.keyboard.type("Chỉ tiêu hai")
    await page.keyboard.press("Enter")
    await page.keyboard.press("Enter")  # out of the list
    await page.keyboard.type("Xem kế hoạch")
    await page.keyboard.press("Shift+Home")
    await page.get_by_role("button", name="Chèn liên kết").click()
    await check_accessibility(page, "link form")
    await page.get_by_label("Địa chỉ (URL)").fill("https://example.vn/ke-hoach")
    await page.get_by_role("button", name="Chèn", exact=True).click()
    await page.keyboard.press("End")
    await page.keyboard.press("Enter")
    async with page.expect_file_chooser() as chooser:
        await page.get_by_role("button", name="Chèn ảnh từ máy").click()
    await (await chooser.value).set_files(image)
    await expect(area.locator("img")).to_have_count(1, timeout=15_000)
    describe = page.get_by_role("dialog", name="Mô tả ảnh")
    await describe.get_by_label("Mô tả ảnh trong bài").fill("Biểu đồ kết quả thi đua")
    await check_accessibility(page, "image description")
    await describe.get_by_role("button", name="Lưu mô tả").click()
    await page.keyboard.press("End")
    await page.get_by_role("button", name="Chèn bảng").click()
    await page.get_by_role("gridcell", name="2 by 2").click()
    await page.keyboard.type("Đơn vị")
    # The image's own menu (its description, its removal) passes the check too.
    await area.locator("img").click()
    await expect(page.get_by_role("button", name="Sửa mô tả ảnh")).to_be_visible()
    await check_accessibility(page, "image menu")
    await page.get_by_label("Tóm tắt").focus()


async def test_an_article_from_writing_to_scheduled_publication(
    desk: Desk,
    http: aiohttp.ClientSession,
    accounts: Accounts,
    tmp_path: Any,
) -> None:
    editor_api = await accounts.headers("editor")
    category = await new_category(http, editor_api)
    photo = tmp_path / "anh-hoi-nghi.jpg"
    photo.write_bytes(encode(halves(1600, 900), "JPEG", quality=85))
    title = f"Hội nghị thi đua {uuid.uuid4().hex[:6]}"

    # The author writes and submits.
    author = await desk("author")
    await author.goto("/quan-tri/bai-viet/moi")
    await author.get_by_label("Tiêu đề", exact=True).fill(title)
    await author.get_by_label("Tóm tắt").fill("Hội nghị tổng kết phong trào thi đua.")
    await author.get_by_label("Chuyên mục").select_option(label=category["name"])
    await author.get_by_label("Thẻ (cách nhau bằng dấu phẩy)").fill("thi đua, hội nghị")
    await write_body(author, str(photo))
    await author.get_by_label("Tải ảnh lên").set_input_files(str(photo))
    await expect(author.locator("#lead-preview")).to_be_visible(timeout=15_000)
    await author.get_by_label("Chú thích ảnh").fill("Quang cảnh hội nghị")
    await author.get_by_label("Mô tả ảnh cho người không nhìn thấy").fill("Hội trường đông người")
    await check_accessibility(author, "new article")
    await author.get_by_role("button", name="Lưu nháp").click()
    await saved(author)
    await author.wait_for_url(re.compile(r"/quan-tri/bai-viet/\d+$"))
    article_id = int(author.url.rsplit("/", 1)[1])
    await expect(author.get_by_role("link", name="Xem trước")).to_have_attribute(
        "href", f"/quan-tri/bai-viet/{article_id}/xem-truoc"
    )
    # A document attached and listed.
    document = tmp_path / "ke-hoach-thi-dua.pdf"
    document.write_bytes(PDF_BYTES)
    await author.get_by_label("Tên văn bản").fill("Kế hoạch thi đua")
    await author.get_by_label("Tệp (PDF, DOCX, XLSX, ODT, ODS)").set_input_files(str(document))
    await author.get_by_role("button", name="Đính kèm").click()
    await expect(author.locator("#document-list")).to_contain_text("Kế hoạch thi đua")
    await screenshots(author, "editor")
    await author.get_by_role("button", name="Gửi duyệt").click()
    await expect(author.locator("#save-status")).to_contain_text("Đã gửi duyệt")

    stored = await api(http, "GET", f"/api/v1/articles/{article_id}", editor_api)
    body = stored["body_html"]
    assert stored["status"] == "pending"
    assert "<h2>Kết quả thi đua</h2>" in body
    assert re.search(r"<(strong|b)>thống nhất</(strong|b)>", body), body
    assert "<ul><li>Chỉ tiêu một</li><li>Chỉ tiêu hai</li></ul>" in body, body
    assert body.count("<td") == 4 and "Đơn vị" in body, body
    assert (
        '<a href="https://example.vn/ke-hoach" rel="noopener noreferrer">Xem kế hoạch</a>' in body
    )
    assert re.search(r'<img src="/anh/\d+/lead\.jpg" alt="Biểu đồ kết quả thi đua"', body), body
    assert stored["image_id"] and stored["image_caption"] == "Quang cảnh hội nghị"
    assert {t["name"] for t in stored["tags"]} == {"thi đua", "hội nghị"}
    attached = await api(http, "GET", f"/api/v1/articles/{article_id}/documents", editor_api)
    assert [d["title"] for d in attached["items"]] == ["Kế hoạch thi đua"]

    # The editor sends it back with a reason.
    editor = await desk("editor")
    await editor.goto(f"/quan-tri/bai-viet/{article_id}")
    await editor.get_by_label("Lý do trả lại").fill("Xin ghi rõ số đơn vị tham gia.")
    await editor.get_by_role("button", name="Trả lại cho tác giả").click()
    await expect(editor.locator("#save-status")).to_contain_text("Đã trả lại")

    # The author sees why, fixes it and submits again.
    await author.goto(f"/quan-tri/bai-viet/{article_id}")
    await expect(author.get_by_role("note")).to_contain_text("Xin ghi rõ số đơn vị tham gia.")
    area = await editor_area(author)
    await area.locator("p", has_text="các chỉ tiêu").click()
    await author.keyboard.press("End")
    await author.keyboard.type(" Có 12 đơn vị tham gia.")
    await author.get_by_role("button", name="Gửi duyệt").click()
    await expect(author.locator("#save-status")).to_contain_text("Đã gửi duyệt")
    stored = await api(http, "GET", f"/api/v1/articles/{article_id}", editor_api)
    assert stored["status"] == "pending" and "Có 12 đơn vị tham gia." in stored["body_html"]

    # The editor polishes the title, previews it (what was typed is saved first) and
    # schedules it a minute ahead, in Vietnam time.
    await editor.goto(f"/quan-tri/bai-viet/{article_id}")
    title = title + " năm 2026"
    await editor.get_by_label("Tiêu đề", exact=True).fill(title)
    await editor.get_by_role("link", name="Xem trước").click()
    await editor.wait_for_url(f"**/quan-tri/bai-viet/{article_id}/xem-truoc")
    await expect(editor.get_by_role("heading", level=1)).to_have_text(title)
    await expect(editor.locator(".preview-banner")).to_contain_text("Bản xem trước")
    await check_accessibility(editor, "preview")
    await screenshots(editor, "preview")
    await editor.goto(f"/quan-tri/bai-viet/{article_id}")
    when = vietnam_now() + timedelta(seconds=60)
    await editor.get_by_label("Hẹn giờ đăng (giờ Việt Nam)").fill(
        when.strftime("%Y-%m-%dT%H:%M:%S")
    )
    await editor.get_by_role("button", name="Hẹn giờ đăng", exact=True).click()
    await expect(editor.locator("#save-status")).to_contain_text("Đã hẹn giờ đăng")
    stored = await api(http, "GET", f"/api/v1/articles/{article_id}", editor_api)
    assert stored["status"] == "scheduled"
    assert abs(datetime.fromisoformat(stored["publish_at"]) - when) < timedelta(seconds=2)

    # Nobody touches it again: it is public at its time, with its image variants.
    public = f"/tin/{stored['slug']}-{article_id}"

    async def published() -> str | None:
        async with http.get(public, headers={"Cookie": "bantin_session=x"}) as response:
            return await response.text() if response.status == 200 else None

    page_html = await eventually(published, timeout=100, interval=2)
    assert datetime.now(UTC) >= when - timedelta(seconds=1)
    assert "<h2>Kết quả thi đua</h2>" in page_html and "Kế hoạch thi đua" in page_html
    lead = re.search(r'srcset="([^"]+)"', page_html)
    assert lead and "/lead." in lead[1] and "/list." in lead[1], page_html
    for url in re.findall(r"(/anh/\d+/(?:lead|list)\.(?:jpg|webp))", page_html):
        async with http.get(url) as response:
            assert response.status == 200 and response.content_type.startswith("image/"), url

    # The editor compares two revisions and restores the first.
    revisions = await api(http, "GET", f"/api/v1/articles/{article_id}/revisions", editor_api)
    numbers = sorted(r["number"] for r in revisions["items"])
    assert len(numbers) >= 2
    await editor.goto(f"/quan-tri/bai-viet/{article_id}/phien-ban")
    await editor.get_by_label("So sánh bản").select_option(str(numbers[0]))
    await editor.get_by_label("với bản").select_option(str(numbers[-1]))
    await editor.get_by_role("button", name="So sánh").click()
    await expect(editor.locator("ins", has_text="Có 12 đơn vị tham gia.")).to_be_visible()
    await check_accessibility(editor, "revisions")
    await screenshots(editor, "revisions")
    editor.once("dialog", lambda dialog: dialog.accept())
    await editor.get_by_role("button", name=f"Khôi phục bản {numbers[0]}").click()
    await expect(editor.locator("#save-status")).to_contain_text(f"Đã khôi phục bản {numbers[0]}")
    restored = await api(http, "GET", f"/api/v1/articles/{article_id}", editor_api)
    assert "Có 12 đơn vị tham gia." not in restored["body_html"]
    assert restored["version"] > stored["version"]


# What Word puts on the clipboard, with the styles, classes, conditional comments, o:p
# and list markers it adds, and two scripts a hostile page could add.
WORD_HTML = """<html xmlns:o="urn:schemas-microsoft-com:office:office"
xmlns:w="urn:schemas-microsoft-com:office:word"><head>
<meta name=ProgId content=Word.Document><meta name=Generator content="Microsoft Word 15">
<style>p.MsoNormal{margin:0cm;font-family:"Times New Roman"}</style></head>
<body lang=VI><!--StartFragment-->
<h1 style='mso-style-name:x;color:red'>Báo cáo tổng kết<o:p></o:p></h1>
<p class=MsoNormal style='margin:0cm;font-size:14pt'><b style='mso-bidi-font-weight:normal'>Kết
quả</b> đạt <i>vượt mức</i> kế hoạch.<o:p></o:p></p>
<ul style='margin-top:0cm'><li class=MsoNormal style='color:blue'>Chỉ tiêu một<o:p></o:p></li>
<li class=MsoNormal>Chỉ tiêu hai</li></ul>
<table class=MsoTableGrid border=1 style='border-collapse:collapse'><tr>
<td width=200 style='border:solid windowtext 1.0pt'><p class=MsoNormal>Đơn vị</p></td>
<td><p class=MsoNormal>Số lượng</p></td></tr></table>
<p class=MsoNormal>Xem <a href="https://example.vn/bao-cao" style='color:blue'
class=MsoHyperlink>báo cáo</a>.<![if !supportLists]><span>x</span><![endif]></p>
<script>window.__pasted = "script";</script>
<img src="/khong-co-anh" onerror="window.__pasted = 'onerror'">
<!--EndFragment--></body></html>"""


async def paste_html(page: Page, html: str) -> None:
    """A paste of `html` into the editor, as the browser fires it."""
    await page.locator(".jodit-wysiwyg").click()
    await page.evaluate(
        """html => {
            const data = new DataTransfer();
            data.setData("text/html", html);
            data.setData("text/plain", "Báo cáo tổng kết");
            const event = new ClipboardEvent("paste", {
                clipboardData: data, bubbles: true, cancelable: true,
            });
            document.querySelector(".jodit-wysiwyg").dispatchEvent(event);
        }""",
        html,
    )


async def test_pasted_word_html_is_saved_as_clean_structure_and_runs_nothing(
    desk: Desk, http: aiohttp.ClientSession, accounts: Accounts
) -> None:
    editor_api = await accounts.headers("editor")
    category = await new_category(http, editor_api)
    page = await desk("editor", watch=False)
    await page.goto("/quan-tri/bai-viet/moi")
    await page.get_by_label("Tiêu đề", exact=True).fill("Dán từ Word")
    await page.get_by_label("Chuyên mục").select_option(label=category["name"])
    await paste_html(page, WORD_HTML)
    await expect(page.locator(".jodit-wysiwyg table")).to_have_count(1)
    await page.get_by_role("button", name="Lưu nháp").click()
    await saved(page)
    article_id = int(page.url.rsplit("/", 1)[1])
    body = (await api(http, "GET", f"/api/v1/articles/{article_id}", editor_api))["body_html"]
    assert "<h2>Báo cáo tổng kết</h2>" in body, body
    assert re.search(r"<(b|strong)>Kết\s+quả</(b|strong)>", body), body
    assert re.search(r"<(i|em)>vượt mức</(i|em)>", body), body
    assert re.search(r"<ul>\s*<li>Chỉ tiêu một</li>\s*<li>Chỉ tiêu hai</li>\s*</ul>", body), body
    assert "<table>" in body and "Đơn vị" in body and "Số lượng" in body, body
    assert '<a href="https://example.vn/bao-cao" rel="noopener noreferrer">báo cáo</a>' in body
    for left_out in ("style=", "class=", "<script", "__pasted", "onerror", "<!--", "o:p", "Mso",
                     "<img", "<h1", "supportLists"):  # fmt: skip
        assert left_out not in body, (left_out, body)
    assert await page.evaluate("window.__pasted === undefined")


async def test_a_save_over_a_newer_version_shows_both_and_lets_the_person_choose(
    desk: Desk, http: aiohttp.ClientSession, accounts: Accounts
) -> None:
    editor_api = await accounts.headers("editor")
    category = await new_category(http, editor_api)
    draft = await api(
        http,
        "POST",
        "/api/v1/articles",
        editor_api,
        json={"title": "Bản gốc", "summary": "", "body_html": "<p>Gốc.</p>",
              "category_id": category["id"]},
    )  # fmt: skip
    page = await desk("editor")
    await page.goto(f"/quan-tri/bai-viet/{draft['id']}")
    await editor_area(page)

    async def someone_else_saves(text: str) -> dict[str, Any]:
        current = await api(http, "GET", f"/api/v1/articles/{draft['id']}", editor_api)
        changed: dict[str, Any] = await api(
            http, "PATCH", f"/api/v1/articles/{draft['id']}", editor_api,
            json={"body_html": f"<p>{text}</p>", "version": current["version"]},
        )  # fmt: skip
        return changed

    # Keep mine: saved over the newer version.
    theirs = await someone_else_saves("Bản của đồng nghiệp.")
    await page.get_by_label("Tiêu đề", exact=True).fill("Bản của tôi")
    await page.get_by_role("button", name="Lưu nháp").click()
    dialog = page.get_by_role("dialog", name="Đã có người lưu một phiên bản mới hơn")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("#conflict-mine")).to_contain_text("Bản của tôi")
    await expect(dialog.locator("#conflict-theirs")).to_contain_text("Bản của đồng nghiệp.")
    await check_accessibility(page, "conflict dialog")
    await dialog.get_by_role("button", name="Giữ bản của tôi").click()
    await saved(page)
    stored = await api(http, "GET", f"/api/v1/articles/{draft['id']}", editor_api)
    assert stored["title"] == "Bản của tôi" and stored["version"] > theirs["version"]

    # Take theirs: the page shows the saved text, and nothing of mine is written.
    theirs = await someone_else_saves("Bản thứ hai của đồng nghiệp.")
    await page.get_by_label("Tóm tắt").fill("Tóm tắt của tôi")
    await page.get_by_role("button", name="Lưu nháp").click()
    await dialog.get_by_role("button", name="Lấy bản đã lưu").click()
    await expect(page.locator(".jodit-wysiwyg")).to_contain_text("Bản thứ hai của đồng nghiệp.")
    await expect(page.get_by_label("Tóm tắt")).to_have_value("")
    stored = await api(http, "GET", f"/api/v1/articles/{draft['id']}", editor_api)
    assert stored["version"] == theirs["version"] and stored["summary"] == ""


async def test_a_draft_saves_itself_when_hidden_when_left_and_after_a_pause(
    desk: Desk, http: aiohttp.ClientSession, accounts: Accounts
) -> None:
    editor_api = await accounts.headers("editor")
    category = await new_category(http, editor_api)
    page = await desk("editor")
    await page.goto("/quan-tri/bai-viet/moi")
    await page.get_by_label("Tiêu đề", exact=True).fill("Tự lưu")
    await page.get_by_label("Chuyên mục").select_option(label=category["name"])
    area = await editor_area(page)
    await area.click()
    await page.keyboard.type("Viết rồi chuyển sang thẻ khác.")
    # The tab is hidden: saved at once.
    await hide_tab(page)
    await saved(page)
    article_id = int(page.url.rsplit("/", 1)[1])
    # A pause: saved by itself after AUTOSAVE_SECONDS, nobody pressing anything.
    await page.keyboard.type(" Thêm một câu.")
    await expect(page.locator("#save-status")).to_have_text("Có thay đổi chưa lưu.")
    await saved(page, before="Có thay đổi chưa lưu.", timeout=(AUTOSAVE_SECONDS + 10) * 1000)
    stored = await api(http, "GET", f"/api/v1/articles/{article_id}", editor_api)
    assert "Thêm một câu." in stored["body_html"]
    # Leaving the page: the last words go with keepalive.
    await page.keyboard.type(" Câu cuối trước khi rời trang.")
    await page.goto("/quan-tri")

    async def last_words_saved() -> bool | None:
        stored = await api(http, "GET", f"/api/v1/articles/{article_id}", editor_api)
        return True if "Câu cuối trước khi rời trang." in stored["body_html"] else None

    assert await eventually(last_words_saved, timeout=10)


async def hide_tab(page: Page) -> None:
    """The browser fires visibilitychange with the tab hidden, as when a person switches
    to another tab, then shows the tab again."""
    await page.evaluate(
        """() => {
            const state = value => Object.defineProperty(
                document, "visibilityState", {value, configurable: true});
            state("hidden");
            document.dispatchEvent(new Event("visibilitychange"));
            state("visible");
        }"""
    )


async def test_a_text_that_cannot_be_saved_yet_is_kept_in_the_browser(desk: Desk) -> None:
    page = await desk("author")
    await page.goto("/quan-tri/bai-viet/moi")
    await page.get_by_label("Tiêu đề", exact=True).fill("Chưa chọn chuyên mục")
    area = await editor_area(page)
    await area.click()
    await page.keyboard.type("Đoạn viết trước khi chọn chuyên mục.")
    await hide_tab(page)
    await expect(page.locator("#save-status")).to_have_text("Chưa lưu: hãy chọn chuyên mục.")
    await page.reload()
    offer = page.get_by_role("region", name="Có một bản chưa lưu trong trình duyệt này")
    await expect(offer).to_be_visible()
    await check_accessibility(page, "unsaved copy")
    await offer.get_by_role("button", name="Dùng bản này").click()
    await expect(await editor_area(page)).to_contain_text("Đoạn viết trước khi chọn chuyên mục.")
    await expect(page.get_by_label("Tiêu đề", exact=True)).to_have_value("Chưa chọn chuyên mục")
    # Dropped: not offered again.
    await hide_tab(page)
    await page.reload()
    await offer.get_by_role("button", name="Bỏ bản này").click()
    await page.reload()
    await editor_area(page)
    await expect(offer).to_be_hidden()


async def test_an_ended_session_asks_for_the_password_and_saves_what_was_typed(
    desk: Desk,
    http: aiohttp.ClientSession,
    accounts: Accounts,
    stack_url: str,  # noqa: F811
) -> None:
    editor_api = await accounts.headers("editor")
    category = await new_category(http, editor_api)
    page = await desk("editor", watch=False)  # the refused save is logged as a 401
    await page.goto("/quan-tri/bai-viet/moi")
    await page.get_by_label("Tiêu đề", exact=True).fill("Sau khi phiên hết hạn")
    await page.get_by_label("Chuyên mục").select_option(label=category["name"])
    area = await editor_area(page)
    await area.click()
    await page.keyboard.type("Viết cả giờ liền.")
    cookies = await page.context.cookies()
    await page.context.clear_cookies()  # the session ended while the person wrote
    username, password = credentials(accounts, "editor")

    async def sign_in_again(route: Any) -> None:
        # The sign-in the dialog posts: the page's cookies come back as a sign-in sets them.
        sent = route.request.post_data_json
        assert sent == {"username": username, "password": password}
        await page.context.add_cookies(cookies)
        await route.fulfill(status=200, json={"expires_in": 600})

    await page.route("**/api/v1/auth/session", sign_in_again)
    await page.get_by_role("button", name="Lưu nháp").click()
    dialog = page.get_by_role("dialog", name="Phiên đăng nhập đã hết")
    await expect(dialog).to_be_visible()
    await check_accessibility(page, "session dialog")
    await dialog.get_by_label("Tên đăng nhập").fill(username)
    await dialog.get_by_label("Mật khẩu").fill(password)
    await dialog.get_by_role("button", name="Đăng nhập và lưu").click()
    await saved(page)
    article_id = int(page.url.rsplit("/", 1)[1])
    stored = await api(http, "GET", f"/api/v1/articles/{article_id}", editor_api)
    assert "Viết cả giờ liền." in stored["body_html"]


async def test_static_pages_are_written_and_published_at_the_desk(
    desk: Desk, http: aiohttp.ClientSession
) -> None:
    page = await desk("editor")
    await page.goto("/quan-tri/trang")
    await check_accessibility(page, "static pages")
    slug = f"lien-he-{uuid.uuid4().hex[:6]}"
    await page.get_by_label("Tiêu đề").fill("Liên hệ")
    await page.get_by_label("Đường dẫn (không bắt buộc)").fill(slug)
    await page.get_by_role("button", name="Tạo trang").click()
    await page.wait_for_url(f"**/quan-tri/trang/{slug}")
    area = await editor_area(page)
    await area.click()
    await page.keyboard.type("Điện thoại: 0123 456 789.")
    await check_accessibility(page, "static page editor")
    # With the keyboard: from the title, Tab reaches the toolbar and then the text.
    await page.get_by_label("Tiêu đề").focus()
    reached = []
    for _ in range(30):
        await page.keyboard.press("Tab")
        reached.append(await page.evaluate(
            "document.activeElement.getAttribute('aria-label') ||"
            " document.activeElement.className"
        ))  # fmt: skip
    assert "Kiểu đoạn" in reached and any("jodit-wysiwyg" in str(r) for r in reached), reached
    await page.get_by_role("button", name="Đăng trang").click()
    await expect(page.locator("#save-status")).to_contain_text("Đã đăng")

    async def public() -> str | None:
        async with http.get(f"/trang/{slug}", headers={"Cookie": "bantin_session=x"}) as r:
            return await r.text() if r.status == 200 else None

    assert "Điện thoại: 0123 456 789." in await eventually(public, timeout=10)
    await page.get_by_role("button", name="Gỡ xuống (về bản nháp)").click()
    await expect(page.locator("#save-status")).to_contain_text("Đã gỡ xuống")


async def test_the_vendored_editor_travels_compressed_and_cached(
    http: aiohttp.ClientSession,
) -> None:
    headers = {"Accept-Encoding": "gzip"}
    async with http.get(f"{EDITOR_ASSETS}/jodit.min.js", headers=headers) as response:
        assert response.status == 200
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.content_type == "text/javascript"
        assert "Jodit" in (await response.text())[:2000]
