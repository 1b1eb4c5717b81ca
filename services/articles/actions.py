"""Every change of the articles service's state, each in one transaction with the events
it announces (written to the outbox in the same transaction).

Actions take a pool or a connection and plain values, and raise the refusals of
domain.py; the handlers turn those into answers.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.articles import documents, domain, events, images, passwords, store
from services.articles.domain import (
    DRAFT,
    Article,
    Category,
    Document,
    ImageVariant,
    InvalidFieldsError,
    StaticPage,
    Tag,
    Topic,
    User,
)
from services.common import db
from services.common.events.outbox import write_event
from services.common.roles import Principal
from services.common.vietnam import utc_now

# --- categories ---------------------------------------------------------------------------


async def _parent(conn: asyncpg.Connection, parent_id: int | None) -> Category | None:
    if parent_id is None:
        return None
    parent = await store.get_category(conn, parent_id)
    if parent is None:
        raise InvalidFieldsError({"parent_id": "Chuyên mục cha không tồn tại."})
    return parent


async def create_category(
    pool: asyncpg.Pool,
    name: str,
    slug: str | None,
    parent_id: int | None = None,
    position: int = 0,
) -> Category:
    """A new category; its slug made from the name unless given. SlugTakenError; a parent
    that is itself a child is CategoryTooDeepError."""
    name = domain.one_line(name)
    slug = slug or domain.make_slug(name, fallback="chuyen-muc")
    async with db.acquire(pool) as conn, conn.transaction():
        await store.lock_category_changes(conn)
        domain.check_parent(None, await _parent(conn, parent_id), has_children=False)
        return await store.create_category(conn, name, slug, parent_id, position)


async def update_category(
    pool: asyncpg.Pool, category_id: int, changes: Mapping[str, Any]
) -> Category:
    """Rename, reorder or (re-)parent a category. A change of what its articles' events
    carry (name, slug, parent) announces every public article it touches again."""
    changes = dict(changes)
    if "name" in changes:
        changes["name"] = domain.one_line(changes["name"])
    async with db.acquire(pool) as conn, conn.transaction():
        await store.lock_category_changes(conn)
        category = await store.get_category(conn, category_id, lock="FOR UPDATE")
        if category is None:
            raise domain.CategoryNotFoundError
        if changes.get("parent_id") is not None:
            domain.check_parent(
                category.id,
                await _parent(conn, changes["parent_id"]),
                await store.has_children(conn, category.id),
            )
        updated = await store.update_category(conn, category.id, changes)
        touched: list[int] = []
        if (updated.name, updated.slug) != (category.name, category.slug):
            # Its own articles carry it as their category, its children's as their parent.
            everyone = await store.list_categories(conn)
            touched = await store.public_in_categories(
                conn, domain.with_children(category, everyone)
            )
        elif updated.parent_id != category.parent_id:
            touched = await store.public_in_categories(conn, [category.id])
        await _announce_again(conn, touched)
    return updated


async def delete_category(pool: asyncpg.Pool, category_id: int) -> None:
    """Delete a category no article (of any state) uses and no child hangs under."""
    async with db.acquire(pool) as conn, conn.transaction():
        await store.lock_category_changes(conn)
        if await store.get_category(conn, category_id, lock="FOR UPDATE") is None:
            raise domain.CategoryNotFoundError
        if await store.has_children(conn, category_id):
            raise domain.CategoryHasChildrenError
        if await store.category_in_use(conn, category_id):
            raise domain.CategoryNotEmptyError
        await store.delete_category(conn, category_id)


# --- tags and topics ----------------------------------------------------------------------

# Articles announced again per round when a taxonomy change touches many: each round
# holds this many in memory, all rounds commit together.
ANNOUNCE_BATCH = 200


async def _announce_again(conn: asyncpg.Connection, article_ids: list[int]) -> None:
    """A new version of each of these public articles, announced as article.updated in
    the caller's transaction."""
    for start in range(0, len(article_ids), ANNOUNCE_BATCH):
        batch = article_ids[start : start + ANNOUNCE_BATCH]
        await store.raise_versions(conn, batch)
        for article in await store.get_articles(conn, batch):
            await write_event(conn, "article.updated", events.article_data(article))


