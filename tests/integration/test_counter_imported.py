"""An imported view count reaches the counter in the article's event (imported_views) and
starts the article's total once: a redelivery, a later article.updated or a re-import with
another figure leave it as it is, and real readers add to it. An admin's correction
(PUT .../imported) is the one way to change it afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.common.events.envelope import CloudEvent
from tests.support.amqp import publish_event
from tests.support.counter import Counter, browser, running_counter
from tests.support.polling import eventually


@pytest.fixture(scope="module")
async def counter() -> AsyncIterator[Counter]:
    async with running_counter() as service:
        yield service


async def handled(counter: Counter, event: CloudEvent) -> None:
    """Wait until the counter's consumer has committed `event` (its id is in the inbox)."""

    async def seen() -> bool:
        return bool(
            await counter.pool.fetchval(
                "SELECT true FROM handled_events WHERE event_id = $1", event.id
            )
        )

    await eventually(seen, interval=0.02, message=f"{event.type} {event.id} handled")


async def shown_total(counter: Counter, article_id: int) -> int:
    response = await counter.client.get(f"/api/v1/views/{article_id}")
    assert response.status == 200, await response.text()
    return int((await response.json())["total"])


async def total_becomes(counter: Counter, article_id: int, wanted: int) -> None:
    async def reached() -> bool:
        return await shown_total(counter, article_id) == wanted

    await eventually(reached, interval=0.05, message=f"article {article_id} total {wanted}")


async def test_the_first_imported_count_starts_the_total_and_nothing_resets_it(
    counter: Counter,
) -> None:
    first = await counter.send_article_event(301, "article.published", imported_views=680)
    await handled(counter, first)
    await total_becomes(counter, 301, 680)

    # A redelivery of the same event, an update carrying another figure (a re-import with
    # a changed count would send one), and an update without any: the total stays.
    await publish_event(counter.amqp_url, first)
    changed = await counter.send_article_event(301, "article.updated", imported_views=9000)
    plain = await counter.send_article_event(301, "article.updated")
    await handled(counter, changed)
    await handled(counter, plain)
    assert await shown_total(counter, 301) == 680

    # Real readers add to it; a later event with a figure still changes nothing.
    assert (await counter.beacon(301, agent=browser("lan"))).status == 204
    await counter.settle()
    await total_becomes(counter, 301, 681)
    again = await counter.send_article_event(301, "article.updated", imported_views=680)
    await handled(counter, again)
    await counter.settle()
    assert await shown_total(counter, 301) == 681


async def test_an_article_counted_before_its_imported_count_arrives_keeps_its_views(
    counter: Counter,
) -> None:
    """Views that came first are kept; the imported count is added to them."""
    await counter.publish_article(302)
    assert (await counter.beacon(302, agent=browser("minh"))).status == 204
    await counter.settle()
    await total_becomes(counter, 302, 1)
    event = await counter.send_article_event(302, "article.updated", imported_views=50)
    await handled(counter, event)
    await total_becomes(counter, 302, 51)


async def test_zero_is_a_count_and_an_article_without_one_starts_at_zero(
    counter: Counter,
) -> None:
    zero = await counter.send_article_event(303, "article.published", imported_views=0)
    await handled(counter, zero)
    later = await counter.send_article_event(303, "article.updated", imported_views=75)
    await handled(counter, later)
    assert await shown_total(counter, 303) == 0

    plain = await counter.send_article_event(304, "article.published")
    await handled(counter, plain)
    assert await shown_total(counter, 304) == 0


async def test_an_admin_correction_replaces_the_imported_count_and_stays(
    counter: Counter,
) -> None:
    first = await counter.send_article_event(305, "article.published", imported_views=680)
    await handled(counter, first)
    response = await counter.client.put(
        "/api/v1/views/305/imported", json={"total": 700}, headers=counter.auth("admin")
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["total"] == 700
    later = await counter.send_article_event(305, "article.updated", imported_views=680)
    await handled(counter, later)
    assert await shown_total(counter, 305) == 700


async def test_a_negative_or_malformed_count_is_refused_by_the_contract(
    counter: Counter,
) -> None:
    """The schema says an integer of 0 or more: such an event is parked, the total not
    started."""
    bad = await counter.send_article_event(306, "article.published", imported_views=-5)
    await counter.send_article_event(306, "article.updated")

    async def countable() -> bool:
        return await counter.countable(306)

    await eventually(countable, interval=0.05, message="article 306 countable")
    assert not await counter.pool.fetchval(
        "SELECT true FROM handled_events WHERE event_id = $1", bad.id
    )
    assert await shown_total(counter, 306) == 0
