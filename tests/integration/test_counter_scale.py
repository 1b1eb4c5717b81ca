"""The counter as separate processes (`python -m services.counter`, COUNTER_PROCESSES=2: two
ingest processes on one port, each with its counting consumer), against a fresh database
and vhost on the machine's Postgres and RabbitMQ: readers counted exactly across the two;
and each worker killed with SIGKILL while beacons flow, restarted by the supervisor, with
every view that got a success answer counted exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from services.common.events import topology
from services.common.vietnam import vn_day
from services.counter.domain import bucket_of, view_key
from tests.support.amqp import publish_event
from tests.support.counter import article_event, browser
from tests.support.infra import (
    ROOT,
    create_database,
    create_vhost,
    delete_vhost,
    drop_database,
    rabbitmqctl,
)
from tests.support.polling import eventually
from tests.support.private_services import free_port

ARTICLES = (11, 12, 13)
AGENT = browser("scale")


@dataclass
class Counters:
    """The supervisor of two counter workers, on one port."""

    process: subprocess.Popen[bytes]
    base: str
    dsn: str
    vhost: str
    amqp_url: str

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]


async def ready(base: str) -> bool:
    try:
        async with aiohttp.ClientSession() as session:
            for article_id in ARTICLES:
                async with session.head(f"{base}/v.gif?a={article_id}") as response:
                    if response.status != 200:
                        return False
        return True
    except aiohttp.ClientError:
        return False


@pytest.fixture
async def counters() -> AsyncIterator[Counters]:
    database, vhost = create_database(), create_vhost()
    port = free_port()
    process: subprocess.Popen[bytes] | None = None
    try:
        await topology.apply(vhost.url)
        for article_id in ARTICLES:
            await publish_event(vhost.url, article_event(article_id, "article.published", 1))
        env = {
            **os.environ,
            "COUNTER_DATABASE_URL": database.dsn("counter"),
            "AMQP_URL": vhost.url,
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(port),
            "TRUSTED_PROXIES": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "COUNTER_PROCESSES": "2",
        }
        process = subprocess.Popen([sys.executable, "-m", "services.counter"], cwd=ROOT, env=env)
        base = f"http://127.0.0.1:{port}"
        counters = Counters(process, base, database.dsn("counter"), vhost.name, vhost.url)
        await eventually(lambda: ready(base), timeout=30, interval=0.2, message="counters ready")
        await eventually(
            lambda: consumers(counters) == 2, timeout=30, message="both workers consume"
        )
        yield counters
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        drop_database(database)
        delete_vhost(vhost)


def consumers(counters: Counters) -> int:
    listing = rabbitmqctl("list_queues", "-p", counters.vhost, "name", "consumers", "-q")
    for line in listing.splitlines():
        name, _, count = line.partition("\t")
        if name == "counter.view-batches":
            return int(count)
    return 0


@dataclass
class Readers:
    """Beacons from distinct readers, each remembered with its answer."""

    base: str
    answered: list[tuple[str, int]] = field(default_factory=list)  # (address, article)
    failed: int = 0
    _next: int = 0

    async def run(self, stop: asyncio.Event, concurrency: int = 12) -> None:
        connector = aiohttp.TCPConnector(limit=concurrency, force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(*(self._worker(session, stop) for _ in range(concurrency)))

    async def _worker(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._next += 1
            n = self._next
            address, article_id = f"10.9.{n // 256 % 256}.{n % 256}", ARTICLES[n % 3]
            try:
                async with session.post(
                    f"{self.base}/api/v1/views",
                    data=b'{"article_id": %d}' % article_id,
                    headers={
                        "Content-Type": "text/plain",
                        "User-Agent": AGENT,
                        "X-Forwarded-For": address,
                    },
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as response:
                    if response.status == 204:
                        self.answered.append((address, article_id))
                    else:
                        self.failed += 1
            except (aiohttp.ClientError, TimeoutError):
                self.failed += 1  # the process died under it: not answered, may count


async def counted_exactly(counters: Counters, readers: Readers) -> None:
    """Every answered view's key is stored, and the totals are the stored keys: nothing
    answered is lost, nothing counted twice."""
    conn = await asyncpg.connect(counters.dsn)
    try:

        async def settled() -> bool:
            totals = await conn.fetchval("SELECT coalesce(sum(counted), 0) FROM article_totals")
            keys = await conn.fetchval("SELECT count(*) FROM view_keys")
            await asyncio.sleep(1.0)
            again = await conn.fetchval("SELECT coalesce(sum(counted), 0) FROM article_totals")
            return bool(totals == keys == again and keys >= len(readers.answered))

        await eventually(settled, timeout=30, interval=0.2, message="every view counted")
        day = vn_day(datetime.now(UTC))
        salt = bytes(await conn.fetchval("SELECT salt FROM daily_salts WHERE day = $1", day))
        stored = {bytes(r["key"]).hex() for r in await conn.fetch("SELECT key FROM view_keys")}
        bucket = bucket_of(datetime.now(UTC))
        # (A run crossing a half hour would put some views in the bucket before.)
        buckets = (bucket, bucket - 1)
        missing = [
            (address, article_id)
            for address, article_id in readers.answered
            if not any(view_key(salt, address, AGENT, article_id, b) in stored for b in buckets)
        ]
        assert missing == []
        per_article = dict(
            await conn.fetch("SELECT article_id, counted FROM article_totals")  # type: ignore[arg-type]
        )
        per_key = dict(
            await conn.fetch(  # type: ignore[arg-type]
                "SELECT article_id, count(*) FROM view_keys GROUP BY article_id"
            )
        )
        assert per_article == per_key
    finally:
        await conn.close()


async def test_two_ingest_and_two_counting_processes_count_exactly(counters: Counters) -> None:
    readers = Readers(counters.base)
    stop = asyncio.Event()
    loading = asyncio.create_task(readers.run(stop))
    await asyncio.sleep(4)
    stop.set()
    await loading
    assert readers.failed == 0
    assert len(readers.answered) > 200
    await counted_exactly(counters, readers)


async def test_killed_workers_lose_no_answered_view_and_count_none_twice(
    counters: Counters,
) -> None:
    readers = Readers(counters.base)
    stop = asyncio.Event()
    began = time.monotonic()
    loading = asyncio.create_task(readers.run(stop))
    for _ in range(2):  # each worker in turn: its ingest and its consumer at once
        await asyncio.sleep(2)
        victim = counters.workers()[0]
        os.kill(victim, signal.SIGKILL)
        answered_at_kill = len(readers.answered)
        await eventually(
            lambda victim=victim: len(counters.workers()) == 2 and victim not in counters.workers(),
            timeout=15,
            message="the supervisor started another worker",
        )
        await eventually(
            lambda n=answered_at_kill: len(readers.answered) > n + 50,
            timeout=20,
            message="beacons answered again",
        )
    await asyncio.sleep(1)
    stop.set()
    await loading
    assert len(readers.answered) > 300
    await counted_exactly(counters, readers)
    assert time.monotonic() - began < 90
