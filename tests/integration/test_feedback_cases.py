"""Feedback as a tracked case, on the real Postgres and RabbitMQ: one case per submission
however often it is posted (the form's idempotency token, the API's Idempotency-Key), the
receipt code and the status page it opens, the reply signed by the organisation, the
forms' fields and what they say about contacts, the deletion of contacts after the
retention period, and the public questions and answers (/hoi-dap)."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import unicodedata
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.feedback import actions, receipts
from services.feedback.config import DEFAULT_ORGANISATION
from services.feedback.lookups import LOOKUPS_PER_WINDOW
from tests.support.feedback import MODERATOR_NAME, Service, running_service

ARTICLE = 301
NAME = "Trần Thị Mai"
EMAIL = "mai.tran@example.vn"
PHONE = "0912 345 678"
_serial = itertools.count(1)
RECEIPT = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{2}")


@pytest.fixture(scope="module")
async def service() -> AsyncIterator[Service]:
    async with running_service() as service:
        await service.publish_article(ARTICLE)
        yield service


def text() -> str:
    return f"Đề nghị niêm yết công khai lịch tiếp công dân, lần {next(_serial)}."


def form(service: Service, key: str = f"article:{ARTICLE}", **fields: str) -> dict[str, str]:
    values = {
        "author_name": NAME,
        "email": EMAIL,
        "phone": PHONE,
        "title": "Lịch tiếp công dân",
        "body": text(),
        "website": "",
        "form_token": service.stamp(key),
        "idempotency_token": receipts.new_form_token(),
    }
    values.update(fields)
    return values


def receipt_in(page: str) -> str:
    found = RECEIPT.search(page.split('id="ma-tra-cuu"', 1)[1])
    assert found, "the confirmation shows no receipt code"
    return found[0]


async def submit(service: Service, **fields: Any) -> dict[str, Any]:
    body = {"article_id": ARTICLE, "author_name": NAME, "email": EMAIL, "body": text()}
    body.update(fields)
    response = await service.client.post("/api/v1/feedback", json=body)
    assert response.status == 202, await response.text()
    return await response.json()


async def moderate(service: Service, method: str, path: str, **kw: Any) -> Any:
    response = await service.client.request(
        method, f"/api/v1/feedback{path}", headers=service.auth("moderator"), **kw
    )
    assert response.status == 200, await response.text()
    return await response.json()


async def lookup(service: Service, code: str, address: str = "203.0.113.1") -> tuple[int, str]:
    response = await service.client.get(
        "/tra-cuu-phan-hoi", params={"ma": code}, headers={"X-Forwarded-For": address}
    )
    assert response.headers["Cache-Control"] == "no-store"
    return response.status, await response.text()


async def outbox_text(service: Service) -> str:
    rows = await service.pool.fetch("SELECT envelope::text AS e FROM outbox")
    return "\n".join(row["e"] for row in rows)


# --- one case per submission (regressions of issue 9) ------------------------------------


async def test_a_double_click_on_the_form_makes_one_case_and_shows_the_same_receipt(
    service: Service,
) -> None:
    data = form(service)
    before = await service.counts()
    first = await service.client.post(f"/tin/{ARTICLE}/phan-hoi", data=data)
    second = await service.client.post(f"/tin/{ARTICLE}/phan-hoi", data=data)
    assert (first.status, second.status) == (200, 200)
    pages = [await first.text(), await second.text()]
    assert receipt_in(pages[0]) == receipt_in(pages[1])
    assert "Cảm ơn bạn đã gửi ý kiến" in pages[1]
    assert await service.counts() == (before[0] + 1, before[1] + 1)


async def test_two_clicks_at_once_make_one_case(service: Service) -> None:
    data = form(service)
    before = await service.counts()
    answers = await asyncio.gather(
        *(service.client.post(f"/tin/{ARTICLE}/phan-hoi", data=data) for _ in range(3))
    )
    assert [a.status for a in answers] == [200, 200, 200]
    codes = {receipt_in(await a.text()) for a in answers}
    assert len(codes) == 1
    assert await service.counts() == (before[0] + 1, before[1] + 1)


async def test_the_token_not_the_text_decides(service: Service) -> None:
    """Two forms with the same text are two cases (the duplicate rule aside, which is the
    spam part's); the same form sent twice is one, even with its text changed."""
    data = form(service)
    first = await service.client.post(f"/tin/{ARTICLE}/phan-hoi", data=data)
    changed = await service.client.post(f"/tin/{ARTICLE}/phan-hoi", data={**data, "body": text()})
    assert receipt_in(await first.text()) == receipt_in(await changed.text())
    rows = await service.pool.fetchval(
        "SELECT count(*) FROM feedback WHERE body = $1", data["body"]
    )
    assert rows == 1


async def test_the_api_idempotency_key_answers_the_first_case_again(service: Service) -> None:
    body = {"article_id": ARTICLE, "author_name": NAME, "email": EMAIL, "body": text()}
    headers = {"Idempotency-Key": "7c0e5a4e-1b8f-4f7e-9a39-3f0c2d1f6b11"}
    before = await service.counts()
    first = await service.client.post("/api/v1/feedback", json=body, headers=headers)
    again = await service.client.post("/api/v1/feedback", json=body, headers=headers)
    assert (first.status, again.status) == (202, 202)
    one, two = await first.json(), await again.json()
    assert one == two
    assert RECEIPT.fullmatch(one["receipt"])
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await service.counts() == (before[0] + 1, before[1] + 1)

    other = await service.client.post(
        "/api/v1/feedback", json={**body, "body": text()}, headers=headers
    )
    assert other.status == 422
    assert (await other.json())["code"] == "idempotency_key_reused"
    assert await service.counts() == (before[0] + 1, before[1] + 1)


@pytest.mark.parametrize("key", ["", "khóa có dấu", "x" * 256, "a b"])
async def test_a_malformed_idempotency_key_is_refused(service: Service, key: str) -> None:
    before = await service.counts()
    response = await service.client.post(
        "/api/v1/feedback",
        json={"author_name": NAME, "body": text()},
        headers={"Idempotency-Key": key},
    )
    assert response.status == 422
    problem = await response.json()
    assert problem["errors"][0]["field"] == "Idempotency-Key"
    assert await service.counts() == before


async def test_the_reply_is_signed_by_the_organisation_and_the_moderator_kept_privately(
    service: Service,
) -> None:
    sent = await submit(service)
    path = f"/{sent['id']}"
    await moderate(service, "POST", f"{path}/approve")
    item = await moderate(service, "PUT", f"{path}/reply", json={"body": "Xin cảm ơn bạn."})
    assert item["reply"]["author"] == DEFAULT_ORGANISATION == "Ban biên tập"
    row = await service.pool.fetchrow(
        "SELECT reply_author, replied_by FROM feedback WHERE id = $1", sent["id"]
    )
    assert row["reply_author"] == "Ban biên tập"
    assert MODERATOR_NAME in row["replied_by"]
    assert MODERATOR_NAME not in json.dumps(item, ensure_ascii=False)
    assert MODERATOR_NAME not in await outbox_text(service)
    _, page = await lookup(service, sent["receipt"])
    assert "Trả lời của Ban biên tập" in page and MODERATOR_NAME not in page


# --- the receipt and the status page -------------------------------------------------------


async def test_the_status_page_follows_the_case_and_never_shows_contacts(
    service: Service,
) -> None:
    sent = await submit(service, phone=PHONE, title="Về lịch tiếp dân")
    code = sent["receipt"]
    assert sent["status_url"] == f"/tra-cuu-phan-hoi?ma={code}"
    status, page = await lookup(service, code)
    assert status == 200
    assert 'data-status="received"' in page
    assert f"Hội nghị triển khai công tác thi đua số {ARTICLE}" in page
    assert "Về lịch tiếp dân" in page
    assert EMAIL not in page and PHONE not in page and NAME not in page

    await moderate(service, "POST", f"/{sent['id']}/approve")
    assert 'data-status="published"' in (await lookup(service, code))[1]
    answer = "Lịch tiếp công dân được niêm yết tại trụ sở phường."
    await moderate(service, "PUT", f"/{sent['id']}/reply", json={"body": answer})
    page = (await lookup(service, code))[1]
    assert 'data-status="answered"' in page and answer in page
    await moderate(service, "POST", f"/{sent['id']}/withdraw")
    page = (await lookup(service, code))[1]
    assert 'data-status="withdrawn"' in page and answer not in page


async def test_a_rejected_case_shows_the_public_reason_when_there_is_one(
    service: Service,
) -> None:
    without = await submit(service)
    await moderate(service, "POST", f"/{without['id']}/reject")
    page = (await lookup(service, without["receipt"]))[1]
    assert 'data-status="not_published"' in page and "Lý do" not in page
    sent = await submit(service, body="Một ý kiến khác hẳn, để bị từ chối có lý do.")
    reason = {"reason": "Nội dung không liên quan đến bản tin."}
    await moderate(service, "POST", f"/{sent['id']}/reject", json=reason)
    page = (await lookup(service, sent["receipt"]))[1]
    assert 'data-status="not_published"' in page
    assert "Lý do: Nội dung không liên quan đến bản tin." in page


async def test_a_code_is_forgiving_to_type_and_wrong_codes_find_nothing(
    service: Service,
) -> None:
    code = (await submit(service))["receipt"]
    typed = f"  {code.replace('-', ' ').lower()} ".replace("0", "o").replace("1", "l")
    assert (await lookup(service, typed))[0] == 200
    raw = code.replace("-", "")
    other = raw[:-1] + ("0" if raw[-1] != "0" else "1")
    status, page = await lookup(service, other)
    assert status == 404 and "Không tìm thấy" in page
    status, page = await lookup(service, "ABC")
    assert status == 422 and "10 chữ và số" in page
    status, page = await lookup(service, "")
    assert status == 200 and 'name="ma"' in page


async def test_lookups_are_rate_limited_per_visitor() -> None:
    # Its own service, trusting the test client as the gateway, so each X-Forwarded-For is
    # a visitor of its own (and no other test's lookups count).
    async with running_service(trusted_proxies=("127.0.0.0/8",)) as service:
        visitor, other = "198.51.100.77", "198.51.100.78"
        for _ in range(LOOKUPS_PER_WINDOW):
            assert (await lookup(service, "0000-0000-00", visitor))[0] == 404
        response = await service.client.get(
            "/tra-cuu-phan-hoi",
            params={"ma": "0000-0000-00"},
            headers={"X-Forwarded-For": visitor},
        )
        assert response.status == 429
        assert int(response.headers["Retry-After"]) > 0
        assert "quá nhiều lần" in await response.text()
        assert (await lookup(service, "0000-0000-00", other))[0] == 404
        # The empty form is not a lookup.
        blank = await service.client.get("/tra-cuu-phan-hoi", headers={"X-Forwarded-For": visitor})
        assert blank.status == 200


async def test_the_confirmation_and_the_forms_link_to_the_status_page(service: Service) -> None:
    for path in (f"/tin/{ARTICLE}/phan-hoi", "/gop-y"):
        page = await (await service.client.get(path)).text()
        assert 'href="/tra-cuu-phan-hoi"' in page
    site_form = await (await service.client.get("/gop-y")).text()
    assert 'href="/hoi-dap"' in site_form
    sent = await service.client.post("/gop-y", data=form(service, key="site"))
    page = await sent.text()
    code = receipt_in(page)
    assert f'href="/tra-cuu-phan-hoi?ma={code}"' in page


# --- the forms' fields -------------------------------------------------------------------


async def test_phone_and_title_are_stored_nfc_and_the_phone_never_leaves(
    service: Service,
) -> None:
    body = unicodedata.normalize("NFD", f"Ý kiến về việc tiếp dân ở phường, số {next(_serial)}.")
    name = unicodedata.normalize("NFD", "Nguyễn Văn Đức")
    response = await service.client.post(
        f"/tin/{ARTICLE}/phan-hoi", data=form(service, author_name=name, body=body)
    )
    assert response.status == 200
    page = await response.text()
    row = await service.pool.fetchrow("SELECT * FROM feedback ORDER BY id DESC LIMIT 1")
    assert row["author_name"] == "Nguyễn Văn Đức" == unicodedata.normalize("NFC", name)
    assert row["body"] == unicodedata.normalize("NFC", body)
    assert (row["phone"], row["title"]) == (PHONE, "Lịch tiếp công dân")
    assert PHONE not in page
    assert PHONE not in await outbox_text(service)
    assert row["receipt_hash"] == receipts.code_hash(receipt_in(page).replace("-", ""))


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"phone": "số của tôi"}, "phone", "Số điện thoại không hợp lệ"),
        ({"phone": "123"}, "phone", "Số điện thoại không hợp lệ"),
        ({"title": "Tiêu đề " * 30}, "title", "Tiêu đề không được dài quá 200 ký tự."),
    ],
)
async def test_a_bad_field_is_named_beside_it_with_what_was_typed_kept(
    service: Service, fields: dict[str, str], field: str, message: str
) -> None:
    before = await service.counts()
    data = form(service, **fields)
    response = await service.client.post(f"/tin/{ARTICLE}/phan-hoi", data=data)
    assert response.status == 422
    page = await response.text()
    assert f'<p class="field-error" id="{field}-error">{message}' in page
    for kept in ("author_name", "email", "title", "body"):
        assert f"{data[kept].strip()}" in page
    assert await service.counts() == before