def _slug_of(name: str, slug: str | None, fallback: str) -> tuple[str, str]:
    name = domain.one_line(name)
    return name, slug or domain.make_slug(name, fallback=fallback)


async def create_tag(pool: asyncpg.Pool, name: str, slug: str | None) -> Tag:
    name, slug = _slug_of(name, slug, "the")
    async with db.acquire(pool) as conn:
        return await store.create_tag(conn, name, slug)


async def rename_tag(pool: asyncpg.Pool, tag_id: int, name: str, slug: str | None) -> Tag:
    """A new name (and slug, from the name unless given); the public articles with the
    tag are announced again."""
    name, slug = _slug_of(name, slug, "the")
    async with db.acquire(pool) as conn, conn.transaction():
        tag = await store.rename_tag(conn, tag_id, name, slug)
        if tag is None:
            raise domain.TagNotFoundError
        await _announce_again(conn, await store.public_with_tag(conn, tag.id))
    return tag


async def delete_tag(pool: asyncpg.Pool, tag_id: int) -> None:
    """Delete a tag, taking it off every article; the public ones are announced again."""
    async with db.acquire(pool) as conn, conn.transaction():
        # Locked first, so that the articles read next include any tagged meanwhile.
        if await store.get_tag(conn, tag_id, lock="FOR UPDATE") is None:
            raise domain.TagNotFoundError
        tagged = await store.public_with_tag(conn, tag_id)
        await store.delete_tag(conn, tag_id)
        await _announce_again(conn, tagged)


async def create_topic(pool: asyncpg.Pool, name: str, slug: str | None) -> Topic:
    name, slug = _slug_of(name, slug, "dong-su-kien")
    async with db.acquire(pool) as conn:
        return await store.create_topic(conn, name, slug)


async def rename_topic(pool: asyncpg.Pool, topic_id: int, name: str, slug: str | None) -> Topic:
    name, slug = _slug_of(name, slug, "dong-su-kien")
    async with db.acquire(pool) as conn, conn.transaction():
        topic = await store.rename_topic(conn, topic_id, name, slug)
        if topic is None:
            raise domain.TopicNotFoundError
        await _announce_again(conn, await store.public_with_topic(conn, topic.id))
    return topic


async def delete_topic(pool: asyncpg.Pool, topic_id: int) -> None:
    """Delete a topic; its articles stay, without one, and the public ones are announced
    again."""
    async with db.acquire(pool) as conn, conn.transaction():
        if await store.get_topic(conn, topic_id, lock="FOR UPDATE") is None:
            raise domain.TopicNotFoundError
        in_topic = await store.public_with_topic(conn, topic_id)
        await store.delete_topic(conn, topic_id)
        await _announce_again(conn, in_topic)


# --- articles -----------------------------------------------------------------------------


async def _references(
    conn: asyncpg.Connection, fields: Mapping[str, Any], taxonomy: Mapping[str, Any]
) -> list[Tag] | None:
    """Check what the article will point at (InvalidFieldsError naming the field that
    points nowhere) and lock it, shared, until the transaction ends; the wanted tags
    (None: unchanged), new names created.

    Called before the article is locked: a rename or delete of a category, tag or topic
    locks that first and the articles next, so taking them in the same order never
    deadlocks. A rename or delete running meanwhile waits, then sees the article (and
    announces it again, or refuses to delete); one that ran first makes this a 422."""
    fields = {**fields, **taxonomy}
    if "category_id" in fields:
        category = await store.get_category(conn, fields["category_id"], lock="FOR SHARE")
        if category is None:
            raise InvalidFieldsError({"category_id": "Chuyên mục không tồn tại."})
        if category.parent_id is not None:
            await store.get_category(conn, category.parent_id, lock="FOR SHARE")
    image_id = fields.get("image_id")
    if image_id is not None and not await store.image_exists(conn, image_id):
        raise InvalidFieldsError({"image_id": "Ảnh không tồn tại."})
    topic_id = fields.get("topic_id")
    if topic_id is not None and await store.get_topic(conn, topic_id, lock="FOR SHARE") is None:
        raise InvalidFieldsError({"topic_id": "Dòng sự kiện không tồn tại."})
    if "tags" not in taxonomy:
        return None
    return await store.ensure_tags(conn, domain.tag_names(taxonomy["tags"]))


