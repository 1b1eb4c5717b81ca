"""Users, passwords and access tokens on the real Postgres, through real aiohttp apps, and
the create_admin command as a process."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

from services.articles import actions, domain, login, passwords, store
from services.articles.config import ArticlesConfig
from services.articles.tokens import AccountDisabledError, TokenIssuer
from services.common import auth, db
from services.common.errors import PROBLEM_JSON, error_middleware
from tests.support import keys
from tests.support.infra import ROOT, Database
from tests.support.keys import KeyPair

PASSWORD = "mật khẩu đủ dài 2024"
ARTICLES_DIR = ROOT / "services" / "articles"


@pytest.fixture(scope="module")
async def articles_dsn(database: Database) -> str:
    dsn = database.dsn("articles")
    await db.migrate(dsn, ARTICLES_DIR)
    return dsn


@pytest.fixture
async def conn(articles_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await db.connect(articles_dsn)
    yield conn
    await conn.close()


@pytest.fixture(scope="module")
async def pool(articles_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(articles_dsn, max_size=2)
    yield pool
    await pool.close()


@pytest.fixture(scope="module")
def key_pair() -> KeyPair:
    return keys.new_keypair()


def new_username() -> str:
    return f"user.{uuid.uuid4().hex[:10]}"


async def stored_hash(conn: asyncpg.Connection, user_id: int) -> str:
    return str(await conn.fetchval("SELECT password_hash FROM users WHERE id = $1", user_id))


# --- users and passwords ------------------------------------------------------------------


async def test_a_new_user_has_an_argon2id_hash_and_a_lower_case_name(
    conn: asyncpg.Connection,
) -> None:
    name = new_username()
    user = await actions.create_user(conn, f"  {name.upper()} ", PASSWORD, roles=["editor"])

    assert (user.username, user.display_name, user.roles) == (name, name, {"editor"})
    assert not user.disabled
    password_hash = await stored_hash(conn, user.id)
    assert password_hash.startswith("$argon2id$")
    assert PASSWORD not in password_hash
    assert await store.get_user(conn, user.id) == user


async def test_usernames_are_unique_whatever_their_case(conn: asyncpg.Connection) -> None:
    name = new_username()
    await actions.create_user(conn, name, PASSWORD, roles=["author"])
    with pytest.raises(domain.UsernameTakenError):
        await actions.create_user(conn, name.upper(), PASSWORD, roles=["admin"])
    assert await conn.fetchval("SELECT count(*) FROM users WHERE username = $1", name) == 1


async def test_a_short_password_is_refused_and_nothing_is_stored(
    conn: asyncpg.Connection,
) -> None:
    name = new_username()
    with pytest.raises(domain.WeakPasswordError, match="ít nhất 10 ký tự"):
        await actions.create_user(conn, name, "ngan-9chr", roles=["author"])
    assert await store.get_user_by_username(conn, name) is None


@pytest.mark.parametrize(
    ("username", "roles", "field"),
    [
        ("ab", ["author"], "username"),
        ("nguyễn", ["author"], "username"),
        ("has space", ["author"], "username"),
        ("x" * 41, ["author"], "username"),
        ("valid.name", [], "roles"),
        ("valid.name", ["root"], "roles"),
    ],
)
async def test_bad_usernames_and_roles_are_refused(
    conn: asyncpg.Connection, username: str, roles: list[str], field: str
) -> None:
    with pytest.raises(domain.UserInputError) as refused:
        await actions.create_user(conn, username, PASSWORD, roles=roles)
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("username", "password_hash", "roles"),
    [
        ("ok.name", "$argon2id$x", []),
        ("ok.name", "$argon2id$x", ["root"]),
        ("ok.name", "$argon2id$x", [None]),
        ("Upper.Case", "$argon2id$x", ["author"]),
        ("ok.name", "plain password", ["author"]),
    ],
)
async def test_the_table_itself_refuses_bad_rows(
    conn: asyncpg.Connection, username: str, password_hash: str, roles: list[str | None]
) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute(
            "INSERT INTO users (username, display_name, password_hash, roles)"
            " VALUES ($1, 'Tên', $2, $3)",
            username,
            password_hash,
            roles,
        )


async def test_authenticate_accepts_only_the_right_password(
    conn: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    name = new_username()
    created = await actions.create_user(conn, name, PASSWORD, roles=["moderator"])

    assert await login.authenticate(pool, f" {name.upper()}", PASSWORD) == created
    assert await login.authenticate(pool, name, PASSWORD + "!") is None
    assert await login.authenticate(pool, name, "") is None
    assert await login.authenticate(pool, new_username(), PASSWORD) is None


async def test_an_unknown_user_still_costs_a_hash_check(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real_check = passwords.matches

    def recording_check(password_hash: str, password: str) -> bool:
        checked.append(password_hash)
        return real_check(password_hash, password)

    monkeypatch.setattr(passwords, "matches", recording_check)
    assert await login.authenticate(pool, new_username(), PASSWORD) is None
    assert len(checked) == 1 and checked[0].startswith("$argon2id$")


async def test_an_outdated_hash_is_upgraded_at_login(
    conn: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    user = await actions.create_user(conn, new_username(), PASSWORD, roles=["author"])
    weak_hash = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user.id, weak_hash)

    assert await login.authenticate(pool, user.username, PASSWORD) is not None

    upgraded = await stored_hash(conn, user.id)
    assert upgraded != weak_hash
    assert not PasswordHasher().check_needs_rehash(upgraded)
    assert await login.authenticate(pool, user.username, PASSWORD) is not None


async def test_a_disabled_user_cannot_sign_in_nor_get_a_token(
    conn: asyncpg.Connection, pool: asyncpg.Pool, key_pair: KeyPair
) -> None:
    user = await actions.create_user(conn, new_username(), PASSWORD, roles=["editor"])
    disabled = await store.set_disabled(conn, user.id, True)

    assert disabled is not None and disabled.disabled
    assert await login.authenticate(pool, user.username, PASSWORD) is None
    with pytest.raises(AccountDisabledError):
        TokenIssuer(key_pair.private_pem).issue(disabled)

    await store.set_disabled(conn, user.id, False)
    assert await login.authenticate(pool, user.username, PASSWORD) is not None


async def test_unknown_ids_are_none(conn: asyncpg.Connection) -> None:
    assert await store.get_user(conn, 2**62) is None
    assert await store.set_disabled(conn, 2**62, True) is None
    assert not await store.is_active(conn, 2**62)


# --- tokens through real aiohttp apps -----------------------------------------------------


@auth.require_role("editor")
async def editor_page(request: web.Request) -> web.Response:
    return web.json_response({"user_id": request[auth.PRINCIPAL].user_id})


def guarded_app(key_pair: KeyPair, active_check: auth.ActiveCheck | None) -> web.Application:
    app = web.Application(middlewares=[error_middleware])
    app[auth.VERIFIER] = auth.TokenVerifier(key_pair.public_pem)
    if active_check is not None:
        app[auth.ACTIVE_CHECK] = active_check
    app.router.add_get("/api/v1/editor", editor_page)
    return app


@pytest.fixture
async def articles_client(
    key_pair: KeyPair, pool: asyncpg.Pool
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """An app set up like articles: it can look the principal's account up at once."""
    async with TestClient(
        TestServer(guarded_app(key_pair, login.active_check(pool, ArticlesConfig().session_limits)))
    ) as client:
        yield client


