"""The editors' desk: its home (/quan-tri) and the article list (/quan-tri/bai-viet), and
what every desk page of this service shares: who may open it, its CSRF token, how it is
rendered (admin_base.html, never cached) and how a refusal is shown on it.

Every page checks the role on the server: nobody signed in is sent to the login form
(and back here afterwards), a signed-in person without the role gets 403.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from services.articles import actions, domain, store
from services.articles.answers import optional_principal, problem_for
from services.articles.config import DESK_CSRF
from services.common import db
from services.common.auth import SESSION_COOKIE, token_from_request
from services.common.errors import Problem
from services.common.pages import render
from services.common.roles import ADMIN, Principal
from services.common.web import POOL

HOME = "/quan-tri"
ARTICLES = "/quan-tri/bai-viet"
NEW_ARTICLE = "/quan-tri/bai-viet/moi"
FEEDBACK_DESK = "/quan-tri/phan-hoi"
PRIVATE = "no-store"
# How many of each queue the home shows (a link leads to the whole list).
HOME_QUEUE = 8
STATE_LABELS = {state: name.capitalize() for state, name in domain.STATE_NAMES.items()}
# The list's filter by state: every state, the trash last (it is shown only when asked).
STATE_FILTERS = [s for s in domain.STATES if s != domain.DELETED] + [domain.DELETED]

routes = web.RouteTableDef()


# --- what every desk page shares ----------------------------------------------------------

WRITERS = domain.WRITERS
PUBLISHERS = domain.PUBLISHERS
ADMINS = (ADMIN,)
# Who the home is for: those who write, and moderators (the feedback waiting).
HOME_ROLES = (*domain.WRITERS, "moderator")


async def desk_principal(request: web.Request, roles: tuple[str, ...]) -> Principal:
    """The signed-in person if they hold one of `roles` (admins hold all); else a 303 to
    the login form (coming back here) or a 403."""
    principal = await optional_principal(request)
    if principal is None:
        # Back to this page; a form's post, to its section's page (the post itself
        # cannot be repeated by a link).
        back = request.path_qs if request.method == "GET" else _section(request.path)
        # Signing in leads to the home anyway: no ?next= for it.
        login = "/dang-nhap" if back == HOME else f"/dang-nhap?next={quote(back)}"
        raise web.HTTPSeeOther(login, headers={"Cache-Control": PRIVATE})
    if not principal.has_role(*roles):
        raise Problem(403, "forbidden", "Tài khoản của bạn không có quyền mở trang này.")
    return principal


def _section(path: str) -> str:
    """/quan-tri/chuyen-muc/3/xoa -> /quan-tri/chuyen-muc."""
    return "/".join(path.split("/")[:3])


def _session(request: web.Request) -> str:
    """What the CSRF token is bound to: the sign-in cookie, else the bearer token."""
    return request.cookies.get(SESSION_COOKIE) or token_from_request(request) or ""


def csrf_token(request: web.Request) -> str:
    return request.app[DESK_CSRF].token(_session(request))


def check_csrf(request: web.Request, given: object) -> None:
    """403 csrf_invalid (nothing changed) unless `given` is this session's token."""
    if not request.app[DESK_CSRF].check(
        _session(request), given if isinstance(given, str) else None
    ):
        raise Problem(
            403,
            "csrf_invalid",
            "Biểu mẫu không hợp lệ hoặc đã hết hạn, xin tải lại trang rồi thử lại.",
        )


async def desk_form(request: web.Request, roles: tuple[str, ...]) -> tuple[Principal, Any]:
    """The person posting a desk form (checked as for the page) and the form, once its
    CSRF token is checked (403 csrf_invalid otherwise, nothing changed)."""
    principal = await desk_principal(request, roles)
    form = await request.post()
    check_csrf(request, form.get("csrf"))
    return principal, form