async def _set_taxonomy(
    conn: asyncpg.Connection, article_id: int, taxonomy: Mapping[str, Any], tags: list[Tag] | None
) -> None:
    """The article's tags (None: unchanged) and topic (if the request sets it)."""
    if tags is not None:
        await store.set_article_tags(conn, article_id, tags)
    if "topic_id" in taxonomy:
        await store.set_article_topic(conn, article_id, taxonomy["topic_id"])


async def _locked_article(
    conn: asyncpg.Connection, principal: Principal | None, article_id: int
) -> Article:
    """The article, locked until the transaction ends; ArticleNotFoundError if there is
    none the principal (None: the scheduler, which sees every one) may see."""
    article = await store.get_article(conn, article_id, for_update=True)
    if article is None or (principal is not None and not domain.can_see(principal, article)):
        raise domain.ArticleNotFoundError
    return article


async def _free_slug(conn: asyncpg.Connection, title: str, article_id: int | None) -> str:
    """The title's slug, with -2, -3, ... when another article has (or had) it."""
    await store.lock_slugs(conn)
    for candidate in domain.slug_candidates(title):
        if not await store.slug_taken(conn, candidate, article_id):
            return candidate
    raise InvalidFieldsError({"title": "Không tìm được đường dẫn còn trống cho tiêu đề này."})


async def create_article(
    pool: asyncpg.Pool, principal: Principal, body: Mapping[str, Any]
) -> Article:
    """A new draft of `body`'s fields, owned by `principal`; its text is revision 1. An
    editor may give `imported_views` (the count it had on an earlier site): its events
    carry it to the counter, which starts the article's total there."""
    fields = domain.clean_article_fields(body)
    taxonomy = domain.taxonomy_fields(body)
    derived = domain.derived_columns(fields)
    imported_views = domain.check_imported_views(principal, body)
    async with db.acquire(pool) as conn, conn.transaction():
        tags = await _references(conn, fields, taxonomy)
        derived["slug"] = await _free_slug(conn, fields["title"], None)
        created = await store.create_article(conn, fields, derived, principal.user_id)
        await store.add_revision(conn, created, principal.user_id)
        if imported_views is not None:
            await store.set_imported_details(conn, created.id, None, imported_views)
        if not taxonomy and imported_views is None:
            return created
        await _set_taxonomy(conn, created.id, taxonomy, tags)
        return await _reread(conn, created.id)


async def _reread(conn: asyncpg.Connection, article_id: int) -> Article:
    article = await store.get_article(conn, article_id)
    assert article is not None
    return article


async def _edit(
    conn: asyncpg.Connection,
    principal: Principal,
    article: Article,
    fields: Mapping[str, Any],
    taxonomy: Mapping[str, Any] | None = None,
    tags: list[Tag] | None = None,
) -> Article:
    """Write an edit of the locked `article`: a new slug for a new title (the old one kept
    to redirect), a revision when the text really changed, the tags and topic the request
    sets, article.updated if public. References were checked (and locked) before."""
    changes = {**fields, **domain.derived_columns(fields, article)}
    if "title" in fields and fields["title"] != article.title:
        changes["slug"] = await _free_slug(conn, fields["title"], article.id)
        if changes["slug"] != article.slug:
            await store.keep_old_slug(conn, article.id, article.slug, changes["slug"])
    text_changed = domain.changes_text(fields, article)
    if changes:
        await store.update_article(conn, article.id, changes, text_changed=text_changed)
    else:
        # Only tags or topic: a new version, but no change of the text or its dates.
        await store.raise_versions(conn, [article.id])
    if taxonomy:
        await _set_taxonomy(conn, article.id, taxonomy, tags)
    updated = await _reread(conn, article.id)
    if text_changed:
        await store.add_revision(conn, updated, principal.user_id)
    event_type = domain.edit_event(updated.status)
    if event_type:
        await write_event(conn, event_type, events.article_data(updated))
    return updated


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
    taxonomy = domain.taxonomy_fields(body)
    if not fields and not taxonomy:
        raise InvalidFieldsError({"(toàn bộ)": "Cần gửi ít nhất một trường để sửa."})
    async with db.acquire(pool) as conn, conn.transaction():
        tags = await _references(conn, fields, taxonomy)
        article = await _locked_article(conn, principal, article_id)
        domain.check_edit(principal, article)
        if version is not None and version != article.version:
            raise domain.VersionConflictError
        return await _edit(conn, principal, article, fields, taxonomy, tags)


