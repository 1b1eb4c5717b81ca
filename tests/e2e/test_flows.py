"""DESIGN's three flows end to end, through the real nginx gateway, on real processes."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from scripts.run_local import LocalStack
from tests.e2e.conftest import BROWSER_AGENT, eventually, text_of
from tests.support import keys


async def publish(http: aiohttp.ClientSession, headers: dict[str, str], title: str) -> dict:
    async with http.post(
        "/api/v1/categories", json={"name": f"Tình hình hoạt động {uuid.uuid4().hex[:6]}"},
        headers=headers,
    ) as response:  # fmt: skip
        assert response.status == 201, await response.text()
        category = await response.json()
    article = {
        "title": title,
        "summary": "Tóm tắt bản tin.",
        "body_html": "<p>Ngày 11-4-2017, đại diện lãnh đạo các đơn vị thuộc Khối thi đua.</p>",
        "byline": "Hồng Tươi (VP HND)",
        "category_id": category["id"],
    }
    async with http.post("/api/v1/articles", json=article, headers=headers) as response:
        assert response.status == 201, await response.text()
        created = await response.json()
    async with http.post(f"/api/v1/articles/{created['id']}/publish", headers=headers) as response:
        assert response.status == 200, await response.text()
        published: dict[str, Any] = await response.json()
    published["category_name"] = category["name"]
    return published


async def page_text(http: aiohttp.ClientSession, path: str, fresh: bool = False) -> str:
    """The page's text; `fresh` goes around the gateway's micro-cache (as a request with a
    session cookie does), so the answer is a new render by the articles service."""
    headers = {"Accept": "text/html", **({"Cookie": "bantin_session=x"} if fresh else {})}
    async with http.get(path, headers=headers) as response:
        assert response.status == 200, f"{path}: {response.status}"
        if fresh:
            assert response.headers.get("X-Cache", "BYPASS") == "BYPASS"
        return text_of(await response.text())


def views_shown(text: str) -> int | None:
    match = re.search(r"Số lần xem:\s*([\d.]+)", text)
    return int(match[1].replace(".", "")) if match else None


async def counter_knows(http: aiohttp.ClientSession, article_id: int) -> bool:
    """The counter learns of a published article from its event, within a moment."""
    async with http.get(f"/api/v1/views/{article_id}") as response:
        return response.status == 200


@pytest.fixture
async def article(http: aiohttp.ClientSession, editor_headers: dict[str, str]) -> dict:
    return await publish(http, editor_headers, f"Ký kết giao ước thi đua {uuid.uuid4().hex[:6]}")


async def test_an_editor_publishes_and_readers_see_the_page(
    http: aiohttp.ClientSession, article: dict
) -> None:
    text = await page_text(http, article["url"])
    today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%d/%m/%Y")
    assert article["title"] in text
    assert article["category_name"] in text
    assert f"Cập nhật vào ngày ({today})" in text
    assert "đại diện lãnh đạo các đơn vị thuộc Khối thi đua" in text
    assert views_shown(text) == 0
    assert "Hồng Tươi (VP HND)" in text
    # /tin/{id} leads to the canonical address.
    async with http.get(f"/tin/{article['id']}", allow_redirects=False) as response:
        assert response.status == 301
        assert response.headers["Location"].endswith(article["url"])


async def test_each_reader_counts_once_and_the_page_shows_it(
    http: aiohttp.ClientSession, article: dict
) -> None:
    readers = [f"{BROWSER_AGENT} Visitor/{n}" for n in range(3)]
    await eventually(lambda: counter_knows(http, article["id"]))
    for agent in readers:
        async with http.post(
            "/api/v1/views", json={"article_id": article["id"]}, headers={"User-Agent": agent}
        ) as response:
            assert response.status == 204, await response.text()
            assert response.headers["Cache-Control"] == "no-store"
    async with http.get(
        f"/v.gif?a={article['id']}", headers={"User-Agent": f"{BROWSER_AGENT} noscript/1"}
    ) as response:
        assert response.status == 200
        assert response.content_type == "image/gif"
    # The same readers again, and one who pretends to be somewhere else: nothing more.
    for agent in readers:
        async with http.post(
            "/api/v1/views",
            json={"article_id": article["id"]},
            headers={"User-Agent": agent, "X-Forwarded-For": "203.0.113.77"},
        ) as response:
            assert response.status == 204

    def shown(expected: int) -> Callable[[], Awaitable[int | None]]:
        async def check() -> int | None:
            count = views_shown(await page_text(http, article["url"]))
            assert count is not None and count <= expected, f"counted {count}, not {expected}"
            return count if count == expected else None

        return check

    assert await eventually(shown(4), timeout=40) == 4
    # One more reader after them: views are counted in order, so a late double count of
    # the earlier ones would be counted before this one and the page would pass 5.
    async with http.post(
        "/api/v1/views",
        json={"article_id": article["id"]},
        headers={"User-Agent": f"{BROWSER_AGENT} Visitor/5"},
    ) as response:
        assert response.status == 204
    assert await eventually(shown(5), timeout=40) == 5


async def test_bad_beacons_are_refused_and_count_nothing(
    http: aiohttp.ClientSession, article: dict
) -> None:
    """Bad beacons from a real browser, aimed at the article where they can be, are refused;
    a valid view sent after them is then the only one counted (batches are counted in
    order, so any bad one taken would have been counted by then)."""
    await eventually(lambda: counter_knows(http, article["id"]))
    before = await views_total(http, article["id"])
    bad_reader = {"User-Agent": f"{BROWSER_AGENT} Visitor/bad"}
    async with http.post(
        "/api/v1/views", json={"article_id": 987654}, headers=bad_reader
    ) as response:
        assert response.status == 404
        assert (await response.json())["code"] == "article_not_found"
    async with http.post(
        "/api/v1/views",
        data=b'{"article_id": %d' % article["id"],
        headers={**bad_reader, "Content-Type": "application/json"},
    ) as response:
        assert response.status == 400
        assert (await response.json())["code"] == "invalid_json"
    oversized = b'{"article_id": %d, "x": "%s"}' % (article["id"], b"x" * 4096)
    async with http.post("/api/v1/views", data=oversized, headers=bad_reader) as response:
        assert response.status == 413
    async with http.post(
        "/api/v1/views",
        json={"article_id": article["id"]},
        headers={"User-Agent": f"{BROWSER_AGENT} Visitor/marker"},
    ) as response:
        assert response.status == 204

    async def marker_counted() -> int | None:
        total = await views_total(http, article["id"])
        return total if total > before else None

    assert await eventually(marker_counted, timeout=40) == before + 1


async def views_total(http: aiohttp.ClientSession, article_id: int) -> int:
    async with http.get(f"/api/v1/views/{article_id}") as response:
        assert response.status == 200
        return int((await response.json())["total"])


def hidden_fields(form_html: str) -> dict[str, str]:
    return dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form_html))


async def test_approved_feedback_appears_under_the_article(
    http: aiohttp.ClientSession, article: dict, moderator_headers: dict[str, str]
) -> None:
    form_url = f"/tin/{article['id']}/phan-hoi"

    async def form_ready() -> str | None:
        async with http.get(form_url) as response:
            return await response.text() if response.status == 200 else None

    form = await eventually(form_ready)
    assert "Gửi phản hồi cho bản tin" in form and article["title"] in form
    await asyncio.sleep(3.2)  # the form refuses answers faster than a person types
    fields = {
        **hidden_fields(form),
        "author_name": "Nguyễn Văn Bình",
        "email": "binh@example.vn",
        "body": "Chúc các đơn vị trong Khối hoàn thành tốt giao ước thi đua.",
    }

    async def sent() -> str | None:
        # The same form (and idempotency token) again while the gateway's limit on one
        # address's posts refuses it: every test here posts from that one address.
        async with http.post(form_url, data=fields) as response:
            if response.status == 429 and "nginx" in await response.text():
                return None
            assert response.status == 200, await response.text()
            return await response.text()

    assert "Cảm ơn" in await eventually(sent, timeout=60, interval=2)

    async with http.get(
        "/api/v1/feedback?status=pending&limit=100", headers=moderator_headers
    ) as response:
        pending = [i for i in (await response.json())["items"] if i["article_id"] == article["id"]]
    [item] = pending
    async with http.post(
        f"/api/v1/feedback/{item['id']}/approve", headers=moderator_headers
    ) as resp:
        assert resp.status == 200

    async def shown() -> str | None:
        text = await page_text(http, article["url"])
        return text if "Nguyễn Văn Bình" in text else None

    text = await eventually(shown, timeout=40)
    comments = text.split("Các ý kiến của bạn đọc", 1)[1]
    assert "Chúc các đơn vị trong Khối hoàn thành tốt giao ước thi đua." in comments
    assert "binh@example.vn" not in text


async def test_feedback_for_an_unpublished_article_is_refused(
    http: aiohttp.ClientSession, article: dict, editor_headers: dict[str, str]
) -> None:
    async with http.post(
        f"/api/v1/articles/{article['id']}/unpublish", headers=editor_headers
    ) as response:
        assert response.status == 200

    async def refused() -> bool:
        async with http.post(
            "/api/v1/feedback",
            json={"article_id": article["id"], "author_name": "Lê Văn C", "body": "Ý kiến thử."},
        ) as response:
            if response.status != 422:
                return False
            problem = await response.json()
            assert problem["code"] == "article_unavailable", problem
            return bool(problem["detail"])

    assert await eventually(refused, interval=2)
    async with http.get(f"/tin/{article['id']}/phan-hoi") as response:
        assert response.status == 404
        assert "text/html" in response.headers["Content-Type"]


async def test_feedback_comes_back_with_its_article_and_its_receipt_follows_it(
    http: aiohttp.ClientSession,
    article: dict,
    editor_headers: dict[str, str],
    moderator_headers: dict[str, str],
) -> None:
    """An approved comment survives its article's unpublishing and shows again when the
    article is published again; the reader's receipt looks the case up through the gateway."""
    body = f"Ý kiến còn lại sau khi bài được đăng lại {uuid.uuid4().hex[:6]}."

    async def sent() -> dict | None:
        async with http.post(
            "/api/v1/feedback",
            json={"article_id": article["id"], "author_name": "Đỗ Thị Hoa", "body": body},
        ) as response:
            return await response.json() if response.status == 202 else None

    case = await eventually(sent, timeout=60, interval=2)
    async with http.post(
        f"/api/v1/feedback/{case['id']}/approve", headers=moderator_headers
    ) as response:
        assert response.status == 200

    async def lookup() -> str:
        async with http.get(case["status_url"]) as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == "no-store"
            return await response.text()

    assert 'data-status="published"' in await lookup()

    async def shown() -> bool:
        return body in await page_text(http, article["url"], fresh=True)

    assert await eventually(shown, timeout=40)
    for step in ("unpublish", "publish"):
        async with http.post(
            f"/api/v1/articles/{article['id']}/{step}", headers=editor_headers
        ) as response:
            assert response.status == 200, await response.text()
        if step == "unpublish":

            async def form_gone() -> bool:
                async with http.get(f"/tin/{article['id']}/phan-hoi") as response:
                    return response.status == 404

            assert await eventually(form_gone)
    assert await eventually(shown, timeout=40)

    async def form_back() -> bool:
        async with http.get(f"/tin/{article['id']}/phan-hoi") as response:
            return response.status == 200

    assert await eventually(form_back)
    assert 'data-status="published"' in await lookup()


