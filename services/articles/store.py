"""All SQL of the articles service: plain async functions on an asyncpg connection, one per
query. The caller owns the transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

import asyncpg

from services.articles.domain import (
    EDITABLE,
    PAGE_TRASH_DAYS,
    Article,
    Category,
    CategoryNotEmptyError,
    Document,
    EncodedImage,
    ImageVariant,
    PageRevision,
    PageSlugTakenError,
    Picture,
    Revision,
    SearchPlan,
    SessionLimits,
    SlugTakenError,
    StateChange,
    StaticPage,
    Tag,
    Topic,
    User,
    UsernameTakenError,
)
from services.common.roles import Principal

# --- categories ---------------------------------------------------------------------------


_CATEGORY_COLUMNS = "id, name, slug, parent_id, position"


def _category(row: asyncpg.Record) -> Category:
    return Category(
        id=row["id"],
        name=row["name"],
        slug=row["slug"],
        parent_id=row["parent_id"],
        position=row["position"],
    )


async def list_categories(conn: asyncpg.Connection) -> list[Category]:
    rows = await conn.fetch(
        f"SELECT {_CATEGORY_COLUMNS} FROM categories ORDER BY position, name, id"
    )
    return [_category(r) for r in rows]


async def get_category(
    conn: asyncpg.Connection, category_id: int, *, lock: str = ""
) -> Category | None:
    """The category; `lock` "FOR UPDATE" (to change or delete it) or "FOR SHARE" (to put
    an article in it: a concurrent rename or delete waits, then sees the article)."""
    assert lock in ("", "FOR UPDATE", "FOR SHARE")
    row = await conn.fetchrow(
        f"SELECT {_CATEGORY_COLUMNS} FROM categories WHERE id = $1 {lock}", category_id
    )
    return _category(row) if row else None


async def find_category(conn: asyncpg.Connection, name: str, slug: str) -> Category | None:
    """The category of this name (letter case aside) or this slug; an exact name first."""
    row = await conn.fetchrow(
        f"""SELECT {_CATEGORY_COLUMNS} FROM categories
             WHERE lower(name) = lower($1) OR slug = $2
             ORDER BY (name = $1) DESC, (slug = $2) DESC, id LIMIT 1""",
        name,
        slug,
    )
    return _category(row) if row else None


async def get_category_by_slug(conn: asyncpg.Connection, slug: str) -> Category | None:
    row = await conn.fetchrow(f"SELECT {_CATEGORY_COLUMNS} FROM categories WHERE slug = $1", slug)
    return _category(row) if row else None


async def create_category(
    conn: asyncpg.Connection, name: str, slug: str, parent_id: int | None = None, position: int = 0
) -> Category:
    try:
        row = await conn.fetchrow(
            f"""INSERT INTO categories (name, slug, parent_id, position) VALUES ($1, $2, $3, $4)
                RETURNING {_CATEGORY_COLUMNS}""",
            name,
            slug,
            parent_id,
            position,
        )
    except asyncpg.UniqueViolationError as exc:
        raise SlugTakenError(slug) from exc
    assert row is not None
    return _category(row)


CATEGORY_COLUMNS = ("name", "slug", "parent_id", "position")


async def update_category(
    conn: asyncpg.Connection, category_id: int, changes: dict[str, Any]
) -> Category:
    """Apply `changes` (columns of CATEGORY_COLUMNS); SlugTakenError for a taken slug."""
    columns = [c for c in CATEGORY_COLUMNS if c in changes]
    assignments = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=2))
    try:
        row = await conn.fetchrow(
            f"""UPDATE categories SET {assignments} WHERE id = $1
                RETURNING {_CATEGORY_COLUMNS}""",
            category_id,
            *(changes[c] for c in columns),
        )
    except asyncpg.UniqueViolationError as exc:
        raise SlugTakenError(changes["slug"]) from exc
    assert row is not None
    return _category(row)


async def has_children(conn: asyncpg.Connection, category_id: int) -> bool:
    return bool(
        await conn.fetchval("SELECT true FROM categories WHERE parent_id = $1 LIMIT 1", category_id)
    )


async def category_in_use(conn: asyncpg.Connection, category_id: int) -> bool:
    """True if any article, whatever its state, is in the category."""
    return bool(
        await conn.fetchval("SELECT true FROM articles WHERE category_id = $1 LIMIT 1", category_id)
    )


async def delete_category(conn: asyncpg.Connection, category_id: int) -> None:
    """Delete an unused category; CategoryNotEmptyError if an article or a child took it
    meanwhile (the foreign keys see what the checks before could not)."""
    try:
        await conn.execute("DELETE FROM categories WHERE id = $1", category_id)
    except asyncpg.ForeignKeyViolationError as exc:
        raise CategoryNotEmptyError from exc


# Any bigint names the lock; this one reads "taxo" in ASCII.
_CATEGORY_CHANGES_LOCK = 0x7461786F


async def lock_category_changes(conn: asyncpg.Connection) -> None:
    """Serialise changes of the category tree until the transaction ends, so that two
    concurrent moves cannot together nest three levels."""
    await conn.execute("SELECT pg_advisory_xact_lock($1::bigint)", _CATEGORY_CHANGES_LOCK)


# --- tags and topics ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Named:
    """A table of named things an article points at (tags, topics): same columns, same
    queries; only the table, the dataclass and the word for a refusal differ."""

    table: str
    make: type[Tag] | type[Topic]
    kind: str  # Vietnamese, for SlugTakenError
    order: str


_TAGS = _Named("tags", Tag, "thẻ", "slug")
_TOPICS = _Named("topics", Topic, "dòng sự kiện", "created_at DESC, id DESC")


def _named(spec: _Named, row: asyncpg.Record | None) -> Any:
    return spec.make(id=row["id"], slug=row["slug"], name=row["name"]) if row else None


async def _list_named(conn: asyncpg.Connection, spec: _Named) -> list[Any]:
    rows = await conn.fetch(f"SELECT id, slug, name FROM {spec.table} ORDER BY {spec.order}")
    return [_named(spec, r) for r in rows]


async def _get_named(conn: asyncpg.Connection, spec: _Named, item_id: int, lock: str) -> Any:
    assert lock in ("", "FOR UPDATE", "FOR SHARE")
    row = await conn.fetchrow(
        f"SELECT id, slug, name FROM {spec.table} WHERE id = $1 {lock}", item_id
    )
    return _named(spec, row)


async def _get_named_by_slug(conn: asyncpg.Connection, spec: _Named, slug: str) -> Any:
    row = await conn.fetchrow(f"SELECT id, slug, name FROM {spec.table} WHERE slug = $1", slug)
    return _named(spec, row)


async def _write_named(conn: asyncpg.Connection, spec: _Named, sql: str, *args: Any) -> Any:
    """An INSERT or UPDATE returning the row; SlugTakenError when the slug is taken."""
    try:
        row = await conn.fetchrow(sql, *args)
    except asyncpg.UniqueViolationError as exc:
        raise SlugTakenError(args[-1], spec.kind) from exc
    return _named(spec, row)


async def _create_named(conn: asyncpg.Connection, spec: _Named, name: str, slug: str) -> Any:
    sql = f"INSERT INTO {spec.table} (name, slug) VALUES ($1, $2) RETURNING id, slug, name"
    return await _write_named(conn, spec, sql, name, slug)


async def _rename_named(
    conn: asyncpg.Connection, spec: _Named, item_id: int, name: str, slug: str
) -> Any:
    sql = f"UPDATE {spec.table} SET name = $2, slug = $3 WHERE id = $1 RETURNING id, slug, name"
    return await _write_named(conn, spec, sql, item_id, name, slug)


async def list_tags(conn: asyncpg.Connection) -> list[Tag]:
    return await _list_named(conn, _TAGS)


async def get_tag(conn: asyncpg.Connection, tag_id: int, *, lock: str = "") -> Tag | None:
    """The tag; `lock` as for get_category."""
    return cast(Tag | None, await _get_named(conn, _TAGS, tag_id, lock))


async def get_tag_by_slug(conn: asyncpg.Connection, slug: str) -> Tag | None:
    return cast(Tag | None, await _get_named_by_slug(conn, _TAGS, slug))


async def create_tag(conn: asyncpg.Connection, name: str, slug: str) -> Tag:
    return cast(Tag, await _create_named(conn, _TAGS, name, slug))


async def ensure_tags(conn: asyncpg.Connection, wanted: dict[str, str]) -> list[Tag]:
    """The tags of these slugs, in the order given; a slug no tag has yet becomes a new
    tag with its name (concurrent writers creating the same tag both get it)."""
    await conn.execute(
        """INSERT INTO tags (slug, name) SELECT * FROM unnest($1::text[], $2::text[])
           ON CONFLICT (slug) DO NOTHING""",
        list(wanted),
        list(wanted.values()),
    )
    # Locked until the transaction ends: a rename or a delete waits, then sees the article.
    rows = await conn.fetch(
        "SELECT id, slug, name FROM tags WHERE slug = ANY($1::text[]) FOR SHARE",
        list(wanted),
    )
    found = {r["slug"]: _named(_TAGS, r) for r in rows}
    return [found[slug] for slug in wanted]


async def rename_tag(conn: asyncpg.Connection, tag_id: int, name: str, slug: str) -> Tag | None:
    return cast(Tag | None, await _rename_named(conn, _TAGS, tag_id, name, slug))


async def delete_tag(conn: asyncpg.Connection, tag_id: int) -> None:
    """Delete a tag, and take it off every article."""
    await conn.execute("DELETE FROM tags WHERE id = $1", tag_id)


async def set_article_tags(conn: asyncpg.Connection, article_id: int, tags: list[Tag]) -> None:
    await conn.execute("DELETE FROM article_tags WHERE article_id = $1", article_id)
    await conn.execute(
        """INSERT INTO article_tags (article_id, tag_id)
           SELECT $1, unnest($2::bigint[])""",
        article_id,
        [t.id for t in tags],
    )


async def list_topics(conn: asyncpg.Connection) -> list[Topic]:
    return await _list_named(conn, _TOPICS)


async def get_topic(conn: asyncpg.Connection, topic_id: int, *, lock: str = "") -> Topic | None:
    """The topic; `lock` as for get_category."""
    return cast(Topic | None, await _get_named(conn, _TOPICS, topic_id, lock))


async def get_topic_by_slug(conn: asyncpg.Connection, slug: str) -> Topic | None:
    return cast(Topic | None, await _get_named_by_slug(conn, _TOPICS, slug))


async def create_topic(conn: asyncpg.Connection, name: str, slug: str) -> Topic:
    return cast(Topic, await _create_named(conn, _TOPICS, name, slug))


async def rename_topic(
    conn: asyncpg.Connection, topic_id: int, name: str, slug: str
) -> Topic | None:
    return cast(Topic | None, await _rename_named(conn, _TOPICS, topic_id, name, slug))


async def delete_topic(conn: asyncpg.Connection, topic_id: int) -> None:
    """Delete a topic; its articles keep going without one."""
    await conn.execute("DELETE FROM topics WHERE id = $1", topic_id)


async def set_article_topic(
    conn: asyncpg.Connection, article_id: int, topic_id: int | None
) -> None:
    await conn.execute("UPDATE articles SET topic_id = $2 WHERE id = $1", article_id, topic_id)


# --- which public articles a change of taxonomy touches -----------------------------------


async def public_in_categories(conn: asyncpg.Connection, category_ids: list[int]) -> list[int]:
    rows = await conn.fetch(
        """SELECT id FROM articles WHERE status = 'published'
              AND category_id = ANY($1::bigint[]) ORDER BY id""",
        category_ids,
    )
    return [r["id"] for r in rows]


async def public_with_tag(conn: asyncpg.Connection, tag_id: int) -> list[int]:
    rows = await conn.fetch(
        """SELECT a.id FROM articles a JOIN article_tags t ON t.article_id = a.id
            WHERE t.tag_id = $1 AND a.status = 'published' ORDER BY a.id""",
        tag_id,
    )
    return [r["id"] for r in rows]


async def public_with_topic(conn: asyncpg.Connection, topic_id: int) -> list[int]:
    rows = await conn.fetch(
        """SELECT id FROM articles WHERE topic_id = $1 AND status = 'published' ORDER BY id""",
        topic_id,
    )
    return [r["id"] for r in rows]


async def raise_versions(conn: asyncpg.Connection, article_ids: list[int]) -> None:
    """A new version of each article (its public representation changed) without touching
    updated_at: a retag or a pin is no change of the text."""
    await conn.execute(
        "UPDATE articles SET version = version + 1 WHERE id = ANY($1::bigint[])", article_ids
    )


# --- featured (pinned) articles -----------------------------------------------------------


async def set_pin(
    conn: asyncpg.Connection, article_id: int, scope: str, until: datetime | None
) -> None:
    column = {"home": "featured_home_until", "category": "featured_category_until"}[scope]
    await conn.execute(f"UPDATE articles SET {column} = $2 WHERE id = $1", article_id, until)


# --- articles -----------------------------------------------------------------------------

_ARTICLE = """
    SELECT a.id, a.slug, a.title, a.summary, a.body_html, a.byline, a.image_id,
           a.image_caption, a.image_alt, a.author_id, a.status, a.version, a.created_at,
           a.updated_at,
           a.published_at, a.author_name, a.unit, a.source, a.text_updated_at,
           a.publish_at, a.end_at, a.return_reason, a.deleted_at, a.deleted_from,
           a.imported_views, c.id AS category_id, c.name AS category_name, c.slug AS category_slug,
           -- taxonomy (the tags are read by _articles, one query for a whole list)
           c.parent_id AS category_parent_id, c.position AS category_position,
           cp.name AS parent_name, cp.slug AS parent_slug, cp.position AS parent_position,
           a.topic_id, tp.slug AS topic_slug, tp.name AS topic_name,
           CASE WHEN a.featured_home_until > now() THEN a.featured_home_until END
               AS featured_home_until,
           CASE WHEN a.featured_category_until > now() THEN a.featured_category_until END
               AS featured_category_until
      FROM articles a JOIN categories c ON c.id = a.category_id
           LEFT JOIN categories cp ON cp.id = c.parent_id
           LEFT JOIN topics tp ON tp.id = a.topic_id
