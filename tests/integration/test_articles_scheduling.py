"""Scheduling that cannot be missed, on the real Postgres and RabbitMQ: two articles
instances running the scheduler at once change each scheduled article exactly once, and
an article whose time passes while the service is stopped publishes when it starts again,
dated at its scheduled time."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.articles import actions
from services.articles.app import create_app
from services.articles.config import ArticlesConfig
from services.articles.tokens import TokenIssuer
from services.common import db
from services.common.config import Settings
from services.common.events import topology
from services.common.vietnam import utc_now
from tests.support import keys
from tests.support.articles import PASSWORD
from tests.support.infra import ROOT, create_database, create_vhost, delete_vhost, drop_database
from tests.support.polling import eventually
from tests.support.private_services import free_port

VIETNAM = "+07:00"


def vietnam_time(moment: datetime) -> str:
    """ISO 8601 with the Asia/Ho_Chi_Minh offset, as an editor's desk sends it."""
    return moment.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).isoformat()


async def editor_token(pool: asyncpg.Pool, issuer: TokenIssuer) -> dict[str, str]:
    async with pool.acquire() as conn:
        user = await actions.create_user(
            conn, f"bien.tap.{time.monotonic_ns() % 10**8}", PASSWORD, roles=["editor"]
        )
    token, _ = issuer.issue(user)
    return {"Authorization": f"Bearer {token}"}


async def new_draft(
    session: Any, base: str, headers: dict[str, str], category_id: int, n: int
) -> int:
    body = {
        "title": f"Lịch đăng số {n}",
        "summary": "Tóm tắt",
        "body_html": "<p>Nội dung.</p>",
        "author_name": "Hồng Tươi",
        "unit": "VP HND",
        "category_id": category_id,
    }
    async with session.post(f"{base}/api/v1/articles", json=body, headers=headers) as response:
        assert response.status == 201, await response.text()
        return int((await response.json())["id"])


async def category_id(session: Any, base: str, headers: dict[str, str]) -> int:
    async with session.post(
        f"{base}/api/v1/categories", json={"name": "Lịch đăng"}, headers=headers
    ) as response:
        assert response.status == 201, await response.text()
        return int((await response.json())["id"])


async def events_of(pool: asyncpg.Pool, article_id: int) -> list[str]:
    rows = await pool.fetch(
        "SELECT type FROM outbox WHERE subject = $1 ORDER BY created_at", str(article_id)
    )
    return [r["type"] for r in rows]


async def steps_of(pool: asyncpg.Pool, article_id: int) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            "SELECT action, user_id, at FROM article_transitions WHERE article_id = $1 ORDER BY id",
            article_id,
        )
    )


# --- two instances at once ---------------------------------------------------------------

ARTICLES = 12
# Both instances look every 20 ms, so they race for every due article.
FAST = ArticlesConfig(site_url="https://tin.example.vn", schedule_interval=0.02)


@pytest.fixture
async def two_instances() -> AsyncIterator[tuple[list[TestClient], asyncpg.Pool, TokenIssuer]]:
    database = create_database()
    vhost = create_vhost()
    key_pair = keys.new_keypair()
    try:
        await topology.apply(vhost.url)
        settings = Settings(
            service="articles",
            database_url=database.dsn("articles"),
            amqp_url=vhost.url,
            auth_public_key=key_pair.public_pem,
            auth_private_key=key_pair.private_pem,
            relay_poll_seconds=0.5,
        )
        async with AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(TestClient(TestServer(create_app(settings, FAST))))
                for _ in range(2)
            ]
            pool = await db.create_pool(database.dsn("articles"), max_size=3)
            stack.push_async_callback(pool.close)
            yield clients, pool, TokenIssuer(key_pair.private_pem)
    finally:
        delete_vhost(vhost)
        drop_database(database)


