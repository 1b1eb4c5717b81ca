"""The desk's sign-in (services/articles/sessions.py): a revocable session renews short
access tokens; signing out, a password change, an admin's reset and disabling end
sessions at once; an account whose password someone else chose must change it first; the
sign-in forms carry a CSRF token. Each "browser" here is an aiohttp session with its own
cookie jar, against the articles service on a database and vhost of its own."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any

import aiohttp
import jwt
import pytest

from services.articles import actions, domain
from services.common.auth import ACCESS_COOKIE, SESSION_COOKIE
from tests.support.articles import PASSWORD, Site, running_site

NEW_PASSWORD = "mật khẩu mới của tôi 2026"


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[Site]:
    async with running_site() as harness:
        yield harness


@pytest.fixture(autouse=True)
async def clean_throttle(site: Site) -> None:
    await site.pool.execute("DELETE FROM login_throttle")


class Browser:
    """One browser: its own cookies, sent back as a browser sends them."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.http = aiohttp.ClientSession(
            base_url=str(site.client.make_url("")),
            cookie_jar=aiohttp.CookieJar(unsafe=True),
        )

    def cookie(self, name: str) -> str | None:
        found = [c.value for c in self.http.cookie_jar if c.key == name and c.value]
        return found[0] if found else None

    async def form(self, path: str) -> str:
        """The CSRF token of the form at `path` (its cookie goes into the jar)."""
        async with self.http.get(path) as page:
            found = re.search(r'name="csrf" value="([^"]+)"', await page.text())
        assert found, path
        return found[1]

    async def post_form(
        self, path: str, fields: dict[str, str], csrf_from: str | None = None
    ) -> tuple[int, str, str]:
        """Fill and send the form: (status, Location, page text)."""
        csrf = await self.form(csrf_from or path)
        async with self.http.post(
            path, data={**fields, "csrf": csrf}, allow_redirects=False
        ) as response:
            return response.status, response.headers.get("Location", ""), await response.text()

    async def sign_in(self, username: str, password: str = PASSWORD, next_path: str = "") -> str:
        fields = {"username": username, "password": password}
        if next_path:
            fields["next"] = next_path
        status, location, text = await self.post_form("/dang-nhap", fields)
        assert status == 303, text
        return location

    async def refresh(self) -> tuple[int, Any]:
        async with self.http.post("/api/v1/auth/refresh", json={}) as response:
            return response.status, await response.json()

    async def get(self, path: str) -> tuple[int, str, str]:
        async with self.http.get(path, allow_redirects=False) as response:
            return response.status, response.headers.get("Location", ""), await response.text()

    async def categories(self) -> int:
        """Create a category with the cookies alone (as the desk's scripts do): the status."""
        async with self.http.post(
            "/api/v1/categories",
            json={"name": f"Chuyên mục {uuid.uuid4().hex[:6]}"},
            headers={"Origin": str(self.site.client.make_url("")).rstrip("/")},
        ) as response:
            return response.status

    async def close(self) -> None:
        await self.http.close()


@pytest.fixture
async def browser(site: Site) -> AsyncIterator[Browser]:
    opened = Browser(site)
    yield opened
    await opened.close()


@pytest.fixture
async def other_browser(site: Site) -> AsyncIterator[Browser]:
    opened = Browser(site)
    yield opened
    await opened.close()


def set_cookies(response: aiohttp.ClientResponse) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        jar.load(header)
    return jar


async def session_rows(site: Site, user_id: int) -> list[Any]:
    return list(
        await site.pool.fetch(
            "SELECT * FROM sign_in_sessions WHERE user_id = $1 ORDER BY id", user_id
        )
    )


async def admin_made(site: Site, roles: list[str]) -> dict[str, Any]:
    """A user an admin created through the API (so with a password to change)."""
    body = {"username": f"nguoi.moi.{uuid.uuid4().hex[:8]}", "password": PASSWORD, "roles": roles}
    response = await site.client.post("/api/v1/users", json=body, headers=site.auth("admin"))
    assert response.status == 201, await response.text()
    return dict(await response.json())


# --- sessions --------------------------------------------------------------------------------