"""
# Newest first; the id breaks ties so that the order (and the cursor) is total.
_NEWEST = "ORDER BY a.published_at DESC, a.id DESC"
# Pinned to the top of their category (and not yet expired) first, then newest first.
_PINNED_IN_CATEGORY_FIRST = (
    "ORDER BY (a.featured_category_until > now()) IS TRUE DESC, a.published_at DESC, a.id DESC"
)


def _article(row: asyncpg.Record, tags: tuple[Tag, ...] = ()) -> Article:
    parent_id = row["category_parent_id"]
    return Article(
        id=row["id"],
        slug=row["slug"],
        title=row["title"],
        summary=row["summary"],
        body_html=row["body_html"],
        byline=row["byline"],
        category=Category(
            row["category_id"],
            row["category_name"],
            row["category_slug"],
            parent_id=parent_id,
            position=row["category_position"],
        ),
        image_id=row["image_id"],
        image_caption=row["image_caption"],
        author_id=row["author_id"],
        status=row["status"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        published_at=row["published_at"],
        author_name=row["author_name"],
        unit=row["unit"],
        source=row["source"],
        text_updated_at=row["text_updated_at"],
        publish_at=row["publish_at"],
        end_at=row["end_at"],
        return_reason=row["return_reason"],
        deleted_at=row["deleted_at"],
        deleted_from=row["deleted_from"],
        category_parent=(
            Category(
                parent_id, row["parent_name"], row["parent_slug"], position=row["parent_position"]
            )
            if parent_id is not None
            else None
        ),
        topic=(
            Topic(row["topic_id"], row["topic_slug"], row["topic_name"])
            if row["topic_id"] is not None
            else None
        ),
        tags=tags,
        featured_home_until=row["featured_home_until"],
        featured_category_until=row["featured_category_until"],
        image_alt=row["image_alt"],
        imported_views=row["imported_views"],
    )


async def _articles(conn: asyncpg.Connection, rows: Sequence[asyncpg.Record]) -> list[Article]:
    """The articles of `rows`, each with its tags (by name)."""
    tag_rows = await conn.fetch(
        """SELECT at.article_id, t.id, t.slug, t.name
             FROM article_tags at JOIN tags t ON t.id = at.tag_id
            WHERE at.article_id = ANY($1::bigint[])
            ORDER BY t.name, t.id""",
        [r["id"] for r in rows],
    )
    tags: dict[int, list[Tag]] = {}
    for t in tag_rows:
        tags.setdefault(t["article_id"], []).append(_named(_TAGS, t))
    return [_article(r, tuple(tags.get(r["id"], ()))) for r in rows]


async def get_articles(conn: asyncpg.Connection, article_ids: list[int]) -> list[Article]:
    rows = await conn.fetch(f"{_ARTICLE} WHERE a.id = ANY($1::bigint[]) ORDER BY a.id", article_ids)
    return await _articles(conn, rows)


async def get_article(
    conn: asyncpg.Connection, article_id: int, *, for_update: bool = False
) -> Article | None:
    if for_update:
        # Locks the article row (not the category) until the transaction ends, so that
        # two changes of one article take turns and their versions never collide.
        await conn.execute("SELECT 1 FROM articles WHERE id = $1 FOR UPDATE", article_id)
    row = await conn.fetchrow(f"{_ARTICLE} WHERE a.id = $1", article_id)
    return (await _articles(conn, [row]))[0] if row else None


async def create_article(
    conn: asyncpg.Connection, fields: dict[str, Any], derived: dict[str, Any], author_id: int
) -> Article:
    """A new draft; `derived` holds slug, body_text, byline and the search columns."""
    article_id = await conn.fetchval(
        """INSERT INTO articles (slug, title, summary, body_html, body_text, byline,
                                 author_name, unit, source, category_id, image_id,
                                 image_caption, author_id, image_alt,
                                 search_title, search_body)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
           RETURNING id""",
        derived["slug"],
        fields["title"],
        fields["summary"],
        fields["body_html"],
        derived["body_text"],
        derived["byline"],
        fields.get("author_name", ""),
        fields.get("unit", ""),
        fields.get("source", ""),
        fields["category_id"],
        fields.get("image_id"),
        fields.get("image_caption", ""),
        author_id,
        fields.get("image_alt", ""),
        derived["search_title"],
        derived["search_body"],
    )
    created = await get_article(conn, article_id)
    assert created is not None
    return created


async def update_article(
    conn: asyncpg.Connection, article_id: int, changes: dict[str, Any], *, text_changed: bool
) -> Article:
    """Apply `changes` (columns of EDITABLE, plus the derived ones) and raise
    the version; `text_changed` moves text_updated_at."""
    derived = ("slug", "body_text", "byline", "search_title", "search_body")
    columns = [c for c in changes if c in (*EDITABLE, *derived)]
    assignments = "".join(f"{c} = ${i}, " for i, c in enumerate(columns, start=3))
    await conn.execute(
        f"""UPDATE articles SET {assignments}
                   version = version + 1, updated_at = now(),
                   text_updated_at = CASE WHEN $2 THEN now() ELSE text_updated_at END
             WHERE id = $1""",
        article_id,
        text_changed,
        *(changes[c] for c in columns),
    )
    updated = await get_article(conn, article_id)
    assert updated is not None
    return updated


async def write_state(conn: asyncpg.Connection, article_id: int, change: StateChange) -> Article:
    """A step of the workflow: the state and the times and notes that go with it."""
    await conn.execute(
        """UPDATE articles
              SET status = $2, published_at = $3, publish_at = $4, end_at = $5,
                  return_reason = $6, deleted_at = $7, deleted_from = $8,
                  version = version + 1, updated_at = now()
            WHERE id = $1""",
        article_id,
        change.status,
        change.published_at,
        change.publish_at,
        change.end_at,
        change.return_reason,
        change.deleted_at,
        change.deleted_from,
    )
    changed = await get_article(conn, article_id)
    assert changed is not None
    return changed


# --- imports ------------------------------------------------------------------------------


async def claim_external_id(conn: asyncpg.Connection, external_id: str) -> bool:
    """Take `external_id` for the article this transaction imports; False if it was
    imported before (a concurrent claim of the same id waits for the first to end)."""
    return bool(
        await conn.fetchval(
            """INSERT INTO article_imports (external_id) VALUES ($1)
               ON CONFLICT (external_id) DO NOTHING RETURNING true""",
            external_id,
        )
    )


async def record_import(conn: asyncpg.Connection, external_id: str, article_id: int) -> None:
    await conn.execute(
        "UPDATE article_imports SET article_id = $2 WHERE external_id = $1",
        external_id,
        article_id,
    )


async def imported_external_ids(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT external_id FROM article_imports")
    return {r["external_id"] for r in rows}


async def set_imported_details(
    conn: asyncpg.Connection,
    article_id: int,
    written_at: datetime | None,
    imported_views: int | None,
) -> None:
    """An imported article's last change of text on its earlier site (None: kept) and the
    views it had there."""
    await conn.execute(
        """UPDATE articles SET text_updated_at = coalesce($2, text_updated_at),
                              imported_views = $3
            WHERE id = $1""",
        article_id,
        written_at,
        imported_views,
    )


# --- slugs --------------------------------------------------------------------------------

# Any bigint names the lock; this one reads "slugs" in ASCII.
_SLUGS_LOCK = 0x736C756773


async def lock_slugs(conn: asyncpg.Connection) -> None:
    """Serialise the choice of article slugs until the transaction ends, so two articles
    of one title never both take the same free slug."""
    await conn.execute("SELECT pg_advisory_xact_lock($1::bigint)", _SLUGS_LOCK)


async def slug_taken(conn: asyncpg.Connection, slug: str, article_id: int | None) -> bool:
    """True if another article holds `slug`, now or as an old slug."""
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM articles WHERE slug = $1
                               AND ($2::bigint IS NULL OR id <> $2))
                   OR EXISTS (SELECT 1 FROM article_old_slugs WHERE slug = $1
                               AND ($2::bigint IS NULL OR article_id <> $2))""",
            slug,
            article_id,
        )
    )