async def test_the_form_says_what_is_done_with_the_contacts_and_for_how_long(
    service: Service,
) -> None:
    page = await (await service.client.get("/gop-y")).text()
    assert 'name="phone"' in page and 'name="title"' in page
    assert "không công bố" in page
    assert "được xóa 90 ngày sau khi ý kiến được xử lý xong" in page


# --- contacts deleted after the retention period -------------------------------------------


async def test_contacts_of_cases_closed_long_ago_are_deleted_and_nothing_else(
    service: Service,
) -> None:
    old, recent, still_open = [await submit(service, phone=PHONE) for _ in range(3)]
    for sent in (old, recent):
        await moderate(service, "POST", f"/{sent['id']}/approve")
    await service.pool.execute(
        "UPDATE feedback SET approved_at = now() - interval '91 days',"
        " submitted_at = now() - interval '92 days' WHERE id = $1",
        old["id"],
    )
    await service.pool.execute(
        "UPDATE feedback SET submitted_at = now() - interval '92 days' WHERE id = $1",
        still_open["id"],
    )
    ids = [old["id"], recent["id"], still_open["id"]]
    query = "SELECT * FROM feedback WHERE id = ANY($1) ORDER BY id"
    before = [dict(r) for r in await service.pool.fetch(query, ids)]
    outbox_before = await service.count("outbox")

    erased = await actions.erase_old_contacts(
        service.pool, datetime.now(UTC) - timedelta(days=90), batch=1
    )
    assert erased >= 1
    while await actions.erase_old_contacts(
        service.pool, datetime.now(UTC) - timedelta(days=90), batch=1
    ):
        pass

    after = [dict(r) for r in await service.pool.fetch(query, ids)]
    assert (after[0]["email"], after[0]["phone"]) == (None, None)
    assert after[0]["contact_erased_at"] is not None
    contact = {"email", "phone", "contact_erased_at"}
    assert {k: v for k, v in after[0].items() if k not in contact} == {
        k: v for k, v in before[0].items() if k not in contact
    }
    assert after[1:] == before[1:]  # closed recently, and still open: untouched
    assert await service.count("outbox") == outbox_before