async def restore_revision(
    pool: asyncpg.Pool, principal: Principal, article_id: int, number: int
) -> Article:
    """Bring back the text of revision `number`: an edit like any other, kept as a new
    revision."""
    async with db.acquire(pool) as conn, conn.transaction():
        article = await _locked_article(conn, principal, article_id)
        domain.check_edit(principal, article)
        revision = await store.get_revision(conn, article.id, number)
        if revision is None:
            raise domain.RevisionNotFoundError
        return await _edit(conn, principal, article, revision.text_fields())


def _check_step_input(action: str, given: domain.StepInput, now: datetime) -> None:
    if action == "schedule":
        assert given.publish_at is not None, "the handler requires publish_at"
        domain.check_schedule(given.publish_at, given.end_at, now)
    if action == "publish" and given.published_at is not None:
        domain.check_backdate(given.published_at, now)


async def _step(
    conn: asyncpg.Connection,
    principal: Principal | None,
    article: Article,
    action: str,
    given: domain.StepInput,
) -> Article:
    """Take the step `action` of the locked `article`: check it against the table, write
    the new state, the history row and the event, all in the caller's transaction."""
    transition = domain.check_transition(principal, article, action)
    now = utc_now()
    _check_step_input(action, given, now)
    change = domain.state_after(article, transition, now, given)
    changed = await store.write_state(conn, article.id, change)
    await store.record_transition(
        conn,
        article.id,
        article.status,
        changed.status,
        action,
        principal.user_id if principal else None,
        given.reason,
    )
    match domain.transition_event(transition, article.status):
        case "article.unpublished":
            await write_event(conn, "article.unpublished", events.unpublished_data(changed))
        case str(event_type):
            await write_event(conn, event_type, events.article_data(changed))
    return changed


async def take_step(
    pool: asyncpg.Pool,
    principal: Principal,
    article_id: int,
    action: str,
    given: domain.StepInput | None = None,
) -> Article:
    """A step of the workflow asked for by `principal` (submit, return, publish, schedule,
    unpublish, delete, restore): ActionForbiddenError, InvalidTransitionError,
    InvalidFieldsError, or the article after it."""
    async with db.acquire(pool) as conn, conn.transaction():
        article = await _locked_article(conn, principal, article_id)
        return await _step(conn, principal, article, action, given or domain.StepInput())


# --- import from an earlier site ------------------------------------------------------


@dataclass(frozen=True)
class ImportTimes:
    """An imported article's dates on the site it came from: its publication (None for a
    draft never published) and the last change of its text ("Cập nhật vào ngày")."""

    published_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True)
class ImportItem:
    """One article brought over from an earlier site: its fields (as an editor sends them;
    the body is sanitised like any other), its dates there, its view count there, and
    whether it was published there (else it stays a draft, never published)."""

    external_id: str
    body: Mapping[str, Any]
    times: ImportTimes
    imported_views: int | None
    publish: bool


async def import_batch(
    pool: asyncpg.Pool, principal: Principal, items: list[ImportItem]
) -> list[Article | None | domain.RefusalError]:
    """Import the items: each is created with its tags, dates and view count, then
    published at its own past time (article.published, which carries the view count to
    the counter) or left a draft. All in one transaction (one commit for many articles:
    commits and round trips were most of an import's time), each item in a savepoint of
    its own, so a refused one leaves nothing and the others are kept. For each item: the
    article; None if its external id was imported before (a second run never doubles nor
    overwrites an article: editors may have changed it here since); or the refusal."""
    results: list[Article | None | domain.RefusalError] = []
    async with db.acquire(pool) as conn, conn.transaction():
        for item in items:
            try:
                async with conn.transaction():
                    results.append(
                        await _import_one(
                            conn,
                            principal,
                            item.external_id,
                            item.body,
                            item.times,
                            item.imported_views,
                            item.publish,
                        )
                    )
            except domain.RefusalError as refusal:
                results.append(refusal)
    return results