async def keep_old_slug(conn: asyncpg.Connection, article_id: int, old: str, new: str) -> None:
    """After a rename: `old` keeps leading to the article; `new` is no old slug any more."""
    await conn.execute(
        """INSERT INTO article_old_slugs (slug, article_id) VALUES ($1, $2)
           ON CONFLICT (slug) DO NOTHING""",
        old,
        article_id,
    )
    await conn.execute(
        "DELETE FROM article_old_slugs WHERE slug = $1 AND article_id = $2", new, article_id
    )


async def article_id_by_slug(conn: asyncpg.Connection, slug: str) -> int | None:
    """The article that has, or had, this slug."""
    found = await conn.fetchval(
        """SELECT id FROM articles WHERE slug = $1
           UNION ALL SELECT article_id FROM article_old_slugs WHERE slug = $1 LIMIT 1""",
        slug,
    )
    return int(found) if found is not None else None


async def old_slugs(conn: asyncpg.Connection, article_id: int) -> list[str]:
    rows = await conn.fetch(
        "SELECT slug FROM article_old_slugs WHERE article_id = $1 ORDER BY created_at, slug",
        article_id,
    )
    return [r["slug"] for r in rows]


# --- transitions and the scheduler --------------------------------------------------------


@dataclass(frozen=True)
class TransitionRecord:
    id: int
    article_id: int
    from_status: str
    to_status: str
    action: str
    user_id: int | None
    at: datetime
    reason: str | None


