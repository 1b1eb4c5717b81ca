"""A tap on the event exchange for tests: an exclusive queue bound to bantin.events that
collects what arrives, plus a helper to publish an event as a service's relay would."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from services.common.events.envelope import EXCHANGE, CloudEvent
from tests.support.infra import Vhost, rabbitmqctl


class Tap:
    def __init__(self) -> None:
        self.messages: list[AbstractIncomingMessage] = []
        self.times: list[float] = []  # when each arrived (time.monotonic)
        self._arrived = asyncio.Event()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self.times.append(time.monotonic())
        self.messages.append(message)
        self._arrived.set()

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(m.body) for m in self.messages]

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until at least `count` messages arrived; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"expected {count} messages, got {len(self.messages)}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                continue
        return self.bodies


@asynccontextmanager
async def tap(
    amqp_url: str, routing_key: str = "#", exchange: str = EXCHANGE
) -> AsyncIterator[Tap]:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key=routing_key)
        collected = Tap()
        await queue.consume(collected._on_message, no_ack=True)
        yield collected


async def publish_event(amqp_url: str, event: CloudEvent | bytes, routing_key: str = "") -> None:
    """Publish an event (or raw bytes, for malformed input) to bantin.events, confirmed."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(EXCHANGE, ensure=False)
        body = event.to_json() if isinstance(event, CloudEvent) else event
        key = event.type if isinstance(event, CloudEvent) else routing_key
        message_id = event.id if isinstance(event, CloudEvent) else None
        await exchange.publish(
            aio_pika.Message(
                body, message_id=message_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
            ),
            routing_key=key,
        )


async def drain(amqp_url: str, queue_name: str) -> list[AbstractIncomingMessage]:
    """Take every message now on a queue (acking them), to inspect it."""
    taken = []
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name, ensure=True)
        while (message := await queue.get(fail=False, timeout=5)) is not None:
            await message.ack()
            taken.append(message)
    return taken


def message_counts(vhost: Vhost) -> dict[str, int]:
    """Each queue's messages, held by a consumer (unacked) or not, as the broker reports."""
    out = rabbitmqctl(
        "list_queues", "-p", vhost.name, "--no-table-headers", "-q", "name", "messages"
    )
    return {name: int(count) for name, count in (line.split("\t") for line in out.splitlines())}
