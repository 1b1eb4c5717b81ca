"""The desk's JSON API on the real Postgres and RabbitMQ: reject with a public reason (never
in the event), the list's filters and oldest-first paging, each case's history, and the CSV
export (BOM, columns, neutralised formula cells, period and status)."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientResponse

from services.feedback import api as feedback_api
from tests.support.amqp import tap
from tests.support.feedback import MODERATOR_NAME, Service, running_service

ARTICLE = 401
TITLE = "Hội thảo chuyển đổi số cấp tỉnh"
EMAIL = "an.pham@example.vn"
_serial = itertools.count(1)


@pytest.fixture(scope="module")
async def service() -> AsyncIterator[Service]:
    async with running_service() as service:
        await service.publish_article(ARTICLE, title=TITLE)
        yield service


async def submit(
    service: Service, name: str = "Phạm An", body: str = "", article_id: int | None = ARTICLE
) -> int:
    body = body or f"Đề nghị công khai kết quả hội thảo, lần {next(_serial)}."
    response = await service.client.post(
        "/api/v1/feedback",
        json={"article_id": article_id, "author_name": name, "email": EMAIL, "body": body},
    )
    assert response.status == 202, await response.text()
    return int((await response.json())["id"])


async def call(
    service: Service, method: str, path: str, roles: tuple[str, ...] = ("moderator",), **kw: Any
) -> tuple[int, Any]:
    response = await service.client.request(method, path, headers=service.auth(*roles), **kw)
    return response.status, await response.json()


async def status_of(service: Service, item_id: int) -> str:
    return str(await service.pool.fetchval("SELECT status FROM feedback WHERE id = $1", item_id))


# --- reject with a reason ----------------------------------------------------------------


async def test_reject_with_a_reason_keeps_it_out_of_the_event(service: Service) -> None:
    item_id = await submit(service)
    async with tap(service.amqp_url, "feedback.rejected") as events:
        status, item = await call(
            service,
            "POST",
            f"/api/v1/feedback/{item_id}/reject",
            json={"reason": "Ngôn từ không phù hợp"},
        )
        [message] = await events.wait_for(1)
    assert (status, item["status"], item["reject_reason"]) == (
        200,
        "rejected",
        "Ngôn từ không phù hợp",
    )
    assert set(message["data"]) == {"id", "version", "article_id", "rejected_at"}
    text = json.dumps(message, ensure_ascii=False)
    assert "Ngôn từ" not in text and EMAIL not in text and "Phạm An" not in text


async def test_reject_without_a_body_still_works(service: Service) -> None:
    item_id = await submit(service)
    status, item = await call(service, "POST", f"/api/v1/feedback/{item_id}/reject")
    assert (status, item["reject_reason"]) == (200, None)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"reason": 5}, 422),
        ({"reason": "x" * 301}, 422),
        ({"ly_do": "Trùng lặp"}, 422),
        ("không phải JSON", 400),
    ],
)
async def test_a_bad_reject_changes_nothing(service: Service, body: Any, status: int) -> None:
    item_id = await submit(service)
    outbox = await service.count("outbox")
    kw = {"json": body} if isinstance(body, dict) else {"data": body.encode()}
    headers = {} if isinstance(body, dict) else {"Content-Type": "application/json"}
    response = await service.client.post(
        f"/api/v1/feedback/{item_id}/reject",
        headers={**service.auth("moderator"), **headers},
        **kw,
    )
    assert response.status == status
    assert await status_of(service, item_id) == "pending"
    assert await service.count("outbox") == outbox
    assert (
        await service.pool.fetchval(
            "SELECT count(*) FROM moderation_history WHERE feedback_id = $1", item_id
        )
        == 0
    )


# --- the list's filters ------------------------------------------------------------------


async def test_the_list_filters_and_pages_oldest_first(service: Service) -> None:
    marker = f"chuyển đổi số mã {next(_serial)}"
    ids = [await submit(service, body=f"Góp ý {marker} phần {n}.") for n in range(3)]
    site = await submit(service, body=f"Góp ý cho trang về {marker}.", article_id=None)
    query = f"/api/v1/feedback?q={marker.replace(' ', '+')}&order=oldest&limit=2"
    status, first = await call(service, "GET", query + "&target=article")
    assert status == 200
    assert [i["id"] for i in first["items"]] == ids[:2]
    assert first["next_before"] is None and first["next_after"] == ids[1]
    _, rest = await call(service, "GET", query + f"&target=article&after={first['next_after']}")
    assert [i["id"] for i in rest["items"]] == ids[2:]
    _, only_site = await call(service, "GET", query + "&target=site")
    assert [i["id"] for i in only_site["items"]] == [site]
    # Without accents, newest first by default.
    _, newest = await call(service, "GET", "/api/v1/feedback?q=CHUYEN+DOI+SO+MA&limit=100")
    found = [i["id"] for i in newest["items"] if i["id"] in {*ids, site}]
    assert found == sorted(found, reverse=True) and len(found) == 4


async def test_the_export_holds_every_item_of_the_period_however_many(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written batch by batch (a batch of 2 here): nothing is cut off or repeated."""
    monkeypatch.setattr(feedback_api, "EXPORT_BATCH", 2)
    sent = [await submit(service, body=f"Ý kiến số {n} của bạn đọc.") for n in range(5)]
    raw = await (await export(service)).read()
    assert raw.count(b"\xef\xbb\xbf") == 1
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][0] == "Mã"
    exported = [int(row[0]) for row in rows[1:]]
    # Every item of the period once, oldest first; the ones sent here among them.
    assert exported == sorted(set(exported))
    assert [item for item in exported if item in sent] == sorted(sent)
    in_period = await service.pool.fetchval(
        "SELECT count(*) FROM feedback WHERE submitted_at > now() - interval '30 days'"
    )
    assert len(exported) == in_period


