"""Access tokens, verified (DESIGN rule 8): articles signs short-lived EdDSA (Ed25519) JWTs
with its private key; every service checks them here with the public key only. Nothing in
this module can mint a token.

    python -m services.common.auth keygen --out DIR   # writes auth_private.pem, auth_public.pem
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.common.errors import Problem
from services.common.roles import ROLES, Principal

ISSUER = "bantin-articles"
AUDIENCE = "bantin"
ALGORITHM = "EdDSA"
# Two HttpOnly cookies in a signed-in browser: the sign-in session (an opaque, revocable
# secret only articles can read, which renews the access token) and the short-lived
# access token itself, which every service verifies.
SESSION_COOKIE = "bantin_session"
ACCESS_COOKIE = "bantin_access"
# The claim naming the sign-in session a token was renewed from (its row id, not its secret).
SESSION_CLAIM = "sid"
# Tolerates small clock differences between the signing and the verifying machine.
LEEWAY_SECONDS = 10
# A real token is a few hundred bytes; refusing huge ones early keeps parsing cheap.
MAX_TOKEN_LENGTH = 4096
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud", "jti"]
PRIVATE_KEY_FILE = "auth_private.pem"
PUBLIC_KEY_FILE = "auth_public.pem"


class TokenError(Exception):
    """A token that cannot be trusted: malformed, tampered, signed by another key, or
    missing a claim."""


class TokenExpiredError(TokenError):
    """A token that was valid but whose lifetime is over."""


class TokenVerifier:
    """Checks tokens against the articles service's public key."""

    def __init__(self, public_key_pem: str) -> None:
        key = serialization.load_pem_public_key(public_key_pem.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the token verification key must be an Ed25519 public key")
        self._public_key = key

    def verify(self, token: str) -> Principal:
        """The principal a valid token names; TokenError (or TokenExpiredError) otherwise."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenError("token too long")
        try:
            claims = jwt.decode(
                token,
                self._public_key,
                # Only EdDSA: never "none", never HS* (a public key used as an HMAC secret).
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpiredError("token expired") from exc
        except jwt.PyJWTError as exc:
            raise TokenError(f"token rejected: {type(exc).__name__}") from exc
        return _principal_from_claims(claims)


def _principal_from_claims(claims: dict[str, Any]) -> Principal:
    subject, name, roles = claims["sub"], claims.get("name"), claims.get("roles")
    if not (isinstance(subject, str) and subject.isascii() and subject.isdigit()):
        raise TokenError("sub is not a user id")
    if not isinstance(name, str):
        raise TokenError("name missing")
    if not (isinstance(roles, list) and roles and set(roles) <= ROLES):
        raise TokenError("roles missing or unknown")
    session = claims.get(SESSION_CLAIM)
    if session is not None and not (
        isinstance(session, str) and session.isascii() and session.isdigit()
    ):
        raise TokenError("sid is not a session id")
    return Principal(
        user_id=int(subject),
        name=name,
        roles=frozenset(roles),
        expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        session_id=int(session) if session is not None else None,
    )


# Set by a service that can tell at once whether the principal's account is still usable
# (articles owns the users table); the others rely on the short token lifetime instead.
ActiveCheck = Callable[[Principal], Awaitable[bool]]

VERIFIER = web.AppKey("verifier", TokenVerifier)
ACTIVE_CHECK = web.AppKey[ActiveCheck]("active_check")
PRINCIPAL = web.RequestKey("principal", Principal)


def _unauthorized(code: str, detail: str, bearer_error: str | None = None) -> Problem:
    challenge = f'Bearer error="{bearer_error}"' if bearer_error else "Bearer"
    return Problem(401, code, detail, headers={"WWW-Authenticate": challenge})


def bearer_token(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer ...` header, if the request has one."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def token_from_request(request: web.Request) -> str | None:
    """The bearer token from the Authorization header, else the access token cookie."""
    return bearer_token(request) or request.cookies.get(ACCESS_COOKIE) or None


async def principal_from_request(request: web.Request) -> Principal:
    """The request's verified principal (cached on the request); a 401 Problem otherwise."""
    if PRINCIPAL in request:
        return request[PRINCIPAL]
    token = token_from_request(request)
    if token is None:
        raise _unauthorized("unauthenticated", "Bạn cần đăng nhập để thực hiện thao tác này.")
    try:
        principal = request.config_dict[VERIFIER].verify(token)
    except TokenExpiredError as exc:
        raise _unauthorized(
            "token_expired",
            "Phiên đăng nhập đã hết hạn, xin vui lòng đăng nhập lại.",
            "invalid_token",
        ) from exc
    except TokenError as exc:
        raise _unauthorized(
            "token_invalid", "Thông tin đăng nhập không hợp lệ, xin đăng nhập lại.", "invalid_token"
        ) from exc
    active_check = request.config_dict.get(ACTIVE_CHECK)
    if active_check is not None and not await active_check(principal):
        raise _unauthorized(
            "account_disabled", "Tài khoản này đã bị khoá hoặc không còn tồn tại.", "invalid_token"
        )
    request[PRINCIPAL] = principal
    return principal


_Response = TypeVar("_Response", bound=web.StreamResponse)
_Handler = Callable[[web.Request], Awaitable[_Response]]


def require_role(*roles: str) -> Callable[[_Handler[_Response]], _Handler[_Response]]:
    """Let a handler run only for a signed-in user holding one of `roles` (admin passes
    every check; no roles means any signed-in user). The principal is on request[PRINCIPAL].
    """
    unknown = set(roles) - ROLES
    if unknown:
        # A misspelt role would lock everyone but admins out; fail when the module loads.
        raise ValueError(f"unknown roles: {sorted(unknown)}")

    def decorate(handler: _Handler[_Response]) -> _Handler[_Response]:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> _Response:
            principal = await principal_from_request(request)
            if roles and not principal.has_role(*roles):
                raise Problem(403, "forbidden", "Bạn không có quyền thực hiện thao tác này.")
            return await handler(request)

        return guarded

    return decorate


def generate_keypair() -> tuple[str, str]:
    """A new Ed25519 key pair as (private PEM, public PEM)."""
    private_key = Ed25519PrivateKey.generate()
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem.decode(), public_pem.decode()


def _write_new_file(path: Path, text: str, mode: int) -> None:
    # O_EXCL: replacing a key pair by accident would sign everyone out, so refuse; the
    # mode is set at creation, so the private key is never readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as file:
        file.write(text)


def write_keypair(directory: Path, public_directory: Path | None = None) -> tuple[Path, Path]:
    """Write a new pair; the public key may go to its own directory (the one shared with
    the services that only verify)."""
    public_directory = public_directory or directory
    private_path, public_path = directory / PRIVATE_KEY_FILE, public_directory / PUBLIC_KEY_FILE
    existing = [str(p) for p in (private_path, public_path) if p.exists()]
    if existing:
        raise FileExistsError(f"refusing to overwrite existing key files: {', '.join(existing)}")
    directory.mkdir(parents=True, exist_ok=True)
    public_directory.mkdir(parents=True, exist_ok=True)
    private_pem, public_pem = generate_keypair()
    _write_new_file(private_path, private_pem, 0o600)
    _write_new_file(public_path, public_pem, 0o644)
    return private_path, public_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.common.auth")
    commands = parser.add_subparsers(dest="command", required=True)
    keygen = commands.add_parser("keygen", help="write a new Ed25519 token-signing key pair")
    keygen.add_argument("--out", type=Path, required=True, help="directory for the key files")
    keygen.add_argument("--public-out", type=Path, help="directory for the public key file")
    keygen.add_argument(
        "--keep", action="store_true", help="succeed without change when both files exist"
    )
    args = parser.parse_args(argv)
    public_dir = args.public_out or args.out
    if (
        args.keep
        and (args.out / PRIVATE_KEY_FILE).exists()
        and (public_dir / PUBLIC_KEY_FILE).exists()
    ):
        print("key pair already present; kept")
        return 0
    try:
        private_path, public_path = write_keypair(args.out, args.public_out)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {private_path} (private, mode 0600) and {public_path} (public)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
