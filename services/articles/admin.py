"""Signing in and out with the login form, and the editors' admin page (/quan-tri).

The session is the access token itself in the `bantin_session` cookie (HttpOnly,
SameSite=Lax; Secure with COOKIE_SECURE=1 or when the browser came over HTTPS, as the
trusted gateway's X-Forwarded-Proto says), living as long as the token; every service
reads it through services.common.auth. SameSite=Lax keeps other sites' forms from posting
with it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.articles import domain, login, store
from services.articles.config import CONFIG, ISSUER
from services.articles.request_context import acquire, is_https, optional_principal
from services.common.auth import SESSION_COOKIE
from services.common.errors import Problem
from services.common.pages import render

ADMIN_HOME = "/quan-tri"
PRIVATE = "no-store"
MAX_FIELD_LENGTH = 1024

routes = web.RouteTableDef()

STATUS_NAMES = {
    domain.DRAFT: "Bản nháp",
    domain.PUBLISHED: "Đã đăng",
    domain.UNPUBLISHED: "Đã gỡ",
}


def _private(response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Cache-Control"] = PRIVATE
    return response


def _cookie_secure(request: web.Request) -> bool:
    # A browser that came over HTTPS never needs the session on plain HTTP: keep it there
    # even where COOKIE_SECURE was forgotten.
    return request.app[CONFIG].cookie_secure or is_https(request)


def _see_other(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location, headers={"Cache-Control": PRIVATE})


def _login_form(
    request: web.Request,
    *,
    username: str = "",
    next_path: str | None = None,
    error: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    context = {"username": username, "next": next_path, "error": error}
    response = render(request, "login.html", context, status=status)
    response.headers.update(headers or {})
    return _private(response)


@routes.get("/dang-nhap")
async def login_page(request: web.Request) -> web.StreamResponse:
    """The login form; ?next=/path (a path on this site) is where signing in leads, as
    the feedback moderation page asks with /dang-nhap?next=/quan-tri/phan-hoi."""
    return _login_form(request, next_path=domain.safe_local_path(request.query.get("next")))


@routes.post("/dang-nhap")
async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    # Anything but a path on this site leads to the admin home (no open redirect).
    next_path = domain.safe_local_path(form.get("next", request.query.get("next")))
    username, password = form.get("username"), form.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        username, password = "", ""
    username = username.strip()[:MAX_FIELD_LENGTH]
    if not username or not password:
        return _login_form(
            request,
            username=username,
            next_path=next_path,
            error="Xin nhập tên đăng nhập và mật khẩu.",
            status=422,
        )
    try:
        user = await login.sign_in(request, username, password[: MAX_FIELD_LENGTH + 1])
    except Problem as refused:
        return _login_form(
            request,
            username=username,
            next_path=next_path,
            error=refused.detail,
            status=refused.status,
            headers=refused.headers,
        )
    issuer = request.app[ISSUER]
    token, _ = issuer.issue(user)
    response = _see_other(next_path or ADMIN_HOME)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(issuer.ttl.total_seconds()),
        path="/",
        httponly=True,
        samesite="Lax",
        secure=_cookie_secure(request),
    )
    raise response


@routes.post("/dang-xuat")
async def logout(request: web.Request) -> web.StreamResponse:
    response = _see_other("/")
    response.del_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=_cookie_secure(request),
    )
    raise response


@routes.get(ADMIN_HOME)
async def admin_home(request: web.Request) -> web.StreamResponse:
    """The articles a signed-in user works on: all of them for publishers, their own for
    authors. Anyone else is sent to the login form."""
    principal = await optional_principal(request)
    if principal is None:
        raise _see_other("/dang-nhap")
    articles: list[Any] = []
    if principal.has_role(*domain.WRITERS):
        author = None if domain.is_publisher(principal) else principal.user_id
        async with acquire(request) as conn:
            articles = await store.list_for_admin(conn, author)
    response = render(
        request,
        "admin.html",
        {
            "principal": principal,
            "articles": articles,
            "status_names": STATUS_NAMES,
            "can_write": principal.has_role(*domain.WRITERS),
            "can_moderate": principal.has_role("moderator"),
        },
    )
    return _private(response)
