"""SIGTERM on a service process (services.common.web.run): it stops taking new
connections, answers the requests it already has, and exits 0."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from scripts.run_local import wait_until_ready
from tests.support.infra import ROOT, Database
from tests.support.polling import eventually
from tests.support.private_services import free_port
from tests.support.slow_service import SLOW_SECONDS


async def test_sigterm_answers_requests_in_flight_then_exits_cleanly(
    database: Database, amqp_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "COUNTER_DATABASE_URL": database.dsn("counter"),
        "AMQP_URL": amqp_url,
        "HTTP_PORT": str(port),
    }
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "service.log"
    with log_path.open("wb") as log:  # a file: a pipe nobody reads could fill up
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.slow_service"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        # The local runner's own wait, off the event loop (it blocks).
        await asyncio.to_thread(wait_until_ready, f"{url}/readyz", process, 30)
        async with aiohttp.ClientSession() as http:
            in_flight = [asyncio.create_task(http.get(f"{url}/slow")) for _ in range(3)]

            async def all_three_held() -> bool:
                async with http.get(f"{url}/slow/in-flight") as response:
                    return bool((await response.json())["slow"] == 3)

            await eventually(all_three_held, timeout=SLOW_SECONDS / 2, interval=0.02)
            process.send_signal(signal.SIGTERM)
            answers = await asyncio.gather(*in_flight)
            assert [a.status for a in answers] == [200, 200, 200]
            assert [await a.json() for a in answers] == [{"finished": True}] * 3
        exit_code = await asyncio.to_thread(process.wait, 20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert exit_code == 0, log_path.read_text()
    async with aiohttp.ClientSession() as http:
        try:
            async with http.get(f"{url}/healthz"):
                raise AssertionError("still answering after it exited")
        except aiohttp.ClientConnectionError:
            pass  # stopped listening
