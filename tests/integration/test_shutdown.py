"""SIGTERM on a service process (services.common.web.run): it stops taking new
connections, answers the requests it already has, and exits 0."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import aiohttp

from tests.support.infra import ROOT, Database
from tests.support.private_services import free_port
from tests.support.slow_service import SLOW_SECONDS


async def wait_ready(
    http: aiohttp.ClientSession, url: str, process: asyncio.subprocess.Process
) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.returncode is None, "the service exited at start"
        try:
            async with http.get(f"{url}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError("the service was not ready within 30 s")


async def test_sigterm_answers_requests_in_flight_then_exits_cleanly(
    database: Database, amqp_url: str
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "COUNTER_DATABASE_URL": database.dsn("counter"),
        "AMQP_URL": amqp_url,
        "HTTP_PORT": str(port),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.slow_service", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await wait_ready(http, url, process)
            in_flight = [asyncio.create_task(http.get(f"{url}/slow")) for _ in range(3)]
            await asyncio.sleep(SLOW_SECONDS / 3)  # the requests are being handled
            process.send_signal(signal.SIGTERM)
            answers = await asyncio.gather(*in_flight)
            assert [a.status for a in answers] == [200, 200, 200]
            assert [await a.json() for a in answers] == [{"finished": True}] * 3
            exit_code = await asyncio.wait_for(process.wait(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    output = (await process.stdout.read()).decode() if process.stdout else ""
    assert exit_code == 0, output
    async with aiohttp.ClientSession() as http:
        try:
            async with http.get(f"{url}/healthz"):
                raise AssertionError("still answering after it exited")
        except aiohttp.ClientConnectionError:
            pass  # stopped listening
