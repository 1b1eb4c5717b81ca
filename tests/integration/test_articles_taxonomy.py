"""Categories nested one level, tags, topics and pins through the articles API, on the real
Postgres and RabbitMQ: who may change them, the refusals (and that a refusal changes
nothing), and the article.updated events a change of a public article's taxonomy writes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest

from services.articles import actions
from services.common.events.schemas import validate
from tests.support.amqp import tap
from tests.support.articles import Site, running_site

# What a public page tells browsers and the gateway: fresh 2 s, then 5 s stale at most.
PUBLIC_CACHE = "public, max-age=2, stale-while-revalidate=5"


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[Site]:
    async with running_site() as harness:
        yield harness


async def problem(response: aiohttp.ClientResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    body = dict(await response.json())
    assert body["code"] == code
    return body


def fields_of(body: dict[str, Any]) -> list[str]:
    return [e["field"] for e in body.get("errors", [])]


async def announced(site: Site, article_id: int) -> list[dict[str, Any]]:
    """The outbox's envelopes about one article, oldest first, each checked against its
    schema."""
    rows = await site.pool.fetch(
        "SELECT envelope FROM outbox WHERE subject = $1 ORDER BY created_at, id",
        str(article_id),
    )
    envelopes = [dict(r["envelope"]) for r in rows]
    for envelope in envelopes:
        validate(envelope)
    return envelopes


async def categories(site: Site) -> list[dict[str, Any]]:
    return list((await (await site.client.get("/api/v1/categories")).json())["items"])


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:6]}"


async def child_of(site: Site, parent: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    response = await site.client.post(
        "/api/v1/categories",
        json={"name": name or unique("Mục con"), "parent_id": parent["id"]},
        headers=site.auth("editor"),
    )
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def patch_category(
    site: Site, category_id: int, body: dict[str, Any], role: str = "editor"
) -> aiohttp.ClientResponse:
    return await site.client.patch(
        f"/api/v1/categories/{category_id}", json=body, headers=site.auth(role)
    )


# --- categories -----------------------------------------------------------------------------


async def test_an_editor_renames_reorders_and_nests_a_category(site: Site) -> None:
    parent = await site.category(unique("Tin tức"))
    category = await site.category(unique("Trong nước"))
    changed = await patch_category(
        site,
        category["id"],
        {"name": "Tin  trong nước", "slug": f"tin-trong-nuoc-{category['id']}", "position": 3},
    )
    assert changed.status == 200, await changed.text()
    assert await changed.json() == {
        "id": category["id"],
        "name": "Tin trong nước",
        "slug": f"tin-trong-nuoc-{category['id']}",
        "parent_id": None,
        "position": 3,
    }
    nested = await patch_category(site, category["id"], {"parent_id": parent["id"]})
    assert (await nested.json())["parent_id"] == parent["id"]
    listed = {c["id"]: c for c in await categories(site)}
    assert listed[category["id"]]["parent_id"] == parent["id"]
    # Back to the top level.
    top = await patch_category(site, category["id"], {"parent_id": None})
    assert (await top.json())["parent_id"] is None


@pytest.mark.parametrize("role", ["author", "moderator"])
async def test_only_editors_manage_categories(site: Site, role: str) -> None:
    category = await site.category()
    await problem(await patch_category(site, category["id"], {"name": "X"}, role), 403, "forbidden")
    deleted = await site.client.delete(
        f"/api/v1/categories/{category['id']}", headers=site.auth(role)
    )
    await problem(deleted, 403, "forbidden")
    created = await site.client.post(
        "/api/v1/categories", json={"name": "Y"}, headers=site.auth(role)
    )
    await problem(created, 403, "forbidden")
    assert {c["id"]: c for c in await categories(site)}[category["id"]] == category


async def test_categories_nest_one_level_only(site: Site) -> None:
    parent = await site.category()
    child = await child_of(site, parent)
    other = await site.category()
    before = await categories(site)

    # Under a child: too deep, whether created there or moved there.
    moved = await patch_category(site, other["id"], {"parent_id": child["id"]})
    await problem(moved, 409, "category_too_deep")
    created = await site.client.post(
        "/api/v1/categories",
        json={"name": "Cháu", "parent_id": child["id"]},
        headers=site.auth("editor"),
    )
    await problem(created, 409, "category_too_deep")
    # A parent cannot become a child.
    await problem(
        await patch_category(site, parent["id"], {"parent_id": other["id"]}),
        409,
        "category_has_children",
    )
    # Its own parent, or one that does not exist: the field is named.
    for wanted in (other["id"], 987654321):
        body = await problem(
            await patch_category(site, other["id"], {"parent_id": wanted}), 422, "invalid_input"
        )
        assert fields_of(body) == ["parent_id"]
    assert await categories(site) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, None),
        ({"name": "  "}, "name"),
        ({"slug": "Có Dấu"}, "slug"),
        ({"position": "1"}, "position"),
        ({"parent_id": 0}, "parent_id"),
        ({"colour": "đỏ"}, None),
    ],
)
async def test_bad_category_changes_are_422_and_change_nothing(
    site: Site, body: dict[str, Any], field: str | None
) -> None:
    category = await site.category()
    refused = await problem(await patch_category(site, category["id"], body), 422, "invalid_input")
    if field:
        assert field in fields_of(refused)
    assert {c["id"]: c for c in await categories(site)}[category["id"]] == category


async def test_a_taken_slug_and_a_missing_category_are_refused(site: Site) -> None:
    first, second = await site.category(), await site.category()
    await problem(
        await patch_category(site, second["id"], {"slug": first["slug"]}), 409, "slug_taken"
    )
    await problem(await patch_category(site, 987654321, {"name": "X"}), 404, "category_not_found")
    gone = await site.client.delete("/api/v1/categories/987654321", headers=site.auth("editor"))
    await problem(gone, 404, "category_not_found")
    assert {c["id"]: c for c in await categories(site)}[second["id"]] == second


async def test_only_an_empty_category_is_deleted(site: Site) -> None:
    """Any article keeps its category: a draft, an unpublished one (and the trash, which
    keeps its rows); a parent keeps its children."""
    for state in ("draft", "unpublished"):
        category = await site.category()
        article = await site.published(category_id=category["id"])
        if state == "draft":
            await site.pool.execute(
                "UPDATE articles SET status = 'draft' WHERE id = $1", article["id"]
            )
        else:
            await site.client.post(
                f"/api/v1/articles/{article['id']}/unpublish", headers=site.auth("editor")
            )
        url = f"/api/v1/categories/{category['id']}"
        body = await problem(
            await site.client.delete(url, headers=site.auth("editor")), 409, "category_not_empty"
        )
        assert "bài viết" in body["detail"]
        assert category in await categories(site)

    parent = await site.category()
    child = await child_of(site, parent)
    refused = await site.client.delete(
        f"/api/v1/categories/{parent['id']}", headers=site.auth("editor")
    )
    await problem(refused, 409, "category_has_children")

    deleted = await site.client.delete(
        f"/api/v1/categories/{child['id']}", headers=site.auth("editor")
    )
    assert deleted.status == 204
    emptied = await site.client.delete(
        f"/api/v1/categories/{parent['id']}", headers=site.auth("editor")
    )
    assert emptied.status == 204
    remaining = {c["id"] for c in await categories(site)}
    assert not remaining & {parent["id"], child["id"]}


async def test_an_article_cannot_move_into_a_deleted_category(site: Site) -> None:
    draft = await site.draft()
    doomed = await site.category()
    deleted = await site.client.delete(
        f"/api/v1/categories/{doomed['id']}", headers=site.auth("editor")
    )
    assert deleted.status == 204
    moved = await site.client.patch(
        f"/api/v1/articles/{draft['id']}",
        json={"category_id": doomed["id"]},
        headers=site.auth("editor"),
    )
    body = await problem(moved, 422, "invalid_input")
    assert fields_of(body) == ["category_id"]
    created = await site.client.post(
        "/api/v1/articles",
        json={
            "title": "Bài vào mục đã xoá",
            "summary": "",
            "body_html": "<p>x</p>",
            "byline": "",
            "category_id": doomed["id"],
        },
        headers=site.auth("editor"),
    )
    assert fields_of(await problem(created, 422, "invalid_input")) == ["category_id"]
    current = await site.client.get(f"/api/v1/articles/{draft['id']}", headers=site.auth("editor"))
    assert (await current.json())["category_id"] == draft["category_id"]


async def test_renaming_or_nesting_a_category_announces_its_public_articles(site: Site) -> None:
    parent = await site.category(unique("Hoạt động"))
    child = await child_of(site, parent, unique("Cơ sở"))
    in_child = await site.published(category_id=child["id"])
    in_parent = await site.published(category_id=parent["id"])
    a_draft = await site.draft(category_id=child["id"])

    renamed = await patch_category(site, parent["id"], {"name": "Hoạt động Hội"})
    assert renamed.status == 200
    # The child's article carries the parent's new name; the parent's its category's.
    [child_event] = (await announced(site, in_child["id"]))[1:]
    assert child_event["type"] == "article.updated"
    assert child_event["data"]["version"] == in_child["version"] + 1
    assert child_event["data"]["category"] == {
        "slug": child["slug"],
        "name": child["name"],
        "parent": {"slug": parent["slug"], "name": "Hoạt động Hội"},
    }
    [parent_event] = (await announced(site, in_parent["id"]))[1:]
    assert parent_event["data"]["category"]["name"] == "Hoạt động Hội"
    assert await announced(site, a_draft["id"]) == []
    # A version rises, the date the page shows does not.
    reread = await (await site.client.get(f"/api/v1/articles/{in_child['id']}")).json()
    assert reread["version"] == in_child["version"] + 1
    assert reread["updated_at"] == in_child["updated_at"]

    # Moving the child to the top level re-announces its articles only.
    await patch_category(site, child["id"], {"parent_id": None})
    latest = (await announced(site, in_child["id"]))[-1]
    assert latest["data"]["category"]["parent"] is None
    assert len(await announced(site, in_parent["id"])) == 2
    # A new position changes nothing an event carries.
    await patch_category(site, child["id"], {"position": 9})
    assert len(await announced(site, in_child["id"])) == 3


async def test_a_rename_waits_for_an_article_moving_in_and_announces_it(site: Site) -> None:
    """An article moving into the category while it is renamed: the rename waits for the
    move (which holds the category shared, as update_article does) and then announces the
    article with the new name, a version above the move's."""
    category = await site.category(unique("Đang đổi tên"))
    article = await site.published()
    async with site.pool.acquire() as mover:
        move = mover.transaction()
        await move.start()
        await mover.execute("SELECT 1 FROM categories WHERE id = $1 FOR SHARE", category["id"])
        rename = asyncio.ensure_future(
            patch_category(site, category["id"], {"name": "Tên mới sau khi chuyển"})
        )
        await asyncio.sleep(0.5)
        assert not rename.done()  # waiting for the move
        await mover.execute(
            "UPDATE articles SET category_id = $2, version = version + 1 WHERE id = $1",
            article["id"],
            category["id"],
        )
        await move.commit()
    assert (await rename).status == 200
    [_, renamed] = await announced(site, article["id"])
    assert renamed["data"]["category"]["name"] == "Tên mới sau khi chuyển"
    assert renamed["data"]["version"] == article["version"] + 2


