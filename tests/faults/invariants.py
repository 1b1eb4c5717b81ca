"""What must hold after any fault, read from the databases and the broker themselves.

- Views: the counter's view key of every view answered 204 is stored once (a reader, an
  article and a 30-minute bucket count once), each article's total is the number of its
  keys, every stored key is one of a view that was sent, and the articles service's copy
  of each total (views.counted) equals the counter's.
- Feedback: every submission answered 202 is stored exactly once.
- Article changes: feedback's and counter's read models hold, for every article that was
  ever published, the version and state the articles service has.
- No message in any dead-letter queue.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from services.common.vietnam import vn_day
from services.counter.domain import bucket_of, view_key
from tests.faults.load import BROWSER_AGENT, Attempt, Load
from tests.support.infra import rabbitmqctl


@dataclass
class Comparison:
    """The counts compared, and what disagreed (empty when everything holds)."""

    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def possible_keys(attempt: Attempt, salts: dict[object, bytes]) -> set[bytes]:
    """The view keys the counter may have made of this view: its day and bucket are those
    of a moment between the request's start and its answer."""
    moments: list[datetime] = [attempt.at]
    if attempt.ended_at is not None:
        moments.append(attempt.ended_at)
        moments.append(attempt.at + (attempt.ended_at - attempt.at) / 2)
    keys = set()
    for moment in moments:
        salt = salts.get(vn_day(moment))
        if salt is None:
            continue
        key = view_key(
            salt,
            attempt.data["address"],
            BROWSER_AGENT,
            attempt.data["article_id"],
            bucket_of(moment),
        )
        keys.add(bytes.fromhex(key))
    return keys


async def compare(conn: asyncpg.Connection, load: Load, node: str) -> Comparison:
    result = Comparison()
    await _views(conn, load, result)
    await _feedback(conn, load, result)
    await _articles(conn, load, result)
    _dead_letters(node, result)
    return result


async def _views(conn: asyncpg.Connection, load: Load, result: Comparison) -> None:
    salts = {r["day"]: bytes(r["salt"]) for r in await conn.fetch(_SALTS)}
    sent = [a for a in load.done("views") if "address" in a.data]
    stored = {bytes(r["key"]): r["article_id"] for r in await conn.fetch(_KEYS, load.targets)}
    accepted = [a for a in sent if a.ok]
    missing = [a for a in accepted if not possible_keys(a, salts) & stored.keys()]
    known: set[bytes] = set()
    for attempt in sent:
        known |= possible_keys(attempt, salts)
    strangers = [key for key in stored if key not in known]
    totals = {r["article_id"]: r for r in await conn.fetch(_TOTALS, load.targets)}
    keys_per_article = Counter(stored.values())
    result.counts.update(
        views_accepted=len(accepted),
        views_counted=sum(t["counted"] for t in totals.values()),
        views_counted_without_answer=len(stored) - (len(accepted) - len(missing)),
    )
    if missing:
        result.problems.append(f"{len(missing)} accepted views not counted")
    if strangers:
        result.problems.append(f"{len(strangers)} counted views that nobody sent")
    for article_id in load.targets:
        row = totals.get(article_id)
        counted = row["counted"] if row else 0
        if counted != keys_per_article[article_id]:
            result.problems.append(
                f"article {article_id}: total {counted} but {keys_per_article[article_id]} keys"
            )
        shown = row["shown"] if row else None
        if row and shown != row["counted"] + row["imported"]:
            result.problems.append(
                f"article {article_id}: articles shows {shown}, counter has "
                f"{row['counted'] + row['imported']}"
            )


async def _feedback(conn: asyncpg.Connection, load: Load, result: Comparison) -> None:
    sent = [a for a in load.done("feedback") if "word" in a.data]
    words = [a.data["word"] for a in sent]
    stored = Counter(
        {r["word"]: r["copies"] for r in await conn.fetch(_FEEDBACK_WORDS, words) if r["word"]}
    )
    accepted = [a for a in sent if a.ok]
    result.counts.update(
        feedback_accepted=len(accepted),
        feedback_stored=sum(stored[a.data["word"]] for a in accepted),
        feedback_stored_without_answer=sum(stored[a.data["word"]] for a in sent if not a.ok),
    )
    lost = [a for a in accepted if stored[a.data["word"]] == 0]
    twice = [word for word, copies in stored.items() if copies > 1]
    if lost:
        result.problems.append(f"{len(lost)} accepted feedback not stored")
    if twice:
        result.problems.append(f"{len(twice)} feedback stored more than once")


async def _articles(conn: asyncpg.Connection, load: Load, result: Comparison) -> None:
    rows = await conn.fetch(_READ_MODELS)
    result.counts.update(
        changes_accepted=sum(1 for a in load.done("changes") if a.ok),
        articles_compared=len(rows),
    )
    for consumer in ("feedback", "counter"):
        behind = [r for r in rows if r[f"{consumer}_state"] != r["state"]]
        result.counts[f"{consumer}_read_model_agrees"] = len(rows) - len(behind)
        if behind:
            examples = [
                f"{r['id']}: articles {tuple(r['state'])}, {consumer} "
                f"{tuple(r[consumer + '_state'])}"
                for r in behind[:5]
            ]
            result.problems.append(
                f"{consumer}'s read model differs from articles (version, public) for "
                f"{len(behind)} articles: {examples}"
            )


def _dead_letters(node: str, result: Comparison) -> None:
    listing = rabbitmqctl("list_queues", "-q", "--no-table-headers", "name", "messages", node=node)
    parked = {}
    for line in listing.splitlines():
        name, _, messages = line.rpartition("\t")
        if name.endswith(".dead") and int(messages or 0):
            parked[name] = int(messages)
    result.counts["dead_letters"] = sum(parked.values())
    if parked:
        result.problems.append(f"messages in dead-letter queues: {parked}")


_SALTS = "SELECT day, salt FROM counter.daily_salts"
_KEYS = "SELECT key, article_id FROM counter.view_keys WHERE article_id = ANY($1::bigint[])"
_TOTALS = """
    SELECT t.article_id, t.counted, t.imported, v.total AS shown
      FROM counter.article_totals t
      LEFT JOIN articles.article_views v ON v.article_id = t.article_id
     WHERE t.article_id = ANY($1::bigint[])"""
_FEEDBACK_WORDS = """
    SELECT substring(body FROM 'maso[0-9a-f]{32}') AS word, count(*) AS copies
      FROM feedback.feedback
     WHERE substring(body FROM 'maso[0-9a-f]{32}') = ANY($1::text[])
     GROUP BY 1"""
# Every article that was ever published: (version, public?) in each service. Feedback
# keeps no row for an article it never saw public (its unpublished event may be handled
# before a late published one, which is then stale): there, no row means not public, and
# the version applied is the one its consumer recorded.
_READ_MODELS = """
    SELECT a.id,
           (a.version, a.status = 'published') AS state,
           (coalesce(f.version, fv.version), coalesce(f.published, false)) AS feedback_state,
           (c.version, c.countable) AS counter_state
      FROM articles.articles a
      LEFT JOIN feedback.articles f ON f.id = a.id
      LEFT JOIN feedback.event_versions fv
             ON fv.consumer = 'feedback.article-state' AND fv.entity = 'article'
            AND fv.subject = a.id::text
      LEFT JOIN counter.articles c ON c.id = a.id
     WHERE a.status <> 'draft'"""

# How long the whole stack may take to catch up once the load pauses.
SETTLE = timedelta(seconds=45)
