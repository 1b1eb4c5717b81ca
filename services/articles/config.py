"""Settings of the articles service beyond services.common.config.Settings, and the typed
app keys its handlers share."""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass

from aiohttp import web

from services.articles.tokens import TokenIssuer
from services.common.config import env_bool, env_int
from services.common.csrf import CsrfTokens

DEFAULT_ALLOWED_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class ArticlesConfig:
    # COOKIE_SECURE=1: the session cookie is sent over HTTPS only (set it in production).
    cookie_secure: bool = False
    # SITE_URL: the public origin (https://tin.example.vn) for absolute links in feeds,
    # the sitemap and og: tags; without it they use the origin the request came to.
    site_url: str | None = None
    # ARTICLES_SCHEDULE_INTERVAL_MS: how often the scheduler looks for due articles.
    schedule_interval: float = 1.0
    # ALLOWED_HOSTS: the names (space- or comma-separated) the site answers to. Without
    # SITE_URL, absolute links use the request's Host only when its name is one of these:
    # a forged Host never reaches a link, a feed or a cached page (the gateway refuses it
    # first, with the same list).
    allowed_hosts: frozenset[str] = DEFAULT_ALLOWED_HOSTS

    @classmethod
    def from_env(cls) -> ArticlesConfig:
        site_url = os.environ.get("SITE_URL", "").strip().rstrip("/") or None
        return cls(
            cookie_secure=env_bool("COOKIE_SECURE", False),
            site_url=site_url,
            schedule_interval=max(10, env_int("ARTICLES_SCHEDULE_INTERVAL_MS", 1000)) / 1000,
            allowed_hosts=allowed_hosts(os.environ.get("ALLOWED_HOSTS", "")),
        )


def allowed_hosts(raw: str) -> frozenset[str]:
    """ALLOWED_HOSTS as a set of lower-case names (IPv6 addresses without brackets)."""
    names = {name.strip().strip("[]").lower() for name in raw.replace(",", " ").split()}
    return frozenset(names - {""}) or DEFAULT_ALLOWED_HOSTS


def throttle_secret(private_key_pem: str) -> bytes:
    """The HMAC key of the login-failure counters, derived from the signing key: every
    articles instance has it, and nobody without it can link a counter to an address."""
    return hashlib.sha256(b"bantin login throttle\0" + private_key_pem.encode()).digest()


CONFIG = web.AppKey("articles_config", ArticlesConfig)
ISSUER = web.AppKey("token_issuer", TokenIssuer)
THROTTLE_SECRET = web.AppKey("throttle_secret", bytes)


# --- desk: manage -------------------------------------------------------------------------

# The largest import file the desk takes (/quan-tri/nhap-bai); the gateway's
# client_max_body_size for that route is 200m too (docs/operations.md).
IMPORT_MAX_BYTES = 200 * 1024 * 1024


def desk_csrf_secret(private_key_pem: str) -> bytes:
    """The key of the desk forms' CSRF tokens, derived from the signing key as the
    throttle's is: every instance has the same, and no setting can be forgotten."""
    return hashlib.sha256(b"bantin desk csrf\0" + private_key_pem.encode()).digest()


DESK_CSRF = web.AppKey("desk_csrf", CsrfTokens)
# The imports this instance runs in the background (kept so they are not collected, and
# cancelled when it stops).
IMPORT_TASKS: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("import_tasks")
