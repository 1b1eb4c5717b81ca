"""An article brought over from an earlier site, end to end: the import command run where
the articles service runs, against the project's own fixture (tests/fixtures/import: a
Vietnamese article written for the tests, dated 27/04/2017 with 680 views), then its page
read through the real gateway: every element of the reference page in order, its date and
680 views, then 681 after one more reader."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from scripts.run_local import LocalStack
from tests.e2e.conftest import BROWSER_AGENT, eventually, text_of
from tests.e2e.test_flows import counter_knows, views_shown

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import"
ROOT = Path(__file__).resolve().parents[2]
TITLE = "Hội Nông dân phường An Hòa tổng kết mô hình tổ hợp tác trồng rau sạch"


def run_import(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    """The command as an operator runs it where the articles service runs: its settings."""
    env = {**os.environ, **stack.spec("articles").env}
    return subprocess.run(
        [sys.executable, "-m", "services.articles.import_articles", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def in_order(text: str, wanted: list[str]) -> None:
    position = 0
    for item in wanted:
        found = text.find(item, position)
        assert found >= 0, f"{item!r} missing, or not after what comes before it"
        position = found + len(item)


async def fresh_page(http: aiohttp.ClientSession, path: str) -> str:
    """The page rendered now (a session cookie goes around the gateway's micro-cache)."""
    headers = {"Accept": "text/html", "Cookie": "bantin_session=x"}
    async with http.get(path, headers=headers) as response:
        assert response.status == 200, f"{path}: {response.status}"
        return await response.text()


async def imported_article(
    http: aiohttp.ClientSession, headers: dict[str, str]
) -> dict[str, Any] | None:
    # By its title (a staff search): with its original (old) date it is far down the
    # public newest-first list.
    params = {"q": TITLE, "limit": "100"}
    async with http.get("/api/v1/articles", params=params, headers=headers) as response:
        listed = (await response.json())["items"]
    return next((a for a in listed if a["title"] == TITLE), None)


async def test_an_imported_article_reads_like_the_reference_page(
    stack: LocalStack, http: aiohttp.ClientSession, admin_headers: dict[str, str]
) -> None:
    done = run_import(stack, str(FIXTURES / "rau-sach.jsonl"))
    assert done.returncode == 0, done.stderr
    assert "Đã nhập: 1" in done.stdout and "Ảnh đã lưu: 1" in done.stdout, done.stdout
    article = await eventually(lambda: imported_article(http, admin_headers))
    path = article["url"]

    async def page_with(count: int) -> str | None:
        html = await fresh_page(http, path)
        return html if views_shown(text_of(html)) == count else None

    html = await eventually(lambda: page_with(680), timeout=40)
    content = html[html.index('<article class="article">') :]
    in_order(
        text_of(content),
        [
            "Tình hình hoạt động",
            TITLE,
            "Cập nhật vào ngày (27/04/2017)",
            "Số lần xem: 680",
            "Hội viên tổ hợp tác chăm sóc luống rau tại phường An Hòa.",  # the caption
            "Sáng ngày 25-4-2017, Hội Nông dân phường An Hòa",
            "Hội nghị thống nhất các nhiệm vụ trọng tâm năm 2017:",
            "Mở rộng diện tích canh tác",
            "Phối hợp với Hội Liên hiệp Phụ nữ phường",
            "Tổ chức hai lớp tập huấn kỹ thuật",
            "đề nghị phường nhân rộng mô hình",
            "Minh Khoa (VP HND)",
            "Gửi phản hồi cho bản tin",
            "In bài viết",
            "Các ý kiến của bạn đọc",
            "Giới thiệu",
            "Góp ý",
            "Sơ đồ",
            "Đăng Nhập",
        ],
    )
    # The lead image before its caption, the list numbered, the image served by us.
    in_order(content, ['<img src="/anh/', "<figcaption>", "<ol>", "<li>", "<li>", "<li>", "</ol>"])
    image = content.split('<img src="', 1)[1].split('"', 1)[0]
    async with http.get(image) as response:
        assert response.status == 200 and response.content_type == "image/jpeg"
        served = Image.open(io.BytesIO(await response.read()))
    # Stored through the image pipeline: decoded, cleaned and re-encoded, never enlarged.
    with Image.open(FIXTURES / "rau-sach-an-hoa.jpg") as fixture:
        assert served.format == "JPEG"
        assert served.width <= fixture.width
        assert served.width / served.height == pytest.approx(fixture.width / fixture.height, 0.01)

    # One more reader, with an ordinary browser: 681.
    await eventually(lambda: counter_knows(http, article["id"]))
    async with http.post(
        "/api/v1/views",
        json={"article_id": article["id"]},
        headers={"User-Agent": f"{BROWSER_AGENT} Visitor/import"},
    ) as response:
        assert response.status == 204, await response.text()
    await eventually(lambda: page_with(681), timeout=40)

    # Imported again: skipped, and the grown total stays.
    again = run_import(stack, str(FIXTURES / "rau-sach.jsonl"))
    assert again.returncode == 0 and "Bỏ qua (đã nhập trước đó): 1" in again.stdout
    assert views_shown(text_of(await fresh_page(http, path))) == 681
