"""The JSON API: access tokens, categories, articles, images, static pages, and the
administration of users (admins only).

Handlers parse and check the request, call an action (services/articles/actions.py) or a
store read, and render. Errors are application/problem+json (services/common/errors.py);
a refusal of the rules (domain.RefusalError) that a handler lets through is answered by
answers.problem_for, through the app's refusal middleware.

No change of users may leave the site without an enabled admin (409 last_admin, nothing
written). Disabling a user, or taking a role away, ends their current token in articles at
once (login.active_check); signing in is refused to a disabled user.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import BadHttpMessage

from services.articles import actions, domain, login, sessions, store
from services.articles.answers import optional_principal
from services.articles.config import ISSUER, THROTTLE_SECRET
from services.articles.domain import (
    Article,
    Category,
    PageRevision,
    RefusalError,
    Revision,
    StaticPage,
    Tag,
    Topic,
    User,
)
from services.common import db
from services.common.auth import PRINCIPAL, require_role
from services.common.errors import (
    Problem,
    check_input,
    input_validator,
    invalid_input,
    query_int,
    read_json,
)
from services.common.roles import ADMIN, ROLES
from services.common.vietnam import iso_time
from services.common.web import POOL, client_address

# The app's body limit (MAX_BODY_BYTES, 64 KiB by default) fits logins and categories;
# an article's HTML may be longer, so its routes read with this larger limit.
ARTICLE_BODY_MAX_BYTES = 512 * 1024
MAX_LIST_LIMIT = 100
DEFAULT_LIST_LIMIT = 20

routes = web.RouteTableDef()


def _text(max_length: int, *, required: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": max_length}
    if required:
        schema.update(minLength=1, pattern=r"\S")
    return schema


def _id(nullable: bool = False) -> dict[str, Any]:
    # Postgres' bigint: a larger number is no row's id, and no query may fail on it.
    return {
        "type": ["integer", "null"] if nullable else "integer",
        "minimum": 1,
        "maximum": 2**63 - 1,
    }


SLUG: dict[str, Any] = {
    "type": "string",
    "maxLength": domain.SLUG_MAX_LENGTH,
    "pattern": r"^[a-z0-9]+(-[a-z0-9]+)*$",
}
ARTICLE_PROPERTIES: dict[str, Any] = {
    "title": _text(300, required=True),
    "summary": _text(1000),
    "body_html": _text(ARTICLE_BODY_MAX_BYTES, required=True),
    "author_name": _text(200),
    "unit": _text(200),
    "byline": {
        **_text(200),
        "description": "older form: taken as author_name (send it or author_name and unit)",
    },
    "source": _text(300),
    "category_id": _id(),
    "image_id": _id(nullable=True),
    "image_caption": _text(500),
    "image_alt": _text(500),
    # Taxonomy: every tag by name or slug (a name no tag has yet makes a new tag; the
    # whole list replaces the article's tags), and a topic's id or null.
    "tags": {
        "type": "array",
        "maxItems": domain.MAX_TAGS,
        "items": _text(domain.TAG_NAME_MAX_LENGTH, required=True),
        "description": (
            "tag names or slugs; the list replaces the article's tags, and a name no tag "
            "has yet creates the tag"
        ),
    },
    "topic_id": _id(nullable=True),
}
ARTICLE_CREATE = input_validator(
    {
        "type": "object",
        "required": ["title", "summary", "body_html", "category_id"],
        "additionalProperties": False,
        "properties": {
            **ARTICLE_PROPERTIES,
            "imported_views": {
                "type": "integer",
                "minimum": 0,
                "maximum": 2**53 - 1,
                "description": (
                    "editors and admins only (an author gets 403): the views the article had"
                    " on an earlier site; its events carry them, and the counter starts the"
                    " article's total there once (a later change never resets it)"
                ),
            },
        },
    }
)
ARTICLE_PATCH = input_validator(
    {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        # "version": the version the editor started from; a newer one is a 409.
        "properties": {**ARTICLE_PROPERTIES, "version": _id()},
    }
)
_TIME_INPUT = {
    "type": "string",
    "maxLength": 64,
    "description": "ISO 8601 with its offset, e.g. 2025-03-01T08:00:00+07:00",
}
ARTICLE_RETURN = input_validator(
    {
        "type": "object",
        "required": ["reason"],
        "additionalProperties": False,
        "properties": {"reason": _text(2000, required=True)},
    }
)
ARTICLE_PUBLISH = input_validator(
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "published_at": {
                **_TIME_INPUT,
                "description": "a publication time in the past (news written earlier)",
            }
        },
    }
)
ARTICLE_SCHEDULE = input_validator(
    {
        "type": "object",
        "required": ["publish_at"],
        "additionalProperties": False,
        "properties": {
            "publish_at": {**_TIME_INPUT, "description": "when it publishes itself (future)"},
            "end_at": {**_TIME_INPUT, "description": "when it expires (after publish_at)"},
        },
    }
)
_CATEGORY_FIELDS: dict[str, Any] = {
    "name": _text(200, required=True),
    "slug": SLUG,
    "parent_id": _id(nullable=True),
    "position": {"type": "integer", "minimum": -1_000_000, "maximum": 1_000_000},
}
CATEGORY_CREATE = input_validator(
    {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": _CATEGORY_FIELDS,
    }
)
CATEGORY_PATCH = input_validator(
    {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": _CATEGORY_FIELDS,
    }
)
# A tag's or a topic's name, and its slug (made from the name unless given).
NAMED = input_validator(
    {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {"name": _text(domain.TAG_NAME_MAX_LENGTH, required=True), "slug": SLUG},
    }
)
TOPIC = input_validator(
    {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {"name": _text(200, required=True), "slug": SLUG},
    }
)
FEATURE = input_validator(
    {
        "type": "object",
        "required": ["scope", "until"],
        "additionalProperties": False,
        "properties": {
            "scope": {"enum": list(domain.PIN_SCOPES)},
            "until": {
                "type": "string",
                "format": "date-time",
                "maxLength": 64,
                "description": "ISO 8601 with its offset, in the future",
            },
        },
    }
)
LOGIN = input_validator(
    {
        "type": "object",
        "required": ["username", "password"],
        "additionalProperties": False,
        "properties": {
            "username": {"type": "string", "minLength": 1, "maxLength": 100},
            "password": {"type": "string", "minLength": 1, "maxLength": 1024},
        },
    }
)
PAGE_BODY_MAX_LENGTH = 200_000
_PAGE_TEXT: dict[str, Any] = {
    "title": _text(domain.PAGE_TITLE_MAX_LENGTH, required=True),
    "body_html": _text(PAGE_BODY_MAX_LENGTH),
}
PAGE_PUT = input_validator(
    {
        "type": "object",
        "required": ["title", "body_html"],
        "additionalProperties": False,
        "properties": _PAGE_TEXT,
    }
)
PAGE_CREATE = input_validator(
    {
        "type": "object",
        "required": ["title"],
        "additionalProperties": False,
        "properties": {
            **_PAGE_TEXT,
            "slug": {
                "type": "string",
                "maxLength": domain.SLUG_MAX_LENGTH,
                "pattern": r"^[a-z0-9]+(-[a-z0-9]+)*$",
                "description": "made from the title when not given",
            },
        },
    }
)
PAGE_PATCH = input_validator(
    {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        # "version": the version the editor started from; a newer one is a 409.
        "properties": {**_PAGE_TEXT, "version": _id()},
    }
)
_USER_FIELDS: dict[str, Any] = {
    "display_name": {
        "type": "string",
        "minLength": 1,
        "maxLength": domain.MAX_DISPLAY_NAME_LENGTH,
        "pattern": r"\S",
    },
    "roles": {
        "type": "array",
        "minItems": 1,
        "uniqueItems": True,
        "items": {"enum": sorted(ROLES)},
    },
    "password": {
        "type": "string",
        "minLength": domain.MIN_PASSWORD_LENGTH,
        "maxLength": domain.MAX_PASSWORD_LENGTH,
    },
}
USER_CREATE = input_validator(
    {
        "type": "object",
        "required": ["username", "password", "roles"],
        "additionalProperties": False,
        "properties": {
            "username": {
                "type": "string",
                "maxLength": 100,
                "description": "3-40 of a-z 0-9 . _ - (stored lower-case)",
            },
            **_USER_FIELDS,
        },
    }
)
USER_PATCH = input_validator(
    {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {**_USER_FIELDS, "disabled": {"type": "boolean"}},
    }
)
PRIVATE = {"Cache-Control": "no-store"}


def _json(
    body: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON answer with Vietnamese written as it is (not as \\u escapes)."""
    return web.Response(
        text=json.dumps(body, ensure_ascii=False),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def _path_id(request: web.Request, missing: RefusalError) -> int:
    """The route's {id:\\d+} as a number; `missing` answered for one too long to be any
    row's id."""
    raw = request.match_info["id"]
    if len(raw) > 18:
        raise missing
    return int(raw)


def _article_id(request: web.Request) -> int:
    return _path_id(request, domain.ArticleNotFoundError())


# --- representations ----------------------------------------------------------------------


def category_json(category: Category) -> dict[str, Any]:
    return {
        "id": category.id,
        "name": category.name,
        "slug": category.slug,
        "parent_id": category.parent_id,
        "position": category.position,
    }


def named_json(item: Tag | Topic) -> dict[str, Any]:
    return {"id": item.id, "slug": item.slug, "name": item.name}


def _time(moment: datetime | None) -> str | None:
    return iso_time(moment) if moment else None


def article_json(article: Article, *, with_body: bool = True) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": article.id,
        "slug": article.slug,
        "url": article.url,
        "title": article.title,
        "summary": article.summary,
        "byline": article.byline,
        "author_name": article.author_name,
        "unit": article.unit,
        "source": article.source,
        "category_id": article.category.id,
        "category": category_json(article.category),
        "image_id": article.image_id,
        "image_url": article.image_url,
        "image_caption": article.image_caption,
        "image_alt": article.image_alt,
        "status": article.status,
        "version": article.version,
        "author_id": article.author_id,
        "created_at": iso_time(article.created_at),
        "updated_at": iso_time(article.updated_at),
        "published_at": _time(article.published_at),
        "text_updated_at": iso_time(article.text_updated_at),
        "publish_at": _time(article.publish_at),
        "end_at": _time(article.end_at),
        "return_reason": article.return_reason,
        "deleted_at": _time(article.deleted_at),
        # taxonomy
        "category_parent": (
            category_json(article.category_parent) if article.category_parent else None
        ),
        "tags": [named_json(t) for t in article.tags],
        "topic_id": article.topic.id if article.topic else None,
        "topic": named_json(article.topic) if article.topic else None,
        "featured": {
            "home_until": _time(article.featured_home_until),
            "category_until": _time(article.featured_category_until),
        },
    }
    if with_body:
        shown["body_html"] = article.body_html
    return shown


