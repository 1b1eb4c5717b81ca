"""Static pages managed like articles, on the real Postgres and RabbitMQ: drafts and
publication, the trash (30 days, restorable), revisions, the staff list, who may do what,
the built-in "Giới thiệu", and refusals that change nothing."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.support.articles import Site, running_site

SITEMAP_LOC = "{http://www.sitemaps.org/schemas/sitemap/0.9}loc"


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[Site]:
    async with running_site() as harness:
        yield harness


async def problem(response: aiohttp.ClientResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    body = dict(await response.json())
    assert body["code"] == code, body
    return body


async def new_page(site: Site, title: str | None = None, **fields: Any) -> dict[str, Any]:
    body = {"title": title or f"Trang thử {uuid.uuid4().hex[:6]}", **fields}
    body.setdefault("body_html", "<p>Nội dung trang.</p>")
    response = await site.client.post("/api/v1/pages", json=body, headers=site.auth("editor"))
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def command(site: Site, slug: str, name: str, role: str = "editor") -> aiohttp.ClientResponse:
    return await site.client.post(f"/api/v1/pages/{slug}/{name}", headers=site.auth(role))


async def staff_view(site: Site, slug: str) -> dict[str, Any]:
    response = await site.client.get(f"/api/v1/pages/{slug}", headers=site.auth("editor"))
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def public_places(site: Site, slug: str) -> dict[str, bool]:
    """Where the public finds the page: its own page, the API, /so-do, the sitemap of pages
    (a child of /sitemap.xml)."""
    path = "/gioi-thieu" if slug == "gioi-thieu" else f"/trang/{slug}"
    own = await site.client.get(path)
    api = await site.client.get(f"/api/v1/pages/{slug}")
    site_map = await (await site.client.get("/so-do")).text()
    sitemap = ET.fromstring(await (await site.client.get("/sitemap-trang.xml")).read())
    locations = {e.text for e in sitemap.iter(SITEMAP_LOC)}
    return {
        "page": own.status == 200,
        "api": api.status == 200,
        "so-do": f'href="{path}"' in site_map,
        "sitemap": f"https://tin.example.vn{path}" in locations,
    }


NOWHERE = {"page": False, "api": False, "so-do": False, "sitemap": False}
EVERYWHERE = {"page": True, "api": True, "so-do": True, "sitemap": True}


async def count(site: Site, sql: str, *args: Any) -> int:
    return int(await site.pool.fetchval(sql, *args))


async def revisions(site: Site, slug: str) -> list[dict[str, Any]]:
    response = await site.client.get(f"/api/v1/pages/{slug}/revisions", headers=site.auth("editor"))
    assert response.status == 200, await response.text()
    return list((await response.json())["items"])


# --- states -------------------------------------------------------------------------------


async def test_a_new_page_is_a_draft_public_only_once_published(site: Site) -> None:
    outbox_before = await count(site, "SELECT count(*) FROM outbox")
    created = await new_page(site, "Liên hệ với ban biên tập")
    assert created["slug"] == "lien-he-voi-ban-bien-tap"
    assert created["status"] == "draft" and created["version"] == 1
    assert created["url"] == "/trang/lien-he-voi-ban-bien-tap"
    assert created["updated_by"]["display_name"] == "Nguyễn Văn Biên"
    slug = created["slug"]
    assert await public_places(site, slug) == NOWHERE
    assert (await staff_view(site, slug))["status"] == "draft"

    published = await command(site, slug, "publish")
    assert published.status == 200
    assert (await published.json())["status"] == "published"
    assert await public_places(site, slug) == EVERYWHERE
    public = await (await site.client.get(f"/api/v1/pages/{slug}")).json()
    assert "updated_by" not in public  # who edits is for the staff

    unpublished = await command(site, slug, "unpublish")
    assert (await unpublished.json())["status"] == "draft"
    assert await public_places(site, slug) == NOWHERE
    # Static pages concern no other service: nothing goes to the outbox.
    assert await count(site, "SELECT count(*) FROM outbox") == outbox_before


async def test_the_about_page_shows_its_default_until_one_is_published(site: Site) -> None:
    default = await (await site.client.get("/api/v1/pages/gioi-thieu")).json()
    assert (default["status"], default["version"]) == ("default", 0)
    draft = await new_page(
        site, "Giới thiệu Hội Nông dân", slug="gioi-thieu", body_html="<p>Lịch sử Hội.</p>"
    )
    assert draft["status"] == "draft"
    assert "cổng thông tin điện tử" in await (await site.client.get("/gioi-thieu")).text()
    assert (await (await site.client.get("/api/v1/pages/gioi-thieu")).json())["version"] == 0
    assert (await staff_view(site, "gioi-thieu"))["title"] == "Giới thiệu Hội Nông dân"

    assert (await command(site, "gioi-thieu", "publish")).status == 200
    assert "Lịch sử Hội." in await (await site.client.get("/gioi-thieu")).text()

    deleted = await site.client.delete("/api/v1/pages/gioi-thieu", headers=site.auth("editor"))
    assert deleted.status == 200
    assert "cổng thông tin điện tử" in await (await site.client.get("/gioi-thieu")).text()
    assert await public_places(site, "gioi-thieu") == EVERYWHERE  # the default, again


async def test_editing_a_published_page_changes_the_public_text_at_once(site: Site) -> None:
    slug = (await new_page(site, body_html="<p>Địa chỉ cũ.</p>"))["slug"]
    await command(site, slug, "publish")
    edited = await site.client.patch(
        f"/api/v1/pages/{slug}",
        json={"body_html": "<p>Địa chỉ mới.</p><script>x()</script>", "version": 2},
        headers=site.auth("editor"),
    )
    assert edited.status == 200, await edited.text()
    body = await edited.json()
    assert (body["status"], body["version"], body["body_html"]) == (
        "published",
        3,
        "<p>Địa chỉ mới.</p>",
    )
    assert "Địa chỉ mới." in await (await site.client.get(f"/trang/{slug}")).text()


# --- the trash ----------------------------------------------------------------------------


async def test_a_deleted_page_leaves_the_site_at_once_and_is_restorable(site: Site) -> None:
    slug = (await new_page(site))["slug"]
    await command(site, slug, "publish")
    deleted = await site.client.delete(f"/api/v1/pages/{slug}", headers=site.auth("editor"))
    assert deleted.status == 200
    body = await deleted.json()
    assert body["status"] == "deleted" and body["deleted_at"]
    assert await public_places(site, slug) == NOWHERE
    listed = await (await site.client.get("/api/v1/pages", headers=site.auth("editor"))).json()
    assert {p["slug"]: p["status"] for p in listed["items"]}[slug] == "deleted"

    # In the trash, only restoring is allowed; the slug stays taken.
    version = body["version"]
    edit = await site.client.patch(
        f"/api/v1/pages/{slug}", json={"title": "Sửa"}, headers=site.auth("editor")
    )
    await problem(edit, 409, "page_deleted")
    for name in ("publish", "unpublish", "revisions/1/restore"):
        await problem(await command(site, slug, name), 409, "page_deleted")
    again = await site.client.delete(f"/api/v1/pages/{slug}", headers=site.auth("editor"))
    await problem(again, 409, "page_deleted")
    taken = await site.client.post(
        "/api/v1/pages", json={"title": "Khác", "slug": slug}, headers=site.auth("editor")
    )
    await problem(taken, 409, "slug_taken")
    assert (await staff_view(site, slug))["version"] == version

    restored = await command(site, slug, "restore")
    assert (await restored.json())["status"] == "draft"  # never public by surprise
    assert await public_places(site, slug) == NOWHERE
    await command(site, slug, "publish")
    assert await public_places(site, slug) == EVERYWHERE


async def test_the_trash_is_purged_after_30_days(site: Site) -> None:
    slug = (await new_page(site))["slug"]
    await site.client.delete(f"/api/v1/pages/{slug}", headers=site.auth("editor"))
    await site.pool.execute(
        "UPDATE static_pages SET deleted_at = now() - interval '31 days' WHERE slug = $1", slug
    )
    # Gone at once for every read and command, before anything purges the row...
    response = await site.client.get(f"/api/v1/pages/{slug}", headers=site.auth("editor"))
    await problem(response, 404, "page_not_found")
    await problem(await command(site, slug, "restore"), 404, "page_not_found")
    listed = await (await site.client.get("/api/v1/pages", headers=site.auth("editor"))).json()
    assert slug not in {p["slug"] for p in listed["items"]}
    # ...and the next write removes it for good with its revisions, freeing the slug.
    reused = await new_page(site, "Trang mới", slug=slug)
    assert reused["version"] == 1
    assert len(await revisions(site, slug)) == 1


# --- revisions ----------------------------------------------------------------------------


async def test_every_save_keeps_a_revision_and_restoring_one_is_a_new_one(site: Site) -> None:
    slug = (await new_page(site, "Cơ cấu tổ chức", body_html="<p>Bản đầu.</p>"))["slug"]
    await site.client.patch(
        f"/api/v1/pages/{slug}", json={"body_html": "<p>Bản hai.</p>"}, headers=site.auth("admin")
    )
    await command(site, slug, "publish")  # a state change: no revision
    listed = await revisions(site, slug)
    assert [r["number"] for r in listed] == [2, 1]
    assert listed[0]["saved_by"]["display_name"] == "Nguyễn Văn Biên"
    assert "body_html" not in listed[0] and listed[0]["saved_at"]

    first = await site.client.get(f"/api/v1/pages/{slug}/revisions/1", headers=site.auth("editor"))
    assert (await first.json())["body_html"] == "<p>Bản đầu.</p>"
    restored = await command(site, slug, "revisions/1/restore")
    assert restored.status == 200
    assert (await restored.json())["body_html"] == "<p>Bản đầu.</p>"
    assert "Bản đầu." in await (await site.client.get(f"/trang/{slug}")).text()
    newest = (await revisions(site, slug))[0]
    assert (newest["number"], newest["restored_from"]) == (3, 1)

    missing = await site.client.get(
        f"/api/v1/pages/{slug}/revisions/99", headers=site.auth("editor")
    )
    await problem(missing, 404, "revision_not_found")
    await problem(await command(site, slug, "revisions/99/restore"), 404, "revision_not_found")
    assert len(await revisions(site, slug)) == 3


async def test_put_still_creates_or_replaces_and_publishes_from_any_state(site: Site) -> None:
    slug = f"trang-{uuid.uuid4().hex[:6]}"
    body = {"title": "Đường dây nóng", "body_html": "<p>0292 000 000</p><script>x</script>"}
    put = await site.client.put(f"/api/v1/pages/{slug}", json=body, headers=site.auth("editor"))
    assert put.status == 200
    assert (await put.json())["body_html"] == "<p>0292 000 000</p>"
    assert await public_places(site, slug) == EVERYWHERE
    await command(site, slug, "unpublish")
    await site.client.put(f"/api/v1/pages/{slug}", json=body, headers=site.auth("editor"))
    assert (await staff_view(site, slug))["status"] == "published"
    await site.client.delete(f"/api/v1/pages/{slug}", headers=site.auth("editor"))
    revived = await site.client.put(f"/api/v1/pages/{slug}", json=body, headers=site.auth("editor"))
    assert (await revived.json())["status"] == "published"
    assert (await revived.json())["deleted_at"] is None
    assert len(await revisions(site, slug)) == 3


async def test_the_staff_list_names_state_version_and_who(site: Site) -> None:
    slug = (await new_page(site, "Sơ lược lịch sử"))["slug"]
    response = await site.client.get("/api/v1/pages", headers=site.auth("editor"))
    assert response.headers["Cache-Control"] == "no-store"
    items = {p["slug"]: p for p in (await response.json())["items"]}
    shown = items[slug]
    assert (shown["title"], shown["status"], shown["version"]) == ("Sơ lược lịch sử", "draft", 1)
    assert shown["updated_by"]["display_name"] == "Nguyễn Văn Biên" and shown["updated_at"]
    assert "body_html" not in shown


# --- refusals -----------------------------------------------------------------------------


async def test_a_stale_version_is_a_409_and_nothing_changes(site: Site) -> None:
    slug = (await new_page(site))["slug"]
    await site.client.patch(
        f"/api/v1/pages/{slug}", json={"title": "Lần một"}, headers=site.auth("editor")
    )
    stale = await site.client.patch(
        f"/api/v1/pages/{slug}", json={"title": "Lần hai", "version": 1}, headers=site.auth("admin")
    )
    await problem(stale, 409, "version_conflict")
    page = await staff_view(site, slug)
    assert (page["title"], page["version"]) == ("Lần một", 2)
    assert len(await revisions(site, slug)) == 2


async def test_commands_the_state_does_not_allow_are_409s(site: Site) -> None:
    slug = (await new_page(site))["slug"]
    await problem(await command(site, slug, "unpublish"), 409, "not_published")
    await problem(await command(site, slug, "restore"), 409, "not_deleted")
    await command(site, slug, "publish")
    await problem(await command(site, slug, "publish"), 409, "already_published")
    assert (await staff_view(site, slug))["version"] == 2


async def test_a_page_that_does_not_exist_is_a_404(site: Site) -> None:
    for slug in ("khong-co-trang-nay", "Khong%20Hop%20Le"):
        edit = await site.client.patch(
            f"/api/v1/pages/{slug}", json={"title": "X"}, headers=site.auth("editor")
        )
        await problem(edit, 404, "page_not_found")
        for name in ("publish", "unpublish", "restore", "revisions/1/restore"):
            await problem(await command(site, slug, name), 404, "page_not_found")
        gone = await site.client.delete(f"/api/v1/pages/{slug}", headers=site.auth("editor"))
        await problem(gone, 404, "page_not_found")
        listed = await site.client.get(
            f"/api/v1/pages/{slug}/revisions", headers=site.auth("editor")
        )
        await problem(listed, 404, "page_not_found")
    assert await count(site, "SELECT count(*) FROM static_pages WHERE slug LIKE 'khong%'") == 0


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/v1/pages", {"title": "   "}, "title"),
        ("POST", "/api/v1/pages", {"body_html": "<p>x</p>"}, "title"),
        ("POST", "/api/v1/pages", {"title": "Đúng", "slug": "Sai Đường Dẫn"}, "slug"),
        ("POST", "/api/v1/pages", {"title": "Đúng", "status": "published"}, "(toàn bộ)"),
        ("POST", "/api/v1/pages", {"title": "x" * 201}, "title"),
        ("PATCH", "/api/v1/pages/{slug}", {}, None),
        ("PATCH", "/api/v1/pages/{slug}", {"version": 1}, "(toàn bộ)"),
        ("PATCH", "/api/v1/pages/{slug}", {"title": "Đúng", "version": 0}, "version"),
        ("PATCH", "/api/v1/pages/{slug}", {"body_html": 5}, "body_html"),
        ("PUT", "/api/v1/pages/Sai_Duong_Dan", {"title": "Đúng", "body_html": ""}, "slug"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field_and_nothing_changes(
    site: Site, method: str, path: str, body: dict[str, Any], field: str | None
) -> None:
    slug = (await new_page(site))["slug"]
    before = await site.pool.fetch("SELECT * FROM static_pages ORDER BY slug")
    revisions_before = await count(site, "SELECT count(*) FROM static_page_revisions")
    response = await site.client.request(
        method, path.format(slug=slug), json=body, headers=site.auth("editor")
    )
    answer = await problem(response, 422, "invalid_input")
    if field:
        assert field in {e["field"] for e in answer["errors"]}, answer
    assert await site.pool.fetch("SELECT * FROM static_pages ORDER BY slug") == before
    assert await count(site, "SELECT count(*) FROM static_page_revisions") == revisions_before


# --- who ----------------------------------------------------------------------------------


async def test_editors_and_admins_manage_pages_authors_and_moderators_do_not(site: Site) -> None:
    slug = (await new_page(site))["slug"]
    await command(site, slug, "publish")
    writes = [
        ("GET", "/api/v1/pages", None),
        ("POST", "/api/v1/pages", {"title": "Của tác giả"}),
        ("PUT", f"/api/v1/pages/{slug}", {"title": "Thay", "body_html": "<p>x</p>"}),
        ("PATCH", f"/api/v1/pages/{slug}", {"title": "Thay"}),
        ("POST", f"/api/v1/pages/{slug}/unpublish", None),
        ("POST", f"/api/v1/pages/{slug}/publish", None),
        ("POST", f"/api/v1/pages/{slug}/restore", None),
        ("DELETE", f"/api/v1/pages/{slug}", None),
        ("GET", f"/api/v1/pages/{slug}/revisions", None),
        ("GET", f"/api/v1/pages/{slug}/revisions/1", None),
        ("POST", f"/api/v1/pages/{slug}/revisions/1/restore", None),
    ]
    before = await site.pool.fetch("SELECT * FROM static_pages ORDER BY slug")
    for method, path, body in writes:
        for role in ("author", "moderator"):
            response = await site.client.request(method, path, json=body, headers=site.auth(role))
            assert response.status == 403, (role, method, path)
        anonymous = await site.client.request(method, path, json=body)
        assert anonymous.status == 401, (method, path)
    assert await site.pool.fetch("SELECT * FROM static_pages ORDER BY slug") == before
    # A draft is not theirs to read either: to them it is the public site.
    await command(site, slug, "unpublish")
    for role in ("author", "moderator"):
        response = await site.client.get(f"/api/v1/pages/{slug}", headers=site.auth(role))
        await problem(response, 404, "page_not_found")
    for role in ("editor", "admin"):
        response = await site.client.get(f"/api/v1/pages/{slug}", headers=site.auth(role))
        assert (await response.json())["status"] == "draft"
        assert response.headers["Cache-Control"] == "no-store"
