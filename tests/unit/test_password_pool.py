"""The bounded pool Argon2 runs in (services/articles/passwords.py): at most `threads` at
once, at most `queue` more waiting, any further one refused at once (503 busy)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from services.articles import domain
from services.articles.answers import problem_for
from services.articles.passwords import HashingPool


async def test_past_the_queue_a_check_is_refused_at_once_and_counted_until_done() -> None:
    pool = HashingPool(threads=1, queue=2)
    release = threading.Event()
    running: list[int] = []

    def slow(number: int) -> int:
        running.append(number)
        release.wait(10)
        return number

    admitted = [asyncio.create_task(pool.run(slow, n)) for n in range(3)]
    await asyncio.sleep(0.05)
    assert running == [0]  # one thread: the others wait
    with pytest.raises(domain.HashingBusyError):
        await pool.run(slow, 3)
    # A request that goes away while its hash is computed holds its place until the
    # thread is done with it; one that goes away while waiting frees it (never runs).
    admitted[0].cancel()
    admitted[2].cancel()
    await asyncio.sleep(0.05)
    assert pool.admitted == 2
    release.set()
    assert await admitted[1] == 1
    await asyncio.sleep(0.05)
    assert pool.admitted == 0
    assert running == [0, 1]
    assert await pool.run(slow, 4) == 4
    pool.shutdown()


def test_busy_is_a_503_with_retry_after() -> None:
    answer = problem_for(domain.HashingBusyError())
    assert (answer.status, answer.code) == (503, "busy")
    assert answer.headers == {"Retry-After": "5"}
