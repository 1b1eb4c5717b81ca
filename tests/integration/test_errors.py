"""Bad input answers: problem+json for programs, a Vietnamese page for people, 413 for
bodies over the limit; through a real aiohttp server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.common.errors import Problem, error_middleware, input_validator, read_json

NAME_SCHEMA = input_validator(
    {
        "type": "object",
        "required": ["title"],
        "additionalProperties": False,
        "properties": {"title": {"type": "string", "minLength": 1, "maxLength": 10}},
    }
)
stored: list[object] = []


async def create(request: web.Request) -> web.Response:
    body = await read_json(request, NAME_SCHEMA)
    stored.append(body)
    return web.json_response(body, status=201)


async def missing(request: web.Request) -> web.Response:
    raise Problem(404, "article_not_found", "Không tìm thấy bài viết.")


async def crash(request: web.Request) -> web.Response:
    raise RuntimeError("boom")


async def export_to_a_reader_who_left(request: web.Request) -> web.StreamResponse:
    """A streamed answer (as the feedback export is) whose reader goes away midway: the
    next write fails with a connection error, as it does when the reader's side closes."""
    answer = web.StreamResponse(headers={"Content-Type": "text/csv"})
    await answer.prepare(request)
    await answer.write(b"id,title\n")
    assert request.transport is not None
    request.transport.close()
    await answer.write(b"1,more\n")
    return answer


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    app = web.Application(middlewares=[error_middleware], client_max_size=1024)
    app.router.add_post("/api/v1/things", create)
    app.router.add_post("/form", create)
    app.router.add_get("/tin/{id}", missing)
    app.router.add_get("/api/v1/crash", crash)
    app.router.add_get("/export.csv", export_to_a_reader_who_left)
    stored.clear()
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_valid_input_is_taken(client: TestClient) -> None:
    response = await client.post("/api/v1/things", json={"title": "Tin mới"})
    assert response.status == 201
    assert stored == [{"title": "Tin mới"}]


@pytest.mark.parametrize(
    ("send", "status", "code"),
    [
        (
            {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
            400,
            "invalid_json",
        ),
        ({"data": b"title=x"}, 415, "unsupported_media_type"),
        ({"json": {}}, 422, "invalid_input"),
        ({"json": {"title": "quá dài hơn mười ký tự"}}, 422, "invalid_input"),
        ({"json": {"title": "x", "extra": 1}}, 422, "invalid_input"),
        ({"json": {"title": "x" * 2000}}, 413, "body_too_large"),
    ],
)
async def test_bad_input_gets_a_problem_and_changes_nothing(
    client: TestClient, send: dict, status: int, code: str
) -> None:
    response = await client.post("/api/v1/things", **send)
    assert response.status == status
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert problem["code"] == code
    assert problem["status"] == status
    assert problem["detail"]  # a Vietnamese sentence for the reader
    assert stored == []


async def test_field_errors_name_the_field_in_vietnamese(client: TestClient) -> None:
    response = await client.post("/api/v1/things", json={"title": "x" * 11})
    problem = await response.json()
    assert problem["errors"] == [{"field": "title", "message": "Quá dài (tối đa 10 ký tự)."}]
    response = await client.post("/api/v1/things", json={})
    assert (await response.json())["errors"] == [
        {"field": "title", "message": "Thiếu thông tin bắt buộc."}
    ]


async def test_people_get_a_vietnamese_page(client: TestClient) -> None:
    response = await client.get("/tin/99", headers={"Accept": "text/html"})
    assert response.status == 404
    assert response.content_type == "text/html"
    page = await response.text()
    assert '<html lang="vi">' in page
    assert "Không tìm thấy bài viết." in page

    response = await client.post("/form", data=b"x" * 5000, headers={"Accept": "text/html"})
    assert response.status == 413
    assert "Nội dung gửi lên vượt quá giới hạn cho phép." in await response.text()


async def test_unknown_paths_and_crashes_are_problems_too(client: TestClient) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status == 404
    assert (await response.json())["code"] == "not_found"
    response = await client.get("/api/v1/crash")
    assert response.status == 500
    problem = await response.json()
    assert problem["code"] == "internal_error"
    assert "boom" not in problem["detail"]


async def test_a_reader_who_leaves_mid_answer_is_not_blamed_on_the_database(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with pytest.raises(aiohttp.ClientError):
        response = await client.get("/export.csv")
        await response.read()
    assert "closed the connection" in caplog.text
    assert "database unavailable" not in caplog.text
