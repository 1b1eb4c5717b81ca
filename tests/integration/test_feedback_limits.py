"""The daily cap per client address on the real Postgres and RabbitMQ (limit 3 here): the
forms and the JSON API share it, a refusal is a 429 that stores nothing, other addresses
are not affected, the counters hold no address, and past days' counters are deleted."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import ClientResponse

from services.feedback.limits import DailyCap
from tests.support.feedback import FORM_SECRET, Service, running_service

LIMIT = 3
ARTICLE = 301
_serial = itertools.count(1)


@pytest.fixture(scope="module")
async def service() -> AsyncIterator[Service]:
    # The gateway is a trusted proxy here, so each test speaks for addresses of its own.
    async with running_service(daily_limit=LIMIT, trusted_proxies=("127.0.0.1", "::1")) as svc:
        await svc.publish_article(ARTICLE)
        yield svc


def text() -> str:
    return f"Đề nghị tăng giờ tiếp công dân vào thứ bảy, ý kiến thứ {next(_serial)}."


async def api_post(service: Service, address: str, **fields: Any) -> ClientResponse:
    body = {"article_id": ARTICLE, "author_name": "Vũ Văn An", "body": text(), **fields}
    return await service.client.post(
        "/api/v1/feedback", json=body, headers={"X-Forwarded-For": address}
    )


async def form_post(service: Service, address: str) -> ClientResponse:
    data = {
        "author_name": "Vũ Văn An",
        "email": "",
        "body": text(),
        "website": "",
        "form_token": service.stamp(f"article:{ARTICLE}"),
    }
    return await service.client.post(
        f"/tin/{ARTICLE}/phan-hoi",
        data=data,
        headers={"X-Forwarded-For": address},
        allow_redirects=False,
    )


async def test_forms_and_api_share_one_daily_cap_per_address(service: Service) -> None:
    address = "198.51.100.10"
    assert (await api_post(service, address)).status == 202
    assert (await form_post(service, address)).status == 200
    assert (await api_post(service, address)).status == 202
    before = await service.counts()

    refused = await api_post(service, address)
    assert refused.status == 429
    assert refused.content_type == "application/problem+json"
    problem = await refused.json()
    assert problem["code"] == "too_many_submissions"
    assert f"{LIMIT} ý kiến trong hôm nay" in problem["detail"]
    assert 0 < int(refused.headers["Retry-After"]) <= 24 * 3600

    page = await form_post(service, address)
    assert page.status == 429
    assert page.content_type == "text/html"
    html = await page.text()
    assert f"{LIMIT} ý kiến trong hôm nay" in html
    assert 'name="body"' in html  # the form again, with what the reader typed
    assert await service.counts() == before  # nothing stored, nothing announced

    # Another address is not affected.
    assert (await api_post(service, "198.51.100.11")).status == 202


async def test_refused_submissions_do_not_use_up_the_cap(service: Service) -> None:
    address = "198.51.100.20"
    body = text()
    assert (await api_post(service, address, body=body)).status == 202
    duplicate = await api_post(service, address, body=body)
    assert duplicate.status == 409  # refused inside the transaction: its charge rolls back
    unknown = await api_post(service, address, article_id=999_999)
    assert unknown.status == 422
    assert (await api_post(service, address)).status == 202
    assert (await api_post(service, address)).status == 202
    assert (await api_post(service, address)).status == 429


async def test_the_counters_hold_no_address(service: Service) -> None:
    address = "198.51.100.30"
    assert (await api_post(service, address)).status == 202
    rows = [dict(r) for r in await service.pool.fetch("SELECT * FROM submission_counts")]
    assert address not in json.dumps(rows, default=str)
    mine = DailyCap(FORM_SECRET, LIMIT).quota(address, datetime.now(UTC))
    assert {"day": mine.day, "address_key": mine.key, "submissions": 1} in rows


async def test_counters_of_past_days_are_deleted(service: Service) -> None:
    today = DailyCap(FORM_SECRET).quota("x", datetime.now(UTC)).day
    await service.pool.execute(
        "INSERT INTO submission_counts (day, address_key, submissions) VALUES ($1, 'old', 9),"
        " ($2, 'older', 20)",
        today - timedelta(days=1),
        today - timedelta(days=30),
    )
    assert (await api_post(service, "198.51.100.40")).status == 202
    days = await service.pool.fetch("SELECT DISTINCT day FROM submission_counts")
    assert [r["day"] for r in days] == [today]