async def test_many_articles_are_announced_in_batches(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(actions, "ANNOUNCE_BATCH", 2)
    category = await site.category()
    articles = [await site.published(category_id=category["id"]) for _ in range(5)]
    assert (await patch_category(site, category["id"], {"name": unique("Đổi tên")})).status == 200
    for article in articles:
        [_, renamed] = await announced(site, article["id"])
        assert renamed["data"]["version"] == article["version"] + 1


# --- tags and topics ------------------------------------------------------------------------


async def new_topic(site: Site, name: str | None = None) -> dict[str, Any]:
    response = await site.client.post(
        "/api/v1/topics", json={"name": name or unique("Đại hội")}, headers=site.auth("editor")
    )
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def patch_article(site: Site, article_id: int, body: dict[str, Any]) -> dict[str, Any]:
    response = await site.client.patch(
        f"/api/v1/articles/{article_id}", json=body, headers=site.auth("editor")
    )
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def test_an_article_takes_tags_by_name_or_slug_and_new_names_become_tags(
    site: Site,
) -> None:
    existing = await site.client.post(
        "/api/v1/tags", json={"name": "Biển đảo"}, headers=site.auth("author")
    )
    assert existing.status == 201
    biển_đảo = await existing.json()
    assert biển_đảo["slug"] == "bien-dao"
    topic = await new_topic(site)
    fresh = unique("Chuyển đổi số")
    draft = await site.draft(
        role="author", tags=["bien-dao", fresh, "Biển  đảo"], topic_id=topic["id"]
    )
    # A slug and a name of one tag are that tag, once; the new name is a new tag.
    assert len(draft["tags"]) == 2
    assert biển_đảo in draft["tags"]
    assert {t["name"] for t in draft["tags"]} == {"Biển đảo", fresh}
    assert draft["topic"] == topic and draft["topic_id"] == topic["id"]
    tags = {t["name"] for t in (await (await site.client.get("/api/v1/tags")).json())["items"]}
    assert {"Biển đảo", fresh} <= tags

    # The list replaces the tags; null takes the topic away; the text's date stays.
    changed = await patch_article(site, draft["id"], {"tags": ["Biển đảo"], "topic_id": None})
    assert [t["name"] for t in changed["tags"]] == ["Biển đảo"]
    assert changed["topic"] is None
    assert changed["version"] == draft["version"] + 1
    assert changed["updated_at"] == draft["updated_at"]
    cleared = await patch_article(site, draft["id"], {"tags": []})
    assert cleared["tags"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tags": ["!!!"]}, "tags"),
        ({"tags": [""]}, "tags"),
        ({"tags": "bien-dao"}, "tags"),
        ({"tags": [f"the-{n}" for n in range(21)]}, "tags"),
        ({"topic_id": 987654321}, "topic_id"),
        ({"topic_id": "1"}, "topic_id"),
    ],
)
async def test_bad_tags_or_topic_are_422_and_change_nothing(
    site: Site, body: dict[str, Any], field: str
) -> None:
    topic = await new_topic(site)
    draft = await site.draft(tags=["Giữ nguyên"], topic_id=topic["id"])
    tags_before = await site.pool.fetchval("SELECT count(*) FROM tags")
    refused = await site.client.patch(
        f"/api/v1/articles/{draft['id']}", json=body, headers=site.auth("editor")
    )
    named = fields_of(await problem(refused, 422, "invalid_input"))
    assert any(f.split(".")[0] == field for f in named), named
    current = await site.client.get(f"/api/v1/articles/{draft['id']}", headers=site.auth("editor"))
    assert await current.json() == draft
    assert await site.pool.fetchval("SELECT count(*) FROM tags") == tags_before


