"""Minting access tokens: only articles holds the private key (DESIGN rule 8). Every service
checks the tokens with services.common.auth.TokenVerifier and the public key."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.articles.domain import User
from services.common import auth
from services.common.config import ConfigError, env_int, read_key

log = logging.getLogger(__name__)

TTL_ENV = "ACCESS_TOKEN_TTL_SECONDS"
DEFAULT_TTL_SECONDS = 600
# Services other than articles cannot see that a user was disabled: the token lifetime is
# how long such a user keeps access there, so it stays in minutes.
MAX_TTL_SECONDS = 3600


class AccountDisabledError(Exception):
    """A disabled user asked for a token."""


def ttl_from_env() -> int:
    """ACCESS_TOKEN_TTL_SECONDS (default 600), capped at MAX_TTL_SECONDS."""
    ttl = env_int(TTL_ENV, DEFAULT_TTL_SECONDS)
    if ttl <= 0:
        raise ConfigError(f"{TTL_ENV} must be a positive number of seconds, got {ttl}")
    if ttl > MAX_TTL_SECONDS:
        log.warning(
            "access token lifetime capped", extra={"requested": ttl, "used": MAX_TTL_SECONDS}
        )
    return min(ttl, MAX_TTL_SECONDS)


class TokenIssuer:
    def __init__(self, private_key_pem: str, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
            raise ValueError(f"ttl_seconds must be in 1..{MAX_TTL_SECONDS}, got {ttl_seconds}")
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the token signing key must be an Ed25519 private key")
        self._private_key = key
        self.ttl = timedelta(seconds=ttl_seconds)

    @classmethod
    def from_env(cls) -> TokenIssuer:
        """From AUTH_PRIVATE_KEY (or AUTH_PRIVATE_KEY_FILE) and ACCESS_TOKEN_TTL_SECONDS."""
        private_key_pem = read_key("AUTH_PRIVATE_KEY")
        if private_key_pem is None:
            raise ConfigError("AUTH_PRIVATE_KEY or AUTH_PRIVATE_KEY_FILE is required")
        return cls(private_key_pem, ttl_from_env())

    def issue(
        self, user: User, *, now: datetime | None = None, session_id: int | None = None
    ) -> tuple[str, datetime]:
        """A signed token for `user` and the moment it expires; AccountDisabledError for
        a disabled user. `session_id`: the sign-in session it is renewed from (a claim,
        so that ending the session refuses the token at once in articles)."""
        if user.disabled:
            raise AccountDisabledError(f"user {user.id} is disabled")
        # Whole seconds: JWT times are integers, and expires_at must match the token's exp.
        issued_at = (now or datetime.now(UTC)).replace(microsecond=0)
        expires_at = issued_at + self.ttl
        claims = {
            "iss": auth.ISSUER,
            "aud": auth.AUDIENCE,
            "sub": str(user.id),
            "name": user.display_name,
            "roles": sorted(user.roles),
            "iat": int(issued_at.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": secrets.token_urlsafe(16),
        }
        if session_id is not None:
            claims[auth.SESSION_CLAIM] = str(session_id)
        token = jwt.encode(claims, self._private_key, algorithm=auth.ALGORITHM)
        return token, expires_at