@pytest.fixture
async def other_client(
    key_pair: KeyPair,
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """An app set up like feedback or counter: the public key and nothing else."""
    async with TestClient(TestServer(guarded_app(key_pair, None))) as client:
        yield client


async def get_editor_page(
    client: TestClient[web.Request, web.Application], token: str, via: str = "bearer"
) -> tuple[int, str, dict[str, object]]:
    if via == "bearer":
        headers = {"Authorization": f"Bearer {token}"}
    else:
        headers = {"Cookie": f"{auth.ACCESS_COOKIE}={token}"}
    async with client.get("/api/v1/editor", headers=headers) as response:
        return response.status, response.content_type, await response.json(content_type=None)


async def signed_in_token(conn: asyncpg.Connection, key_pair: KeyPair, roles: list[str]) -> str:
    user = await actions.create_user(conn, new_username(), PASSWORD, roles=roles)
    return TokenIssuer(key_pair.private_pem).issue(user)[0]


@pytest.mark.parametrize("via", ["bearer", "cookie"])
async def test_a_signed_in_editor_passes_by_bearer_and_by_cookie(
    conn: asyncpg.Connection,
    key_pair: KeyPair,
    articles_client: TestClient[web.Request, web.Application],
    via: str,
) -> None:
    token = await signed_in_token(conn, key_pair, ["editor"])
    status, _, body = await get_editor_page(articles_client, token, via)
    assert status == 200
    assert body["user_id"] == auth.TokenVerifier(key_pair.public_pem).verify(token).user_id


def bad_token(case: str, key_pair: KeyPair) -> str:
    editor = keys.claims(roles=["editor"])
    hour_ago = int(time.time()) - 3600
    if case == "expired":
        return keys.sign(key_pair, keys.claims(roles=["editor"], iat=hour_ago, exp=hour_ago + 600))
    if case == "tampered":
        return keys.tampered(keys.sign(key_pair, keys.claims(roles=["author"])), roles=["admin"])
    if case == "wrong-key":
        return keys.sign(keys.new_keypair(), editor)
    if case == "alg-none":
        return keys.unsigned(editor)
    if case == "hs256-with-public-key":
        return keys.hmac_signed(editor, key_pair.public_pem)
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("expired", "token_expired"),
        ("tampered", "token_invalid"),
        ("wrong-key", "token_invalid"),
        ("alg-none", "token_invalid"),
        ("hs256-with-public-key", "token_invalid"),
    ],
)
async def test_bad_tokens_are_refused_with_problem_json(
    key_pair: KeyPair,
    articles_client: TestClient[web.Request, web.Application],
    case: str,
    code: str,
) -> None:
    status, content_type, body = await get_editor_page(articles_client, bad_token(case, key_pair))
    assert (status, content_type, body["code"]) == (401, PROBLEM_JSON, code)
    assert isinstance(body["detail"], str) and body["detail"]