async def record_transition(
    conn: asyncpg.Connection,
    article_id: int,
    from_status: str,
    to_status: str,
    action: str,
    user_id: int | None,
    reason: str | None,
) -> None:
    await conn.execute(
        """INSERT INTO article_transitions
                  (article_id, from_status, to_status, action, user_id, reason)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        article_id,
        from_status,
        to_status,
        action,
        user_id,
        reason,
    )


async def history(conn: asyncpg.Connection, article_id: int) -> list[TransitionRecord]:
    rows = await conn.fetch(
        """SELECT id, article_id, from_status, to_status, action, user_id, at, reason
             FROM article_transitions WHERE article_id = $1 ORDER BY id""",
        article_id,
    )
    return [TransitionRecord(**dict(r)) for r in rows]


async def claim_due(conn: asyncpg.Connection) -> int | None:
    """A scheduled article whose time has come, locked; one another instance holds is
    skipped (it is being published there)."""
    found = await conn.fetchval(
        """SELECT id FROM articles
            WHERE status = 'scheduled' AND publish_at <= now()
            ORDER BY publish_at LIMIT 1 FOR UPDATE SKIP LOCKED"""
    )
    return int(found) if found is not None else None


async def claim_ending(conn: asyncpg.Connection) -> int | None:
    """A published article whose end time has passed, locked (as claim_due)."""
    found = await conn.fetchval(
        """SELECT id FROM articles
            WHERE status = 'published' AND end_at IS NOT NULL AND end_at <= now()
            ORDER BY end_at LIMIT 1 FOR UPDATE SKIP LOCKED"""
    )
    return int(found) if found is not None else None


async def purge_deleted(conn: asyncpg.Connection, deleted_before: datetime) -> int:
    """Delete for good the articles in the trash since before `deleted_before`."""
    result = await conn.execute(
        "DELETE FROM articles WHERE status = 'deleted' AND deleted_at < $1", deleted_before
    )
    return int(result.split()[-1])


# --- revisions ----------------------------------------------------------------------------

_REVISION = """SELECT article_id, number, title, summary, body_html, author_name, unit,
                      source, user_id, created_at FROM article_revisions"""


async def add_revision(conn: asyncpg.Connection, article: Article, user_id: int | None) -> int:
    """Keep the article's current text as its next revision (the article row is locked
    by the caller, so numbers never collide); returns the number."""
    return int(
        await conn.fetchval(
            """INSERT INTO article_revisions (article_id, number, title, summary, body_html,
                                              author_name, unit, source, user_id)
               SELECT $1, coalesce(max(number), 0) + 1, $2, $3, $4, $5, $6, $7, $8
                 FROM article_revisions WHERE article_id = $1
               RETURNING number""",
            article.id,
            article.title,
            article.summary,
            article.body_html,
            article.author_name,
            article.unit,
            article.source,
            user_id,
        )
    )


async def list_revisions(conn: asyncpg.Connection, article_id: int) -> list[Revision]:
    rows = await conn.fetch(f"{_REVISION} WHERE article_id = $1 ORDER BY number DESC", article_id)
    return [Revision(**dict(r)) for r in rows]


async def get_revision(conn: asyncpg.Connection, article_id: int, number: int) -> Revision | None:
    row = await conn.fetchrow(
        f"{_REVISION} WHERE article_id = $1 AND number = $2", article_id, number
    )
    return Revision(**dict(row)) if row else None


async def image_exists(conn: asyncpg.Connection, image_id: int) -> bool:
    return bool(await conn.fetchval("SELECT true FROM images WHERE id = $1", image_id))


async def list_published(
    conn: asyncpg.Connection,
    *,
    category_ids: list[int] | None = None,
    limit: int = 20,
    before_id: int | None = None,
) -> list[Article]:
    """Published articles (of these categories, if given), newest first; `before_id`
    continues after that article."""
    rows = await conn.fetch(
        f"""{_ARTICLE}
            WHERE a.status = 'published'
              AND ($1::bigint[] IS NULL OR a.category_id = ANY($1::bigint[]))
              AND ($2::bigint IS NULL OR (a.published_at, a.id) < (
                      SELECT published_at, id FROM articles WHERE id = $2))
            {_NEWEST} LIMIT $3""",
        category_ids,
        before_id,
        limit,
    )
    return await _articles(conn, rows)


async def count_published(conn: asyncpg.Connection, category_ids: list[int] | None = None) -> int:
    return int(
        await conn.fetchval(
            """SELECT count(*) FROM articles
                WHERE status = 'published'
                  AND ($1::bigint[] IS NULL OR category_id = ANY($1::bigint[]))""",
            category_ids,
        )
    )


async def page_of_published(
    conn: asyncpg.Connection, category_ids: list[int], page: int, per_page: int
) -> list[Article]:
    """A page of the published articles of these categories: those pinned to the top of
    their category first, then newest first."""
    rows = await conn.fetch(
        f"""{_ARTICLE} WHERE a.status = 'published' AND a.category_id = ANY($1::bigint[])
            {_PINNED_IN_CATEGORY_FIRST} LIMIT $2 OFFSET $3""",
        category_ids,
        per_page,
        (page - 1) * per_page,
    )
    return await _articles(conn, rows)


async def count_tagged(conn: asyncpg.Connection, tag_id: int) -> int:
    return int(
        await conn.fetchval(
            """SELECT count(*) FROM articles a JOIN article_tags t ON t.article_id = a.id
                WHERE t.tag_id = $1 AND a.status = 'published'""",
            tag_id,
        )
    )


async def page_of_tagged(
    conn: asyncpg.Connection, tag_id: int, page: int, per_page: int
) -> list[Article]:
    rows = await conn.fetch(
        f"""{_ARTICLE} JOIN article_tags at ON at.article_id = a.id
            WHERE at.tag_id = $1 AND a.status = 'published'
            {_NEWEST} LIMIT $2 OFFSET $3""",
        tag_id,
        per_page,
        (page - 1) * per_page,
    )
    return await _articles(conn, rows)


async def count_in_topic(conn: asyncpg.Connection, topic_id: int) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM articles WHERE topic_id = $1 AND status = 'published'",
            topic_id,
        )
    )


async def page_of_topic(
    conn: asyncpg.Connection, topic_id: int, page: int, per_page: int
) -> list[Article]:
    rows = await conn.fetch(
        f"""{_ARTICLE} WHERE a.topic_id = $1 AND a.status = 'published'
            {_NEWEST} LIMIT $2 OFFSET $3""",
        topic_id,
        per_page,
        (page - 1) * per_page,
    )
    return await _articles(conn, rows)


async def featured_on_home(conn: asyncpg.Connection, limit: int) -> list[Article]:
    """Published articles pinned to the home page whose pin has not ended, newest first."""
    rows = await conn.fetch(
        f"""{_ARTICLE} WHERE a.status = 'published' AND a.featured_home_until > now()
            {_NEWEST} LIMIT $1""",
        limit,
    )
    return await _articles(conn, rows)


async def list_for_admin(
    conn: asyncpg.Connection, author_id: int | None, limit: int = 200
) -> list[Article]:
    """Every article (or one author's), most recently changed first."""
    rows = await conn.fetch(
        f"""{_ARTICLE} WHERE ($1::bigint IS NULL OR a.author_id = $1)
            ORDER BY a.updated_at DESC, a.id DESC LIMIT $2""",
        author_id,
        limit,
    )
    return await _articles(conn, rows)


async def list_for_staff(
    conn: asyncpg.Connection,
    *,
    status: str | None,
    author_id: int | None,
    patterns: Sequence[str],
    limit: int,
    before_id: int | None,
) -> list[Article]:
    """Articles in any state (the trash only when asked for by `status`), newest first
    by id; every pattern must match the text (as search)."""
    matches = "".join(f" AND {_all_terms(patterns, first=5)}" if patterns else "")
    rows = await conn.fetch(
        f"""{_ARTICLE}
            WHERE (a.status = $1 OR ($1::text IS NULL AND a.status <> 'deleted'))
              AND ($2::bigint IS NULL OR a.author_id = $2)
              AND ($3::bigint IS NULL OR a.id < $3){matches}
            ORDER BY a.id DESC LIMIT $4""",
        status,
        author_id,
        before_id,
        limit,
        *patterns,
    )
    return [_article(r) for r in rows]


async def latest_by_category(conn: asyncpg.Connection, per_category: int) -> list[Article]:
    """The newest published articles of every category, `per_category` each (one index
    range per category, however many articles there are), those pinned to the top of
    their category first."""
    rows = await conn.fetch(
        f"""{_ARTICLE}
            JOIN LATERAL (
                SELECT x.id FROM articles x
                 WHERE x.category_id = c.id AND x.status = 'published'
                 ORDER BY (x.featured_category_until > now()) IS TRUE DESC,
                          x.published_at DESC, x.id DESC
                 LIMIT $1) newest ON newest.id = a.id
            ORDER BY c.position, c.name, c.id,
                     (a.featured_category_until > now()) IS TRUE DESC,
                     a.published_at DESC, a.id DESC""",
        per_category,
    )
    return await _articles(conn, rows)


def _all_terms(patterns: Sequence[str], first: int) -> str:
    # One LIKE per term (rather than LIKE ALL of an array) so that the trigram index on
    # search_doc can serve every one of them.
    return " AND ".join(
        f"a.search_doc LIKE lower(f_unaccent(${n}))" for n in range(first, first + len(patterns))
    )


# --- images -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    id: int
    content_type: str
    data: bytes
    sha256: str


async def insert_image(
    conn: asyncpg.Connection, original: EncodedImage, uploaded_by: int | None
) -> int:
    return int(
        await conn.fetchval(
            """INSERT INTO images (content_type, data, byte_size, sha256, uploaded_by,
                                   width, height)
               VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
            original.content_type,
            original.data,
            len(original.data),
            original.sha256,
            uploaded_by,
            original.width,
            original.height,
        )
    )


async def insert_variants(
    conn: asyncpg.Connection, image_id: int, variants: Sequence[EncodedImage]
) -> None:
    await conn.executemany(
        """INSERT INTO image_variants (image_id, name, content_type, width, height, data,
                                       byte_size, sha256)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        [
            (image_id, v.name, v.content_type, v.width, v.height, v.data, len(v.data), v.sha256)
            for v in variants
        ],
    )


async def get_image(conn: asyncpg.Connection, image_id: int) -> Image | None:
    row = await conn.fetchrow(
        "SELECT id, content_type, data, sha256 FROM images WHERE id = $1", image_id
    )
    return Image(row["id"], row["content_type"], row["data"], row["sha256"]) if row else None


async def image_digest(conn: asyncpg.Connection, image_id: int) -> str | None:
    """The image's hash alone, to answer a revalidation without reading the bytes."""
    value = await conn.fetchval("SELECT sha256 FROM images WHERE id = $1", image_id)
    return str(value) if value is not None else None


async def get_variant(
    conn: asyncpg.Connection, image_id: int, name: str, content_type: str
) -> Image | None:
    row = await conn.fetchrow(
        """SELECT content_type, data, sha256 FROM image_variants
            WHERE image_id = $1 AND name = $2 AND content_type = $3""",
        image_id,
        name,
        content_type,
    )
    return Image(image_id, row["content_type"], row["data"], row["sha256"]) if row else None


async def variant_digest(
    conn: asyncpg.Connection, image_id: int, name: str, content_type: str
) -> str | None:
    value = await conn.fetchval(
        """SELECT sha256 FROM image_variants
            WHERE image_id = $1 AND name = $2 AND content_type = $3""",
        image_id,
        name,
        content_type,
    )
    return str(value) if value is not None else None


async def pictures(conn: asyncpg.Connection, image_ids: Iterable[int]) -> dict[int, Picture]:
    """What the pages need to show each image: its variants' types and sizes (not bytes).
    An image with no variants (stored before they existed) is a Picture without any."""
    wanted = sorted(set(image_ids))
    rows = await conn.fetch(
        """SELECT image_id, name, content_type, width, height, byte_size FROM image_variants
            WHERE image_id = ANY($1::bigint[]) ORDER BY image_id, name, content_type""",
        wanted,
    )
    variants: dict[int, list[ImageVariant]] = {}
    for r in rows:
        variants.setdefault(r["image_id"], []).append(
            ImageVariant(
                r["image_id"], r["name"], r["content_type"], r["width"], r["height"],
                r["byte_size"],
            )
        )  # fmt: skip
    return {i: Picture(i, tuple(variants.get(i, ()))) for i in wanted}


# --- static pages -------------------------------------------------------------------------

_PAGE = """
    SELECT p.slug, p.title, p.body_html, p.version, p.updated_at, p.status, p.updated_by,
           u.display_name AS updated_by_name, p.deleted_at
      FROM static_pages p LEFT JOIN users u ON u.id = p.updated_by
"""
# A page in the trash for longer than PAGE_TRASH_DAYS counts as gone even before the next
# write purges it.
_KEPT = f"""(p.status <> 'deleted'
             OR p.deleted_at > now() - interval '{PAGE_TRASH_DAYS} days')"""


def _page(row: asyncpg.Record) -> StaticPage:
    return StaticPage(**dict(row))


async def get_page(
    conn: asyncpg.Connection, slug: str, *, for_update: bool = False
) -> StaticPage | None:
    """The stored page in any state (the trash included), or None."""
    if for_update:
        # Two changes of one page take turns: versions and revision numbers never collide.
        await conn.execute("SELECT 1 FROM static_pages WHERE slug = $1 FOR UPDATE", slug)
    row = await conn.fetchrow(f"{_PAGE} WHERE p.slug = $1 AND {_KEPT}", slug)
    return _page(row) if row else None


async def get_published_page(conn: asyncpg.Connection, slug: str) -> StaticPage | None:
    row = await conn.fetchrow(f"{_PAGE} WHERE p.slug = $1 AND p.status = 'published'", slug)
    return _page(row) if row else None


async def list_pages(conn: asyncpg.Connection) -> list[StaticPage]:
    """Every stored page, the trash included, for the people who manage them."""
    rows = await conn.fetch(f"{_PAGE} WHERE {_KEPT} ORDER BY p.slug")
    return [_page(r) for r in rows]


async def list_published_pages(conn: asyncpg.Connection) -> list[StaticPage]:
    rows = await conn.fetch(f"{_PAGE} WHERE p.status = 'published' ORDER BY p.slug")
    return [_page(r) for r in rows]


async def page_slugs(conn: asyncpg.Connection) -> set[str]:
    """Every slug a page holds (the trash included); a site has a few dozen pages."""
    return {r["slug"] for r in await conn.fetch("SELECT slug FROM static_pages")}


async def purge_deleted_pages(conn: asyncpg.Connection) -> None:
    """Remove for good the pages in the trash for longer than PAGE_TRASH_DAYS (their
    revisions go with them)."""
    await conn.execute(
        f"""DELETE FROM static_pages
             WHERE status = 'deleted' AND deleted_at <= now() - interval '{PAGE_TRASH_DAYS} days'"""
    )


async def insert_page(
    conn: asyncpg.Connection, slug: str, title: str, body_html: str, status: str, user_id: int
) -> StaticPage:
    try:
        await conn.execute(
            """INSERT INTO static_pages (slug, title, body_html, status, updated_by)
               VALUES ($1, $2, $3, $4, $5)""",
            slug,
            title,
            body_html,
            status,
            user_id,
        )
    except asyncpg.UniqueViolationError as exc:
        raise PageSlugTakenError(slug) from exc
    return await _page_now(conn, slug)


async def put_page(
    conn: asyncpg.Connection, slug: str, title: str, body_html: str, user_id: int
) -> StaticPage:
    """Create or replace the page and publish it, whatever state it was in."""
    await conn.execute(
        """INSERT INTO static_pages (slug, title, body_html, status, updated_by)
           VALUES ($1, $2, $3, 'published', $4)
           ON CONFLICT (slug) DO UPDATE
              SET title = EXCLUDED.title, body_html = EXCLUDED.body_html,
                  status = 'published', deleted_at = NULL, updated_by = EXCLUDED.updated_by,
                  version = static_pages.version + 1, updated_at = now()""",
        slug,
        title,
        body_html,
        user_id,
    )
    return await _page_now(conn, slug)


async def update_page_text(
    conn: asyncpg.Connection, slug: str, title: str, body_html: str, user_id: int
) -> StaticPage:
    await conn.execute(
        """UPDATE static_pages
              SET title = $2, body_html = $3, updated_by = $4,
                  version = version + 1, updated_at = now()
            WHERE slug = $1""",
        slug,
        title,
        body_html,
        user_id,
    )
    return await _page_now(conn, slug)


async def set_page_status(
    conn: asyncpg.Connection, slug: str, status: str, user_id: int
) -> StaticPage:
    """Move the page to `status`; going to the trash stamps deleted_at, leaving clears it."""
    await conn.execute(
        """UPDATE static_pages
              SET status = $2, updated_by = $3, version = version + 1, updated_at = now(),
                  deleted_at = CASE WHEN $2 = 'deleted' THEN now() END
            WHERE slug = $1""",
        slug,
        status,
        user_id,
    )
    return await _page_now(conn, slug)


async def _page_now(conn: asyncpg.Connection, slug: str) -> StaticPage:
    row = await conn.fetchrow(f"{_PAGE} WHERE p.slug = $1", slug)
    assert row is not None
    return _page(row)


_PAGE_REVISION = """
    SELECT r.slug, r.number, r.title, r.body_html, r.saved_by,
           u.display_name AS saved_by_name, r.saved_at, r.restored_from
      FROM static_page_revisions r LEFT JOIN users u ON u.id = r.saved_by
"""


async def add_page_revision(
    conn: asyncpg.Connection,
    page: StaticPage,
    user_id: int,
    restored_from: int | None = None,
) -> None:
    """Keep the page's text as its next revision (the caller holds the page's row lock)."""
    await conn.execute(
        """INSERT INTO static_page_revisions
                  (slug, number, title, body_html, saved_by, restored_from)
           SELECT $1, coalesce(max(number), 0) + 1, $2, $3, $4, $5
             FROM static_page_revisions WHERE slug = $1""",
        page.slug,
        page.title,
        page.body_html,
        user_id,
        restored_from,
    )


async def page_revisions(conn: asyncpg.Connection, slug: str) -> list[PageRevision]:
    """A page's revisions, newest first."""
    rows = await conn.fetch(f"{_PAGE_REVISION} WHERE r.slug = $1 ORDER BY r.number DESC", slug)
    return [PageRevision(**dict(r)) for r in rows]


async def page_revision(conn: asyncpg.Connection, slug: str, number: int) -> PageRevision | None:
    row = await conn.fetchrow(f"{_PAGE_REVISION} WHERE r.slug = $1 AND r.number = $2", slug, number)
    return PageRevision(**dict(row)) if row else None


# --- users --------------------------------------------------------------------------------

_USER_COLUMNS = (
    "id, username, display_name, roles, disabled, created_at, updated_at, must_change_password"
)


def _user(row: asyncpg.Record) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        roles=frozenset(row["roles"]),
        disabled=row["disabled"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        must_change_password=row["must_change_password"],
    )


async def insert_user(
    conn: asyncpg.Connection,
    username: str,
    display_name: str,
    password_hash: str,
    roles: frozenset[str],
    must_change_password: bool = False,
) -> User:
    """A new user; UsernameTakenError when the name is someone's already."""
    try:
        row = await conn.fetchrow(
            f"""INSERT INTO users (username, display_name, password_hash, roles,
                                   must_change_password)
                VALUES ($1, $2, $3, $4, $5) RETURNING {_USER_COLUMNS}""",
            username,
            display_name,
            password_hash,
            sorted(roles),
            must_change_password,
        )
    except asyncpg.UniqueViolationError as exc:
        raise UsernameTakenError from exc
    assert row is not None
    return _user(row)


async def get_user(conn: asyncpg.Connection, user_id: int) -> User | None:
    row = await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE id = $1", user_id)
    return _user(row) if row else None


async def first_admin(conn: asyncpg.Connection) -> User | None:
    """The earliest enabled admin."""
    row = await conn.fetchrow(
        f"""SELECT {_USER_COLUMNS} FROM users
             WHERE 'admin' = ANY(roles) AND NOT disabled ORDER BY id LIMIT 1"""
    )
    return _user(row) if row else None


async def get_user_by_username(conn: asyncpg.Connection, username: str) -> User | None:
    row = await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE username = $1", username)
    return _user(row) if row else None


async def user_with_password_hash(
    conn: asyncpg.Connection, username: str
) -> tuple[User, str] | None:
    """The user of this (stored-form) name with their password hash, for checking a
    password; no other query reads the hash."""
    row = await conn.fetchrow(
        f"SELECT {_USER_COLUMNS}, password_hash FROM users WHERE username = $1", username
    )
    return (_user(row), row["password_hash"]) if row else None


async def replace_password_hash(
    conn: asyncpg.Connection, user_id: int, old_hash: str, new_hash: str
) -> None:
    """Store `new_hash` unless the hash changed since `old_hash` was read (a concurrent
    change wins)."""
    await conn.execute(
        """UPDATE users SET password_hash = $3, updated_at = now()
           WHERE id = $1 AND password_hash = $2""",
        user_id,
        old_hash,
        new_hash,
    )


async def set_disabled(conn: asyncpg.Connection, user_id: int, disabled: bool) -> User | None:
    """Disable (or enable again) a user; None if there is no such user."""
    row = await conn.fetchrow(
        f"""UPDATE users SET disabled = $2, updated_at = now()
            WHERE id = $1 RETURNING {_USER_COLUMNS}""",
        user_id,
        disabled,
    )
    return _user(row) if row else None


async def list_users(conn: asyncpg.Connection) -> list[User]:
    rows = await conn.fetch(f"SELECT {_USER_COLUMNS} FROM users ORDER BY id")
    return [_user(row) for row in rows]


@dataclass(frozen=True)
class UserChange:
    """The fields of a user an admin changes (None: left as it is); the password arrives
    already hashed."""

    display_name: str | None = None
    roles: frozenset[str] | None = None
    disabled: bool | None = None
    password_hash: str | None = None


async def update_user(conn: asyncpg.Connection, user_id: int, change: UserChange) -> User | None:
    """Apply `change`; None if there is no such user."""
    row = await conn.fetchrow(
        f"""UPDATE users
               SET display_name = coalesce($2, display_name),
                   roles = coalesce($3, roles),
                   disabled = coalesce($4, disabled),
                   password_hash = coalesce($5, password_hash),
                   updated_at = now()
             WHERE id = $1
         RETURNING {_USER_COLUMNS}""",
        user_id,
        change.display_name,
        sorted(change.roles) if change.roles is not None else None,
        change.disabled,
        change.password_hash,
    )
    return _user(row) if row else None


# Any bigint names the lock; this one reads "bantin" in ASCII.
_USER_CHANGES_LOCK = 0x62616E74696E


async def lock_user_changes(conn: asyncpg.Connection) -> None:
    """Serialise changes of users until the transaction ends, so two admins demoting
    each other at the same moment cannot both succeed and leave no admin."""
    await conn.execute("SELECT pg_advisory_xact_lock($1::bigint)", _USER_CHANGES_LOCK)


async def enabled_admins(conn: asyncpg.Connection) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM users WHERE NOT disabled AND roles @> ARRAY['admin']::text[]"
        )
    )