async def test_tags_and_topics_are_renamed_and_deleted_by_editors_only(site: Site) -> None:
    topic = await new_topic(site)
    created_tag = await site.client.post(
        "/api/v1/tags", json={"name": unique("Nông thôn mới")}, headers=site.auth("editor")
    )
    tag = await created_tag.json()
    for role in ("author", "moderator"):
        for url in (f"/api/v1/tags/{tag['id']}", f"/api/v1/topics/{topic['id']}"):
            renamed = await site.client.patch(url, json={"name": "X"}, headers=site.auth(role))
            await problem(renamed, 403, "forbidden")
            await problem(await site.client.delete(url, headers=site.auth(role)), 403, "forbidden")
    created = await site.client.post(
        "/api/v1/topics", json={"name": "Y"}, headers=site.auth("author")
    )
    await problem(created, 403, "forbidden")
    anonymous = await site.client.post("/api/v1/tags", json={"name": "Z"})
    await problem(anonymous, 401, "unauthenticated")

    taken = await site.client.post(
        "/api/v1/topics", json={"name": topic["name"]}, headers=site.auth("editor")
    )
    await problem(taken, 409, "slug_taken")
    for kind in ("tags", "topics"):
        missing = await site.client.patch(
            f"/api/v1/{kind}/987654321", json={"name": "X"}, headers=site.auth("editor")
        )
        await problem(missing, 404, f"{kind[:-1]}_not_found")
        gone = await site.client.delete(f"/api/v1/{kind}/987654321", headers=site.auth("editor"))
        await problem(gone, 404, f"{kind[:-1]}_not_found")

    renamed = await site.client.patch(
        f"/api/v1/topics/{topic['id']}",
        json={"name": "Đại hội đại biểu"},
        headers=site.auth("editor"),
    )
    assert await renamed.json() == {
        "id": topic["id"],
        "slug": "dai-hoi-dai-bieu",
        "name": "Đại hội đại biểu",
    }
    topics = (await (await site.client.get("/api/v1/topics")).json())["items"]
    assert await renamed.json() in topics


