"""Readers' feedback forms on the real Postgres and RabbitMQ: the read model of articles fed
by article events through the broker, the form, its validation and spam rules, and what a
stored item announces (feedback.submitted, without name or e-mail)."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator

import pytest

from tests.support.amqp import tap
from tests.support.feedback import Service, form_stamp_in, running_service

NAME = "Nguyễn Thị Lan"
EMAIL = "lan.nguyen@example.vn"
BODY = "Xin đề nghị ban biên tập đăng thêm ảnh của hội nghị."
ARTICLE = 101
UNPUBLISHED = 102
UNKNOWN = 999


@pytest.fixture(scope="module")
async def service() -> AsyncIterator[Service]:
    async with running_service() as service:
        await service.publish_article(ARTICLE)
        await service.publish_article(UNPUBLISHED, version=1)
        await service.unpublish_article(UNPUBLISHED, version=2)
        yield service


def form(service: Service, key: str = f"article:{ARTICLE}", **fields: str) -> dict[str, str]:
    values = {"author_name": NAME, "email": EMAIL, "body": BODY, "website": ""}
    values["form_token"] = service.stamp(key)
    values.update(fields)
    return values


_serial = itertools.count(1)


def unique(text: str) -> str:
    """The text made unique per test, so the duplicate rule does not refuse it."""
    return f"{text} (ý kiến số {next(_serial)})"


async def test_the_form_shows_the_published_articles_title_and_link(service: Service) -> None:
    response = await service.client.get(f"/tin/{ARTICLE}/phan-hoi")
    assert response.status == 200
    page = await response.text()
    assert "Gửi phản hồi cho bản tin" in page
    assert f"Hội nghị triển khai công tác thi đua số {ARTICLE}" in page
    assert f'href="/tin/hoi-nghi-{ARTICLE}-{ARTICLE}"' in page
    for label in ("Họ và tên", "Email", "Nội dung"):
        assert label in page
    assert 'name="website"' in page  # the honeypot
    assert form_stamp_in(page)
    assert response.headers["Cache-Control"] == "no-store"


async def test_an_article_update_changes_the_title_on_the_form(service: Service) -> None:
    title = await service.publish_article(103, version=1)
    renamed = await service.publish_article(103, version=2, title="Tiêu đề đã được sửa lại")
    page = await (await service.client.get("/tin/103/phan-hoi")).text()
    assert renamed in page and title not in page


async def test_a_late_older_publish_does_not_reopen_an_unpublished_article(
    service: Service,
) -> None:
    await service.publish_article(104, version=1)
    await service.unpublish_article(104, version=3)
    await service.publish_article(104, version=2, title="Bản cũ đến muộn", applied=False)
    stale = await service.pool.fetchrow("SELECT published FROM articles WHERE id = 104")
    assert stale is not None and stale["published"] is False
    assert (await service.client.get("/tin/104/phan-hoi")).status == 404


async def test_valid_feedback_is_stored_pending_and_announced_without_personal_data(
    service: Service,
) -> None:
    body = unique(BODY)
    async with tap(service.amqp_url, "feedback.#") as events:
        response = await service.client.post(
            f"/tin/{ARTICLE}/phan-hoi", data=form(service, body=body), allow_redirects=False
        )
        # The confirmation itself answers the post (a reload posts the same idempotency
        # token again and shows the same case): no redirect.
        assert response.status == 200
        assert "Mã tra cứu ý kiến của bạn" in await response.text()
        [message] = await events.wait_for(1)
    row = await service.pool.fetchrow("SELECT * FROM feedback WHERE body = $1", body)
    assert row is not None
    assert (row["status"], row["article_id"], row["target"]) == ("pending", ARTICLE, "article")
    assert (row["author_name"], row["email"]) == (NAME, EMAIL)
    assert message["type"] == "feedback.submitted"
    assert message["subject"] == str(row["id"])
    assert message["data"]["id"] == row["id"]
    assert message["data"]["article_id"] == ARTICLE
    assert message["data"]["target"] == "article"
    assert message["data"]["version"] == 1
    assert set(message["data"]) == {"id", "version", "article_id", "target", "submitted_at"}
    raw = json.dumps(message, ensure_ascii=False)
    assert NAME not in raw and EMAIL not in raw and body not in raw


async def test_the_thank_you_page_links_back_to_the_article(service: Service) -> None:
    response = await service.client.post(
        f"/tin/{ARTICLE}/phan-hoi", data=form(service, body=unique(BODY))
    )
    assert response.status == 200
    page = await response.text()
    assert "Cảm ơn bạn đã gửi ý kiến; ý kiến sẽ được đăng sau khi được kiểm duyệt" in page
    assert f'href="/tin/hoi-nghi-{ARTICLE}-{ARTICLE}"' in page


async def test_html_is_stored_as_plain_text(service: Service) -> None:
    body = unique("<b>Rất</b> hay, <script>alert('x')</script>cảm ơn <i>ban biên tập</i>")
    response = await service.client.post(
        f"/tin/{ARTICLE}/phan-hoi",
        data=form(service, author_name="<em>Lan</em>", body=body),
        allow_redirects=False,
    )
    assert response.status == 200
    row = await service.pool.fetchrow("SELECT author_name, body FROM feedback ORDER BY id DESC")
    assert row["author_name"] == "Lan"
    assert row["body"].startswith("Rất hay, cảm ơn ban biên tập")
    assert "<" not in row["body"] and "alert" not in row["body"]


@pytest.mark.parametrize("article_id", [UNKNOWN, UNPUBLISHED])
async def test_feedback_on_an_article_not_published_is_refused(
    service: Service, article_id: int
) -> None:
    before = await service.counts()
    shown = await service.client.get(f"/tin/{article_id}/phan-hoi")
    sent = await service.client.post(
        f"/tin/{article_id}/phan-hoi",
        data=form(service, key=f"article:{article_id}", body=unique(BODY)),
        allow_redirects=False,
    )
    for response in (shown, sent):
        assert response.status == 404
        assert "Không tìm thấy bản tin" in await response.text()
    assert await service.counts() == before


async def test_site_feedback_has_no_article(service: Service) -> None:
    page = await (await service.client.get("/gop-y")).text()
    assert "<h1>Góp ý</h1>" in page
    body = unique("Trang thông tin nên có thêm chuyên mục hỏi đáp.")
    async with tap(service.amqp_url, "feedback.submitted") as events:
        response = await service.client.post(
            "/gop-y", data=form(service, key="site", body=body), allow_redirects=False
        )
        assert response.status == 200
        assert "Cảm ơn bạn đã gửi ý kiến" in await response.text()
        [message] = await events.wait_for(1)
    row = await service.pool.fetchrow("SELECT * FROM feedback WHERE body = $1", body)
    assert (row["article_id"], row["target"], row["status"]) == (None, "site", "pending")
    assert message["data"]["target"] == "site"
    assert message["data"]["article_id"] is None
    # The address forms redirected to before receipts still thanks the reader.
    thanks = await (await service.client.get("/gop-y?da-gui=1")).text()
    assert "Cảm ơn bạn đã gửi ý kiến" in thanks


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"author_name": ""}, "Xin vui lòng nhập họ và tên."),
        ({"author_name": "Ă" * 101}, "Họ và tên không được dài quá 100 ký tự."),
        ({"email": "lan.nguyen@"}, "Địa chỉ email không hợp lệ"),
        ({"body": "Hay quá"}, "Nội dung phải có ít nhất 10 ký tự."),
        ({"body": "ý" * 5001}, "Nội dung không được dài quá 5.000 ký tự."),
    ],
)
async def test_invalid_input_rerenders_the_form_with_errors_and_stores_nothing(
    service: Service, fields: dict[str, str], message: str
) -> None:
    before = await service.counts()
    sent = form(service, **fields)
    response = await service.client.post(f"/tin/{ARTICLE}/phan-hoi", data=sent)
    assert response.status == 422
    page = await response.text()
    assert message in page
    assert "Gửi phản hồi cho bản tin" in page
    # The reader's values come back, so nothing typed is lost.
    assert f'value="{sent["email"]}"' in page
    assert f"{sent['body']}</textarea>" in page
    assert await service.counts() == before


async def test_the_form_escapes_what_the_reader_typed(service: Service) -> None:
    response = await service.client.post(
        f"/tin/{ARTICLE}/phan-hoi",
        data=form(service, author_name='"><script>x()</script>', body="ngắn"),
    )
    page = await response.text()
    assert "<script>x()" not in page
    assert "&#34;&gt;&lt;script&gt;" in page


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"website": "http://spam.example"}, 422, "điền tự động"),
        ({"form_token": ""}, 422, "Biểu mẫu không hợp lệ"),
        ({"form_token": "1800000000000.deadbeef"}, 422, "Biểu mẫu không hợp lệ"),
        (
            {"body": "Xem http://a.vn, http://b.vn, www.c.vn, www.d.vn, www.e.vn và http://f.vn"},
            422,
            "quá nhiều đường liên kết",
        ),
    ],
)
async def test_spam_is_refused_with_a_clear_message_and_stores_nothing(
    service: Service, fields: dict[str, str], status: int, message: str
) -> None:
    before = await service.counts()
    response = await service.client.post(f"/tin/{ARTICLE}/phan-hoi", data=form(service, **fields))
    assert response.status == status
    assert message in await response.text()
    assert await service.counts() == before


async def test_a_form_sent_within_three_seconds_is_refused(service: Service) -> None:
    before = await service.counts()
    page = await (await service.client.get(f"/tin/{ARTICLE}/phan-hoi")).text()
    fields = form(service, body=unique(BODY), form_token=form_stamp_in(page))
    response = await service.client.post(f"/tin/{ARTICLE}/phan-hoi", data=fields)
    assert response.status == 422
    page = await response.text()
    assert "Bạn gửi quá nhanh" in page
    assert f"{fields['body']}</textarea>" in page
    assert await service.counts() == before


async def test_a_form_older_than_a_day_is_refused(service: Service) -> None:
    before = await service.counts()
    stale = service.stamp(f"article:{ARTICLE}", age_seconds=25 * 3600)
    response = await service.client.post(
        f"/tin/{ARTICLE}/phan-hoi", data=form(service, body=unique(BODY), form_token=stale)
    )
    assert response.status == 422
    assert "hết hạn" in await response.text()
    assert await service.counts() == before


async def test_a_stamp_from_another_form_is_refused(service: Service) -> None:
    before = await service.counts()
    response = await service.client.post(
        f"/tin/{ARTICLE}/phan-hoi", data=form(service, key="site", body=unique(BODY))
    )
    assert response.status == 422
    assert await service.counts() == before


async def test_the_same_text_sent_again_to_the_same_article_is_refused(service: Service) -> None:
    body = unique("Đề nghị tổ chức thêm các buổi đối thoại với người dân.")
    first = await service.client.post(
        f"/tin/{ARTICLE}/phan-hoi", data=form(service, body=body), allow_redirects=False
    )
    assert first.status == 200
    before = await service.counts()
    again = await service.client.post(
        f"/tin/{ARTICLE}/phan-hoi", data=form(service, body=f"  {body.upper()}  ")
    )
    assert again.status == 409
    assert "không cần gửi lại" in await again.text()
    assert await service.counts() == before