async def is_active(conn: asyncpg.Connection, user_id: int) -> bool:
    """True if the user exists and is not disabled."""
    disabled = await conn.fetchval("SELECT disabled FROM users WHERE id = $1", user_id)
    return disabled is False


async def still_holds(conn: asyncpg.Connection, principal: Principal) -> bool:
    """True if the principal's user exists, is enabled and still holds every role the
    token names (a role an admin took away is gone at once, not when the token expires)."""
    row = await conn.fetchrow("SELECT disabled, roles FROM users WHERE id = $1", principal.user_id)
    return row is not None and not row["disabled"] and principal.roles <= set(row["roles"])


# --- read models (views and feedback) ----------------------------------------------------


async def upsert_views(
    conn: asyncpg.Connection,
    article_id: int,
    total: int,
    today: int,
    day: date,
    version: int,
    last_7_days: int | None = None,
    last_30_days: int | None = None,
) -> None:
    """The article's counts from a views.counted. Sums an older counter did not send are
    taken as the day's views (all that is known of them)."""
    # The consumer already skips older versions; the guard keeps the row right even if
    # two queues ever fed it.
    await conn.execute(
        """INSERT INTO article_views
                  (article_id, total, today, day, version, last_7_days, last_30_days)
           VALUES ($1, $2, $3::bigint, $4, $5,
                   coalesce($6::bigint, $3), coalesce($7::bigint, $3))
           ON CONFLICT (article_id) DO UPDATE
              SET total = EXCLUDED.total, today = EXCLUDED.today, day = EXCLUDED.day,
                  version = EXCLUDED.version, last_7_days = EXCLUDED.last_7_days,
                  last_30_days = EXCLUDED.last_30_days, updated_at = now()
            WHERE article_views.version < EXCLUDED.version""",
        article_id,
        total,
        today,
        day,
        version,
        last_7_days,
        last_30_days,
    )


async def views_of(conn: asyncpg.Connection, article_id: int) -> int:
    total = await conn.fetchval("SELECT total FROM article_views WHERE article_id = $1", article_id)
    return int(total or 0)


@dataclass(frozen=True)
class PublicFeedback:
    id: int
    article_id: int | None
    author_name: str
    body: str
    reply_body: str | None
    reply_author: str | None
    replied_at: datetime | None
    approved_at: datetime
    updated_at: datetime


async def upsert_feedback(conn: asyncpg.Connection, item: PublicFeedback, version: int) -> None:
    await conn.execute(
        """INSERT INTO public_feedback (id, article_id, author_name, body, reply_body,
                                        reply_author, replied_at, approved_at, updated_at,
                                        version)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (id) DO UPDATE
              SET article_id = EXCLUDED.article_id, author_name = EXCLUDED.author_name,
                  body = EXCLUDED.body, reply_body = EXCLUDED.reply_body,
                  reply_author = EXCLUDED.reply_author, replied_at = EXCLUDED.replied_at,
                  approved_at = EXCLUDED.approved_at, updated_at = EXCLUDED.updated_at,
                  version = EXCLUDED.version
            WHERE public_feedback.version < EXCLUDED.version""",
        item.id,
        item.article_id,
        item.author_name,
        item.body,
        item.reply_body,
        item.reply_author,
        item.replied_at,
        item.approved_at,
        item.updated_at,
        version,
    )


async def delete_feedback(conn: asyncpg.Connection, feedback_id: int) -> None:
    await conn.execute("DELETE FROM public_feedback WHERE id = $1", feedback_id)


async def feedback_for(conn: asyncpg.Connection, article_id: int) -> list[PublicFeedback]:
    rows = await conn.fetch(
        """SELECT id, article_id, author_name, body, reply_body, reply_author, replied_at,
                  approved_at, updated_at
             FROM public_feedback WHERE article_id = $1
            ORDER BY approved_at, id""",
        article_id,
    )
    return [PublicFeedback(**dict(r)) for r in rows]


# --- login slow-down ----------------------------------------------------------------------


async def login_wait_seconds(conn: asyncpg.Connection, keys: Sequence[str]) -> int:
    """Seconds until any of `keys` may try to log in again (0: now)."""
    wait = await conn.fetchval(
        """SELECT ceil(extract(epoch FROM max(blocked_until) - now()))
             FROM login_throttle WHERE key = ANY($1::text[]) AND blocked_until > now()""",
        list(keys),
    )
    return int(wait or 0)


