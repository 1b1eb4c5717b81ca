"""The editors' desk pages of the article editor (services/articles/desk_editor.py) on the
real Postgres: who reaches which page (checked on the server), what each page shows, the
preview as the public page renders it, the side-by-side comparison of revisions, the
static pages' editor, and the vendored editor's files."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.articles.desk_editor import EDITOR_ASSETS
from tests.support.articles import Site, running_site


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[Site]:
    async with running_site() as harness:
        yield harness


async def page(site: Site, path: str, role: str | None) -> tuple[int, str, Any]:
    headers = site.auth(role) if role else {}
    response = await site.client.get(
        path, headers={**headers, "Accept": "text/html"}, allow_redirects=False
    )
    return response.status, await response.text(), response.headers


async def returned(site: Site, article_id: int, reason: str) -> None:
    for step, body in (("submit", None), ("return", {"reason": reason})):
        response = await site.client.post(
            f"/api/v1/articles/{article_id}/{step}", json=body, headers=site.auth("editor")
        )
        assert response.status == 200, await response.text()


def buttons(html: str) -> set[str]:
    return set(re.findall(r'data-action="([a-z-]+)"', html))


async def test_nobody_signed_in_is_sent_to_the_login_form_and_back(site: Site) -> None:
    draft = await site.draft()
    for path in (
        "/quan-tri/bai-viet/moi",
        f"/quan-tri/bai-viet/{draft['id']}",
        f"/quan-tri/bai-viet/{draft['id']}/xem-truoc",
        f"/quan-tri/bai-viet/{draft['id']}/phien-ban",
        "/quan-tri/trang",
        "/quan-tri/trang/gioi-thieu",
    ):
        status, _, headers = await page(site, path, None)
        assert status == 303, path
        assert headers["Location"] == "/dang-nhap?next=" + path
        assert headers["Cache-Control"] == "no-store"


async def test_a_moderator_reaches_no_editor_page(site: Site) -> None:
    draft = await site.draft()
    for path in (
        "/quan-tri/bai-viet/moi",
        f"/quan-tri/bai-viet/{draft['id']}",
        f"/quan-tri/bai-viet/{draft['id']}/xem-truoc",
        f"/quan-tri/bai-viet/{draft['id']}/phien-ban",
        "/quan-tri/trang",
        "/quan-tri/trang/gioi-thieu",
    ):
        status, html, _ = await page(site, path, "moderator")
        assert status == 403, path
        assert "không có quyền" in html


async def test_an_author_edits_their_own_draft_and_sees_nobody_elses(site: Site) -> None:
    own = await site.draft(role="author", title="Bài của tác giả")
    others = await site.draft(role="editor", title="Bài của biên tập viên")
    status, html, headers = await page(site, f"/quan-tri/bai-viet/{own['id']}", "author")
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert 'value="Bài của tác giả"' in html
    assert buttons(html) >= {"save", "submit"}
    assert not buttons(html) & {"publish", "schedule", "return", "unpublish"}
    for path in (
        f"/quan-tri/bai-viet/{others['id']}",
        f"/quan-tri/bai-viet/{others['id']}/xem-truoc",
    ):
        status, _, _ = await page(site, path, "author")
        assert status == 404, path
    # Static pages are for editors and admins.
    assert (await page(site, "/quan-tri/trang", "author"))[0] == 403


async def test_an_author_sees_why_their_article_came_back(site: Site) -> None:
    own = await site.draft(role="author")
    await returned(site, own["id"], "Thiếu nguồn ảnh, xin bổ sung.")
    _, html, _ = await page(site, f"/quan-tri/bai-viet/{own['id']}", "author")
    assert "Bài viết được trả lại" in html and "Thiếu nguồn ảnh, xin bổ sung." in html
    assert "save" in buttons(html)


async def test_a_submitted_article_is_read_only_for_its_author_and_reviewable_by_an_editor(
    site: Site,
) -> None:
    own = await site.draft(role="author")
    response = await site.client.post(
        f"/api/v1/articles/{own['id']}/submit", headers=site.auth("author")
    )
    assert response.status == 200
    _, html, _ = await page(site, f"/quan-tri/bai-viet/{own['id']}", "author")
    assert buttons(html) == set()
    assert 'data-can-edit="false"' in html
    _, html, _ = await page(site, f"/quan-tri/bai-viet/{own['id']}", "editor")
    assert buttons(html) >= {"save", "publish", "schedule", "return"}
    assert "submit" not in buttons(html)


async def test_the_new_article_page_lists_nested_categories_tags_and_topics(site: Site) -> None:
    parent = await site.category("Tin tức")
    response = await site.client.post(
        "/api/v1/categories",
        json={"name": "Tin trong tỉnh", "parent_id": parent["id"]},
        headers=site.auth("editor"),
    )
    assert response.status == 201
    await site.client.post("/api/v1/topics", json={"name": "Đại hội"}, headers=site.auth("editor"))
    status, html, _ = await page(site, "/quan-tri/bai-viet/moi", "editor")
    assert status == 200
    assert re.search(r">Tin tức</option>\s*<option[^>]*>&nbsp;&nbsp;— Tin trong tỉnh<", html)
    assert ">Đại hội</option>" in html
    assert f'src="{EDITOR_ASSETS}/jodit.min.js"' in html and 'src="/static/editor.js"' in html
    assert buttons(html) >= {"save", "publish", "schedule"}
    # Every field has its label.
    for field in ("title", "summary", "category_id", "tags", "topic_id", "author_name", "unit"):
        assert f'<label for="{field}">' in html, field


async def test_the_preview_renders_the_public_template_without_counting(site: Site) -> None:
    draft = await site.draft(
        title="Bản nháp xem trước", body_html="<h2>Mục một</h2><p>Nội dung <b>đậm</b>.</p>"
    )
    status, html, headers = await page(
        site, f"/quan-tri/bai-viet/{draft['id']}/xem-truoc", "editor"
    )
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert "Bản xem trước" in html and '<meta name="robots" content="noindex">' in html
    assert '<h1 class="article-title">Bản nháp xem trước</h1>' in html
    assert "<h2>Mục một</h2>" in html and "<b>đậm</b>" in html
    assert "beacon.js" not in html and "/v.gif" not in html
    # The public still gets nothing of the draft.
    assert (await site.client.get(f"/tin/{draft['slug']}-{draft['id']}")).status == 404


async def test_revisions_compare_side_by_side(site: Site) -> None:
    draft = await site.draft(body_html="<p>Đoạn một.</p><p>Đoạn hai.</p>")
    response = await site.client.patch(
        f"/api/v1/articles/{draft['id']}",
        json={"body_html": "<p>Đoạn một.</p><p>Đoạn hai đã sửa.</p>", "version": draft["version"]},
        headers=site.auth("editor"),
    )
    assert response.status == 200
    path = f"/quan-tri/bai-viet/{draft['id']}/phien-ban"
    status, html, _ = await page(site, path, "editor")
    assert status == 200
    assert "<del>Đoạn hai.</del>" in html and "<ins>Đoạn hai đã sửa.</ins>" in html
    assert 'data-restore="1"' in html
    # Chosen by the query; an unknown number falls back to the newest two.
    _, chosen, _ = await page(site, path + "?a=2&b=1", "editor")
    assert "<del>Đoạn hai đã sửa.</del>" in chosen
    _, fallback, _ = await page(site, path + "?a=99&b=x", "editor")
    assert "<del>Đoạn hai.</del>" in fallback
    # An author who may not edit the article sees no restore button: a moderator no page.
    assert (await page(site, path, "moderator"))[0] == 403


async def test_static_pages_list_and_editor(site: Site) -> None:
    status, html, _ = await page(site, "/quan-tri/trang", "editor")
    assert status == 200 and 'href="/quan-tri/trang/gioi-thieu"' in html
    status, html, _ = await page(site, "/quan-tri/trang/gioi-thieu", "editor")
    assert status == 200
    assert 'data-kind="page"' in html and 'data-version="0"' in html
    assert buttons(html) == {"save", "publish"}
    assert (await page(site, "/quan-tri/trang/khong-co-trang-nay", "editor"))[0] == 404
    # A page in the trash can only be restored.
    created = await site.client.post(
        "/api/v1/pages", json={"title": "Tạm thời"}, headers=site.auth("editor")
    )
    slug = (await created.json())["slug"]
    await site.client.delete(f"/api/v1/pages/{slug}", headers=site.auth("editor"))
    _, html, _ = await page(site, f"/quan-tri/trang/{slug}", "editor")
    assert buttons(html) == {"restore"} and 'data-can-edit="false"' in html
    assert (await page(site, "/quan-tri/trang/gioi-thieu", "admin"))[0] == 200


async def test_vendored_files_are_served_with_their_type_and_a_years_cache(site: Site) -> None:
    response = await site.client.get(f"{EDITOR_ASSETS}/jodit.min.js")
    assert response.status == 200
    assert response.content_type == "text/javascript"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    etag = response.headers["ETag"]
    again = await site.client.get(f"{EDITOR_ASSETS}/jodit.min.js", headers={"If-None-Match": etag})
    assert again.status == 304
    css = await site.client.get(f"{EDITOR_ASSETS}/jodit.min.css")
    assert css.status == 200 and css.content_type == "text/css"
    for path in (
        f"{EDITOR_ASSETS}/missing.js",
        f"{EDITOR_ASSETS}/../site.css",
        f"{EDITOR_ASSETS}/.hidden.js",
        "/static/vendor/jodit/jodit.min.js",
        f"{EDITOR_ASSETS}/jodit.min.js.map",
    ):
        assert (await site.client.get(path)).status == 404, path
    editor_js = await site.client.get("/static/editor.js")
    assert editor_js.status == 200 and editor_js.content_type == "text/javascript"
