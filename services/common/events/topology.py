"""The broker topology: every exchange, queue and binding, declared by one one-shot step.

Run `python -m services.common.events.topology` before the services start (like a
migration), so no event published on first start is lost for want of a queue. Services
never declare queues themselves: a queue redeclared with other arguments fails, so its
settings live here only. Declaring is idempotent: running the step again changes nothing.
Changing a queue's arguments later means a new queue (or a policy), not an edit here.

The step then sets the broker policies (`policies`) through the management HTTP API, the
only way to set them: they change settings of queues that already exist, which a
redeclaration cannot. The API's address comes from RABBITMQ_MANAGEMENT_URL, or by default
from AMQP_URL (same host and account, port 15672); the vhost is AMQP_URL's. AMQP_URL's
password may come from AMQP_PASSWORD or AMQP_PASSWORD_FILE instead.

Given the services' accounts (<SERVICE>_AMQP_URL), the step also creates or updates them
with only the rights each service needs (`accounts`); it then needs an administrator.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import aio_pika
import aiohttp
from aio_pika.abc import AbstractChannel, ExchangeType

from services.common.events.envelope import EXCHANGE

if TYPE_CHECKING:
    from services.common.events.accounts import Account

DEAD_EXCHANGE = "bantin.dead"
INTERNAL_EXCHANGE = "bantin.internal"
# A message redelivered this many times (its consumer crashed while handling it each
# time) is dead-lettered by the broker: the guard against a poison message that kills
# the process before the consumer can park it itself.
DELIVERY_LIMIT = 20

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueSpec:
    name: str
    routing_keys: tuple[str, ...]
    exchange: str = EXCHANGE
    # False for messages that are not versions of an item (a batch of views): every one
    # is applied, its handler being idempotent on its own.
    versioned: bool = True

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.name}.dead"


ARTICLE_STATE = ("article.published", "article.updated", "article.unpublished")

# Queue names say who consumes what: <consumer service>.<what it receives>.
QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec("articles.views-counted", ("views.counted",)),
    QueueSpec(
        "articles.feedback-public", ("feedback.approved", "feedback.updated", "feedback.withdrawn")
    ),
    # The desk's count of feedback waiting for moderation: every case's status.
    QueueSpec(
        "articles.feedback-cases",
        (
            "feedback.submitted",
            "feedback.approved",
            "feedback.rejected",
            "feedback.updated",
            "feedback.withdrawn",
        ),
    ),
    QueueSpec("feedback.article-state", ARTICLE_STATE),
    QueueSpec("counter.article-state", ARTICLE_STATE),
    QueueSpec(
        "counter.view-batches", ("views.batch",), exchange=INTERNAL_EXCHANGE, versioned=False
    ),
)


def queue(name: str) -> QueueSpec:
    for spec in QUEUES:
        if spec.name == name:
            return spec
    raise KeyError(f"no queue {name!r} in the topology")


def queue_arguments(spec: QueueSpec) -> dict[str, Any]:
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DEAD_EXCHANGE,
        "x-dead-letter-routing-key": spec.name,
    }


async def declare(channel: AbstractChannel) -> None:
    exchanges = {
        EXCHANGE: await channel.declare_exchange(EXCHANGE, ExchangeType.TOPIC, durable=True),
        INTERNAL_EXCHANGE: await channel.declare_exchange(
            INTERNAL_EXCHANGE, ExchangeType.TOPIC, durable=True
        ),
    }
    dead = await channel.declare_exchange(DEAD_EXCHANGE, ExchangeType.DIRECT, durable=True)
    for spec in QUEUES:
        main = await channel.declare_queue(spec.name, durable=True, arguments=queue_arguments(spec))
        for key in spec.routing_keys:
            await main.bind(exchanges[spec.exchange], routing_key=key)
        parked = await channel.declare_queue(
            spec.dead_letter_queue, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await parked.bind(dead, routing_key=spec.name)


# Policies: settings of existing queues that their declared arguments cannot change.
# A quorum queue dead-letters at most once by default: a message over the delivery limit
# that the parking queue cannot take (gone, full) is dropped. At least once, the broker
# keeps it in the source queue and tries again until the parking queue takes it (3.10 and
# later; it needs `overflow: reject-publish`, which also makes a full queue refuse new
# messages, publisher nacked, instead of dropping its oldest). A full parking queue refuses
# too, so the consumer keeps the message it could not park.
DEAD_LETTER_POLICY = "bantin-dead-letter"
PARKING_POLICY = "bantin-parking"
MANAGEMENT_PORT = 15672
MANAGEMENT_TIMEOUT = 10.0


class TopologyError(RuntimeError):
    """The broker refused part of the topology (a policy, through the management API)."""


def _exactly(names: list[str]) -> str:
    return "^(" + "|".join(re.escape(name) for name in names) + ")$"


def policies() -> dict[str, dict[str, Any]]:
    """Each policy's name and body (management API form), for the queues of QUEUES."""
    return {
        DEAD_LETTER_POLICY: {
            "pattern": _exactly([spec.name for spec in QUEUES]),
            "apply-to": "queues",
            "priority": 0,
            "definition": {"dead-letter-strategy": "at-least-once", "overflow": "reject-publish"},
        },
        PARKING_POLICY: {
            "pattern": _exactly([spec.dead_letter_queue for spec in QUEUES]),
            "apply-to": "queues",
            "priority": 0,
            "definition": {"overflow": "reject-publish"},
        },
    }


