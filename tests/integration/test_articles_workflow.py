"""The editorial workflow of the articles API on the real Postgres and RabbitMQ: every step
checked against the role and the state (and refused with nothing changed), its history,
the trash, scheduling input, back-dated publication, the staff list, revisions, unique
slugs with old ones redirecting, and the text fields."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from services.articles import actions
from services.common.vietnam import utc_now
from tests.support.articles import Site, running_site

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[Site]:
    async with running_site() as harness:
        yield harness


async def problem(response: aiohttp.ClientResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body = dict(await response.json())
    assert body["code"] == code
    return body


async def step(
    site: Site, article_id: int, action: str, role: str = "editor", **body: Any
) -> aiohttp.ClientResponse:
    return await site.client.post(
        f"/api/v1/articles/{article_id}/{action}",
        json=body or None,
        headers=site.auth(role),
    )


async def state(site: Site, article_id: int) -> tuple[str, int, int, int]:
    """(status, version, history rows, outbox rows) of an article: what a refusal must
    leave as it was."""
    row = await site.pool.fetchrow(
        """SELECT status, version,
                  (SELECT count(*) FROM article_transitions WHERE article_id = a.id) AS steps,
                  (SELECT count(*) FROM outbox WHERE subject = a.id::text) AS events
             FROM articles a WHERE id = $1""",
        article_id,
    )
    return row["status"], row["version"], row["steps"], row["events"]


async def events_of(site: Site, article_id: int) -> list[str]:
    rows = await site.pool.fetch(
        "SELECT type FROM outbox WHERE subject = $1 ORDER BY created_at", str(article_id)
    )
    return [r["type"] for r in rows]


def in_vietnam(seconds: float) -> str:
    """Now plus `seconds`, written with the Asia/Ho_Chi_Minh offset."""
    return (utc_now() + timedelta(seconds=seconds)).astimezone(VIETNAM).isoformat()


# --- who may take which step --------------------------------------------------------------

EDITOR_STEPS = {
    # step: (the state it is tried from, its body)
    "return": ("pending", {"reason": "Cần bổ sung nguồn."}),
    "publish": ("draft", {}),
    "schedule": ("draft", {"publish_at": "2099-01-01T08:00:00+07:00"}),
    "unpublish": ("published", {}),
    "delete": ("draft", {}),
    "restore": ("deleted", {}),
}


async def article_in(site: Site, status: str) -> int:
    """An article of the site's author, brought to `status` by the editor."""
    article_id = int((await site.draft(role="author"))["id"])
    paths = {
        "draft": [],
        "pending": ["submit"],
        "published": ["publish"],
        "deleted": ["delete"],
    }
    for action in paths[status]:
        assert (await step(site, article_id, action)).status == 200
    return article_id


@pytest.mark.parametrize("action", sorted(EDITOR_STEPS))
@pytest.mark.parametrize("role", ["author", "moderator"])
async def test_only_editors_take_the_editors_steps(site: Site, action: str, role: str) -> None:
    source, body = EDITOR_STEPS[action]
    article_id = await article_in(site, source)
    before = await state(site, article_id)
    refused = await step(site, article_id, action, role, **body)
    await problem(refused, 403, "forbidden")
    assert await state(site, article_id) == before
    assert (await step(site, article_id, action, "editor", **body)).status == 200


async def test_an_author_submits_their_own_draft_and_nobody_elses(site: Site) -> None:
    article_id = int((await site.draft(role="editor"))["id"])
    await problem(await step(site, article_id, "submit", "moderator"), 403, "forbidden")
    own = await article_in(site, "draft")
    submitted = await step(site, own, "submit", "author")
    assert (await submitted.json())["status"] == "pending"
    # Once submitted, the author no longer edits it.
    await problem(
        await site.client.patch(
            f"/api/v1/articles/{own}", json={"summary": "Sửa"}, headers=site.auth("author")
        ),
        403,
        "forbidden",
    )