def transition_json(record: store.TransitionRecord) -> dict[str, Any]:
    return {
        "from": record.from_status,
        "to": record.to_status,
        "action": record.action,
        "user_id": record.user_id,
        "at": iso_time(record.at),
        "reason": record.reason,
    }


def revision_json(revision: Revision, *, with_body: bool = True) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "number": revision.number,
        "article_id": revision.article_id,
        "title": revision.title,
        "summary": revision.summary,
        "author_name": revision.author_name,
        "unit": revision.unit,
        "byline": domain.make_byline(revision.author_name, revision.unit),
        "source": revision.source,
        "user_id": revision.user_id,
        "created_at": iso_time(revision.created_at),
    }
    if with_body:
        shown["body_html"] = revision.body_html
    return shown


def page_json(
    page: StaticPage, *, for_staff: bool = False, with_body: bool = True
) -> dict[str, Any]:
    """A page; the people who manage pages also see who changed it last and when it went
    to the trash."""
    shown: dict[str, Any] = {
        "slug": page.slug,
        "url": domain.static_page_path(page.slug),
        "title": page.title,
        "status": page.status,
        "version": page.version,
        "updated_at": iso_time(page.updated_at) if page.updated_at else None,
    }
    if with_body:
        shown["body_html"] = page.body_html
    if for_staff:
        shown["updated_by"] = _who(page.updated_by, page.updated_by_name)
        shown["deleted_at"] = iso_time(page.deleted_at) if page.deleted_at else None
    return shown


