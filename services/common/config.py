"""Settings read from environment variables, the one source of configuration (DESIGN rule 7)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit


class ConfigError(RuntimeError):
    """A required setting is missing or malformed; the process should not start."""


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None or value == "":
        raise ConfigError(f"environment variable {name} is required")
    return value


# What a copied example file holds until someone edits it ("CHANGE-ME", "changeme",
# "change_me_please"): a secret everyone knows.
_PLACEHOLDER = re.compile(r"change[\s_-]*me", re.IGNORECASE)


def refuse_placeholder(name: str, value: str) -> str:
    """`value`, unless it is an example's placeholder: then the process must not start."""
    if _PLACEHOLDER.search(value):
        raise ConfigError(f"{name} still holds a placeholder: set a secret of your own")
    return value


def secret(name: str) -> str | None:
    """A secret from NAME (the value itself) or NAME_FILE (a file holding it, as compose's
    generated secrets and Kubernetes' mounted ones are), or None when neither is set.
    The file's one trailing line break is not part of the secret."""
    value = os.environ.get(name)
    if value:
        return value
    path = os.environ.get(f"{name}_FILE")
    if not path:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}_FILE: cannot read {path}: {exc}") from exc
    text = text.removesuffix("\n")
    if not text:
        raise ConfigError(f"{name}_FILE: {path} is empty")
    return text


def with_password(url: str, password: str | None) -> str:
    """`url` with its account's password set to `password` (when one is given)."""
    if password is None:
        return url
    parts = urlsplit(url)
    if not parts.username:
        raise ConfigError(f"a password is given for {parts.hostname}, but the URL names no user")
    host = parts.netloc.rsplit("@", 1)[1]
    account = f"{parts.username}:{quote(password, safe='')}"
    return urlunsplit((parts.scheme, f"{account}@{host}", parts.path, parts.query, parts.fragment))


def url_with_secret(name: str, password_name: str, default: str | None = None) -> str:
    """The URL in NAME with the password from PASSWORD_NAME or PASSWORD_NAME_FILE, if set:
    so the URL can live in plain settings and only the password in a secret file."""
    return with_password(env(name, default), secret(password_name))


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name} must be an integer, got {raw!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Where each key may come from: the PEM text itself, or a file holding it.
KEY_VARIABLES = {
    "AUTH_PUBLIC_KEY": "AUTH_PUBLIC_KEY_FILE",
    "AUTH_PRIVATE_KEY": "AUTH_PRIVATE_KEY_FILE",
}


def read_key(name: str) -> str | None:
    """A PEM key from NAME (the key itself) or NAME_FILE (a path to it), or None."""
    inline = os.environ.get(name)
    if inline:
        return inline.replace("\\n", "\n")
    path = os.environ.get(KEY_VARIABLES[name])
    if path:
        return Path(path).read_text()
    return None


# Each service's own database role; spelled out so the names can be found in the code.
DATABASE_URL_VARIABLES = {
    "articles": "ARTICLES_DATABASE_URL",
    "feedback": "FEEDBACK_DATABASE_URL",
    "counter": "COUNTER_DATABASE_URL",
}
# The role's password, when the URL holds none: <SERVICE>_DATABASE_PASSWORD(_FILE).
DATABASE_PASSWORD_VARIABLES = {
    "articles": "ARTICLES_DATABASE_PASSWORD",
    "feedback": "FEEDBACK_DATABASE_PASSWORD",
    "counter": "COUNTER_DATABASE_PASSWORD",
}
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def database_url(service: str) -> str:
    """The service's database URL (DATABASE_URL if its own is unset), with its password
    from <SERVICE>_DATABASE_PASSWORD or its _FILE when given."""
    return url_with_secret(
        DATABASE_URL_VARIABLES[service],
        DATABASE_PASSWORD_VARIABLES[service],
        os.environ.get("DATABASE_URL"),
    )


def amqp_url() -> str:
    """The broker account: AMQP_URL, with the password from AMQP_PASSWORD(_FILE) if given."""
    return url_with_secret("AMQP_URL", "AMQP_PASSWORD", DEFAULT_AMQP_URL)


@dataclass(frozen=True)
class Settings:
    service: str
    database_url: str
    amqp_url: str
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    auth_public_key: str | None = None
    auth_private_key: str | None = None
    trusted_proxies: list[str] = field(default_factory=list)
    max_body_bytes: int = 64 * 1024
    relay_poll_seconds: float = 5.0
    consumer_prefetch: int = 20
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, service: str, default_port: int = 8000) -> Settings:
        return cls(
            service=service,
            database_url=database_url(service),
            amqp_url=amqp_url(),
            # Loopback unless told otherwise (images set 0.0.0.0): /metrics and /readyz
            # must not be reachable around the gateway.
            http_host=os.environ.get("HTTP_HOST", "127.0.0.1"),
            http_port=env_int("HTTP_PORT", default_port),
            auth_public_key=read_key("AUTH_PUBLIC_KEY"),
            auth_private_key=read_key("AUTH_PRIVATE_KEY"),
            trusted_proxies=env_list("TRUSTED_PROXIES", "127.0.0.1,::1"),
            max_body_bytes=env_int("MAX_BODY_BYTES", 64 * 1024),
            relay_poll_seconds=float(env_int("RELAY_POLL_MS", 5000)) / 1000,
            consumer_prefetch=env_int("CONSUMER_PREFETCH", 20),
            log_level=os.environ.get("LOG_LEVEL", "INFO"),
        )
