"""A reader's feedback as a tracked case, end to end through the gateway in a real Chromium:
the reader sends it from an article and keeps the receipt code, looks it up, a moderator
approves and answers it at the desk, the reader sees the answer signed by the organisation,
the article page shows both, the moderator withdraws it and it is gone. Screenshots of the
form, the confirmation, the lookup and the desk are saved in the test's temporary directory."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from playwright.async_api import Browser, Page

from tests.e2e.conftest import BROWSER_AGENT, Accounts, eventually, send_form
from tests.e2e.test_browser import browser, stack_url  # noqa: F401 (fixtures)
from tests.e2e.test_desk import DESK, DESKTOP, desk  # noqa: F401 (fixtures)
from tests.e2e.test_flows import page_text, publish
from tests.support.tools import needs

LOOKUP = "/tra-cuu-phan-hoi"
ORGANISATION = "Ban biên tập"  # FEEDBACK_ORGANISATION_NAME's default
RECEIPT = re.compile(r"^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{2}$")

pytestmark = needs("chromium")


@pytest.fixture
async def reader(
    browser: Browser,  # noqa: F811
    stack_url: str,  # noqa: F811
) -> AsyncIterator[Page]:
    """A reader's browser (an ordinary user agent: HeadlessChrome's own is a bot)."""
    context = await browser.new_context(
        base_url=stack_url, viewport=DESKTOP, user_agent=BROWSER_AGENT, locale="vi-VN"
    )
    yield await context.new_page()
    await context.close()


async def lookup_status(page: Page, code: str) -> str:
    """The reader's lookup of the code, in the browser: the status's machine name."""
    await page.goto(f"{LOOKUP}?ma={code}")
    return str(await page.locator(".case-status").get_attribute("data-status"))


async def comment_shown(http: aiohttp.ClientSession, url: str, text: str) -> bool:
    """Whether the article page (a fresh render, around the micro-cache) shows `text`."""
    return text in await page_text(http, url, fresh=True)


async def comment_gone(http: aiohttp.ClientSession, url: str, text: str) -> bool:
    return not await comment_shown(http, url, text)


async def test_a_readers_case_from_the_form_to_withdrawal(
    reader: Page,
    desk: Page,  # noqa: F811
    http: aiohttp.ClientSession,
    editor_headers: dict[str, str],
    tmp_path: Path,
) -> None:
    article = await publish(http, editor_headers, f"Hội thảo chuyển đổi số {uuid.uuid4().hex[:6]}")
    comment = f"Đề nghị đăng thêm tài liệu của hội thảo, mã {uuid.uuid4().hex[:6]}."
    answer = "Tài liệu sẽ được đăng trong tuần tới. Trân trọng cảm ơn bạn đọc."

    # The reader: the form from the article page (once feedback knows the article).
    async def form_open() -> bool:
        await reader.goto(article["url"])
        await reader.get_by_role("link", name="Gửi phản hồi cho bản tin").click()
        await reader.wait_for_load_state()
        return await reader.get_by_label("Họ và tên").count() == 1

    await eventually(form_open)

    async def fill() -> None:
        await reader.get_by_label("Họ và tên").fill("Võ Thị Mai")
        await reader.get_by_label("Email").fill("mai.vo@example.vn")
        await reader.get_by_label("Nội dung").fill(comment)
        await reader.screenshot(path=tmp_path / "case-form.png", full_page=True)

    await send_form(reader, fill)

    # The confirmation: awaiting moderation, and a receipt code to keep.
    assert "Mã tra cứu ý kiến của bạn" in await reader.inner_text("body")
    code = (await reader.locator("#ma-tra-cuu").inner_text()).strip()
    assert RECEIPT.match(code), code
    await reader.screenshot(path=tmp_path / "case-confirmation.png", full_page=True)

    # The lookup, linked from the confirmation: received; no e-mail shown.
    await reader.get_by_role("link", name="xem ý kiến đã được duyệt và trả lời chưa").click()
    await reader.wait_for_url(f"**{LOOKUP}?ma=*")
    status = reader.locator(".case-status")
    assert await status.get_attribute("data-status") == "received"
    assert "mai.vo@example.vn" not in await reader.content()
    await reader.screenshot(path=tmp_path / "case-lookup-received.png", full_page=True)

    # The moderator: finds the case in the queue by its text, approves it, answers it.
    await desk.goto(f"{DESK}?q={comment[-12:]}")
    case = desk.locator(".desk-case", has_text=comment)
    assert await case.count() == 1
    await desk.screenshot(path=tmp_path / "case-desk-queue.png", full_page=True)
    await case.locator(".desk-open").click()
    await desk.wait_for_url(re.compile(rf".*{DESK}/\d+$"))
    case_path = urlsplit(desk.url).path
    await desk.get_by_role("button", name="Duyệt và đăng").click()
    await desk.wait_for_url(f"**{case_path}?da=duyet")
    await desk.get_by_label("Nội dung trả lời").fill(answer)
    await desk.get_by_role("button", name="Gửi trả lời").click()
    await desk.wait_for_url(f"**{case_path}?da=tra-loi")
    await desk.screenshot(path=tmp_path / "case-desk-answered.png", full_page=True)

    # The reader's lookup: answered, signed by the organisation (not the moderator).
    assert await lookup_status(reader, code) == "answered"
    reply = await reader.inner_text(".reply")
    assert f"Trả lời của {ORGANISATION}" in reply and answer in reply
    assert Accounts.PEOPLE["moderator"]["username"] not in reply
    await reader.screenshot(path=tmp_path / "case-lookup-answered.png", full_page=True)

    # The article page: the comment and the answer, once the read model has the events.
    await eventually(lambda: comment_shown(http, article["url"], answer))
    shown = await page_text(http, article["url"], fresh=True)
    assert "Võ Thị Mai" in shown and comment in shown
    assert f"Trả lời của {ORGANISATION}" in shown

    # The moderator withdraws it: gone from the article page; the lookup says withdrawn.
    await desk.goto(case_path)
    await desk.get_by_role("button", name="Rút lại ý kiến").click()
    await desk.wait_for_url(f"**{case_path}?da=rut-lai")
    await eventually(lambda: comment_gone(http, article["url"], comment))
    assert await lookup_status(reader, code) == "withdrawn"
    assert answer not in await reader.inner_text("body")
    await reader.screenshot(path=tmp_path / "case-lookup-withdrawn.png", full_page=True)
    print(f"screenshots in {tmp_path}")


# Typed by a hostile reader into the form: the tags are dropped on the way in, the
# entities become "<...>" characters kept as text; on every page they must stay text.
HOSTILE = (
    "&lt;img src=x onerror=alert('img')&gt; &lt;script&gt;alert('script')&lt;/script&gt;"
    " <a href=\"javascript:alert('link')\">bấm vào đây</a> <script>alert('raw')</script>"
    " '); DROP TABLE feedback; -- Nguye\u0302\u0303n"
)
WATCH = """
    window.__ran = [];
    for (const name of ['alert', 'confirm', 'prompt']) {
        window[name] = (m) => { window.__ran.push(name + ':' + m); };
    }
