"""The editors' API and login of the articles service on the real Postgres and RabbitMQ:
tokens and their slow-down, roles, drafts and publication with their events, sanitising,
images, and a disabled user's token."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from typing import Any

import aiohttp
import pytest

from services.articles import domain, store
from services.articles.config import THROTTLE_SECRET
from services.common.auth import ACCESS_COOKIE, SESSION_COOKIE
from services.common.events.schemas import validate
from tests.support.amqp import tap
from tests.support.articles import PASSWORD, PNG, Site, post_form, running_site


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[Site]:
    # The test client plays the gateway, so tests can log in from several addresses.
    async with running_site(trusted_proxies=[GATEWAY]) as harness:
        yield harness


GATEWAY = "127.0.0.1"


def from_address(address: str, **more: str) -> dict[str, str]:
    """Headers the gateway would send for a browser at `address`."""
    return {"X-Forwarded-For": address, **more}


async def problem(response: aiohttp.ClientResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    body = dict(await response.json())
    assert body["code"] == code
    return body


async def count(site: Site, sql: str, *args: Any) -> int:
    return int(await site.pool.fetchval(sql, *args))


@pytest.fixture(autouse=True)
def no_session_cookie(site: Site) -> None:
    # The client keeps cookies between requests; each test starts signed out.
    site.client.session.cookie_jar.clear()


@pytest.fixture
async def clean_throttle(site: Site) -> None:
    # Every test logs in from 127.0.0.1: start each with no failures counted.
    await site.pool.execute("DELETE FROM login_throttle")


# --- login --------------------------------------------------------------------------------


async def test_a_good_password_gets_a_bearer_token_that_works(site: Site, clean_throttle) -> None:
    account = await site.new_account("editor")
    response = await site.client.post(
        "/api/v1/auth/token", json={"username": account.user.username, "password": PASSWORD}
    )
    assert response.status == 200
    body = await response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert response.headers["Cache-Control"] == "no-store"

    created = await site.client.post(
        "/api/v1/categories",
        json={"name": "Tin ảnh"},
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert created.status == 201


async def test_wrong_credentials_get_401_invalid_credentials(site: Site, clean_throttle) -> None:
    account = await site.new_account("editor")
    for username, password in [
        (account.user.username, "sai mật khẩu rồi"),
        ("khong.co.ai", PASSWORD),
    ]:
        response = await site.client.post(
            "/api/v1/auth/token", json={"username": username, "password": password}
        )
        body = await problem(response, 401, "invalid_credentials")
        assert "không đúng" in body["detail"]


async def _try(
    site: Site, username: str, password: str, headers: dict[str, str] | None = None
) -> aiohttp.ClientResponse:
    return await site.client.post(
        "/api/v1/auth/token", json={"username": username, "password": password}, headers=headers
    )


async def test_repeated_failures_are_slowed_down_and_a_success_resets_them(
    site: Site, clean_throttle
) -> None:
    name = (await site.new_account("author")).user.username
    for _ in range(5):
        await problem(await _try(site, name, "đoán mò mật khẩu"), 401, "invalid_credentials")

    # Even the right password waits now.
    refused = await _try(site, name, PASSWORD)
    await problem(refused, 429, "too_many_attempts")
    first_wait = int(refused.headers["Retry-After"])
    assert 20 <= first_wait <= 30
    form = await post_form(
        site.client,
        "/dang-nhap",
        data={"username": name, "password": PASSWORD},
        allow_redirects=False,
    )
    assert form.status == 429
    assert "Retry-After" in form.headers
    assert "sai quá nhiều lần" in await form.text()

    # The wait is over; one more failure blocks for longer than the first time.
    await site.pool.execute("UPDATE login_throttle SET blocked_until = now()")
    await problem(await _try(site, name, "vẫn sai"), 401, "invalid_credentials")
    refused = await _try(site, name, PASSWORD)
    await problem(refused, 429, "too_many_attempts")
    assert int(refused.headers["Retry-After"]) > first_wait + 20

    # After the wait, the right password works and wipes the name's failures.
    await site.pool.execute("UPDATE login_throttle SET blocked_until = now()")
    assert (await _try(site, name, PASSWORD)).status == 200
    for _ in range(4):
        await problem(await _try(site, name, "lại sai"), 401, "invalid_credentials")
    assert (await _try(site, name, PASSWORD)).status == 200


async def test_one_address_trying_many_names_is_slowed_down_too(site: Site, clean_throttle) -> None:
    for attempt in range(20):
        await problem(
            await _try(site, f"ten.{attempt}", "mật khẩu bất kỳ"), 401, "invalid_credentials"
        )
    fresh = (await site.new_account("editor")).user.username
    await problem(await _try(site, fresh, PASSWORD), 429, "too_many_attempts")
    # Neither the address nor the names are stored as they are.
    keys = [r["key"] for r in await site.pool.fetch("SELECT key FROM login_throttle")]
    assert keys and not any("127.0.0.1" in k or "ten." in k for k in keys)


async def test_failures_from_elsewhere_never_lock_a_name_out_for_its_owner(
    site: Site, clean_throttle
) -> None:
    owner = (await site.new_account("admin")).user.username
    attacker, home = from_address("198.51.100.7"), from_address("203.0.113.45")
    for _ in range(domain.FAILURES_PER_PAIR):
        refused = await _try(site, owner, "đoán mò mật khẩu", attacker)
        await problem(refused, 401, "invalid_credentials")
    # The one guessing is stopped, even with the right password...
    await problem(await _try(site, owner, PASSWORD, attacker), 429, "too_many_attempts")

    # ...while the owner, elsewhere, gets in: only a little slower.
    started = time.monotonic()
    assert (await _try(site, owner, PASSWORD, home)).status == 200
    assert time.monotonic() - started >= domain.FIRST_USERNAME_PAUSE_SECONDS * 0.9
    form = await post_form(
        site.client,
        "/dang-nhap",
        data={"username": owner, "password": PASSWORD},
        headers=home,
        allow_redirects=False,
    )
    assert form.status == 303

    # Only HMACs are stored; the owner's success forgot the name's failures, not the
    # attacker's own block.
    keys = domain.throttle_keys(site.client.app[THROTTLE_SECRET], owner, "198.51.100.7")
    rows = {r["key"]: r for r in await site.pool.fetch("SELECT * FROM login_throttle")}
    assert keys.username not in rows
    assert rows[keys.pair]["blocked_until"] is not None
    for key in rows:
        assert re.fullmatch(r"(pair|addr|user):[0-9a-f]{64}", key), key


def _cookie(response: aiohttp.ClientResponse) -> Any:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.getall("Set-Cookie"):
        jar.load(header)
    return jar[ACCESS_COOKIE]


async def test_the_login_form_sets_the_session_cookie_and_opens_the_admin(
    site: Site, clean_throttle
) -> None:
    page = await site.client.get("/dang-nhap")
    assert page.status == 200
    assert "Tên đăng nhập" in await page.text()

    editor = await site.new_account("editor")
    await site.draft(title="Bản nháp trong trang quản trị")
    response = await post_form(
        site.client,
        "/dang-nhap",
        data={"username": editor.user.username, "password": PASSWORD},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == "/quan-tri"
    cookie = _cookie(response)
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert not cookie["secure"]
    assert cookie["max-age"] == "600"

    listed = await site.client.get("/quan-tri/bai-viet", cookies={ACCESS_COOKIE: cookie.value})
    assert "Bản nháp trong trang quản trị" in await listed.text()
    admin = await site.client.get("/quan-tri", cookies={ACCESS_COOKIE: cookie.value})
    assert admin.status == 200
    assert admin.headers["Cache-Control"] == "no-store"
    text = await admin.text()
    assert "Bản nháp của tôi" in text
    # The shared admin layout (services/common/templates/admin_base.html): its menu with
    # this page current; an editor is no moderator, so no "Phản hồi".
    assert '<a href="/quan-tri" aria-current="page">Tổng quan</a>' in text
    assert 'href="/quan-tri/phan-hoi"' not in text
    assert 'action="/dang-xuat"' in text and 'class="search"' not in text
    # Its footer names who is signed in and signs out, instead of offering to sign in.
    footer = text[text.index('<footer class="site-footer">') :]
    signed_in = text.split("Xin chào, <strong>")[1].split("</strong>")[0]
    assert signed_in and f'<span class="admin-user">{signed_in}</span>' in footer
    assert 'action="/dang-xuat"' in footer and "Đăng xuất" in footer
    assert "/dang-nhap" not in footer

    out = await site.client.post("/dang-xuat", allow_redirects=False)
    assert out.status == 303
    assert _cookie(out).value == ""
    assert _cookie(out)["max-age"] == "0"


async def test_the_session_cookie_is_secure_when_the_browser_came_over_https(
    site: Site, clean_throttle
) -> None:
    editor = await site.new_account("editor")
    credentials = {"username": editor.user.username, "password": PASSWORD}
    for proto, secure in (("https", True), ("http", False), ("HTTPS", True)):
        response = await post_form(
            site.client,
            "/dang-nhap",
            data=credentials,
            headers=from_address("203.0.113.20", **{"X-Forwarded-Proto": proto}),
            allow_redirects=False,
        )
        assert response.status == 303
        assert bool(_cookie(response)["secure"]) is secure, proto
        site.client.session.cookie_jar.clear()
    out = await site.client.post(
        "/dang-xuat", headers={"X-Forwarded-Proto": "https"}, allow_redirects=False
    )
    assert _cookie(out)["secure"] is True


async def test_the_login_form_leads_where_next_asks_on_this_site_only(
    site: Site, clean_throttle
) -> None:
    moderator = await site.new_account("moderator")
    credentials = {"username": moderator.user.username, "password": PASSWORD}

    form = await site.client.get("/dang-nhap?next=/quan-tri/phan-hoi")
    assert '<input type="hidden" name="next" value="/quan-tri/phan-hoi">' in await form.text()
    sent = await post_form(
        site.client,
        "/dang-nhap",
        data={**credentials, "next": "/quan-tri/phan-hoi"},
        allow_redirects=False,
    )
    assert (sent.status, sent.headers["Location"]) == (303, "/quan-tri/phan-hoi")
    # A failed try keeps it in the form for the next one.
    failed = await post_form(
        site.client,
        "/dang-nhap",
        data={**credentials, "password": "sai mật khẩu", "next": "/quan-tri/phan-hoi"},
        allow_redirects=False,
    )
    assert failed.status == 401
    assert 'name="next" value="/quan-tri/phan-hoi"' in await failed.text()

    for elsewhere in (
        "//evil.example/quan-tri",
        "/\\evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "/quan-tri\r\nSet-Cookie: x=1",
        "quan-tri",
    ):
        form = await site.client.get("/dang-nhap", params={"next": elsewhere})
        assert form.status == 200
        assert 'name="next"' not in await form.text()
        sent = await post_form(
            site.client,
            "/dang-nhap",
            data={**credentials, "next": elsewhere},
            allow_redirects=False,
        )
        assert (sent.status, sent.headers["Location"]) == (303, "/quan-tri"), elsewhere
        site.client.session.cookie_jar.clear()


async def test_the_login_form_says_so_in_vietnamese_when_it_fails(
    site: Site, clean_throttle
) -> None:
    response = await post_form(
        site.client,
        "/dang-nhap",
        data={"username": "ai.do", "password": "sai"},
        allow_redirects=False,
    )
    assert response.status == 401
    assert "Tên đăng nhập hoặc mật khẩu không đúng." in await response.text()
    assert SESSION_COOKIE not in response.cookies and ACCESS_COOKIE not in response.cookies


async def test_the_admin_page_sends_strangers_to_the_login_form(site: Site) -> None:
    response = await site.client.get("/quan-tri", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/dang-nhap"


async def test_a_disabled_users_token_is_refused_at_once(site: Site) -> None:
    account = await site.new_account("editor")
    ok = await site.client.get("/api/v1/articles/999999", headers=account.headers)
    assert ok.status == 404  # the token was accepted
    created = await site.client.post(
        "/api/v1/categories", json={"name": "Trước khi khoá"}, headers=account.headers
    )
    assert created.status == 201

    async with site.pool.acquire() as conn:
        await store.set_disabled(conn, account.user.id, True)
    refused = await site.client.post(
        "/api/v1/categories", json={"name": "Sau khi khoá"}, headers=account.headers
    )
    await problem(refused, 401, "account_disabled")
    admin = await site.client.get(
        "/quan-tri", cookies={ACCESS_COOKIE: account.token}, allow_redirects=False
    )
    assert admin.status == 303


# --- roles --------------------------------------------------------------------------------


async def test_writing_needs_a_token(site: Site) -> None:
    category = await site.category()
    body = {
        "title": "Không có quyền",
        "summary": "",
        "body_html": "<p>x</p>",
        "byline": "",
        "category_id": category["id"],
    }
    await problem(await site.client.post("/api/v1/articles", json=body), 401, "unauthenticated")
    await problem(
        await site.client.post("/api/v1/categories", json={"name": "X"}), 401, "unauthenticated"
    )
    await problem(
        await site.client.post("/api/v1/articles", json=body, headers=site.auth("moderator")),
        403,
        "forbidden",
    )
    await problem(
        await site.client.post(
            "/api/v1/categories", json={"name": "X"}, headers=site.auth("author")
        ),
        403,
        "forbidden",
    )


async def test_an_author_writes_drafts_and_an_editor_publishes_them(site: Site) -> None:
    draft = await site.draft(role="author", title="Bài của tác giả")
    assert draft["status"] == "draft"
    assert draft["author_id"] == site.accounts["author"].user.id
    url = f"/api/v1/articles/{draft['id']}"

    edited = await site.client.patch(
        url, json={"summary": "Tóm tắt mới"}, headers=site.auth("author")
    )
    assert edited.status == 200
    assert (await edited.json())["version"] == 2

    await problem(
        await site.client.post(f"{url}/publish", headers=site.auth("author")), 403, "forbidden"
    )
    published = await site.client.post(f"{url}/publish", headers=site.auth("editor"))
    assert published.status == 200
    assert (await published.json())["status"] == "published"

    # Once public, only publishers change it.
    await problem(
        await site.client.patch(url, json={"summary": "Sửa lén"}, headers=site.auth("author")),
        403,
        "forbidden",
    )
    await problem(
        await site.client.post(f"{url}/unpublish", headers=site.auth("author")), 403, "forbidden"
    )
    assert (await site.client.post(f"{url}/unpublish", headers=site.auth("admin"))).status == 200


async def test_drafts_are_seen_by_their_author_and_publishers_only(site: Site) -> None:
    draft = await site.draft(role="author")
    url = f"/api/v1/articles/{draft['id']}"
    await problem(await site.client.get(url), 404, "article_not_found")
    other_author = await site.new_account("author")
    await problem(
        await site.client.get(url, headers=other_author.headers), 404, "article_not_found"
    )
    await problem(
        await site.client.patch(url, json={"title": "Của tôi"}, headers=other_author.headers),
        404,
        "article_not_found",
    )
    for role in ("author", "editor", "admin"):
        response = await site.client.get(url, headers=site.auth(role))
        assert response.status == 200
        assert (await response.json())["body_html"] == "<p>Nội dung bản tin.</p>"


# --- categories ---------------------------------------------------------------------------


async def test_a_category_slug_comes_from_its_vietnamese_name(site: Site) -> None:
    created = await site.category("Tình hình hoạt động")
    assert created["slug"] == "tinh-hinh-hoat-dong"
    again = await site.client.post(
        "/api/v1/categories", json={"name": "Tình hình  hoạt động"}, headers=site.auth("editor")
    )
    await problem(again, 409, "slug_taken")
    custom = await site.client.post(
        "/api/v1/categories",
        json={"name": "Tin ảnh hoạt động", "slug": "anh"},
        headers=site.auth("admin"),
    )
    assert (await custom.json())["slug"] == "anh"
    listed = await (await site.client.get("/api/v1/categories")).json()
    assert {"tinh-hinh-hoat-dong", "anh"} <= {c["slug"] for c in listed["items"]}


# --- publication and its events -----------------------------------------------------------


async def _outbox(site: Site, article_id: int) -> list[str]:
    rows = await site.pool.fetch(
        "SELECT type FROM outbox WHERE subject = $1 ORDER BY created_at", str(article_id)
    )
    return [r["type"] for r in rows]


async def test_publishing_writes_one_schema_valid_article_published(site: Site) -> None:
    category = await site.category("Thi đua khen thưởng")
    async with tap(site.amqp_url, "article.#") as seen:
        draft = await site.draft(
            title="Khối thi đua ký kết giao ước thi đua năm 2017",
            category_id=category["id"],
        )
        assert await _outbox(site, draft["id"]) == []  # a draft is not announced
        response = await site.client.post(
            f"/api/v1/articles/{draft['id']}/publish", headers=site.auth("editor")
        )
        assert response.status == 200
        article = await response.json()
        [envelope] = await seen.wait_for(1)

    assert await _outbox(site, draft["id"]) == ["article.published"]
    validate(envelope)
    assert envelope["type"] == "article.published"
    assert envelope["source"] == "/bantin/articles"
    assert envelope["subject"] == str(article["id"])
    data = envelope["data"]
    assert data["url"] == f"/tin/khoi-thi-dua-ky-ket-giao-uoc-thi-dua-nam-2017-{article['id']}"
    assert data["category"] == {
        "slug": "thi-dua-khen-thuong",
        "name": "Thi đua khen thưởng",
        "parent": None,
    }
    assert data["version"] == article["version"] == 2
    assert data["published_at"].endswith("+07:00")
    # Public fields only; the taxonomy ones (tags, topic, featured) are issue 7's additions,
    # imported_views issue 8's (null: an article written here).
    assert set(data) <= {
        "id", "version", "slug", "title", "summary", "url", "category", "byline",
        "image_url", "published_at", "updated_at", "tags", "topic", "featured",
        "imported_views",
    }  # fmt: skip
    assert data["imported_views"] is None


async def test_edits_unpublishing_and_republishing_are_announced_in_order(site: Site) -> None:
    article = await site.published()
    url = f"/api/v1/articles/{article['id']}"
    async with tap(site.amqp_url, "article.#") as seen:
        edited = await site.client.patch(
            url, json={"title": "Tiêu đề đã sửa", "version": 2}, headers=site.auth("editor")
        )
        assert edited.status == 200
        assert (await edited.json())["slug"] == "tieu-de-da-sua"
        await site.client.post(f"{url}/publish", headers=site.auth("editor"))
        await site.client.post(f"{url}/unpublish", headers=site.auth("editor"))
        await site.client.post(f"{url}/publish", headers=site.auth("editor"))
        bodies = await seen.wait_for(4)

    types = [(b["type"], b["data"]["version"]) for b in bodies]
    assert sorted(types, key=lambda t: t[1]) == [
        ("article.updated", 3),
        ("article.updated", 4),
        ("article.unpublished", 5),
        ("article.published", 6),
    ]
    for body in bodies:
        validate(body)
    assert (await site.client.post(f"{url}/unpublish", headers=site.auth("editor"))).status == 200
    again = await site.client.post(f"{url}/unpublish", headers=site.auth("editor"))
    await problem(again, 409, "invalid_transition")


async def test_a_stale_version_is_a_conflict_and_changes_nothing(site: Site) -> None:
    draft = await site.draft()
    url = f"/api/v1/articles/{draft['id']}"
    await site.client.patch(url, json={"summary": "Lần một"}, headers=site.auth("editor"))
    stale = await site.client.patch(
        url, json={"summary": "Lần hai", "version": 1}, headers=site.auth("editor")
    )
    await problem(stale, 409, "version_conflict")
    nothing = await site.client.patch(url, json={"version": 2}, headers=site.auth("editor"))
    await problem(nothing, 422, "invalid_input")
    current = await (await site.client.get(url, headers=site.auth("editor"))).json()
    assert (current["summary"], current["version"]) == ("Lần một", 2)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"category_id": 987654}, "category_id"),
        ({"image_id": 987654}, "image_id"),
        ({"title": "   "}, "title"),
        ({"body_html": "<script>alert(1)</script>"}, "body_html"),
        ({"category_id": None}, "category_id"),
        ({"extra": "x"}, "(toàn bộ)"),
    ],
)
async def test_invalid_articles_are_refused_with_nothing_written(
    site: Site, change: dict[str, Any], field: str
) -> None:
    category = await site.category()
    title = f"Không được lưu {change}"
    body = {
        "title": title,
        "summary": "",
        "body_html": "<p>Nội dung</p>",
        "byline": "",
        "category_id": category["id"],
        **change,
    }
    articles_before = await count(site, "SELECT count(*) FROM articles")
    outbox_before = await count(site, "SELECT count(*) FROM outbox")
    async with tap(site.amqp_url, "article.#") as seen:
        response = await site.client.post(
            "/api/v1/articles", json=body, headers=site.auth("editor")
        )
        problem_body = await problem(response, 422, "invalid_input")
        assert field in [e["field"] for e in problem_body["errors"]]
        # A marker published after the refusal arrives alone: nothing came before it.
        marker = await site.published()
        [only] = await seen.wait_for(1)
    assert only["subject"] == str(marker["id"])
    assert await count(site, "SELECT count(*) FROM articles") == articles_before + 1
    assert await count(site, "SELECT count(*) FROM outbox") == outbox_before + 1


async def test_a_too_large_article_is_413_and_a_large_one_is_fine(site: Site) -> None:
    category = await site.category()
    base = {"title": "Bài dài", "summary": "", "byline": "", "category_id": category["id"]}
    long_body = "<p>" + "Nội dung dài. " * 8000 + "</p>"  # ~130 KB, over the app's 64 KiB
    ok = await site.client.post(
        "/api/v1/articles", json={**base, "body_html": long_body}, headers=site.auth("editor")
    )
    assert ok.status == 201
    huge = "<p>" + "x" * (600 * 1024) + "</p>"
    refused = await site.client.post(
        "/api/v1/articles", json={**base, "body_html": huge}, headers=site.auth("editor")
    )
    await problem(refused, 413, "body_too_large")
    too_big_login = await site.client.post(
        "/api/v1/auth/token", json={"username": "x" * 70_000, "password": "y"}
    )
    await problem(too_big_login, 413, "body_too_large")


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        (b"[" * 5000, "application/json", 400, "invalid_json"),  # deeper than the parser goes
        (b"{nope", "application/json", 400, "invalid_json"),
        (b"title=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
    ids=["deeply-nested", "broken", "form"],
)
async def test_a_body_that_is_no_json_is_refused_with_nothing_written(
    site: Site, data: bytes, content_type: str, status: int, code: str
) -> None:
    before = await count(site, "SELECT count(*) FROM articles")
    response = await site.client.post(
        "/api/v1/articles",
        data=data,
        headers={**site.auth("editor"), "Content-Type": content_type},
    )
    await problem(response, status, code)
    assert await count(site, "SELECT count(*) FROM articles") == before


async def test_a_nul_character_or_an_id_past_bigint_is_a_422_with_nothing_written(
    site: Site,
) -> None:
    """Found by schemathesis: both reached Postgres and answered 500."""
    categories = await count(site, "SELECT count(*) FROM categories")
    nul = await site.client.post(
        "/api/v1/categories", json={"name": "Thời\u0000 sự"}, headers=site.auth("editor")
    )
    body = await problem(nul, 422, "invalid_input")
    assert [e["field"] for e in body["errors"]] == ["name"]
    assert await count(site, "SELECT count(*) FROM categories") == categories
    articles = await count(site, "SELECT count(*) FROM articles")
    past_bigint = await site.client.post(
        "/api/v1/articles",
        json={
            "title": "T",
            "summary": "",
            "body_html": "<p>x</p>",
            "byline": "",
            "category_id": 2**64 + 1,
        },
        headers=site.auth("editor"),
    )
    body = await problem(past_bigint, 422, "invalid_input")
    assert [e["field"] for e in body["errors"]] == ["category_id"]
    assert await count(site, "SELECT count(*) FROM articles") == articles


async def test_body_html_is_sanitised(site: Site) -> None:
    dirty = (
        '<p onclick="steal()">Đoạn <strong>đậm</strong><script>alert("x")</script></p>'
        '<img src="/anh/1" alt="Ảnh" onerror="steal()">'
        '<a href="javascript:steal()">xấu</a> <a href="https://example.vn/a">tốt</a>'
        '<iframe src="https://evil.example"></iframe><style>p{}</style>'
        '<table><tr><td colspan="2">Ô</td></tr></table><h2>Mục</h2>'
    )
    article = await site.draft(body_html=dirty)
    clean = article["body_html"]
    for bad in ("<script", "onclick", "onerror", "javascript:", "<iframe", "<style"):
        assert bad not in clean
    for kept in (
        "<strong>đậm</strong>",
        '<img src="/anh/1" alt="Ảnh">',
        'href="https://example.vn/a"',
        '<td colspan="2">Ô</td>',
        "<h2>Mục</h2>",
    ):
        assert kept in clean


# --- lists --------------------------------------------------------------------------------


async def test_the_public_list_is_published_only_newest_first_with_a_cursor(site: Site) -> None:
    category = await site.category()
    ids = [(await site.published(category_id=category["id"]))["id"] for _ in range(3)]
    await site.draft(category_id=category["id"])
    first = await site.client.get(f"/api/v1/articles?category={category['slug']}&limit=2")
    page = await first.json()
    assert [a["id"] for a in page["items"]] == [ids[2], ids[1]]
    assert "body_html" not in page["items"][0]
    second = await site.client.get(
        f"/api/v1/articles?category={category['slug']}&limit=2&before={page['next_before']}"
    )
    rest = await second.json()
    assert [a["id"] for a in rest["items"]] == [ids[0]]
    assert rest["next_before"] is None
    for query, field in (("limit=0", "limit"), ("limit=101", "limit"), ("before=x", "before")):
        refused = await problem(
            await site.client.get(f"/api/v1/articles?{query}"), 422, "invalid_input"
        )
        assert [e["field"] for e in refused["errors"]] == [field]
    await problem(
        await site.client.get("/api/v1/articles?category=khong-co"), 404, "category_not_found"
    )


# --- images -------------------------------------------------------------------------------


def _file(data: bytes, filename: str = "anh.png", content_type: str = "image/png") -> Any:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=filename, content_type=content_type)
    return form


async def test_an_uploaded_image_is_served_with_a_long_cache(site: Site) -> None:
    response = await site.client.post(
        "/api/v1/images", data=_file(PNG, "anh.jpg", "image/jpeg"), headers=site.auth("author")
    )
    assert response.status == 201
    created = await response.json()
    assert created["url"] == f"/anh/{created['id']}"
    assert created["content_type"] == "image/png"  # from the bytes, not the name

    served = await site.client.get(created["url"])
    assert served.status == 200
    assert (await served.read()).startswith(b"\x89PNG")  # decoded and written again
    assert served.content_type == "image/png"
    assert "max-age=31536000" in served.headers["Cache-Control"]
    etag = served.headers["ETag"]
    again = await site.client.get(created["url"], headers={"If-None-Match": etag})
    assert again.status == 304

    article = await site.draft(image_id=created["id"], image_caption="Lãnh đạo ký giao ước.")
    assert article["image_url"] == created["url"]
    assert (await site.client.get("/anh/987654")).status == 404


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>x</script></svg>", 415,
         "unsupported_image_type"),
        (b"GIF89a" + b"\0" * domain.IMAGE_MAX_BYTES, 413, "body_too_large"),
    ],
)  # fmt: skip
async def test_non_images_and_huge_files_are_refused(
    site: Site, data: bytes, status: int, code: str
) -> None:
    before = await count(site, "SELECT count(*) FROM images")
    response = await site.client.post(
        "/api/v1/images", data=_file(data), headers=site.auth("editor")
    )
    await problem(response, status, code)
    assert await count(site, "SELECT count(*) FROM images") == before


@pytest.mark.parametrize(
    "body",
    [
        b"--boundary\r\n-282245755361--boundary--",  # found by schemathesis: was a 500
        b"--boundary\r\nX-Long: " + b"x" * 10_000 + b"\r\n\r\n--boundary--",
        b"no boundary at all",
        b"",
    ],
    ids=["broken-part", "header-too-long", "no-boundary", "empty"],
)
async def test_a_malformed_multipart_body_is_a_400(site: Site, body: bytes) -> None:
    before = await count(site, "SELECT count(*) FROM images")
    response = await site.client.post(
        "/api/v1/images",
        data=body,
        headers={**site.auth("editor"), "Content-Type": "multipart/form-data; boundary=boundary"},
    )
    await problem(response, 400, "invalid_multipart")
    assert await count(site, "SELECT count(*) FROM images") == before


async def test_uploading_needs_a_writer(site: Site) -> None:
    await problem(await site.client.post("/api/v1/images", data=_file(PNG)), 401, "unauthenticated")
    await problem(
        await site.client.post("/api/v1/images", data=_file(PNG), headers=site.auth("moderator")),
        403,
        "forbidden",
    )


async def test_concurrent_edits_of_one_article_get_distinct_versions(site: Site) -> None:
    article = await site.published()
    url = f"/api/v1/articles/{article['id']}"
    responses = await asyncio.gather(
        *(
            site.client.patch(url, json={"summary": f"Sửa {n}"}, headers=site.auth("editor"))
            for n in range(5)
        )
    )
    versions = sorted([(await r.json())["version"] for r in responses])
    assert versions == [3, 4, 5, 6, 7]
    rows = await site.pool.fetch(
        "SELECT envelope FROM outbox WHERE subject = $1 AND type = 'article.updated'",
        str(article["id"]),
    )
    assert sorted(r["envelope"]["data"]["version"] for r in rows) == versions
