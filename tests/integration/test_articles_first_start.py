"""The first start (services/articles/create_admin.py): the first admin must choose a new
password; on an empty site the job opens the demo job's one-time account and writes its
credential to a private file, and closes it once the site has content or the demo is off."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from services.articles import actions, login, store
from services.articles.create_admin import DEMO_USERNAME
from services.common import db
from tests.support.infra import ROOT, Database, create_database, drop_database

ADMIN_PASSWORD = "doi-mat-khau-ngay"


@pytest.fixture(scope="module")
def fresh_database() -> Iterator[Database]:
    """A database of its own: "empty site" must mean this test's site."""
    database = create_database()
    yield database
    drop_database(database)


@pytest.fixture(scope="module")
async def pool(fresh_database: Database) -> AsyncIterator[asyncpg.Pool]:
    await first_admin_job(fresh_database, Path("/nonexistent/none"), demo="0")  # migrates
    pool = await db.create_pool(fresh_database.dsn("articles"), max_size=2)
    yield pool
    await pool.close()


async def first_admin_job(database: Database, credential: Path, demo: str = "1") -> str:
    """compose's first-admin job, run as a process: its output."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BANTIN_")}
    environment |= {
        "ARTICLES_DATABASE_URL": database.dsn("articles"),
        "BANTIN_ADMIN_USERNAME": "quantri",
        "BANTIN_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "BANTIN_DEMO_CREDENTIAL_FILE": str(credential),
        "DEMO_CONTENT": demo,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.articles.create_admin", "--if-missing",
        cwd=ROOT, env=environment, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, out.decode()
    return out.decode()


async def test_the_demo_gets_a_one_time_account_only_while_the_site_is_empty(
    fresh_database: Database, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    credential = tmp_path / "demo" / "credential.json"
    await first_admin_job(fresh_database, credential)

    async with db.acquire(pool) as conn:
        admin = await store.get_user_by_username(conn, "quantri")
    assert admin is not None and admin.must_change_password  # chosen in the settings

    assert stat.S_IMODE(credential.stat().st_mode) == 0o600
    first = json.loads(credential.read_text())
    assert first["username"] == DEMO_USERNAME and len(first["password"]) >= 30
    demo = await login.authenticate(pool, DEMO_USERNAME, first["password"])
    assert demo is not None and demo.roles == {"admin"} and not demo.must_change_password

    # Started again before the demo ran: a fresh password, the old one is gone.
    await first_admin_job(fresh_database, credential)
    second = json.loads(credential.read_text())
    assert second["password"] != first["password"]
    assert await login.authenticate(pool, DEMO_USERNAME, first["password"]) is None
    assert await login.authenticate(pool, DEMO_USERNAME, second["password"]) is not None

    # The site has content now (the demo loaded, or an editor began): closed, file gone.
    await actions.create_category(pool, "Tin tức", None, None)
    await first_admin_job(fresh_database, credential)
    assert not credential.exists()
    assert await login.authenticate(pool, DEMO_USERNAME, second["password"]) is None
    async with db.acquire(pool) as conn:
        closed = await store.get_user_by_username(conn, DEMO_USERNAME)
    assert closed is not None and closed.disabled


async def test_with_the_demo_off_no_account_is_opened(
    fresh_database: Database, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    async with db.acquire(pool) as conn:
        await conn.execute("DELETE FROM categories")
    credential = tmp_path / "credential.json"
    await first_admin_job(fresh_database, credential, demo="0")
    assert not credential.exists()
    async with db.acquire(pool) as conn:
        demo = await store.get_user_by_username(conn, DEMO_USERNAME)
    assert demo is None or demo.disabled