async def test_signing_in_opens_a_session_that_renews_the_token(
    site: Site, browser: Browser
) -> None:
    editor = await site.new_account("editor")
    async with browser.http.get("/dang-nhap") as page:
        csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert csrf
    async with browser.http.post(
        "/dang-nhap",
        data={"username": editor.user.username, "password": PASSWORD, "csrf": csrf[1]},
        allow_redirects=False,
    ) as response:
        assert (response.status, response.headers["Location"]) == (303, "/quan-tri")
        cookies = set_cookies(response)
    session, access = cookies[SESSION_COOKIE], cookies[ACCESS_COOKIE]
    for cookie in (session, access):
        assert cookie["httponly"] is True and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert access["max-age"] == "600"
    assert int(session["max-age"]) == 12 * 3600  # the absolute limit

    # Only the secret's hash is kept; the token names the session's row, not its secret.
    [row] = await session_rows(site, editor.user.id)
    assert bytes(row["secret_hash"]) == domain.session_secret_hash(session.value)
    assert session.value not in str(dict(row))
    claims = jwt.decode(access.value, options={"verify_signature": False})
    assert claims["sid"] == str(row["id"])

    assert await browser.categories() == 201
    status, answer = await browser.refresh()
    assert (status, answer) == (200, {"expires_in": 600})
    renewed = browser.cookie(ACCESS_COOKIE)
    assert renewed and renewed != access.value
    [used] = await session_rows(site, editor.user.id)
    assert used["last_used_at"] > row["last_used_at"]


