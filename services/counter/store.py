"""The counter's SQL: plain async functions on an asyncpg connection (the caller owns the
transaction). Totals are only ever added to in SQL (`n = n + $x`), never read, changed in
Python and written back, so concurrent consumers cannot lose a view."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import date

import asyncpg

from services.counter.domain import SALT_BYTES, View

# --- the read model of articles -----------------------------------------------------------


async def set_article_state(
    conn: asyncpg.Connection, article_id: int, countable: bool, version: int
) -> None:
    await conn.execute(
        """INSERT INTO articles (id, countable, version) VALUES ($1, $2, $3)
           ON CONFLICT (id) DO UPDATE
              SET countable = EXCLUDED.countable, version = EXCLUDED.version,
                  changed_at = now()""",
        article_id,
        countable,
        version,
    )


async def countable_article_ids(conn: asyncpg.Connection) -> list[int]:
    rows = await conn.fetch("SELECT id FROM articles WHERE countable")
    return [r["id"] for r in rows]


# --- daily salts --------------------------------------------------------------------------


async def daily_salt(conn: asyncpg.Connection, day: date) -> bytes:
    """The salt of `day`, made by whichever instance asks first (the others read it)."""
    await conn.execute(
        "INSERT INTO daily_salts (day, salt) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING",
        day,
        secrets.token_bytes(SALT_BYTES),
    )
    salt = await conn.fetchval("SELECT salt FROM daily_salts WHERE day = $1", day)
    return bytes(salt)


async def delete_salts_before(conn: asyncpg.Connection, day: date) -> int:
    deleted = await conn.fetch("DELETE FROM daily_salts WHERE day < $1 RETURNING day", day)
    return len(deleted)


# --- counting -----------------------------------------------------------------------------


async def count_views(conn: asyncpg.Connection, views: Sequence[View], oldest_day: date) -> int:
    """Record the views' keys; add only the keys not seen before to the per-article and
    per-day totals and mark those articles changed. Returns how many views were new.

    One statement: the keys go in sorted, the totals in article order, so concurrent
    batches take their row locks in the same order and cannot deadlock.
    """
    row = await conn.fetchrow(
        """WITH incoming AS (
               SELECT DISTINCT decode(k, 'hex') AS key, a AS article_id, d AS day
                 FROM unnest($1::text[], $2::bigint[], $3::date[]) AS v(k, a, d)
                WHERE d >= $4
           ), fresh AS (
               INSERT INTO view_keys (key, article_id, day)
               SELECT key, article_id, day FROM incoming ORDER BY key
               ON CONFLICT (key) DO NOTHING
               RETURNING article_id, day
           ), per_day AS (
               SELECT article_id, day, count(*) AS n FROM fresh GROUP BY article_id, day
           ), days AS (
               INSERT INTO daily_totals (article_id, day, views)
               SELECT article_id, day, n FROM per_day ORDER BY article_id, day
               ON CONFLICT (article_id, day) DO UPDATE
                  SET views = daily_totals.views + EXCLUDED.views
           ), totals AS (
               INSERT INTO article_totals (article_id, counted, changed)
               SELECT article_id, sum(n), true FROM per_day
                GROUP BY article_id ORDER BY article_id
               ON CONFLICT (article_id) DO UPDATE
                  SET counted = article_totals.counted + EXCLUDED.counted, changed = true
           )
           SELECT coalesce(sum(n), 0)::bigint AS new FROM per_day""",
        [v.key for v in views],
        [v.article_id for v in views],
        [v.day for v in views],
        oldest_day,
    )
    assert row is not None
    return int(row["new"])


async def delete_keys_before(conn: asyncpg.Connection, day: date, chunk: int = 10_000) -> int:
    """Delete one chunk of keys older than `day` (call again while it returns `chunk`)."""
    result = await conn.execute(
        """DELETE FROM view_keys WHERE key IN (
               SELECT key FROM view_keys WHERE day < $1 LIMIT $2)""",
        day,
        chunk,
    )
    return int(result.split()[-1])


async def delete_handled_before(conn: asyncpg.Connection, consumer: str, days: int) -> int:
    """Forget handled batch ids older than the keys that make batches idempotent anyway."""
    result = await conn.execute(
        """DELETE FROM handled_events
            WHERE consumer = $1 AND handled_at < now() - make_interval(days => $2)""",
        consumer,
        days,
    )
    return int(result.split()[-1])


# --- totals -------------------------------------------------------------------------------


async def claim_changed_totals(
    conn: asyncpg.Connection, today: date, limit: int
) -> list[asyncpg.Record]:
    """Clear the changed mark of up to `limit` articles no other instance holds, raising
    their version; returns each one's new version, total and views of `today`. The caller
    writes the views.counted events in the same transaction."""
    return await conn.fetch(
        """WITH claimed AS (
               SELECT article_id FROM article_totals
                WHERE changed
                ORDER BY article_id
                LIMIT $2
                  FOR UPDATE SKIP LOCKED
           )
           UPDATE article_totals t
              SET changed = false, version = t.version + 1
             FROM claimed
            WHERE t.article_id = claimed.article_id
        RETURNING t.article_id, t.version, t.counted + t.imported AS total,
                  coalesce((SELECT d.views FROM daily_totals d
                             WHERE d.article_id = t.article_id AND d.day = $1), 0) AS today""",
        today,
        limit,
    )


async def article_totals(
    conn: asyncpg.Connection, article_id: int, today: date
) -> asyncpg.Record | None:
    """The article's total and views today; None if the counter has never heard of it."""
    return await conn.fetchrow(
        """SELECT coalesce(t.counted + t.imported, 0) AS total,
                  coalesce(d.views, 0) AS today,
                  coalesce(t.imported, 0) AS imported
             FROM (SELECT $1::bigint AS id) AS wanted
             LEFT JOIN articles a ON a.id = wanted.id
             LEFT JOIN article_totals t ON t.article_id = wanted.id
             LEFT JOIN daily_totals d ON d.article_id = wanted.id AND d.day = $2
            WHERE a.id IS NOT NULL OR t.article_id IS NOT NULL""",
        article_id,
        today,
    )


