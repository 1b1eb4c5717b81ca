"""SQL of the feedback service: plain async functions on an asyncpg connection. The
caller holds the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg

from services.feedback.domain import Approve, Edit, Reject, Reply, Status, Submission, Withdraw

# --- read model of articles -------------------------------------------------------------


async def article_published(
    conn: asyncpg.Connection, article_id: int, title: str, url: str, version: int
) -> None:
    await conn.execute(
        """INSERT INTO articles (id, title, url, published, version)
           VALUES ($1, $2, $3, true, $4)
           ON CONFLICT (id) DO UPDATE
              SET title = EXCLUDED.title, url = EXCLUDED.url, published = true,
                  version = EXCLUDED.version, updated_at = now()""",
        article_id,
        title,
        url,
        version,
    )


async def article_unpublished(conn: asyncpg.Connection, article_id: int, version: int) -> None:
    # An article never seen published needs no row: unknown already means "no feedback".
    await conn.execute(
        "UPDATE articles SET published = false, version = $2, updated_at = now() WHERE id = $1",
        article_id,
        version,
    )


async def open_article(conn: asyncpg.Connection, article_id: int) -> asyncpg.Record | None:
    """The article if it may receive feedback (known and published), else None."""
    return await conn.fetchrow(
        "SELECT id, title, url FROM articles WHERE id = $1 AND published", article_id
    )


# --- the daily cap per client address ---------------------------------------------------


async def charge(conn: asyncpg.Connection, day: date, address_key: str) -> int:
    """Count one more submission for the address on `day`; returns that day's count. The
    row stays locked until the transaction ends, so concurrent submissions from one
    address take turns; a refused one rolls its increment back."""
    count = await conn.fetchval(
        """INSERT INTO submission_counts (day, address_key, submissions) VALUES ($1, $2, 1)
           ON CONFLICT (day, address_key)
           DO UPDATE SET submissions = submission_counts.submissions + 1
           RETURNING submissions""",
        day,
        address_key,
    )
    return int(count)


async def delete_counts_before(conn: asyncpg.Connection, day: date) -> None:
    # SKIP LOCKED: two submissions cleaning up at once neither wait for nor deadlock on
    # each other; what one skips, the next one deletes.
    await conn.execute(
        """DELETE FROM submission_counts WHERE (day, address_key) IN (
               SELECT day, address_key FROM submission_counts WHERE day < $1
                  FOR UPDATE SKIP LOCKED)""",
        day,
    )


# --- feedback ---------------------------------------------------------------------------

_ITEM = """f.id, f.article_id, f.target, f.author_name, f.email, f.body, f.status, f.version,
           f.reply_body, f.reply_author, f.replied_at, f.submitted_at, f.approved_at,
           f.rejected_at, f.withdrawn_at, f.updated_at, f.reject_reason,
           f.original_author_name, f.original_body, f.edited_at,
           a.title AS article_title, a.url AS article_url"""


async def lock_text(conn: asyncpg.Connection, fingerprint: str) -> None:
    """Serialise submissions of the same text until the transaction ends, so that two sent
    at once cannot both pass the duplicate check."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"feedback:{fingerprint}")


async def recently_sent(conn: asyncpg.Connection, fingerprint: str, window: timedelta) -> bool:
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM feedback
                               WHERE fingerprint = $1 AND submitted_at > now() - $2::interval)""",
            fingerprint,
            window,
        )
    )


async def insert(
    conn: asyncpg.Connection, article_id: int | None, submission: Submission, fingerprint: str
) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO feedback (article_id, target, author_name, email, body, fingerprint)
           VALUES ($1, $2, $3, $4, $5, $6)
           RETURNING id, article_id, target, version, submitted_at""",
        article_id,
        "site" if article_id is None else "article",
        submission.author_name,
        submission.email,
        submission.body,
        fingerprint,
    )


async def get(conn: asyncpg.Connection, item_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_ITEM} FROM feedback f LEFT JOIN articles a ON a.id = f.article_id"
        " WHERE f.id = $1",
        item_id,
    )


async def status_for_update(conn: asyncpg.Connection, item_id: int) -> Status | None:
    """The item's status, its row locked until the transaction ends; None if unknown."""
    status = await conn.fetchval("SELECT status FROM feedback WHERE id = $1 FOR UPDATE", item_id)
    return Status(status) if status is not None else None


@dataclass(frozen=True)
class Filters:
    """What the desk and the list API narrow items down to (None: any)."""

    statuses: tuple[Status, ...] | None = None
    target: str | None = None  # "article" or "site"
    text: str | None = None  # found in the name or the body, accents and case ignored