async def test_two_instances_publish_and_expire_each_scheduled_article_exactly_once(
    two_instances: tuple[list[TestClient], asyncpg.Pool, TokenIssuer],
) -> None:
    clients, pool, issuer = two_instances
    headers = await editor_token(pool, issuer)
    first, second = clients
    category = await category_id(first.session, str(first.make_url("")), headers)
    ids = [
        await new_draft(first.session, str(first.make_url("")), headers, category, n)
        for n in range(ARTICLES)
    ]
    publish_at = utc_now() + timedelta(seconds=2)
    end_at = publish_at + timedelta(seconds=1)
    for n, article_id in enumerate(ids):
        # Half expire a second after publication; the schedule goes through either instance.
        body = {"publish_at": vietnam_time(publish_at)}
        if n % 2:
            body["end_at"] = vietnam_time(end_at)
        client = clients[n % 2]
        response = await client.post(
            f"/api/v1/articles/{article_id}/schedule", json=body, headers=headers
        )
        assert response.status == 200, await response.text()
        scheduled = await response.json()
        assert scheduled["status"] == "scheduled"
        assert scheduled["publish_at"].endswith(VIETNAM)

    async def all_done() -> bool:
        states = await pool.fetch("SELECT status FROM articles WHERE id = ANY($1)", ids)
        wanted = {"published", "expired"}
        return (
            all(r["status"] in wanted for r in states)
            and sum(r["status"] == "expired" for r in states) == ARTICLES // 2
        )

    await eventually(all_done, timeout=20, message="every article published, half expired")
    # A few more rounds of both instances: nothing happens twice, even late.
    await asyncio.sleep(0.2)

    lateness = []
    for n, article_id in enumerate(ids):
        steps = await steps_of(pool, article_id)
        events = await events_of(pool, article_id)
        row = await pool.fetchrow(
            "SELECT status, published_at FROM articles WHERE id = $1", article_id
        )
        assert row["published_at"] == publish_at  # its scheduled time, not when it ran
        if n % 2:
            assert [s["action"] for s in steps] == ["schedule", "publish_due", "expire"]
            assert events == ["article.published", "article.unpublished"]
            assert row["status"] == "expired"
        else:
            assert [s["action"] for s in steps] == ["schedule", "publish_due"]
            assert events == ["article.published"]
            assert row["status"] == "published"
        assert steps[1]["user_id"] is None  # the scheduler
        lateness.append((steps[1]["at"] - publish_at).total_seconds())
    print(f"published after its time by {min(lateness):.3f}-{max(lateness):.3f} s")
    assert max(lateness) < 2


# --- across a stop of the service ----------------------------------------------------------

READY_DEADLINE = 60.0


def start_service(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.articles"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def ready(session: aiohttp.ClientSession, base: str) -> bool:
    try:
        async with session.get(f"{base}/readyz") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def test_an_article_due_while_the_service_was_stopped_publishes_when_it_starts(
    tmp_path: Path,
) -> None:
    database = create_database()
    vhost = create_vhost()
    key_pair = keys.new_keypair()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONUNBUFFERED": "1",
        "AMQP_URL": vhost.url,
        "AUTH_PUBLIC_KEY": key_pair.public_pem,
        "AUTH_PRIVATE_KEY": key_pair.private_pem,
        "HTTP_PORT": str(port),
        "ARTICLES_DATABASE_URL": database.dsn("articles"),
        "RELAY_POLL_MS": "200",
        "LOG_LEVEL": "WARNING",
    }
    log = tmp_path / "articles.log"
    process: subprocess.Popen[bytes] | None = None
    pool = None
    try:
        await topology.apply(vhost.url)
        process = start_service(env, log)
        async with aiohttp.ClientSession() as session:
            await eventually(lambda: ready(session, base), timeout=READY_DEADLINE)
            pool = await db.create_pool(database.dsn("articles"), max_size=2)
            headers = await editor_token(pool, TokenIssuer(key_pair.private_pem))
            category = await category_id(session, base, headers)
            article_id = await new_draft(session, base, headers, category, 1)
            publish_at = (utc_now() + timedelta(seconds=3)).replace(microsecond=0)
            async with session.post(
                f"{base}/api/v1/articles/{article_id}/schedule",
                json={"publish_at": vietnam_time(publish_at)},
                headers=headers,
            ) as response:
                assert response.status == 200, await response.text()

            stop(process)
            assert utc_now() < publish_at, "stopped before the scheduled time"
            await eventually(lambda: utc_now() > publish_at + timedelta(seconds=1), timeout=10)
            stored = await pool.fetchrow("SELECT status FROM articles WHERE id = $1", article_id)
            assert stored["status"] == "scheduled"  # nobody published it while stopped

            restarted_at = utc_now()
            process = start_service(env, log)

            async def published() -> dict[str, Any] | None:
                try:
                    async with session.get(f"{base}/api/v1/articles/{article_id}") as answer:
                        return dict(await answer.json()) if answer.status == 200 else None
                except aiohttp.ClientError:
                    return None

            article = await eventually(published, timeout=READY_DEADLINE)
            assert article["status"] == "published"
            assert datetime.fromisoformat(article["published_at"]) == publish_at
            assert article["published_at"].endswith(VIETNAM)
            steps = await steps_of(pool, article_id)
            assert [s["action"] for s in steps] == ["schedule", "publish_due"]
            assert await events_of(pool, article_id) == ["article.published"]
            print(
                f"published {(steps[1]['at'] - publish_at).total_seconds():.2f} s after its "
                f"time, {(steps[1]['at'] - restarted_at).total_seconds():.2f} s after the restart"
            )
    finally:
        if pool is not None:
            await pool.close()
        if process is not None and process.poll() is None:
            stop(process)
        delete_vhost(vhost)
        drop_database(database)