async def send_feedback(http: aiohttp.ClientSession, article_id: int, name: str, body: str) -> int:
    """Through the feedback API; waits out the gateway's rate limit on reader posts."""

    async def sent() -> int | None:
        async with http.post(
            "/api/v1/feedback", json={"article_id": article_id, "author_name": name, "body": body}
        ) as response:
            return int((await response.json())["id"]) if response.status == 202 else None

    return int(await eventually(sent, timeout=60, interval=2))


async def test_pages_render_while_counter_and_feedback_are_down(
    stack: LocalStack,
    http: aiohttp.ClientSession,
    article: dict,
    moderator_headers: dict[str, str],
) -> None:
    await eventually(lambda: counter_knows(http, article["id"]))
    async with http.post(
        "/api/v1/views", json={"article_id": article["id"]}, headers={"User-Agent": BROWSER_AGENT}
    ) as response:
        assert response.status == 204
    item = await send_feedback(http, article["id"], "Trần Thị Hoa", "Mong có thêm tin như thế.")
    async with http.post(f"/api/v1/feedback/{item}/approve", headers=moderator_headers) as response:
        assert response.status == 200

    async def counted_and_shown() -> bool:
        text = await page_text(http, article["url"])
        return views_shown(text) == 1 and "Mong có thêm tin như thế." in text

    await eventually(counted_and_shown, timeout=40)
    # SIGTERM: each stops consuming, answers what it holds and exits cleanly.
    assert stack.stop_service("counter") == 0
    assert stack.stop_service("feedback") == 0
    try:
        text = await page_text(http, article["url"], fresh=True)
        assert views_shown(text) == 1
        assert "Trần Thị Hoa" in text.split("Các ý kiến của bạn đọc", 1)[1]
        assert article["title"] in await page_text(http, "/", fresh=True)
        async with http.post("/api/v1/views", json={"article_id": article["id"]}) as response:
            assert response.status >= 500  # the beacon fails; the page does not
    finally:
        stack.start_service("counter")
        stack.start_service("feedback")


