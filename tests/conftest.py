"""Fixtures shared by every test layer. Integration and end-to-end tests run against the
real Postgres and RabbitMQ named by BANTIN_TEST_* (the machine's by default)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from services.common import db
from services.common.events import topology
from tests.support.infra import (
    Database,
    Vhost,
    create_database,
    create_vhost,
    delete_vhost,
    drop_database,
)


@pytest.fixture(scope="session")
def database() -> Iterator[Database]:
    database = create_database()
    yield database
    drop_database(database)


@pytest.fixture(scope="session")
def vhost() -> Iterator[Vhost]:
    vhost = create_vhost()
    yield vhost
    delete_vhost(vhost)


@pytest.fixture(scope="session")
async def amqp_url(vhost: Vhost) -> str:
    await topology.apply(vhost.url)
    return vhost.url


@pytest.fixture
async def admin_conn(database: Database) -> AsyncIterator[asyncpg.Connection]:
    conn = await db.connect(database.admin_dsn)
    yield conn
    await conn.close()