@pytest.mark.parametrize(
    ("query", "field"),
    [("target=bai-viet", "target"), ("order=cu", "order"), ("q=" + "a" * 201, "q")],
)
async def test_a_bad_filter_names_the_field(service: Service, query: str, field: str) -> None:
    status, problem = await call(service, "GET", f"/api/v1/feedback?{query}")
    assert status == 422
    assert [e["field"] for e in problem["errors"]] == [field]


# --- history -----------------------------------------------------------------------------


async def test_the_history_records_who_did_what_and_when(service: Service) -> None:
    item_id = await submit(service)
    path = f"/api/v1/feedback/{item_id}"
    await call(service, "PATCH", path, json={"body": "Nội dung đã được chỉnh sửa."})
    await call(service, "POST", f"{path}/approve")
    await call(service, "PUT", f"{path}/reply", json={"body": "Cảm ơn bạn đã góp ý."})
    await call(service, "POST", f"{path}/withdraw")
    status, history = await call(service, "GET", f"{path}/history")
    assert status == 200
    assert [entry["action"] for entry in history["items"]] == [
        "edit",
        "approve",
        "reply",
        "withdraw",
    ]
    assert {entry["moderator"]["name"] for entry in history["items"]} == {MODERATOR_NAME}
    assert all(entry["at"] for entry in history["items"])


async def test_the_history_of_an_unknown_item_is_not_found(service: Service) -> None:
    status, problem = await call(service, "GET", "/api/v1/feedback/999999/history")
    assert (status, problem["code"]) == (404, "feedback_not_found")


async def test_the_history_is_for_moderators(service: Service) -> None:
    item_id = await submit(service)
    status, _ = await call(service, "GET", f"/api/v1/feedback/{item_id}/history", ("editor",))
    assert status == 403


async def test_an_edit_keeps_the_original_once(service: Service) -> None:
    item_id = await submit(service, name="an", body="Nguyên văn ý kiến của bạn đọc gửi.")
    path = f"/api/v1/feedback/{item_id}"
    await call(service, "PATCH", path, json={"author_name": "Phạm An"})
    _, item = await call(service, "PATCH", path, json={"body": "Ý kiến đã sửa lần hai."})
    assert item["original"]["author_name"] == "an"
    assert item["original"]["body"] == "Nguyên văn ý kiến của bạn đọc gửi."
    assert (item["author_name"], item["body"]) == ("Phạm An", "Ý kiến đã sửa lần hai.")


