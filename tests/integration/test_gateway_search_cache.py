"""The gateway's micro-cache key for search (/tim-kiem): the parameters the page reads,
not its whole query string. The gateway and its stand-in upstreams are those of
test_gateway.py."""

from __future__ import annotations

from yarl import URL

from tests.integration.test_gateway import Gateway, gateway  # noqa: F401 - the fixture
from tests.support.tools import needs

pytestmark = needs("nginx")


async def test_search_is_cached_by_the_parameters_it_reads(gateway: Gateway) -> None:  # noqa: F811
    http, upstreams = await gateway()

    async def cache(query: str) -> str:
        # Sent as written: the client would turn %71 back into q.
        async with http.get(URL(f"/tim-kiem?{query}", encoded=True)) as response:
            assert response.status == 200, query
            return response.headers["X-Cache"]

    # Parameters the page does not read, in any order, do not pass the cache.
    assert await cache("q=giao+uoc&utm_source=x") == "MISS"
    for n in range(3):
        assert await cache(f"utm_source=y&q=giao+uoc&r={n}") == "HIT"
    assert upstreams.paths("articles") == ["/tim-kiem"]
    # Each parameter it reads makes another page, and its first value is the one read (as
    # the service reads it): a later repeat changes nothing, an earlier one does.
    for query in (
        "q=thi+dua",
        "q=giao+uoc&chuyen-muc=tin-tuc",
        "q=giao+uoc&tu=2017-01-01",
        "q=giao+uoc&den=2017-12-31",
        "q=giao+uoc&trang=2",
        "q=khac&q=giao+uoc",
        "Q=giao+uoc",  # not the service's q: the empty search
    ):
        assert await cache(query) == "MISS", query
    assert await cache("q=giao+uoc&q=khac") == "HIT"
    assert await cache("trang=2&x=1&q=giao+uoc") == "HIT"
    assert await cache("") == "HIT"  # the same key as Q=giao+uoc: no q
    # A name with %-escapes is a name the service decodes (%71 is q): such a query keeps its
    # whole string, never the key of another search.
    assert await cache("%71=thi+dua") == "MISS"
    assert await cache("%71=thi+dua&r=1") == "MISS"
    assert await cache("q=giao+uoc&chuyen%2Dmuc=tin-tuc") == "MISS"
    assert len(upstreams.paths("articles")) == 1 + 7 + 3