"""


async def ran(page: Page) -> list[str]:
    """What input script ran on the page (alert and friends record themselves)."""
    return list(await page.evaluate("window.__ran"))


async def test_hostile_feedback_never_runs_in_the_browser(
    reader: Page,
    desk: Page,  # noqa: F811
    http: aiohttp.ClientSession,
    editor_headers: dict[str, str],
    tmp_path: Path,
) -> None:
    article = await publish(http, editor_headers, f"Hội nghị an toàn {uuid.uuid4().hex[:6]}")
    marker = uuid.uuid4().hex[:8]
    dialogs: list[str] = []
    for page in (reader, desk):
        await page.context.add_init_script(WATCH)
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))

    async def form_open() -> bool:
        await reader.goto(f"/tin/{article['id']}/phan-hoi")
        return await reader.get_by_label("Họ và tên").count() == 1

    await eventually(form_open)

    async def fill() -> None:
        await reader.get_by_label("Họ và tên").fill("Lan &lt;b onmouseover=alert('name')&gt;")
        await reader.get_by_label("Nội dung").fill(f"{HOSTILE} {marker}")

    await send_form(reader, fill)
    await reader.wait_for_load_state()
    code = (await reader.locator("#ma-tra-cuu").inner_text()).strip()

    await desk.goto(f"{DESK}?q={marker}")
    await desk.locator(".desk-case", has_text=marker).locator(".desk-open").click()
    await desk.wait_for_url(re.compile(rf".*{DESK}/\d+$"))
    case_path = urlsplit(desk.url).path
    await desk.get_by_role("button", name="Duyệt và đăng").click()
    await desk.wait_for_url(f"**{case_path}?da=duyet")
    await desk.get_by_label("Nội dung trả lời").fill(
        "Đã nhận &lt;script&gt;alert('reply')&lt;/script&gt;"
    )
    await desk.get_by_role("button", name="Gửi trả lời").click()
    await desk.wait_for_url(f"**{case_path}?da=tra-loi")
    assert "<script>alert('script')</script>" in await desk.inner_text("body")  # as text
    await desk.screenshot(path=tmp_path / "hostile-desk-case.png", full_page=True)
    await desk.goto(f"{DESK}?trang-thai=tat-ca&q={marker}")

    await eventually(lambda: comment_shown(http, article["url"], marker))
    await reader.goto(f"{article['url']}?t={marker}")  # past the micro-cache's copy
    shown = await reader.inner_text("body")
    assert (
        "<img src=x onerror=alert('img')>" in shown and "<script>alert('script')</script>" in shown
    )
    await reader.screenshot(path=tmp_path / "hostile-article.png", full_page=True)
    article_ran = await ran(reader)
    await reader.goto(f"{LOOKUP}?ma={code}")
    assert "<script>alert('reply')</script>" in await reader.inner_text(".reply")
    await reader.screenshot(path=tmp_path / "hostile-lookup.png", full_page=True)

    assert (article_ran, await ran(reader), await ran(desk), dialogs) == ([], [], [], [])
    # Nothing from the input became an element: no image "x", no inline script, no link.
    for page in (reader, desk):
        assert (
            await page.locator('img[src="x"], a[href^="javascript:"], [onmouseover]').count() == 0
        )
    print(f"screenshots in {tmp_path}")
