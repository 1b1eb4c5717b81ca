"""The user administration API of the articles service, on the real Postgres: admins only;
creating, listing and changing users; a disabled or demoted user's token refused at once;
never a site without an enabled admin; bad input changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from services.articles import store
from tests.support.articles import PASSWORD, Account, Site, running_site

NEW_PASSWORD = "mật khẩu mới cũng đủ dài"


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[Site]:
    async with running_site() as harness:
        yield harness


@pytest.fixture(autouse=True)
async def signed_out_and_unthrottled(site: Site) -> None:
    site.client.session.cookie_jar.clear()
    await site.pool.execute("DELETE FROM login_throttle")


async def problem(response: aiohttp.ClientResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    body = dict(await response.json())
    assert body["code"] == code, body
    return body


def new_name() -> str:
    return f"bien.tap.{uuid.uuid4().hex[:8]}"


async def create(site: Site, body: dict[str, Any], as_: Account | None = None) -> Any:
    headers = (as_ or site.accounts["admin"]).headers
    return await site.client.post("/api/v1/users", json=body, headers=headers)


async def patch(site: Site, user_id: int, body: dict[str, Any], as_: Account | None = None) -> Any:
    headers = (as_ or site.accounts["admin"]).headers
    return await site.client.patch(f"/api/v1/users/{user_id}", json=body, headers=headers)


async def sign_in(site: Site, username: str, password: str = PASSWORD) -> aiohttp.ClientResponse:
    return await site.client.post(
        "/api/v1/auth/token", json={"username": username, "password": password}
    )


OWN_PASSWORD = "mật khẩu của riêng tôi 2026"


async def token_of(site: Site, username: str, password: str = PASSWORD) -> dict[str, str]:
    """A token for the user; at the first sign-in of an account an admin made, its owner
    first chooses their own password (OWN_PASSWORD), as a person would."""
    response = await sign_in(site, username, password)
    if response.status == 403:
        await problem(response, 403, "password_change_required")
        change = {"username": username, "current_password": password, "new_password": OWN_PASSWORD}
        changed = await site.client.post("/api/v1/auth/password", json=change)
        assert changed.status == 204, await changed.text()
        response = await sign_in(site, username, OWN_PASSWORD)
    assert response.status == 200, await response.text()
    return {"Authorization": f"Bearer {(await response.json())['access_token']}"}


async def new_category(site: Site, headers: dict[str, str]) -> aiohttp.ClientResponse:
    name = f"Chuyên mục {uuid.uuid4().hex[:6]}"
    return await site.client.post("/api/v1/categories", json={"name": name}, headers=headers)


async def row(site: Site, user_id: int) -> Any:
    return await site.pool.fetchrow(
        "SELECT display_name, roles, disabled, password_hash FROM users WHERE id = $1", user_id
    )


async def user_count(site: Site) -> int:
    return int(await site.pool.fetchval("SELECT count(*) FROM users"))


# --- who may ------------------------------------------------------------------------------


async def test_only_admins_manage_users(site: Site) -> None:
    target = site.accounts["author"].user.id
    body = {"username": new_name(), "password": PASSWORD, "roles": ["editor"]}
    before = await user_count(site)
    calls = [
        ("GET", "/api/v1/users", None),
        ("GET", f"/api/v1/users/{target}", None),
        ("POST", "/api/v1/users", body),
        ("PATCH", f"/api/v1/users/{target}", {"roles": ["admin"]}),
    ]
    for method, path, json_body in calls:
        response = await site.client.request(method, path, json=json_body)
        await problem(response, 401, "unauthenticated")
        for role in ("editor", "author", "moderator"):
            response = await site.client.request(
                method, path, json=json_body, headers=site.auth(role)
            )
            await problem(response, 403, "forbidden")
    assert await user_count(site) == before
    assert (await row(site, target))["roles"] == ["author"]


# --- create and list ----------------------------------------------------------------------


async def test_an_admin_creates_a_user_who_can_then_sign_in(site: Site) -> None:
    name = new_name()
    response = await create(
        site,
        {
            "username": f"  {name.upper()} ",
            "password": PASSWORD,
            "display_name": " Lê Thị Biên Tập ",
            "roles": ["editor", "moderator"],
        },
    )
    assert response.status == 201, await response.text()
    created = await response.json()
    assert response.headers["Location"] == f"/api/v1/users/{created['id']}"
    assert response.headers["Cache-Control"] == "no-store"
    assert {k: created[k] for k in ("username", "display_name", "roles", "disabled")} == {
        "username": name,
        "display_name": "Lê Thị Biên Tập",
        "roles": ["editor", "moderator"],
        "disabled": False,
    }
    assert created["created_at"].endswith("+07:00")
    # The admin chose the password: no token until its owner chooses their own.
    assert created["must_change_password"] is True
    await problem(await sign_in(site, name), 403, "password_change_required")

    headers = await token_of(site, name)
    assert (await new_category(site, headers)).status == 201
    shown = await site.client.get(f"/api/v1/users/{created['id']}", headers=site.auth("admin"))
    assert await shown.json() == created | {
        "must_change_password": False,
        "updated_at": (await shown.json())["updated_at"],
    }

    again = await create(site, {"username": name, "password": PASSWORD, "roles": ["author"]})
    await problem(again, 409, "username_taken")


async def test_the_list_has_every_user_and_never_a_password_hash(site: Site) -> None:
    name = new_name()
    await create(site, {"username": name, "password": PASSWORD, "roles": ["author"]})
    response = await site.client.get("/api/v1/users", headers=site.auth("admin"))
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    text = await response.text()
    assert "argon2" not in text and PASSWORD not in text
    items = (await response.json())["items"]
    assert len(items) == await user_count(site)
    listed = {u["username"]: u for u in items}
    assert listed[name]["roles"] == ["author"]
    assert listed[site.accounts["editor"].user.username]["roles"] == ["editor"]
    for user in items:
        assert set(user) == {
            "id",
            "username",
            "display_name",
            "roles",
            "disabled",
            "must_change_password",
            "created_at",
            "updated_at",
        }


# --- changes ------------------------------------------------------------------------------


async def test_a_disabled_user_is_out_at_once_and_cannot_sign_in(site: Site) -> None:
    editor = await site.new_account("editor")
    assert (await new_category(site, editor.headers)).status == 201

    response = await patch(site, editor.user.id, {"disabled": True})
    assert response.status == 200
    assert (await response.json())["disabled"] is True

    await problem(await new_category(site, editor.headers), 401, "account_disabled")
    await problem(await sign_in(site, editor.user.username), 401, "invalid_credentials")

    assert (await patch(site, editor.user.id, {"disabled": False})).status == 200
    assert (await new_category(site, await token_of(site, editor.user.username))).status == 201


async def test_a_role_taken_away_is_gone_at_once(site: Site) -> None:
    editor = await site.new_account("editor")
    response = await patch(site, editor.user.id, {"roles": ["author"]})
    assert response.status == 200
    assert (await response.json())["roles"] == ["author"]

    # The old token still says "editor": refused now, not when it expires.
    await problem(await new_category(site, editor.headers), 401, "account_disabled")
    as_author = await token_of(site, editor.user.username)
    await problem(await new_category(site, as_author), 403, "forbidden")

    # A role given is used from the next sign-in; the current token keeps working.
    assert (await patch(site, editor.user.id, {"roles": ["author", "editor"]})).status == 200
    await problem(await new_category(site, as_author), 403, "forbidden")
    assert (await new_category(site, await token_of(site, editor.user.username))).status == 201


async def test_an_admin_changes_a_name_and_a_password(site: Site) -> None:
    author = await site.new_account("author")
    response = await patch(
        site, author.user.id, {"display_name": "Trần Văn Mới", "password": NEW_PASSWORD}
    )
    assert response.status == 200
    assert (await response.json())["display_name"] == "Trần Văn Mới"
    await problem(await sign_in(site, author.user.username), 401, "invalid_credentials")
    # An admin's reset: the owner must choose their own before any token.
    refused = await sign_in(site, author.user.username, NEW_PASSWORD)
    await problem(refused, 403, "password_change_required")
    assert (await token_of(site, author.user.username, NEW_PASSWORD))["Authorization"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"display_name": "Tên mới", "roles": ["root"]}, ["roles.0"]),
        ({"display_name": "Tên mới", "roles": []}, ["roles"]),
        ({"display_name": "Tên mới", "password": "ngắn"}, ["password"]),
        ({"display_name": "   ", "disabled": True}, ["display_name"]),
        ({"display_name": "Tên mới", "disabled": "yes"}, ["disabled"]),
        ({"display_name": "Tên mới", "password_hash": "$argon2id$x"}, ["(toàn bộ)"]),
        ({}, ["(toàn bộ)"]),
    ],
)
async def test_a_bad_change_is_422_and_changes_nothing(
    site: Site, body: dict[str, Any], fields: list[str]
) -> None:
    author = site.accounts["author"].user
    before = await row(site, author.id)
    refused = await problem(await patch(site, author.id, body), 422, "invalid_input")
    assert [e["field"] for e in refused["errors"]] == fields
    assert await row(site, author.id) == before


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"username": "ab", "password": PASSWORD, "roles": ["author"]}, ["username"]),
        ({"username": "có dấu", "password": PASSWORD, "roles": ["author"]}, ["username"]),
        ({"username": new_name(), "password": "ngắn", "roles": ["author"]}, ["password"]),
        ({"username": new_name(), "password": PASSWORD, "roles": ["root"]}, ["roles.0"]),
        ({"username": new_name(), "password": PASSWORD}, ["roles"]),
        (
            {"username": new_name(), "password": PASSWORD, "roles": ["author"], "admin": True},
            ["(toàn bộ)"],
        ),
    ],
)
async def test_a_bad_new_user_is_422_and_nothing_is_created(
    site: Site, body: dict[str, Any], fields: list[str]
) -> None:
    before = await user_count(site)
    refused = await problem(await create(site, body), 422, "invalid_input")
    assert [e["field"] for e in refused["errors"]] == fields
    assert await user_count(site) == before


async def test_unknown_users_are_404(site: Site) -> None:
    await problem(await patch(site, 2**62, {"disabled": True}), 404, "user_not_found")
    missing = await site.client.get("/api/v1/users/999999999", headers=site.auth("admin"))
    await problem(missing, 404, "user_not_found")


# --- never without an admin ---------------------------------------------------------------


@pytest.fixture
async def only_admin(site: Site) -> AsyncIterator[Account]:
    """A new admin, with every other admin disabled for the test (enabled again after)."""
    admin = await site.new_account("admin")
    others = [
        r["id"]
        for r in await site.pool.fetch(
            """UPDATE users SET disabled = true
                WHERE roles @> ARRAY['admin'] AND NOT disabled AND id <> $1 RETURNING id""",
            admin.user.id,
        )
    ]
    yield admin
    await site.pool.execute(
        "UPDATE users SET disabled = false WHERE id = ANY($1::bigint[])", others
    )


async def enabled_admins(site: Site) -> list[int]:
    rows = await site.pool.fetch(
        "SELECT id FROM users WHERE roles @> ARRAY['admin'] AND NOT disabled ORDER BY id"
    )
    return [r["id"] for r in rows]


async def test_the_last_admin_can_be_neither_disabled_nor_demoted(
    site: Site, only_admin: Account
) -> None:
    me = only_admin.user.id
    for change in (
        {"disabled": True},
        {"roles": ["editor"]},
        {"roles": ["editor"], "disabled": True},
    ):
        body = await problem(await patch(site, me, change, as_=only_admin), 409, "last_admin")
        assert "quản trị viên cuối cùng" in body["detail"]
    assert await enabled_admins(site) == [me]
    assert (await row(site, me))["roles"] == ["admin"]

    # With a second admin, stepping down is fine; the second is now the last one.
    response = await create(
        site, {"username": new_name(), "password": PASSWORD, "roles": ["admin"]}, as_=only_admin
    )
    second = (await response.json())["id"]
    assert (await patch(site, me, {"roles": ["editor"]}, as_=only_admin)).status == 200
    second_admin = await token_of(site, (await response.json())["username"])
    refused = await site.client.patch(
        f"/api/v1/users/{second}", json={"disabled": True}, headers=second_admin
    )
    await problem(refused, 409, "last_admin")
    assert await enabled_admins(site) == [second]
    # An enabled admin who is not the last may be disabled by another admin.
    assert (
        await site.client.patch(
            f"/api/v1/users/{me}", json={"roles": ["admin"]}, headers=second_admin
        )
    ).status == 200
    assert (
        await site.client.patch(
            f"/api/v1/users/{me}", json={"disabled": True}, headers=second_admin
        )
    ).status == 200
    assert await enabled_admins(site) == [second]
    # Let the fixture's clean-up leave the usual admins in charge.
    await site.pool.execute("UPDATE users SET disabled = true WHERE id = $1", second)


async def test_two_admins_removing_each_other_at_once_leave_one(
    site: Site, only_admin: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_count = store.enabled_admins
    arrived: list[None] = []
    both_written = asyncio.Event()

    async def late_count(conn: Any) -> int:
        # Widens the race: each change waits (a while at most) for the other to be
        # written before it checks, as can happen by chance; only serialising the changes
        # keeps an admin then.
        arrived.append(None)
        if len(arrived) == 2:
            both_written.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(both_written.wait(), timeout=1.0)
        return await real_count(conn)

    monkeypatch.setattr(store, "enabled_admins", late_count)
    second = await site.new_account("admin")
    first = only_admin
    answers = await asyncio.gather(
        patch(site, second.user.id, {"disabled": True}, as_=first),
        patch(site, first.user.id, {"disabled": True}, as_=second),
    )
    statuses = sorted(r.status for r in answers)
    # The second request waits for the first: then it is the last admin's own change
    # (409), or its sender was the one disabled and is refused as such (401).
    assert statuses in ([200, 401], [200, 409]), statuses
    assert len(await enabled_admins(site)) == 1
    await site.pool.execute(
        "UPDATE users SET disabled = true WHERE id = ANY($1::bigint[])",
        [first.user.id, second.user.id],
    )
