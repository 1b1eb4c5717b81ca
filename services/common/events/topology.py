"""The broker topology: every exchange, queue and binding, declared by one one-shot step.

Run `python -m services.common.events.topology` before the services start (like a
migration), so no event published on first start is lost for want of a queue. Services
never declare queues themselves: a queue redeclared with other arguments fails, so its
settings live here only. Declaring is idempotent: running the step again changes nothing.
Changing a queue's arguments later means a new queue (or a policy), not an edit here.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, ExchangeType

from services.common.events.envelope import EXCHANGE

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


async def apply(amqp_url: str) -> None:
    connection = await aio_pika.connect(amqp_url, timeout=10)
    async with connection:
        await declare(await connection.channel())
    log.info("topology declared", extra={"queues": [q.name for q in QUEUES]})


async def apply_with_retry(amqp_url: str, attempts: int = 30) -> None:
    """Wait for the broker to come up (compose starts it alongside), then declare."""
    for attempt in range(1, attempts + 1):
        try:
            await apply(amqp_url)
            return
        except (OSError, aio_pika.exceptions.AMQPConnectionError) as exc:
            if attempt == attempts:
                raise
            log.warning("broker not reachable yet (%s); retrying", exc)
            await asyncio.sleep(min(2.0, 0.2 * attempt))


def main() -> None:
    from services.common.logs import setup_logging

    setup_logging("topology")
    asyncio.run(apply_with_retry(os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")))


if __name__ == "__main__":
    main()