async def test_retagging_and_tag_or_topic_changes_announce_public_articles(site: Site) -> None:
    topic = await new_topic(site, unique("Mùa lũ"))
    tag_name = unique("Cứu trợ")
    article = await site.published(tags=[tag_name], topic_id=topic["id"])
    draft = await site.draft(tags=[tag_name], topic_id=topic["id"])
    [published] = await announced(site, article["id"])
    assert published["data"]["tags"] == [{"slug": article["tags"][0]["slug"], "name": tag_name}]
    assert published["data"]["topic"] == {"slug": topic["slug"], "name": topic["name"]}

    retagged = await patch_article(site, article["id"], {"tags": [tag_name, "Miền Trung"]})
    event = (await announced(site, article["id"]))[-1]
    assert (event["type"], event["data"]["version"]) == ("article.updated", retagged["version"])
    assert [t["name"] for t in event["data"]["tags"]] == sorted([tag_name, "Miền Trung"])

    tag_id = article["tags"][0]["id"]
    renamed = await site.client.patch(
        f"/api/v1/tags/{tag_id}", json={"name": "Cứu trợ đồng bào"}, headers=site.auth("editor")
    )
    assert renamed.status == 200
    event = (await announced(site, article["id"]))[-1]
    assert {"slug": "cuu-tro-dong-bao", "name": "Cứu trợ đồng bào"} in event["data"]["tags"]
    assert event["data"]["version"] == retagged["version"] + 1

    await site.client.patch(
        f"/api/v1/topics/{topic['id']}", json={"name": "Mùa lũ 2026"}, headers=site.auth("editor")
    )
    assert (await announced(site, article["id"]))[-1]["data"]["topic"]["name"] == "Mùa lũ 2026"

    deleted = await site.client.delete(f"/api/v1/tags/{tag_id}", headers=site.auth("editor"))
    assert deleted.status == 204
    event = (await announced(site, article["id"]))[-1]
    assert [t["name"] for t in event["data"]["tags"]] == ["Miền Trung"]
    untagged = await site.client.get(f"/api/v1/articles/{draft['id']}", headers=site.auth("editor"))
    assert (await untagged.json())["tags"] == []

    assert (
        await site.client.delete(f"/api/v1/topics/{topic['id']}", headers=site.auth("editor"))
    ).status == 204
    event = (await announced(site, article["id"]))[-1]
    assert event["data"]["topic"] is None
    versions = [e["data"]["version"] for e in await announced(site, article["id"])]
    assert versions == sorted(set(versions))  # every one higher than the one before
    assert await announced(site, draft["id"]) == []  # a draft is never announced