async def test_gateway_hides_internals_and_sets_security_headers(
    http: aiohttp.ClientSession, article: dict
) -> None:
    for path in ("/metrics", "/readyz", "/healthz"):
        async with http.get(path) as response:
            assert response.status == 404, path
    async with http.get(article["url"]) as response:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors" in response.headers["Content-Security-Policy"]
        assert "Server" not in response.headers or "nginx/" not in response.headers["Server"]
    async with http.post("/api/v1/auth/token", data=b"x" * 8000) as response:
        assert response.status == 413


async def test_login_is_rate_limited_at_the_gateway(http: aiohttp.ClientSession) -> None:
    statuses = []
    for _ in range(12):
        async with http.post(
            "/api/v1/auth/token", json={"username": "khong-co", "password": "sai-mat-khau-1"}
        ) as response:
            statuses.append(response.status)
    assert 429 in statuses
    assert set(statuses) <= {401, 429}


async def test_every_service_refuses_bad_tokens_and_wrong_roles(
    stack: LocalStack,
    http: aiohttp.ClientSession,
    article: dict,
    editor_headers: dict[str, str],
    moderator_headers: dict[str, str],
) -> None:
    """Each service checks tokens itself with the shared public key: a forged, edited or
    expired token gets 401 and a real token without the role 403, at all three."""
    site_key = (stack.local.run_dir / "keys" / "private" / "auth_private.pem").read_text()
    long_ago = int(time.time()) - 3600
    admin_claims = keys.claims(user_id=1, roles=["admin"])
    expired_claims = keys.claims(user_id=1, roles=["admin"], iat=long_ago, exp=long_ago + 600)
    bad_tokens = {
        "unauthenticated": None,
        "token_expired": keys.sign(keys.KeyPair(site_key, ""), expired_claims),
        "token_invalid": [
            keys.tampered(editor_headers["Authorization"].removeprefix("Bearer "), roles=["admin"]),
            keys.sign(keys.new_keypair(), admin_claims),
            keys.unsigned(admin_claims),
        ],
    }  # fmt: skip
    guarded = [  # (method, path, body, a real token without the role)
        ("POST", "/api/v1/categories", {"name": "Không được tạo"}, moderator_headers),
        ("GET", "/api/v1/feedback?status=pending", None, editor_headers),
        ("PUT", f"/api/v1/views/{article['id']}/imported", {"total": 99}, editor_headers),
    ]
    for method, path, body, wrong_role in guarded:
        for code, tokens in bad_tokens.items():
            for token in tokens if isinstance(tokens, list) else [tokens]:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                async with http.request(method, path, json=body, headers=headers) as response:
                    assert response.status == 401, (path, code, await response.text())
                    assert (await response.json())["code"] == code, path
        async with http.request(method, path, json=body, headers=wrong_role) as response:
            assert response.status == 403, (path, await response.text())
            assert (await response.json())["code"] == "forbidden"
    # (The counter may hear of the article after these calls: its answer is then a 404.)
    await eventually(lambda: counter_knows(http, article["id"]))
    async with http.get(f"/api/v1/views/{article['id']}") as response:
        assert (await response.json())["total"] == 0  # no refused call changed anything


