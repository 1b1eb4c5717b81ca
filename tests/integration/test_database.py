"""deploy/postgres/init.sql and the migration runner, on the real Postgres."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from services.common import db
from tests.support.infra import Database, create_database, drop_database, psql


@pytest.fixture
def fresh_database() -> Iterator[Database]:
    database = create_database()
    yield database
    drop_database(database)


async def test_database_is_utf8_with_the_extensions(admin_conn: asyncpg.Connection) -> None:
    assert await admin_conn.fetchval("SHOW server_encoding") == "UTF8"
    extensions = {r["extname"] for r in await admin_conn.fetch("SELECT extname FROM pg_extension")}
    assert {"unaccent", "pg_trgm"} <= extensions
    assert await admin_conn.fetchval("SELECT unaccent('giao ước thi đua')") == "giao uoc thi dua"


@pytest.mark.parametrize("role", ["articles", "feedback", "counter"])
async def test_each_role_works_in_its_own_schema(database: Database, role: str) -> None:
    conn = await asyncpg.connect(database.dsn(role))
    try:
        assert await conn.fetchval("SELECT current_schema()") == role
        await conn.execute("CREATE TABLE own_probe (x int); DROP TABLE own_probe")
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("intruder_role", "owner_role"),
    [
        (a, b)
        for a in ("articles", "feedback", "counter")
        for b in ("articles", "feedback", "counter")
        if a != b
    ],
)
async def test_no_role_touches_another_services_schema(
    database: Database, intruder_role: str, owner_role: str
) -> None:
    owner = await asyncpg.connect(database.dsn(owner_role))
    intruder = await asyncpg.connect(database.dsn(intruder_role))
    probe = f"secret_probe_{intruder_role}"
    try:
        await owner.execute(f"CREATE TABLE IF NOT EXISTS {probe} (x int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match=f"schema {owner_role}"):
            await intruder.fetch(f"SELECT * FROM {owner_role}.{probe}")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await intruder.execute(f"INSERT INTO {owner_role}.{probe} VALUES (1)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await intruder.execute(f"CREATE TABLE {owner_role}.planted (x int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await intruder.execute("CREATE TABLE public.planted (x int)")
    finally:
        await owner.execute(f"DROP TABLE {probe}")
        await owner.close()
        await intruder.close()


def test_init_sql_runs_again_without_harm(database: Database) -> None:
    psql("-v", f"dbname={database.name}", "-f", "deploy/postgres/init.sql")
    assert (
        psql(
            "-At",
            "-c",
            "SELECT count(*) FROM pg_namespace WHERE nspname IN ('articles','feedback','counter')",
            db=database.name,
        ).strip()
        == "3"
    )


async def test_two_concurrent_start_ups_apply_each_migration_once(
    fresh_database: Database, tmp_path: Path
) -> None:
    service = tmp_path / "probe"
    (service / "migrations").mkdir(parents=True)
    # CREATE TABLE fails if it runs twice, and the sleep widens the race window.
    (service / "migrations" / "001_first.sql").write_text(
        "CREATE TABLE first_table (x int); SELECT pg_sleep(0.3);"
    )
    (service / "migrations" / "002_second.sql").write_text(
        "CREATE TABLE second_table (x int); INSERT INTO second_table VALUES (1);"
    )
    dsn = fresh_database.dsn("counter")

    first, second = await asyncio.gather(db.migrate(dsn, service), db.migrate(dsn, service))

    applied = sorted((m.component, m.version) for m in first + second)
    common = [("common", m.version) for m in db.load_migrations("common", db.COMMON_MIGRATIONS)]
    assert applied == [*common, ("probe", 1), ("probe", 2)]
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM second_table") == 1
        recorded = await conn.fetch("SELECT component, version FROM schema_migrations")
        assert len(recorded) == len(applied)
    finally:
        await conn.close()
    assert await db.migrate(dsn, service) == []


async def test_a_failing_migration_leaves_nothing_behind(
    fresh_database: Database, tmp_path: Path
) -> None:
    service = tmp_path / "broken"
    (service / "migrations").mkdir(parents=True)
    (service / "migrations" / "001_half.sql").write_text(
        "CREATE TABLE half (x int); SELECT no_such_function();"
    )
    dsn = fresh_database.dsn("feedback")
    with pytest.raises(asyncpg.UndefinedFunctionError):
        await db.migrate(dsn, service)
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT to_regclass('half')") is None
        assert (
            await conn.fetchval("SELECT count(*) FROM schema_migrations WHERE component = 'broken'")
            == 0
        )
    finally:
        await conn.close()