async def _import_one(
    conn: asyncpg.Connection,
    principal: Principal,
    external_id: str,
    body: Mapping[str, Any],
    times: ImportTimes,
    imported_views: int | None,
    publish: bool,
) -> Article | None:
    """One item of import_batch, in the caller's transaction."""
    fields = domain.clean_article_fields(body)
    taxonomy = domain.taxonomy_fields(body)
    derived = domain.derived_columns(fields)
    if publish and times.published_at is None:
        raise InvalidFieldsError({"published_at": "Bài đã đăng cần thời điểm đăng."})
    # Claimed first: a concurrent run importing the same id waits here, then skips it.
    if not await store.claim_external_id(conn, external_id):
        return None
    tags = await _references(conn, fields, taxonomy)
    derived["slug"] = await _free_slug(conn, fields["title"], None)
    created = await store.create_article(conn, fields, derived, principal.user_id)
    written_at = times.updated_at or times.published_at
    await store.set_imported_details(conn, created.id, written_at, imported_views)
    await store.add_revision(conn, created, principal.user_id)
    if taxonomy:
        await _set_taxonomy(conn, created.id, taxonomy, tags)
    article = await _reread(conn, created.id)
    if publish:
        given = domain.StepInput(published_at=times.published_at)
        article = await _step(conn, principal, article, "publish", given)
    await store.record_import(conn, external_id, article.id)
    return article


async def imported_external_ids(pool: asyncpg.Pool) -> set[str]:
    """Every external id imported so far (a run skips these without reading further)."""
    async with db.acquire(pool) as conn:
        return await store.imported_external_ids(conn)


async def category_for_import(pool: asyncpg.Pool, name: str, parent: str | None = None) -> Category:
    """The category an imported article goes in, by name or slug, created (under `parent`,
    found or created the same way) if there is none. A parent that is itself a child is
    not nested further: the category is made at the top level instead."""
    parent_category = await category_for_import(pool, parent) if parent else None
    found = await _category_named(pool, name)
    if found is not None:
        return found
    parent_id = None
    if parent_category is not None and parent_category.parent_id is None:
        parent_id = parent_category.id
    try:
        return await create_category(pool, name, None, parent_id)
    except domain.SlugTakenError:
        # Made meanwhile by another run: take that one.
        again = await _category_named(pool, name)
        if again is None:
            raise
        return again


async def _category_named(pool: asyncpg.Pool, name: str) -> Category | None:
    async with db.acquire(pool) as conn:
        return await store.find_category(conn, domain.one_line(name), domain.make_slug(name, ""))


async def import_principal(pool: asyncpg.Pool, username: str | None) -> Principal:
    """Who an import acts as: the named user, or the first enabled admin. The articles are
    theirs, and their transitions name them. UserNotFoundError if there is none, or the
    named user is disabled or may not publish."""
    async with db.acquire(pool) as conn:
        if username:
            user = await store.get_user_by_username(conn, domain.username_key(username))
        else:
            user = await store.first_admin(conn)
    principal = domain.import_principal(user, utc_now())
    if principal is None:
        raise domain.UserNotFoundError
    return principal


# --- the scheduler ------------------------------------------------------------------------


async def publish_next_due(pool: asyncpg.Pool) -> bool:
    """Publish one scheduled article whose time has come, in its own transaction; False
    when there is none left (or every due one is being published by another instance)."""
    return await _next_claimed(pool, store.claim_due, "publish_due")


async def expire_next(pool: asyncpg.Pool) -> bool:
    """Take down one published article whose end time has passed (state expired)."""
    return await _next_claimed(pool, store.claim_ending, "expire")


async def _next_claimed(
    pool: asyncpg.Pool,
    claim: Callable[[asyncpg.Connection], Awaitable[int | None]],
    action: str,
) -> bool:
    async with db.acquire(pool) as conn, conn.transaction():
        article_id = await claim(conn)
        if article_id is None:
            return False
        article = await _locked_article(conn, None, article_id)
        await _step(conn, None, article, action, domain.StepInput())
    return True


async def purge_trash(pool: asyncpg.Pool) -> int:
    """Delete for good what has been in the trash longer than domain.TRASH_DAYS."""
    async with db.acquire(pool) as conn:
        return await store.purge_deleted(conn, domain.purge_before(utc_now()))