def field(form: Any, name: str) -> str:
    """A form's text field, "" when absent or not text."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def desk_page(
    request: web.Request,
    template: str,
    principal: Principal,
    section: str,
    context: dict[str, Any],
    status: int = 200,
) -> web.Response:
    """A desk page: admin_base.html's menu with `section` marked, never cached."""
    response = render(
        request,
        template,
        {
            "principal": principal,
            "admin_section": section,
            "csrf": csrf_token(request),
            "state_labels": STATE_LABELS,
            **context,
        },
        status=status,
    )
    response.headers["Cache-Control"] = PRIVATE
    return response


def see_other(path: str, **query: str) -> web.HTTPSeeOther:
    """303 to a desk page, with `query` (what was done) in its address."""
    location = f"{path}?{urlencode(query)}" if query else path
    return web.HTTPSeeOther(location, headers={"Cache-Control": PRIVATE})


def refusal_text(refusal: domain.RefusalError) -> tuple[int, str]:
    """A refusal of the rules as a form shows it: its status and its Vietnamese words
    (each field's message when it names fields)."""
    problem = problem_for(refusal)
    messages = [e["message"] for e in problem.errors] or [problem.detail]
    return problem.status, " ".join(messages)


# --- home ---------------------------------------------------------------------------------


@routes.get(HOME)
async def home(request: web.Request) -> web.Response:
    """What concerns the signed-in person first: their drafts, what was sent back to them,
    what waits for their review (editors), what is scheduled next, the feedback waiting
    (moderators). "Most read today" shows when `most_read` is a non-empty list of
    (Article, views today) pairs, as store.most_read returns them for all time."""
    principal = await desk_principal(request, HOME_ROLES)
    writer = principal.has_role(*domain.WRITERS)
    publisher = domain.is_publisher(principal)
    own = None if publisher else principal.user_id
    context: dict[str, Any] = {"writer": writer, "publisher": publisher, "most_read": []}
    async with db.acquire(request.app[POOL]) as conn:
        if writer:
            context["drafts"] = await store.articles_in_state(
                conn, domain.DRAFT, author_id=principal.user_id, returned=False, limit=HOME_QUEUE
            )
            context["returned"] = await store.articles_in_state(
                conn, domain.DRAFT, author_id=principal.user_id, returned=True, limit=HOME_QUEUE
            )
            context["scheduled"] = await store.articles_in_state(
                conn, domain.SCHEDULED, author_id=own, limit=HOME_QUEUE
            )
            # An author's own articles waiting for review; an editor's whole queue.
            context["pending"] = await store.articles_in_state(
                conn, domain.PENDING, author_id=own, limit=HOME_QUEUE
            )
        if principal.has_role("moderator", *domain.PUBLISHERS):
            context["feedback_waiting"] = await store.feedback_waiting(conn)
    context["feedback_desk"] = FEEDBACK_DESK if principal.has_role("moderator") else None
    return desk_page(request, "desk/home.html", principal, "home", context)


# --- the article list ---------------------------------------------------------------------


def _filters(request: web.Request, principal: Principal) -> tuple[dict[str, str], Any]:
    """The list's query (?trang-thai=&chuyen-muc=&tac-gia=&q=&tu-ngay=&den-ngay=), as
    given (for the form and the links) and as checked (a UserInputError for a bad one)."""
    query = request.query
    given = {
        name: query.get(name, "").strip()[: domain.MAX_QUERY_LENGTH]
        for name in ("trang-thai", "chuyen-muc", "tac-gia", "q", "tu-ngay", "den-ngay")
    }
    given = {name: value for name, value in given.items() if value}
    status = given.get("trang-thai")
    if status is not None and status not in domain.STATES:
        raise domain.UserInputError("trang-thai", "Trạng thái không có trong danh sách.")
    return given, status


def _number(given: dict[str, str], name: str, message: str) -> int | None:
    raw = given.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise domain.UserInputError(name, message)
    return int(raw)


