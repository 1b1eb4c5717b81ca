"""View ingest against the real Postgres and RabbitMQ: who is counted (once per reader, per
article, per half hour), who is not (bots, unknown or withdrawn articles, bad requests),
the pixel, answers that no cache keeps, and a broker that does not take the batch."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable

import aio_pika
import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.common.events import topology
from services.counter.api import PIXEL
from services.counter.app import create_app
from tests.support.counter import (
    BROWSER,
    FAST,
    Counter,
    browser,
    counter_settings,
    running_counter,
)
from tests.support.infra import create_vhost, delete_vhost
from tests.support.polling import eventually

HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " HeadlessChrome/120.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.fixture(scope="module")
async def counter() -> AsyncIterator[Counter]:
    async with running_counter() as service:
        yield service


async def test_distinct_readers_each_count_once(counter: Counter) -> None:
    await counter.publish_article(101)
    for reader in ("an", "binh", "chi"):
        response = await counter.beacon(101, agent=browser(reader))
        assert response.status == 204
        assert response.headers["Cache-Control"] == "no-store"
    # The same browser from another address is another reader.
    assert (await counter.beacon(101, agent=browser("an"), address="198.51.100.7")).status == 204
    await counter.settle()
    assert await counter.total(101) == 4
    views = await counter.client.get("/api/v1/views/101")
    assert await views.json() == {"article_id": 101, "total": 4, "today": 4}


async def test_a_reader_repeating_within_half_an_hour_adds_nothing(counter: Counter) -> None:
    await counter.publish_article(102)
    for _ in range(5):
        assert (await counter.beacon(102, agent=browser("dung"))).status == 204
    await counter.settle()
    assert await counter.total(102) == 1


async def test_the_same_reader_counts_again_in_the_next_half_hour(counter: Counter) -> None:
    """Buckets are the clock's half hours (10:00-10:29:59, 10:30-...), the same for every
    instance."""
    await counter.publish_article(103)
    counter.clock.now = counter.clock.now.replace(minute=1)
    assert (await counter.beacon(103, agent=browser("giang"))).status == 204
    counter.clock.advance(minutes=28, seconds=59)  # 10:29:59
    assert (await counter.beacon(103, agent=browser("giang"))).status == 204
    await counter.settle()
    assert await counter.total(103) == 1
    counter.clock.advance(seconds=1)  # 10:30: the next bucket
    assert (await counter.beacon(103, agent=browser("giang"))).status == 204
    await counter.settle()
    assert await counter.total(103) == 2


@pytest.mark.parametrize("agent", [HEADLESS, GOOGLEBOT, "curl/8.5.0", ""])
async def test_a_bot_is_answered_but_not_counted(counter: Counter, agent: str) -> None:
    await counter.publish_article(104)
    assert (await counter.beacon(104, agent=agent)).status == 204
    pixel = await counter.pixel("a=104", agent=agent)
    assert pixel.status == 200 and await pixel.read() == PIXEL
    await counter.settle()
    assert await counter.total(104) == 0
    assert await counter.keys_of(104) == 0


async def test_the_pixel_counts_and_answers_a_gif_that_is_never_cached(counter: Counter) -> None:
    await counter.publish_article(105)
    response = await counter.pixel("a=105", agent=browser("hoa"))
    assert response.status == 200
    assert response.content_type == "image/gif"
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.read()
    assert body == PIXEL and body.startswith(b"GIF89a")
    # The same reader through the beacon in the same half hour is the same view.
    assert (await counter.beacon(105, agent=browser("hoa"))).status == 204
    # HEAD (a prefetcher, a link checker) answers alike and counts nothing.
    assert (await counter.pixel("a=105", agent=browser("khanh"), method="HEAD")).status == 200
    await counter.settle()
    assert await counter.total(105) == 1


async def test_a_form_beacon_counts(counter: Counter) -> None:
    await counter.publish_article(106)
    response = await counter.beacon(
        106, content_type="application/x-www-form-urlencoded", body=b"a=106"
    )
    assert response.status == 204
    await counter.settle()
    assert await counter.total(106) == 1


async def test_an_unknown_article_is_a_404_and_counts_nothing(counter: Counter) -> None:
    for response in (
        await counter.beacon(4040, agent=browser("lan")),
        await counter.pixel("a=4040", agent=browser("lan")),
    ):
        assert response.status == 404
        assert response.content_type == "application/problem+json"
        assert response.headers["Cache-Control"] == "no-store"
        problem = await response.json()
        assert problem["code"] == "article_not_found"
        assert problem["detail"].startswith("Không tìm thấy bài viết")
    await counter.settle()
    assert await counter.keys_of(4040) == 0
    assert await counter.total(4040) == 0
    assert (await counter.client.get("/api/v1/views/4040")).status == 404


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"),
    [
        ("application/json", b"{nope", 400, "invalid_json"),
        ("text/plain", b"", 400, "invalid_json"),
        ("application/json", b"{}", 422, "invalid_input"),
        ("application/json", b'{"article_id": "107"}', 422, "invalid_input"),
        ("application/json", b'{"article_id": -107}', 422, "invalid_input"),
        ("application/x-www-form-urlencoded", b"a=", 422, "invalid_input"),
        ("application/x-www-form-urlencoded", b"b=107", 422, "invalid_input"),
        ("image/png", b'{"article_id": 107}', 415, "unsupported_media_type"),
        ("application/json", b'{"article_id": 107, "pad": "' + b"x" * 2000 + b'"}', 413, None),
    ],
)
async def test_a_malformed_beacon_is_a_clear_4xx_and_counts_nothing(
    counter: Counter, content_type: str, body: bytes, status: int, code: str | None
) -> None:
    await counter.publish_article(107)
    response = await counter.beacon(107, content_type=content_type, body=body)
    assert response.status == status
    assert response.content_type == "application/problem+json"
    assert response.headers["Cache-Control"] == "no-store"
    problem = await response.json()
    assert problem["code"] == (code or "body_too_large")
    assert problem["detail"]
    await counter.settle()
    assert await counter.keys_of(107) == 0


@pytest.mark.parametrize("query", ["", "a=", "a=abc", "a=0", "a=-1", "x=107"])
async def test_a_pixel_without_a_valid_id_is_a_problem(counter: Counter, query: str) -> None:
    await counter.publish_article(107)
    response = await counter.pixel(query, agent=browser("minh"))
    assert response.status == 422
    assert response.content_type == "application/problem+json"
    assert response.headers["Cache-Control"] == "no-store"
    await counter.settle()
    assert await counter.keys_of(107) == 0


async def test_a_published_article_is_countable_within_a_second(counter: Counter) -> None:
    assert not await counter.countable(108)
    await counter.send_article_event(108, "article.published")
    began = time.monotonic()
    await eventually(lambda: counter.countable(108), timeout=5, interval=0.02)
    assert time.monotonic() - began < 1.0


async def test_a_row_changed_in_the_table_reaches_ingest_without_a_reload(
    counter: Counter,
) -> None:
    """Another instance's consumer wrote it: the table's NOTIFY tells this instance (the
    full reload runs only every minute here)."""
    await counter.pool.execute(
        "INSERT INTO articles (id, countable, version) VALUES (109, true, 1)"
    )
    began = time.monotonic()
    await eventually(lambda: counter.countable(109), timeout=5, interval=0.02)
    assert time.monotonic() - began < 1.0
    await counter.pool.execute("UPDATE articles SET countable = false WHERE id = 109")
    await eventually(lambda: _not(counter.countable(109)), timeout=1)


async def _not(check: Awaitable[bool]) -> bool:
    return not await check


async def test_an_unpublished_article_stops_counting(counter: Counter) -> None:
    await counter.publish_article(110)
    assert (await counter.beacon(110, agent=browser("nam"))).status == 204
    await counter.send_article_event(110, "article.unpublished")
    await eventually(lambda: _not(counter.countable(110)))
    response = await counter.beacon(110, agent=browser("oanh"))
    assert response.status == 404
    assert (await response.json())["code"] == "article_not_found"
    await counter.settle()
    assert await counter.total(110) == 1  # what was counted while it was public stays
    # Published again (a higher version), it counts again.
    await counter.publish_article(110)
    assert (await counter.beacon(110, agent=browser("oanh"))).status == 204
    await counter.settle()
    assert await counter.total(110) == 2


async def test_neither_address_nor_agent_is_stored_or_logged(
    counter: Counter, caplog: pytest.LogCaptureFixture
) -> None:
    await counter.publish_article(111)
    address, agent = "198.51.100.233", browser("Unique7319")
    with caplog.at_level(logging.DEBUG):
        assert (await counter.beacon(111, agent=agent, address=address)).status == 204
        assert (await counter.beacon(4041, agent=agent, address=address)).status == 404
        await counter.settle()
    assert await counter.total(111) == 1
    await eventually(lambda: _counted_published(counter, 111))
    dump = await schema_dump(counter)
    assert '"type":"views.counted"' in dump and '"article_id":111' in dump  # it sees the rows
    for secret in (address, agent, "Unique7319"):
        assert secret not in dump
        assert secret not in caplog.text


async def _counted_published(counter: Counter, article_id: int) -> bool:
    return bool(
        await counter.pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE type = 'views.counted' AND subject = $1)",
            str(article_id),
        )
    )


async def schema_dump(counter: Counter) -> str:
    """Every row of every table in the counter's schema (outbox included), as JSON text."""
    tables = await counter.pool.fetch(
        """SELECT quote_ident(table_name) AS name FROM information_schema.tables
            WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"""
    )
    assert {"outbox", "view_keys", "daily_totals"} <= {t["name"] for t in tables}
    parts = [
        await counter.pool.fetchval(
            f"SELECT coalesce(string_agg(row_to_json(t)::text, E'\\n'), '') FROM {t['name']} t"
        )
        for t in tables
    ]
    return "\n".join(parts)


async def test_a_batch_the_broker_does_not_route_is_a_503_and_counts_nothing(
    counter: Counter,
) -> None:
    """A second instance on a vhost where the counting queue lost its binding: the broker
    confirms the batch but routes it nowhere, so the view would be lost; the reader gets
    a 503 and nothing is counted."""
    await counter.publish_article(112)
    vhost = create_vhost()
    try:
        await topology.apply(vhost.url)
        connection = await aio_pika.connect(vhost.url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.get_queue("counter.view-batches", ensure=True)
            await queue.unbind(topology.INTERNAL_EXCHANGE, "views.batch")
        settings = counter_settings(counter.database, vhost.url, counter.keys)
        app = create_app(settings, FAST, counter.clock)
        async with TestClient(TestServer(app, access_log=None)) as other:
            response = await other.post(
                "/api/v1/views",
                data=b'{"article_id": 112}',
                headers={"Content-Type": "application/json", "User-Agent": BROWSER},
            )
            assert response.status == 503
            assert response.headers["Cache-Control"] == "no-store"
            assert (await response.json())["code"] == "service_unavailable"
    finally:
        delete_vhost(vhost)
    await counter.settle()
    assert await counter.keys_of(112) == 0