# --- /hoi-dap -------------------------------------------------------------------------------


async def test_answered_site_suggestions_marked_public_are_the_questions_and_answers(
    service: Service,
) -> None:
    question = "Trang thông tin nên có mục hỏi đáp về thủ tục hành chính."
    sent = await submit(service, article_id=None, body=question, phone=PHONE)
    path = f"/{sent['id']}"
    refused = await service.client.post(
        f"/api/v1/feedback{path}/qa", headers=service.auth("moderator")
    )
    assert refused.status == 409  # not approved and answered yet
    assert (await refused.json())["code"] == "not_for_questions"
    await moderate(service, "POST", f"{path}/approve")
    answer = "Cảm ơn bạn; mục hỏi đáp sẽ có trong tháng tới."
    await moderate(service, "PUT", f"{path}/reply", json={"body": answer})
    assert question not in await (await service.client.get("/hoi-dap")).text()

    item = await moderate(service, "POST", f"{path}/qa")
    assert item["public_qa"] is True
    page = await (await service.client.get("/hoi-dap")).text()
    assert question in page and answer in page and NAME in page
    assert "Trả lời của Ban biên tập" in page
    assert re.search(r"\d{2}/\d{2}/\d{4}", page)
    assert EMAIL not in page and PHONE not in page and MODERATOR_NAME not in page

    await moderate(service, "DELETE", f"{path}/qa")
    assert question not in await (await service.client.get("/hoi-dap")).text()
    history = await moderate(service, "GET", f"{path}/history")
    steps = [entry["action"] for entry in history["items"]]
    assert steps[-2:] == ["qa_show", "qa_hide"]