async def test_a_document_attached_by_an_editor_is_listed_and_downloaded(
    http: aiohttp.ClientSession, editor_headers: dict[str, str], article: dict
) -> None:
    # 3 MB: more than the gateway lets through to the rest of the editors' API.
    pdf = b"%PDF-1.4\n" + b"x" * (3 * 1024 * 1024) + b"\n%%EOF\n"
    form = aiohttp.FormData()
    form.add_field("file", pdf, filename="quyet-dinh.pdf", content_type="application/pdf")
    form.add_field("title", "Quyết định số 12/QĐ-UBND")
    async with http.post(
        f"/api/v1/articles/{article['id']}/documents", data=form, headers=editor_headers
    ) as response:
        assert response.status == 201, await response.text()
        document = await response.json()

    text = await page_text(http, article["url"], fresh=True)
    assert "Văn bản đính kèm" in text
    assert "Quyết định số 12/QĐ-UBND (PDF, 3 MB)" in text
    async with http.get(document["url"]) as response:
        assert response.status == 200
        assert await response.read() == pdf
        assert response.headers["Content-Type"] == "application/pdf"
        assert response.headers["Content-Disposition"] == (
            "attachment; filename=\"quyet-dinh.pdf\"; filename*=UTF-8''quyet-dinh.pdf"
        )
        assert "nosniff" in response.headers["X-Content-Type-Options"]
        assert "max-age=31536000" in response.headers["Cache-Control"]

    async with http.post(
        f"/api/v1/articles/{article['id']}/unpublish", headers=editor_headers
    ) as response:
        assert response.status == 200, await response.text()

    async def gone() -> bool:
        for path in (document["url"], article["url"]):
            async with http.get(path) as response:
                if response.status != 404:
                    return False
        return True

    # Within the gateway's few seconds of micro-cache (a 404 replaces what it kept).
    assert await eventually(gone)
