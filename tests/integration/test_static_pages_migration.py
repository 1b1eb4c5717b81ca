"""The migration that gives static pages their states keeps what was there: a page written
before it (by the PUT that published it) stays published, with its text as revision 1."""

from __future__ import annotations

import shutil
from pathlib import Path

from services.common import db
from tests.support.infra import ROOT, create_database, drop_database

MIGRATIONS = ROOT / "services" / "articles" / "migrations"
STATES = "007_static_page_states.sql"


async def test_pages_written_before_states_stay_published_with_a_revision(
    tmp_path: Path,
) -> None:
    # The service's migrations as they were before states (the folder's name is the
    # component's, so the records match the real ones).
    before = tmp_path / "articles"
    (before / "migrations").mkdir(parents=True)
    for sql in sorted(MIGRATIONS.glob("*.sql")):
        if sql.name < STATES:
            shutil.copy(sql, before / "migrations")
    database = create_database()
    try:
        dsn = database.dsn("articles")
        await db.migrate(dsn, before)
        conn = await db.connect(dsn)
        try:
            await conn.execute(
                """INSERT INTO static_pages (slug, title, body_html)
                   VALUES ('lien-he', 'Liên hệ', '<p>Điện thoại</p>')"""
            )
            await db.migrate(dsn, ROOT / "services" / "articles")
            page = await conn.fetchrow("SELECT status, deleted_at FROM static_pages")
            assert (page["status"], page["deleted_at"]) == ("published", None)
            revision = await conn.fetchrow("SELECT * FROM static_page_revisions")
            assert (revision["slug"], revision["number"], revision["body_html"]) == (
                "lien-he",
                1,
                "<p>Điện thoại</p>",
            )
            # A page created now starts as a draft, even by a writer naming no state.
            await conn.execute(
                "INSERT INTO static_pages (slug, title, body_html) VALUES ('moi', 'Mới', '')"
            )
            assert await conn.fetchval("SELECT status FROM static_pages WHERE slug = 'moi'") == (
                "draft"
            )
        finally:
            await conn.close()
    finally:
        drop_database(database)