async def pin_article(
    pool: asyncpg.Pool, principal: Principal, article_id: int, scope: str, until: datetime | None
) -> Article:
    """Pin the article to the top of the home page or of its category until `until`
    (None: unpin). A public article's pin is announced as article.updated."""
    async with db.acquire(pool) as conn, conn.transaction():
        article = await _locked_article(conn, principal, article_id)
        await store.set_pin(conn, article.id, scope, until)
        await store.raise_versions(conn, [article.id])
        pinned = await _reread(conn, article.id)
        event_type = domain.edit_event(pinned.status)
        if event_type:
            await write_event(conn, event_type, events.article_data(pinned))
    return pinned


# --- images -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredImage:
    id: int
    content_type: str
    size: int
    width: int
    height: int
    variants: tuple[ImageVariant, ...]

    @property
    def url(self) -> str:
        return domain.image_path(self.id)


async def add_image(pool: asyncpg.Pool, data: bytes, uploaded_by: int | None) -> StoredImage:
    """Keep an image from its bytes (an upload, an import): decoded and checked, cleaned
    of its metadata, turned upright, with its variants; the original and its variants
    commit together. Refusals (nothing stored): ImageTooLargeError, UnsupportedImageError,
    ImageTooManyPixelsError, BrokenImageError."""
    # Pillow's work takes a second or more for a phone photo: off the event loop.
    processed = await asyncio.to_thread(images.process, data)
    original = processed.original
    async with db.acquire(pool) as conn, conn.transaction():
        image_id = await store.insert_image(conn, original, uploaded_by)
        await store.insert_variants(conn, image_id, processed.variants)
    variants = tuple(
        ImageVariant(image_id, v.name, v.content_type, v.width, v.height, len(v.data))
        for v in processed.variants
    )
    return StoredImage(
        image_id, original.content_type, len(original.data), original.width, original.height,
        variants,
    )  # fmt: skip


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
    must_change_password: bool = False,
) -> User:
    """A new user; UserInputError (Vietnamese message) for input the record cannot take,
    UsernameTakenError for a name someone has. `must_change_password` when someone else
    chose the password (an admin, the first admin's settings)."""
    name = domain.normalize_username(username)
    domain.check_password(password)
    wanted_roles = domain.check_roles(roles)
    shown_name = domain.check_display_name(display_name if display_name is not None else name)
    password_hash = await passwords.hash_password(password)
    return await store.insert_user(
        conn, name, shown_name, password_hash, wanted_roles, must_change_password
    )


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
    nothing written) when no enabled admin would be left. A password set here is an
    admin's reset: its owner must choose a new one at the next sign-in. A reset or
    disabling ends the user's sign-in sessions at once."""
    change = store.UserChange(display_name=display_name, roles=roles, disabled=disabled)
    # Hashed before the transaction: it is slow, and the lock below should be short.
    password_hash = await passwords.hash_password(password) if password is not None else None
    async with db.acquire(pool) as conn, conn.transaction():
        await store.lock_user_changes(conn)
        user = await store.update_user(conn, user_id, change)
        if user is None:
            raise domain.UserNotFoundError
        if await store.enabled_admins(conn) == 0:
            raise domain.LastAdminError
        if password_hash is not None:
            user = await store.set_password(conn, user_id, password_hash, must_change=True)
        if password_hash is not None or disabled:
            await store.end_sessions_of(conn, user_id)
    assert user is not None
    return user


async def change_password(pool: asyncpg.Pool, user_id: int, new_password: str) -> User:
    """The owner's own new password (checked against the rules before): it no longer has
    to be changed, and every sign-in session of the user ends."""
    domain.check_password(new_password)
    password_hash = await passwords.hash_password(new_password)
    async with db.acquire(pool) as conn, conn.transaction():
        user = await store.set_password(conn, user_id, password_hash, must_change=False)
        if user is None:
            raise domain.UserNotFoundError
        await store.end_sessions_of(conn, user_id)
    return user


# --- documents ----------------------------------------------------------------------------
# A document changes no article field and no event payload: no event is written. Each
# change locks the article, so it cannot leave the author's hands (or go to the trash)
# between the check and the write.


