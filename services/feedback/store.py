"""SQL of the feedback service: plain async functions on an asyncpg connection. The
caller holds the transaction."""

from __future__ import annotations

from collections.abc import Sequence
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


async def charge(
    conn: asyncpg.Connection, day: date, address_key: str, text_window: timedelta
) -> int:
    """Count one more submission for the address on `day`; returns that day's count. The
    row stays locked until the transaction ends, so concurrent submissions from one
    address take turns; a refused one rolls its increment back.

    The same statement (one round trip) tidies up: it deletes the counts of earlier days
    and a bounded batch of remembered texts older than `text_window`. SKIP LOCKED: two
    submissions cleaning up at once neither wait for nor deadlock on each other; what one
    skips, the next one deletes."""
    count = await conn.fetchval(
        """WITH old_counts AS (
                DELETE FROM submission_counts WHERE (day, address_key) IN (
                    SELECT day, address_key FROM submission_counts WHERE day < $1
                       FOR UPDATE SKIP LOCKED)),
                old_texts AS (
                DELETE FROM recent_submissions WHERE ctid IN (
                    SELECT ctid FROM recent_submissions
                     WHERE submitted_at < now() - $3::interval
                     LIMIT 100 FOR UPDATE SKIP LOCKED))
           INSERT INTO submission_counts (day, address_key, submissions) VALUES ($1, $2, 1)
           ON CONFLICT (day, address_key)
           DO UPDATE SET submissions = submission_counts.submissions + 1
           RETURNING submissions""",
        day,
        address_key,
        text_window,
    )
    return int(count)


# --- feedback ---------------------------------------------------------------------------

_ITEM = """f.id, f.article_id, f.target, f.author_name, f.email, f.body, f.status, f.version,
           f.reply_body, f.reply_author, f.replied_at, f.submitted_at, f.approved_at,
           f.rejected_at, f.withdrawn_at, f.updated_at, f.hold_reasons,
           f.phone, f.title, f.public_qa, f.reject_reason,
           f.original_author_name, f.original_body, f.edited_at,
           a.title AS article_title, a.url AS article_url"""


async def visitor_checks(
    conn: asyncpg.Connection,
    visitor_keys: list[str],
    article_id: int | None,
    fingerprint: str,
    text_window: timedelta,
) -> asyncpg.Record:
    """What a submission is checked against, in one round trip (run it after `charge`, so
    that it sees what the visitor's earlier submissions committed): `sent`, the visitor's
    submissions in the last minute, and `wait`, the seconds until the oldest of them is a
    minute old; `article_open`, whether the article (if any) is known and published; and
    `targets`, where the visitor sent this text within `text_window`."""
    return await conn.fetchrow(
        """SELECT minute.sent, minute.wait,
                  ($2::bigint IS NULL OR EXISTS (
                      SELECT 1 FROM articles WHERE id = $2 AND published)) AS article_open,
                  ARRAY(SELECT DISTINCT target FROM recent_submissions
                         WHERE visitor_key = ANY($1::text[]) AND fingerprint = $3
                           AND submitted_at > now() - $4::interval) AS targets
             FROM (SELECT count(*) AS sent,
                          EXTRACT(EPOCH FROM min(submitted_at) + interval '1 minute' - now())
                              AS wait
                     FROM recent_submissions
                    WHERE visitor_key = ANY($1::text[])
                      AND submitted_at > now() - interval '1 minute') AS minute""",
        visitor_keys,
        article_id,
        fingerprint,
        text_window,
    )


# --- the records of refusals and holds (no personal data) -------------------------------


async def count_spam(
    conn: asyncpg.Connection, day: date, outcome: str, reason: str, target: str
) -> None:
    await conn.execute(
        """INSERT INTO spam_counts (day, outcome, reason, target, count) VALUES ($1, $2, $3, $4, 1)
           ON CONFLICT (day, outcome, reason, target)
           DO UPDATE SET count = spam_counts.count + 1""",
        day,
        outcome,
        reason,
        target,
    )


async def spam_counts_since(conn: asyncpg.Connection, day: date) -> list[asyncpg.Record]:
    """Refusals and holds from `day` on, summed by outcome, reason and target kind."""
    return await conn.fetch(
        """SELECT outcome, reason, target, sum(count)::bigint AS count FROM spam_counts
            WHERE day >= $1 GROUP BY outcome, reason, target
            ORDER BY outcome, sum(count) DESC, reason, target""",
        day,
    )