def management_url_for(amqp_url: str) -> str:
    """RABBITMQ_MANAGEMENT_URL, else the management API beside AMQP_URL's broker: the same
    host and account on port 15672 (https for amqps)."""
    configured = os.environ.get("RABBITMQ_MANAGEMENT_URL", "").strip()
    if configured:
        return configured
    amqp = urlsplit(amqp_url)
    account = f"{amqp.username or 'guest'}:{amqp.password or 'guest'}@"
    scheme = "https" if amqp.scheme == "amqps" else "http"
    return urlunsplit((scheme, f"{account}{amqp.hostname}:{MANAGEMENT_PORT}", "/", "", ""))


def vhost_of(amqp_url: str) -> str:
    path = urlsplit(amqp_url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


@asynccontextmanager
async def management_session(
    amqp_url: str, management_url: str | None = None
) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    """A session on the management API (its account's credentials) and the API's path."""
    api = urlsplit(management_url or management_url_for(amqp_url))
    base = urlunsplit((api.scheme, f"{api.hostname}:{api.port or MANAGEMENT_PORT}", "", "", ""))
    account = unquote(api.username or "guest"), unquote(api.password or "guest")
    headers = {"Authorization": aiohttp.encode_basic_auth(*account)}
    timeout = aiohttp.ClientTimeout(total=MANAGEMENT_TIMEOUT)
    async with aiohttp.ClientSession(base, headers=headers, timeout=timeout) as session:
        yield session, api.path.rstrip("/")


async def apply_policies(amqp_url: str, management_url: str | None = None) -> None:
    """Set `policies()` on AMQP_URL's vhost; setting them again changes nothing."""
    vhost = quote(vhost_of(amqp_url), safe="")
    async with management_session(amqp_url, management_url) as (session, prefix):
        for name, body in policies().items():
            async with session.put(f"{prefix}/api/policies/{vhost}/{name}", json=body) as answer:
                if answer.status >= 500:
                    answer.raise_for_status()  # retried by apply_with_retry
                if answer.status not in (201, 204):
                    raise TopologyError(
                        f"policy {name}: the management API answered {answer.status}"
                        f" {(await answer.text())[:300]}"
                    )


async def apply(
    amqp_url: str, management_url: str | None = None, accounts: Sequence[Account] = ()
) -> None:
    """Declare the topology, set the policies and the service accounts (when given)."""
    from services.common.events.accounts import apply_accounts

    connection = await aio_pika.connect(amqp_url, timeout=10)
    async with connection:
        await declare(await connection.channel())
    await apply_policies(amqp_url, management_url)
    await apply_accounts(amqp_url, list(accounts), management_url)
    log.info(
        "topology declared",
        extra={"queues": [q.name for q in QUEUES], "accounts": [a.user for a in accounts]},
    )


async def apply_with_retry(
    amqp_url: str, attempts: int = 30, accounts: Sequence[Account] = ()
) -> None:
    """Wait for the broker to come up (compose starts it alongside), then declare."""
    for attempt in range(1, attempts + 1):
        try:
            await apply(amqp_url, accounts=accounts)
            return
        except (OSError, aio_pika.exceptions.AMQPConnectionError, aiohttp.ClientError) as exc:
            if attempt == attempts:
                raise
            log.warning("broker not reachable yet (%s); retrying", exc)
            await asyncio.sleep(min(2.0, 0.2 * attempt))


def main() -> None:
    from services.common.config import ConfigError, amqp_url
    from services.common.events.accounts import accounts_from_env
    from services.common.logs import setup_logging

    setup_logging("topology")
    try:
        url = amqp_url()
        admin = unquote(urlsplit(url).username or "guest")
        accounts = accounts_from_env(vhost_of(url), admin)
    except ConfigError as exc:
        raise SystemExit(f"topology: {exc}") from None
    asyncio.run(apply_with_retry(url, accounts=accounts))


if __name__ == "__main__":
    main()
