"""Settings of the articles service beyond services.common.config.Settings, and the typed
app keys its handlers share."""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass, field
from datetime import timedelta

from aiohttp import web

from services.articles import passwords
from services.articles.domain import SessionLimits
from services.articles.rendered import RenderedPages
from services.articles.tokens import TokenIssuer
from services.common.config import ConfigError, env_bool, env_int
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
    # --- desk: auth ---
    # ARTICLES_SESSION_IDLE_HOURS: a sign-in session ends when it renewed no token for
    # this long (the desk renews while a page is open); ARTICLES_SESSION_MAX_HOURS: it
    # ends this long after signing in, whatever happens.
    session_idle_hours: int = 4
    session_max_hours: int = 12
    # ARTICLES_PASSWORD_THREADS: passwords hashed or checked at once (default: half the
    # CPUs); ARTICLES_PASSWORD_QUEUE: how many more may wait before a sign-in is refused.
    password_threads: int = field(default_factory=passwords.default_threads)
    password_queue: int = passwords.DEFAULT_QUEUE

    @property
    def session_limits(self) -> SessionLimits:
        return SessionLimits(
            idle=timedelta(hours=self.session_idle_hours),
            absolute=timedelta(hours=self.session_max_hours),
        )

    @classmethod
    def from_env(cls) -> ArticlesConfig:
        site_url = os.environ.get("SITE_URL", "").strip().rstrip("/") or None
        return cls(
            cookie_secure=env_bool("COOKIE_SECURE", False),
            site_url=site_url,
            schedule_interval=max(10, env_int("ARTICLES_SCHEDULE_INTERVAL_MS", 1000)) / 1000,
            allowed_hosts=allowed_hosts(os.environ.get("ALLOWED_HOSTS", "")),
            **_auth_settings(),
        )


def allowed_hosts(raw: str) -> frozenset[str]:
    """ALLOWED_HOSTS as a set of lower-case names (IPv6 addresses without brackets)."""
    names = {name.strip().strip("[]").lower() for name in raw.replace(",", " ").split()}
    return frozenset(names - {""}) or DEFAULT_ALLOWED_HOSTS


def _auth_settings() -> dict[str, int]:
    idle = env_int("ARTICLES_SESSION_IDLE_HOURS", 4)
    longest = env_int("ARTICLES_SESSION_MAX_HOURS", 12)
    if not 1 <= idle <= longest:
        raise ConfigError(
            "ARTICLES_SESSION_IDLE_HOURS must be at least 1 and at most "
            f"ARTICLES_SESSION_MAX_HOURS (got {idle} and {longest})"
        )
    threads = env_int("ARTICLES_PASSWORD_THREADS", passwords.default_threads())
    queue = env_int("ARTICLES_PASSWORD_QUEUE", passwords.DEFAULT_QUEUE)
    if threads < 1 or queue < 0:
        raise ConfigError("ARTICLES_PASSWORD_THREADS must be >= 1, ARTICLES_PASSWORD_QUEUE >= 0")
    return {
        "session_idle_hours": idle,
        "session_max_hours": longest,
        "password_threads": threads,
        "password_queue": queue,
    }


def form_secret(private_key_pem: str) -> bytes:
    """The HMAC key of the sign-in forms' CSRF tokens, derived from the signing key like
    the throttle's."""
    return hashlib.sha256(b"bantin form csrf\0" + private_key_pem.encode()).digest()


def throttle_secret(private_key_pem: str) -> bytes:
    """The HMAC key of the login-failure counters, derived from the signing key: every
    articles instance has it, and nobody without it can link a counter to an address."""
    return hashlib.sha256(b"bantin login throttle\0" + private_key_pem.encode()).digest()


CONFIG = web.AppKey("articles_config", ArticlesConfig)
ISSUER = web.AppKey("token_issuer", TokenIssuer)
THROTTLE_SECRET = web.AppKey("throttle_secret", bytes)
FORM_SECRET = web.AppKey("form_secret", bytes)


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
# The article pages each process rendered last (rendered.py).
RENDERED = web.AppKey("rendered_articles", RenderedPages)
