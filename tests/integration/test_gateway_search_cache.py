"""The gateway's micro-cache key for search (/tim-kiem) and listings: the parameters the
page reads, not its whole query string. The gateway and its stand-in upstreams are those of
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


async def test_listings_are_cached_by_the_parameters_they_read_as_the_service_reads_them(
    gateway: Gateway,  # noqa: F811
) -> None:
    http, upstreams = await gateway()

    async def cache(path: str) -> str:
        async with http.get(URL(path, encoded=True)) as response:
            assert response.status == 200, path
            return response.headers["X-Cache"]

    assert await cache("/chuyen-muc/tin-tuc?trang=5") == "MISS"
    assert await cache("/chuyen-muc/tin-tuc?utm=1&trang=5&trang=2") == "HIT"
    assert await cache("/?xem=7-ngay") == "MISS"
    assert await cache("/?r=1&xem=7-ngay") == "HIT"
    # Letter case: the service reads trang, not TRANG, so ?TRANG=5 is the first page and
    # must not take page 5's key (nginx's $arg_trang would have given it that key).
    assert await cache("/chuyen-muc/tin-tuc?TRANG=5") == "MISS"
    assert await cache("/chuyen-muc/tin-tuc") == "HIT"  # the key ?TRANG=5 took
    # A name with %-escapes is decoded by the service (tra%6Eg is trang): its whole query
    # string is its key, never the first page's nor page 5's.
    assert await cache("/chuyen-muc/tin-tuc?tra%6Eg=5") == "MISS"
    assert await cache("/chuyen-muc/tin-tuc?tra%6Eg=5&r=1") == "MISS"
    assert await cache("/?%78em=30-ngay") == "MISS"
    assert len(upstreams.paths("articles")) == 2 + 1 + 3