@pytest.mark.parametrize(
    ("source", "action", "body"),
    [
        ("draft", "return", {"reason": "Lý do"}),
        ("draft", "unpublish", {}),
        ("draft", "restore", {}),
        ("pending", "submit", {}),
        ("published", "schedule", {"publish_at": "2099-01-01T08:00:00+07:00"}),
        ("deleted", "delete", {}),
        ("deleted", "publish", {}),
    ],
)
async def test_a_step_from_the_wrong_state_is_409_and_changes_nothing(
    site: Site, source: str, action: str, body: dict[str, Any]
) -> None:
    article_id = await article_in(site, source)
    before = await state(site, article_id)
    refused = await problem(await step(site, article_id, action, **body), 409, "invalid_transition")
    assert "Không thể" in refused["detail"]
    assert await state(site, article_id) == before


# --- send back with a reason, history ------------------------------------------------------


async def test_a_returned_draft_shows_its_reason_until_the_next_submit(site: Site) -> None:
    article_id = await article_in(site, "pending")
    url = f"/api/v1/articles/{article_id}"
    before = await state(site, article_id)
    await problem(await step(site, article_id, "return"), 415, "unsupported_media_type")
    await problem(await step(site, article_id, "return", reason="   "), 422, "invalid_input")
    assert await state(site, article_id) == before

    returned = await step(site, article_id, "return", reason="Thiếu  nguồn tin.")
    assert (await returned.json())["status"] == "draft"
    seen = await (await site.client.get(url, headers=site.auth("author"))).json()
    assert seen["return_reason"] == "Thiếu nguồn tin."
    edited = await site.client.patch(
        url, json={"source": "Báo Nhân Dân"}, headers=site.auth("author")
    )
    assert (await edited.json())["return_reason"] == "Thiếu nguồn tin."
    resubmitted = await step(site, article_id, "submit", "author")
    assert (await resubmitted.json())["return_reason"] is None

    history = await (await site.client.get(f"{url}/history", headers=site.auth("author"))).json()
    editor, author = site.accounts["editor"].user.id, site.accounts["author"].user.id
    assert [
        (h["action"], h["from"], h["to"], h["user_id"], h["reason"]) for h in history["items"]
    ] == [
        ("submit", "draft", "pending", editor, None),
        ("return", "pending", "draft", editor, "Thiếu nguồn tin."),
        ("submit", "draft", "pending", author, None),
    ]
    assert all(h["at"].endswith("+07:00") for h in history["items"])
    await problem(await site.client.get(f"{url}/history"), 401, "unauthenticated")
    assert await events_of(site, article_id) == []  # nothing public happened


# --- the trash -----------------------------------------------------------------------------


async def test_delete_hides_announces_and_restore_never_makes_public(site: Site) -> None:
    article = await site.published()
    article_id, url = article["id"], f"/api/v1/articles/{article['id']}"
    deleted = await site.client.delete(url, headers=site.auth("editor"))
    assert (await deleted.json())["status"] == "deleted"
    assert (await site.client.get(url)).status == 404
    assert (await site.client.get(article["url"])).status == 404
    restored = await step(site, article_id, "restore")
    assert (await restored.json())["status"] == "unpublished"
    assert await events_of(site, article_id) == ["article.published", "article.unpublished"]

    draft_id = await article_in(site, "draft")
    await step(site, draft_id, "delete")
    assert (await (await step(site, draft_id, "restore")).json())["status"] == "draft"
    assert await events_of(site, draft_id) == []


async def test_the_trash_is_purged_after_30_days(site: Site) -> None:
    old, recent = await article_in(site, "deleted"), await article_in(site, "deleted")
    await site.pool.execute(
        "UPDATE articles SET deleted_at = now() - interval '31 days' WHERE id = $1", old
    )
    assert await actions.purge_trash(site.pool) >= 1
    left = {r["id"] for r in await site.pool.fetch("SELECT id FROM articles")}
    assert old not in left and recent in left


# --- scheduling and back-dated publication -------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"publish_at": "2020-01-01T08:00:00+07:00"}, "publish_at"),
        ({"publish_at": "2099-01-01T08:00:00"}, "publish_at"),  # no offset
        ({"publish_at": "mai"}, "publish_at"),
        (
            {"publish_at": "2099-01-01T08:00:00+07:00", "end_at": "2098-01-01T08:00:00+07:00"},
            "end_at",
        ),
        ({}, "publish_at"),
    ],
)
async def test_bad_schedules_are_422_naming_the_field_with_nothing_changed(
    site: Site, body: dict[str, Any], field: str
) -> None:
    article_id = await article_in(site, "draft")
    before = await state(site, article_id)
    response = await site.client.post(
        f"/api/v1/articles/{article_id}/schedule", json=body, headers=site.auth("editor")
    )
    refused = await problem(response, 422, "invalid_input")
    assert field in [e["field"] for e in refused["errors"]]
    assert await state(site, article_id) == before