def _who(user_id: int | None, name: str | None) -> dict[str, Any] | None:
    return {"id": user_id, "display_name": name} if user_id is not None else None


def page_revision_json(revision: PageRevision, *, with_body: bool = True) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "number": revision.number,
        "title": revision.title,
        "saved_by": _who(revision.saved_by, revision.saved_by_name),
        "saved_at": iso_time(revision.saved_at),
        "restored_from": revision.restored_from,
    }
    if with_body:
        shown["body_html"] = revision.body_html
    return shown


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "roles": sorted(user.roles),
        "disabled": user.disabled,
        "must_change_password": user.must_change_password,
        "created_at": iso_time(user.created_at),
        "updated_at": iso_time(user.updated_at),
    }


# --- access tokens ------------------------------------------------------------------------


async def _signed_in(request: web.Request) -> domain.User:
    """The user a {"username","password"} body names, once the password is right (slowed
    down and throttled as every sign-in is); one who must first choose a new password is
    refused here, so that no token or session is given to them."""
    body = await read_json(request, LOGIN)
    user = await login.sign_in(
        request.app[POOL],
        request.app[THROTTLE_SECRET],
        client_address(request),
        body["username"],
        body["password"],
    )
    if user.must_change_password:
        raise domain.PasswordChangeRequiredError
    return user


@routes.post("/api/v1/auth/token")
async def issue_token(request: web.Request) -> web.Response:
    """{"username","password"} -> {"access_token","token_type":"Bearer","expires_in"}."""
    user = await _signed_in(request)
    token, _ = request.app[ISSUER].issue(user)
    return _json(
        {"access_token": token, "token_type": "Bearer", "expires_in": _access_ttl(request)},
        headers=PRIVATE,
    )


# --- desk: auth (the browser's sign-in session, password changes) ------------------------

REFRESH = input_validator({"type": "object", "additionalProperties": False, "maxProperties": 0})
PASSWORD_CHANGE = input_validator(
    {
        "type": "object",
        "required": ["username", "current_password", "new_password"],
        "additionalProperties": False,
        "properties": {
            "username": {"type": "string", "minLength": 1, "maxLength": 100},
            "current_password": {"type": "string", "minLength": 1, "maxLength": 1024},
            "new_password": {
                "type": "string",
                "minLength": 1,
                "maxLength": domain.MAX_PASSWORD_LENGTH,
                "description": f"at least {domain.MIN_PASSWORD_LENGTH} characters, "
                "not the current one",
            },
        },
    }
)


def _access_ttl(request: web.Request) -> int:
    return int(request.app[ISSUER].ttl.total_seconds())


@routes.post("/api/v1/auth/session")
async def open_session(request: web.Request) -> web.Response:
    """{"username","password"} -> a sign-in session for this browser: both cookies set,
    {"expires_in"} of the access token. (A JSON body: another site's form cannot send one,
    so it cannot sign a browser in.)"""
    user = await _signed_in(request)
    response = _json({"expires_in": _access_ttl(request)}, headers=PRIVATE)
    await sessions.sign_in_browser(request, user, response)
    return response


@routes.post("/api/v1/auth/refresh")
async def refresh_session(request: web.Request) -> web.Response:
    """{} -> a new access token cookie from this browser's sign-in session,
    {"expires_in"}; 401 session_ended when the session is gone."""
    await read_json(request, REFRESH)
    response = _json({"expires_in": _access_ttl(request)}, headers=PRIVATE)
    await sessions.renew_browser(request, response)
    return response


@routes.post("/api/v1/auth/password")
async def change_password(request: web.Request) -> web.Response:
    """{"username","current_password","new_password"} -> 204: the password is changed,
    the account need not change it any more, and every sign-in session of it ends. Signed
    in with the current password (slowed down like any sign-in)."""
    body = await read_json(request, PASSWORD_CHANGE)
    domain.check_new_password(body["current_password"], body["new_password"])
    user = await login.sign_in(
        request.app[POOL],
        request.app[THROTTLE_SECRET],
        client_address(request),
        body["username"],
        body["current_password"],
    )
    await actions.change_password(request.app[POOL], user.id, body["new_password"])
    return web.Response(status=204, headers=PRIVATE)


# --- categories ---------------------------------------------------------------------------


@routes.get("/api/v1/categories")
async def list_categories(request: web.Request) -> web.Response:
    async with db.acquire(request.app[POOL]) as conn:
        categories = await store.list_categories(conn)
    return _json({"items": [category_json(c) for c in categories]})


@routes.post("/api/v1/categories")
@require_role(*domain.PUBLISHERS)
async def create_category(request: web.Request) -> web.Response:
    body = await read_json(request, CATEGORY_CREATE)
    category = await actions.create_category(
        request.app[POOL],
        body["name"],
        body.get("slug"),
        parent_id=body.get("parent_id"),
        position=body.get("position", 0),
    )
    return _json(
        category_json(category),
        status=201,
        headers={"Location": f"/chuyen-muc/{category.slug}"},
    )


def _category_id(request: web.Request) -> int:
    return _path_id(request, domain.CategoryNotFoundError())


@routes.patch(r"/api/v1/categories/{id:\d+}")
@require_role(*domain.PUBLISHERS)
async def update_category(request: web.Request) -> web.Response:
    """Rename, move (position) or nest (parent_id, null for the top level) a category."""
    category_id = _category_id(request)
    body = await read_json(request, CATEGORY_PATCH)
    category = await actions.update_category(request.app[POOL], category_id, body)
    return _json(category_json(category))


@routes.delete(r"/api/v1/categories/{id:\d+}")
@require_role(*domain.PUBLISHERS)
async def delete_category(request: web.Request) -> web.Response:
    """Only an empty category: no article of any state in it, no child under it."""
    await actions.delete_category(request.app[POOL], _category_id(request))
    return web.Response(status=204)


# --- tags and topics ----------------------------------------------------------------------


@routes.get("/api/v1/tags")
async def list_tags(request: web.Request) -> web.Response:
    async with db.acquire(request.app[POOL]) as conn:
        tags = await store.list_tags(conn)
    return _json({"items": [named_json(t) for t in tags]})


@routes.post("/api/v1/tags")
@require_role(*domain.WRITERS)
async def create_tag(request: web.Request) -> web.Response:
    body = await read_json(request, NAMED)
    tag = await actions.create_tag(request.app[POOL], body["name"], body.get("slug"))
    return _json(named_json(tag), status=201, headers={"Location": tag.path})


