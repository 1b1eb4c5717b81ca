"""The desk's management pages as people use them (articles service in-process, real
Postgres and RabbitMQ): the home, the article list with its filters, categories, tags and
topics, users, the import, and the count of feedback waiting, fed by real CloudEvents."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from services.articles import store
from services.common.events.envelope import CloudEvent, source_of
from tests.integration.test_articles_pages import views_counted
from tests.support.amqp import publish_event
from tests.support.articles import Site, running_site
from tests.support.polling import eventually


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[Site]:
    async with running_site() as harness:
        yield harness


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


async def get(site: Site, path: str, role: str | None, status: int = 200) -> str:
    headers = site.auth(role) if role else {}
    response = await site.client.get(path, headers=headers, allow_redirects=False)
    assert response.status == status, await response.text()
    if status == 200:
        assert response.headers["Cache-Control"] == "no-store"
    return await response.text()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf-token" content="([0-9a-f]+)"', html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


async def post(
    site: Site, path: str, role: str, data: dict[str, Any] | list[tuple[str, str]], page: str
) -> aiohttp.ClientResponse:
    """Post a desk form as the page `page` (to read its CSRF token from) would."""
    token = csrf_of(await get(site, page, role))
    fields = list(data.items()) if isinstance(data, dict) else list(data)
    return await site.client.post(
        path, data=[("csrf", token), *fields], headers=site.auth(role), allow_redirects=False
    )


# --- the menu -----------------------------------------------------------------------------


def menu(html: str) -> list[str]:
    nav = html.split('<ul class="admin-menu"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r'<a href="([^"]+)"', nav)


async def test_the_menu_shows_each_role_what_it_may_use_and_marks_the_current_page(
    site: Site,
) -> None:
    author = menu(await get(site, "/quan-tri", "author"))
    assert author == ["/quan-tri", "/quan-tri/bai-viet", "/quan-tri/bai-viet/moi"]
    editor = menu(await get(site, "/quan-tri", "editor"))
    assert "/quan-tri/chuyen-muc" in editor and "/quan-tri/trang" in editor
    assert "/quan-tri/nguoi-dung" not in editor and "/quan-tri/phan-hoi" not in editor
    moderator = menu(await get(site, "/quan-tri", "moderator"))
    assert moderator == ["/quan-tri/phan-hoi"]
    admin = menu(await get(site, "/quan-tri/the", "admin"))
    assert admin[-2:] == ["/quan-tri/nguoi-dung", "/quan-tri/nhap-bai"]
    page = await get(site, "/quan-tri/the", "admin")
    assert '<a href="/quan-tri/the" aria-current="page">Thẻ</a>' in page
    assert page.count('aria-current="page"') == 1
    assert 'src="/static/admin-menu.js"' in page
    assert "qua API" not in page


# --- home ---------------------------------------------------------------------------------


async def test_the_home_puts_my_drafts_returns_reviews_and_schedule_first(site: Site) -> None:
    author = await site.new_account("author")
    site.accounts["author2"] = author
    category = await site.category()
    mine = await site.draft("author2", title="Bản nháp của tác giả", category_id=category["id"])
    sent = await site.draft("author2", title="Bài bị trả lại", category_id=category["id"])
    for step, body in (("submit", None), ("return", {"reason": "Thiếu nguồn ảnh"})):
        role = "author2" if step == "submit" else "editor"
        r = await site.client.post(
            f"/api/v1/articles/{sent['id']}/{step}", json=body, headers=site.auth(role)
        )
        assert r.status == 200, await r.text()
    waiting = await site.draft("author2", title="Bài chờ duyệt", category_id=category["id"])
    r = await site.client.post(
        f"/api/v1/articles/{waiting['id']}/submit", headers=site.auth("author2")
    )
    assert r.status == 200
    soon = await site.draft(title="Bài hẹn giờ", category_id=category["id"])
    r = await site.client.post(
        f"/api/v1/articles/{soon['id']}/schedule",
        json={"publish_at": "2099-01-01T08:00:00+07:00"},
        headers=site.auth("editor"),
    )
    assert r.status == 200, await r.text()

    home = text_of(await get(site, "/quan-tri", "author2"))
    returned = home.split("Bài bị trả lại cho tôi", 1)[1].split("Bản nháp của tôi", 1)[0]
    assert "Bài bị trả lại" in returned and "Thiếu nguồn ảnh" in returned
    drafts = home.split("Bản nháp của tôi", 1)[1].split("đang chờ duyệt", 1)[0]
    assert "Bản nháp của tác giả" in drafts and "Bài bị trả lại" not in drafts
    assert "Bài chờ duyệt" in home.split("Bài của tôi đang chờ duyệt", 1)[1]
    assert "Bài hẹn giờ" not in home  # an editor's article: not the author's business
    assert f'href="/quan-tri/bai-viet/{mine["id"]}"' in await get(site, "/quan-tri", "author2")

    editor = text_of(await get(site, "/quan-tri", "editor"))
    assert "Bài chờ duyệt" in editor.split("Bài chờ tôi duyệt", 1)[1]
    assert "Bài hẹn giờ" in editor.split("Sắp đăng theo lịch", 1)[1]
    assert "Đọc nhiều nhất hôm nay" not in editor  # no counts given: no empty block


def feedback_event(type_: str, item_id: int, version: int) -> CloudEvent:
    stamp = "2026-04-28T08:00:00+07:00"
    data: dict[str, Any] = {"id": item_id, "version": version, "article_id": None}
    if type_ == "feedback.submitted":
        data.update(target="site", submitted_at=stamp)
    elif type_ == "feedback.rejected":
        data.update(rejected_at=stamp)
    elif type_ == "feedback.withdrawn":
        data.update(withdrawn_at=stamp)
    else:
        data.update(author_name="Bạn đọc", body="Ý kiến.", approved_at=stamp, updated_at=stamp)
    return CloudEvent(type_, source_of("feedback"), str(item_id), data)


async def waiting_count(site: Site, role: str = "moderator") -> int:
    home = text_of(await get(site, "/quan-tri", role))
    found = re.search(r"(\d+) ý kiến đang chờ", home)
    assert found, home
    return int(found.group(1))


async def test_the_feedback_waiting_follows_the_moderation_events_and_never_goes_back(
    site: Site,
) -> None:
    base = await waiting_count(site)
    first, second, third = (uuid.uuid4().int % 10**9 for _ in range(3))
    for item in (first, second, third):
        await publish_event(site.amqp_url, feedback_event("feedback.submitted", item, 1))
    await eventually(lambda: _is(site, base + 3))
    # Approved, rejected, withdrawn: no longer waiting; the approval arrives twice.
    approved = feedback_event("feedback.approved", first, 2)
    await publish_event(site.amqp_url, approved)
    await publish_event(site.amqp_url, approved)
    await publish_event(site.amqp_url, feedback_event("feedback.rejected", second, 2))
    await eventually(lambda: _is(site, base + 1))
    # A late submitted (an older version) does not bring a moderated case back.
    await publish_event(site.amqp_url, feedback_event("feedback.submitted", first, 1))
    await publish_event(site.amqp_url, feedback_event("feedback.withdrawn", third, 3))
    await eventually(lambda: _is(site, base))
    await asyncio.sleep(0.5)
    assert await waiting_count(site) == base
    page = await get(site, "/quan-tri", "moderator")
    assert 'href="/quan-tri/phan-hoi"' in page.split("chờ kiểm duyệt", 1)[1]
    assert await waiting_count(site, "editor") == base  # editors see the count too
    assert "ý kiến đang chờ" not in await get(site, "/quan-tri", "author")


async def _is(site: Site, expected: int) -> bool:
    return await waiting_count(site) == expected


# --- the article list ---------------------------------------------------------------------


async def test_the_list_filters_pages_and_keeps_authors_to_their_own(site: Site) -> None:
    category = await site.category("Chuyên mục lọc")
    word = f"lọcthử{uuid.uuid4().hex[:6]}"
    published = await site.published(title=f"Tin {word} đã đăng", category_id=category["id"])
    draft = await site.draft(title=f"Nháp {word}", category_id=category["id"])
    by_author = await site.draft("author", title=f"Của tác giả {word}")

    page = await get(site, f"/quan-tri/bai-viet?q={word}", "editor")
    assert "3 bài viết" in text_of(page)
    published_only = await get(site, f"/quan-tri/bai-viet?q={word}&trang-thai=published", "editor")
    assert f"Tin {word} đã đăng" in published_only and f"Nháp {word}" not in published_only
    assert f'href="{published["url"]}"' in published_only
    in_category = await get(site, f"/quan-tri/bai-viet?chuyen-muc={category['id']}", "editor")
    assert f"Nháp {word}" in in_category and f"Của tác giả {word}" not in in_category
    by_who = await get(
        site, f"/quan-tri/bai-viet?tac-gia={site.accounts['author'].user.id}&q={word}", "editor"
    )
    assert f"Của tác giả {word}" in by_who and f"Nháp {word}" not in by_who

    # Unaccented words find the accented text.
    assert f"Nháp {word}" in await get(site, "/quan-tri/bai-viet?q=nhap " + word, "editor")
    # Dates: today in, a day long past out.
    assert f"Nháp {word}" not in await get(
        site, f"/quan-tri/bai-viet?q={word}&tu-ngay=2000-01-01&den-ngay=2000-01-02", "editor"
    )
    # An author sees only their own, whatever author the query names.
    own = await get(
        site, f"/quan-tri/bai-viet?q={word}&tac-gia={site.accounts['editor'].user.id}", "author"
    )
    assert f"Của tác giả {word}" in own and f"Nháp {word}" not in own
    assert 'id="f-author"' not in own
    assert f'href="/quan-tri/bai-viet/{draft["id"]}"' not in own
    assert f'href="/quan-tri/bai-viet/{by_author["id"]}"' in own


async def test_bad_filters_are_explained_and_the_page_size_is_bounded(site: Site) -> None:
    bad = await get(site, "/quan-tri/bai-viet?tu-ngay=hom-qua", "editor", status=422)
    assert "Ngày phải có dạng" in text_of(bad)
    wrong_state = await get(site, "/quan-tri/bai-viet?trang-thai=x", "editor", status=422)
    assert "Trạng thái không có trong danh sách" in text_of(wrong_state)
    reversed_days = "/quan-tri/bai-viet?tu-ngay=2025-02-01&den-ngay=2025-01-01"
    assert "sau ngày bắt đầu" in text_of(await get(site, reversed_days, "editor", status=422))
    category = await site.category()
    for n in range(23):
        await site.draft(title=f"Trang {n:02d}", category_id=category["id"])
    first = await get(site, f"/quan-tri/bai-viet?chuyen-muc={category['id']}", "editor")
    assert len(re.findall(r'href="/quan-tri/bai-viet/\d+"', first)) == 20
    assert "Trang 22" in first and "Trang 02" not in first  # newest first
    assert "trang 1/2" in text_of(first)
    second = await get(site, f"/quan-tri/bai-viet?chuyen-muc={category['id']}&trang=2", "editor")
    assert "Trang 00" in second and "Trang 22" not in second


async def test_the_trash_is_listed_only_under_its_filter_and_can_be_restored(site: Site) -> None:
    draft = await site.draft(title=f"Bài vào thùng rác {uuid.uuid4().hex[:6]}")
    r = await site.client.post(
        f"/api/v1/articles/{draft['id']}/delete", headers=site.auth("editor")
    )
    assert r.status == 200
    assert draft["title"] not in await get(site, "/quan-tri/bai-viet", "editor")
    trash = "/quan-tri/bai-viet?trang-thai=deleted"
    assert draft["title"] in await get(site, trash, "editor")
    restore = f"/quan-tri/bai-viet/{draft['id']}/khoi-phuc"
    # Without the page's token nothing happens.
    refused = await site.client.post(
        restore, data={"csrf": "0" * 64}, headers=site.auth("editor"), allow_redirects=False
    )
    assert refused.status == 403
    assert draft["title"] in await get(site, trash, "editor")
    answer = await post(site, restore, "editor", {}, trash)
    assert answer.status == 303
    assert draft["title"] not in await get(site, trash, "editor")
    assert draft["title"] in await get(site, "/quan-tri/bai-viet", "editor")
    # An author cannot restore another's article (it is not even theirs to see), even
    # with a valid token; it stays in the trash.
    await site.client.post(f"/api/v1/articles/{draft['id']}/delete", headers=site.auth("editor"))
    answer = await post(site, restore, "author", {}, "/quan-tri/bai-viet")
    assert answer.status == 404
    assert draft["title"] in await get(site, trash, "editor")


# --- categories, tags, topics -------------------------------------------------------------


async def test_an_editor_creates_renames_reorders_and_deletes_categories(site: Site) -> None:
    page = "/quan-tri/chuyen-muc"
    suffix = uuid.uuid4().hex[:6]
    names = [f"A {suffix}", f"B {suffix}"]
    for name in names:
        answer = await post(site, page, "editor", {"name": name, "parent_id": ""}, page)
        assert answer.status == 303
        assert "da=tao" in answer.headers["Location"]
    listed = (await (await site.client.get("/api/v1/categories")).json())["items"]
    ids = {c["name"]: c["id"] for c in listed}
    shown = text_of(await get(site, page, "editor"))
    assert shown.index(names[0]) < shown.index(names[1])

    answer = await post(site, f"{page}/{ids[names[1]]}/len", "editor", {}, page)
    assert answer.status == 303
    shown = text_of(await get(site, page, "editor"))
    assert shown.index(names[1]) < shown.index(names[0])

    renamed = f"Đổi tên {suffix}"
    answer = await post(site, f"{page}/{ids[names[0]]}/doi-ten", "editor", {"name": renamed}, page)
    assert answer.status == 303
    assert renamed in text_of(await get(site, answer.headers["Location"], "editor"))

    # Not empty: a clear message, nothing deleted.
    await site.draft(category_id=ids[names[1]])
    refused = await post(site, f"{page}/{ids[names[1]]}/xoa", "editor", {}, page)
    assert refused.status == 409
    assert "Chuyên mục còn bài viết" in text_of(await refused.text())
    assert names[1] in text_of(await get(site, page, "editor"))
    emptied = await post(site, f"{page}/{ids[names[0]]}/xoa", "editor", {}, page)
    assert emptied.status == 303
    assert renamed not in text_of(await get(site, page, "editor"))

    empty_name = await post(site, page, "editor", {"name": "  "}, page)
    assert empty_name.status == 422
    assert "Xin nhập tên" in text_of(await empty_name.text())


async def test_a_child_category_moves_among_its_siblings_only(site: Site) -> None:
    page = "/quan-tri/chuyen-muc"
    parent = await site.category(f"Cha {uuid.uuid4().hex[:6]}")
    kids = []
    for n in range(2):
        name = f"Con {n} {uuid.uuid4().hex[:4]}"
        answer = await post(site, page, "admin", {"name": name, "parent_id": parent["id"]}, page)
        assert answer.status == 303
        kids.append(name)
    listed = (await (await site.client.get("/api/v1/categories")).json())["items"]
    ids = {c["name"]: c for c in listed}
    assert ids[kids[0]]["parent_id"] == parent["id"]
    await post(site, f"{page}/{ids[kids[1]]['id']}/len", "admin", {}, page)
    shown = text_of(await get(site, page, "admin"))
    assert shown.index(parent["name"]) < shown.index(kids[1]) < shown.index(kids[0])


async def test_tags_and_topics_pages_create_rename_and_delete(site: Site) -> None:
    for page, api in (
        ("/quan-tri/the", "/api/v1/tags"),
        ("/quan-tri/dong-su-kien", "/api/v1/topics"),
    ):
        name = f"Mục {uuid.uuid4().hex[:6]}"
        assert (await post(site, page, "editor", {"name": name}, page)).status == 303
        items = (await (await site.client.get(api)).json())["items"]
        item = next(i for i in items if i["name"] == name)
        new_name = name + " mới"
        answer = await post(
            site, f"{page}/{item['id']}/doi-ten", "editor", {"name": new_name}, page
        )
        assert answer.status == 303
        assert new_name in text_of(await get(site, page, "editor"))
        assert (await post(site, f"{page}/{item['id']}/xoa", "editor", {}, page)).status == 303
        assert new_name not in text_of(await get(site, page, "editor"))


async def test_a_form_without_its_token_or_with_another_persons_changes_nothing(
    site: Site,
) -> None:
    page = "/quan-tri/the"
    name = f"Không được tạo {uuid.uuid4().hex[:6]}"
    for token in ("", "0" * 64, csrf_of(await get(site, page, "admin"))):  # the last: not theirs
        answer = await site.client.post(
            page, data={"csrf": token, "name": name}, headers=site.auth("editor"),
            allow_redirects=False,
        )  # fmt: skip
        assert answer.status == 403
        assert "Biểu mẫu không hợp lệ" in text_of(await answer.text())
    assert name not in await get(site, page, "editor")
    # Nobody signed in: to the login form, back to the page the form was on.
    answer = await site.client.post(f"{page}/1/xoa", data={"csrf": ""}, allow_redirects=False)
    assert answer.status == 303
    assert answer.headers["Location"] == "/dang-nhap?next=/quan-tri/the"


# --- users --------------------------------------------------------------------------------


async def choose_own_password(site: Site, login: dict[str, str]) -> dict[str, str]:
    """The person replaces a temporary password with their own, as at /doi-mat-khau."""
    own = {**login, "password": login["password"] + "-cua-toi"}
    change = {
        "username": login["username"],
        "current_password": login["password"],
        "new_password": own["password"],
    }
    assert (await site.client.post("/api/v1/auth/password", json=change)).status == 204
    assert (await site.client.post("/api/v1/auth/token", json=own)).status == 200
    return own


async def test_an_admin_creates_a_user_who_signs_in_with_the_temporary_password(
    site: Site,
) -> None:
    page = "/quan-tri/nguoi-dung"
    username = f"nv.{uuid.uuid4().hex[:8]}"
    form = [("username", username), ("display_name", "Lê Thị Nhân"), ("roles", "author")]
    answer = await post(site, page, "admin", form, page)
    assert answer.status == 201
    shown = await answer.text()
    password = re.search(r'class="desk-password-value"><code>([^<]+)</code>', shown).group(1)
    login = {"username": username, "password": password}
    # A temporary password: no token until its owner chooses their own.
    r = await site.client.post("/api/v1/auth/token", json=login)
    assert (r.status, (await r.json())["code"]) == (403, "password_change_required")
    login = await choose_own_password(site, login)
    assert password not in await get(site, page, "admin")  # shown once only

    users = await (await site.client.get("/api/v1/users", headers=site.auth("admin"))).json()
    user = next(u for u in users["items"] if u["username"] == username)
    roles = [("roles", "editor"), ("roles", "moderator")]
    assert (await post(site, f"{page}/{user['id']}/vai-tro", "admin", roles, page)).status == 303
    r = await site.client.get(f"/api/v1/users/{user['id']}", headers=site.auth("admin"))
    assert sorted((await r.json())["roles"]) == ["editor", "moderator"]

    assert (await post(site, f"{page}/{user['id']}/khoa", "admin", {}, page)).status == 303
    assert (await site.client.post("/api/v1/auth/token", json=login)).status in (401, 403)
    assert (await post(site, f"{page}/{user['id']}/mo-khoa", "admin", {}, page)).status == 303
    assert (await site.client.post("/api/v1/auth/token", json=login)).status == 200

    reset = await post(site, f"{page}/{user['id']}/dat-lai-mat-khau", "admin", {}, page)
    assert reset.status == 200
    new_password = re.search(r"<code>([^<]+)</code>", await reset.text()).group(1)
    assert new_password != password
    assert (await site.client.post("/api/v1/auth/token", json=login)).status == 401
    login["password"] = new_password
    # The reset password too is temporary: its owner chooses their own first.
    assert (await site.client.post("/api/v1/auth/token", json=login)).status == 403
    login = await choose_own_password(site, login)
    assert (await site.client.post("/api/v1/auth/token", json=login)).status == 200


async def test_user_forms_refuse_bad_input_and_the_last_admin(site: Site) -> None:
    page = "/quan-tri/nguoi-dung"
    no_role = await post(site, page, "admin", [("username", "ai.do")], page)
    assert no_role.status == 422
    assert "Cần ít nhất một vai trò" in text_of(await no_role.text())
    taken = await post(
        site,
        page,
        "admin",
        [("username", site.accounts["editor"].user.username), ("roles", "author")],
        page,
    )
    assert taken.status == 409
    assert "đã có người dùng" in text_of(await taken.text())
    # The only admin cannot take their own admin role away: the site would have none.
    me = site.accounts["admin"].user.id
    answer = await post(site, f"{page}/{me}/vai-tro", "admin", [("roles", "editor")], page)
    assert answer.status == 409
    assert "quản trị viên cuối cùng" in text_of(await answer.text())
    r = await site.client.get(f"/api/v1/users/{me}", headers=site.auth("admin"))
    assert "admin" in (await r.json())["roles"]


# --- import -------------------------------------------------------------------------------


def jsonl(*records: dict[str, Any]) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode()


async def test_an_import_runs_in_the_background_and_shows_its_summary(site: Site) -> None:
    page = await get(site, "/quan-tri/nhap-bai", "admin")
    marker = uuid.uuid4().hex[:8]
    good = {
        "external_id": f"cu-{marker}-1",
        "title": f"Bài nhập {marker}",
        "body_html": "<p>Nội dung cũ.</p>",
        "category": "Tin cũ",
        "published_at": "2019-05-01T08:00:00+07:00",
        "status": "published",
    }
    bad = {
        "external_id": f"cu-{marker}-2",
        "body_html": "<p>Không có tiêu đề.</p>",
        "category": "Tin cũ",
    }
    form = aiohttp.FormData()
    form.add_field("csrf", csrf_of(page))
    form.add_field("format", "")
    form.add_field(
        "file", jsonl(good, bad), filename="bai-cu.jsonl", content_type="application/octet-stream"
    )
    answer = await site.client.post(
        "/quan-tri/nhap-bai", data=form, headers=site.auth("admin"), allow_redirects=False
    )
    assert answer.status == 303, await answer.text()
    job_url = answer.headers["Location"]

    async def finished() -> dict[str, Any] | None:
        r = await site.client.get(f"{job_url}/tien-do", headers=site.auth("admin"))
        state = await r.json()
        return state if state["status"] != "running" else None

    state = await eventually(finished)
    assert state["status"] == "done" and state["percent"] == 100 and state["total"] == 2
    summary = text_of(await get(site, job_url, "admin"))
    assert "Nhập xong: 1 bài mới" in summary
    refused = summary.split("Dòng Lý do", 1)[1]
    assert refused.split()[0] == "2" and "Thiếu published_at" in refused  # line, reason
    listed = await get(site, f"/quan-tri/bai-viet?q={marker}", "admin")
    assert f"Bài nhập {marker}" in listed

    # The same file again: nothing doubled, both skipped or refused.
    form = aiohttp.FormData()
    form.add_field("csrf", csrf_of(page))
    form.add_field("file", jsonl(good), filename="bai-cu.jsonl")
    again = await site.client.post(
        "/quan-tri/nhap-bai", data=form, headers=site.auth("admin"), allow_redirects=False
    )
    job_url = again.headers["Location"]
    await eventually(finished)
    assert "1 bài bỏ qua" in text_of(await get(site, job_url, "admin"))


async def test_a_running_import_page_refreshes_itself_without_script(site: Site) -> None:
    async with site.pool.acquire() as conn:
        job = await store.insert_import_job(
            conn, site.accounts["admin"].user.id, "dang-chay.xml", "wxr"
        )
        await store.import_progress(conn, job.id, 30, 120)
    html = await get(site, f"/quan-tri/nhap-bai/{job.id}", "admin")
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in html
    assert '<progress id="import-bar" max="120" value="30">25%</progress>' in html
    assert f'href="/quan-tri/nhap-bai/{job.id}">Tải lại trang' in html
    assert '<script src="/static/import-progress.js" defer></script>' in html
    progress = await site.client.get(
        f"/quan-tri/nhap-bai/{job.id}/tien-do", headers=site.auth("admin")
    )
    assert await progress.json() == {"status": "running", "done": 30, "total": 120, "percent": 25}
    assert progress.headers["Cache-Control"] == "no-store"


async def test_an_import_without_a_file_or_token_is_refused(site: Site) -> None:
    page = await get(site, "/quan-tri/nhap-bai", "admin")
    form = aiohttp.FormData()
    form.add_field("csrf", csrf_of(page))
    answer = await site.client.post("/quan-tri/nhap-bai", data=form, headers=site.auth("admin"))
    assert answer.status == 422
    assert "Xin chọn tệp" in text_of(await answer.text())
    form = aiohttp.FormData()
    form.add_field("csrf", "sai")
    form.add_field("file", b'{"id": "x"}', filename="x.jsonl")
    answer = await site.client.post("/quan-tri/nhap-bai", data=form, headers=site.auth("admin"))
    assert answer.status == 403
    assert await get(site, "/quan-tri/nhap-bai", "editor", status=403)


async def test_the_home_shows_the_articles_most_read_today(site: Site) -> None:
    category = await site.category(f"Tin đọc nhiều {uuid.uuid4().hex[:6]}")
    article = await site.published(title="Bài được đọc nhiều hôm nay", category_id=category["id"])
    await publish_event(site.amqp_url, views_counted(article["id"], 1, 40, today=12))

    async def shown() -> bool:
        home = text_of(await get(site, "/quan-tri", "author"))
        return "Bài được đọc nhiều hôm nay 12 lượt xem" in home.split("Đọc nhiều nhất hôm nay")[-1]

    await eventually(shown, timeout=15)
