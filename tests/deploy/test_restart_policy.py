"""What runs Bantin starts again a process that dies: compose's restart policy for every
long-running container, and the local runner's supervisor for its processes."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from scripts.run_local import (
    RESTART_FIRST_DELAY,
    RESTART_MAX_DELAY,
    Supervisor,
    end_process_group,
    load_compose,
    next_restart_delay,
)

LONG_RUNNING = ("postgres", "rabbitmq", "articles", "feedback", "counter", "gateway")
ONE_SHOT = ("secrets", "topology", "keys", "first-admin", "demo-content")


def test_compose_restarts_long_running_containers_and_not_the_one_shot_jobs() -> None:
    services = load_compose()["services"]
    assert set(LONG_RUNNING) | set(ONE_SHOT) == set(services)
    for name in LONG_RUNNING:
        assert services[name].get("restart") == "unless-stopped", name
    for name in ONE_SHOT:
        # A job that completed must not run again: the services wait for its success.
        assert services[name].get("restart") == "no", name


def test_the_back_off_doubles_while_a_process_keeps_exiting_and_starts_over_after() -> None:
    delays = []
    delay = None
    for _ in range(7):
        delay = next_restart_delay(delay, ran_for=0.5)
        delays.append(delay)
    assert delays == [1, 2, 4, 8, 16, 30, 30]
    assert RESTART_FIRST_DELAY == 1 and RESTART_MAX_DELAY == 30
    assert next_restart_delay(30, ran_for=60) == 1


class SleepStack:
    """What the supervisor needs of a LocalStack, with `sleep` as the service."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.spawned = 0

    def spawn_service(self, name: str) -> None:
        self.processes[name] = subprocess.Popen(["sleep", "60"])
        self.spawned += 1

    def _log(self, name: str) -> Any:
        return (self.logs / f"{name}.log").open("ab")


def test_the_supervisor_starts_a_killed_service_again_and_says_so(
    tmp_path: Path, capsys: Any
) -> None:
    stack = SleepStack(tmp_path)
    stack.spawn_service("articles")
    supervisor = Supervisor(stack)  # type: ignore[arg-type]
    supervisor.start()
    try:
        first = stack.processes["articles"]
        first.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        while stack.spawned < 2 and time.monotonic() - killed_at < 10:
            time.sleep(0.05)
        took = time.monotonic() - killed_at
        assert stack.spawned == 2, "not restarted"
        assert 0.9 <= took < 3, took
        assert stack.processes["articles"].poll() is None
        # Taken out on purpose (stop_service): left alone.
        stopped = stack.processes.pop("articles")
        stopped.terminate()
        stopped.wait()
        time.sleep(1.5)
        assert stack.spawned == 2
    finally:
        supervisor.stop()
        for process in stack.processes.values():
            process.kill()
            process.wait()
    message = "articles exited with -9; restarting in 1 s"
    assert message in capsys.readouterr().err
    assert message in (tmp_path / "articles.log").read_text()
    assert supervisor.restarts == [("articles", -9, 1.0)]


def test_what_a_killed_leader_left_in_its_group_is_ended(tmp_path: Path) -> None:
    """A killed nginx master leaves its workers on the port: the group goes before a restart."""
    pid_file = tmp_path / "child.pid"
    leader = subprocess.Popen(
        ["sh", "-c", f"sleep 60 & echo $! > {pid_file}; wait"], start_new_session=True
    )
    try:
        while not pid_file.exists() or not pid_file.read_text().strip():
            time.sleep(0.05)
        child = int(pid_file.read_text())
        leader.send_signal(signal.SIGKILL)
        leader.wait()
        assert Path(f"/proc/{child}").exists(), "the child should outlive its leader"
        end_process_group(leader)
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
    finally:
        end_process_group(leader)


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting for its (re)parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"
