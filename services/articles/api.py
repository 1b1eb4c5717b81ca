"""The JSON API: access tokens, categories, articles, images and static pages.

Errors are application/problem+json (services/common/errors.py). Every change and the
event it causes commit in one transaction.
"""

from __future__ import annotations

import hashlib
from typing import Any

import asyncpg
from aiohttp import BodyPartReader, web

from services.articles import domain, events, login, static_pages, store
from services.articles.config import ISSUER
from services.articles.domain import PUBLISHED, UNPUBLISHED, Article, Category, iso_time
from services.articles.request_context import acquire as _acquire
from services.articles.request_context import json_response as _json
from services.articles.request_context import optional_principal, path_id
from services.common.auth import PRINCIPAL, require_role
from services.common.errors import Problem, input_validator, invalid_input, query_int, read_json
from services.common.events.outbox import write_event

# The app's body limit (MAX_BODY_BYTES, 64 KiB by default) fits logins and categories;
# an article's HTML may be longer, so its routes read with this larger limit.
ARTICLE_BODY_MAX_BYTES = 512 * 1024
IMAGE_MAX_BYTES = 5 * 1024 * 1024
# Room for the multipart boundaries and part headers around the file.
MULTIPART_OVERHEAD_BYTES = 16 * 1024
MAX_LIST_LIMIT = 100
DEFAULT_LIST_LIMIT = 20

routes = web.RouteTableDef()


