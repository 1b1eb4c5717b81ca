"""Most read by period against the real Postgres and RabbitMQ: when a Vietnamese day
begins, every article read in the 30 days before goes out once more in views.counted, with
its sums for the new day, and only once whatever the number of instances."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest

from services.counter import actions
from tests.support.amqp import tap
from tests.support.counter import Counter, browser, running_counter
from tests.support.polling import eventually


@pytest.fixture
async def counter() -> AsyncIterator[Counter]:
    async with running_counter() as service:
        yield service


async def test_a_new_day_republishes_the_sums_without_the_day_that_left(
    counter: Counter,
) -> None:
    await counter.publish_article(401)
    for n in range(3):
        response = await counter.beacon(401, agent=browser(f"p{n}"), address=f"192.0.2.{n + 1}")
        assert response.status == 204
    await counter.settle()
    yesterday = date.fromisoformat(counter.clock.today)
    # Views 7 and 30 days before today (tomorrow, once the clock moves).
    await counter.pool.execute(
        "INSERT INTO daily_totals (article_id, day, views) VALUES (401, $1, 10), (401, $2, 100)",
        yesterday - timedelta(days=6),
        yesterday - timedelta(days=29),
    )
    async with tap(counter.amqp_url, "views.counted") as seen:
        counter.clock.advance(days=1)
        today = date.fromisoformat(counter.clock.today)

        async def republished() -> dict[str, Any] | None:
            for body in seen.bodies:
                data = body["data"]
                if data["article_id"] == 401 and data["day"] == today.isoformat():
                    return data
            return None

        data = await eventually(republished, message="401's sums for the new day")
    # Yesterday's 3 stay in both windows; the 10 of 7 days ago are out of the week now; the
    # 100 of 30 days ago are out of both.
    assert (data["today"], data["last_7_days"], data["last_30_days"]) == (0, 3, 13)
    assert data["total"] == 3
    # Another instance, or another round, does not do it again.
    async with counter.pool.acquire() as conn:
        assert await actions.refresh_windows(conn, today) == 0