async def _article_filter(
    conn: Any, given: dict[str, str], status: str | None, principal: Principal
) -> store.ArticleFilter:
    category_id = _number(given, "chuyen-muc", "Chuyên mục không có trong danh sách.")
    category_ids = None
    if category_id is not None:
        categories = await store.list_categories(conn)
        chosen = next((c for c in categories if c.id == category_id), None)
        if chosen is None:
            raise domain.UserInputError("chuyen-muc", "Chuyên mục không có trong danh sách.")
        category_ids = domain.with_children(chosen, categories)
    author_id = _number(given, "tac-gia", "Người viết không có trong danh sách.")
    if not domain.is_publisher(principal):
        author_id = principal.user_id  # an author sees only their own articles
    first = domain.parse_day(given.get("tu-ngay"), "tu-ngay")
    last = domain.parse_day(given.get("den-ngay"), "den-ngay")
    if first and last and first > last:
        raise domain.UserInputError("den-ngay", "Ngày kết thúc phải sau ngày bắt đầu.")
    created_from, created_before = domain.day_range(first, last)
    terms = domain.search_terms(given.get("q", "").replace("\0", ""))
    return store.ArticleFilter(
        status=status,
        category_ids=category_ids,
        author_id=author_id,
        patterns=[domain.like_pattern(t) for t in terms],
        created_from=created_from,
        created_before=created_before,
    )


def _list_url(given: dict[str, str], **changes: str | None) -> str:
    query = {**given, **changes}
    query = {name: value for name, value in query.items() if value}
    return f"{ARTICLES}?{urlencode(query)}" if query else ARTICLES


@routes.get(ARTICLES)
async def article_list(request: web.Request) -> web.Response:
    """Every article (an author's own), newest first, filtered and paged; the trash only
    under its own filter, with a restore button."""
    principal = await desk_principal(request, WRITERS)
    publisher = domain.is_publisher(principal)
    page = domain.page_number(request.query.get("trang"))
    size = domain.DESK_PAGE_SIZE
    error, status = None, 200
    articles: list[Any] = []
    total = 0
    async with db.acquire(request.app[POOL]) as conn:
        categories = await store.list_categories(conn)
        names = await store.user_names(conn)
        counts = await store.state_counts(conn, None if publisher else principal.user_id)
        try:
            given, state = _filters(request, principal)
            wanted = await _article_filter(conn, given, state, principal)
        except domain.RefusalError as refused:
            given, state = {}, None
            status, error = refusal_text(refused)
        else:
            articles, total = await store.desk_articles(
                conn, wanted, limit=size, offset=(page - 1) * size
            )
    pages = max(1, math.ceil(total / size))
    context = {
        "articles": articles,
        "total": total,
        "given": given,
        "state": state,
        "state_filters": STATE_FILTERS,
        "counts": counts,
        "all_count": sum(n for s, n in counts.items() if s != domain.DELETED),
        "categories": categories,
        "authors": names if publisher else {},
        "author_names": names,
        "publisher": publisher,
        "error": error,
        "state_url": lambda s: _list_url(given, **{"trang-thai": s, "trang": None}),
        "page": page,
        "pages": pages,
        "prev_url": _list_url(given, trang=str(page - 1)) if page > 1 else None,
        "next_url": _list_url(given, trang=str(page + 1)) if page < pages else None,
        "done": request.query.get("da") == "khoi-phuc",
        "new_article": NEW_ARTICLE,
    }
    return desk_page(request, "desk/list.html", principal, "articles", context, status=status)


@routes.post(r"/quan-tri/bai-viet/{id:\d{1,18}}/khoi-phuc")
async def restore_article(request: web.Request) -> web.Response:
    """Out of the trash (the workflow's restore step: editors and admins), back to the
    trash list."""
    principal, _ = await desk_form(request, WRITERS)
    await actions.take_step(
        request.app[POOL],
        principal,
        int(request.match_info["id"]),
        "restore",
        domain.StepInput(),
    )
    raise see_other(ARTICLES, **{"trang-thai": domain.DELETED, "da": "khoi-phuc"})
