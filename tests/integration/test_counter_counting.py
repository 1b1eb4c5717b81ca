"""Counting against the real Postgres and RabbitMQ: a batch delivered twice counts once,
views.counted goes out with exact totals and rising versions, the counts API, the imported
starting total, and a shutdown that answers the views waiting in the buffer."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from services.counter.app import create_app
from services.counter.config import BATCHER, CounterSettings
from tests.support.amqp import Tap, tap
from tests.support.counter import (
    Counter,
    browser,
    counter_settings,
    running_counter,
)
from tests.support.openapi import documented_routes, served_routes
from tests.support.polling import eventually


@pytest.fixture(scope="module")
async def counter() -> AsyncIterator[Counter]:
    async with running_counter() as service:
        yield service


def new_key() -> str:
    return secrets.token_hex(32)


async def daily(counter: Counter, article_id: int, day: date) -> int:
    value = await counter.pool.fetchval(
        "SELECT views FROM daily_totals WHERE article_id = $1 AND day = $2", article_id, day
    )
    return int(value or 0)


async def test_the_same_batch_delivered_twice_counts_once(counter: Counter) -> None:
    today = date.fromisoformat(counter.clock.today)
    keys = [new_key() for _ in range(3)]
    views = [{"article_id": 201, "key": k, "day": today.isoformat()} for k in keys]
    views.append(views[0])  # the same reader twice in one batch, too
    first = await counter.publish_batch(views)
    second = await counter.publish_batch(views)  # republished: another event id
    assert first.id != second.id
    await counter.settle()
    assert await counter.total(201) == 3
    assert await daily(counter, 201, today) == 3
    # A batch overlapping the others adds only its new key.
    await counter.publish_batch(
        [{"article_id": 201, "key": k, "day": today.isoformat()} for k in [keys[1], new_key()]]
    )
    await counter.settle()
    assert await counter.total(201) == 4


async def test_a_view_older_than_the_kept_keys_is_not_counted(counter: Counter) -> None:
    """Its key could not be checked against the keys already deleted, so counting it could
    count a reader twice."""
    today = date.fromisoformat(counter.clock.today)
    yesterday, older = today - timedelta(days=1), today - timedelta(days=2)
    await counter.publish_batch(
        [
            {"article_id": 202, "key": new_key(), "day": yesterday.isoformat()},
            {"article_id": 202, "key": new_key(), "day": older.isoformat()},
        ]
    )
    await counter.settle()
    assert await counter.total(202) == 1
    assert await daily(counter, 202, yesterday) == 1
    assert await daily(counter, 202, older) == 0


async def counted_events(seen: Tap, article_id: int) -> list[dict[str, Any]]:
    return sorted(
        (e for e in seen.bodies if e["subject"] == str(article_id)),
        key=lambda e: e["data"]["version"],
    )


async def latest_total_is(seen: Tap, article_id: int, total: int) -> bool:
    events = await counted_events(seen, article_id)
    return bool(events) and events[-1]["data"]["total"] == total


async def all_counted_events_arrived(counter: Counter, seen: Tap, article_id: int) -> bool:
    pending = await counter.pool.fetchval(
        "SELECT changed FROM article_totals WHERE article_id = $1", article_id
    )
    written = await counter.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE type = 'views.counted' AND subject = $1",
        str(article_id),
    )
    return pending is False and len(await counted_events(seen, article_id)) >= written


async def test_views_counted_carries_exact_totals_and_rising_versions(counter: Counter) -> None:
    await counter.publish_article(203)
    async with tap(counter.amqp_url, "views.counted") as seen:
        for reader in ("an", "binh"):
            assert (await counter.beacon(203, agent=browser(reader))).status == 204
        await eventually(lambda: latest_total_is(seen, 203, 2))
        assert (await counter.beacon(203, agent=browser("chi"))).status == 204
        assert (await counter.beacon(203, agent=browser("chi"))).status == 204  # again
        await eventually(lambda: latest_total_is(seen, 203, 3))
        await counter.settle()
        # Every view is counted; once no change waits to be published and every
        # views.counted written for the article has arrived, nothing more can come out.
        await eventually(
            lambda: all_counted_events_arrived(counter, seen, 203),
            message="every views.counted of article 203 published and arrived",
        )
        events = await counted_events(seen, 203)
    versions = [e["data"]["version"] for e in events]
    totals = [e["data"]["total"] for e in events]
    assert versions == list(range(1, len(events) + 1))  # 1, 2, ...: one per change
    assert totals == sorted(totals) and totals[-1] == 3 and set(totals) <= {1, 2, 3}
    for event in events:
        assert event["type"] == "views.counted"
        assert event["source"] == "/bantin/counter"
        data = event["data"]
        assert set(data) == {
            "article_id",
            "version",
            "total",
            "today",
            "day",
            "last_7_days",
            "last_30_days",
        }
        assert data["article_id"] == 203
        # All of them today.
        assert data["today"] == data["last_7_days"] == data["last_30_days"] == data["total"]
        assert data["day"] == counter.clock.today
    views = await counter.client.get("/api/v1/views/203")
    assert await views.json() == {"article_id": 203, "total": 3, "today": 3}


async def test_an_article_never_viewed_has_zero_and_an_unknown_one_is_404(
    counter: Counter,
) -> None:
    await counter.publish_article(204)
    response = await counter.client.get("/api/v1/views/204")
    assert response.status == 200
    assert await response.json() == {"article_id": 204, "total": 0, "today": 0}
    missing = await counter.client.get("/api/v1/views/20404")
    assert missing.status == 404
    assert (await missing.json())["code"] == "article_not_found"


async def test_the_imported_total_is_added_and_published(counter: Counter) -> None:
    await counter.publish_article(205)
    async with tap(counter.amqp_url, "views.counted") as seen:
        assert (await counter.beacon(205, agent=browser("dung"))).status == 204
        await eventually(lambda: latest_total_is(seen, 205, 1))
        response = await counter.client.put(
            "/api/v1/views/205/imported", json={"total": 1250}, headers=counter.auth("admin")
        )
        assert response.status == 200
        assert await response.json() == {
            "article_id": 205,
            "total": 1251,
            "today": 1,
            "imported": 1250,
        }
        await eventually(lambda: latest_total_is(seen, 205, 1251))
        events = await counted_events(seen, 205)
    assert [(e["data"]["version"], e["data"]["total"], e["data"]["today"]) for e in events] == [
        (1, 1, 1),
        (2, 1251, 1),
    ]
    views = await counter.client.get("/api/v1/views/205")
    assert (await views.json())["total"] == 1251


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, {"total": 5}, 401),
        ("editor", {"total": 5}, 403),
        ("admin", {"total": -5}, 422),
        ("admin", {"total": "5"}, 422),
        ("admin", {"count": 5}, 422),
    ],
)
async def test_only_an_admin_sets_a_valid_imported_total(
    counter: Counter, headers: dict | str, body: dict, status: int
) -> None:
    auth = counter.auth(headers) if isinstance(headers, str) else headers
    response = await counter.client.put("/api/v1/views/206/imported", json=body, headers=auth)
    assert response.status == status
    assert response.content_type == "application/problem+json"
    assert (await counter.client.get("/api/v1/views/206")).status == 404  # nothing written


async def test_most_read_ranks_published_articles_by_views_in_the_period(
    counter: Counter,
) -> None:
    for article_id in (207, 208, 209):
        await counter.publish_article(article_id)
    for article_id, readers in ((207, 3), (208, 1), (209, 5)):
        for n in range(readers):
            response = await counter.beacon(
                article_id, agent=browser(f"r{article_id}x{n}"), address=f"198.51.100.{n + 1}"
            )
            assert response.status == 204
    await counter.settle()
    await counter.send_article_event(209, "article.unpublished")  # no longer listed
    # Views carried over from other days count in the periods that hold those days only.
    today = date.fromisoformat(counter.clock.today)
    await counter.pool.execute(
        """INSERT INTO daily_totals (article_id, day, views)
           VALUES (208, $1, 50), (207, $2, 4), (208, $3, 1000)""",
        today - timedelta(days=10),
        today - timedelta(days=1),
        today - timedelta(days=30),
    )
    await eventually(lambda: _not_countable(counter, 209))

    async def ranking(query: str) -> tuple[dict[str, Any], list[tuple[int, int]]]:
        response = await counter.client.get(f"/api/v1/views/most-read?{query}")
        assert response.status == 200
        assert response.headers["Cache-Control"] == "public, max-age=5"
        body = await response.json()
        mine = [
            (i["article_id"], i["views"])
            for i in body["items"]
            if i["article_id"] in (207, 208, 209)
        ]
        return body, mine

    day, ranked = await ranking("period=day&limit=50")
    assert ranked == [(207, 3), (208, 1)]
    assert (day["period"], day["days"], day["from"], day["to"]) == (
        "day",
        1,
        today.isoformat(),
        today.isoformat(),
    )
    week, ranked = await ranking("period=week&limit=49")
    assert ranked == [(207, 7), (208, 1)]
    assert week["from"] == (today - timedelta(days=6)).isoformat()
    assert (await ranking("period=month&limit=48"))[1] == [(208, 51), (207, 7)]
    default, _ = await ranking("")
    assert default["period"] == "week" and len(default["items"]) <= 10


async def _not_countable(counter: Counter, article_id: int) -> bool:
    return not await counter.countable(article_id)


async def test_most_read_is_cached_for_a_few_seconds(counter: Counter) -> None:
    await counter.publish_article(215)
    first = await counter.client.get("/api/v1/views/most-read?period=day&limit=47")
    before = [i["article_id"] for i in (await first.json())["items"]]
    assert 215 not in before
    response = await counter.beacon(215, agent=browser("cached"), address="198.51.100.215")
    assert response.status == 204
    await counter.settle()
    again = await counter.client.get("/api/v1/views/most-read?period=day&limit=47")
    assert [i["article_id"] for i in (await again.json())["items"]] == before

    async def listed() -> bool:
        fresh = await counter.client.get("/api/v1/views/most-read?period=day&limit=47")
        return 215 in [i["article_id"] for i in (await fresh.json())["items"]]

    await eventually(listed, timeout=10)


async def test_an_article_s_views_day_by_day(counter: Counter) -> None:
    await counter.publish_article(216)
    for n in range(2):
        response = await counter.beacon(
            216, agent=browser(f"series{n}"), address=f"198.51.100.{n + 50}"
        )
        assert response.status == 204
    await counter.settle()
    today = date.fromisoformat(counter.clock.today)
    await counter.pool.execute(
        "INSERT INTO daily_totals (article_id, day, views) VALUES (216, $1, 9)",
        today - timedelta(days=2),
    )
    response = await counter.client.get("/api/v1/views/216/days?days=4")
    assert response.status == 200
    assert await response.json() == {
        "article_id": 216,
        "days": [
            {"day": (today - timedelta(days=3)).isoformat(), "views": 0},
            {"day": (today - timedelta(days=2)).isoformat(), "views": 9},
            {"day": (today - timedelta(days=1)).isoformat(), "views": 0},
            {"day": today.isoformat(), "views": 2},
        ],
    }
    default = await counter.client.get("/api/v1/views/216/days")
    assert len((await default.json())["days"]) == 30
    unknown = await counter.client.get("/api/v1/views/987654/days")
    assert unknown.status == 404


@pytest.mark.parametrize("query", ["days=0", "days=91", "days=abc"])
async def test_a_series_longer_than_90_days_is_refused(counter: Counter, query: str) -> None:
    response = await counter.client.get(f"/api/v1/views/216/days?{query}")
    assert response.status == 422
    assert (await response.json())["code"] == "invalid_input"


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "limit=51", "period=year", "period=DAY"])
async def test_most_read_refuses_bad_parameters(counter: Counter, query: str) -> None:
    response = await counter.client.get(f"/api/v1/views/most-read?{query}")
    assert response.status == 422
    assert (await response.json())["code"] == "invalid_input"


async def test_views_waiting_in_the_buffer_are_sent_and_answered_on_shutdown(
    counter: Counter,
) -> None:
    """A second instance whose buffer would hold views for half a minute: stopping it sends
    them at once, answers their requests, and they are counted."""
    await counter.publish_article(210)
    settings = counter_settings(counter.database, counter.amqp_url, counter.keys)
    slow = CounterSettings(batch_delay=30.0, counts_interval=0.1)
    app = create_app(settings, slow, counter.clock)
    server = TestServer(app, access_log=None)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:

            async def view(reader: str) -> int:
                async with session.post(
                    server.make_url("/api/v1/views"),
                    data=b'{"article_id": 210}',
                    headers={"Content-Type": "text/plain", "User-Agent": browser(reader)},
                ) as response:
                    return response.status

            requests = [asyncio.create_task(view(r)) for r in ("giang", "hoa", "khanh")]

            async def all_waiting() -> bool:
                return app[BATCHER].waiting == 3

            await eventually(all_waiting)
            began = time.monotonic()
            await server.close()
            statuses = await asyncio.wait_for(asyncio.gather(*requests), 10)
            assert statuses == [204, 204, 204]
            assert time.monotonic() - began < 10  # not the 30 s the buffer would wait
    finally:
        await server.close()
    await counter.settle()
    assert await counter.total(210) == 3


async def test_the_openapi_document_describes_every_route(counter: Counter) -> None:
    response = await counter.client.get("/api/v1/views/openapi.json")
    assert response.status == 200
    document = await response.json()
    assert document["openapi"].startswith("3.")
    documented = documented_routes(document)
    served = served_routes(counter.client.app, ("/api/", "/v.gif"))
    assert documented == served