async def test_a_signed_in_author_is_forbidden_an_editor_page(
    conn: asyncpg.Connection,
    key_pair: KeyPair,
    articles_client: TestClient[web.Request, web.Application],
) -> None:
    token = await signed_in_token(conn, key_pair, ["author", "moderator"])
    status, content_type, body = await get_editor_page(articles_client, token)
    assert (status, content_type, body["code"]) == (403, PROBLEM_JSON, "forbidden")


async def test_an_admin_passes_an_editor_page(
    conn: asyncpg.Connection,
    key_pair: KeyPair,
    articles_client: TestClient[web.Request, web.Application],
) -> None:
    token = await signed_in_token(conn, key_pair, ["admin"])
    assert (await get_editor_page(articles_client, token))[0] == 200


async def test_no_token_is_unauthenticated_with_a_bearer_challenge(
    articles_client: TestClient[web.Request, web.Application],
) -> None:
    async with articles_client.get("/api/v1/editor") as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert (await response.json(content_type=PROBLEM_JSON))["code"] == "unauthenticated"


async def test_disabling_a_user_ends_their_current_token_in_articles_at_once(
    conn: asyncpg.Connection,
    key_pair: KeyPair,
    articles_client: TestClient[web.Request, web.Application],
    other_client: TestClient[web.Request, web.Application],
) -> None:
    token = await signed_in_token(conn, key_pair, ["editor"])
    user_id = auth.TokenVerifier(key_pair.public_pem).verify(token).user_id
    assert (await get_editor_page(articles_client, token))[0] == 200

    await store.set_disabled(conn, user_id, True)

    status, content_type, body = await get_editor_page(articles_client, token, "cookie")
    assert (status, content_type, body["code"]) == (401, PROBLEM_JSON, "account_disabled")
    # Services without the users table cannot tell; the short token lifetime bounds this.
    assert (await get_editor_page(other_client, token))[0] == 200