async def test_signing_out_ends_the_session_and_its_tokens_at_once(
    site: Site, browser: Browser
) -> None:
    editor = await site.new_account("editor")
    await browser.sign_in(editor.user.username)
    token = browser.cookie(ACCESS_COOKIE)
    assert await browser.categories() == 201

    async with browser.http.post(
        "/dang-xuat",
        allow_redirects=False,
        headers={"Origin": str(site.client.make_url("")).rstrip("/")},
    ) as out:
        assert (out.status, out.headers["Location"]) == (303, "/")
    assert browser.cookie(SESSION_COOKIE) is None and browser.cookie(ACCESS_COOKIE) is None
    [row] = await session_rows(site, editor.user.id)
    assert row["ended_at"] is not None

    # The token is within its 10 minutes, yet articles refuses it: its session ended.
    refused = await site.client.post(
        "/api/v1/categories",
        json={"name": "Sau khi đăng xuất"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert refused.status == 401
    assert (await refused.json())["code"] == "account_disabled"


async def test_refresh_without_a_live_session_is_session_ended(
    site: Site, browser: Browser
) -> None:
    status, answer = await browser.refresh()
    assert (status, answer["code"]) == (401, "session_ended")
    assert "đăng nhập lại" in answer["detail"]

    editor = await site.new_account("editor")
    await browser.sign_in(editor.user.username)
    [row] = await session_rows(site, editor.user.id)

    # Unused for longer than the idle limit (4 hours by default): ended.
    await site.pool.execute(
        "UPDATE sign_in_sessions SET last_used_at = now() - $2::interval WHERE id = $1",
        row["id"],
        timedelta(hours=4, minutes=1),
    )
    status, answer = await browser.refresh()
    assert (status, answer["code"]) == (401, "session_ended")

    # Used a minute ago, but begun longer ago than the absolute limit (12 hours): ended.
    await site.pool.execute(
        """UPDATE sign_in_sessions SET last_used_at = now() - interval '1 minute',
                                       created_at = now() - $2::interval WHERE id = $1""",
        row["id"],
        timedelta(hours=12, minutes=1),
    )
    status, answer = await browser.refresh()
    assert (status, answer["code"]) == (401, "session_ended")

    await site.pool.execute(
        "UPDATE sign_in_sessions SET created_at = now() WHERE id = $1", row["id"]
    )
    assert (await browser.refresh())[0] == 200


async def test_a_desk_page_renews_an_expired_token_from_the_session(
    site: Site, browser: Browser
) -> None:
    editor = await site.new_account("editor")
    await browser.sign_in(editor.user.username)
    # The access cookie ran out (the browser dropped it); the session lives.
    browser.http.cookie_jar.clear(lambda cookie: cookie.key == ACCESS_COOKIE)
    async with browser.http.get("/quan-tri", allow_redirects=False) as page:
        assert page.status == 200
        assert set_cookies(page)[ACCESS_COOKIE]["max-age"] == "600"
        text = await page.text()
    assert "Xin chào" in text
    # The page tells session.js how long the token has left, and includes it.
    left = re.search(r'<meta name="bantin-access-expires-in" content="(\d+)">', text)
    assert left and 590 <= int(left[1]) <= 600
    assert '<script src="/static/session.js" defer></script>' in text
    # The desk's API calls too (the editor's save when the tab slept past the token).
    browser.http.cookie_jar.clear(lambda cookie: cookie.key == ACCESS_COOKIE)
    assert await browser.categories() == 201

    # A session that is gone: the page sends to the sign-in form, the API answers 401.
    await site.pool.execute(
        "UPDATE sign_in_sessions SET ended_at = now() WHERE user_id = $1", editor.user.id
    )
    browser.http.cookie_jar.clear(lambda cookie: cookie.key == ACCESS_COOKIE)
    status, location, _ = await browser.get("/quan-tri")
    assert (status, location) == (303, "/dang-nhap")
    assert await browser.categories() == 401


async def test_the_renewal_page_leads_back_or_to_the_sign_in_form(
    site: Site, browser: Browser
) -> None:
    moderator = await site.new_account("moderator")
    back = "/quan-tri/phan-hoi?trang-thai=tat-ca"
    path = "/dang-nhap/gia-han?next=%2Fquan-tri%2Fphan-hoi%3Ftrang-thai%3Dtat-ca"

    # No session: the sign-in form, leading back there.
    status, _, text = await browser.get(path)
    assert status == 200 and "Đăng nhập" in text
    assert f'name="next" value="{back.replace("&", "&amp;")}"' in text

    await browser.sign_in(moderator.user.username)
    browser.http.cookie_jar.clear(lambda cookie: cookie.key == ACCESS_COOKIE)
    async with browser.http.get(path, allow_redirects=False) as response:
        assert (response.status, response.headers["Location"]) == (303, back)
        assert response.headers["Cache-Control"] == "no-store"
        assert set_cookies(response)[ACCESS_COOKIE].value
    # Never to another site.
    status, location, _ = await browser.get("/dang-nhap/gia-han?next=//evil.example/")
    assert (status, location) == (303, "/quan-tri")


async def test_the_api_signs_a_page_in_again_in_place(site: Site, browser: Browser) -> None:
    editor = await site.new_account("editor")
    credentials = {"username": editor.user.username, "password": PASSWORD}
    async with browser.http.post(
        "/api/v1/auth/session", json={**credentials, "password": "sai mật khẩu"}
    ) as wrong:
        assert (wrong.status, (await wrong.json())["code"]) == (401, "invalid_credentials")
        assert not set_cookies(wrong)
    async with browser.http.post("/api/v1/auth/session", json=credentials) as response:
        assert (response.status, await response.json()) == (200, {"expires_in": 600})
        assert response.headers["Cache-Control"] == "no-store"
    assert browser.cookie(SESSION_COOKIE) and browser.cookie(ACCESS_COOKIE)
    assert await browser.categories() == 201
    # A form post cannot do it (no login CSRF through the API).
    async with browser.http.post("/api/v1/auth/session", data=credentials) as form:
        assert form.status == 415

    # Signing in again ends the session the browser held before.
    first = browser.cookie(SESSION_COOKIE)
    async with browser.http.post("/api/v1/auth/session", json=credentials) as again:
        assert again.status == 200
    assert browser.cookie(SESSION_COOKIE) != first
    rows = await session_rows(site, editor.user.id)
    assert [r["ended_at"] is None for r in rows] == [False, True]


# --- password change required ----------------------------------------------------------------


async def test_an_account_an_admin_made_changes_its_password_before_anything_else(
    site: Site, browser: Browser
) -> None:
    made = await admin_made(site, ["editor"])
    name = made["username"]
    credentials = {"username": name, "password": PASSWORD}
    for route in ("/api/v1/auth/token", "/api/v1/auth/session"):
        response = await site.client.post(route, json=credentials)
        body = await response.json()
        assert (response.status, body["code"]) == (403, "password_change_required"), route
        assert "/doi-mat-khau" in body["detail"]
        assert not set_cookies(response)

    # The sign-in form leads to the password form, signing nobody in yet.
    location = await browser.sign_in(name, next_path="/quan-tri/bai-viet")
    assert location.startswith("/doi-mat-khau?")
    assert browser.cookie(SESSION_COOKIE) is None and browser.cookie(ACCESS_COOKIE) is None
    status, _, text = await browser.get(location)
    assert status == 200
    assert "xin chọn mật khẩu mới" in text and f'value="{name}"' in text
    assert "Ít nhất 10 ký tự" in text
    for label in ("Mật khẩu hiện tại", "Mật khẩu mới", "Nhập lại mật khẩu mới"):
        assert f">{label}</label>" in text

    # Each rule answered in Vietnamese beside its field; nothing changes.
    fields = {"username": name, "current_password": PASSWORD, "next": "/quan-tri/bai-viet"}
    for new, repeat, message in (
        ("ngắn", "ngắn", "ít nhất 10 ký tự"),
        (PASSWORD, PASSWORD, "phải khác mật khẩu hiện tại"),
        (NEW_PASSWORD, NEW_PASSWORD + "x", "Hai lần nhập mật khẩu mới không giống nhau"),
    ):
        status, _, text = await browser.post_form(
            "/doi-mat-khau",
            {**fields, "new_password": new, "repeat_password": repeat},
            csrf_from=location,
        )
        assert status == 422 and message in text and "aria-invalid" in text, message
    status, _, text = await browser.post_form(
        "/doi-mat-khau",
        {**fields, "current_password": "không phải nó", "new_password": NEW_PASSWORD,
         "repeat_password": NEW_PASSWORD},
        csrf_from=location,
    )  # fmt: skip
    assert status == 401 and "không đúng" in text
    assert (await site.client.post("/api/v1/auth/token", json=credentials)).status == 403

    status, location, _ = await browser.post_form(
        "/doi-mat-khau",
        {**fields, "new_password": NEW_PASSWORD, "repeat_password": NEW_PASSWORD},
        csrf_from=location,
    )
    # Into the desk, signed in with a session of its own.
    assert (status, location) == (303, "/quan-tri/bai-viet")
    assert browser.cookie(SESSION_COOKIE) and browser.cookie(ACCESS_COOKIE)
    assert await browser.categories() == 201
    old = await site.client.post("/api/v1/auth/token", json=credentials)
    assert old.status == 401
    new = {"username": name, "password": NEW_PASSWORD}
    assert (await site.client.post("/api/v1/auth/token", json=new)).status == 200


async def test_the_password_api_changes_it_and_ends_every_session(
    site: Site, browser: Browser, other_browser: Browser
) -> None:
    editor = await site.new_account("editor")
    name = editor.user.username
    await browser.sign_in(name)
    await other_browser.sign_in(name)
    change = {"username": name, "current_password": PASSWORD, "new_password": PASSWORD}
    same = await site.client.post("/api/v1/auth/password", json=change)
    assert same.status == 422
    [error] = (await same.json())["errors"]
    assert error["field"] == "new_password" and "khác mật khẩu hiện tại" in error["message"]
    wrong = await site.client.post(
        "/api/v1/auth/password",
        json={**change, "current_password": "đoán thử thôi", "new_password": NEW_PASSWORD},
    )
    assert (wrong.status, (await wrong.json())["code"]) == (401, "invalid_credentials")
    assert (await browser.refresh())[0] == 200

    changed = await site.client.post(
        "/api/v1/auth/password", json={**change, "new_password": NEW_PASSWORD}
    )
    assert changed.status == 204
    for each in (browser, other_browser):
        assert (await each.refresh())[0] == 401
        assert await each.categories() == 401  # the access token in the cookie too
    assert all(row["ended_at"] for row in await session_rows(site, editor.user.id))


async def test_a_signed_in_person_changes_their_password_at_the_desk(
    site: Site, browser: Browser, other_browser: Browser
) -> None:
    author = await site.new_account("author")
    await browser.sign_in(author.user.username)
    await other_browser.sign_in(author.user.username)
    status, _, text = await browser.get("/doi-mat-khau")
    assert status == 200
    assert f"Tài khoản: <strong>{author.user.username}</strong>" in text
    assert 'name="username"' not in text  # their own account, whatever a form says
    status, location, _ = await browser.post_form(
        "/doi-mat-khau",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
         "repeat_password": NEW_PASSWORD, "username": site.accounts["admin"].user.username},
    )  # fmt: skip
    assert (status, location) == (303, "/quan-tri")
    # This browser goes on in a new session; the other one is out.
    assert (await browser.refresh())[0] == 200
    assert (await other_browser.refresh())[0] == 401
    admin = {"username": site.accounts["admin"].user.username, "password": PASSWORD}
    assert (await site.client.post("/api/v1/auth/token", json=admin)).status == 200


async def test_an_admins_reset_and_disabling_end_sessions_at_once(
    site: Site, browser: Browser, other_browser: Browser
) -> None:
    editor, author = await site.new_account("editor"), await site.new_account("editor")
    await browser.sign_in(editor.user.username)
    await other_browser.sign_in(author.user.username)

    reset = await site.client.patch(
        f"/api/v1/users/{editor.user.id}",
        json={"password": NEW_PASSWORD},
        headers=site.auth("admin"),
    )
    assert reset.status == 200 and (await reset.json())["must_change_password"] is True
    assert await browser.categories() == 401
    assert (await browser.refresh())[0] == 401
    refused = await site.client.post(
        "/api/v1/auth/token", json={"username": editor.user.username, "password": NEW_PASSWORD}
    )
    assert (await refused.json())["code"] == "password_change_required"
    # A token minted before the reset, without a session, is refused too.
    assert (await site.client.get("/api/v1/users", headers=editor.headers)).status == 401

    assert await other_browser.categories() == 201
    disabled = await site.client.patch(
        f"/api/v1/users/{author.user.id}", json={"disabled": True}, headers=site.auth("admin")
    )
    assert disabled.status == 200
    assert await other_browser.categories() == 401
    assert (await other_browser.refresh())[0] == 401
    assert all(r["ended_at"] for r in await session_rows(site, author.user.id))


# --- CSRF on the sign-in forms -------------------------------------------------------------


async def test_a_form_without_its_csrf_token_signs_nobody_in(site: Site, browser: Browser) -> None:
    editor = await site.new_account("editor")
    credentials = {"username": editor.user.username, "password": PASSWORD}
    token = await browser.form("/dang-nhap")
    # Another site's page posting the form: no token, a token of its own, or this
    # browser's token without its cookie.
    for fields, with_cookie in (
        (credentials, True),
        ({**credentials, "csrf": "0" * 64}, True),
        ({**credentials, "csrf": token}, False),
    ):
        jar = browser.http.cookie_jar if with_cookie else aiohttp.DummyCookieJar()
        async with aiohttp.ClientSession(
            base_url=str(site.client.make_url("")), cookie_jar=jar
        ) as other:
            async with other.post("/dang-nhap", data=fields, allow_redirects=False) as response:
                assert response.status == 403
                text = await response.text()
                assert "Biểu mẫu đã hết hạn hoặc không hợp lệ" in text
                assert SESSION_COOKIE not in set_cookies(response)
                assert ACCESS_COOKIE not in set_cookies(response)
    assert await session_rows(site, editor.user.id) == []

    # The password form alike: the password stays as it was.
    async with browser.http.post(
        "/doi-mat-khau",
        data={"username": editor.user.username, "current_password": PASSWORD,
              "new_password": NEW_PASSWORD, "repeat_password": NEW_PASSWORD},
    ) as response:  # fmt: skip
        assert response.status == 403
        assert "Biểu mẫu đã hết hạn hoặc không hợp lệ" in await response.text()
    assert (await site.client.post("/api/v1/auth/token", json=credentials)).status == 200


async def test_the_form_cookie_is_strict_and_http_only(site: Site, browser: Browser) -> None:
    async with browser.http.get("/dang-nhap") as page:
        cookie = set_cookies(page)["bantin_form"]
        assert page.headers["Cache-Control"] == "no-store"
    assert cookie["httponly"] is True and cookie["samesite"] == "Strict"
    # The same browser keeps its nonce: a second tab's form stays good.
    async with browser.http.get("/doi-mat-khau") as page:
        assert "bantin_form" not in set_cookies(page) or (
            set_cookies(page)["bantin_form"].value == cookie.value
        )


# --- the demo's one-time account -------------------------------------------------------------


async def test_the_demo_account_is_opened_for_an_empty_site_and_closed_after(
    site: Site,
) -> None:
    async with site.pool.acquire() as conn:
        opened = await actions.open_demo_account(conn, "noi-dung-mau", "mot-lan-thoi-" + "x" * 8)
        assert opened.roles == {"admin"} and not opened.disabled
        assert not opened.must_change_password
        assert await actions.close_account(conn, "noi-dung-mau") is True
        assert await actions.close_account(conn, "noi-dung-mau") is False
        again = await actions.open_demo_account(conn, "noi-dung-mau", "lan-nua-thoi-" + "y" * 8)
    assert again.id == opened.id and not again.disabled
    token = await site.client.post(
        "/api/v1/auth/token", json={"username": "noi-dung-mau", "password": "mot-lan-thoi-xxxxxxxx"}
    )
    assert token.status == 401  # the earlier password is gone
    async with site.pool.acquire() as conn:
        await actions.close_account(conn, "noi-dung-mau")
