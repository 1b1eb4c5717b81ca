"""The micro-batcher of the view ingest: views wait a few milliseconds to go out together as
one views.batch, published with the broker's confirm before their requests are answered."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from prometheus_client import Counter, Histogram

from services.counter.domain import View

log = logging.getLogger(__name__)

PublishViews = Callable[[Sequence[View]], Awaitable[None]]

VIEW_BATCH_SIZE = Histogram(
    "bantin_view_batch_size",
    "Views per published views.batch",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000),
)
VIEW_BATCH_FAILURES = Counter(
    "bantin_view_batch_failures_total", "views.batch publishes that failed (views answered 503)"
)


class ViewBatcher:
    """Collects views and publishes them in batches: when `max_size` are waiting, or
    `max_delay` seconds after the first of a batch arrived. `submit` returns once the
    broker confirmed the view's batch and raises if it did not, so a request is answered
    only for a view that will be counted."""

    def __init__(
        self, publish: PublishViews, *, max_size: int = 500, max_delay: float = 0.02
    ) -> None:
        self._publish = publish
        self._max_size = max_size
        self._max_delay = max_delay
        self._pending: list[tuple[View, asyncio.Future[None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def waiting(self) -> int:
        return len(self._pending)

    async def submit(self, view: View) -> None:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((view, future))
        if self._closing or len(self._pending) >= self._max_size:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._max_delay, self.flush)
        await future

    def flush(self) -> None:
        """Send what is waiting now, as one batch."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        task = asyncio.create_task(self._send(batch), name="views-batch")
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[View, asyncio.Future[None]]]) -> None:
        VIEW_BATCH_SIZE.observe(len(batch))
        try:
            await self._publish([view for view, _ in batch])
        except Exception as exc:
            VIEW_BATCH_FAILURES.inc()
            log.error("views batch not published", extra={"views": len(batch), "error": repr(exc)})
            for _, future in batch:
                if not future.done():
                    future.set_exception(BatchFailed(repr(exc)))
                    future.exception()  # retrieved here too: a waiter may have gone away
            return
        for _, future in batch:
            if not future.done():
                future.set_result(None)

    def close(self) -> None:
        """Shutting down: send what waits now, and from now on every view at once."""
        self._closing = True
        self.flush()

    async def drain(self) -> None:
        """Close, then wait until every batch is confirmed or failed."""
        self.close()
        while self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)


class BatchFailed(Exception):
    """The batch holding this view was not published."""
