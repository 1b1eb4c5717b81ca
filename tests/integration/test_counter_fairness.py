"""Fair counts against the real Postgres and RabbitMQ: one address counts at most 8
distinct browsers per article per half hour (an office behind one address still counts its
readers; rotating the user agent multiplies nothing), through the beacon and the pixel
alike; only pages of our own site count; every view dropped by a rule is counted by reason
in bantin_views_dropped_total."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY

from tests.support.counter import Counter, browser, running_counter


@pytest.fixture(scope="module")
async def counter() -> AsyncIterator[Counter]:
    async with running_counter() as service:
        yield service


def dropped(reason: str) -> float:
    return REGISTRY.get_sample_value("bantin_views_dropped_total", {"reason": reason}) or 0.0


async def test_a_hundred_agents_from_one_address_count_eight(counter: Counter) -> None:
    await counter.publish_article(301)
    over_limit = dropped("address_limit")
    for n in range(100):
        response = await counter.beacon(301, agent=browser(f"rotating{n}"), address="192.0.2.10")
        assert response.status == 204  # answered alike: the sender cannot tell
    await counter.settle()
    assert await counter.total(301) == 8
    assert dropped("address_limit") - over_limit == 92
    # Another address is other readers; and the same address reading another article
    # counts there too.
    await counter.publish_article(302)
    for n in range(3):
        agent = browser(f"office{n}")
        assert (await counter.beacon(301, agent=agent, address="192.0.2.11")).status == 204
        agent = browser(f"office{n}")
        assert (await counter.beacon(302, agent=agent, address="192.0.2.10")).status == 204
    await counter.settle()
    assert await counter.total(301) == 11
    assert await counter.total(302) == 3


async def test_the_limit_holds_across_the_beacon_and_the_pixel(counter: Counter) -> None:
    await counter.publish_article(303)
    for n in range(6):
        response = await counter.beacon(303, agent=browser(f"mixed{n}"), address="192.0.2.20")
        assert response.status == 204
    for n in range(6, 12):
        response = await counter.pixel("a=303", agent=browser(f"mixed{n}"), address="192.0.2.20")
        assert response.status == 200
    await counter.settle()
    assert await counter.total(303) == 8


async def test_a_repeat_adds_nothing_and_is_counted_as_a_repeat(counter: Counter) -> None:
    await counter.publish_article(304)
    repeats = dropped("repeat")
    for _ in range(4):
        response = await counter.beacon(304, agent=browser("again"), address="192.0.2.30")
        assert response.status == 204
    await counter.settle()
    assert await counter.total(304) == 1
    assert dropped("repeat") - repeats == 3


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://another-site.example"},
        {"Origin": "null"},
    ],
)
async def test_a_beacon_or_pixel_sent_from_another_site_counts_nothing(
    counter: Counter, headers: dict[str, str]
) -> None:
    await counter.publish_article(305)
    other_site = dropped("other_site")
    response = await counter.beacon(305, agent=browser("elsewhere"), headers=headers)
    assert response.status == 204
    pixel = await counter.pixel("a=305", agent=browser("elsewhere"), headers=headers)
    assert pixel.status == 200
    await counter.settle()
    assert await counter.total(305) == 0
    assert dropped("other_site") - other_site == 2


async def test_our_own_pages_count_with_or_without_the_headers(counter: Counter) -> None:
    await counter.publish_article(306)
    host = counter.client.server.host
    port = counter.client.server.port
    for n, headers in enumerate(
        [
            {"Sec-Fetch-Site": "same-origin", "Origin": f"http://{host}:{port}"},
            {"Origin": f"http://{host}:{port}"},
            {},
        ]
    ):
        response = await counter.beacon(
            306, agent=browser(f"ours{n}"), address=f"192.0.2.{40 + n}", headers=headers
        )
        assert response.status == 204
    pixel = await counter.pixel(
        "a=306", agent=browser("ours-pixel"), headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert pixel.status == 200
    await counter.settle()
    assert await counter.total(306) == 4


async def test_a_bot_is_counted_as_dropped(counter: Counter) -> None:
    await counter.publish_article(307)
    bots = dropped("bot")
    assert (await counter.beacon(307, agent="curl/8.5.0")).status == 204
    await counter.settle()
    assert await counter.total(307) == 0
    assert dropped("bot") - bots == 1