def _tag_id(request: web.Request) -> int:
    return _path_id(request, domain.TagNotFoundError())


@routes.patch(r"/api/v1/tags/{id:\d+}")
@require_role(*domain.PUBLISHERS)
async def rename_tag(request: web.Request) -> web.Response:
    """A new name (and slug); the public articles with the tag are announced again."""
    tag_id = _tag_id(request)
    body = await read_json(request, NAMED)
    tag = await actions.rename_tag(request.app[POOL], tag_id, body["name"], body.get("slug"))
    return _json(named_json(tag))


@routes.delete(r"/api/v1/tags/{id:\d+}")
@require_role(*domain.PUBLISHERS)
async def delete_tag(request: web.Request) -> web.Response:
    """Delete a tag and take it off every article (the public ones are announced again)."""
    await actions.delete_tag(request.app[POOL], _tag_id(request))
    return web.Response(status=204)


@routes.get("/api/v1/topics")
async def list_topics(request: web.Request) -> web.Response:
    async with db.acquire(request.app[POOL]) as conn:
        topics = await store.list_topics(conn)
    return _json({"items": [named_json(t) for t in topics]})


@routes.post("/api/v1/topics")
@require_role(*domain.PUBLISHERS)
async def create_topic(request: web.Request) -> web.Response:
    body = await read_json(request, TOPIC)
    topic = await actions.create_topic(request.app[POOL], body["name"], body.get("slug"))
    return _json(named_json(topic), status=201, headers={"Location": topic.path})


def _topic_id(request: web.Request) -> int:
    return _path_id(request, domain.TopicNotFoundError())


@routes.patch(r"/api/v1/topics/{id:\d+}")
@require_role(*domain.PUBLISHERS)
async def rename_topic(request: web.Request) -> web.Response:
    topic_id = _topic_id(request)
    body = await read_json(request, TOPIC)
    topic = await actions.rename_topic(request.app[POOL], topic_id, body["name"], body.get("slug"))
    return _json(named_json(topic))


@routes.delete(r"/api/v1/topics/{id:\d+}")
@require_role(*domain.PUBLISHERS)
async def delete_topic(request: web.Request) -> web.Response:
    """Delete a topic; its articles stay, without one."""
    await actions.delete_topic(request.app[POOL], _topic_id(request))
    return web.Response(status=204)


# --- articles -----------------------------------------------------------------------------


async def _read_article_body(request: web.Request, validator: Any) -> dict[str, Any]:
    # A clone with a larger body limit for this route only; the app keeps its small one.
    larger = request.clone(client_max_size=ARTICLE_BODY_MAX_BYTES + 64 * 1024)
    body: dict[str, Any] = await read_json(larger, validator)
    return body


@routes.post("/api/v1/articles")
@require_role(*domain.WRITERS)
async def create_article(request: web.Request) -> web.Response:
    """A new draft, owned by the signed-in user."""
    body = await _read_article_body(request, ARTICLE_CREATE)
    article = await actions.create_article(request.app[POOL], request[PRINCIPAL], body)
    return _json(
        article_json(article), status=201, headers={"Location": f"/api/v1/articles/{article.id}"}
    )


@routes.get(r"/api/v1/articles/{id:\d+}")
async def get_article(request: web.Request) -> web.Response:
    """Published articles for everyone; drafts for publishers and their own author."""
    principal = await optional_principal(request)
    async with db.acquire(request.app[POOL]) as conn:
        article = await store.get_article(conn, _article_id(request))
    if article is None or not domain.can_see(principal, article):
        raise domain.ArticleNotFoundError()
    headers = {"Cache-Control": "no-store" if principal else "public, max-age=30"}
    return _json(article_json(article), headers=headers)


STAFF_FILTERS = ("status", "author", "q")


@routes.get("/api/v1/articles")
async def list_articles(request: web.Request) -> web.Response:
    """Published articles, newest first: ?category={slug}&limit={1..100}&before={id}; a
    parent category's articles include its children's. With a staff token, ?status=,
    ?author= and ?q= list articles in any state (an author's own only)."""
    if any(name in request.query for name in STAFF_FILTERS):
        return await _staff_list(request)
    limit = query_int(request, "limit", 1, MAX_LIST_LIMIT) or DEFAULT_LIST_LIMIT
    before = query_int(request, "before", 1, 2**62)
    category_slug = request.query.get("category")
    async with db.acquire(request.app[POOL]) as conn:
        listed = None
        if category_slug:
            category = await store.get_category_by_slug(conn, category_slug)
            if category is None:
                raise Problem(404, "category_not_found", "Không tìm thấy chuyên mục.")
            listed = domain.with_children(category, await store.list_categories(conn))
        found = await store.list_published(
            conn,
            category_ids=listed,
            limit=limit + 1,
            before_id=before,
        )
    return _article_page(found, limit, {"Cache-Control": "public, max-age=30"})


def _article_page(found: list[Article], limit: int, headers: dict[str, str]) -> web.Response:
    items = found[:limit]
    next_before = items[-1].id if len(found) > limit else None
    return _json(
        {
            "items": [article_json(a, with_body=False) for a in items],
            "next_before": next_before,
        },
        headers=headers,
    )


async def _staff_list(request: web.Request) -> web.Response:
    principal = await optional_principal(request)
    if principal is None:
        raise Problem(401, "unauthenticated", "Bạn cần đăng nhập để lọc bài viết theo trạng thái.")
    if not principal.has_role(*domain.WRITERS):
        raise Problem(403, "forbidden", "Bạn không có quyền thực hiện thao tác này.")
    status = request.query.get("status") or None
    if status is not None and status not in domain.STATES:
        raise invalid_input({"status": "Trạng thái phải là một trong: " + ", ".join(domain.STATES)})
    author = query_int(request, "author", 1, 2**63 - 1)
    if not domain.is_publisher(principal):
        author = principal.user_id  # an author lists their own articles only
    terms = domain.search_terms(request.query.get("q", "").replace("\0", ""))
    limit = query_int(request, "limit", 1, MAX_LIST_LIMIT) or DEFAULT_LIST_LIMIT
    async with db.acquire(request.app[POOL]) as conn:
        found = await store.list_for_staff(
            conn,
            status=status,
            author_id=author,
            patterns=[domain.like_pattern(t) for t in terms],
            limit=limit + 1,
            before_id=query_int(request, "before", 1, 2**62),
        )
    return _article_page(found, limit, PRIVATE)


