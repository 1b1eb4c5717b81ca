"""Postgres: the connection pool and the versioned migrations each service applies at start-up."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

COMMON_MIGRATIONS = Path(__file__).parent / "migrations"
ACQUIRE_TIMEOUT = 5.0
COMMAND_TIMEOUT = 10.0

# Errors that mean "the database is unreachable right now", not "this input is wrong":
# callers retry these instead of counting them against a message or a request.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    # A connection the server closed in the middle of a transaction (a restart) can fail
    # as InternalClientError ("cannot switch to state 15; another operation (2) is in
    # progress") when asyncpg reads the server's FATAL before it sees the socket close and
    # then tries the ROLLBACK or the pool's reset. Found by tests/integration/test_faults.py.
    asyncpg.exceptions.InternalClientError,
)


def acquire(pool: asyncpg.Pool) -> Any:
    """A pooled connection (`async with db.acquire(pool) as conn`), waiting at most
    ACQUIRE_TIMEOUT for one: a request then fails fast with a 503 instead of queueing
    behind a pool that the database's outage has emptied."""
    return pool.acquire(timeout=ACQUIRE_TIMEOUT)


async def init_connection(conn: asyncpg.Connection) -> None:
    for pg_type in ("json", "jsonb"):
        await conn.set_type_codec(
            pg_type, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing beyond what asyncpg always does (roll back a
    transaction left open, drop listeners). The services keep no session state on pooled
    connections (their locks are transaction-scoped, LISTEN runs on a dedicated
    connection, nothing SETs a session setting), so asyncpg's default reset query
    (pg_advisory_unlock_all, CLOSE ALL, UNLISTEN *, RESET ALL) would cost one more round
    trip per request for nothing (docs/performance.md, "Feedback submissions")."""


async def create_pool(dsn: str, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        command_timeout=COMMAND_TIMEOUT,
        init=init_connection,
        reset=keep_session,
    )
    assert pool is not None
    return pool


async def connect_when_ready(dsn: str, wait_seconds: float = 60.0) -> asyncpg.Connection:
    """Connect, waiting for a database that is still starting (compose starts it beside
    us), up to `wait_seconds`; then the error stands."""
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while True:
        try:
            return await connect(dsn)
        except (*UNAVAILABLE_ERRORS, asyncpg.exceptions.CannotConnectNowError) as exc:
            if asyncio.get_running_loop().time() >= deadline:
                raise
            log.warning("database not reachable yet (%s); retrying", exc)
            await asyncio.sleep(1)


async def connect(dsn: str) -> asyncpg.Connection:
    """A dedicated connection (for LISTEN, or one-shot commands), with the pool's codecs."""
    conn = await asyncpg.connect(dsn, timeout=ACQUIRE_TIMEOUT, command_timeout=COMMAND_TIMEOUT)
    await init_connection(conn)
    return conn


@dataclass(frozen=True)
class Migration:
    component: str
    version: int
    name: str
    sql: str


_FILE_NAME = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")


def load_migrations(component: str, directory: Path) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name must look like 001_name.sql: {path}")
        found.append(Migration(component, int(match[1]), match[2], path.read_text()))
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise ValueError(f"two migrations share a version in {directory}")
    return found


async def migrate(dsn: str, service_dir: Path) -> list[Migration]:
    """Apply the common and the service's own migrations not yet applied, in order.

    Runs in the service role's own schema (its search_path). A session advisory lock makes
    concurrent start-ups take turns, so each migration runs exactly once; each one commits
    with its record in schema_migrations, so a failed one leaves nothing half-applied.
    """
    pending = load_migrations("common", COMMON_MIGRATIONS) + load_migrations(
        service_dir.name, service_dir / "migrations"
    )
    applied: list[Migration] = []
    conn = await connect_when_ready(dsn)
    try:
        schema = await conn.fetchval("SELECT current_schema()")
        if schema is None:
            raise RuntimeError("the role has no schema of its own on its search_path")
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"{schema}.migrate")
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       component text NOT NULL,
                       version integer NOT NULL,
                       name text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now(),
                       PRIMARY KEY (component, version))"""
            )
            done = {
                (r["component"], r["version"])
                for r in await conn.fetch("SELECT component, version FROM schema_migrations")
            }
            for migration in pending:
                if (migration.component, migration.version) in done:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (component, version, name)"
                        " VALUES ($1, $2, $3)",
                        migration.component,
                        migration.version,
                        migration.name,
                    )
                log.info(
                    "migration applied",
                    extra={"component": migration.component, "version": migration.version},
                )
                applied.append(migration)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"{schema}.migrate")
    finally:
        await conn.close()
    return applied