# --- featured (pinned) articles -------------------------------------------------------------


def in_vietnam(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).astimezone(timezone(timedelta(hours=7))).isoformat()


async def feature(
    site: Site, article_id: int, body: Any, role: str = "editor"
) -> aiohttp.ClientResponse:
    return await site.client.post(
        f"/api/v1/articles/{article_id}/feature", json=body, headers=site.auth(role)
    )


async def test_an_editor_pins_and_unpins_an_article_and_each_is_announced(site: Site) -> None:
    article = await site.published()
    until = in_vietnam(timedelta(days=2))
    async with tap(site.amqp_url, "article.updated") as seen:
        pinned = await feature(site, article["id"], {"scope": "home", "until": until})
        assert pinned.status == 200, await pinned.text()
        body = await pinned.json()
        assert datetime.fromisoformat(body["featured"]["home_until"]) == datetime.fromisoformat(
            until
        )
        assert body["featured"]["category_until"] is None
        [event] = await seen.wait_for(1)
    validate(event)
    assert event["data"]["featured"]["home_until"] == body["featured"]["home_until"]
    assert event["data"]["version"] == article["version"] + 1

    unpinned = await site.client.delete(
        f"/api/v1/articles/{article['id']}/feature?scope=home", headers=site.auth("editor")
    )
    assert (await unpinned.json())["featured"] == {"home_until": None, "category_until": None}
    last = (await announced(site, article["id"]))[-1]
    assert last["data"]["featured"]["home_until"] is None
    assert last["data"]["version"] == article["version"] + 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scope": "home", "until": "2020-01-01T00:00:00+07:00"}, "until"),
        ({"scope": "home", "until": "2099-01-01T00:00:00"}, "until"),
        ({"scope": "home", "until": "ngày mai"}, "until"),
        ({"scope": "trang-chu", "until": "2099-01-01T00:00:00+07:00"}, "scope"),
        ({"scope": "home"}, "until"),
    ],
)
async def test_a_bad_pin_is_422_and_changes_nothing(
    site: Site, body: dict[str, Any], field: str
) -> None:
    article = await site.published()
    refused = await problem(await feature(site, article["id"], body), 422, "invalid_input")
    assert field in fields_of(refused)
    current = await (await site.client.get(f"/api/v1/articles/{article['id']}")).json()
    assert current == article
    assert len(await announced(site, article["id"])) == 1