async def test_article_feedback_cannot_be_a_public_question(service: Service) -> None:
    sent = await submit(service)
    await moderate(service, "POST", f"/{sent['id']}/approve")
    await moderate(service, "PUT", f"/{sent['id']}/reply", json={"body": "Xin cảm ơn."})
    response = await service.client.post(
        f"/api/v1/feedback/{sent['id']}/qa", headers=service.auth("moderator")
    )
    assert response.status == 409
    unknown = await service.client.post(
        "/api/v1/feedback/999999/qa", headers=service.auth("moderator")
    )
    assert unknown.status == 404
    anonymous = await service.client.post(f"/api/v1/feedback/{sent['id']}/qa")
    assert anonymous.status == 401


async def test_questions_and_answers_are_paginated(service: Service) -> None:
    for n in range(21):
        sent = await submit(service, article_id=None, body=f"Câu hỏi số {n:02d} về trang.")
        await moderate(service, "POST", f"/{sent['id']}/approve")
        await moderate(service, "PUT", f"/{sent['id']}/reply", json={"body": f"Trả lời {n}."})
        await moderate(service, "POST", f"/{sent['id']}/qa")
    first = await (await service.client.get("/hoi-dap")).text()
    assert "Câu hỏi số 20" in first and 'href="/hoi-dap?trang=2"' in first
    second = await service.client.get("/hoi-dap?trang=2")
    assert second.status == 200
    assert "Câu hỏi số 00" in await second.text()
    assert (await service.client.get("/hoi-dap?trang=99")).status == 404