async def test_a_schedule_is_kept_and_unpublish_cancels_it(site: Site) -> None:
    article_id = await article_in(site, "draft")
    scheduled = await step(
        site,
        article_id,
        "schedule",
        publish_at="2099-05-01T08:00:00+07:00",
        end_at="2099-06-01T08:00:00+07:00",
    )
    body = await scheduled.json()
    assert (body["status"], body["publish_at"], body["end_at"]) == (
        "scheduled",
        "2099-05-01T08:00:00+07:00",
        "2099-06-01T08:00:00+07:00",
    )
    assert (await site.client.get(f"/api/v1/articles/{article_id}")).status == 404
    cancelled = await (await step(site, article_id, "unpublish")).json()
    assert (cancelled["status"], cancelled["publish_at"]) == ("unpublished", None)
    assert await events_of(site, article_id) == []  # it never was public


async def test_an_editor_may_date_a_publication_in_the_past_not_the_future(site: Site) -> None:
    article_id = await article_in(site, "draft")
    before = await state(site, article_id)
    future = await step(site, article_id, "publish", published_at=in_vietnam(3600))
    refused = await problem(future, 422, "invalid_input")
    assert [e["field"] for e in refused["errors"]] == ["published_at"]
    assert await state(site, article_id) == before
    published = await step(site, article_id, "publish", published_at="2017-04-27T09:30:00+07:00")
    assert (await published.json())["published_at"] == "2017-04-27T09:30:00+07:00"
    page = await site.client.get(
        f"/api/v1/articles?category={(await published.json())['category']['slug']}"
    )
    assert [a["id"] for a in (await page.json())["items"]] == [article_id]


# --- the staff list ------------------------------------------------------------------------


async def test_staff_filter_the_list_by_state_author_and_words(site: Site) -> None:
    other_author = await site.new_account("author")
    mine = await site.draft(role="author", title="Hội nghị sơ kết quý ba")
    theirs_response = await site.client.post(
        "/api/v1/articles",
        json={
            "title": "Hội nghị sơ kết của người khác",
            "summary": "",
            "body_html": "<p>x</p>",
            "category_id": mine["category_id"],
        },
        headers=other_author.headers,
    )
    theirs = await theirs_response.json()

    async def listed(query: str, role: str | None) -> list[int]:
        headers = site.auth(role) if role else {}
        response = await site.client.get(f"/api/v1/articles?{query}", headers=headers)
        assert response.status == 200, await response.text()
        if role:
            assert response.headers["Cache-Control"] == "no-store"
        return [a["id"] for a in (await response.json())["items"]]

    assert {mine["id"], theirs["id"]} <= set(await listed("q=hoi nghi so ket", "editor"))
    assert mine["id"] in await listed("status=draft", "editor")
    assert mine["id"] not in await listed("status=published", "editor")
    author_id = site.accounts["author"].user.id
    assert theirs["id"] not in await listed(f"author={author_id}", "editor")
    # An author sees only their own, whatever they ask for.
    seen = await listed(f"q=hoi nghi so ket&author={other_author.user.id}", "author")
    assert mine["id"] in seen and theirs["id"] not in seen
    await problem(await site.client.get("/api/v1/articles?status=draft"), 401, "unauthenticated")
    await problem(
        await site.client.get("/api/v1/articles?status=draft", headers=site.auth("moderator")),
        403,
        "forbidden",
    )
    await problem(
        await site.client.get("/api/v1/articles?status=nhap", headers=site.auth("editor")),
        422,
        "invalid_input",
    )
    # Without filters it is the public list, for anyone.
    assert mine["id"] not in await listed("limit=100", None)


# --- revisions and "Cập nhật vào ngày" -----------------------------------------------------