@routes.patch(r"/api/v1/articles/{id:\d+}")
@require_role(*domain.WRITERS)
async def update_article(request: web.Request) -> web.Response:
    """Change some fields; a published article's change is announced as article.updated."""
    body = await _read_article_body(request, ARTICLE_PATCH)
    updated = await actions.update_article(
        request.app[POOL],
        request[PRINCIPAL],
        _article_id(request),
        body,
        version=body.get("version"),
    )
    return _json(article_json(updated))


async def _step_input(request: web.Request, step: str) -> domain.StepInput:
    """What the step's body says: a reason (return), times (schedule, publish)."""
    if step == "return":
        body = await read_json(request, ARTICLE_RETURN)
        return domain.StepInput(reason=" ".join(body["reason"].split()))
    if step == "schedule":
        body = await read_json(request, ARTICLE_SCHEDULE)
        end = body.get("end_at")
        return domain.StepInput(
            publish_at=domain.parse_time(body["publish_at"], "publish_at"),
            end_at=domain.parse_time(end, "end_at") if end is not None else None,
        )
    if step == "publish" and request.body_exists:
        body = await read_json(request, ARTICLE_PUBLISH)
        published = body.get("published_at")
        return domain.StepInput(
            published_at=domain.parse_time(published, "published_at") if published else None
        )
    return domain.StepInput()


async def _take_step(request: web.Request, step: str) -> web.Response:
    given = await _step_input(request, step)
    changed = await actions.take_step(
        request.app[POOL], request[PRINCIPAL], _article_id(request), step, given
    )
    return _json(article_json(changed), headers=PRIVATE)


# One route per step of the workflow (domain.TRANSITIONS decides who and from where: 403
# forbidden for the role, 409 invalid_transition for the state).


@routes.post(r"/api/v1/articles/{id:\d+}/submit")
@require_role(*domain.WRITERS)
async def submit_article(request: web.Request) -> web.Response:
    """Send a draft for review (its author, or an editor)."""
    return await _take_step(request, "submit")


@routes.post(r"/api/v1/articles/{id:\d+}/return")
@require_role(*domain.WRITERS)
async def return_article(request: web.Request) -> web.Response:
    """Send a pending article back to its author as a draft, with a reason."""
    return await _take_step(request, "return")


@routes.post(r"/api/v1/articles/{id:\d+}/publish")
@require_role(*domain.WRITERS)
async def publish_article(request: web.Request) -> web.Response:
    """Publish now, or with a publication time in the past; article.published
    (article.updated when it already was public)."""
    return await _take_step(request, "publish")


@routes.post(r"/api/v1/articles/{id:\d+}/schedule")
@require_role(*domain.WRITERS)
async def schedule_article(request: web.Request) -> web.Response:
    """Publish by itself at `publish_at`, and expire at `end_at` if given."""
    return await _take_step(request, "schedule")


@routes.post(r"/api/v1/articles/{id:\d+}/unpublish")
@require_role(*domain.WRITERS)
async def unpublish_article(request: web.Request) -> web.Response:
    """Take down a published article, or cancel a schedule."""
    return await _take_step(request, "unpublish")


@routes.post(r"/api/v1/articles/{id:\d+}/delete")
@routes.delete(r"/api/v1/articles/{id:\d+}")
@require_role(*domain.WRITERS)
async def delete_article(request: web.Request) -> web.Response:
    """Into the trash, restorable for 30 days, then purged."""
    return await _take_step(request, "delete")


@routes.post(r"/api/v1/articles/{id:\d+}/restore")
@require_role(*domain.WRITERS)
async def restore_article(request: web.Request) -> web.Response:
    """Out of the trash, into the state it had (unpublished if it was public)."""
    return await _take_step(request, "restore")


async def _visible_article(request: web.Request, conn: Any) -> Article:
    article = await store.get_article(conn, _article_id(request))
    if article is None or not domain.can_see(request[PRINCIPAL], article):
        raise domain.ArticleNotFoundError()
    return article


@routes.get(r"/api/v1/articles/{id:\d+}/history")
@require_role(*domain.WRITERS)
async def article_history(request: web.Request) -> web.Response:
    """Every step the article went through, oldest first."""
    async with db.acquire(request.app[POOL]) as conn:
        article = await _visible_article(request, conn)
        records = await store.history(conn, article.id)
    return _json({"items": [transition_json(r) for r in records]}, headers=PRIVATE)


# --- revisions ----------------------------------------------------------------------------


def _revision_number(raw: str | None, name: str) -> int:
    if raw is None or not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 2**31 - 1:
        raise invalid_input({name: "Phải là số thứ tự của một bản lưu (từ 1)."})
    return int(raw)


@routes.get(r"/api/v1/articles/{id:\d+}/revisions")
@require_role(*domain.WRITERS)
async def list_revisions(request: web.Request) -> web.Response:
    """Every saved text of the article, newest first (without the body)."""
    async with db.acquire(request.app[POOL]) as conn:
        article = await _visible_article(request, conn)
        revisions = await store.list_revisions(conn, article.id)
    return _json({"items": [revision_json(r, with_body=False) for r in revisions]}, headers=PRIVATE)


async def _revision(request: web.Request, conn: Any, article: Article, number: int) -> Revision:
    revision = await store.get_revision(conn, article.id, number)
    if revision is None:
        raise domain.RevisionNotFoundError()
    return revision


@routes.get(r"/api/v1/articles/{id:\d+}/revisions/{rev:\d+}")
@require_role(*domain.WRITERS)
async def get_revision(request: web.Request) -> web.Response:
    number = _revision_number(request.match_info["rev"], "rev")
    async with db.acquire(request.app[POOL]) as conn:
        article = await _visible_article(request, conn)
        revision = await _revision(request, conn, article, number)
    return _json(revision_json(revision), headers=PRIVATE)


