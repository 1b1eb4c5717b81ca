"""The moderation page (/quan-tri/phan-hoi): pending feedback with approve and reject
buttons, for moderators signed in with the bantin_session cookie. Its forms carry a CSRF
token bound to the session, since the cookie alone would let another site post them."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from services.common import db
from services.common.auth import Principal, principal_from_request, token_from_request
from services.common.errors import Problem
from services.common.pages import render
from services.common.web import POOL
from services.feedback import actions, store
from services.feedback.config import FORM_SIGNER
from services.feedback.domain import Action, InvalidTransition, Status

PAGE = "/quan-tri/phan-hoi"
PAGE_SIZE = 50
ACTIONS = {"duyet": Action.APPROVE, "tu-choi": Action.REJECT}
DONE = {"duyet": "Đã duyệt ý kiến.", "tu-choi": "Đã từ chối ý kiến."}


async def _moderator(request: web.Request) -> Principal:
    try:
        principal = await principal_from_request(request)
    except Problem as problem:
        if problem.status == 401:
            raise web.HTTPSeeOther(f"/dang-nhap?next={quote(PAGE)}") from problem
        raise
    if not principal.has_role("moderator"):
        raise Problem(403, "forbidden", "Bạn không có quyền kiểm duyệt ý kiến bạn đọc.")
    return principal


def _is_number(raw: str) -> bool:
    return raw.isascii() and raw.isdigit() and len(raw) <= 18


def _session(request: web.Request) -> str:
    return token_from_request(request) or ""


async def page(request: web.Request) -> web.Response:
    principal = await _moderator(request)
    raw_before = request.query.get("truoc", "")
    before = int(raw_before) if _is_number(raw_before) else None
    async with request.app[POOL].acquire(timeout=db.ACQUIRE_TIMEOUT) as conn:
        items = await store.page(conn, Status.PENDING, PAGE_SIZE, before)
    context: dict[str, Any] = {
        "principal": principal,
        "items": items,
        "csrf": request.app[FORM_SIGNER].csrf_token(_session(request)),
        "next_before": items[-1]["id"] if len(items) == PAGE_SIZE else None,
        "done": DONE.get(request.query.get("da", "")),
        "page_path": PAGE,
    }
    response = render(request, "moderation.html", context)
    response.headers["Cache-Control"] = "no-store"
    return response


async def moderate(request: web.Request) -> web.Response:
    await _moderator(request)
    form = await request.post()
    token = form.get("csrf")
    if not request.app[FORM_SIGNER].check_csrf(
        _session(request), token if isinstance(token, str) else None
    ):
        raise Problem(
            403,
            "csrf_invalid",
            "Biểu mẫu không hợp lệ hoặc đã hết hạn, xin tải lại trang rồi thử lại.",
        )
    slug = request.match_info["action"]
    try:
        await actions.moderate(request.app[POOL], int(request.match_info["id"]), ACTIONS[slug])
    except actions.FeedbackNotFound as exc:
        raise Problem(404, "feedback_not_found", "Không tìm thấy ý kiến này.") from exc
    except InvalidTransition as exc:
        raise Problem(409, "invalid_transition", str(exc)) from exc
    raise web.HTTPSeeOther(f"{PAGE}?da={slug}")


def add_routes(app: web.Application) -> None:
    app.router.add_get(PAGE, page)
    app.router.add_post(PAGE + r"/{id:\d{1,18}}/{action:duyet|tu-choi}", moderate)
