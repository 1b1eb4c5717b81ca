"""The feedback JSON API on the real Postgres and RabbitMQ: readers' submissions, the
moderator role, and what each moderation step publishes (public fields only, with a rising
version) or refuses (409, nothing changed)."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.feedback.config import DEFAULT_ORGANISATION as ORGANISATION
from tests.support.amqp import tap
from tests.support.feedback import Service, running_service
from tests.support.openapi import documented_routes, served_routes

ARTICLE = 201
NAME = "Lê Văn Hùng"
EMAIL = "hung.le@example.vn"
PUBLIC_FIELDS = {
    "id",
    "version",
    "article_id",
    "author_name",
    "body",
    "reply",
    "approved_at",
    "updated_at",
}
_serial = itertools.count(1)


@pytest.fixture(scope="module")
async def service() -> AsyncIterator[Service]:
    async with running_service() as service:
        await service.publish_article(ARTICLE)
        yield service


def text() -> str:
    return f"Đề nghị đăng thêm lịch tiếp công dân của phường, lần {next(_serial)}."


async def submit(service: Service, **fields: Any) -> dict[str, Any]:
    body = {"article_id": ARTICLE, "author_name": NAME, "email": EMAIL, "body": text()}
    body.update(fields)
    response = await service.client.post("/api/v1/feedback", json=body)
    assert response.status == 202, await response.text()
    return await response.json()


async def call(
    service: Service, method: str, path: str, roles: tuple[str, ...] = ("moderator",), **kw: Any
) -> tuple[int, Any]:
    response = await service.client.request(method, path, headers=service.auth(*roles), **kw)
    return response.status, await response.json()


async def item_row(service: Service, item_id: int) -> dict[str, Any]:
    return dict(await service.pool.fetchrow("SELECT * FROM feedback WHERE id = $1", item_id))


# --- submitting --------------------------------------------------------------------------


async def test_a_reader_submits_feedback_pending(service: Service) -> None:
    async with tap(service.amqp_url, "feedback.submitted") as events:
        sent = await submit(service)
        [message] = await events.wait_for(1)
    assert sent["status"] == "pending"
    row = await item_row(service, sent["id"])
    assert (row["status"], row["author_name"], row["email"]) == ("pending", NAME, EMAIL)
    assert set(message["data"]) == {"id", "version", "article_id", "target", "submitted_at"}
    assert EMAIL not in json.dumps(message) and NAME not in json.dumps(message, ensure_ascii=False)


async def test_site_feedback_needs_no_article(service: Service) -> None:
    sent = await submit(service, article_id=None, email=None)
    row = await item_row(service, sent["id"])
    assert (row["article_id"], row["target"], row["email"]) == (None, "site", None)


@pytest.mark.parametrize(
    ("fields", "status", "code", "field"),
    [
        ({"author_name": "  "}, 422, "invalid_input", "author_name"),
        ({"author_name": "A" * 101}, 422, "invalid_input", "author_name"),
        ({"email": "hung.le@example"}, 422, "invalid_input", "email"),
        ({"body": "ngắn"}, 422, "invalid_input", "body"),
        ({"body": "x" * 5001}, 422, "invalid_input", "body"),
        ({"body": 42}, 422, "invalid_input", "body"),
        ({"fax": "0901234567"}, 422, "invalid_input", "(toàn bộ)"),
        ({"phone": "gọi tôi nhé"}, 422, "invalid_input", "phone"),
        ({"phone": "0" * 21}, 422, "invalid_input", "phone"),
        ({"title": "T" * 201}, 422, "invalid_input", "title"),
        ({"article_id": 999}, 422, "article_unavailable", "article_id"),
        ({"body": "http://a.vn " * 6 + "xem"}, 422, "spam_too_many_links", "body"),
    ],
)
async def test_bad_submissions_are_refused_and_store_nothing(
    service: Service, fields: dict[str, Any], status: int, code: str, field: str
) -> None:
    before = await service.counts()
    body = {"article_id": ARTICLE, "author_name": NAME, "body": text(), **fields}
    response = await service.client.post("/api/v1/feedback", json=body)
    assert response.status == status
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert problem["code"] == code
    assert field in {e["field"] for e in problem["errors"]}
    assert await service.counts() == before


async def test_the_same_text_twice_to_the_same_target_is_refused(service: Service) -> None:
    body = text()
    await submit(service, body=body)
    before = await service.counts()
    response = await service.client.post(
        "/api/v1/feedback", json={"article_id": ARTICLE, "author_name": "Khác", "body": body}
    )
    assert response.status == 409
    assert (await response.json())["code"] == "spam_duplicate"
    assert await service.counts() == before


# --- who may moderate --------------------------------------------------------------------


async def test_moderation_needs_a_token(service: Service) -> None:
    response = await service.client.get("/api/v1/feedback")
    assert response.status == 401
    assert (await response.json())["code"] == "unauthenticated"


@pytest.mark.parametrize(
    ("roles", "status"),
    [(("editor",), 403), (("author", "editor"), 403), (("moderator",), 200), (("admin",), 200)],
)
async def test_moderation_needs_the_moderator_role(
    service: Service, roles: tuple[str, ...], status: int
) -> None:
    item = await submit(service)
    for method, path in [
        ("GET", "/api/v1/feedback"),
        ("GET", f"/api/v1/feedback/{item['id']}"),
        ("POST", f"/api/v1/feedback/{item['id']}/approve"),
    ]:
        got, _ = await call(service, method, path, roles)
        assert got == status, (method, path)


async def test_an_editor_cannot_change_an_item(service: Service) -> None:
    item = await submit(service)
    for method, path, body in [
        ("POST", "reject", None),
        ("POST", "withdraw", None),
        ("PUT", "reply", {"body": "Trả lời"}),
        ("PATCH", "", {"body": "Nội dung đã sửa lại"}),
    ]:
        url = f"/api/v1/feedback/{item['id']}" + (f"/{path}" if path else "")
        status, problem = await call(service, method, url, ("editor",), json=body)
        assert (status, problem["code"]) == (403, "forbidden")
    assert (await item_row(service, item["id"]))["version"] == 1


# --- reading ------------------------------------------------------------------------------


async def test_moderators_see_the_email(service: Service) -> None:
    item = await submit(service)
    status, shown = await call(service, "GET", f"/api/v1/feedback/{item['id']}")
    assert status == 200
    assert (shown["email"], shown["author_name"], shown["status"]) == (EMAIL, NAME, "pending")
    assert shown["article"]["title"] == f"Hội nghị triển khai công tác thi đua số {ARTICLE}"
    status, listing = await call(service, "GET", "/api/v1/feedback?status=pending&limit=100")
    assert status == 200
    assert item["id"] in {i["id"] for i in listing["items"]}


async def test_the_list_pages_newest_first(service: Service) -> None:
    ids = [(await submit(service))["id"] for _ in range(3)]
    status, first = await call(service, "GET", "/api/v1/feedback?limit=2")
    assert status == 200
    assert [i["id"] for i in first["items"]] == [ids[2], ids[1]]
    assert first["next_before"] == ids[1]
    _, second = await call(service, "GET", f"/api/v1/feedback?limit=2&before={ids[1]}")
    assert second["items"][0]["id"] == ids[0]


@pytest.mark.parametrize("query", ["status=spam", "limit=0", "limit=101", "before=x", "before=²"])
async def test_a_bad_list_query_is_refused(service: Service, query: str) -> None:
    status, problem = await call(service, "GET", f"/api/v1/feedback?{query}")
    assert (status, problem["code"]) == (422, "invalid_input")


async def test_an_unknown_item_is_not_found(service: Service) -> None:
    for method, path in [("GET", ""), ("POST", "/approve"), ("POST", "/withdraw")]:
        status, problem = await call(service, method, f"/api/v1/feedback/987654{path}")
        assert (status, problem["code"]) == (404, "feedback_not_found")


# --- moderating ---------------------------------------------------------------------------


async def test_approve_publishes_exactly_the_public_fields(service: Service) -> None:
    item = await submit(service)
    async with tap(service.amqp_url, "feedback.approved") as events:
        status, approved = await call(service, "POST", f"/api/v1/feedback/{item['id']}/approve")
        [message] = await events.wait_for(1)
    assert status == 200
    assert (approved["status"], approved["version"]) == ("approved", 2)
    data = message["data"]
    assert set(data) == PUBLIC_FIELDS
    row = await item_row(service, item["id"])
    assert data["id"] == item["id"] and message["subject"] == str(item["id"])
    assert (data["article_id"], data["author_name"], data["body"]) == (
        ARTICLE,
        NAME,
        row["body"],
    )
    assert (data["version"], data["reply"]) == (2, None)
    assert EMAIL not in json.dumps(message)


async def test_reply_and_edit_republish_with_a_higher_version(service: Service) -> None:
    item = await submit(service)
    path = f"/api/v1/feedback/{item['id']}"
    async with tap(service.amqp_url, "feedback.*") as events:
        await call(service, "POST", f"{path}/approve")
        reply = {"body": "Cảm ơn bạn; lịch tiếp công dân sẽ được đăng tuần tới."}
        status, replied = await call(service, "PUT", f"{path}/reply", json=reply)
        assert status == 200
        status, edited = await call(service, "PATCH", path, json={"author_name": "Hùng"})
        assert status == 200
        messages = await events.wait_for(3)
    assert [m["type"] for m in messages] == [
        "feedback.approved",
        "feedback.updated",
        "feedback.updated",
    ]
    assert [m["data"]["version"] for m in messages] == [2, 3, 4]
    updated = messages[1]["data"]
    assert set(updated) == PUBLIC_FIELDS
    assert updated["reply"]["body"] == reply["body"]
    # Signed by the organisation, never by the moderator (issue 9's regression).
    assert updated["reply"]["author"] == ORGANISATION
    assert replied["reply"]["author"] == ORGANISATION
    assert messages[2]["data"]["author_name"] == "Hùng"
    assert messages[2]["data"]["reply"]["body"] == reply["body"]
    assert edited["version"] == 4


async def test_changes_to_a_pending_item_publish_nothing_until_approved(service: Service) -> None:
    item = await submit(service)
    path = f"/api/v1/feedback/{item['id']}"
    async with tap(service.amqp_url, "feedback.*") as events:
        await call(service, "PATCH", path, json={"body": "Nội dung đã được biên tập lại."})
        await call(service, "PUT", f"{path}/reply", json={"body": "Xin cảm ơn."})
        await call(service, "POST", f"{path}/approve")
        [message] = await events.wait_for(1)  # the approval: nothing came before it
    assert message["type"] == "feedback.approved"
    assert message["data"]["body"] == "Nội dung đã được biên tập lại."
    assert message["data"]["reply"]["body"] == "Xin cảm ơn."
    assert message["data"]["version"] == 4


async def test_reject_publishes_feedback_rejected(service: Service) -> None:
    item = await submit(service)
    async with tap(service.amqp_url, "feedback.rejected") as events:
        status, rejected = await call(service, "POST", f"/api/v1/feedback/{item['id']}/reject")
        [message] = await events.wait_for(1)
    assert (status, rejected["status"]) == (200, "rejected")
    assert set(message["data"]) == {"id", "version", "article_id", "rejected_at"}
    assert message["data"]["version"] == 2


async def outbox_texts(service: Service) -> list[tuple[str, str, str]]:
    """(type, subject, envelope as JSON text) of every outbox row, sent or not."""
    rows = await service.pool.fetch(
        "SELECT type, subject, envelope FROM outbox ORDER BY created_at"
    )
    return [(r["type"], r["subject"], json.dumps(r["envelope"], ensure_ascii=False)) for r in rows]


async def test_withdraw_publishes_and_erases_the_personal_fields(service: Service) -> None:
    name, words = "Đoàn Thị Rút Lại", "Ý kiến này sẽ được rút lại, mã số 7319."
    item = await submit(service, author_name=name, body=words)
    path = f"/api/v1/feedback/{item['id']}"
    await call(service, "POST", f"{path}/approve")
    await call(service, "PUT", f"{path}/reply", json={"body": f"Trả lời bà {name}."})
    holding = [t for t, _, text in await outbox_texts(service) if name in text]
    assert holding == ["feedback.approved", "feedback.updated"]  # what withdrawing must erase
    async with tap(service.amqp_url, "feedback.withdrawn") as events:
        status, withdrawn = await call(service, "POST", f"{path}/withdraw")
        [message] = await events.wait_for(1)
    assert status == 200
    assert set(message["data"]) == {"id", "version", "article_id", "withdrawn_at"}
    assert message["data"]["version"] == 4
    row = await item_row(service, item["id"])
    assert (row["status"], row["author_name"], row["email"], row["body"]) == (
        "withdrawn",
        "",
        None,
        "",
    )
    assert row["reply_body"] is None
    _, shown = await call(service, "GET", path)
    assert name not in json.dumps(shown, ensure_ascii=False) and EMAIL not in json.dumps(shown)
    assert withdrawn["status"] == "withdrawn"
    # Nor can a replay of the outbox bring the reader's name or words back.
    outbox = await outbox_texts(service)
    assert [t for t, _, text in outbox if name in text or words in text] == []
    assert [t for t, subject, _ in outbox if subject == str(item["id"])] == ["feedback.withdrawn"]


@pytest.mark.parametrize(
    ("first", "then", "body"),
    [
        ("reject", "approve", None),
        ("approve", "approve", None),
        ("approve", "reject", None),
        ("withdraw", "reply", {"body": "Trả lời muộn."}),
        ("withdraw", "withdraw", None),
        ("reject", "reply", {"body": "Trả lời."}),
    ],
)
async def test_invalid_transitions_conflict_and_change_nothing(
    service: Service, first: str, then: str, body: dict[str, str] | None
) -> None:
    item = await submit(service)
    path = f"/api/v1/feedback/{item['id']}"
    await call(service, "POST", f"{path}/{first}")
    row, before = await item_row(service, item["id"]), await service.counts()
    method = "PUT" if then == "reply" else "POST"
    status, problem = await call(service, method, f"{path}/{then}", json=body)
    assert status == 409
    assert problem["code"] == "invalid_transition"
    assert problem["detail"].startswith("Không thể")
    assert await item_row(service, item["id"]) == row
    assert await service.counts() == before


async def test_a_bad_edit_is_refused(service: Service) -> None:
    item = await submit(service)
    path = f"/api/v1/feedback/{item['id']}"
    for body in ({}, {"body": "ngắn"}, {"author_name": ""}, {"email": "x@y.vn"}):
        status, problem = await call(service, "PATCH", path, json=body)
        assert (status, problem["code"]) == (422, "invalid_input"), body
    status, problem = await call(service, "PUT", f"{path}/reply", json={"body": "<p></p>"})
    assert (status, problem["code"]) == (422, "invalid_input")
    assert (await item_row(service, item["id"]))["version"] == 1


async def test_the_openapi_document_describes_every_api_route(service: Service) -> None:
    response = await service.client.get("/api/v1/feedback/openapi.json")
    assert response.status == 200
    document = await response.json()
    assert document["openapi"].startswith("3.")
    documented = documented_routes(document)
    served = served_routes(service.client.app, ("/api/",))
    assert documented == served


async def test_a_submission_wakes_its_own_relay_and_rings_no_notify() -> None:
    """A submission's commit takes no NOTIFY lock (Postgres serialises the commits of
    notifying transactions): its process's relay is woken after the commit instead. With
    the relay's poll a minute away, only that wake can deliver the event in time. Other
    writers still ring the doorbell for every relay."""
    async with running_service(relay_poll_seconds=60) as service:
        await service.publish_article(ARTICLE)
        heard: list[str] = []
        async with service.pool.acquire() as conn:
            channel = f"{await conn.fetchval('SELECT current_schema()')}_outbox"

            def ring(*args: Any) -> None:
                heard.append(args[2])

            await conn.add_listener(channel, ring)
            async with tap(service.amqp_url, "feedback.submitted") as events:
                sent = await submit(service)
                [message] = await events.wait_for(1, timeout=5)
            assert message["data"]["id"] == sent["id"]
            assert heard == []
            async with tap(service.amqp_url, "feedback.approved") as events:
                status, _ = await call(service, "POST", f"/api/v1/feedback/{sent['id']}/approve")
                assert status == 200
                await events.wait_for(1, timeout=5)
            assert heard == [channel]
            await conn.remove_listener(channel, ring)