async def most_read(
    conn: asyncpg.Connection, today: date, days: int, limit: int
) -> list[asyncpg.Record]:
    """Countable articles with the most views over the last `days` days (today included)."""
    return await conn.fetch(
        """SELECT d.article_id, sum(d.views)::bigint AS views,
                  max(t.counted + t.imported) AS total
             FROM daily_totals d
             JOIN articles a ON a.id = d.article_id AND a.countable
             JOIN article_totals t ON t.article_id = d.article_id
            WHERE d.day > $1::date - $2::int
            GROUP BY d.article_id
            ORDER BY views DESC, d.article_id DESC
            LIMIT $3""",
        today,
        days,
        limit,
    )


async def set_imported(conn: asyncpg.Connection, article_id: int, imported: int) -> None:
    """An admin's correction of the starting total carried over from an earlier system:
    set whatever was there (and marked set, so no later event changes it); views.counted
    follows."""
    await conn.execute(
        """INSERT INTO article_totals (article_id, imported, imported_set, changed)
           VALUES ($1, $2, true, true)
           ON CONFLICT (article_id) DO UPDATE
              SET imported = EXCLUDED.imported, imported_set = true, changed = true""",
        article_id,
        imported,
    )


async def start_imported(conn: asyncpg.Connection, article_id: int, imported: int) -> bool:
    """The starting total an article event carries, taken only if none was ever set for
    the article (the imported_set check is in the statement, so two events handled at
    once cannot both set it); views.counted follows. True if it was taken."""
    taken = await conn.fetchval(
        """INSERT INTO article_totals (article_id, imported, imported_set, changed)
           VALUES ($1, $2, true, true)
           ON CONFLICT (article_id) DO UPDATE
              SET imported = EXCLUDED.imported, imported_set = true, changed = true
            WHERE NOT article_totals.imported_set
        RETURNING true""",
        article_id,
        imported,
    )
    return bool(taken)
