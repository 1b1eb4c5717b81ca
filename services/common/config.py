"""Settings read from environment variables, the one source of configuration (DESIGN rule 7)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path


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
            database_url=env(DATABASE_URL_VARIABLES[service], os.environ.get("DATABASE_URL")),
            amqp_url=env("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
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
