"""Inspect and re-drive parked messages: `python -m services.common.events.redrive QUEUE`.

Lists what waits on QUEUE.dead (id, type, reason) and, with --move, sends it back to QUEUE
once the cause is fixed. Each message is re-published `mandatory` with confirms, and
removed from the parking queue only once the broker confirmed that QUEUE took it: a
message QUEUE does not take (gone, full: returned or nacked) stays parked and the move
stops there. A failure midway loses nothing (at worst one comes twice, which the
consumer's inbox absorbs).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass

import aio_pika
from aio_pika.exceptions import DeliveryError

from services.common.config import amqp_url
from services.common.events.broker import PUBLISH_TIMEOUT, persistent_copy
from services.common.events.topology import queue as topology_queue


@dataclass(frozen=True)
class Parked:
    message_id: str | None
    type: str | None
    reason: str


class NotMoved(RuntimeError):
    """The queue did not take a message back: it stays parked, and so do those after it."""

    def __init__(self, queue: str, moved: int, cause: BaseException) -> None:
        super().__init__(f"{queue} did not take a message back ({cause!r}); {moved} moved")
        self.moved = moved


async def redrive(amqp_url: str, queue_name: str, move: bool, limit: int) -> list[Parked]:
    spec = topology_queue(queue_name)
    seen: list[Parked] = []
    connection = await aio_pika.connect(amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        parked = await channel.get_queue(spec.dead_letter_queue, ensure=True)
        while len(seen) < limit:
            message = await parked.get(fail=False, timeout=10)
            if message is None:
                break
            headers = dict(message.headers or {})
            seen.append(
                Parked(message.message_id, message.type, str(headers.get("x-bantin-reason", "")))
            )
            if not move:
                continue
            headers["x-bantin-redriven"] = int(str(headers.get("x-bantin-redriven", 0))) + 1
            try:
                await asyncio.wait_for(
                    channel.default_exchange.publish(
                        persistent_copy(message, headers), routing_key=spec.name, mandatory=True
                    ),
                    PUBLISH_TIMEOUT,
                )
            except (DeliveryError, TimeoutError) as exc:
                # Unacked, it goes back to the parking queue when the channel closes.
                raise NotMoved(spec.name, len(seen) - 1, exc) from exc
            await message.ack()
        # Unacknowledged messages (listing only) go back to the parking queue on close.
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("queue", help="a consumer queue, e.g. articles.views-counted")
    parser.add_argument("--move", action="store_true", help="send the messages back")
    parser.add_argument("--limit", type=int, default=1000)
    args = parser.parse_args()
    url = amqp_url()
    try:
        parked = asyncio.run(redrive(url, args.queue, args.move, args.limit))
    except NotMoved as exc:
        print(f"{exc}; the rest stay parked", file=sys.stderr)
        return 1
    for item in parked:
        print(f"{item.message_id}\t{item.type}\t{item.reason}")
    verb = "moved back to" if args.move else "parked, not moved; --move sends them back to"
    print(f"{len(parked)} message(s) {verb} {args.queue}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
