"""The moderation desk in the browser (/quan-tri/phan-hoi) on the real Postgres and
RabbitMQ: who may use it, the queue (oldest first, age, article, filters), each action from
a form with the CSRF token (POST, then 303 back), its event, and the case's history."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.feedback import pages as feedback_pages
from tests.support.amqp import tap
from tests.support.feedback import MODERATOR_NAME, Service, running_service

PAGE = "/quan-tri/phan-hoi"
ARTICLE = 301
EMAIL = "thu.dang@example.vn"
_serial = itertools.count(1)


@pytest.fixture(scope="module")
async def service() -> AsyncIterator[Service]:
    async with running_service() as service:
        await service.publish_article(ARTICLE, title="Lễ phát động thi đua năm 2027")
        yield service


def cookie(service: Service, *roles: str) -> dict[str, str]:
    return {"Cookie": f"bantin_access={service.token(*roles)}"}


async def submit(
    service: Service, body: str = "", article_id: int | None = ARTICLE, name: str = "Đặng Thu"
) -> int:
    body = body or f"Xin hỏi lịch tiếp công dân tháng này, lần {next(_serial)}."
    response = await service.client.post(
        "/api/v1/feedback",
        json={"article_id": article_id, "author_name": name, "email": EMAIL, "body": body},
    )
    assert response.status == 202, await response.text()
    return int((await response.json())["id"])


async def page(service: Service, path: str, *roles: str) -> str:
    response = await service.client.get(path, headers=cookie(service, *(roles or ("moderator",))))
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    return await response.text()


def csrf_in(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found
    return found[1]


async def act(service: Service, item_id: int, action: str, **fields: str) -> tuple[int, str, str]:
    """Post a desk form from the case page; (final status, final URL, page text)."""
    headers = cookie(service, "moderator")  # one session: the token is bound to it
    shown = await service.client.get(f"{PAGE}/{item_id}", headers=headers)
    token = csrf_in(await shown.text())
    response = await service.client.post(
        f"{PAGE}/{item_id}/{action}", data={"csrf": token, "ve": "ho-so", **fields}, headers=headers
    )
    return response.status, str(response.url.path), await response.text()


async def row(service: Service, item_id: int) -> dict[str, Any]:
    return dict(await service.pool.fetchrow("SELECT * FROM feedback WHERE id = $1", item_id))


async def history(service: Service, item_id: int) -> list[dict[str, Any]]:
    rows = await service.pool.fetch(
        "SELECT * FROM moderation_history WHERE feedback_id = $1 ORDER BY id", item_id
    )
    return [dict(r) for r in rows]


# --- who may use the desk ----------------------------------------------------------------


@pytest.mark.parametrize("path", [PAGE, f"{PAGE}/1"])
async def test_without_a_session_the_desk_sends_to_the_login(service: Service, path: str) -> None:
    response = await service.client.get(path, allow_redirects=False)
    assert response.status == 303
    # Articles renews the token from the sign-in session, or asks to sign in.
    assert response.headers["Location"] == f"/dang-nhap/gia-han?next={path}"


@pytest.mark.parametrize("path", [PAGE, f"{PAGE}/1"])
@pytest.mark.parametrize("role", ["editor", "author"])
async def test_others_than_moderators_are_forbidden(service: Service, path: str, role: str) -> None:
    response = await service.client.get(path, headers=cookie(service, role))
    assert response.status == 403


async def test_an_unknown_case_is_not_found(service: Service) -> None:
    response = await service.client.get(f"{PAGE}/999999", headers=cookie(service, "moderator"))
    assert response.status == 404


# --- the queue ---------------------------------------------------------------------------


async def test_the_queue_is_oldest_first_with_the_age_and_the_article(service: Service) -> None:
    first = await submit(service, "Ý kiến gửi trước tiên về lễ phát động.")
    second = await submit(service, "Ý kiến gửi sau về lễ phát động thi đua.")
    await service.pool.execute(
        "UPDATE feedback SET submitted_at = now() - interval '3 hours 5 minutes' WHERE id = $1",
        first,
    )
    html = await page(service, PAGE)
    assert html.index(f'id="y-kien-{first}"') < html.index(f'id="y-kien-{second}"')
    case = html[html.index(f'id="y-kien-{first}"') :]
    assert "3 giờ trước" in case.split("</li>")[0]
    assert '<a href="/tin/hoi-nghi-301-301">Lễ phát động thi đua năm 2027</a>' in case
    # The shared admin layout, with this section current, and the shortcuts explained.
    assert '<a href="/quan-tri/phan-hoi" aria-current="page">Phản hồi</a>' in html
    assert f"Xin chào, <strong>{MODERATOR_NAME}</strong>" in html
    assert "<kbd>A</kbd> để duyệt" in html
    assert '<script src="/static/desk.js" defer></script>' in html
    assert "<script>" not in html  # no inline script (Content-Security-Policy)
    # The footer names who is signed in and signs out, instead of offering to sign in.
    footer = html[html.index('<footer class="site-footer">') :]
    assert f'<span class="admin-user">{MODERATOR_NAME}</span>' in footer
    assert 'action="/dang-xuat"' in footer and "/dang-nhap" not in footer
    assert 'href="/api/v1/feedback/export.csv"' in html or "/api/v1/feedback/export.csv" in html


async def test_the_queue_filters_by_status_target_and_text(service: Service) -> None:
    site = await submit(service, "Góp ý về giao diện trang chủ khó đọc.", article_id=None)
    named = await submit(service, "Đề nghị bổ sung số điện thoại đường dây nóng.", name="Hồ Xuân")
    approved = await submit(service, "Ý kiến đã được duyệt trước đó rồi nhé.")
    await service.client.post(
        f"/api/v1/feedback/{approved}/approve", headers=service.auth("moderator")
    )

    def ids(html: str) -> set[int]:
        return {int(i) for i in re.findall(r'id="y-kien-(\d+)"', html)}

    pending = ids(await page(service, PAGE))
    assert {site, named} <= pending and approved not in pending
    assert ids(await page(service, f"{PAGE}?trang-thai=approved")) == {approved}
    by_site = ids(await page(service, f"{PAGE}?loai=site&trang-thai=tat-ca"))
    assert site in by_site and named not in by_site
    # Accents and case ignored, in the name and in the body.
    assert ids(await page(service, f"{PAGE}?q=ho+xuan")) == {named}
    assert ids(await page(service, f"{PAGE}?q=DUONG+DAY+NONG")) == {named}
    assert ids(await page(service, f"{PAGE}?q=100%25")) == set()


@pytest.mark.parametrize("query", ["trang-thai=x", "loai=<b>", "sau=abc", "q=" + "a" * 500])
async def test_odd_filters_show_a_page_anyway(service: Service, query: str) -> None:
    await page(service, f"{PAGE}?{query}")


# --- the actions -------------------------------------------------------------------------


async def test_reject_with_a_listed_reason(service: Service) -> None:
    item_id = await submit(service)
    async with tap(service.amqp_url, "feedback.rejected") as events:
        status, path, html = await act(service, item_id, "tu-choi", ly_do="Trùng lặp")
        [message] = await events.wait_for(1)
    assert (status, path) == (200, f"{PAGE}/{item_id}")
    assert "Đã từ chối ý kiến." in html
    stored = await row(service, item_id)
    assert (stored["status"], stored["reject_reason"]) == ("rejected", "Trùng lặp")
    # The event is as it was: no reason, no e-mail, no name.
    assert set(message["data"]) == {"id", "version", "article_id", "rejected_at"}
    assert "Trùng lặp" not in json.dumps(message, ensure_ascii=False)
    assert EMAIL not in json.dumps(message)
    [entry] = await history(service, item_id)
    assert (entry["action"], entry["moderator_name"], entry["reason"]) == (
        "reject",
        MODERATOR_NAME,
        "Trùng lặp",
    )
    assert f"{MODERATOR_NAME}</td>" in html and "Từ chối: Trùng lặp" in html


async def test_reject_with_a_written_reason(service: Service) -> None:
    item_id = await submit(service)
    status, _, html = await act(
        service, item_id, "tu-choi", ly_do="khac", ly_do_khac="Đã trả lời qua điện thoại"
    )
    assert status == 200
    assert (await row(service, item_id))["reject_reason"] == "Đã trả lời qua điện thoại"


async def test_reject_without_a_reason_is_refused_and_changes_nothing(service: Service) -> None:
    item_id = await submit(service)
    status, _, html = await act(service, item_id, "tu-choi", ly_do="khac", ly_do_khac="  ")
    assert status == 422
    assert "Xin chọn hoặc ghi lý do từ chối." in html
    assert (await row(service, item_id))["status"] == "pending"
    assert await history(service, item_id) == []


async def test_edit_keeps_the_original_once_then_approve_and_reply(service: Service) -> None:
    item_id = await submit(service, "Bài viết hay, số đt của tôi là 0912 345 678.", name="thu")
    status, _, html = await act(
        service, item_id, "sua", author_name="Đặng Thu", body="Bài viết hay."
    )
    assert status == 200 and "Đã lưu nội dung đã sửa." in html
    await act(service, item_id, "sua", author_name="Đặng Thị Thu", body="Bài viết rất hay.")
    stored = await row(service, item_id)
    assert (stored["author_name"], stored["body"]) == ("Đặng Thị Thu", "Bài viết rất hay.")
    assert (stored["original_author_name"], stored["original_body"]) == (
        "thu",
        "Bài viết hay, số đt của tôi là 0912 345 678.",
    )
    assert "Nguyên văn của bạn đọc" in html

    async with tap(service.amqp_url, "feedback.*") as events:
        await act(service, item_id, "duyet")
        status, _, html = await act(service, item_id, "tra-loi", reply="Xin cảm ơn bạn.")
        approved, updated = await events.wait_for(2)
    assert status == 200 and "Đã lưu câu trả lời." in html
    assert (approved["type"], updated["type"]) == ("feedback.approved", "feedback.updated")
    assert approved["data"]["body"] == "Bài viết rất hay."
    assert updated["data"]["reply"]["body"] == "Xin cảm ơn bạn."
    assert updated["data"]["version"] > approved["data"]["version"]
    # An approved item's public text can still be corrected: feedback.updated again.
    async with tap(service.amqp_url, "feedback.updated") as events:
        await act(
            service, item_id, "sua", author_name="Đặng Thị Thu", body="Bài viết rất hay và bổ ích."
        )
        [message] = await events.wait_for(1)
    assert message["data"]["body"] == "Bài viết rất hay và bổ ích."
    assert "0912" not in json.dumps(message)
    assert [e["action"] for e in await history(service, item_id)] == [
        "edit",
        "edit",
        "approve",
        "reply",
        "edit",
    ]


async def test_a_bad_edit_is_refused_with_the_typed_values(service: Service) -> None:
    item_id = await submit(service)
    before = await row(service, item_id)
    status, _, html = await act(service, item_id, "sua", author_name="Tên mới", body="ngắn")
    assert status == 422
    assert "Nội dung phải có ít nhất" in html and 'value="Tên mới"' in html
    assert await row(service, item_id) == before


async def test_an_empty_reply_is_refused(service: Service) -> None:
    item_id = await submit(service)
    status, _, html = await act(service, item_id, "tra-loi", reply="   ")
    assert status == 422 and "Xin vui lòng nhập nội dung trả lời." in html
    assert (await row(service, item_id))["reply_body"] is None


async def test_withdraw_erases_the_words_and_the_original(service: Service) -> None:
    item_id = await submit(service)
    await act(service, item_id, "sua", author_name="Đặng Thu", body="Nội dung đã biên tập lại.")
    async with tap(service.amqp_url, "feedback.withdrawn") as events:
        status, _, html = await act(service, item_id, "rut-lai")
        await events.wait_for(1)
    assert status == 200 and "Đã rút lại ý kiến" in html
    stored = await row(service, item_id)
    assert stored["status"] == "withdrawn"
    assert (stored["author_name"], stored["body"], stored["email"]) == ("", "", None)
    assert (stored["original_author_name"], stored["original_body"]) == (None, None)
    # Nothing more applies to it: the page offers no action form.
    assert "/duyet" not in html and "/sua" not in html and "/rut-lai" not in html


@pytest.mark.parametrize("action", ["duyet", "tu-choi", "rut-lai", "sua", "tra-loi"])
@pytest.mark.parametrize("token", [None, "sai"])
async def test_every_action_needs_the_csrf_token(
    service: Service, action: str, token: str | None
) -> None:
    item_id = await submit(service)
    before = await row(service, item_id)
    fields = {"ly_do": "Trùng lặp", "body": "Nội dung sửa đủ dài.", "reply": "Cảm ơn bạn."}
    data = fields if token is None else {**fields, "csrf": token}
    response = await service.client.post(
        f"{PAGE}/{item_id}/{action}", data=data, headers=cookie(service, "moderator")
    )
    assert response.status == 403
    assert await row(service, item_id) == before
    assert await history(service, item_id) == []


async def test_an_editor_cannot_post_a_desk_form(service: Service) -> None:
    item_id = await submit(service)
    headers = cookie(service, "editor")
    response = await service.client.post(
        f"{PAGE}/{item_id}/duyet", data={"csrf": "x"}, headers=headers
    )
    assert response.status == 403
    assert (await row(service, item_id))["status"] == "pending"


async def test_an_action_on_the_queue_returns_to_the_same_filters_and_page(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feedback_pages, "QUEUE_SIZE", 2)
    words = f"trang-hai-{next(_serial)}"
    sent = [await submit(service, body=f"Ý kiến {words} số {n}.") for n in range(4)]
    headers = cookie(service, "moderator")
    first = await (await service.client.get(f"{PAGE}?q={words}", headers=headers)).text()
    second_page = re.search(r'href="([^"]*sau=[0-9]+[^"]*)"', first)
    assert second_page, "the first page links to the next"
    shown = await service.client.get(second_page[1].replace("&amp;", "&"), headers=headers)
    html = await shown.text()
    assert shown_cases(html) == sent[2:]
    response = await service.client.post(
        f"{PAGE}/{sent[2]}/duyet",
        data={"csrf": csrf_in(html), "q": words, "sau": str(sent[1])},
        headers=headers,
        allow_redirects=False,
    )
    assert response.status == 303
    location = response.headers["Location"]
    assert f"sau={sent[1]}" in location and f"q={words}" in location
    back = await (await service.client.get(location, headers=headers)).text()
    assert shown_cases(back) == sent[3:]  # the approved one left the queue; still page two


def shown_cases(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'id="y-kien-([0-9]+)"', html)]
