"""The ingest micro-batcher without a broker: it flushes at the size limit or after the
delay, answers each view only once its batch is confirmed, fails every view of a batch
that was not published, and sends what waits when it is closed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import date

import pytest

from services.counter.batcher import BatchFailed, ViewBatcher
from services.counter.domain import View
from tests.support.polling import eventually

DAY = date(2026, 11, 28)


def view(n: int) -> View:
    return View(article_id=1, key=f"{n:064x}", day=DAY)


class FakeBroker:
    """Records batches (`published` is set once one arrives); confirms them when `confirm`
    is set, or fails them. `log` records each confirm in order with the test's own events."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[View]] = []
        self.published = asyncio.Event()
        self.confirm = asyncio.Event()
        self.confirm.set()
        self.fail = fail
        self.log: list[str] = []

    async def publish(self, views: Sequence[View]) -> None:
        self.batches.append(list(views))
        self.published.set()
        await self.confirm.wait()
        self.log.append("confirmed")
        if self.fail:
            raise ConnectionError("broker gone")


async def test_views_arriving_together_go_out_as_one_batch_after_the_delay() -> None:
    broker = FakeBroker()
    batcher = ViewBatcher(broker.publish, max_size=500, max_delay=0.02)
    began = time.monotonic()
    await asyncio.gather(*(batcher.submit(view(n)) for n in range(50)))
    assert time.monotonic() - began >= 0.015
    assert [len(b) for b in broker.batches] == [50]
    assert broker.batches[0] == [view(n) for n in range(50)]


async def test_a_full_batch_goes_out_at_once() -> None:
    broker = FakeBroker()
    batcher = ViewBatcher(broker.publish, max_size=10, max_delay=60)
    submitted = [asyncio.create_task(batcher.submit(view(n))) for n in range(25)]
    await asyncio.wait_for(asyncio.gather(*submitted[:20]), 1)
    assert [len(b) for b in broker.batches] == [10, 10]
    assert batcher.waiting == 5  # the rest waits for the delay (or for more views)
    await batcher.drain()
    await asyncio.gather(*submitted)


async def test_the_remainder_waits_for_the_delay() -> None:
    broker = FakeBroker()
    batcher = ViewBatcher(broker.publish, max_size=10, max_delay=0.05)
    await asyncio.gather(*(batcher.submit(view(n)) for n in range(25)))
    assert [len(b) for b in broker.batches] == [10, 10, 5]


async def test_a_view_is_answered_only_after_its_batch_is_confirmed() -> None:
    broker = FakeBroker()
    broker.confirm.clear()
    batcher = ViewBatcher(broker.publish, max_size=500, max_delay=0.001)
    waiting = asyncio.create_task(batcher.submit(view(1)))
    await asyncio.wait_for(broker.published.wait(), 1)
    assert broker.batches == [[view(1)]] and not waiting.done()
    broker.confirm.set()
    await asyncio.wait_for(waiting, 1)


async def test_every_view_of_a_failed_batch_fails() -> None:
    broker = FakeBroker(fail=True)
    batcher = ViewBatcher(broker.publish, max_size=500, max_delay=0.001)
    results = await asyncio.gather(
        *(batcher.submit(view(n)) for n in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, BatchFailed) for r in results)


async def test_a_failed_batch_does_not_spoil_the_next() -> None:
    broker = FakeBroker(fail=True)
    batcher = ViewBatcher(broker.publish, max_size=500, max_delay=0.001)
    with pytest.raises(BatchFailed):
        await batcher.submit(view(1))
    broker.fail = False
    await batcher.submit(view(2))
    assert len(broker.batches) == 2


async def test_closing_sends_what_waits_without_the_delay() -> None:
    broker = FakeBroker()
    batcher = ViewBatcher(broker.publish, max_size=500, max_delay=60)
    waiting = [asyncio.create_task(batcher.submit(view(n))) for n in range(3)]
    await eventually(lambda: batcher.waiting == 3, timeout=1, interval=0)
    assert not broker.batches
    await asyncio.wait_for(batcher.drain(), 1)
    await asyncio.wait_for(asyncio.gather(*waiting), 1)
    assert [len(b) for b in broker.batches] == [3]
    # After closing, a late view goes out on its own at once.
    await asyncio.wait_for(batcher.submit(view(9)), 1)
    assert [len(b) for b in broker.batches] == [3, 1]


async def test_drain_waits_for_batches_in_flight() -> None:
    broker = FakeBroker()
    broker.confirm.clear()
    batcher = ViewBatcher(broker.publish, max_size=500, max_delay=0.001)
    waiting = asyncio.create_task(batcher.submit(view(1)))
    await asyncio.wait_for(broker.published.wait(), 1)  # the batch is in flight

    async def drain() -> None:
        await batcher.drain()
        broker.log.append("drained")

    draining = asyncio.create_task(drain())
    broker.confirm.set()
    await asyncio.wait_for(draining, 1)
    # A drain that did not wait would have ended on its first turn, before the confirm.
    assert broker.log == ["confirmed", "drained"]
    assert waiting.done()


async def test_a_waiter_that_went_away_does_not_break_the_batch() -> None:
    broker = FakeBroker()
    broker.confirm.clear()
    batcher = ViewBatcher(broker.publish, max_size=500, max_delay=0.001)
    gone = asyncio.create_task(batcher.submit(view(1)))
    stays = asyncio.create_task(batcher.submit(view(2)))
    await asyncio.wait_for(broker.published.wait(), 1)
    assert broker.batches == [[view(1), view(2)]]  # both in the batch now in flight
    gone.cancel()
    broker.confirm.set()
    await asyncio.wait_for(stays, 1)
    assert gone.cancelled()