async def add_document(
    pool: asyncpg.Pool,
    principal: Principal,
    article_id: int,
    data: bytes,
    file_name: str,
    title: str | None = None,
) -> Document:
    """Attach a document to an article (whoever may edit the article): its type read from
    its content and agreeing with the name's extension (UnsupportedDocumentError), its
    title the one given or the file name's."""
    if len(data) > domain.DOCUMENT_MAX_BYTES:
        raise domain.DocumentTooLargeError
    name = domain.clean_file_name(file_name)
    if not name:
        raise InvalidFieldsError({"file": "Tệp phải có tên (kèm phần mở rộng, như .pdf)."})
    content_type = domain.check_document_type(documents.document_type(data), name)
    fields = {
        "title": domain.document_title(title, name),
        "file_name": name,
        "content_type": content_type,
    }
    digest = hashlib.sha256(data).hexdigest()
    async with db.acquire(pool) as conn, conn.transaction():
        article = await _locked_article(conn, principal, article_id)
        domain.check_edit(principal, article)
        return await store.insert_document(
            conn, article.id, fields, data, digest, principal.user_id
        )


async def _editable_document(
    conn: asyncpg.Connection, principal: Principal, document_id: int
) -> Document:
    """The document, its article locked, if the principal may edit that article;
    DocumentNotFoundError when they may not even see it."""
    document = await store.get_document(conn, document_id)
    if document is None:
        raise domain.DocumentNotFoundError
    try:
        article = await _locked_article(conn, principal, document.article_id)
    except domain.ArticleNotFoundError:
        raise domain.DocumentNotFoundError from None
    domain.check_edit(principal, article)
    return document


async def update_document(
    pool: asyncpg.Pool, principal: Principal, document_id: int, fields: Mapping[str, Any]
) -> Document:
    """Rename a document or move it in its article's list."""
    changes = domain.document_changes(fields)
    async with db.acquire(pool) as conn, conn.transaction():
        document = await _editable_document(conn, principal, document_id)
        return await store.update_document(conn, document.id, changes)


async def delete_document(pool: asyncpg.Pool, principal: Principal, document_id: int) -> None:
    async with db.acquire(pool) as conn, conn.transaction():
        document = await _editable_document(conn, principal, document_id)
        await store.delete_document(conn, document.id)


# --- desk: auth (the demo job's one-time account) ------------------------------------------


async def open_demo_account(conn: asyncpg.Connection, username: str, password: str) -> User:
    """The account the demo job signs in with (an admin: it publishes, moderates and then
    disables itself), created or given this fresh password and enabled again."""
    async with conn.transaction():
        user = await store.get_user_by_username(conn, username)
        if user is None:
            return await create_user(
                conn, username, password, roles=["admin"], display_name="Nội dung mẫu"
            )
        await store.set_password(conn, user.id, await passwords.hash_password(password), False)
        enabled = await store.set_disabled(conn, user.id, False)
    assert enabled is not None
    return enabled


async def close_account(conn: asyncpg.Connection, username: str) -> bool:
    """Disable the account of this name, if it is enabled, and end its sessions; whether
    there was one to close."""
    async with conn.transaction():
        user = await store.get_user_by_username(conn, username)
        if user is None or user.disabled:
            return False
        await store.set_disabled(conn, user.id, True)
        await store.end_sessions_of(conn, user.id)
    return True


# --- desk: manage (reordering categories, resetting a password) ----------------------------


async def move_category(pool: asyncpg.Pool, category_id: int, step: int) -> bool:
    """Move a category one place up (-1) or down (+1) among its parent's; False when it is
    already first or last. No event: the order is not part of what articles announce."""
    async with db.acquire(pool) as conn, conn.transaction():
        await store.lock_category_changes(conn)
        category = await store.get_category(conn, category_id, lock="FOR UPDATE")
        if category is None:
            raise domain.CategoryNotFoundError
        siblings = domain.siblings_of(category, await store.list_categories(conn))
        positions = domain.moved_positions(siblings, category_id, step)
        if positions is None:
            return False
        await store.set_category_positions(conn, positions)
    return True


async def reset_password(pool: asyncpg.Pool, user_id: int, temporary_password: str) -> User:
    """An admin gives a user a new (temporary) password, which the user replaces at the
    next sign-in (update_user marks it so and ends the user's sign-in sessions)."""
    domain.check_password(temporary_password)
    return await update_user(pool, user_id, password=temporary_password)