def _text(max_length: int, *, required: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": max_length}
    if required:
        schema.update(minLength=1, pattern=r"\S")
    return schema


def _id(nullable: bool = False) -> dict[str, Any]:
    return {"type": ["integer", "null"] if nullable else "integer", "minimum": 1}


ARTICLE_PROPERTIES: dict[str, Any] = {
    "title": _text(300, required=True),
    "summary": _text(1000),
    "body_html": _text(ARTICLE_BODY_MAX_BYTES, required=True),
    "byline": _text(200),
    "category_id": _id(),
    "image_id": _id(nullable=True),
    "image_caption": _text(500),
}
ARTICLE_CREATE = input_validator(
    {
        "type": "object",
        "required": ["title", "summary", "body_html", "byline", "category_id"],
        "additionalProperties": False,
        "properties": ARTICLE_PROPERTIES,
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
CATEGORY_CREATE = input_validator(
    {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {
            "name": _text(200, required=True),
            "slug": {
                "type": "string",
                "maxLength": domain.SLUG_MAX_LENGTH,
                "pattern": r"^[a-z0-9]+(-[a-z0-9]+)*$",
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
PAGE_PUT = input_validator(
    {
        "type": "object",
        "required": ["title", "body_html"],
        "additionalProperties": False,
        "properties": {"title": _text(200, required=True), "body_html": _text(200_000)},
    }
)


def _not_found() -> Problem:
    return Problem(404, "article_not_found", "Không tìm thấy bài viết.")


def _article_id(request: web.Request) -> int:
    return path_id(request, _not_found())


# --- representations ----------------------------------------------------------------------


def category_json(category: Category) -> dict[str, Any]:
    return {"id": category.id, "name": category.name, "slug": category.slug}


def article_json(article: Article, *, with_body: bool = True) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": article.id,
        "slug": article.slug,
        "url": article.url,
        "title": article.title,
        "summary": article.summary,
        "byline": article.byline,
        "category_id": article.category.id,
        "category": category_json(article.category),
        "image_id": article.image_id,
        "image_url": article.image_url,
        "image_caption": article.image_caption,
        "status": article.status,
        "version": article.version,
        "author_id": article.author_id,
        "created_at": iso_time(article.created_at),
        "updated_at": iso_time(article.updated_at),
        "published_at": iso_time(article.published_at) if article.published_at else None,
    }
    if with_body:
        shown["body_html"] = article.body_html
    return shown


# --- access tokens ------------------------------------------------------------------------


@routes.post("/api/v1/auth/token")
async def issue_token(request: web.Request) -> web.Response:
    """{"username","password"} -> {"access_token","token_type":"Bearer","expires_in"}."""
    body = await read_json(request, LOGIN)
    user = await login.sign_in(request, body["username"], body["password"])
    issuer = request.app[ISSUER]
    token, _ = issuer.issue(user)
    return _json(
        {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(issuer.ttl.total_seconds()),
        },
        headers={"Cache-Control": "no-store"},
    )


# --- categories ---------------------------------------------------------------------------


@routes.get("/api/v1/categories")
async def list_categories(request: web.Request) -> web.Response:
    async with _acquire(request) as conn:
        categories = await store.list_categories(conn)
    return _json({"items": [category_json(c) for c in categories]})


@routes.post("/api/v1/categories")
@require_role(*domain.PUBLISHERS)
async def create_category(request: web.Request) -> web.Response:
    body = await read_json(request, CATEGORY_CREATE)
    name = " ".join(body["name"].split())
    slug = body.get("slug") or domain.make_slug(name, fallback="chuyen-muc")
    try:
        async with _acquire(request) as conn:
            category = await store.create_category(conn, name, slug)
    except store.SlugTakenError as exc:
        raise Problem(409, "slug_taken", f"Đã có chuyên mục với đường dẫn “{slug}”.") from exc
    return _json(
        category_json(category),
        status=201,
        headers={"Location": f"/chuyen-muc/{category.slug}"},
    )


# --- articles -----------------------------------------------------------------------------


async def _read_article_body(request: web.Request, validator: Any) -> dict[str, Any]:
    # A clone with a larger body limit for this route only; the app keeps its small one.
    larger = request.clone(client_max_size=ARTICLE_BODY_MAX_BYTES + 64 * 1024)
    body: dict[str, Any] = await read_json(larger, validator)
    return body


def _clean_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The editable fields of a request, tidied: body_html sanitised (422 if nothing is
    left of it), single-line texts trimmed."""
    fields = {k: v for k, v in body.items() if k in store.EDITABLE}
    for name in ("title", "summary", "byline", "image_caption"):
        if name in fields:
            fields[name] = " ".join(fields[name].split())
    if "body_html" in fields:
        fields["body_html"] = domain.sanitize_html(fields["body_html"])
        if not domain.html_to_text(fields["body_html"]) and "<img" not in fields["body_html"]:
            raise invalid_input(
                {"body_html": "Nội dung trống sau khi lọc bỏ mã HTML không an toàn."}
            )
    return fields


async def _check_references(conn: asyncpg.Connection, fields: dict[str, Any]) -> None:
    if "category_id" in fields and await store.get_category(conn, fields["category_id"]) is None:
        raise invalid_input({"category_id": "Chuyên mục không tồn tại."})
    image_id = fields.get("image_id")
    if image_id is not None and not await store.image_exists(conn, image_id):
        raise invalid_input({"image_id": "Ảnh không tồn tại."})


def _derived(fields: dict[str, Any]) -> dict[str, Any]:
    """The columns that follow from the edited ones: the slug from the title, the search
    text from the body."""
    derived: dict[str, Any] = {}
    if "title" in fields:
        derived["slug"] = domain.make_slug(fields["title"], fallback="bai-viet")
    if "body_html" in fields:
        derived["body_text"] = domain.html_to_text(fields["body_html"])
    return derived


@routes.post("/api/v1/articles")
@require_role(*domain.WRITERS)
async def create_article(request: web.Request) -> web.Response:
    """A new draft, owned by the signed-in user."""
    body = await _read_article_body(request, ARTICLE_CREATE)
    fields = _clean_fields(body)
    derived = _derived(fields)
    async with _acquire(request) as conn, conn.transaction():
        await _check_references(conn, fields)
        article = await store.create_article(
            conn, fields, derived["slug"], derived["body_text"], request[PRINCIPAL].user_id
        )
    return _json(
        article_json(article), status=201, headers={"Location": f"/api/v1/articles/{article.id}"}
    )


@routes.get(r"/api/v1/articles/{id:\d+}")
async def get_article(request: web.Request) -> web.Response:
    """Published articles for everyone; drafts for publishers and their own author."""
    principal = await optional_principal(request)
    async with _acquire(request) as conn:
        article = await store.get_article(conn, _article_id(request))
    if article is None or not domain.can_see(principal, article):
        raise _not_found()
    headers = {"Cache-Control": "no-store" if principal else "public, max-age=30"}
    return _json(article_json(article), headers=headers)


@routes.get("/api/v1/articles")
async def list_articles(request: web.Request) -> web.Response:
    """Published articles, newest first: ?category={slug}&limit={1..100}&before={id}."""
    limit = query_int(request, "limit", 1, MAX_LIST_LIMIT) or DEFAULT_LIST_LIMIT
    before = query_int(request, "before", 1, 2**62)
    category_slug = request.query.get("category")
    async with _acquire(request) as conn:
        category = None
        if category_slug:
            category = await store.get_category_by_slug(conn, category_slug)
            if category is None:
                raise Problem(404, "category_not_found", "Không tìm thấy chuyên mục.")
        found = await store.list_published(
            conn,
            category_id=category.id if category else None,
            limit=limit + 1,
            before_id=before,
        )
    items = found[:limit]
    next_before = items[-1].id if len(found) > limit else None
    return _json(
        {
            "items": [article_json(a, with_body=False) for a in items],
            "next_before": next_before,
        },
        headers={"Cache-Control": "public, max-age=30"},
    )


async def _locked_article(conn: asyncpg.Connection, request: web.Request) -> Article:
    article = await store.get_article(conn, _article_id(request), for_update=True)
    if article is None or not domain.can_see(request[PRINCIPAL], article):
        raise _not_found()
    return article


@routes.patch(r"/api/v1/articles/{id:\d+}")
@require_role(*domain.WRITERS)
async def update_article(request: web.Request) -> web.Response:
    """Change some fields; a published article's change is announced as article.updated."""
    body = await _read_article_body(request, ARTICLE_PATCH)
    fields = _clean_fields(body)
    if not fields:
        raise invalid_input({"(toàn bộ)": "Cần gửi ít nhất một trường để sửa."})
    principal = request[PRINCIPAL]
    async with _acquire(request) as conn, conn.transaction():
        article = await _locked_article(conn, request)
        if not domain.can_edit(principal, article):
            raise Problem(403, "forbidden", "Bạn không có quyền sửa bài viết này.")
        if "version" in body and body["version"] != article.version:
            raise Problem(
                409,
                "version_conflict",
                "Bài viết đã được người khác sửa trong lúc bạn soạn; xin tải lại rồi sửa tiếp.",
            )
        await _check_references(conn, fields)
        updated = await store.update_article(conn, article.id, fields | _derived(fields))
        event_type = domain.edit_event(updated.status)
        if event_type:
            await write_event(conn, event_type, events.article_data(updated))
    return _json(article_json(updated))


@routes.post(r"/api/v1/articles/{id:\d+}/publish")
@require_role(*domain.PUBLISHERS)
async def publish_article(request: web.Request) -> web.Response:
    async with _acquire(request) as conn, conn.transaction():
        article = await _locked_article(conn, request)
        event_type = domain.publication_event(article.status)
        published = await store.set_status(conn, article.id, PUBLISHED)
        await write_event(conn, event_type, events.article_data(published))
    return _json(article_json(published))


@routes.post(r"/api/v1/articles/{id:\d+}/unpublish")
@require_role(*domain.PUBLISHERS)
async def unpublish_article(request: web.Request) -> web.Response:
    async with _acquire(request) as conn, conn.transaction():
        article = await _locked_article(conn, request)
        if not article.is_public:
            raise Problem(409, "not_published", "Bài viết này hiện không được đăng.")
        withdrawn = await store.set_status(conn, article.id, UNPUBLISHED)
        await write_event(conn, "article.unpublished", events.unpublished_data(withdrawn))
    return _json(article_json(withdrawn))


# --- images -------------------------------------------------------------------------------


def _too_large() -> Problem:
    megabytes = IMAGE_MAX_BYTES // (1024 * 1024)
    return Problem(413, "body_too_large", f"Ảnh vượt quá giới hạn {megabytes} MB.")


async def _read_capped(part: BodyPartReader, cap: int) -> bytes:
    chunks, size = [], 0
    while chunk := await part.read_chunk(64 * 1024):
        size += len(chunk)
        if size > cap:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def _uploaded_file(request: web.Request) -> bytes:
    """The bytes of the multipart field "file", read as a stream with its own cap: the
    app's small body limit does not apply to multipart streams, this one does."""
    if not request.content_type.startswith("multipart/form-data"):
        raise Problem(415, "unsupported_media_type", "Ảnh phải được gửi dạng multipart/form-data.")
    if (request.content_length or 0) > IMAGE_MAX_BYTES + MULTIPART_OVERHEAD_BYTES:
        raise _too_large()
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader) and part.name == "file":
                return await _read_capped(part, IMAGE_MAX_BYTES)
            if isinstance(part, BodyPartReader):
                await _read_capped(part, MULTIPART_OVERHEAD_BYTES)  # skip small fields
    except (ValueError, AssertionError) as exc:
        raise Problem(400, "invalid_multipart", "Nội dung gửi lên không đọc được.") from exc
    raise invalid_input({"file": "Thiếu tệp ảnh (trường “file”)."})


@routes.post("/api/v1/images")
@require_role(*domain.WRITERS)
async def upload_image(request: web.Request) -> web.Response:
    """multipart/form-data with a JPEG, PNG, WebP or GIF in the field "file" (up to 5 MB);
    the type is read from the file's first bytes, not from its name."""
    data = await _uploaded_file(request)
    content_type = domain.image_type(data[:16])
    if content_type is None:
        raise Problem(415, "unsupported_image_type", "Chỉ nhận ảnh JPEG, PNG, WebP hoặc GIF.")
    digest = hashlib.sha256(data).hexdigest()
    async with _acquire(request) as conn:
        image_id = await store.insert_image(
            conn, content_type, data, digest, request[PRINCIPAL].user_id
        )
    url = domain.image_path(image_id)
    return _json(
        {"id": image_id, "url": url, "content_type": content_type, "size": len(data)},
        status=201,
        headers={"Location": url},
    )


# --- static pages -------------------------------------------------------------------------


def page_json(page: store.StaticPage) -> dict[str, Any]:
    return {
        "slug": page.slug,
        "title": page.title,
        "body_html": page.body_html,
        "version": page.version,
        "updated_at": iso_time(page.updated_at) if page.updated_at else None,
    }


@routes.put("/api/v1/pages/{slug}")
@require_role("admin")
async def put_page(request: web.Request) -> web.Response:
    """Create or replace a static page: {"title","body_html"} (sanitised)."""
    slug = request.match_info["slug"]
    if not domain.is_slug(slug):
        raise invalid_input(
            {"slug": "Đường dẫn trang chỉ gồm chữ thường không dấu, số và dấu gạch."}
        )
    body = await _read_article_body(request, PAGE_PUT)
    title = " ".join(body["title"].split())
    async with _acquire(request) as conn:
        page = await store.put_page(conn, slug, title, domain.sanitize_html(body["body_html"]))
    return _json(page_json(page))


@routes.get("/api/v1/pages/{slug}")
async def get_page(request: web.Request) -> web.Response:
    async with _acquire(request) as conn:
        page = await static_pages.load(conn, request.match_info["slug"])
    if page is None:
        raise Problem(404, "page_not_found", "Không tìm thấy trang.")
    return _json(page_json(page))