async def test_revisions_are_kept_compared_and_restored(site: Site) -> None:
    article = await site.published(title="Tiêu đề đầu tiên", body_html="<p>Đoạn một.</p>")
    url = f"/api/v1/articles/{article['id']}"
    await site.pool.execute(
        "UPDATE articles SET text_updated_at = '2020-01-02T10:00:00+07' WHERE id = $1",
        article["id"],
    )
    other = await site.category()
    retagged = await site.client.patch(
        url, json={"category_id": other["id"]}, headers=site.auth("editor")
    )
    assert (await retagged.json())["text_updated_at"] == "2020-01-02T10:00:00+07:00"
    await step(site, article["id"], "unpublish")
    await step(site, article["id"], "publish")
    page = await (await site.client.get(article["url"])).text()
    assert "Cập nhật vào ngày (02/01/2020)" in page  # no text change: the date holds

    edited = await site.client.patch(
        url,
        json={"title": "Tiêu đề thứ hai", "body_html": "<p>Đoạn một.</p><p>Đoạn hai.</p>"},
        headers=site.auth("editor"),
    )
    assert (await edited.json())["text_updated_at"] != "2020-01-02T10:00:00+07:00"
    same = await site.client.patch(
        url, json={"title": "Tiêu đề thứ hai"}, headers=site.auth("editor")
    )
    assert same.status == 200  # the same text again: no revision

    listed = await (await site.client.get(f"{url}/revisions", headers=site.auth("editor"))).json()
    assert [r["number"] for r in listed["items"]] == [2, 1]
    assert "body_html" not in listed["items"][0]
    first = await (await site.client.get(f"{url}/revisions/1", headers=site.auth("editor"))).json()
    assert (first["title"], first["body_html"]) == ("Tiêu đề đầu tiên", "<p>Đoạn một.</p>")

    diff = await (
        await site.client.get(f"{url}/revisions/compare?from=1&to=2", headers=site.auth("editor"))
    ).json()
    assert "-Tiêu đề đầu tiên" in diff["title"] and "+Tiêu đề thứ hai" in diff["title"]
    assert "+Đoạn hai." in diff["body"] and "-Đoạn một." not in diff["body"]
    assert diff["summary"] == ""

    restored = await site.client.post(f"{url}/revisions/1/restore", headers=site.auth("editor"))
    assert (await restored.json())["title"] == "Tiêu đề đầu tiên"
    listed = await (await site.client.get(f"{url}/revisions", headers=site.auth("editor"))).json()
    assert [r["number"] for r in listed["items"]] == [3, 2, 1]
    assert await events_of(site, article["id"]) == [
        "article.published",
        "article.updated",  # retag
        "article.unpublished",
        "article.published",
        "article.updated",  # edit
        "article.updated",  # same text, still an edit of a public article
        "article.updated",  # restore
    ]
    await problem(
        await site.client.get(f"{url}/revisions/9", headers=site.auth("editor")),
        404,
        "revision_not_found",
    )
    await problem(
        await site.client.get(f"{url}/revisions/compare?from=1", headers=site.auth("editor")),
        422,
        "invalid_input",
    )
    await problem(await site.client.get(f"{url}/revisions"), 401, "unauthenticated")


# --- slugs and text fields -----------------------------------------------------------------


async def test_slugs_fold_vietnamese_are_unique_and_old_ones_redirect(site: Site) -> None:
    first = await site.published(title="Đường đến đích")
    second = await site.draft(title="Đường đến đích")
    assert first["slug"] == "duong-den-dich"
    assert second["slug"] == "duong-den-dich-2"

    renamed = await site.client.patch(
        f"/api/v1/articles/{first['id']}",
        json={"title": "Đích đã đến"},
        headers=site.auth("editor"),
    )
    new_url = (await renamed.json())["url"]
    assert new_url == f"/tin/dich-da-den-{first['id']}"
    for old in (f"/tin/duong-den-dich-{first['id']}", "/tin/duong-den-dich", "/tin/dich-da-den"):
        moved = await site.client.get(old, allow_redirects=False)
        assert moved.status == 301, old
        assert moved.headers["Location"] == new_url
    # The old slug stays taken: a new article of the old title does not get it.
    third = await site.draft(title="Đường đến đích")
    assert third["slug"] == "duong-den-dich-3"