async def insert(
    conn: asyncpg.Connection,
    article_id: int | None,
    submission: Submission,
    fingerprint: str,
    case: CaseKeys,
    hold_reasons: Sequence[str],
    visitor_key: str,
    text_target: str,
) -> asyncpg.Record:
    """A new item: pending, or held with its reasons. The same statement remembers that
    the visitor sent this text to `text_target` (for spam.repeat_rule)."""
    return await conn.fetchrow(
        """WITH remembered AS (
                INSERT INTO recent_submissions (visitor_key, target, fingerprint)
                VALUES ($14, $15, $6))
           INSERT INTO feedback (article_id, target, author_name, email, body, fingerprint,
                                 phone, title, receipt_hash, idempotency_hash, request_hash,
                                 status, hold_reasons)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           RETURNING id, article_id, target, status, version, submitted_at""",
        article_id,
        "site" if article_id is None else "article",
        submission.author_name,
        submission.email,
        submission.body,
        fingerprint,
        submission.phone,
        submission.title,
        case.receipt_hash,
        case.idempotency_hash,
        case.request_hash,
        Status.HELD.value if hold_reasons else Status.PENDING.value,
        [str(reason) for reason in hold_reasons],
        visitor_key,
        text_target,
    )


@dataclass(frozen=True)
class CaseKeys:
    """What identifies a new case besides its id: its receipt code's hash, and the hash of
    the idempotency key (and of the API request) it was submitted with, if any."""

    receipt_hash: str
    idempotency_hash: str | None = None
    request_hash: str | None = None


async def lock_idempotency_key(conn: asyncpg.Connection, key_hash: str) -> None:
    """Serialise submissions with the same idempotency key until the transaction ends, so
    that of two clicks at once the second finds the case the first stored."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"idempotency:{key_hash}")


async def submitted_with_key(conn: asyncpg.Connection, key_hash: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT id, article_id, target, status, version, submitted_at, request_hash
             FROM feedback WHERE idempotency_hash = $1""",
        key_hash,
    )


async def case_by_receipt(conn: asyncpg.Connection, receipt_hash: str) -> asyncpg.Record | None:
    """What the status page shows of a case: never the e-mail or phone."""
    return await conn.fetchrow(
        """SELECT f.id, f.target, f.status, f.title, f.submitted_at, f.approved_at,
                  f.rejected_at, f.withdrawn_at, f.reply_body, f.reply_author, f.replied_at,
                  f.updated_at, a.title AS article_title, a.url AS article_url,
                  a.published AS article_published,
                  -- The public reason of a rejection, once the column exists (desk part):
                  -- read through to_jsonb so this query works with or without it.
                  to_jsonb(f) ->> 'reject_reason' AS reject_reason
             FROM feedback f LEFT JOIN articles a ON a.id = f.article_id
            WHERE f.receipt_hash = $1""",
        receipt_hash,
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
           replied_at = NULL, phone = NULL, title = NULL, replied_by = NULL,
           public_qa = false, original_author_name = NULL, original_body = NULL""",
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
        "reply_body = $2, reply_author = $3, replied_by = $4, replied_at = now()",
        reply.text,
        reply.signature,
        reply.moderator or None,
    )


# --- /hoi-dap: answered site suggestions shown as questions and answers ------------------


async def set_public_qa(conn: asyncpg.Connection, item_id: int, public: bool) -> bool:
    """Mark an approved, answered site suggestion for /hoi-dap (or unmark any site
    suggestion); False if the item is not one."""
    changed = await conn.fetchval(
        """UPDATE feedback SET public_qa = $2, updated_at = now()
            WHERE id = $1 AND target = 'site'
              AND (NOT $2 OR (status = 'approved' AND reply_body IS NOT NULL))
           RETURNING id""",
        item_id,
        public,
    )
    return changed is not None


_QUESTIONS = """FROM feedback WHERE public_qa AND target = 'site' AND status = 'approved'
                 AND reply_body IS NOT NULL"""


async def count_questions(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval(f"SELECT count(*) {_QUESTIONS}"))


async def questions(conn: asyncpg.Connection, limit: int, offset: int) -> list[asyncpg.Record]:
    """Public questions and answers, the latest answered first."""
    return await conn.fetch(
        f"""SELECT id, author_name, title, body, submitted_at, reply_body, reply_author,
                   replied_at {_QUESTIONS}
             ORDER BY replied_at DESC, id DESC LIMIT $1 OFFSET $2""",
        limit,
        offset,
    )


# --- contact retention -----------------------------------------------------------------


async def erase_contacts(conn: asyncpg.Connection, closed_before: datetime, batch: int) -> int:
    """Blank the e-mail and phone of up to `batch` cases closed (approved, rejected or
    withdrawn, or last answered) before `closed_before`; returns how many. SKIP LOCKED:
    a case a moderator is changing is taken next round. Nothing public changes, so no
    version and no event."""
    erased = await conn.fetch(
        """UPDATE feedback SET email = NULL, phone = NULL, contact_erased_at = now()
            WHERE id IN (
                SELECT id FROM feedback
                 WHERE (email IS NOT NULL OR phone IS NOT NULL)
                   AND status IN ('approved', 'rejected', 'withdrawn')
                   AND GREATEST(approved_at, rejected_at, withdrawn_at, replied_at)
                       < $1
                 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING id""",
        closed_before,
        batch,
    )
    return len(erased)
