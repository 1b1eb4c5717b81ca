"""Every change of the articles service's state, each in one transaction with the events
it announces (written to the outbox in the same transaction).

Actions take a pool or a connection and plain values, and raise the refusals of
domain.py; the handlers turn those into answers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.articles import domain, events, passwords, store
from services.articles.domain import (
    DRAFT,
    PUBLISHED,
    UNPUBLISHED,
    Article,
    Category,
    InvalidFieldsError,
    StaticPage,
    User,
)
from services.common import db
from services.common.events.outbox import write_event
from services.common.roles import Principal

# --- categories ---------------------------------------------------------------------------


async def create_category(pool: asyncpg.Pool, name: str, slug: str | None) -> Category:
    """A new category; its slug made from the name unless given. SlugTakenError."""
    name = domain.one_line(name)
    slug = slug or domain.make_slug(name, fallback="chuyen-muc")
    async with db.acquire(pool) as conn:
        return await store.create_category(conn, name, slug)


# --- articles -----------------------------------------------------------------------------


async def _check_references(conn: asyncpg.Connection, fields: Mapping[str, Any]) -> None:
    if "category_id" in fields and await store.get_category(conn, fields["category_id"]) is None:
        raise InvalidFieldsError({"category_id": "Chuyên mục không tồn tại."})
    image_id = fields.get("image_id")
    if image_id is not None and not await store.image_exists(conn, image_id):
        raise InvalidFieldsError({"image_id": "Ảnh không tồn tại."})


async def _locked_article(
    conn: asyncpg.Connection, principal: Principal, article_id: int
) -> Article:
    """The article, locked until the transaction ends; ArticleNotFoundError if there is
    none the principal may see."""
    article = await store.get_article(conn, article_id, for_update=True)
    if article is None or not domain.can_see(principal, article):
        raise domain.ArticleNotFoundError
    return article


async def create_article(
    pool: asyncpg.Pool, principal: Principal, body: Mapping[str, Any]
) -> Article:
    """A new draft of `body`'s fields, owned by `principal`."""
    fields = domain.clean_article_fields(body)
    derived = domain.derived_columns(fields)
    async with db.acquire(pool) as conn, conn.transaction():
        await _check_references(conn, fields)
        return await store.create_article(
            conn, fields, derived["slug"], derived["body_text"], principal.user_id
        )


async def update_article(
    pool: asyncpg.Pool,
    principal: Principal,
    article_id: int,
    body: Mapping[str, Any],
    version: int | None = None,
) -> Article:
    """Change some fields; `version`, if given, must still be the article's (else
    VersionConflictError). A published article's change is announced as article.updated."""
    fields = domain.clean_article_fields(body)
    if not fields:
        raise InvalidFieldsError({"(toàn bộ)": "Cần gửi ít nhất một trường để sửa."})
    async with db.acquire(pool) as conn, conn.transaction():
        article = await _locked_article(conn, principal, article_id)
        if not domain.can_edit(principal, article):
            raise domain.EditForbiddenError
        if version is not None and version != article.version:
            raise domain.VersionConflictError
        await _check_references(conn, fields)
        updated = await store.update_article(
            conn, article.id, fields | domain.derived_columns(fields)
        )
        event_type = domain.edit_event(updated.status)
        if event_type:
            await write_event(conn, event_type, events.article_data(updated))
    return updated


async def publish_article(pool: asyncpg.Pool, principal: Principal, article_id: int) -> Article:
    """Publish (or publish again) and announce it."""
    async with db.acquire(pool) as conn, conn.transaction():
        article = await _locked_article(conn, principal, article_id)
        event_type = domain.publication_event(article.status)
        published = await store.set_status(conn, article.id, PUBLISHED)
        await write_event(conn, event_type, events.article_data(published))
    return published


async def unpublish_article(pool: asyncpg.Pool, principal: Principal, article_id: int) -> Article:
    """Take a published article down and announce it; NotPublishedError otherwise."""
    async with db.acquire(pool) as conn, conn.transaction():
        article = await _locked_article(conn, principal, article_id)
        if not article.is_public:
            raise domain.NotPublishedError
        withdrawn = await store.set_status(conn, article.id, UNPUBLISHED)
        await write_event(conn, "article.unpublished", events.unpublished_data(withdrawn))
    return withdrawn


# --- images -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredImage:
    id: int
    content_type: str
    size: int

    @property
    def url(self) -> str:
        return domain.image_path(self.id)


async def add_image(pool: asyncpg.Pool, uploader: Principal, data: bytes) -> StoredImage:
    """Keep an uploaded image; its type read from its first bytes (UnsupportedImageError
    for anything but JPEG, PNG, WebP or GIF)."""
    content_type = domain.image_type(data[:16])
    if content_type is None:
        raise domain.UnsupportedImageError
    digest = hashlib.sha256(data).hexdigest()
    async with db.acquire(pool) as conn:
        image_id = await store.insert_image(conn, content_type, data, digest, uploader.user_id)
    return StoredImage(image_id, content_type, len(data))


# --- static pages -------------------------------------------------------------------------
# Static pages publish no events: no other service keeps anything about them.


