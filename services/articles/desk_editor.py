"""The editors' desk: writing an article, its preview and revisions, and the static pages.

The pages are server-rendered forms; /static/editor.js turns the body's textarea into the
vendored rich text editor (Jodit) and talks to the JSON API (/api/v1/...) with fetch, the
session cookie authenticating it. Every page checks the role on the server: writers
(authors, editors, admins) reach articles, an author only their own; page managers
(editors, admins) reach the static pages; nobody else. What a person may do with an
article (save, submit, publish...) is decided by domain.can_edit and domain.TRANSITIONS,
the same rules the API applies when the button is pressed.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web

from services.articles import domain, store
from services.articles.answers import optional_principal
from services.articles.domain import Article, Category, Revision
from services.common import db
from services.common.errors import Problem
from services.common.pages import render
from services.common.roles import Principal
from services.common.web import POOL

routes = web.RouteTableDef()

# The vendored editor (scripts/vendor_editor.sh puts it there).
EDITOR_ASSETS = "/static/vendor/jodit-4.15.13"
# Seconds after the last change before a draft saves itself.
AUTOSAVE_SECONDS = 30
NO_STORE = "no-store"
# The workflow's steps as the editor's buttons offer them, in the order shown.
STEPS = ("submit", "publish", "schedule", "return", "unpublish")


def _private(response: web.Response) -> web.Response:
    response.headers["Cache-Control"] = NO_STORE
    return response


async def _signed_in(request: web.Request) -> Principal:
    """The signed-in person; anyone else goes to the login form and comes back here."""
    principal = await optional_principal(request)
    if principal is None:
        raise web.HTTPSeeOther(
            "/dang-nhap?next=" + quote(request.path_qs, safe="/"),
            headers={"Cache-Control": NO_STORE},
        )
    return principal


async def _writer(request: web.Request) -> Principal:
    principal = await _signed_in(request)
    if not principal.has_role(*domain.WRITERS):
        raise Problem(403, "forbidden", "Tài khoản của bạn không có quyền soạn bài viết.")
    return principal


async def _page_manager(request: web.Request) -> Principal:
    principal = await _signed_in(request)
    if not domain.can_manage_pages(principal):
        raise Problem(403, "forbidden", "Tài khoản của bạn không có quyền sửa các trang tĩnh.")
    return principal


def _article_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if len(raw) > 18:
        raise domain.ArticleNotFoundError()
    return int(raw)


async def _visible_article(conn: Any, principal: Principal, article_id: int) -> Article:
    """The article if this person may see it at the desk (an author: their own only)."""
    article = await store.get_article(conn, article_id)
    if article is None or not domain.can_see(principal, article):
        raise domain.ArticleNotFoundError()
    if not domain.is_publisher(principal) and article.author_id != principal.user_id:
        raise domain.ArticleNotFoundError()  # an author's desk has their own articles only
    return article


def allowed_steps(principal: Principal, article: Article | None) -> list[str]:
    """The workflow buttons this person may press on this article now."""
    if article is None:
        # A new article: it is saved first, then submitted (or published by an editor).
        return ["publish", "schedule"] if domain.is_publisher(principal) else ["submit"]
    allowed = []
    for step in STEPS:
        if step == "publish" and article.status == domain.PUBLISHED:
            continue  # a published article's saved changes are public already
        try:
            domain.check_transition(principal, article, step)
        except (domain.ActionForbiddenError, domain.InvalidTransitionError):
            continue
        allowed.append(step)
    return allowed


def category_choices(categories: list[Category]) -> list[tuple[Category, bool]]:
    """The categories in menu order, each parent followed by its children (True: a child,
    shown indented)."""
    parents = [c for c in categories if c.parent_id is None]
    choices: list[tuple[Category, bool]] = []
    for parent in parents:
        choices.append((parent, False))
        choices += [(c, True) for c in categories if c.parent_id == parent.id]
    return choices


async def _editor_context(
    conn: Any, principal: Principal, article: Article | None
) -> dict[str, Any]:
    pictures = await store.pictures(
        conn, [article.image_id] if article and article.image_id else []
    )
    return {
        "principal": principal,
        "admin_section": "articles" if article else "new-article",
        "article": article,
        "categories": category_choices(await store.list_categories(conn)),
        "tags": await store.list_tags(conn),
        "topics": await store.list_topics(conn),
        "documents": await store.documents_of(conn, article.id) if article else [],
        "picture": pictures.get(article.image_id) if article and article.image_id else None,
        "can_edit": article is None or domain.can_edit(principal, article),
        "steps": allowed_steps(principal, article),
        "state_names": domain.STATE_NAMES,
        "editor_assets": EDITOR_ASSETS,
        "autosave_seconds": AUTOSAVE_SECONDS,
    }


@routes.get("/quan-tri/bai-viet/moi")
async def new_article(request: web.Request) -> web.Response:
    principal = await _writer(request)
    async with db.acquire(request.app[POOL]) as conn:
        context = await _editor_context(conn, principal, None)
    return _private(render(request, "desk/editor.html", context))


@routes.get(r"/quan-tri/bai-viet/{id:\d+}")
async def edit_article(request: web.Request) -> web.Response:
    principal = await _writer(request)
    async with db.acquire(request.app[POOL]) as conn:
        article = await _visible_article(conn, principal, _article_id(request))
        context = await _editor_context(conn, principal, article)
    return _private(render(request, "desk/editor.html", context))


# --- preview ------------------------------------------------------------------------------


@routes.get(r"/quan-tri/bai-viet/{id:\d+}/xem-truoc")
async def preview_article(request: web.Request) -> web.Response:
    """The public article template with the saved draft: no view is counted, marked as a
    preview, never cached, never indexed."""
    principal = await _writer(request)
    async with db.acquire(request.app[POOL]) as conn:
        article = await _visible_article(conn, principal, _article_id(request))
        context = {
            "article": article,
            "views": await store.views_of(conn, article.id),
            "comments": await store.feedback_for(conn, article.id),
            "documents": await store.documents_of(conn, article.id),
            "categories": await store.list_categories(conn),
            "pictures": await store.pictures(conn, [article.image_id] if article.image_id else []),
            "preview": True,
        }
    return _private(render(request, "desk/preview.html", context))


# --- revisions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ComparedLine:
    """One row of a side-by-side comparison: the old line and the new one (None where a
    side has no line there), and whether they differ."""

    old: str | None
    new: str | None
    changed: bool


def side_by_side(old: list[str], new: list[str]) -> list[ComparedLine]:
    """The two texts line by line, equal lines beside each other, changes marked."""
    rows: list[ComparedLine] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [ComparedLine(line, line, False) for line in old[i1:i2]]
            continue
        left, right = old[i1:i2], new[j1:j2]
        for k in range(max(len(left), len(right))):
            rows.append(
                ComparedLine(
                    left[k] if k < len(left) else None,
                    right[k] if k < len(right) else None,
                    True,
                )
            )
    return rows


def compare(old: Revision, new: Revision) -> dict[str, list[ComparedLine]]:
    fields = {
        "Tiêu đề": ([old.title], [new.title]),
        "Tóm tắt": ([old.summary], [new.summary]),
        "Tác giả": ([domain.make_byline(old.author_name, old.unit)],
                    [domain.make_byline(new.author_name, new.unit)]),
        "Nội dung": (domain.body_lines(old.body_html), domain.body_lines(new.body_html)),
    }  # fmt: skip
    return {name: side_by_side(a, b) for name, (a, b) in fields.items()}


def _revision_choice(raw: str | None, numbers: list[int]) -> int | None:
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        return None
    return int(raw) if int(raw) in numbers else None


@routes.get(r"/quan-tri/bai-viet/{id:\d+}/phien-ban")
async def revisions_page(request: web.Request) -> web.Response:
    """The article's revisions; ?a=&b= compares two side by side (the two newest by
    default); whoever may edit the article may restore one."""
    principal = await _writer(request)
    async with db.acquire(request.app[POOL]) as conn:
        article = await _visible_article(conn, principal, _article_id(request))
        revisions = await store.list_revisions(conn, article.id)
        numbers = [r.number for r in revisions]
        a = _revision_choice(request.query.get("a"), numbers)
        b = _revision_choice(request.query.get("b"), numbers)
        if a is None or b is None:
            a, b = (numbers[1], numbers[0]) if len(numbers) > 1 else (None, None)
        old = await store.get_revision(conn, article.id, a) if a else None
        new = await store.get_revision(conn, article.id, b) if b else None
    context = {
        "principal": principal,
        "admin_section": "articles",
        "article": article,
        "revisions": revisions,
        "a": a,
        "b": b,
        "comparison": compare(old, new) if old and new else None,
        "can_restore": domain.can_edit(principal, article) and article.status != domain.DELETED,
    }
    return _private(render(request, "desk/revisions.html", context))


# --- static pages -------------------------------------------------------------------------

PAGE_STATUS_NAMES = {
    domain.DRAFT: "Bản nháp",
    domain.PUBLISHED: "Đã đăng",
    domain.PAGE_DELETED: "Trong thùng rác",
    domain.PAGE_DEFAULT: "Mặc định (chưa viết)",
}


@routes.get("/quan-tri/trang")
async def pages_list(request: web.Request) -> web.Response:
    principal = await _page_manager(request)
    async with db.acquire(request.app[POOL]) as conn:
        pages = domain.with_default_pages(await store.list_pages(conn))
    context = {
        "principal": principal,
        "admin_section": "pages",
        "pages": pages,
        "status_names": PAGE_STATUS_NAMES,
        "path_of": domain.static_page_path,
    }
    return _private(render(request, "desk/pages.html", context))


@routes.get("/quan-tri/trang/{slug}")
async def page_editor(request: web.Request) -> web.Response:
    principal = await _page_manager(request)
    slug = request.match_info["slug"]
    async with db.acquire(request.app[POOL]) as conn:
        stored = await store.get_page(conn, slug) if domain.is_slug(slug) else None
    page = stored or domain.default_page(slug)
    if page is None:
        raise domain.PageNotFoundError()
    context = {
        "principal": principal,
        "admin_section": "pages",
        "page": page,
        "status_names": PAGE_STATUS_NAMES,
        "public_path": domain.static_page_path(page.slug),
        "editor_assets": EDITOR_ASSETS,
        "autosave_seconds": AUTOSAVE_SECONDS,
    }
    return _private(render(request, "desk/page_editor.html", context))
