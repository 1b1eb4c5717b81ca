"""Access tokens without I/O: minting (articles), verifying (every service), and the
require_role guard rendered through error_middleware on mocked requests."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.articles.domain import User
from services.articles.tokens import (
    MAX_TTL_SECONDS,
    AccountDisabledError,
    TokenIssuer,
    ttl_from_env,
)
from services.common import auth
from services.common.config import ConfigError
from services.common.errors import PROBLEM_JSON, error_middleware
from tests.support import keys
from tests.support.keys import KeyPair


@pytest.fixture(scope="module")
def key_pair() -> KeyPair:
    return keys.new_keypair()


@pytest.fixture(scope="module")
def verifier(key_pair: KeyPair) -> auth.TokenVerifier:
    return auth.TokenVerifier(key_pair.public_pem)


def make_user(roles: Iterable[str] = ("editor",), disabled: bool = False) -> User:
    now = datetime.now(UTC)
    return User(42, "bien.tap", "Biên Tập Viên", frozenset(roles), disabled, now, now)


# --- minting and verifying ---------------------------------------------------------------


def test_a_token_issued_for_a_user_verifies_to_that_user(
    key_pair: KeyPair, verifier: auth.TokenVerifier
) -> None:
    token, expires_at = TokenIssuer(key_pair.private_pem).issue(make_user({"editor", "author"}))

    principal = verifier.verify(token)

    assert principal == auth.Principal(
        42, "Biên Tập Viên", frozenset({"editor", "author"}), expires_at
    )
    assert timedelta(seconds=595) < expires_at - datetime.now(UTC) <= timedelta(seconds=600)


def test_each_token_has_its_own_id_and_every_required_claim(key_pair: KeyPair) -> None:
    issuer = TokenIssuer(key_pair.private_pem, ttl_seconds=60)
    first = jwt.decode(issuer.issue(make_user())[0], options={"verify_signature": False})
    second = jwt.decode(issuer.issue(make_user())[0], options={"verify_signature": False})
    assert set(auth.REQUIRED_CLAIMS) | {"name", "roles"} <= set(first)
    assert first["jti"] != second["jti"]
    assert (first["iss"], first["aud"], first["sub"]) == ("bantin-articles", "bantin", "42")
    assert first["exp"] - first["iat"] == 60


def test_an_expired_token_is_refused_as_expired(
    key_pair: KeyPair, verifier: auth.TokenVerifier
) -> None:
    eleven_minutes_ago = datetime.now(UTC) - timedelta(minutes=11)
    token, _ = TokenIssuer(key_pair.private_pem).issue(make_user(), now=eleven_minutes_ago)
    with pytest.raises(auth.TokenExpiredError):
        verifier.verify(token)


def test_a_small_clock_difference_is_tolerated(
    key_pair: KeyPair, verifier: auth.TokenVerifier
) -> None:
    just_expired = keys.sign(key_pair, keys.claims(exp=int(datetime.now(UTC).timestamp()) - 3))
    assert verifier.verify(just_expired).user_id == 7
    from_the_future = keys.sign(key_pair, keys.claims(iat=int(datetime.now(UTC).timestamp()) + 60))
    with pytest.raises(auth.TokenError):
        verifier.verify(from_the_future)


def test_a_token_with_an_edited_payload_is_refused(
    key_pair: KeyPair, verifier: auth.TokenVerifier
) -> None:
    token = keys.sign(key_pair, keys.claims(roles=["author"]))
    with pytest.raises(auth.TokenError) as refused:
        verifier.verify(keys.tampered(token, roles=["admin"]))
    assert not isinstance(refused.value, auth.TokenExpiredError)


def test_a_token_signed_by_another_key_is_refused(verifier: auth.TokenVerifier) -> None:
    forged = keys.sign(keys.new_keypair(), keys.claims(roles=["admin"]))
    with pytest.raises(auth.TokenError):
        verifier.verify(forged)


def test_an_unsigned_alg_none_token_is_refused(verifier: auth.TokenVerifier) -> None:
    with pytest.raises(auth.TokenError):
        verifier.verify(keys.unsigned(keys.claims(roles=["admin"])))


def test_an_hmac_token_keyed_with_the_public_key_is_refused(
    key_pair: KeyPair, verifier: auth.TokenVerifier
) -> None:
    forged = keys.hmac_signed(keys.claims(roles=["admin"]), key_pair.public_pem)
    with pytest.raises(auth.TokenError):
        verifier.verify(forged)


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "iss", "aud", "jti", "name", "roles"])
def test_a_token_missing_a_claim_is_refused(
    key_pair: KeyPair, verifier: auth.TokenVerifier, claim: str
) -> None:
    removed: dict[str, Any] = {claim: None}
    with pytest.raises(auth.TokenError):
        verifier.verify(keys.sign(key_pair, keys.claims(**removed)))


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "bantin-feedback"},
        {"aud": "another-site"},
        {"sub": "admin"},
        {"roles": "admin"},
        {"roles": []},
        {"roles": ["root"]},
        {"name": 5},
    ],
    ids=repr,
)
def test_a_token_with_wrong_claims_is_refused(
    key_pair: KeyPair, verifier: auth.TokenVerifier, changes: dict[str, Any]
) -> None:
    with pytest.raises(auth.TokenError):
        verifier.verify(keys.sign(key_pair, keys.claims(**changes)))


def test_an_oversized_token_is_refused_before_parsing(verifier: auth.TokenVerifier) -> None:
    with pytest.raises(auth.TokenError, match="too long"):
        verifier.verify("a" * (auth.MAX_TOKEN_LENGTH + 1))


def test_the_verifier_takes_only_an_ed25519_public_key(key_pair: KeyPair) -> None:
    # Services get the public key only; handing one the private key is a deployment mistake.
    with pytest.raises(ValueError):
        auth.TokenVerifier(key_pair.private_pem)
    rsa_public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    rsa_pem = rsa_public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with pytest.raises(ValueError, match="Ed25519"):
        auth.TokenVerifier(rsa_pem)
    assert not {"issue", "sign", "encode", "mint"} & set(dir(auth.TokenVerifier))


def test_the_issuer_refuses_a_disabled_user(key_pair: KeyPair) -> None:
    with pytest.raises(AccountDisabledError):
        TokenIssuer(key_pair.private_pem).issue(make_user(disabled=True))


@pytest.mark.parametrize("ttl", [0, -5, MAX_TTL_SECONDS + 1, 86400 * 30])
def test_the_issuer_refuses_a_lifetime_out_of_bounds(key_pair: KeyPair, ttl: int) -> None:
    with pytest.raises(ValueError):
        TokenIssuer(key_pair.private_pem, ttl_seconds=ttl)


@pytest.mark.parametrize(("raw", "expected"), [(None, 600), ("120", 120), ("86400", 3600)])
def test_the_lifetime_comes_from_the_environment_capped_at_an_hour(
    monkeypatch: pytest.MonkeyPatch, raw: str | None, expected: int
) -> None:
    if raw is None:
        monkeypatch.delenv("ACCESS_TOKEN_TTL_SECONDS", raising=False)
    else:
        monkeypatch.setenv("ACCESS_TOKEN_TTL_SECONDS", raw)
    assert ttl_from_env() == expected


@pytest.mark.parametrize("raw", ["0", "-1", "ten"])
def test_a_bad_lifetime_setting_stops_start_up(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("ACCESS_TOKEN_TTL_SECONDS", raw)
    with pytest.raises(ConfigError):
        ttl_from_env()


def test_the_issuer_reads_its_key_and_lifetime_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, key_pair: KeyPair, verifier: auth.TokenVerifier
) -> None:
    monkeypatch.delenv("AUTH_PRIVATE_KEY", raising=False)
    monkeypatch.delenv("AUTH_PRIVATE_KEY_FILE", raising=False)
    with pytest.raises(ConfigError):
        TokenIssuer.from_env()
    monkeypatch.setenv("AUTH_PRIVATE_KEY", key_pair.private_pem.replace("\n", "\\n"))
    monkeypatch.setenv("ACCESS_TOKEN_TTL_SECONDS", "300")
    issuer = TokenIssuer.from_env()
    assert issuer.ttl == timedelta(seconds=300)
    assert verifier.verify(issuer.issue(make_user())[0]).user_id == 42


def test_admin_passes_every_role_check() -> None:
    expires = datetime.now(UTC)
    admin = auth.Principal(1, "Quản trị", frozenset({"admin"}), expires)
    author = auth.Principal(2, "Tác giả", frozenset({"author"}), expires)
    assert admin.has_role("moderator") and admin.has_role("editor", "author")
    assert author.has_role("editor", "author")
    assert not author.has_role("editor")


# --- require_role through error_middleware ------------------------------------------------


@auth.require_role("editor")
async def editor_only(request: web.Request) -> web.Response:
    principal = request[auth.PRINCIPAL]
    return web.json_response({"user_id": principal.user_id, "roles": sorted(principal.roles)})


def app_for(key_pair: KeyPair, active_check: auth.ActiveCheck | None = None) -> web.Application:
    app = web.Application()
    app[auth.VERIFIER] = auth.TokenVerifier(key_pair.public_pem)
    if active_check is not None:
        app[auth.ACTIVE_CHECK] = active_check
    return app


async def call_editor_only(app: web.Application, headers: dict[str, str]) -> web.Response:
    request = make_mocked_request("GET", "/api/v1/probe", headers=headers, app=app)
    response = await error_middleware(request, editor_only)
    assert isinstance(response, web.Response)
    return response


def problem_code(response: web.Response) -> str:
    assert response.content_type == PROBLEM_JSON
    assert isinstance(response.text, str)
    body = json.loads(response.text)
    assert body["status"] == response.status
    return str(body["code"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_an_editor_token_passes_by_bearer_and_by_cookie(key_pair: KeyPair) -> None:
    token = keys.sign(key_pair, keys.claims(user_id=9, roles=["editor"]))
    app = app_for(key_pair)
    for headers in (bearer(token), {"Cookie": f"{auth.ACCESS_COOKIE}={token}"}):
        response = await call_editor_only(app, headers)
        assert response.status == 200
        assert isinstance(response.text, str)
        assert json.loads(response.text) == {"user_id": 9, "roles": ["editor"]}


async def test_an_admin_token_passes_an_editor_check(key_pair: KeyPair) -> None:
    token = keys.sign(key_pair, keys.claims(roles=["admin"]))
    assert (await call_editor_only(app_for(key_pair), bearer(token))).status == 200


async def test_the_bearer_header_wins_over_the_cookie(key_pair: KeyPair) -> None:
    good = keys.sign(key_pair, keys.claims(roles=["editor"]))
    headers = bearer("not-a-token") | {"Cookie": f"{auth.ACCESS_COOKIE}={good}"}
    response = await call_editor_only(app_for(key_pair), headers)
    assert (response.status, problem_code(response)) == (401, "token_invalid")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}],
    ids=["nothing", "basic", "empty-bearer"],
)
async def test_no_token_is_unauthenticated(key_pair: KeyPair, headers: dict[str, str]) -> None:
    response = await call_editor_only(app_for(key_pair), headers)
    assert (response.status, problem_code(response)) == (401, "unauthenticated")
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_bad_tokens_get_401_with_their_code(key_pair: KeyPair) -> None:
    long_ago = int((datetime.now(UTC) - timedelta(hours=1)).timestamp())
    editor = keys.claims(roles=["editor"])
    cases = {
        "token_expired": keys.sign(key_pair, keys.claims(iat=long_ago, exp=long_ago + 600)),
        "token_invalid": keys.tampered(keys.sign(key_pair, editor), sub="1"),
    }
    app = app_for(key_pair)
    for code, token in cases.items():
        response = await call_editor_only(app, bearer(token))
        assert (response.status, problem_code(response)) == (401, code)
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    for forged in (keys.sign(keys.new_keypair(), editor), keys.unsigned(editor)):
        response = await call_editor_only(app, bearer(forged))
        assert (response.status, problem_code(response)) == (401, "token_invalid")


async def test_a_wrong_role_is_forbidden(key_pair: KeyPair) -> None:
    token = keys.sign(key_pair, keys.claims(roles=["author", "moderator"]))
    response = await call_editor_only(app_for(key_pair), bearer(token))
    assert (response.status, problem_code(response)) == (403, "forbidden")
    assert isinstance(response.text, str)
    assert "quyền" in json.loads(response.text)["detail"]


async def test_an_inactive_account_is_refused_where_the_service_can_tell(
    key_pair: KeyPair,
) -> None:
    asked: list[int] = []

    async def only_user_9_is_active(principal: auth.Principal) -> bool:
        asked.append(principal.user_id)
        return principal.user_id == 9

    app = app_for(key_pair, only_user_9_is_active)
    refused = await call_editor_only(app, bearer(keys.sign(key_pair, keys.claims(user_id=8))))
    allowed = await call_editor_only(app, bearer(keys.sign(key_pair, keys.claims(user_id=9))))
    assert (refused.status, problem_code(refused)) == (401, "account_disabled")
    assert allowed.status == 200
    assert asked == [8, 9]


def test_a_misspelt_role_fails_when_the_guard_is_declared() -> None:
    with pytest.raises(ValueError, match="editors"):
        auth.require_role("editors")


# --- keys ---------------------------------------------------------------------------------


def test_keygen_writes_a_working_pair_with_a_private_file_mode(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    assert auth.main(["keygen", "--out", str(out)]) == 0

    private_pem = (out / "auth_private.pem").read_text()
    public_pem = (out / "auth_public.pem").read_text()
    assert stat.S_IMODE((out / "auth_private.pem").stat().st_mode) == 0o600
    token, _ = TokenIssuer(private_pem).issue(make_user())
    assert auth.TokenVerifier(public_pem).verify(token).user_id == 42


def test_keygen_never_overwrites_a_key(tmp_path: Path) -> None:
    assert auth.main(["keygen", "--out", str(tmp_path)]) == 0
    before = (tmp_path / "auth_private.pem").read_text()
    assert auth.main(["keygen", "--out", str(tmp_path)]) == 1
    assert (tmp_path / "auth_private.pem").read_text() == before


def test_keygen_can_keep_the_public_key_apart_and_keep_an_existing_pair(tmp_path: Path) -> None:
    private_dir, public_dir = tmp_path / "private", tmp_path / "public"
    args = ["keygen", "--out", str(private_dir), "--public-out", str(public_dir), "--keep"]
    assert auth.main(args) == 0
    assert sorted(p.name for p in private_dir.iterdir()) == ["auth_private.pem"]
    assert sorted(p.name for p in public_dir.iterdir()) == ["auth_public.pem"]
    before = (private_dir / "auth_private.pem").read_text()
    assert auth.main(args) == 0  # a restart of the one-shot job
    assert (private_dir / "auth_private.pem").read_text() == before
