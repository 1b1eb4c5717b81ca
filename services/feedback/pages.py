"""The service's HTML pages: readers' forms, and the moderators' page.

Readers' forms: feedback on an article (/tin/{id}/phan-hoi) and on the site (/gop-y). GET
shows the form with a signed timestamp and a random idempotency token; POST checks it
(spam rules, then the fields), stores the case and answers the confirmation with its
receipt code. A second click, or a reload of the confirmation, posts the same token again:
it stores nothing and shows the same case and code (so there is no redirect to follow).

The case's status by its receipt code (/tra-cuu-phan-hoi?ma=), and the public questions
and answers (/hoi-dap).

The moderation desk (/quan-tri/phan-hoi): the queue of cases and a page per case, with
every moderation action and its history.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import asyncpg
from aiohttp import web

from services.common import db
from services.common.auth import (
    PRINCIPAL,
    Principal,
    principal_from_request,
    token_from_request,
)
from services.common.errors import Problem
from services.common.pages import render
from services.common.vietnam import VIETNAM
from services.common.web import POOL, client_address
from services.feedback import actions, answers, domain, receipts, spam, store
from services.feedback.config import CONFIG, FORM_SIGNER, LOOKUP_LIMITER

routes = web.RouteTableDef()

ARTICLE_FORM = r"/tin/{id:\d{1,18}}/phan-hoi"
SITE_FORM = "/gop-y"
HONEYPOT_FIELD = "website"
TOKEN_FIELD = "form_token"
IDEMPOTENCY_FIELD = "idempotency_token"
SENT_PARAM = "da-gui"
FIELDS = ("author_name", "email", "phone", "title", "body")
THANKS = "Cảm ơn bạn đã gửi ý kiến; ý kiến sẽ được đăng sau khi được kiểm duyệt."
LOOKUP_PAGE = receipts.LOOKUP_PATH
QUESTIONS_PAGE = "/hoi-dap"
QUESTIONS_PER_PAGE = 20
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
        return f"/tin/{self.article_id}/phan-hoi" if self.article is not None else SITE_FORM

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
        "idempotency_field": IDEMPOTENCY_FIELD,
        "idempotency_token": receipts.new_form_token(),
        "retention_days": request.app[CONFIG].contact_retention_days,
        "lookup_page": LOOKUP_PAGE,
        "questions_page": QUESTIONS_PAGE,
        "limits": {
            "name_max": domain.NAME_MAX,
            "body_min": domain.BODY_MIN,
            "body_max": domain.BODY_MAX,
            "email_max": domain.EMAIL_MAX,
            "phone_max": domain.PHONE_MAX,
            "title_max": domain.TITLE_MAX,
        },
    }
    return _page(request, "form.html", context, status=status)


async def _article_target(request: web.Request) -> Target | None:
    async with db.acquire(request.app[POOL]) as conn:
        article = await store.open_article(conn, int(request.match_info["id"]))
    return Target(article) if article is not None else None


@routes.get(ARTICLE_FORM)
async def article_form(request: web.Request) -> web.Response:
    target = await _article_target(request)
    if target is None:
        return _unavailable(request)
    return _show(request, target)


@routes.post(ARTICLE_FORM)
async def article_submit(request: web.Request) -> web.Response:
    target = await _article_target(request)
    if target is None:
        answers.refused_submission(domain.ArticleUnavailable(int(request.match_info["id"])))
        return _unavailable(request)
    return await _submit(request, target)


@routes.get(SITE_FORM)
async def site_form(request: web.Request) -> web.Response:
    return _show(request, Target(None))


@routes.post(SITE_FORM)
async def site_submit(request: web.Request) -> web.Response:
    return await _submit(request, Target(None))


def _show(request: web.Request, target: Target) -> web.Response:
    if SENT_PARAM in request.query:  # the address forms redirected to before receipts
        return _thanks(request, target, None)
    return _form(request, target)


def _thanks(request: web.Request, target: Target, receipt: str | None) -> web.Response:
    context = {
        "target": target,
        "thanks": THANKS,
        "receipt": receipts.grouped(receipt) if receipt else None,
        "lookup_page": LOOKUP_PAGE,
    }
    return _page(request, "thanks.html", context)


async def _read_form(request: web.Request) -> Any:
    """The posted form's fields. A browser sends the form in UTF-8 (accept-charset); bytes
    that are not UTF-8 come from something else, and get a clear 400, not an error page."""
    try:
        return await request.post()
    except UnicodeDecodeError as exc:
        raise Problem(
            400, "invalid_form", "Dữ liệu gửi lên không phải văn bản UTF-8 hợp lệ."
        ) from exc


def _text(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""  # a file part is no text


async def _submit(request: web.Request, target: Target) -> web.Response:
    form = await _read_form(request)
    values = {name: _text(form, name) for name in FIELDS}
    verdict = spam.check_honeypot(_text(form, HONEYPOT_FIELD)) or request.app[FORM_SIGNER].check(
        _text(form, TOKEN_FIELD), target.key, time.time()
    )
    if verdict is not None:
        refusal = domain.SpamRefused(verdict)
        await answers.record_refusal(request, refusal, target.article_id)
        problem = answers.refused_submission(refusal)
        return _refused_form(request, target, values, problem)
    key_hash = receipts.form_key_hash(_text(form, IDEMPOTENCY_FIELD))
    try:
        case = await answers.submit(request, target.article_id, dict(values), key_hash=key_hash)
    except Problem as problem:
        if problem.code == answers.ARTICLE_UNAVAILABLE:
            return _unavailable(request)  # unpublished since the form was shown
        return _refused_form(request, target, values, problem)
    return _thanks(request, target, case.receipt)


def _refused_form(
    request: web.Request, target: Target, values: dict[str, str], problem: Problem
) -> web.Response:
    """The form again with the reader's values and why it was refused: beside the fields
    concerned, else as a notice above the form."""
    errors = {error["field"]: error["message"] for error in problem.errors}
    notice = None if errors else problem.detail
    response = _form(request, target, values, errors, notice=notice, status=problem.status)
    response.headers.update(problem.headers)
    return response


# --- the case by its receipt code (/tra-cuu-phan-hoi?ma=) -----------------------------------


@routes.get(LOOKUP_PAGE)
async def lookup(request: web.Request) -> web.Response:
    """The form to type a receipt code, and with ?ma= the case's status and answer. Every
    lookup counts against the visitor's rate limit (lookups.LookupLimiter), found or not."""
    typed = request.query.get("ma", "")[:64]
    context: dict[str, Any] = {
        "typed": typed,
        "case": None,
        "error": None,
        "status": 200,
        "organisation": request.app[CONFIG].organisation_name,
    }
    if typed.strip():
        retry = request.app[LOOKUP_LIMITER].take(client_address(request), time.monotonic())
        if retry is not None:
            context.update(error=LOOKUP_TOO_MANY, status=429)
            response = _page(request, "lookup.html", context, status=429)
            response.headers["Retry-After"] = str(retry)
            return response
        context.update(await _case_context(request, typed))
    return _page(request, "lookup.html", context, status=context["status"])