@routes.get(r"/api/v1/articles/{id:\d+}/revisions/compare")
@require_role(*domain.WRITERS)
async def compare_revisions(request: web.Request) -> web.Response:
    """?from=&to=: a unified diff of the title, the summary and the body's text."""
    old_number = _revision_number(request.query.get("from"), "from")
    new_number = _revision_number(request.query.get("to"), "to")
    async with db.acquire(request.app[POOL]) as conn:
        article = await _visible_article(request, conn)
        old = await _revision(request, conn, article, old_number)
        new = await _revision(request, conn, article, new_number)
    return _json(
        {"from": old.number, "to": new.number, **domain.compare_revisions(old, new)},
        headers=PRIVATE,
    )


@routes.post(r"/api/v1/articles/{id:\d+}/revisions/{rev:\d+}/restore")
@require_role(*domain.WRITERS)
async def restore_revision(request: web.Request) -> web.Response:
    """The revision's text becomes the article's again, as a new revision."""
    number = _revision_number(request.match_info["rev"], "rev")
    restored = await actions.restore_revision(
        request.app[POOL], request[PRINCIPAL], _article_id(request), number
    )
    return _json(article_json(restored), headers=PRIVATE)


@routes.post(r"/api/v1/articles/{id:\d+}/feature")
@require_role(*domain.PUBLISHERS)
async def feature_article(request: web.Request) -> web.Response:
    """Pin to the top of the home page or of its category until a time in the future."""
    article_id = _article_id(request)
    body = await read_json(request, FEATURE)
    until = domain.pin_until(body["until"], datetime.now(UTC))
    pinned = await actions.pin_article(
        request.app[POOL], request[PRINCIPAL], article_id, body["scope"], until
    )
    return _json(article_json(pinned))


@routes.delete(r"/api/v1/articles/{id:\d+}/feature")
@require_role(*domain.PUBLISHERS)
async def unfeature_article(request: web.Request) -> web.Response:
    """?scope=home|category: end that pin now."""
    scope = request.query.get("scope")
    if scope not in domain.PIN_SCOPES:
        raise invalid_input({"scope": "Phải là “home” hoặc “category”."})
    unpinned = await actions.pin_article(
        request.app[POOL], request[PRINCIPAL], _article_id(request), scope, None
    )
    return _json(article_json(unpinned))


# --- uploads: images and documents -------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """What a multipart upload carried: the field "file" (its bytes and the name it came
    with) and the small text fields asked for."""

    data: bytes
    file_name: str
    fields: dict[str, str]


# A form has the file and a few small fields; more parts than this is no upload of ours.
MAX_MULTIPART_PARTS = 10


def _too_large(what: str, max_bytes: int) -> Problem:
    megabytes = max_bytes // (1024 * 1024)
    return Problem(413, "body_too_large", f"{what.capitalize()} vượt quá giới hạn {megabytes} MB.")


async def _read_capped(part: BodyPartReader, cap: int, too_large: Problem) -> bytes:
    chunks, size = [], 0
    while chunk := await part.read_chunk(64 * 1024):
        size += len(chunk)
        if size > cap:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_upload(
    request: web.Request, max_bytes: int, what: str, fields: tuple[str, ...] = ()
) -> Upload:
    """The multipart field "file" (`what` it holds, for messages: "ảnh", "văn bản") and
    the text `fields`, read as a stream with their own caps: the app's small body limit
    does not apply to multipart streams, these do."""
    if not request.content_type.startswith("multipart/form-data"):
        raise Problem(
            415,
            "unsupported_media_type",
            f"{what.capitalize()} phải được gửi dạng multipart/form-data.",
        )
    too_large = _too_large(what, max_bytes)
    if (request.content_length or 0) > max_bytes + domain.MULTIPART_OVERHEAD_BYTES:
        raise too_large
    file: tuple[bytes, str] | None = None
    texts: dict[str, bytes] = {}
    try:
        reader = await request.multipart()
        for _ in range(MAX_MULTIPART_PARTS):
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "file" and file is None:
                file = (await _read_capped(part, max_bytes, too_large), part.filename or "")
            else:  # a small field, kept if asked for
                value = await _read_capped(part, domain.MULTIPART_OVERHEAD_BYTES, too_large)
                if part.name in fields:
                    texts[part.name] = value
        else:
            raise ValueError("too many parts")
    except (ValueError, AssertionError, BadHttpMessage) as exc:
        # BadHttpMessage: a part's headers that do not parse (or are too long).
        raise Problem(400, "invalid_multipart", "Nội dung gửi lên không đọc được.") from exc
    if file is None:
        raise invalid_input({"file": f"Thiếu tệp {what} (trường “file”)."})
    return Upload(file[0], file[1], _form_texts(texts))


def _form_texts(raw: dict[str, bytes]) -> dict[str, str]:
    """The text fields of a form, each UTF-8 without NUL (a 422 naming it otherwise)."""
    texts, bad = {}, {}
    for name, value in raw.items():
        try:
            texts[name] = value.decode()
        except UnicodeDecodeError:
            bad[name] = "Phải là văn bản UTF-8."
            continue
        if "\x00" in texts[name]:
            bad[name] = "Không được chứa ký tự NUL (\\u0000)."
    if bad:
        raise invalid_input(bad)
    return texts


# --- images -------------------------------------------------------------------------------


@routes.post("/api/v1/images")
@require_role(*domain.WRITERS)
async def upload_image(request: web.Request) -> web.Response:
    """multipart/form-data with a JPEG, PNG, WebP, GIF or HEIC in the field "file" (up to
    domain.IMAGE_MAX_BYTES and IMAGE_MAX_PIXELS); it must decode as the type its first
    bytes claim, whatever its name says. Stored cleaned, upright, with its variants."""
    upload = await _read_upload(request, domain.IMAGE_MAX_BYTES, "ảnh")
    image = await actions.add_image(request.app[POOL], upload.data, request[PRINCIPAL].user_id)
    return _json(image_json(image), status=201, headers={"Location": image.url})


def image_json(image: actions.StoredImage) -> dict[str, Any]:
    return {
        "id": image.id,
        "url": image.url,
        "content_type": image.content_type,
        "size": image.size,
        "width": image.width,
        "height": image.height,
        "variants": [
            {
                "name": v.name,
                "url": v.url,
                "content_type": v.content_type,
                "width": v.width,
                "height": v.height,
                "size": v.size,
            }
            for v in image.variants
        ],
    }


# --- documents ----------------------------------------------------------------------------
# Upload, list, rename, reorder and delete: whoever may edit the article (its editors, its
# author while it is their draft). The public downloads at /van-ban/{id} (pages.py); staff
# download any document they may see here, at /api/v1/documents/{id}/file.

DOCUMENT_UPLOAD = input_validator(
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {"title": _text(domain.DOCUMENT_TITLE_MAX_LENGTH)},
    }
)
DOCUMENT_PATCH = input_validator(
    {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "title": _text(domain.DOCUMENT_TITLE_MAX_LENGTH, required=True),
            "position": {"type": "integer", "minimum": 0, "maximum": domain.MAX_DOCUMENT_POSITION},
        },
    }
)


def document_json(document: domain.Document) -> dict[str, Any]:
    return {
        "id": document.id,
        "article_id": document.article_id,
        "title": document.title,
        "file_name": document.file_name,
        "content_type": document.content_type,
        "kind": document.kind,
        "size": document.size,
        "position": document.position,
        "url": document.url,
        "uploaded_at": _time(document.uploaded_at),
    }


def _document_id(request: web.Request) -> int:
    return _path_id(request, domain.DocumentNotFoundError())


@routes.post(r"/api/v1/articles/{id:\d+}/documents")
@require_role(*domain.WRITERS)
async def upload_document(request: web.Request) -> web.Response:
    """multipart/form-data: a PDF, DOCX, XLSX, ODT or ODS in the field "file" (up to
    domain.DOCUMENT_MAX_BYTES), its type read from its content and agreeing with its name,
    and an optional "title"."""
    article_id = _article_id(request)
    upload = await _read_upload(request, domain.DOCUMENT_MAX_BYTES, "văn bản", ("title",))
    check_input(upload.fields, DOCUMENT_UPLOAD)
    document = await actions.add_document(
        request.app[POOL],
        request[PRINCIPAL],
        article_id,
        upload.data,
        upload.file_name,
        upload.fields.get("title"),
    )
    return _json(document_json(document), status=201, headers=PRIVATE)


@routes.get(r"/api/v1/articles/{id:\d+}/documents")
@require_role(*domain.WRITERS)
async def list_documents(request: web.Request) -> web.Response:
    """The article's documents in their order (whoever sees the article)."""
    async with db.acquire(request.app[POOL]) as conn:
        article = await _visible_article(request, conn)
        found = await store.documents_of(conn, article.id)
    return _json({"items": [document_json(d) for d in found]}, headers=PRIVATE)