# --- the create_admin command -------------------------------------------------------------


async def run_create_admin(
    database: Database, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BANTIN_ADMIN_")}
    environment |= {"ARTICLES_DATABASE_URL": database.dsn("articles")} | (env or {})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.articles.create_admin",
        *args,
        cwd=ROOT,
        env=environment,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_create_admin_makes_an_admin_once(
    database: Database, conn: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    name = new_username()
    password_env = {"BANTIN_ADMIN_PASSWORD": PASSWORD}

    code, out, err = await run_create_admin(
        database, "--username", name, "--display-name", "Quản trị viên", env=password_env
    )

    assert (code, err) == (0, "")
    assert name in out and PASSWORD not in out
    admin = await store.get_user_by_username(conn, name)
    assert admin is not None
    assert (admin.roles, admin.display_name) == ({"admin"}, "Quản trị viên")
    # Its password sits in settings: its owner must choose their own at the first sign-in.
    assert admin.must_change_password
    assert await login.authenticate(pool, name, PASSWORD) == admin
    hash_before = await stored_hash(conn, admin.id)

    code, out, err = await run_create_admin(
        database, env={"BANTIN_ADMIN_USERNAME": name, "BANTIN_ADMIN_PASSWORD": "khac-han-roi-nhe"}
    )

    assert code != 0
    assert "đã tồn tại" in err and "khac-han-roi-nhe" not in out + err
    assert await store.get_user_by_username(conn, name) == admin
    assert await stored_hash(conn, admin.id) == hash_before

    # The start-up job form: runs on every start, succeeds, changes nothing.
    code, out, err = await run_create_admin(
        database,
        "--if-missing",
        env={"BANTIN_ADMIN_USERNAME": name, "BANTIN_ADMIN_PASSWORD": "khac-han-roi-nhe"},
    )
    assert code == 0
    assert "đã tồn tại" in err
    assert await stored_hash(conn, admin.id) == hash_before


async def test_create_admin_takes_the_password_from_the_file_compose_generated(
    database: Database, conn: asyncpg.Connection, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    name = new_username()
    secret_file = tmp_path / "bantin-admin-password"
    secret_file.write_text(PASSWORD + "\n")  # the generator's trailing line break
    env = {"BANTIN_ADMIN_USERNAME": name, "BANTIN_ADMIN_PASSWORD_FILE": str(secret_file)}

    code, out, err = await run_create_admin(database, "--if-missing", env=env)

    assert (code, err) == (0, "")
    assert PASSWORD not in out
    admin = await store.get_user_by_username(conn, name)
    assert admin is not None and admin.must_change_password
    assert await login.authenticate(pool, name, PASSWORD) == admin


async def test_create_admin_names_an_unreadable_password_file_and_creates_nothing(
    database: Database, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    name = new_username()
    missing = tmp_path / "nowhere"
    env = {"BANTIN_ADMIN_USERNAME": name, "BANTIN_ADMIN_PASSWORD_FILE": str(missing)}

    code, _, err = await run_create_admin(database, "--if-missing", env=env)

    assert code == 1
    assert "BANTIN_ADMIN_PASSWORD_FILE" in err and str(missing) in err
    assert await store.get_user_by_username(conn, name) is None


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--username", "short.pw"], {"BANTIN_ADMIN_PASSWORD": "ngan"}),
        (["--username", "no.password"], {}),
        ([], {"BANTIN_ADMIN_PASSWORD": PASSWORD}),
        (["--username", "bad name!"], {"BANTIN_ADMIN_PASSWORD": PASSWORD}),
    ],
    ids=["short-password", "no-password", "no-username", "bad-username"],
)
async def test_create_admin_refuses_bad_input_and_creates_nothing(
    database: Database, conn: asyncpg.Connection, args: list[str], env: dict[str, str]
) -> None:
    count_before = await conn.fetchval("SELECT count(*) FROM users")
    code, _, err = await run_create_admin(database, *args, env=env)
    assert code == 1
    assert err.startswith("Lỗi:")
    assert await conn.fetchval("SELECT count(*) FROM users") == count_before
