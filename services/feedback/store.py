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


# --- feedback ---------------------------------------------------------------------------

_ITEM = """f.id, f.article_id, f.target, f.author_name, f.email, f.body, f.status, f.version,
           f.reply_body, f.reply_author, f.replied_at, f.submitted_at, f.approved_at,
           f.rejected_at, f.withdrawn_at, f.updated_at, f.hold_reasons,
           f.phone, f.title, f.public_qa, f.reject_reason,
           f.original_author_name, f.original_body, f.edited_at,
           a.title AS article_title, a.url AS article_url"""


# --- a reader's submission ----------------------------------------------------------------


class SubmissionStopped(Exception):
    """submit_feedback (migrations 007, 008) stopped and stored nothing: `code` is its SQLSTATE
    (BF001 daily limit, BF002 too many a minute, BF003 article unavailable, BF004 the same
    text sent before), `detail` what it said (BF002: the seconds to wait; BF004: a JSON
    array of the targets the text was sent to)."""

    def __init__(self, code: str, detail: str | None) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class CaseKeys:
    """What identifies a new case besides its id: its receipt code's hash, and the hash of
    the idempotency key (and of the API request) it was submitted with, if any."""

    receipt_hash: str
    idempotency_hash: str | None = None
    request_hash: str | None = None


@dataclass(frozen=True)
class NewCase:
    """Everything submit_feedback stores, decided beforehand by actions.submit."""

    id: int
    submitted_at: datetime
    article_id: int | None
    text_target: str
    fingerprint: str
    submission: Submission
    keys: CaseKeys
    hold_reasons: Sequence[str]


@dataclass(frozen=True)
class Charge:
    """Whom a submission is charged to and the limits it is checked against."""

    day: date
    quota_key: str
    daily_limit: int
    per_minute: int
    visitor_keys: Sequence[str]
    text_window: timedelta


async def submit_case(
    conn: asyncpg.Connection,
    case: NewCase,
    charge: Charge,
    judged_targets: Sequence[str],
    event: tuple[str, str, str, dict[str, object]],
) -> asyncpg.Record:
    """Charge, check, store the case with its event (id, type, subject, envelope), in one
    round trip; or the case stored before with the same idempotency key (`replayed`).
    SubmissionStopped when a check stops it: nothing is stored then."""
    submission = case.submission
    try:
        return await conn.fetchrow(
            """SELECT * FROM submit_feedback($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
                                             $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,
                                             $23, $24, $25)""",
            case.id,
            case.submitted_at,
            charge.day,
            charge.quota_key,
            charge.daily_limit,
            charge.per_minute,
            list(charge.visitor_keys),
            charge.text_window,
            case.article_id,
            case.text_target,
            case.fingerprint,
            list(judged_targets),
            submission.author_name,
            submission.email,
            submission.body,
            submission.phone,
            submission.title,
            case.keys.receipt_hash,
            case.keys.idempotency_hash,
            case.keys.request_hash,
            [str(reason) for reason in case.hold_reasons],
            *event,
        )
    except asyncpg.PostgresError as stopped:
        code = getattr(stopped, "sqlstate", "") or ""
        if code.startswith("BF"):
            raise SubmissionStopped(code, getattr(stopped, "detail", None)) from None
        raise


class CaseIds:
    """Ids for new cases, reserved from the table's sequence a block at a time (one round
    trip per block), so that a case's event can name its id before the case is stored.
    An id reserved and not used leaves a gap, as a rolled-back insert always did."""

    BLOCK = 100

    def __init__(self) -> None:
        self._free: list[int] = []

    async def next(self, conn: asyncpg.Connection) -> int:
        if not self._free:
            reserved = await conn.fetch(
                """SELECT nextval(pg_get_serial_sequence('feedback', 'id')) AS id
                     FROM generate_series(1, $1)""",
                self.BLOCK,
            )
            # Another task may have refilled it meanwhile: keep both blocks.
            self._free.extend(sorted((row["id"] for row in reserved), reverse=True))
        return self._free.pop()


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
    conn: asyncpg.Connection,
    start: datetime,
    end: datetime,
    status: Status | None,
    after_id: int,
    limit: int,
) -> list[asyncpg.Record]:
    """Up to `limit` items submitted in [start, end) with an id above `after_id`, oldest
    first: one batch of the CSV export, which pages by id (no transaction held open)."""
    return await conn.fetch(
        f"""SELECT {_ITEM} FROM feedback f LEFT JOIN articles a ON a.id = f.article_id
             WHERE f.submitted_at >= $1 AND f.submitted_at < $2
               AND ($3::text IS NULL OR f.status = $3) AND f.id > $4
             ORDER BY f.id LIMIT $5""",
        start,
        end,
        status.value if status else None,
        after_id,
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