async def record_login_failure(conn: asyncpg.Connection, key: str, window_seconds: int) -> int:
    """Count one more failure for `key` (starting again after a quiet window); returns
    the recent failures."""
    return int(
        await conn.fetchval(
            """INSERT INTO login_throttle (key, failures) VALUES ($1, 1)
               ON CONFLICT (key) DO UPDATE
                  SET failures = CASE
                          WHEN login_throttle.last_failed_at
                               < now() - $2::int * interval '1 second' THEN 1
                          ELSE login_throttle.failures + 1 END,
                      last_failed_at = now()
               RETURNING failures""",
            key,
            window_seconds,
        )
    )


async def block_login(conn: asyncpg.Connection, key: str, seconds: int) -> None:
    await conn.execute(
        """UPDATE login_throttle SET blocked_until = now() + $2::int * interval '1 second'
            WHERE key = $1""",
        key,
        seconds,
    )


async def recent_login_failures(conn: asyncpg.Connection, key: str, window_seconds: int) -> int:
    """`key`'s failures, unless the last one is older than the window (then 0)."""
    failures = await conn.fetchval(
        """SELECT failures FROM login_throttle
            WHERE key = $1 AND last_failed_at >= now() - $2::int * interval '1 second'""",
        key,
        window_seconds,
    )
    return int(failures or 0)


async def reset_login_failures(
    conn: asyncpg.Connection, keys: Sequence[str], forget_after: int
) -> None:
    """Forget `keys`' failures, and every counter quiet for longer than `forget_after`."""
    await conn.execute(
        """DELETE FROM login_throttle
            WHERE key = ANY($1::text[])
               OR last_failed_at < now() - $2::int * interval '1 second'""",
        list(keys),
        forget_after,
    )


# --- documents ----------------------------------------------------------------------------

_DOCUMENT_COLUMNS = (
    "d.id, d.article_id, d.title, d.file_name, d.content_type, d.byte_size, d.position, "
    "d.uploaded_at"
)


def _document(row: asyncpg.Record) -> Document:
    return Document(
        id=row["id"],
        article_id=row["article_id"],
        title=row["title"],
        file_name=row["file_name"],
        content_type=row["content_type"],
        size=row["byte_size"],
        position=row["position"],
        uploaded_at=row["uploaded_at"],
    )


@dataclass(frozen=True)
class DocumentFile:
    document: Document
    data: bytes
    sha256: str


async def insert_document(
    conn: asyncpg.Connection,
    article_id: int,
    fields: dict[str, Any],
    data: bytes,
    sha256: str,
    uploaded_by: int,
) -> Document:
    """A new document, last in its article's list. The caller holds the article's lock,
    so two uploads never take one position."""
    row = await conn.fetchrow(
        f"""INSERT INTO documents AS d (article_id, title, file_name, content_type, data,
                                       byte_size, sha256, uploaded_by, position)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
                    (SELECT coalesce(max(position) + 1, 0) FROM documents
                      WHERE article_id = $1))
            RETURNING {_DOCUMENT_COLUMNS}""",
        article_id,
        fields["title"],
        fields["file_name"],
        fields["content_type"],
        data,
        len(data),
        sha256,
        uploaded_by,
    )
    return _document(row)


async def documents_of(conn: asyncpg.Connection, article_id: int) -> list[Document]:
    rows = await conn.fetch(
        f"""SELECT {_DOCUMENT_COLUMNS} FROM documents d
             WHERE d.article_id = $1 ORDER BY d.position, d.id""",
        article_id,
    )
    return [_document(row) for row in rows]


async def get_document(conn: asyncpg.Connection, document_id: int) -> Document | None:
    row = await conn.fetchrow(
        f"SELECT {_DOCUMENT_COLUMNS} FROM documents d WHERE d.id = $1", document_id
    )
    return _document(row) if row else None


async def document_file(
    conn: asyncpg.Connection, document_id: int, *, public_only: bool
) -> DocumentFile | None:
    """The document with its bytes; with `public_only`, only if its article is published."""
    row = await conn.fetchrow(
        f"""SELECT {_DOCUMENT_COLUMNS}, d.data, d.sha256
              FROM documents d JOIN articles a ON a.id = d.article_id
             WHERE d.id = $1 AND (NOT $2 OR a.status = 'published')""",
        document_id,
        public_only,
    )
    return DocumentFile(_document(row), row["data"], row["sha256"]) if row else None


async def public_document_digest(conn: asyncpg.Connection, document_id: int) -> str | None:
    """A public document's hash alone, to answer a revalidation without reading the bytes."""
    value = await conn.fetchval(
        """SELECT d.sha256 FROM documents d JOIN articles a ON a.id = d.article_id
            WHERE d.id = $1 AND a.status = 'published'""",
        document_id,
    )
    return str(value) if value is not None else None


async def update_document(
    conn: asyncpg.Connection, document_id: int, fields: dict[str, Any]
) -> Document:
    """Set the given fields among title and position."""
    row = await conn.fetchrow(
        f"""UPDATE documents AS d
               SET title = coalesce($2, d.title), position = coalesce($3, d.position)
             WHERE d.id = $1
         RETURNING {_DOCUMENT_COLUMNS}""",
        document_id,
        fields.get("title"),
        fields.get("position"),
    )
    return _document(row)


async def delete_document(conn: asyncpg.Connection, document_id: int) -> None:
    await conn.execute("DELETE FROM documents WHERE id = $1", document_id)


# --- desk: auth (sign-in sessions, password changes) -------------------------------------

_SESSION_LIVE = """s.ended_at IS NULL
       AND s.last_used_at > now() - $2::interval
       AND s.created_at > now() - $3::interval"""


async def create_session(conn: asyncpg.Connection, user_id: int, secret_hash: bytes) -> int:
    """A new sign-in session's id; the user's sessions that ended more than a day ago go."""
    await conn.execute(
        """DELETE FROM sign_in_sessions
            WHERE user_id = $1 AND coalesce(ended_at, last_used_at) < now() - interval '1 day'""",
        user_id,
    )
    return int(
        await conn.fetchval(
            "INSERT INTO sign_in_sessions (secret_hash, user_id) VALUES ($1, $2) RETURNING id",
            secret_hash,
            user_id,
        )
    )


async def use_session(
    conn: asyncpg.Connection, secret_hash: bytes, limits: SessionLimits
) -> tuple[int, User] | None:
    """The live session of this secret (its id and user, whatever the user's state), now
    marked used; None if there is none, it ended, or it is past its limits."""
    row = await conn.fetchrow(
        f"""WITH s AS (
                UPDATE sign_in_sessions s SET last_used_at = now()
                 WHERE s.secret_hash = $1 AND {_SESSION_LIVE}
             RETURNING s.id AS session_id, s.user_id)
            SELECT s.session_id, {_USER_COLUMNS} FROM s JOIN users u ON u.id = s.user_id""",
        secret_hash,
        limits.idle,
        limits.absolute,
    )
    return (row["session_id"], _user(row)) if row else None


async def end_session(conn: asyncpg.Connection, secret_hash: bytes) -> None:
    await conn.execute(
        """UPDATE sign_in_sessions SET ended_at = now()
            WHERE secret_hash = $1 AND ended_at IS NULL""",
        secret_hash,
    )


async def end_sessions_of(conn: asyncpg.Connection, user_id: int) -> int:
    """End every session of the user; how many were live."""
    status = await conn.execute(
        "UPDATE sign_in_sessions SET ended_at = now() WHERE user_id = $1 AND ended_at IS NULL",
        user_id,
    )
    return int(status.split()[-1])


async def principal_holds(
    conn: asyncpg.Connection, principal: Principal, limits: SessionLimits
) -> bool:
    """True if the principal's user exists, is enabled, need not change their password,
    still holds every role the token names, and, for a token minted from a sign-in
    session, that session is live."""
    row = await conn.fetchrow(
        f"""SELECT u.disabled, u.roles, u.must_change_password,
                   $4::bigint IS NULL OR EXISTS (
                       SELECT 1 FROM sign_in_sessions s
                        WHERE s.id = $4 AND s.user_id = u.id AND {_SESSION_LIVE}) AS live
              FROM users u WHERE u.id = $1""",
        principal.user_id,
        limits.idle,
        limits.absolute,
        principal.session_id,
    )
    return (
        row is not None
        and not row["disabled"]
        and not row["must_change_password"]
        and row["live"]
        and principal.roles <= set(row["roles"])
    )


async def set_password(
    conn: asyncpg.Connection, user_id: int, password_hash: str, must_change: bool
) -> User | None:
    """Store a new password hash; `must_change` when an admin set it (its owner chooses
    another at the next sign-in). None if there is no such user."""
    row = await conn.fetchrow(
        f"""UPDATE users SET password_hash = $2, must_change_password = $3, updated_at = now()
             WHERE id = $1 RETURNING {_USER_COLUMNS}""",
        user_id,
        password_hash,
        must_change,
    )
    return _user(row) if row else None


# --- desk: manage (home, article list, feedback cases, import jobs) -----------------------


async def set_feedback_case(
    conn: asyncpg.Connection, feedback_id: int, status: str, version: int
) -> None:
    """A feedback case's status as its event says, unless a higher version was kept."""
    await conn.execute(
        """INSERT INTO feedback_cases (id, status, version) VALUES ($1, $2, $3)
           ON CONFLICT (id) DO UPDATE
              SET status = EXCLUDED.status, version = EXCLUDED.version, changed_at = now()
            WHERE feedback_cases.version < EXCLUDED.version""",
        feedback_id,
        status,
        version,
    )


async def feedback_waiting(conn: asyncpg.Connection) -> int:
    """Feedback cases waiting for a moderator (pending or held), as the events told."""
    return int(await conn.fetchval("SELECT count(*) FROM feedback_cases WHERE status = 'waiting'"))


# The order of each state's queue on the desk's home: drafts last changed first, what
# waits for review oldest first, the schedule soonest first.
_QUEUE_ORDER = {
    "draft": "a.updated_at DESC, a.id DESC",
    "pending": "a.updated_at, a.id",
    "scheduled": "a.publish_at, a.id",
}