@routes.patch(r"/api/v1/documents/{id:\d+}")
@require_role(*domain.WRITERS)
async def update_document(request: web.Request) -> web.Response:
    """Rename a document or move it in its article's list."""
    body = await read_json(request, DOCUMENT_PATCH)
    document = await actions.update_document(
        request.app[POOL], request[PRINCIPAL], _document_id(request), body
    )
    return _json(document_json(document), headers=PRIVATE)


@routes.delete(r"/api/v1/documents/{id:\d+}")
@require_role(*domain.WRITERS)
async def delete_document(request: web.Request) -> web.Response:
    await actions.delete_document(request.app[POOL], request[PRINCIPAL], _document_id(request))
    return web.Response(status=204)


@routes.get(r"/api/v1/documents/{id:\d+}/file")
@require_role(*domain.WRITERS)
async def download_document(request: web.Request) -> web.Response:
    """The file, for staff who see its article (a draft's included); never cached."""
    principal = request[PRINCIPAL]
    async with db.acquire(request.app[POOL]) as conn:
        found = await store.document_file(conn, _document_id(request), public_only=False)
        article = await store.get_article(conn, found.document.article_id) if found else None
    if found is None or article is None or not domain.can_see(principal, article):
        raise domain.DocumentNotFoundError
    return web.Response(
        body=found.data,
        content_type=found.document.content_type,
        headers={
            "Content-Disposition": domain.content_disposition(found.document.file_name),
            "X-Content-Type-Options": "nosniff",
            **PRIVATE,
        },
    )


# --- static pages -------------------------------------------------------------------------


def _page_slug(request: web.Request) -> str:
    """The route's {slug}; one no page can have is answered as no such page."""
    slug = request.match_info["slug"]
    if not domain.is_slug(slug):
        raise domain.PageNotFoundError()
    return slug


def _page_revision_number(request: web.Request) -> int:
    raw = request.match_info["rev"]
    if len(raw) > 9:  # past the column's integer: no revision has it
        raise domain.PageRevisionNotFoundError()
    return int(raw)


def _staff_page(page: StaticPage, *, status: int = 200) -> web.Response:
    return _json(page_json(page, for_staff=True), status=status, headers=PRIVATE)


@routes.get("/api/v1/pages")
@require_role(*domain.PAGE_MANAGERS)
async def list_pages(request: web.Request) -> web.Response:
    """Every page in every state (the trash included), and the built-in defaults nobody
    has written yet (status "default", version 0)."""
    async with db.acquire(request.app[POOL]) as conn:
        pages = domain.with_default_pages(await store.list_pages(conn))
    items = [page_json(p, for_staff=True, with_body=False) for p in pages]
    return _json({"items": items}, headers=PRIVATE)


@routes.post("/api/v1/pages")
@require_role(*domain.PAGE_MANAGERS)
async def create_page(request: web.Request) -> web.Response:
    """A new draft: {"title", ["body_html"], ["slug"]}."""
    body = await _read_article_body(request, PAGE_CREATE)
    page = await actions.create_page(request.app[POOL], request[PRINCIPAL], body)
    location = {"Location": f"/api/v1/pages/{page.slug}"}
    return _json(page_json(page, for_staff=True), status=201, headers=PRIVATE | location)


@routes.put("/api/v1/pages/{slug}")
@require_role(*domain.PAGE_MANAGERS)
async def put_page(request: web.Request) -> web.Response:
    """Create or replace a static page and publish it: {"title","body_html"} (sanitised)."""
    slug = request.match_info["slug"]
    if not domain.is_slug(slug):
        raise invalid_input(
            {"slug": "Đường dẫn trang chỉ gồm chữ thường không dấu, số và dấu gạch."}
        )
    body = await _read_article_body(request, PAGE_PUT)
    page = await actions.put_page(
        request.app[POOL], request[PRINCIPAL], slug, body["title"], body["body_html"]
    )
    return _staff_page(page)


