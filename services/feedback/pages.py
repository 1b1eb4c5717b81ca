"""Readers' forms: feedback on an article (/tin/{id}/phan-hoi) and on the site (/gop-y).

GET shows the form with a signed timestamp; POST checks it (spam rules, then the fields),
stores the item and redirects (303) to the same address with ?da-gui=1, which shows the
thank-you page: a reload never sends twice, and the gateway routes only these paths here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web

from services.common import db
from services.common.pages import render
from services.common.web import POOL
from services.feedback import actions, domain, limits, spam, store
from services.feedback.config import FORM_SIGNER, quota_of
from services.feedback.metrics import SUBMISSIONS

HONEYPOT_FIELD = "website"
TOKEN_FIELD = "form_token"
SENT_PARAM = "da-gui"
FIELDS = ("author_name", "email", "body")
THANKS = "Cảm ơn bạn đã gửi ý kiến; ý kiến sẽ được đăng sau khi được kiểm duyệt."
# The forms carry a timestamp and the reader's own values: never cache them anywhere.
NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class Target:
    """What the feedback is about: an article (from the read model) or the site."""

    article: asyncpg.Record | None

    @property
    def article_id(self) -> int | None:
        return self.article["id"] if self.article is not None else None

    @property
    def key(self) -> str:
        """Binds a form's signed timestamp to this form."""
        return f"article:{self.article_id}" if self.article is not None else "site"

    @property
    def path(self) -> str:
        return f"/tin/{self.article_id}/phan-hoi" if self.article is not None else "/gop-y"

    @property
    def heading(self) -> str:
        return "Gửi phản hồi cho bản tin" if self.article is not None else "Góp ý"


def _page(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    response = render(request, template, context, status=status)
    response.headers.update(NO_STORE)
    return response


def _unavailable(request: web.Request) -> web.Response:
    return _page(request, "unavailable.html", {}, status=404)


def _form(
    request: web.Request,
    target: Target,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> web.Response:
    token = request.app[FORM_SIGNER].issue(target.key, time.time())
    context = {
        "target": target,
        "article": target.article,
        "values": values or {},
        "errors": errors or {},
        "notice": notice,
        "form_token": token,
        "honeypot_field": HONEYPOT_FIELD,
        "token_field": TOKEN_FIELD,
        "limits": {
            "name_max": domain.NAME_MAX,
            "body_min": domain.BODY_MIN,
            "body_max": domain.BODY_MAX,
        },
    }
    return _page(request, "form.html", context, status=status)


async def _article_target(request: web.Request) -> Target | None:
    async with request.app[POOL].acquire(timeout=db.ACQUIRE_TIMEOUT) as conn:
        article = await store.open_article(conn, int(request.match_info["id"]))
    return Target(article) if article is not None else None


async def article_form(request: web.Request) -> web.Response:
    target = await _article_target(request)
    if target is None:
        return _unavailable(request)
    return _show(request, target)


async def article_submit(request: web.Request) -> web.Response:
    target = await _article_target(request)
    if target is None:
        SUBMISSIONS.labels("article_unavailable").inc()
        return _unavailable(request)
    return await _submit(request, target)


async def site_form(request: web.Request) -> web.Response:
    return _show(request, Target(None))


async def site_submit(request: web.Request) -> web.Response:
    return await _submit(request, Target(None))


def _show(request: web.Request, target: Target) -> web.Response:
    if SENT_PARAM in request.query:
        return _page(request, "thanks.html", {"target": target, "thanks": THANKS})
    return _form(request, target)


def _text(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""  # a file part is no text


async def _submit(request: web.Request, target: Target) -> web.Response:
    form = await request.post()
    values = {name: _text(form, name) for name in FIELDS}
    verdict = spam.check_honeypot(_text(form, HONEYPOT_FIELD)) or request.app[FORM_SIGNER].check(
        _text(form, TOKEN_FIELD), target.key, time.time()
    )
    if verdict is not None:
        SUBMISSIONS.labels(verdict.code).inc()
        return _form(request, target, values, notice=verdict.message, status=verdict.status)
    try:
        submission = domain.check_submission(values["author_name"], values["email"], values["body"])
        await actions.submit(request.app[POOL], target.article_id, submission, quota_of(request))
    except domain.InvalidInput as exc:
        SUBMISSIONS.labels("invalid").inc()
        return _form(request, target, values, errors=exc.errors, status=422)
    except actions.SpamRefused as exc:
        SUBMISSIONS.labels(exc.verdict.code).inc()
        found = exc.verdict
        errors = {found.field: found.message} if found.field else {}
        notice = None if found.field else found.message
        return _form(request, target, values, errors, notice=notice, status=found.status)
    except actions.DailyLimitReached as exc:
        SUBMISSIONS.labels(limits.CODE).inc()
        response = _form(request, target, values, notice=limits.message(exc.limit), status=429)
        response.headers["Retry-After"] = str(limits.seconds_until_tomorrow(datetime.now(UTC)))
        return response
    except actions.ArticleUnavailable:
        # Unpublished between the check above and the transaction.
        SUBMISSIONS.labels("article_unavailable").inc()
        return _unavailable(request)
    SUBMISSIONS.labels("stored").inc()
    raise web.HTTPSeeOther(f"{target.path}?{SENT_PARAM}=1", headers=NO_STORE)


def add_routes(app: web.Application) -> None:
    article_path = r"/tin/{id:\d{1,18}}/phan-hoi"
    app.router.add_get(article_path, article_form)
    app.router.add_post(article_path, article_submit)
    app.router.add_get("/gop-y", site_form)
    app.router.add_post("/gop-y", site_submit)