LOOKUP_TOO_MANY = "Bạn đã tra cứu quá nhiều lần. Xin vui lòng thử lại sau ít phút."
LOOKUP_MALFORMED = "Mã tra cứu gồm 10 chữ và số, ví dụ K7QM-4XTR-9B. Xin kiểm tra lại."
LOOKUP_UNKNOWN = "Không tìm thấy ý kiến nào có mã này. Xin kiểm tra lại mã."


async def _case_context(request: web.Request, typed: str) -> dict[str, Any]:
    code = receipts.normalise(typed)
    if code is None:
        return {"error": LOOKUP_MALFORMED, "status": 422}
    async with db.acquire(request.app[POOL]) as conn:
        case = await store.case_by_receipt(conn, receipts.code_hash(code))
    if case is None:
        return {"error": LOOKUP_UNKNOWN, "status": 404}
    status = domain.reader_status(case["status"], case["reply_body"] is not None)
    return {
        "case": case,
        "code": receipts.grouped(code),
        "reader_status": status,
        "status_name": domain.READER_STATUS_NAMES[status],
    }


# --- public questions and answers (/hoi-dap) -------------------------------------------------


@routes.get(QUESTIONS_PAGE)
async def questions(request: web.Request) -> web.Response:
    raw_page = request.query.get("trang", "1")
    number = int(raw_page) if _is_number(raw_page) and int(raw_page) >= 1 else 1
    async with db.acquire(request.app[POOL]) as conn:
        total = await store.count_questions(conn)
        items = await store.questions(conn, QUESTIONS_PER_PAGE, (number - 1) * QUESTIONS_PER_PAGE)
    pages = max(1, -(-total // QUESTIONS_PER_PAGE))
    context = {
        "items": items,
        "page": number,
        "pages": pages,
        "page_path": QUESTIONS_PAGE,
        "organisation": request.app[CONFIG].organisation_name,
    }
    response = render(request, "questions.html", context, status=200 if number <= pages else 404)
    # Public content: cacheable briefly, like the articles' pages.
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


# --- the moderation desk (/quan-tri/phan-hoi) -----------------------------------------------
# The queue (filters by status, target and text; oldest first, with each case's age) and a
# page per case with every action and its history, for moderators signed in with the
# bantin_session cookie. Its forms carry a CSRF token bound to the session, since the
# cookie alone would let another site post them; each action answers 303 back to a page.

MODERATION_PAGE = "/quan-tri/phan-hoi"
CASE_PAGE = MODERATION_PAGE + r"/{id:\d{1,18}}"
QUEUE_SIZE = 50
ALL_STATUSES = "tat-ca"
OTHER_REASON = "khac"
DONE = {
    "duyet": "Đã duyệt ý kiến.",
    "tu-choi": "Đã từ chối ý kiến.",
    "rut-lai": "Đã rút lại ý kiến; tên và nội dung đã được xoá.",
    "sua": "Đã lưu nội dung đã sửa.",
    "tra-loi": "Đã lưu câu trả lời.",
    "dang-hoi-dap": "Đã đăng lên trang Hỏi – Đáp.",
    "go-hoi-dap": "Đã gỡ khỏi trang Hỏi – Đáp.",
}
# One command of each kind, only to ask domain.MODERATION which statuses allow it.
EXAMPLE_COMMANDS: dict[str, domain.Command] = {
    "duyet": domain.Approve(),
    "tu-choi": domain.Reject(),
    "rut-lai": domain.Withdraw(),
    "sua": domain.Edit(None, None),
    "tra-loi": domain.Reply("", ""),
}
TARGET_NAMES = {"article": "Phản hồi bản tin", "site": "Góp ý cho trang"}
# What a status is called on the desk (a status added to domain.Status shows under its own
# value until domain.STATUS_NAMES names it).
STATUS_LABELS = {
    **{status: name[0].upper() + name[1:] for status, name in domain.STATUS_NAMES.items()},
    domain.Status.HELD: "Tạm giữ",  # a badge: the hold's reasons are shown beside it
}
SPAM_STATS_PAGE = MODERATION_PAGE + "/thong-ke-chan-thu-rac"
SPAM_STATS_DAYS = (7, 30, 90)
OUTCOME_NAMES = {"refused": "Bị từ chối", "held": "Bị tạm giữ"}


async def _moderator(request: web.Request, back: str = MODERATION_PAGE) -> Principal:
    try:
        principal = await principal_from_request(request)
    except Problem as problem:
        if problem.status == 401:
            # Articles renews the access token from the sign-in session and sends the
            # person back (or shows the sign-in form when the session is gone).
            raise web.HTTPSeeOther(f"/dang-nhap/gia-han?next={quote(back)}") from problem
        raise
    if not principal.has_role("moderator"):
        raise Problem(403, "forbidden", "Bạn không có quyền kiểm duyệt ý kiến bạn đọc.")
    return principal


def _is_number(raw: str) -> bool:
    return raw.isascii() and raw.isdigit() and len(raw) <= 18


def _session(request: web.Request) -> str:
    """What the desk forms' CSRF token is bound to: the sign-in session the access token
    was renewed from (so a form stays good when the token is renewed while it is open),
    else the token itself."""
    principal = request.get(PRINCIPAL)
    if principal is not None and principal.session_id is not None:
        return f"session:{principal.session_id}"
    return token_from_request(request) or ""


def _desk_page(
    request: web.Request,
    template: str,
    principal: Principal,
    context: dict[str, Any],
    status: int = 200,
) -> web.Response:
    now = datetime.now(UTC)
    response = render(
        request,
        template,
        {
            "principal": principal,
            "can_moderate": True,
            "admin_section": "feedback",
            "csrf": request.app[FORM_SIGNER].csrf_token(_session(request)),
            "page_path": MODERATION_PAGE,
            "age": lambda moment: domain.age_text(moment, now),
            "status_labels": STATUS_LABELS,
            "target_names": TARGET_NAMES,
            "reasons": domain.REJECT_REASONS,
            "other_reason": OTHER_REASON,
            "action_names": domain.ACTION_NAMES,
            "reason_label": spam.reason_label,
            "spam_stats_page": SPAM_STATS_PAGE,
            "done": DONE.get(request.query.get("da", "")),
            **context,
        },
        status=status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@dataclass(frozen=True)
class QueueQuery:
    """The queue's filters and page as the page's address holds them."""

    status: str  # a status value, ALL_STATUSES, or "" for the cases awaiting a moderator
    target: str  # "article", "site" or ""
    text: str
    after: str = ""  # the page: the last id of the page before it ("" for the first)

    @classmethod
    def of(cls, fields: Any) -> QueueQuery:
        """From the page's query string, or the hidden fields a queue's form carries (so an
        action taken there returns to the same filters)."""
        statuses = {s.value for s in domain.Status}
        status = _text(fields, "trang-thai")
        target = _text(fields, "loai")
        after = _text(fields, "sau")
        return cls(
            status if status in statuses or status == ALL_STATUSES else "",
            target if target in TARGET_NAMES else "",
            " ".join(_text(fields, "q").split())[:200].replace("\x00", ""),
            after if _is_number(after) else "",
        )

    def filters(self) -> store.Filters:
        statuses: tuple[domain.Status, ...] | None
        if self.status == ALL_STATUSES:
            statuses = None
        elif self.status:
            statuses = (domain.Status(self.status),)
        else:
            statuses = tuple(domain.awaiting_moderation())
        return store.Filters(statuses, self.target or None, self.text or None)

    def url(self, **extra: str) -> str:
        params = {
            "trang-thai": self.status,
            "loai": self.target,
            "q": self.text,
            "sau": self.after,
            **extra,
        }
        query = urlencode({key: value for key, value in params.items() if value})
        return f"{MODERATION_PAGE}?{query}" if query else MODERATION_PAGE


@routes.get(MODERATION_PAGE)
async def moderation_page(request: web.Request) -> web.Response:
    """The queue: oldest first, QUEUE_SIZE a page (?sau= the last id of the page before)."""
    principal = await _moderator(request)
    query = QueueQuery.of(request.query)
    after = int(query.after) if query.after else None
    async with db.acquire(request.app[POOL]) as conn:
        items = await store.search(
            conn, query.filters(), QUEUE_SIZE, oldest_first=True, cursor=after
        )
    next_page = query.url(sau=str(items[-1]["id"])) if len(items) == QUEUE_SIZE else None
    context = {
        "items": items,
        "query": query,
        "statuses": [s.value for s in domain.Status],
        "awaiting": [s.value for s in domain.awaiting_moderation()],
        "all_statuses": ALL_STATUSES,
        "next_page": next_page,
        "today": datetime.now(VIETNAM).date().isoformat(),
    }
    return _desk_page(request, "moderation.html", principal, context)


async def _case(
    request: web.Request,
    principal: Principal,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    item_id = int(request.match_info["id"])
    async with db.acquire(request.app[POOL]) as conn:
        item = await store.get(conn, item_id)
        history = await store.history(conn, item_id) if item is not None else []
    if item is None:
        raise answers.problem_for(domain.FeedbackNotFound(item_id))
    allowed = {
        slug: domain.MODERATION[type(command)].allowed_from
        for slug, command in EXAMPLE_COMMANDS.items()
    }
    context = {
        "item": item,
        "history": history,
        "can": {slug: item["status"] in statuses for slug, statuses in allowed.items()},
        "can_question": _can_question(item),
        "errors": errors or {},
        "values": values or {},
    }
    return _desk_page(request, "moderation_case.html", principal, context, status=status)


@routes.get(CASE_PAGE)
async def case_page(request: web.Request) -> web.Response:
    """One case: the reader's words (and the original, if edited), every action its status
    allows, and who did what when."""
    principal = await _moderator(request, back=request.path)
    return await _case(request, principal)


def _reject_reason(form: Any) -> str | None:
    """The reason picked from the list, or the one written for OTHER_REASON."""
    picked = _text(form, "ly_do")
    if picked in domain.REJECT_REASONS:
        return picked
    return domain.check_reject_reason(_text(form, "ly_do_khac"))


def _command(slug: str, form: Any, request: web.Request) -> domain.Command:
    """The command a desk form asks for; InvalidInput names the faulty field."""
    match slug:
        case "duyet":
            return domain.Approve()
        case "tu-choi":
            reason = _reject_reason(form)
            if reason is None:
                raise domain.InvalidInput({"ly_do": "Xin chọn hoặc ghi lý do từ chối."})
            return domain.Reject(reason)
        case "rut-lai":
            return domain.Withdraw()
        case "sua":
            return domain.check_edit(_text(form, "author_name"), _text(form, "body"))
        case _:
            try:
                text = domain.check_reply(_text(form, "reply"))
            except domain.InvalidInput as refused:
                # The desk's reply box is "reply" (the edit form has its own "body").
                raise domain.InvalidInput({"reply": refused.errors["body"]}) from refused
            return answers.reply_command(request, text)


def _can_question(item: asyncpg.Record) -> bool:
    """Whether the case page offers "Đăng lên Hỏi – Đáp" (an approved, answered site
    suggestion; the same rule store.set_public_qa keeps) or "Gỡ" (one shown there)."""
    answered = item["status"] == domain.Status.APPROVED and item["reply_body"] is not None
    return item["target"] == "site" and (answered or item["public_qa"])


async def _desk_form(request: web.Request) -> tuple[Principal, Any]:
    """The moderator posting a desk form, and the form once its CSRF token is checked."""
    principal = await _moderator(request)
    form = await _read_form(request)
    if not request.app[FORM_SIGNER].check_csrf(_session(request), _text(form, "csrf") or None):
        raise Problem(
            403,
            "csrf_invalid",
            "Biểu mẫu không hợp lệ hoặc đã hết hạn, xin tải lại trang rồi thử lại.",
        )
    return principal, form


def _back(request: web.Request, form: Any, slug: str) -> web.HTTPSeeOther:
    """303 to the case's page (a form there says ve=ho-so), else to the queue with the
    filters it was showing."""
    if _text(form, "ve") == "ho-so":
        return web.HTTPSeeOther(f"{MODERATION_PAGE}/{request.match_info['id']}?da={slug}")
    return web.HTTPSeeOther(QueueQuery.of(form).url(da=slug))


@routes.post(CASE_PAGE + "/{action:duyet|tu-choi|rut-lai|sua|tra-loi}")
async def moderate(request: web.Request) -> web.Response:
    principal, form = await _desk_form(request)
    slug = request.match_info["action"]
    try:
        command = _command(slug, form, request)
    except domain.InvalidInput as refused:
        values = {
            name: _text(form, name) for name in ("author_name", "body", "reply", "ly_do_khac")
        }
        return await _case(request, principal, refused.errors, values, status=422)
    await answers.moderate(request, command)
    raise _back(request, form, slug)


@routes.post(CASE_PAGE + "/{action:dang-hoi-dap|go-hoi-dap}")
async def show_question(request: web.Request) -> web.Response:
    """Show an approved, answered site suggestion on /hoi-dap, or stop showing it."""
    principal, form = await _desk_form(request)
    slug = request.match_info["action"]
    item_id = int(request.match_info["id"])
    public = slug == "dang-hoi-dap"
    try:
        await actions.set_public_question(request.app[POOL], item_id, public, principal)
    except (domain.FeedbackNotFound, domain.NotForQuestions) as refusal:
        raise answers.problem_for(refusal) from refusal
    raise _back(request, form, slug)


@routes.get(SPAM_STATS_PAGE)
async def spam_stats_page(request: web.Request) -> web.Response:
    """Refused and held submissions of the last ?ngay= days (7, 30 or 90; 30 by default)
    counted by reason and target kind: the data of GET /api/v1/feedback/spam-stats."""
    principal = await _moderator(request, back=SPAM_STATS_PAGE)
    raw_days = request.query.get("ngay", "")
    days = int(raw_days) if _is_number(raw_days) and int(raw_days) in SPAM_STATS_DAYS else 30
    since = datetime.now(VIETNAM).date() - timedelta(days=days - 1)
    async with db.acquire(request.app[POOL]) as conn:
        counts = await store.spam_counts_since(conn, since)
    context = {
        "counts": counts,
        "days": days,
        "day_choices": SPAM_STATS_DAYS,
        "since": since,
        "total": sum(row["count"] for row in counts),
        "outcome_names": OUTCOME_NAMES,
    }
    return _desk_page(request, "spam_stats.html", principal, context)
