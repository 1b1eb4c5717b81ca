"""The articles harness (tests/support/articles.py) starts a ready service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.articles import Site, running_site


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[Site]:
    async with running_site() as harness:
        yield harness


async def test_the_harness_serves_a_ready_articles_service(site: Site) -> None:
    response = await site.client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["checks"] == {"database": "ok", "broker": "ok"}


async def test_the_api_document_is_served(site: Site) -> None:
    response = await site.client.get("/api/v1/articles/openapi.json")
    assert response.status == 200
    assert (await response.json())["info"]["title"] == "Bantin articles API"