async def test_only_editors_pin_and_only_known_articles(site: Site) -> None:
    article = await site.published()
    body = {"scope": "category", "until": in_vietnam(timedelta(hours=5))}
    for role in ("author", "moderator"):
        await problem(await feature(site, article["id"], body, role), 403, "forbidden")
        unpin = await site.client.delete(
            f"/api/v1/articles/{article['id']}/feature?scope=home", headers=site.auth(role)
        )
        await problem(unpin, 403, "forbidden")
    await problem(await feature(site, 987654321, body), 404, "article_not_found")
    no_scope = await site.client.delete(
        f"/api/v1/articles/{article['id']}/feature", headers=site.auth("editor")
    )
    assert fields_of(await problem(no_scope, 422, "invalid_input")) == ["scope"]
    assert (await (await site.client.get(f"/api/v1/articles/{article['id']}")).json()) == article


async def test_a_pin_ends_by_itself_at_its_time(site: Site) -> None:
    article = await site.published()
    await feature(
        site, article["id"], {"scope": "category", "until": in_vietnam(timedelta(hours=1))}
    )
    url = f"/api/v1/articles/{article['id']}"
    assert (await (await site.client.get(url)).json())["featured"]["category_until"] is not None
    # The time comes (moved back rather than waited for): nothing runs, the pin is over.
    await site.pool.execute(
        "UPDATE articles SET featured_category_until = now() - interval '1 second' WHERE id = $1",
        article["id"],
    )
    assert (await (await site.client.get(url)).json())["featured"]["category_until"] is None


# --- public pages ---------------------------------------------------------------------------


async def page(site: Site, path: str, status: int = 200) -> str:
    response = await site.client.get(path, allow_redirects=False)
    assert response.status == status, await response.text()
    return await response.text()


def part_of(html: str, start: str, end: str) -> str:
    """The text from `start` to the first `end` after it; "" when there is no `start`."""
    if start not in html:
        return ""
    begin = html.index(start)
    return html[begin : html.index(end, begin)]


async def test_the_menu_shows_children_under_their_parent(site: Site) -> None:
    parent = await site.category(unique("Mặt trận"))
    child = await child_of(site, parent, unique("Dân vận"))
    menu = part_of(await page(site, "/"), '<nav class="category-nav"', "</nav>")
    parent_link = f'<a href="/chuyen-muc/{parent["slug"]}">{parent["name"]}</a>'
    child_link = f'<a href="/chuyen-muc/{child["slug"]}">{child["name"]}</a>'
    # The child sits in a list inside the parent's item, not beside it.
    children = part_of(menu, parent_link, "</ul>")
    assert '<ul class="subcategories">' in children and child_link in children
    assert menu.count(child_link) == 1
    # The site map page nests it the same way.
    site_map = part_of(await page(site, "/so-do"), '<section class="site-map">', "</section>")
    nested = part_of(site_map, parent_link, "</ul>")
    assert child_link in nested and site_map.count(child_link) == 1


async def test_a_parents_page_lists_its_childrens_articles_and_links_them(site: Site) -> None:
    parent = await site.category(unique("Kinh tế"))
    child = await child_of(site, parent, unique("Nông nghiệp"))
    in_parent = await site.published(title=unique("Tin của mục cha"), category_id=parent["id"])
    in_child = await site.published(title=unique("Tin của mục con"), category_id=child["id"])
    hidden = await site.draft(title=unique("Bản nháp mục con"), category_id=child["id"])

    html = await page(site, f"/chuyen-muc/{parent['slug']}")
    assert in_parent["title"] in html and in_child["title"] in html
    assert hidden["title"] not in html
    links = html[html.index('class="subcategory-links"') :]
    assert f'<a href="/chuyen-muc/{child["slug"]}">{child["name"]}</a>' in links

    child_html = await page(site, f"/chuyen-muc/{child['slug']}")
    assert in_child["title"] in child_html and in_parent["title"] not in child_html
    crumb = child_html[child_html.index('class="breadcrumb"') :]
    assert f'<a href="/chuyen-muc/{parent["slug"]}">{parent["name"]}</a> »' in crumb
    # The article page names the parent before the category too.
    article_html = await page(site, in_child["url"])
    assert f'<a href="/chuyen-muc/{parent["slug"]}">{parent["name"]}</a> » ' in article_html
    # The parent's feed and the API's list of the parent hold the child's article too.
    feed = await page(site, f"/chuyen-muc/{parent['slug']}/rss")
    assert in_child["title"] in feed and in_parent["title"] in feed
    listed = await site.client.get(f"/api/v1/articles?category={parent['slug']}")
    assert {a["id"] for a in (await listed.json())["items"]} == {in_parent["id"], in_child["id"]}