# --- export ------------------------------------------------------------------------------


async def export(
    service: Service, query: str = "", roles: tuple[str, ...] = ("moderator",)
) -> ClientResponse:
    return await service.client.get(
        f"/api/v1/feedback/export.csv{query}", headers=service.auth(*roles)
    )


async def test_the_export_is_csv_with_a_bom_and_neutralised_cells(service: Service) -> None:
    formula = await submit(service, name='=HYPERLINK("http://evil.example","Bấm")')
    plus = await submit(service, name="+84 Trần", body="-Nội dung bắt đầu bằng dấu trừ.")
    await call(service, "POST", f"/api/v1/feedback/{plus}/reject", json={"reason": "@Trùng"})
    response = await export(service)
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="phan-hoi-')
    raw = await response.read()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == [
        "Mã",
        "Ngày gửi",
        "Trạng thái",
        "Loại",
        "Bản tin",
        "Họ và tên",
        "Email",
        "Nội dung",
        "Trả lời",
        "Lý do từ chối",
    ]
    by_id = {row[0]: row for row in rows[1:]}
    assert by_id[str(formula)][5] == '\'=HYPERLINK("http://evil.example","Bấm")'
    assert by_id[str(formula)][4] == TITLE and by_id[str(formula)][6] == EMAIL
    assert by_id[str(plus)][5] == "'+84 Trần"
    assert by_id[str(plus)][7] == "'-Nội dung bắt đầu bằng dấu trừ."
    assert by_id[str(plus)][9] == "'@Trùng"
    assert by_id[str(plus)][2] == "đã bị từ chối"
    # No cell anywhere starts a formula.
    assert not [cell for row in rows for cell in row if cell[:1] in ("=", "+", "-", "@", "\t")]


async def test_the_export_takes_a_period_and_a_status(service: Service) -> None:
    item_id = await submit(service)
    await service.pool.execute(
        "UPDATE feedback SET submitted_at = '2026-03-15 23:30+07' WHERE id = $1", item_id
    )

    async def ids(query: str) -> set[str]:
        body = (await (await export(service, query)).read()).decode("utf-8-sig")
        return {row[0] for row in list(csv.reader(io.StringIO(body)))[1:]}

    assert str(item_id) in await ids("?from=2026-03-15&to=2026-03-15")
    assert str(item_id) not in await ids("?from=2026-03-16&to=2026-03-20")
    assert str(item_id) in await ids("?from=2026-03-01&to=2026-03-31&status=pending")
    assert str(item_id) not in await ids("?from=2026-03-01&to=2026-03-31&status=approved")
    assert str(item_id) not in await ids("")  # the last 30 days by default


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?from=15/03/2026", "from"),
        ("?to=20260315", "to"),
        ("?from=0001-01-01", "from"),
        ("?from=2026-03-20&to=2026-03-01", "to"),
        ("?status=held-back", "status"),
    ],
)
async def test_a_bad_export_query_names_the_field(service: Service, query: str, field: str) -> None:
    response = await export(service, query)
    assert response.status == 422
    assert [e["field"] for e in (await response.json())["errors"]] == [field]


@pytest.mark.parametrize("roles", [(), ("editor",)])
async def test_the_export_is_for_moderators(service: Service, roles: tuple[str, ...]) -> None:
    response = await service.client.get(
        "/api/v1/feedback/export.csv", headers=service.auth(*roles) if roles else {}
    )
    assert response.status == (403 if roles else 401)


async def test_a_head_of_the_export_sends_no_body_to_read_as_the_next_answer(
    service: Service,
) -> None:
    """Regression (found by the role matrix): the streamed CSV went out after a HEAD's
    headers, and the client read it as the status line of its next answer."""
    await submit(service)
    for _ in range(2):  # the same kept-alive connection
        head = await service.client.head(
            "/api/v1/feedback/export.csv", headers=service.auth("moderator")
        )
        assert (head.status, head.headers["Content-Type"]) == (200, "text/csv; charset=utf-8")
        assert await head.read() == b""
    assert (await export(service)).status == 200