async def articles_in_state(
    conn: asyncpg.Connection,
    status: str,
    *,
    author_id: int | None = None,
    returned: bool | None = None,
    limit: int,
) -> tuple[list[Article], int]:
    """Up to `limit` articles in `status` (one author's, when given; with or without a
    send-back reason, when `returned` says), in the state's queue order, and how many
    there are in all."""
    where = """a.status = $1 AND ($2::bigint IS NULL OR a.author_id = $2)
               AND ($3::boolean IS NULL OR (a.return_reason IS NOT NULL) = $3)"""
    rows = await conn.fetch(
        f"{_ARTICLE} WHERE {where} ORDER BY {_QUEUE_ORDER[status]} LIMIT $4",
        status,
        author_id,
        returned,
        limit,
    )
    total = await conn.fetchval(
        f"SELECT count(*) FROM articles a WHERE {where}", status, author_id, returned
    )
    return [_article(r) for r in rows], int(total)


@dataclass(frozen=True)
class ArticleFilter:
    """What the desk's article list shows: one state (None: every state but the trash),
    categories, one author, words of the text, a range of creation times."""

    status: str | None = None
    category_ids: Sequence[int] | None = None
    author_id: int | None = None
    patterns: Sequence[str] = ()
    created_from: datetime | None = None
    created_before: datetime | None = None


def _filtered(wanted: ArticleFilter, first: int) -> tuple[str, list[Any]]:
    """The WHERE clause of `wanted`, its parameters numbered from `first`."""
    args: list[Any] = [
        wanted.status,
        list(wanted.category_ids) if wanted.category_ids is not None else None,
        wanted.author_id,
        wanted.created_from,
        wanted.created_before,
    ]
    n = first
    where = f"""(a.status = ${n} OR (${n}::text IS NULL AND a.status <> 'deleted'))
        AND (${n + 1}::bigint[] IS NULL OR a.category_id = ANY(${n + 1}::bigint[]))
        AND (${n + 2}::bigint IS NULL OR a.author_id = ${n + 2})
        AND (${n + 3}::timestamptz IS NULL OR a.created_at >= ${n + 3})
        AND (${n + 4}::timestamptz IS NULL OR a.created_at < ${n + 4})"""
    if wanted.patterns:
        where += " AND " + _all_terms(wanted.patterns, first=n + 5)
    return where, args + list(wanted.patterns)


async def desk_articles(
    conn: asyncpg.Connection, wanted: ArticleFilter, *, limit: int, offset: int
) -> tuple[list[Article], int]:
    """A page of the articles `wanted` picks, newest first, and how many it picks."""
    where, args = _filtered(wanted, first=3)
    rows = await conn.fetch(
        f"{_ARTICLE} WHERE {where} ORDER BY a.created_at DESC, a.id DESC LIMIT $1 OFFSET $2",
        limit,
        offset,
        *args,
    )
    count_where, count_args = _filtered(wanted, first=1)
    total = await conn.fetchval(f"SELECT count(*) FROM articles a WHERE {count_where}", *count_args)
    return [_article(r) for r in rows], int(total)


async def state_counts(conn: asyncpg.Connection, author_id: int | None) -> dict[str, int]:
    """How many articles (one author's, when given) are in each state."""
    rows = await conn.fetch(
        """SELECT status, count(*) AS n FROM articles
            WHERE $1::bigint IS NULL OR author_id = $1 GROUP BY status""",
        author_id,
    )
    return {r["status"]: int(r["n"]) for r in rows}


async def user_names(conn: asyncpg.Connection) -> dict[int, str]:
    """Every user's display name by id (the desk's author filter and columns)."""
    rows = await conn.fetch("SELECT id, display_name FROM users ORDER BY display_name, id")
    return {r["id"]: r["display_name"] for r in rows}


async def set_category_positions(conn: asyncpg.Connection, positions: dict[int, int]) -> None:
    await conn.executemany(
        "UPDATE categories SET position = $2 WHERE id = $1", list(positions.items())
    )


@dataclass(frozen=True)
class ImportJob:
    id: int
    started_by: int | None
    file_name: str
    file_format: str
    status: str
    total: int
    done: int
    summary: dict[str, Any] | None
    error: str | None
    started_at: datetime
    touched_at: datetime
    finished_at: datetime | None


_IMPORT_JOB_COLUMNS = """id, started_by, file_name, file_format, status, total, done,
    summary, error, started_at, touched_at, finished_at"""


def _import_job(row: asyncpg.Record) -> ImportJob:
    fields = dict(row)
    fields["summary"] = json.loads(row["summary"]) if row["summary"] is not None else None
    return ImportJob(**fields)


async def insert_import_job(
    conn: asyncpg.Connection, started_by: int, file_name: str, file_format: str
) -> ImportJob:
    row = await conn.fetchrow(
        f"""INSERT INTO import_jobs (started_by, file_name, file_format) VALUES ($1, $2, $3)
            RETURNING {_IMPORT_JOB_COLUMNS}""",
        started_by,
        file_name,
        file_format,
    )
    return _import_job(row)


async def import_progress(conn: asyncpg.Connection, job_id: int, done: int, total: int) -> None:
    await conn.execute(
        "UPDATE import_jobs SET done = $2, total = $3, touched_at = now() WHERE id = $1",
        job_id,
        done,
        total,
    )


async def finish_import_job(
    conn: asyncpg.Connection, job_id: int, summary: dict[str, Any] | None, error: str | None
) -> None:
    """The job's end: done with its summary, or failed with why."""
    await conn.execute(
        """UPDATE import_jobs
              SET status = CASE WHEN $3::text IS NULL THEN 'done' ELSE 'failed' END,
                  summary = $2::jsonb, error = $3, done = CASE WHEN $3::text IS NULL
                  THEN total ELSE done END, touched_at = now(), finished_at = now()
            WHERE id = $1""",
        job_id,
        json.dumps(summary, ensure_ascii=False) if summary is not None else None,
        error,
    )


async def get_import_job(conn: asyncpg.Connection, job_id: int) -> ImportJob | None:
    row = await conn.fetchrow(
        f"SELECT {_IMPORT_JOB_COLUMNS} FROM import_jobs WHERE id = $1", job_id
    )
    return _import_job(row) if row else None


async def recent_import_jobs(conn: asyncpg.Connection, limit: int) -> list[ImportJob]:
    rows = await conn.fetch(
        f"SELECT {_IMPORT_JOB_COLUMNS} FROM import_jobs ORDER BY started_at DESC, id DESC LIMIT $1",
        limit,
    )
    return [_import_job(r) for r in rows]


# --- public pages -------------------------------------------------------------------------


# The related articles under an article: the list shows their title, address, day and
# picture only, so their text is not read (it would be most of the query's work and size).
_RELATED_ARTICLE = _ARTICLE.replace("SELECT", "SELECT related.rank AS related_rank,", 1).replace(
    "a.summary, a.body_html,", "'' AS summary, '' AS body_html,", 1
)
# "Tin liên quan" under an article: at most this many. Written into the query (not a
# parameter): with a parameter as its LIMIT, Postgres kept planning the query anew at
# every run (a generic plan looked dearer), which cost more than running it.
RELATED_SHOWN = 5
# The article page in one round trip: the article, its tags, count, feedback, documents,
# the related articles, the lead pictures of them all and the categories (the menu), as one
# JSON text. One query instead of ten is most of what makes the page fast; and the text is
# the whole of what the page shows, so a page rendered from an equal text is the same page
# (pages.py keeps the last rendering of each article by it).
_ARTICLE_PAGE = f"""
WITH art AS ({_ARTICLE} WHERE a.id = $1),
rel AS (
    {_RELATED_ARTICLE}
    JOIN (SELECT id, min(rank) AS rank FROM (
            -- The topic and category as values (not a join), so that each is read from
            -- its index newest first: a few rows, however small the category.
            (SELECT id, 0 AS rank FROM articles
              WHERE topic_id = (SELECT topic_id FROM art) AND status = 'published'
                AND id <> $1
              ORDER BY published_at DESC, id DESC LIMIT {RELATED_SHOWN})
            UNION ALL
            (SELECT id, 1 AS rank FROM articles
              WHERE category_id = (SELECT category_id FROM art) AND status = 'published'
                AND id <> $1
              ORDER BY published_at DESC, id DESC LIMIT {RELATED_SHOWN})) near
           GROUP BY id) related ON related.id = a.id
    ORDER BY related.rank, a.published_at DESC, a.id DESC LIMIT {RELATED_SHOWN}
),
images AS (
    SELECT image_id FROM art WHERE image_id IS NOT NULL
    UNION SELECT image_id FROM rel WHERE image_id IS NOT NULL
)
SELECT convert_to(json_build_object(
    'article', (SELECT to_json(art) FROM art),
    'tags', (SELECT coalesce(json_agg(t ORDER BY t.name, t.id), '[]')
               FROM (SELECT t.id, t.slug, t.name FROM article_tags at
                       JOIN tags t ON t.id = at.tag_id WHERE at.article_id = $1) t),
    'views', (SELECT json_build_object('total', total, 'updated_at', updated_at)
                FROM article_views WHERE article_id = $1),
    'feedback', (SELECT coalesce(json_agg(f ORDER BY f.approved_at, f.id), '[]')
                   FROM (SELECT id, article_id, author_name, body, reply_body, reply_author,
                                replied_at, approved_at, updated_at
                           FROM public_feedback WHERE article_id = $1) f),
    'documents', (SELECT coalesce(json_agg(d ORDER BY d.position, d.id), '[]')
                    FROM (SELECT {_DOCUMENT_COLUMNS} FROM documents d
                           WHERE d.article_id = $1) d),
    'related', (SELECT coalesce(json_agg(rel ORDER BY rel.related_rank, rel.published_at DESC,
                                                      rel.id DESC), '[]') FROM rel),
    'image_ids', (SELECT coalesce(json_agg(image_id ORDER BY image_id), '[]') FROM images),
    'variants', (SELECT coalesce(json_agg(v ORDER BY v.image_id, v.name, v.content_type), '[]')
                   FROM (SELECT image_id, name, content_type, width, height, byte_size
                           FROM image_variants
                          WHERE image_id IN (SELECT image_id FROM images)) v),
    'categories', (SELECT coalesce(json_agg(c ORDER BY c.position, c.name, c.id), '[]')
                     FROM (SELECT {_CATEGORY_COLUMNS} FROM categories) c)
)::text, 'UTF8') WHERE EXISTS (SELECT 1 FROM art)
"""
_ARTICLE_TIMES = (
    "created_at", "updated_at", "published_at", "text_updated_at", "publish_at", "end_at",
    "deleted_at", "featured_home_until", "featured_category_until",
)  # fmt: skip