async def test_tag_and_topic_pages_list_published_articles_newest_first(site: Site) -> None:
    topic = await new_topic(site, unique("Đại hội Đoàn"))
    tag_name = unique("Thanh niên")
    titles = [unique(f"Bài số {n:02d}") for n in range(16)]
    articles = [
        await site.published(title=title, tags=[tag_name], topic_id=topic["id"]) for title in titles
    ]
    hidden = await site.draft(title=unique("Nháp cùng thẻ"), tags=[tag_name], topic_id=topic["id"])
    tag_slug = articles[0]["tags"][0]["slug"]

    for path, heading in (
        (f"/the/{tag_slug}", "Thẻ"),
        (f"/dong-su-kien/{topic['slug']}", "Dòng sự kiện"),
    ):
        response = await site.client.get(path)
        assert response.headers["Cache-Control"] == PUBLIC_CACHE
        first = await response.text()
        assert f'<p class="listing-kind">{heading}</p>' in first
        assert first.index(titles[15]) < first.index(titles[1])  # newest first
        assert titles[0] not in first and hidden["title"] not in first
        assert f'href="{path}?trang=2"' in first and "Trang 1/2" in first
        second = await page(site, f"{path}?trang=2")
        assert titles[0] in second and titles[1] not in second

    article_html = await page(site, articles[3]["url"])
    taxonomy = article_html[article_html.index('class="article-taxonomy"') :]
    assert f'<a href="/dong-su-kien/{topic["slug"]}">{topic["name"]}</a>' in taxonomy
    assert f'<a href="/the/{tag_slug}" rel="tag">{tag_name}</a>' in taxonomy

    assert "Không tìm thấy thẻ" in await page(site, "/the/khong-co-the-nay", status=404)
    assert "Không tìm thấy dòng sự kiện" in await page(
        site, "/dong-su-kien/khong-co-dong-nay", status=404
    )


async def test_pinned_articles_come_first_until_their_time(site: Site) -> None:
    category = await site.category(unique("Thời sự"))
    older = await site.published(title=unique("Tin cũ được ghim"), category_id=category["id"])
    newer = await site.published(title=unique("Tin mới hơn"), category_id=category["id"])
    path = f"/chuyen-muc/{category['slug']}"
    html = await page(site, path)
    assert html.index(newer["title"]) < html.index(older["title"])
    assert "Tin nổi bật" not in html

    for scope in ("home", "category"):
        pinned = await feature(
            site, older["id"], {"scope": scope, "until": in_vietnam(timedelta(days=1))}
        )
        assert pinned.status == 200
    html = await page(site, path)
    assert html.index(older["title"]) < html.index(newer["title"])
    home = await page(site, "/")
    featured = part_of(home, "Tin nổi bật", "</section>")
    assert older["title"] in featured and newer["title"] not in featured
    # In its section of the home page, too, the pinned article leads.
    section = home[home.index(f'<a href="{path}">{category["name"]}</a></h2>') :]
    assert section.index(older["title"]) < section.index(newer["title"])

    # The pins' time comes: the order is the newest first again, with nothing run.
    await site.pool.execute(
        """UPDATE articles SET featured_home_until = now() - interval '1 second',
                               featured_category_until = now() - interval '1 second'
            WHERE id = $1""",
        older["id"],
    )
    html = await page(site, path)
    assert html.index(newer["title"]) < html.index(older["title"])
    assert older["title"] not in (await page(site, "/")).split("Tin nổi bật")[-1].split(
        "</section>"
    )[0] or "Tin nổi bật" not in await page(site, "/")