async def _locked_page(conn: asyncpg.Connection, slug: str) -> StaticPage:
    """The stored page, locked until the transaction ends; PageNotFoundError if none."""
    page = await store.get_page(conn, slug, for_update=True)
    if page is None:
        raise domain.PageNotFoundError
    return page


async def create_page(
    pool: asyncpg.Pool, principal: Principal, body: Mapping[str, Any]
) -> StaticPage:
    """A new draft page and its first revision; its slug made from the title unless given
    (PageSlugTakenError when a given slug is any page's, the trash included)."""
    fields = domain.clean_page_fields(body)
    async with db.acquire(pool) as conn, conn.transaction():
        await store.purge_deleted_pages(conn)
        slug = body.get("slug") or domain.page_slug_for(
            fields["title"], await store.page_slugs(conn)
        )
        page = await store.insert_page(
            conn, slug, fields["title"], fields.get("body_html", ""), DRAFT, principal.user_id
        )
        await store.add_page_revision(conn, page, principal.user_id)
    return page


async def put_page(
    pool: asyncpg.Pool, principal: Principal, slug: str, title: str, body_html: str
) -> StaticPage:
    """Create or replace a page and publish it (from any state, the trash included), its
    HTML sanitised; a new revision."""
    fields = domain.clean_page_fields({"title": title, "body_html": body_html})
    async with db.acquire(pool) as conn, conn.transaction():
        await store.purge_deleted_pages(conn)
        page = await store.put_page(
            conn, slug, fields["title"], fields["body_html"], principal.user_id
        )
        await store.add_page_revision(conn, page, principal.user_id)
    return page


async def edit_page(
    pool: asyncpg.Pool,
    principal: Principal,
    slug: str,
    body: Mapping[str, Any],
    version: int | None = None,
) -> StaticPage:
    """Change a page's title or body (a new revision), keeping its state: a published
    page's new text is public at once. `version`, if given, must still be the page's."""
    fields = domain.clean_page_fields(body)
    if not fields:
        raise InvalidFieldsError({"(toàn bộ)": "Cần gửi tiêu đề hoặc nội dung để sửa."})
    async with db.acquire(pool) as conn, conn.transaction():
        page = await _locked_page(conn, slug)
        domain.page_transition("edit", page.status)
        if version is not None and version != page.version:
            raise domain.PageVersionConflictError
        edited = await store.update_page_text(
            conn,
            slug,
            fields.get("title", page.title),
            fields.get("body_html", page.body_html),
            principal.user_id,
        )
        await store.add_page_revision(conn, edited, principal.user_id)
    return edited


async def change_page_state(
    pool: asyncpg.Pool, principal: Principal, slug: str, command: str
) -> StaticPage:
    """Publish, unpublish, delete (to the trash) or restore (from it) a page, as
    domain.PAGE_TRANSITIONS allows."""
    async with db.acquire(pool) as conn, conn.transaction():
        await store.purge_deleted_pages(conn)
        page = await _locked_page(conn, slug)
        after = domain.page_transition(command, page.status)
        return await store.set_page_status(conn, slug, after, principal.user_id)


async def restore_page_revision(
    pool: asyncpg.Pool, principal: Principal, slug: str, number: int
) -> StaticPage:
    """Bring back the text of revision `number`: an edit like any other, so a new revision
    (which names the one it restored)."""
    async with db.acquire(pool) as conn, conn.transaction():
        page = await _locked_page(conn, slug)
        domain.page_transition("edit", page.status)
        revision = await store.page_revision(conn, slug, number)
        if revision is None:
            raise domain.PageRevisionNotFoundError
        restored = await store.update_page_text(
            conn, slug, revision.title, revision.body_html, principal.user_id
        )
        await store.add_page_revision(conn, restored, principal.user_id, restored_from=number)
    return restored


# --- users --------------------------------------------------------------------------------


async def create_user(
    conn: asyncpg.Connection,
    username: str,
    password: str,
    *,
    roles: Iterable[str],
    display_name: str | None = None,
) -> User:
    """A new user; UserInputError (Vietnamese message) for input the record cannot take,
    UsernameTakenError for a name someone has."""
    name = domain.normalize_username(username)
    domain.check_password(password)
    wanted_roles = domain.check_roles(roles)
    shown_name = domain.check_display_name(display_name if display_name is not None else name)
    password_hash = await passwords.hash_password(password)
    return await store.insert_user(conn, name, shown_name, password_hash, wanted_roles)


async def update_user(
    pool: asyncpg.Pool,
    user_id: int,
    *,
    display_name: str | None = None,
    roles: frozenset[str] | None = None,
    disabled: bool | None = None,
    password: str | None = None,
) -> User:
    """Change a user (None: left as it is); UserNotFoundError, or LastAdminError (and
    nothing written) when no enabled admin would be left."""
    change = store.UserChange(
        display_name=display_name,
        roles=roles,
        disabled=disabled,
        # Hashed before the transaction: it is slow, and the lock below should be short.
        password_hash=await passwords.hash_password(password) if password is not None else None,
    )
    async with db.acquire(pool) as conn, conn.transaction():
        await store.lock_user_changes(conn)
        user = await store.update_user(conn, user_id, change)
        if user is None:
            raise domain.UserNotFoundError
        if await store.enabled_admins(conn) == 0:
            raise domain.LastAdminError
    return user