@dataclass(frozen=True)
class ArticlePage:
    """What the article page shows, read in one query (article_page_text, then parsed)."""

    article: Article
    views: int
    views_changed: datetime | None
    comments: list[PublicFeedback]
    documents: list[Document]
    related: list[Article]
    pictures: dict[int, Picture]
    categories: list[Category]


async def article_page_text(conn: asyncpg.Connection, article_id: int) -> bytes | None:
    """Everything the article page shows, as a JSON text in UTF-8 (None: no such article,
    public or not): bytes, as pages.py compares them and json reads them, never decoded."""
    text: bytes | None = await conn.fetchval(_ARTICLE_PAGE, article_id)
    return text


def _utc(value: str | None) -> datetime | None:
    # As asyncpg gives them: in UTC, whatever the session's time zone.
    return datetime.fromisoformat(value).astimezone(UTC) if value is not None else None


def _timed(row: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    return {**row, **{name: _utc(row[name]) for name in names}}


def parse_article_page(text: bytes) -> ArticlePage:
    data = json.loads(text)
    tags = tuple(_named(_TAGS, t) for t in data["tags"])
    variants: dict[int, list[ImageVariant]] = {}
    for v in data["variants"]:
        variants.setdefault(v["image_id"], []).append(
            ImageVariant(
                v["image_id"], v["name"], v["content_type"], v["width"], v["height"],
                v["byte_size"],
            )
        )  # fmt: skip
    views = data["views"] or {"total": 0, "updated_at": None}
    return ArticlePage(
        article=_article(_timed(data["article"], _ARTICLE_TIMES), tags),
        views=int(views["total"] or 0),
        views_changed=_utc(views["updated_at"]),
        comments=[
            PublicFeedback(**_timed(f, ("replied_at", "approved_at", "updated_at")))
            for f in data["feedback"]
        ],
        documents=[_document(_timed(d, ("uploaded_at",))) for d in data["documents"]],
        related=[_article(_timed(r, _ARTICLE_TIMES)) for r in data["related"]],
        pictures={i: Picture(i, tuple(variants.get(i, ()))) for i in data["image_ids"]},
        categories=[_category(c) for c in data["categories"]],
    )


async def sitemap_chunks(conn: asyncpg.Connection, width: int) -> list[tuple[int, datetime]]:
    """The ranges of `width` article ids that hold published articles, each as its number
    (id // width) and the last change of text among them: one child sitemap each."""
    rows = await conn.fetch(
        """SELECT id / $1 AS chunk, max(text_updated_at) AS lastmod FROM articles
            WHERE status = 'published' GROUP BY 1 ORDER BY 1""",
        width,
    )
    return [(int(r["chunk"]), r["lastmod"]) for r in rows]


async def sitemap_chunk(
    conn: asyncpg.Connection, first_id: int, end_id: int
) -> list[asyncpg.Record]:
    """The published articles with ids from `first_id` up to (not including) `end_id`:
    id, slug and the last change of the text, by id (a range of the primary key)."""
    return list(
        await conn.fetch(
            """SELECT id, slug, text_updated_at FROM articles
                WHERE id >= $1 AND id < $2 AND status = 'published' ORDER BY id""",
            first_id,
            end_id,
        )
    )


async def published_since(
    conn: asyncpg.Connection, since: datetime, limit: int
) -> list[asyncpg.Record]:
    """Articles first published since `since` and still published, newest first: id,
    slug, title and publication time (the Google News sitemap)."""
    return list(
        await conn.fetch(
            """SELECT id, slug, title, published_at FROM articles
                WHERE status = 'published' AND published_at >= $1
                ORDER BY published_at DESC, id DESC LIMIT $2""",
            since,
            limit,
        )
    )


# --- most read by period ---

# A period's column of article_views and how many days it spans (today included).
MOST_READ_PERIODS: dict[str, tuple[str, int]] = {
    "day": ("today", 1),
    "week": ("last_7_days", 7),
    "month": ("last_30_days", 30),
}


async def most_read(conn: asyncpg.Connection, period: str, limit: int) -> list[tuple[Article, int]]:
    """The published articles most read today ("day"), in the last 7 ("week") or 30
    ("month") days, today included (Asia/Ho_Chi_Minh), each with its views in the period,
    most first. A row counts only if its sums were made on a day of the period: an article
    nobody read since is in no list of today, and only briefly (until the counter's daily
    refresh) in the others. ValueError for another period."""
    if period not in MOST_READ_PERIODS:
        raise ValueError(f"unknown period {period!r}")
    column, days = MOST_READ_PERIODS[period]
    rows = await conn.fetch(
        f"""{_ARTICLE.replace("SELECT", f"SELECT v.{column} AS views,", 1)}
            JOIN article_views v ON v.article_id = a.id
            WHERE a.status = 'published' AND v.{column} > 0
              AND v.day > (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date - $2::int
            ORDER BY v.{column} DESC, a.id DESC LIMIT $1""",
        limit,
        days,
    )
    found = await _articles(conn, rows)
    return [(article, int(r["views"])) for article, r in zip(found, rows, strict=True)]


# --- search -------------------------------------------------------------------------------
# The public search (/tim-kiem). Candidates come from three index reads, each the newest
# SEARCH_CANDIDATES of its kind: titles holding every selecting word, articles holding every
# one, and (three words or more) articles holding all but one. They are ranked: more of the
# query's words (short ones included) first, then more of them in the title, then (among
# the best EXACT_WINDOW only, where it costs a regular expression over the title, summary
# and the text's first EXACT_TEXT characters) more words found with the diacritics the
# reader typed, then newest first. The exact check reads the text as stored: the reader's
# word is looked for in each Unicode form (domain.typed_forms).

SEARCH_CANDIDATES = 150
EXACT_WINDOW = 30
EXACT_TEXT = 3000  # characters of the text (after title and summary) checked for exact words


@dataclass(frozen=True)
class SearchFilters:
    category_ids: list[int] | None = None
    published_from: datetime | None = None  # inclusive
    published_before: datetime | None = None  # exclusive


@dataclass(frozen=True)
class SearchPage:
    items: list[Article]
    total: int  # ranked results, at most SEARCH_CANDIDATES
    more: bool  # more articles match than were ranked
    texts: dict[int, str]  # the body text of each item, for its snippet


_FILTERS = """
    AND a.status = 'published'
    AND ($3::bigint[] IS NULL OR a.category_id = ANY($3))
    AND ($4::timestamptz IS NULL OR a.published_at >= $4)
    AND ($5::timestamptz IS NULL OR a.published_at < $5)
  ORDER BY a.published_at DESC LIMIT $6"""

_SEARCH = f"""
WITH candidates AS (
    (SELECT a.id FROM articles a
      WHERE a.search_title_vector @@ to_tsquery('simple', $1) {_FILTERS})
    UNION ALL
    (SELECT a.id FROM articles a
      WHERE NOT $9 AND a.search_vector @@ to_tsquery('simple', $1) {_FILTERS})
    UNION ALL
    (SELECT a.id FROM articles a
      WHERE NOT $9 AND $2::text IS NOT NULL
        AND a.search_vector @@ to_tsquery('simple', $2) {_FILTERS})
), scored AS (
    SELECT a.id, a.published_at, a.title, a.summary, a.body_text,
           length(a.search_vector) - length(ts_delete(a.search_vector, $7::text[])) AS matched,
           length(a.search_title_vector)
               - length(ts_delete(a.search_title_vector, $7::text[])) AS in_title
      FROM (SELECT DISTINCT id FROM candidates) c JOIN articles a ON a.id = c.id
), ranked AS (
    SELECT s.*, row_number() OVER (
               ORDER BY matched DESC, in_title DESC, published_at DESC, id DESC) AS base
      FROM scored s
)
SELECT r.id,
       CASE WHEN r.base <= $10 AND cardinality($8::text[]) > 0 THEN (
           SELECT count(*) FROM unnest($8::text[]) p
            WHERE lower(r.title || ' ' || r.summary || ' ' || left(r.body_text, $11)) ~ p)
       ELSE 0 END AS exact
  FROM ranked r
 ORDER BY r.matched DESC, r.in_title DESC, exact DESC, r.base
 LIMIT $6"""


def _search_args(plan: SearchPlan, filters: SearchFilters, titles_only: bool) -> list[Any]:
    return [
        plan.every,
        plan.most,
        filters.category_ids,
        filters.published_from,
        filters.published_before,
        SEARCH_CANDIDATES,
        plan.words,
        plan.accented,
        titles_only,
        EXACT_WINDOW,
        EXACT_TEXT,
    ]


async def search(
    conn: asyncpg.Connection,
    plan: SearchPlan,
    filters: SearchFilters,
    *,
    titles_only: bool,
    page: int,
    per_page: int,
) -> SearchPage:
    """A page of the ranked published articles a query selects (domain.search_plan)."""
    async with conn.transaction():
        # Planned for these words: a generic plan (what a prepared statement gets after a
        # few runs) cannot tell a word in a fifth of the titles from a rare one.
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        rows = await conn.fetch(_SEARCH, *_search_args(plan, filters, titles_only))
    ids = [r["id"] for r in rows]
    shown = ids[(page - 1) * per_page : page * per_page]
    # As many as were ranked: some index read filled its limit, there may be more.
    more = len(ids) >= SEARCH_CANDIDATES
    if not shown:
        return SearchPage([], len(ids), more, {})
    found = await conn.fetch(f"{_ARTICLE} WHERE a.id = ANY($1)", shown)
    by_id = {a.id: a for a in await _articles(conn, found)}
    texts = await conn.fetch("SELECT id, body_text FROM articles WHERE id = ANY($1)", shown)
    return SearchPage(
        [by_id[i] for i in shown if i in by_id],
        len(ids),
        more,
        {r["id"]: r["body_text"] for r in texts},
    )


async def explain_search(
    conn: asyncpg.Connection, plan: SearchPlan, filters: SearchFilters | None = None
) -> list[str]:
    """EXPLAIN ANALYZE of the search query (for bench/search.py)."""
    args = _search_args(plan, filters or SearchFilters(), titles_only=False)
    async with conn.transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {_SEARCH}", *args)
    return [r[0] for r in rows]