def _like(text: str) -> str:
    """`text` as a LIKE pattern matching it anywhere, its own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search(
    conn: asyncpg.Connection,
    filters: Filters,
    limit: int,
    *,
    oldest_first: bool = False,
    cursor: int | None = None,
) -> list[asyncpg.Record]:
    """Items matching `filters`, newest first (ids below `cursor`) or oldest first (ids
    above it): keyset paging on the id, which rises with the submission time."""
    order, beyond = ("ASC", ">") if oldest_first else ("DESC", "<")
    return await conn.fetch(
        f"""SELECT {_ITEM} FROM feedback f LEFT JOIN articles a ON a.id = f.article_id
             WHERE ($1::text[] IS NULL OR f.status = ANY($1::text[]))
               AND ($2::text IS NULL OR f.target = $2)
               AND ($3::text IS NULL
                    OR public.unaccent(lower(f.author_name || ' ' || f.body))
                       LIKE public.unaccent(lower($3)))
               AND ($4::bigint IS NULL OR f.id {beyond} $4)
             ORDER BY f.id {order} LIMIT $5""",
        [status.value for status in filters.statuses] if filters.statuses else None,
        filters.target,
        _like(filters.text) if filters.text else None,
        cursor,
        limit,
    )


async def export(
    conn: asyncpg.Connection, start: datetime, end: datetime, status: Status | None, limit: int
) -> list[asyncpg.Record]:
    """Items submitted in [start, end), oldest first, for the CSV export."""
    return await conn.fetch(
        f"""SELECT {_ITEM} FROM feedback f LEFT JOIN articles a ON a.id = f.article_id
             WHERE f.submitted_at >= $1 AND f.submitted_at < $2
               AND ($3::text IS NULL OR f.status = $3)
             ORDER BY f.id LIMIT $4""",
        start,
        end,
        status.value if status else None,
        limit,
    )


async def add_history(
    conn: asyncpg.Connection,
    item_id: int,
    action: str,
    moderator_id: int,
    moderator_name: str,
    reason: str | None,
) -> None:
    await conn.execute(
        """INSERT INTO moderation_history (feedback_id, action, moderator_id, moderator_name,
                                           reason)
           VALUES ($1, $2, $3, $4, $5)""",
        item_id,
        action,
        moderator_id,
        moderator_name,
        reason,
    )


async def history(conn: asyncpg.Connection, item_id: int) -> list[asyncpg.Record]:
    """What moderators did to the item, oldest first."""
    return await conn.fetch(
        """SELECT action, moderator_id, moderator_name, reason, at FROM moderation_history
            WHERE feedback_id = $1 ORDER BY id""",
        item_id,
    )


async def _change(conn: asyncpg.Connection, item_id: int, assignments: str, *args: object) -> None:
    await conn.execute(
        f"UPDATE feedback SET {assignments}, version = version + 1, updated_at = now()"
        " WHERE id = $1",
        item_id,
        *args,
    )


# The moderation commands' writes, one per command (domain.MODERATION names them); each
# takes the command, so the table can name any of them alike.


async def approve(conn: asyncpg.Connection, item_id: int, _: Approve) -> None:
    await _change(conn, item_id, "status = 'approved', approved_at = now()")


async def reject(conn: asyncpg.Connection, item_id: int, reject: Reject) -> None:
    await _change(
        conn, item_id, "status = 'rejected', rejected_at = now(), reject_reason = $2", reject.reason
    )


async def withdraw(conn: asyncpg.Connection, item_id: int, _: Withdraw) -> None:
    # Withdrawing is how a reader's name and words are erased: blank them here too.
    await _change(
        conn,
        item_id,
        """status = 'withdrawn', withdrawn_at = now(), author_name = '', email = NULL,
           body = '', fingerprint = NULL, reply_body = NULL, reply_author = NULL,
           replied_at = NULL, original_author_name = NULL, original_body = NULL""",
    )


async def edit(conn: asyncpg.Connection, item_id: int, edit: Edit) -> None:
    await _change(
        conn,
        item_id,
        # The reader's own words are kept once, at the first edit (SET reads the old row).
        """original_author_name = COALESCE(original_author_name, author_name),
           original_body = COALESCE(original_body, body),
           author_name = COALESCE($2, author_name), body = COALESCE($3, body),
           edited_at = now()""",
        edit.author_name,
        edit.body,
    )


async def reply(conn: asyncpg.Connection, item_id: int, reply: Reply) -> None:
    await _change(
        conn,
        item_id,
        "reply_body = $2, reply_author = $3, replied_at = now()",
        reply.text,
        reply.signature,
    )