async def test_author_unit_and_source_make_the_byline_and_only_our_images_stay(
    site: Site,
) -> None:
    article = await site.published(
        byline=None,
        author_name="Hồng Tươi",
        unit="VP HND",
        source="Báo Nhân Dân",
        body_html=(
            '<p>Chữ</p><img src="https://evil.example/t.gif" alt="x"><img src="/anh/7" alt="y">'
        ),
    )
    assert article["byline"] == "Hồng Tươi (VP HND)"
    assert (article["author_name"], article["unit"], article["source"]) == (
        "Hồng Tươi",
        "VP HND",
        "Báo Nhân Dân",
    )
    assert "evil.example" not in article["body_html"]
    assert '<img src="/anh/7" alt="y">' in article["body_html"]
    page = await (await site.client.get(article["url"])).text()
    assert "Hồng Tươi (VP HND)" in page

    older_form = await site.draft(byline="Phóng viên")
    assert (older_form["author_name"], older_form["byline"]) == ("Phóng viên", "Phóng viên")
    before = await site.pool.fetchval("SELECT count(*) FROM articles")
    both = await site.client.post(
        "/api/v1/articles",
        json={
            "title": "Hai kiểu tên",
            "summary": "",
            "body_html": "<p>x</p>",
            "byline": "A",
            "author_name": "B",
            "category_id": article["category_id"],
        },
        headers=site.auth("editor"),
    )
    refused = await problem(both, 422, "invalid_input")
    assert [e["field"] for e in refused["errors"]] == ["byline"]
    assert await site.pool.fetchval("SELECT count(*) FROM articles") == before


# --- only published articles reach the public ---------------------------------------------

# /sitemap.xml is an index: the articles are in its child sitemaps (ids 0-9999, and the news
# sitemap of the last two days).
PUBLIC_LISTS = ("/", "/rss", "/sitemap-tin-0.xml", "/sitemap-tin-moi.xml", "/api/v1/articles")


@pytest.mark.parametrize(
    ("status", "steps"),
    [
        ("draft", []),
        ("pending", ["submit"]),
        ("scheduled", [("schedule", {"publish_at": "2099-01-01T08:00:00+07:00"})]),
        ("unpublished", ["publish", "unpublish"]),
        ("deleted", ["publish", "delete"]),
    ],
)
async def test_an_article_that_is_not_published_is_nowhere_public(
    site: Site, status: str, steps: list[Any]
) -> None:
    """Its page, print view and API read are 404, and no list, feed, sitemap, search,
    category, tag or topic page names it, while a published twin shows in each."""
    category = await site.category()
    topic = await site.client.post(
        "/api/v1/topics", json={"name": f"Dòng {status}"}, headers=site.auth("editor")
    )
    topic_id = (await topic.json())["id"]
    word = f"tuyetmat{status}"
    fields = {"category_id": category["id"], "tags": [f"the-{status}"], "topic_id": topic_id}
    hidden = await site.draft(role="author", title=f"Tin {word} ẩn", **fields)
    for taken in steps:
        action, body = taken if isinstance(taken, tuple) else (taken, {})
        assert (await step(site, hidden["id"], action, **body)).status == 200
    twin = await site.published(title=f"Tin {word} công khai", **fields)
    paths = [
        *PUBLIC_LISTS,
        f"/chuyen-muc/{category['slug']}",
        f"/chuyen-muc/{category['slug']}/rss",
        f"/tim-kiem?q={word}",
        f"/the/the-{status}",
        f"/dong-su-kien/{(await topic.json())['slug']}",
    ]
    for path in paths:
        response = await site.client.get(path)
        assert response.status == 200, path
        text = await response.text()
        assert f"{word} công khai" in text or twin["url"] in text, path  # the twin shows
        assert f"{word} ẩn" not in text and hidden["url"] not in text, path
    for path in (
        hidden["url"],
        f"/tin/{hidden['id']}",
        f"/tin/{hidden['id']}/in",
        f"/api/v1/articles/{hidden['id']}",
    ):
        assert (await site.client.get(path, allow_redirects=False)).status == 404, path
