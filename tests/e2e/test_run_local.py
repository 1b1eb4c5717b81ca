"""The README's no-Docker command itself, `scripts/run-local`: it sets up the database and
the broker, starts the three services and the gateway, serves the site, and on SIGTERM
stops every process it started."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from pathlib import Path

import aiohttp

from tests.e2e.conftest import eventually
from tests.support.infra import ROOT, create_database, create_vhost, delete_vhost, drop_database
from tests.support.private_services import free_port, port_open


def three_free_ports() -> int:
    """The first of three consecutive ports nobody listens on."""
    while True:
        base = random.randrange(20000, 60000)
        if not any(port_open(base + i) for i in range(3)):
            return base


async def test_scripts_run_local_serves_the_site_and_stops_everything(tmp_path: Path) -> None:
    database, vhost = create_database(), create_vhost()
    gateway, services = free_port(), three_free_ports()
    env = {
        **os.environ,
        "BANTIN_DATABASE": database.name,
        "BANTIN_VHOST": vhost.name,
        "DEMO_CONTENT": "0",
    }
    log = (tmp_path / "run-local.log").open("wb")  # a pipe nobody reads could fill up
    runner = await asyncio.create_subprocess_exec(
        str(ROOT / "scripts" / "run-local"),
        "--port", str(gateway), "--services-port", str(services),
        "--run-dir", str(tmp_path / "run"),
        env=env, stdout=log, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{gateway}") as http:

            async def serving() -> bool:
                try:
                    async with http.get("/") as response:
                        return response.status == 200
                except aiohttp.ClientConnectionError:
                    assert runner.returncode is None, (
                        "scripts/run-local stopped; the end of its log:\n"
                        + (tmp_path / "run-local.log").read_text(errors="replace")[-4000:]
                    )
                    return False

            await eventually(serving, timeout=120, interval=0.5)
            # Each service answers through the gateway.
            async with http.get("/api/v1/categories") as response:
                assert response.status == 200
            async with http.get("/gop-y") as response:
                assert response.status == 200 and "Góp ý" in await response.text()
            async with http.get("/api/v1/views/999999") as response:
                assert (await response.json())["code"] == "article_not_found"
            assert all(port_open(services + i) for i in range(3))

        runner.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(runner.wait(), 60) == 0
        assert not port_open(gateway)
        assert not any(port_open(services + i) for i in range(3))
    finally:
        if runner.returncode is None:
            runner.kill()
            await runner.wait()
        log.close()
        delete_vhost(vhost)
        drop_database(database)
