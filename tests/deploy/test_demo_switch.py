"""DEMO_CONTENT: the demo job loads a living portal unless an operator switches it off; the
job reads the switch itself, so compose and the local runner behave the same."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.support.infra import ROOT


def run_demo_job(extra_env: dict[str, str], site: socket.socket) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "DEMO_CONTENT"}
    env.update(extra_env, BANTIN_URL=f"http://127.0.0.1:{site.getsockname()[1]}")
    return subprocess.Popen(
        [sys.executable, "-m", "services.demo"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def site() -> Iterator[socket.socket]:
    """A port standing in for the site: it accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(20)
        yield listener


@pytest.mark.parametrize("value", ["0", "false", "off"])
def test_switched_off_it_exits_without_calling_the_site(site: socket.socket, value: str) -> None:
    job = run_demo_job({"DEMO_CONTENT": value}, site)
    output, _ = job.communicate(timeout=30)
    assert job.returncode == 0, output
    assert "demo content switched off" in output
    site.settimeout(0)
    with pytest.raises(BlockingIOError):
        site.accept()  # nobody called


def test_by_default_it_goes_to_the_site(site: socket.socket) -> None:
    job = run_demo_job({}, site)
    try:
        caller, _ = site.accept()  # the job waiting for the site to come up
        caller.close()
    finally:
        job.kill()
        job.communicate()
