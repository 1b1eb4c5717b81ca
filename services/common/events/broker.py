"""RabbitMQ: a robust connection and a confirming publisher (DESIGN rule 5)."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)
from aio_pika.exceptions import AMQPError, DeliveryError, PublishError

from services.common.events.envelope import CONTENT_TYPE

PUBLISH_TIMEOUT = 10.0


async def connect(url: str, name: str) -> AbstractRobustConnection:
    """A connection that reconnects on its own and restores its channels and consumers."""
    return await aio_pika.connect_robust(
        url, timeout=10, reconnect_interval=1, client_properties={"connection_name": name}
    )


def persistent_copy(message: AbstractIncomingMessage, headers: dict[str, Any]) -> aio_pika.Message:
    """A message to publish again (parking, re-driving): same body and identity, new
    headers, persistent."""
    return aio_pika.Message(
        message.body,
        headers=headers,
        content_type=message.content_type,
        message_id=message.message_id,
        type=message.type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


class Publisher:
    """Publishes persistent messages, waits for the broker's confirm, and reports returns.

    `publish` returns True when the broker routed the message to at least one queue, False
    when it confirmed it but had no queue to route it to (mandatory return), and raises
    when the broker did not confirm it (nack, timeout, connection lost): the caller keeps
    the message and tries again.
    """

    def __init__(self, connection: AbstractRobustConnection) -> None:
        self._connection = connection
        self._channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._renewing = asyncio.Lock()

    @property
    def connection(self) -> AbstractRobustConnection:
        """The robust connection, for its reconnect callbacks (the relay uses them)."""
        return self._connection

    async def start(self) -> None:
        self._channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )

    async def close(self) -> None:
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()

    async def _exchange(self, name: str) -> AbstractExchange:
        if self._channel is None:
            raise RuntimeError("publisher not started")
        if name not in self._exchanges:
            # The topology step declared it; here we only name it.
            self._exchanges[name] = await self._channel.get_exchange(name, ensure=False)
        return self._exchanges[name]

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        message_id: str,
        content_type: str = CONTENT_TYPE,
        headers: dict[str, Any] | None = None,
        timeout: float = PUBLISH_TIMEOUT,
    ) -> bool:
        message = aio_pika.Message(
            body,
            content_type=content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            type=routing_key,
            headers=headers or {},
        )
        channel = self._channel
        target = await self._exchange(exchange)
        try:
            await asyncio.wait_for(
                target.publish(message, routing_key=routing_key, mandatory=True), timeout
            )
        except PublishError:
            return False
        except DeliveryError:
            await self._renew(channel)
            raise
        return True

    async def _renew(self, refused: AbstractChannel | None) -> None:
        """A new channel after the broker nacked a publish (a full queue refused it): a
        full quorum queue keeps refusing a channel it refused even once its limit is
        lifted (RabbitMQ 3.10; tests/integration/test_parking.py). Publishes still in
        flight on the old one fail and are retried by their callers."""
        async with self._renewing:
            if self._channel is not refused or refused is None:
                return  # another publish renewed it already
            self._exchanges.clear()
            self._channel = await self._connection.channel(
                publisher_confirms=True, on_return_raises=True
            )
            with suppress(AMQPError, ConnectionError):
                await refused.close()
