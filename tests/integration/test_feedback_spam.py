"""The spam rules on the real Postgres and RabbitMQ: a repeated text is judged per visitor
and per target (two readers may send the same words), doubtful messages are held for a
moderator with their reasons and moderated like pending ones, the limit per minute answers
429 with Retry-After, and every refusal and hold is counted by reason without personal data.

Each test speaks for addresses of its own (the test client is a trusted proxy), so the
limits of one do not touch another.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import ClientResponse

from services.feedback import spam
from services.feedback.limits import DailyCap
from tests.support.feedback import FORM_SECRET, Service, running_service

ARTICLE, OTHER_ARTICLE = 901, 902
PER_MINUTE = 3
THANKS = "Cảm ơn bài viết rất hay"
_addresses = (f"198.51.100.{n}" for n in itertools.count(20))


@pytest.fixture(scope="module")
async def service() -> AsyncIterator[Service]:
    async with running_service(
        trusted_proxies=("127.0.0.1", "::1"),
        per_minute=PER_MINUTE,
        banned_words=("lừa đảo", "cá độ"),
    ) as svc:
        await svc.publish_article(ARTICLE)
        await svc.publish_article(OTHER_ARTICLE)
        yield svc


def new_address() -> str:
    return next(_addresses)


async def post(
    service: Service, address: str, body: str, article_id: int | None = ARTICLE, **extra: Any
) -> ClientResponse:
    fields = {"article_id": article_id, "author_name": "Vũ Văn An", "body": body, **extra}
    return await service.client.post(
        "/api/v1/feedback", json=fields, headers={"X-Forwarded-For": address}
    )


async def stored(service: Service, response: ClientResponse) -> dict[str, Any]:
    assert response.status == 202, await response.text()
    item_id = (await response.json())["id"]
    row = await service.pool.fetchrow(
        "SELECT status, hold_reasons FROM feedback WHERE id = $1", item_id
    )
    return {"id": item_id, "status": row["status"], "hold_reasons": list(row["hold_reasons"])}


async def spam_counts(service: Service) -> dict[tuple[str, str, str], int]:
    rows = await service.pool.fetch("SELECT outcome, reason, target, count FROM spam_counts")
    return {(r["outcome"], r["reason"], r["target"]): r["count"] for r in rows}


def added(
    before: dict[tuple[str, str, str], int], after: dict[tuple[str, str, str], int]
) -> dict[tuple[str, str, str], int]:
    return {key: n - before.get(key, 0) for key, n in after.items() if n != before.get(key, 0)}


# --- a repeated text, per visitor and per target -------------------------------------------


async def test_two_readers_may_send_the_same_short_text_on_different_articles(
    service: Service,
) -> None:
    """The regression of issue 9: the duplicate check was global, the second reader got 409."""
    first = await stored(service, await post(service, new_address(), THANKS, ARTICLE))
    second = await stored(service, await post(service, new_address(), THANKS, OTHER_ARTICLE))
    third = await stored(service, await post(service, new_address(), THANKS, ARTICLE))
    assert [first["status"], second["status"], third["status"]] == ["pending"] * 3


async def test_the_same_visitor_sending_the_same_text_to_the_same_target_is_refused(
    service: Service,
) -> None:
    address, body = new_address(), "Đề nghị mở thêm lớp học bơi cho trẻ em trong hè."
    await stored(service, await post(service, address, body))
    before, counts = await service.counts(), await spam_counts(service)
    again = await post(service, address, f"  {body.upper()}!! ")
    assert again.status == 409
    problem = await again.json()
    assert problem["code"] == "spam_duplicate"
    assert "không cần gửi lại" in problem["detail"]
    assert await service.counts() == before
    assert added(counts, await spam_counts(service)) == {
        ("refused", "spam_duplicate", "article"): 1
    }


async def test_the_same_visitor_sending_the_same_text_elsewhere_is_held(service: Service) -> None:
    address, body = new_address(), "Đề nghị sửa con đường liên xã bị hỏng từ tháng trước."
    assert (await stored(service, await post(service, address, body)))["status"] == "pending"
    held = await stored(service, await post(service, address, body, OTHER_ARTICLE))
    assert held == {**held, "status": "held", "hold_reasons": ["repeated_text"]}
    site = await stored(service, await post(service, address, body, None))
    assert site["status"] == "held"


# --- holding doubtful messages ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reasons"),
    [
        ("Trang này LUA DAO người đọc, xin kiểm tra.", ["banned_word"]),
        ("Mời tham gia ca\u0301 đô\u0323 bóng đá ngay hôm nay.", ["banned_word"]),
        ("Xem https://a.vn https://b.vn và https://c.vn nhé.", ["many_links"]),
        ("Lừa đảo: https://a.vn https://b.vn https://c.vn", ["banned_word", "many_links"]),
    ],
)
async def test_doubtful_messages_are_held_with_their_reasons(
    service: Service, body: str, reasons: list[str]
) -> None:
    counts = await spam_counts(service)
    item = await stored(service, await post(service, new_address(), body))
    assert item["status"] == "held"
    assert item["hold_reasons"] == reasons
    assert added(counts, await spam_counts(service)) == {
        ("held", reason, "article"): 1 for reason in reasons
    }
    outbox = await service.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE type = 'feedback.submitted' AND subject = $1",
        str(item["id"]),
    )
    assert outbox == 1  # announced like any stored submission


async def test_a_banned_word_in_the_name_holds_too(service: Service) -> None:
    response = await post(
        service, new_address(), "Nội dung hoàn toàn bình thường.", author_name="Cá Độ"
    )
    assert (await stored(service, response))["hold_reasons"] == ["banned_word"]


async def test_moderators_list_held_items_and_approve_or_reject_them(service: Service) -> None:
    held = await stored(service, await post(service, new_address(), "Bài này lừa đảo quá."))
    other = await stored(service, await post(service, new_address(), "Toàn cá độ thôi mà."))
    auth = service.auth("moderator")
    listing = await service.client.get("/api/v1/feedback?status=held&limit=100", headers=auth)
    assert listing.status == 200
    items = {item["id"]: item for item in (await listing.json())["items"]}
    assert items[held["id"]]["status"] == "held"
    assert items[held["id"]]["hold_reasons"] == ["banned_word"]

    approved = await service.client.post(f"/api/v1/feedback/{held['id']}/approve", headers=auth)
    assert approved.status == 200
    assert (await approved.json())["status"] == "approved"
    rejected = await service.client.post(f"/api/v1/feedback/{other['id']}/reject", headers=auth)
    assert (await rejected.json())["status"] == "rejected"
    types = await service.pool.fetch("SELECT subject, type FROM outbox")
    written = {(row["subject"], row["type"]) for row in types}
    assert (str(held["id"]), "feedback.approved") in written
    assert (str(other["id"]), "feedback.rejected") in written


async def test_too_many_links_are_refused_and_counted(service: Service) -> None:
    before, counts = await service.counts(), await spam_counts(service)
    links = " ".join(f"https://{n}.example.vn" for n in range(6))
    response = await post(service, new_address(), f"Xem {links}", None)
    assert response.status == 422
    assert (await response.json())["code"] == "spam_too_many_links"
    assert await service.counts() == before
    assert added(counts, await spam_counts(service)) == {
        ("refused", "spam_too_many_links", "site"): 1
    }


# --- the limit per minute ----------------------------------------------------------------------


async def test_a_visitor_over_the_limit_per_minute_gets_429_with_retry_after(
    service: Service,
) -> None:
    address, other = new_address(), new_address()
    for n in range(PER_MINUTE):
        await stored(service, await post(service, address, f"Ý kiến thứ {n} về giờ tiếp dân."))
    before, counts = await service.counts(), await spam_counts(service)
    refused = await post(service, address, "Ý kiến thêm một lần nữa về giờ tiếp dân.")
    assert refused.status == 429
    assert refused.content_type == "application/problem+json"
    problem = await refused.json()
    assert problem["code"] == "submission_rate"
    assert f"{PER_MINUTE} ý kiến trong một phút" in problem["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert await service.counts() == before
    assert added(counts, await spam_counts(service)) == {
        ("refused", "submission_rate", "article"): 1
    }
    # Another visitor is not affected.
    await stored(service, await post(service, other, "Ý kiến của một người khác về giờ tiếp dân."))


async def test_the_same_text_sent_at_once_is_stored_once(service: Service) -> None:
    # The checks run after the visitor's daily count is locked: copies sent together take
    # turns, and each sees what the one before it stored.
    address, body = new_address(), "Đề nghị sửa đèn đường ở ngõ 12 phố Hàng Bông."
    answers = await asyncio.gather(*(post(service, address, body) for _ in range(4)))
    assert sorted(answer.status for answer in answers) == [202, 409, 409, 409]


async def test_a_text_sent_more_than_a_day_ago_is_forgotten(service: Service) -> None:
    # Remembered 25 hours ago (as if sent then): the same text to the same article is a
    # new submission now, and the next submission deletes the old rows (feedback
    # migration 008 walks the index from its oldest end, 100 rows a submission).
    address, body = new_address(), "Đề nghị lắp thêm biển báo ở ngã tư Kim Mã."
    key = DailyCap(FORM_SECRET).quota(address, datetime.now(UTC)).key
    await service.pool.executemany(
        """INSERT INTO recent_submissions (visitor_key, target, fingerprint, submitted_at)
           VALUES ($1, $2, $3, now() - interval '25 hours')""",
        [(key, f"article:{ARTICLE}", spam.fingerprint(body)), (key, "site", "x" * 64)],
    )
    assert (await stored(service, await post(service, address, body)))["status"] == "pending"
    old = "SELECT count(*) FROM recent_submissions WHERE submitted_at < now() - interval '1 day'"
    assert await service.pool.fetchval(old) == 0
    # The text is remembered again: a second copy is refused.
    assert (await post(service, address, body)).status == 409


async def test_the_limit_per_minute_holds_for_submissions_sent_at_once(service: Service) -> None:
    address = new_address()
    answers = await asyncio.gather(
        *(post(service, address, f"Ý kiến số {n} về lịch tiêm chủng.") for n in range(6))
    )
    statuses = sorted(answer.status for answer in answers)
    assert statuses == [202] * PER_MINUTE + [429] * (6 - PER_MINUTE)


# --- the records and the moderators' counts ----------------------------------------------------


async def test_form_refusals_are_counted_too(service: Service) -> None:
    counts = await spam_counts(service)
    data = {"author_name": "An", "email": "", "body": "Nội dung gửi bằng máy.", "website": "x"}
    response = await service.client.post(
        "/gop-y", data=data | {"form_token": service.stamp("site")}
    )
    assert response.status == 422
    assert added(counts, await spam_counts(service)) == {("refused", "spam_honeypot", "site"): 1}


async def test_the_records_hold_no_personal_data(service: Service) -> None:
    address = new_address()
    await post(service, address, "Ý kiến có chữ lừa đảo để được giữ lại.")
    columns = await service.pool.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'spam_counts'"
    )
    assert {c["column_name"] for c in columns} == {"day", "outcome", "reason", "target", "count"}
    for table in ("spam_counts", "recent_submissions", "submission_counts"):
        dump = await service.pool.fetchval(
            f"SELECT coalesce(string_agg(t::text, ' '), '') FROM {table} t"
        )
        assert address not in dump
        assert "lừa đảo" not in dump


async def test_moderators_see_the_counts_by_reason(service: Service) -> None:
    await post(service, new_address(), "x" * 20 + " " + "https://a.vn " * 6)
    response = await service.client.get(
        "/api/v1/feedback/spam-stats?days=7", headers=service.auth("moderator")
    )
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    stats = await response.json()
    assert stats["days"] == 7
    rows = {(c["outcome"], c["reason"], c["target"]): c for c in stats["counts"]}
    links = rows[("refused", "spam_too_many_links", "article")]
    assert links["count"] >= 1
    assert links["label"] == "Có hơn 5 đường liên kết"
    assert rows[("held", "banned_word", "article")]["count"] >= 1


@pytest.mark.parametrize(("query", "status"), [("days=0", 422), ("days=367", 422), ("days=x", 422)])
async def test_bad_spam_stats_queries_are_refused(
    service: Service, query: str, status: int
) -> None:
    response = await service.client.get(
        f"/api/v1/feedback/spam-stats?{query}", headers=service.auth("moderator")
    )
    assert response.status == status
    assert (await response.json())["errors"][0]["field"] == "days"


async def test_spam_stats_are_for_moderators(service: Service) -> None:
    assert (await service.client.get("/api/v1/feedback/spam-stats")).status == 401
    editor = service.auth("editor")
    assert (await service.client.get("/api/v1/feedback/spam-stats", headers=editor)).status == 403
