"""The lasting LISTEN loop without a database: it outlives any failure (only cancellation
ends it), retrying with a delay that doubles with each failure in a row."""

from __future__ import annotations

import asyncio
from contextlib import suppress

import pytest

from services.common import listener


async def test_the_loop_goes_on_after_an_unexpected_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attempts = 0
    listening = asyncio.Event()

    async def listen_until_lost(*_args: object) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise KeyError("a bug, not an outage")
        if attempts == 2:
            raise OSError("the database is restarting")
        listening.set()
        await asyncio.Event().wait()

    async def nothing() -> None:
        return None

    monkeypatch.setattr(listener, "listen_until_lost", listen_until_lost)
    task = asyncio.create_task(
        listener.listen_forever("dsn", "x", lambda *_: None, nothing, "test", retry_seconds=0.01)
    )
    await asyncio.wait_for(listening.wait(), 5)
    assert not task.done()
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()  # cancellation still ends it
    assert attempts == 3


def test_the_retry_delay_doubles_with_failures_in_a_row_up_to_a_cap() -> None:
    delays = [listener.retry_delay(n, 1.0) for n in (0, 1, 2, 3, 4)]
    assert delays == [1.0, 1.0, 2.0, 4.0, 8.0]
    assert listener.retry_delay(1000, 1.0) == listener.MAX_RETRY_SECONDS
