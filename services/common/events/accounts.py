"""One broker account per service, allowed only what that service does (issue 13).

The topology step (an administrator's account) creates or updates each service's account
when it is given one: <SERVICE>_AMQP_URL names the user (and the vhost, which must be the
step's), its password in the URL or in <SERVICE>_AMQP_PASSWORD(_FILE). Without them the
step leaves accounts alone, as on a developer's machine where every process uses guest.

What each account may do, from what the code does (services never declare anything: the
topology step did):
- configure: nothing;
- write: the event exchange (the relay), the dead-letter exchange (parking a message) and,
  for counter, the internal exchange (views.batch);
- read: its own queues and their parking queues (consuming; erasing parked copies);
- topic permissions on the two topic exchanges: it may publish only the event types it
  owns (envelope.PUBLISHERS), with no binding rights. The broker checks these on every
  publish to a topic exchange: a refused one closes the channel with ACCESS_REFUSED.
The dead-letter exchange is a direct exchange, where the broker checks no routing keys:
a service could park a message on another service's parking queue, never on a live one.
`redrive` publishes to the default exchange, which no service account may: run it with
the administrator's account.

Setting it all again changes nothing; a password that changed is updated (the broker's
stored hash is compared first, so an unchanged one is not rewritten).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

import aiohttp

from services.common.config import ConfigError, secret, with_password
from services.common.events.envelope import EXCHANGE, PUBLISHERS
from services.common.events.schemas import event_types
from services.common.events.topology import (
    DEAD_EXCHANGE,
    INTERNAL_EXCHANGE,
    QUEUES,
    TopologyError,
    management_session,
    vhost_of,
)

SERVICES = ("articles", "feedback", "counter")
# Spelled out so the names can be found in the code and the deploy files.
ACCOUNT_URL_VARIABLES = {
    "articles": "ARTICLES_AMQP_URL",
    "feedback": "FEEDBACK_AMQP_URL",
    "counter": "COUNTER_AMQP_URL",
}
# The password, when the URL holds none (compose: ..._PASSWORD_FILE, a generated file).
ACCOUNT_PASSWORD_VARIABLES = {
    "articles": "ARTICLES_AMQP_PASSWORD",
    "feedback": "FEEDBACK_AMQP_PASSWORD",
    "counter": "COUNTER_AMQP_PASSWORD",
}
NOTHING = "^$"


def _exactly(names: list[str]) -> str:
    return "^(" + "|".join(re.escape(name) for name in sorted(names)) + ")$"


@dataclass(frozen=True)
class Account:
    service: str
    user: str
    password: str


@dataclass(frozen=True)
class Grant:
    """A service's rights: permission regexes and, per topic exchange, the routing keys
    it may publish."""

    configure: str
    write: str
    read: str
    topics: dict[str, str]


def _internal_types() -> set[str]:
    return {k for q in QUEUES if q.exchange == INTERNAL_EXCHANGE for k in q.routing_keys}


def published_types(service: str) -> dict[str, list[str]]:
    """The event types `service` publishes, by exchange (only exchanges it publishes to)."""
    internal = _internal_types()
    by_exchange: dict[str, list[str]] = {}
    for event_type in event_types():
        if PUBLISHERS.get(event_type.split(".", 1)[0]) != service:
            continue
        exchange = INTERNAL_EXCHANGE if event_type in internal else EXCHANGE
        by_exchange.setdefault(exchange, []).append(event_type)
    return by_exchange


def grant(service: str) -> Grant:
    published = published_types(service)
    consumed = [q.name for q in QUEUES if q.name.startswith(f"{service}.")]
    parking = [q.dead_letter_queue for q in QUEUES if q.name.startswith(f"{service}.")]
    # Every topic exchange gets an entry: without one, the broker allows any routing key.
    topics = {
        exchange: _exactly(published[exchange]) if exchange in published else NOTHING
        for exchange in (EXCHANGE, INTERNAL_EXCHANGE)
    }
    return Grant(
        configure=NOTHING,
        write=_exactly([*published, DEAD_EXCHANGE]),
        read=_exactly(consumed + parking) if consumed else NOTHING,
        topics=topics,
    )


def accounts_from_env(vhost: str, admin_user: str) -> list[Account]:
    """The service accounts the environment gives (none on a developer's machine)."""
    accounts = []
    for service in SERVICES:
        name = ACCOUNT_URL_VARIABLES[service]
        url = os.environ.get(name, "").strip()
        if not url:
            continue
        url = with_password(url, secret(ACCOUNT_PASSWORD_VARIABLES[service]))
        parts = urlsplit(url)
        if not parts.username or not parts.password:
            raise ConfigError(f"{name} must name a user and its password (or give its _PASSWORD)")
        user = unquote(parts.username)
        if user == admin_user:
            raise ConfigError(f"{name}: a service may not use the administrator's account")
        if vhost_of(url) != vhost:
            raise ConfigError(f"{name}: vhost {vhost_of(url)!r} is not the topology's {vhost!r}")
        accounts.append(Account(service, user, unquote(parts.password)))
    return accounts


def password_matches(stored_hash: str, algorithm: str, password: str) -> bool:
    """Whether the broker's stored hash (base64 of a 4-byte salt and the digest of salt +
    password) is that of `password`."""
    digests = {
        "rabbit_password_hashing_sha256": hashlib.sha256,
        "rabbit_password_hashing_sha512": hashlib.sha512,
    }
    if algorithm not in digests or not stored_hash:
        return False
    raw = base64.b64decode(stored_hash)
    salt, digest = raw[:4], raw[4:]
    return digests[algorithm](salt + password.encode()).digest() == digest


async def _check(answer: aiohttp.ClientResponse, what: str) -> None:
    if answer.status >= 500:
        answer.raise_for_status()  # retried by apply_with_retry
    if answer.status not in (200, 201, 204):
        raise TopologyError(
            f"{what}: the management API answered {answer.status} {(await answer.text())[:300]}"
        )


async def apply_accounts(
    amqp_url: str, accounts: list[Account], management_url: str | None = None
) -> None:
    """Create or update each account with its service's grant on AMQP_URL's vhost."""
    if not accounts:
        return
    vhost = quote(vhost_of(amqp_url), safe="")
    async with management_session(amqp_url, management_url) as (session, prefix):
        for account in accounts:
            user = quote(account.user, safe="")
            rights = grant(account.service)
            async with session.get(f"{prefix}/api/users/{user}") as answer:
                known = await answer.json() if answer.status == 200 else None
                if answer.status not in (200, 404):
                    await _check(answer, f"user {account.user}")
            if not (
                known
                and not known.get("tags")
                and password_matches(
                    known.get("password_hash", ""),
                    known.get("hashing_algorithm", ""),
                    account.password,
                )
            ):
                body = {"password": account.password, "tags": ""}
                async with session.put(f"{prefix}/api/users/{user}", json=body) as answer:
                    await _check(answer, f"user {account.user}")
            body = {"configure": rights.configure, "write": rights.write, "read": rights.read}
            async with session.put(f"{prefix}/api/permissions/{vhost}/{user}", json=body) as answer:
                await _check(answer, f"permissions of {account.user}")
            for exchange, write in rights.topics.items():
                body = {"exchange": exchange, "write": write, "read": NOTHING}
                url = f"{prefix}/api/topic-permissions/{vhost}/{user}"
                async with session.put(url, json=body) as answer:
                    await _check(answer, f"topic permissions of {account.user} on {exchange}")
