"""Benchmark: views per second through POST /api/v1/views with the real broker (not run in CI).

    .venv/bin/python -m bench.counter_ingest [--seconds 10] [--concurrency 64] [--articles 100]

Makes a fresh database and RabbitMQ vhost on the machine's servers, starts
`python -m services.counter` as its own process, publishes the articles, then keeps
`--concurrency` beacons in flight for `--seconds`, every one from a distinct reader (its own
X-Forwarded-For), so every view is new. Prints the ingest rate, answer latencies, and how
long the counting consumer took to count them all. Everything is removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter as Tally
from ipaddress import IPv4Address

import aiohttp
import asyncpg

from services.common.events import topology
from services.common.events.envelope import CloudEvent, source_of
from tests.support.amqp import publish_event
from tests.support.infra import (
    ROOT,
    create_database,
    create_vhost,
    delete_vhost,
    drop_database,
)
from tests.support.private_services import free_port

AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/120.0.0.0 Safari/537.36"
)


def article_published(article_id: int) -> CloudEvent:
    data = {
        "id": article_id,
        "version": 1,
        "slug": f"tin-{article_id}",
        "title": f"Tin số {article_id}",
        "url": f"/tin/tin-{article_id}-{article_id}",
        "category": {"slug": "tin-tuc", "name": "Tin tức"},
        "published_at": "2026-11-28T08:00:00+07:00",
        "updated_at": "2026-11-28T08:00:00+07:00",
    }
    return CloudEvent("article.published", source_of("articles"), str(article_id), data)


async def wait_ready(base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{base}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the counter did not become ready")


async def wait_countable(base: str, articles: int) -> None:
    async with aiohttp.ClientSession() as session:
        for article_id in range(1, articles + 1):
            while True:
                async with session.head(f"{base}/v.gif?a={article_id}") as response:
                    if response.status == 200:
                        break
                await asyncio.sleep(0.05)


async def load(
    base: str, seconds: float, concurrency: int, articles: int
) -> tuple[list[float], Tally[int]]:
    latencies: list[float] = []
    statuses: Tally[int] = Tally()
    sequence = iter(range(1, 2**31))
    stop_at = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while time.monotonic() < stop_at:
                n = next(sequence)
                began = time.perf_counter()
                async with session.post(
                    f"{base}/api/v1/views",
                    data=b'{"article_id": %d}' % (n % articles + 1),
                    headers={
                        "Content-Type": "text/plain",
                        "User-Agent": AGENT,
                        "X-Forwarded-For": str(IPv4Address(0x0A000000 + n)),
                    },
                ) as response:
                    await response.read()
                    statuses[response.status] += 1
                latencies.append(time.perf_counter() - began)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, statuses


async def counted(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT coalesce(sum(counted), 0) FROM article_totals"))
    finally:
        await conn.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run(seconds: float, concurrency: int, articles: int) -> None:
    database, vhost = create_database(), create_vhost()
    port = free_port()
    process: subprocess.Popen[bytes] | None = None
    try:
        await topology.apply(vhost.url)
        env = {
            **os.environ,
            "COUNTER_DATABASE_URL": database.dsn("counter"),
            "AMQP_URL": vhost.url,
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(port),
            "TRUSTED_PROXIES": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
        }
        process = subprocess.Popen([sys.executable, "-m", "services.counter"], cwd=ROOT, env=env)
        base = f"http://127.0.0.1:{port}"
        await wait_ready(base)
        for article_id in range(1, articles + 1):
            await publish_event(vhost.url, article_published(article_id))
        await wait_countable(base, articles)

        began = time.monotonic()
        latencies, statuses = await load(base, seconds, concurrency, articles)
        elapsed = time.monotonic() - began
        accepted = statuses.get(204, 0)
        print(f"ingest: {len(latencies)} requests in {elapsed:.1f} s, concurrency {concurrency}")
        print(f"  {len(latencies) / elapsed:,.0f} requests/s, {accepted / elapsed:,.0f} views/s")
        print(f"  statuses: {dict(sorted(statuses.items()))}")
        print(
            "  latency ms: "
            f"p50 {percentile(latencies, 0.5) * 1000:.1f}, "
            f"p95 {percentile(latencies, 0.95) * 1000:.1f}, "
            f"p99 {percentile(latencies, 0.99) * 1000:.1f}, "
            f"mean {statistics.fmean(latencies) * 1000:.1f}"
        )

        dsn = database.dsn("counter")
        deadline = time.monotonic() + 120
        while (total := await counted(dsn)) < accepted and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        lag = time.monotonic() - began - elapsed
        print(f"counting: {total} of {accepted} views counted, {lag:.1f} s after the load ended")
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        drop_database(database)
        delete_vhost(vhost)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--articles", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(run(args.seconds, args.concurrency, args.articles))


if __name__ == "__main__":
    main()