@routes.get("/api/v1/pages/{slug}")
async def get_page(request: web.Request) -> web.Response:
    """The published page (or its built-in default) for everyone; the page in any state
    for the people who manage pages."""
    slug = request.match_info["slug"]
    principal = await optional_principal(request)
    async with db.acquire(request.app[POOL]) as conn:
        stored = await store.get_page(conn, slug) if domain.is_slug(slug) else None
    page = domain.page_shown(slug, stored, principal)
    if page is None:
        raise domain.PageNotFoundError()
    if domain.can_manage_pages(principal):
        return _staff_page(page)
    return _json(page_json(page))


@routes.patch("/api/v1/pages/{slug}")
@require_role(*domain.PAGE_MANAGERS)
async def edit_page(request: web.Request) -> web.Response:
    """Change the title or body; the page keeps its state (a published page's new text is
    public at once). A new revision."""
    slug = _page_slug(request)
    body = await _read_article_body(request, PAGE_PATCH)
    page = await actions.edit_page(
        request.app[POOL], request[PRINCIPAL], slug, body, version=body.get("version")
    )
    return _staff_page(page)


async def _change_page_state(request: web.Request, command: str) -> web.Response:
    slug = _page_slug(request)
    page = await actions.change_page_state(request.app[POOL], request[PRINCIPAL], slug, command)
    return _staff_page(page)


@routes.post("/api/v1/pages/{slug}/publish")
@require_role(*domain.PAGE_MANAGERS)
async def publish_page(request: web.Request) -> web.Response:
    return await _change_page_state(request, "publish")


@routes.post("/api/v1/pages/{slug}/unpublish")
@require_role(*domain.PAGE_MANAGERS)
async def unpublish_page(request: web.Request) -> web.Response:
    """Back to a draft: off the public site at once."""
    return await _change_page_state(request, "unpublish")


@routes.delete("/api/v1/pages/{slug}")
@require_role(*domain.PAGE_MANAGERS)
async def delete_page(request: web.Request) -> web.Response:
    """To the trash: off the public site at once, restorable for PAGE_TRASH_DAYS."""
    return await _change_page_state(request, "delete")


@routes.post("/api/v1/pages/{slug}/restore")
@require_role(*domain.PAGE_MANAGERS)
async def restore_page(request: web.Request) -> web.Response:
    """Out of the trash, as a draft."""
    return await _change_page_state(request, "restore")


@routes.get("/api/v1/pages/{slug}/revisions")
@require_role(*domain.PAGE_MANAGERS)
async def list_page_revisions(request: web.Request) -> web.Response:
    """The page's revisions, newest first, without their bodies."""
    slug = _page_slug(request)
    async with db.acquire(request.app[POOL]) as conn:
        if await store.get_page(conn, slug) is None:
            raise domain.PageNotFoundError()
        revisions = await store.page_revisions(conn, slug)
    items = [page_revision_json(r, with_body=False) for r in revisions]
    return _json({"items": items}, headers=PRIVATE)


@routes.get(r"/api/v1/pages/{slug}/revisions/{rev:\d+}")
@require_role(*domain.PAGE_MANAGERS)
async def get_page_revision(request: web.Request) -> web.Response:
    slug = _page_slug(request)
    number = _page_revision_number(request)
    async with db.acquire(request.app[POOL]) as conn:
        if await store.get_page(conn, slug) is None:
            raise domain.PageNotFoundError()
        revision = await store.page_revision(conn, slug, number)
    if revision is None:
        raise domain.PageRevisionNotFoundError()
    return _json(page_revision_json(revision), headers=PRIVATE)


@routes.post(r"/api/v1/pages/{slug}/revisions/{rev:\d+}/restore")
@require_role(*domain.PAGE_MANAGERS)
async def restore_page_revision(request: web.Request) -> web.Response:
    """The revision's title and body become the page's text again (a new revision)."""
    slug = _page_slug(request)
    number = _page_revision_number(request)
    page = await actions.restore_page_revision(request.app[POOL], request[PRINCIPAL], slug, number)
    return _staff_page(page)


# --- users (admins only) ------------------------------------------------------------------


def _user_id(request: web.Request) -> int:
    return _path_id(request, domain.UserNotFoundError())


@routes.get("/api/v1/users")
@require_role(ADMIN)
async def list_users(request: web.Request) -> web.Response:
    async with db.acquire(request.app[POOL]) as conn:
        found = await store.list_users(conn)
    return _json({"items": [user_json(u) for u in found]}, headers=PRIVATE)


@routes.get(r"/api/v1/users/{id:\d+}")
@require_role(ADMIN)
async def get_user(request: web.Request) -> web.Response:
    async with db.acquire(request.app[POOL]) as conn:
        user = await store.get_user(conn, _user_id(request))
    if user is None:
        raise domain.UserNotFoundError()
    return _json(user_json(user), headers=PRIVATE)


@routes.post("/api/v1/users")
@require_role(ADMIN)
async def create_user(request: web.Request) -> web.Response:
    """{"username","password","roles",["display_name"]} -> 201 with the new user."""
    body = await read_json(request, USER_CREATE)
    fields = domain.checked_user_fields(body)
    async with db.acquire(request.app[POOL]) as conn:
        user = await actions.create_user(
            conn,
            fields["username"],
            fields["password"],
            roles=fields["roles"],
            display_name=fields.get("display_name"),
            # The admin chose this password: its owner chooses their own at first sign-in.
            must_change_password=True,
        )
    return _json(
        user_json(user), status=201, headers=PRIVATE | {"Location": f"/api/v1/users/{user.id}"}
    )


@routes.patch(r"/api/v1/users/{id:\d+}")
@require_role(ADMIN)
async def update_user(request: web.Request) -> web.Response:
    """Some of {"display_name","roles","disabled","password"}; 409 last_admin when the
    change would leave no enabled admin."""
    user_id = _user_id(request)
    body = await read_json(request, USER_PATCH)
    fields = domain.checked_user_fields(body)
    user = await actions.update_user(request.app[POOL], user_id, **fields)
    return _json(user_json(user), headers=PRIVATE)
