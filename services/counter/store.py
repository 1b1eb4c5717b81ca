"""The counter's SQL: plain async functions on an asyncpg connection (the caller owns the
transaction). Totals are only ever added to in SQL (`n = n + $x`), never read, changed in
Python and written back, so concurrent consumers cannot lose a view."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import asyncpg

from services.counter.domain import AGENTS_PER_ADDRESS, SALT_BYTES, View, admitted_views

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


@dataclass(frozen=True)
class Counted:
    """What counting a batch did: views counted, repeats (keys seen before, or twice in the
    batch) and views over the agents-per-address limit. Views of days whose keys are gone
    are the rest."""

    new: int
    repeats: int
    over_limit: int


async def count_views(
    conn: asyncpg.Connection,
    views: Sequence[View],
    oldest_day: date,
    agents_limit: int = AGENTS_PER_ADDRESS,
) -> Counted:
    """Record the views' keys; of the keys not seen before, add to the per-article and
    per-day totals those within the limit of distinct agents per address key
    (domain.admitted_views), and mark those articles changed. In the caller's transaction.

    Rows are locked in one order (keys sorted, then address keys sorted, then totals in
    article order), so concurrent batches cannot deadlock.
    """
    groups = await conn.fetch(
        """WITH incoming AS (
               SELECT DISTINCT ON (key) decode(k, 'hex') AS key, a AS article_id, d AS day,
                      decode(ad, 'hex') AS address
                 FROM unnest($1::text[], $2::bigint[], $3::date[], $4::text[])
                      AS v(k, a, d, ad)
                WHERE d >= $5
                ORDER BY key
           ), fresh AS (
               INSERT INTO view_keys (key, article_id, day)
               SELECT key, article_id, day FROM incoming ORDER BY key
               ON CONFLICT (key) DO NOTHING
               RETURNING key
           ), fresh_groups AS (
               SELECT i.address, i.article_id, i.day, count(*)::int AS n
                 FROM fresh f JOIN incoming i USING (key)
                GROUP BY i.address, i.article_id, i.day
           ), agents AS (
               INSERT INTO address_agents (key, day, agents)
               SELECT address, day, n FROM fresh_groups
                WHERE address IS NOT NULL ORDER BY address
               ON CONFLICT (key) DO UPDATE SET agents = address_agents.agents + EXCLUDED.agents
               RETURNING key, agents
           )
           SELECT g.article_id, g.day, g.n, coalesce(a.agents - g.n, 0) AS before,
                  g.address IS NULL AS unlimited
             FROM fresh_groups g LEFT JOIN agents a ON a.key = g.address""",
        [v.key for v in views],
        [v.article_id for v in views],
        [v.day for v in views],
        [v.address_key for v in views],
        oldest_day,
    )
    admitted: dict[tuple[int, date], int] = {}
    fresh = 0
    for group in groups:
        fresh += group["n"]
        n = group["n"]
        if not group["unlimited"]:
            n = admitted_views(group["before"], group["n"], agents_limit)
        if n:
            where = (group["article_id"], group["day"])
            admitted[where] = admitted.get(where, 0) + n
    await add_counts(conn, admitted)
    new = sum(admitted.values())
    kept = sum(1 for v in views if v.day >= oldest_day)
    return Counted(new=new, repeats=kept - fresh, over_limit=fresh - new)


async def add_counts(conn: asyncpg.Connection, counts: dict[tuple[int, date], int]) -> None:
    """Add views to the per-day and per-article totals (in article order) and mark the
    articles changed."""
    if not counts:
        return
    ordered = sorted(counts.items())
    await conn.execute(
        """WITH per_day AS (
               SELECT a AS article_id, d AS day, n
                 FROM unnest($1::bigint[], $2::date[], $3::bigint[]) AS v(a, d, n)
           ), days AS (
               INSERT INTO daily_totals (article_id, day, views)
               SELECT article_id, day, n FROM per_day ORDER BY article_id, day
               ON CONFLICT (article_id, day) DO UPDATE
                  SET views = daily_totals.views + EXCLUDED.views
           )
           INSERT INTO article_totals (article_id, counted, changed)
           SELECT article_id, sum(n), true FROM per_day
            GROUP BY article_id ORDER BY article_id
           ON CONFLICT (article_id) DO UPDATE
              SET counted = article_totals.counted + EXCLUDED.counted, changed = true""",
        [article_id for (article_id, _), _ in ordered],
        [day for (_, day), _ in ordered],
        [n for _, n in ordered],
    )


async def delete_keys_before(conn: asyncpg.Connection, day: date, chunk: int = 10_000) -> int:
    """Delete one chunk of keys older than `day` (call again while it returns `chunk`)."""
    result = await conn.execute(
        """DELETE FROM view_keys WHERE key IN (
               SELECT key FROM view_keys WHERE day < $1 LIMIT $2)""",
        day,
        chunk,
    )
    return int(result.split()[-1])


async def delete_address_keys_before(
    conn: asyncpg.Connection, day: date, chunk: int = 10_000
) -> int:
    """Delete one chunk of address keys older than `day`, like delete_keys_before."""
    result = await conn.execute(
        """DELETE FROM address_agents WHERE key IN (
               SELECT key FROM address_agents WHERE day < $1 LIMIT $2)""",
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
    their version; returns each one's new version, total, views of `today` and of the 7
    and 30 days ending today. The caller
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
                             WHERE d.article_id = t.article_id AND d.day = $1), 0) AS today,
                  (SELECT coalesce(sum(d.views), 0)::bigint FROM daily_totals d
                    WHERE d.article_id = t.article_id
                      AND d.day BETWEEN $1::date - 6 AND $1) AS last_7_days,
                  (SELECT coalesce(sum(d.views), 0)::bigint FROM daily_totals d
                    WHERE d.article_id = t.article_id
                      AND d.day BETWEEN $1::date - 29 AND $1) AS last_30_days""",
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


# --- most read by period ------------------------------------------------------------------


async def refresh_windows(conn: asyncpg.Connection, today: date) -> int:
    """Once per day across instances: mark changed every article viewed in the 30 days
    before `today`, so its 7- and 30-day sums go out again without the day that left the
    window. Returns how many were marked (0 if another instance did it already)."""
    first = await conn.fetchval(
        """INSERT INTO window_refreshes (day) VALUES ($1)
           ON CONFLICT (day) DO NOTHING RETURNING true""",
        today,
    )
    if not first:
        return 0
    result = await conn.execute(
        """UPDATE article_totals SET changed = true
            WHERE NOT changed AND article_id IN (
                  SELECT DISTINCT article_id FROM daily_totals
                   WHERE day BETWEEN $1::date - 30 AND $1::date - 1)""",
        today,
    )
    return int(result.split()[-1])


async def daily_views(
    conn: asyncpg.Connection, article_id: int, first: date, last: date
) -> dict[date, int]:
    """The article's views on each day from `first` to `last` that had any."""
    rows = await conn.fetch(
        """SELECT day, views FROM daily_totals
            WHERE article_id = $1 AND day BETWEEN $2 AND $3""",
        article_id,
        first,
        last,
    )
    return {r["day"]: int(r["views"]) for r in rows}


async def article_known(conn: asyncpg.Connection, article_id: int) -> bool:
    """Whether the counter has heard of the article (read model or totals)."""
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM articles WHERE id = $1)
                   OR EXISTS (SELECT 1 FROM article_totals WHERE article_id = $1)""",
            article_id,
        )
    )
