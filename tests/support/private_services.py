"""A private RabbitMQ node and a private Postgres cluster for fault tests.

Fault tests stop and restart their servers on purpose, so they never touch the machine's
shared ones: each class here runs its own server in a temporary directory, on free ports
picked at run time, and can stop, start and restart it. The RabbitMQ node runs in the
foreground as a child process (as the rabbitmq user, under a unique node name) and is
stopped with `rabbitmqctl -n NODE stop`; the Postgres cluster is made by initdb and run by
pg_ctl as the postgres user (Postgres refuses root), and gets the project's roles and
schemas from deploy/postgres/init.sql. `close()` (called by the context managers, and at
interpreter exit as a last resort) stops everything, kills what does not stop, and removes
the directories, also when a test failed.

The blocking methods take seconds (RabbitMQ boots in ~11 s); the `a`-prefixed versions run
them in a thread so that the event loop, and the clients under test, keep running.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from tests.support.infra import Database, create_database, rabbitmqctl

PG_BIN = Path(
    os.environ.get("BANTIN_TEST_PG_BIN")
    # The newest installed major version (Debian keeps each under its number).
    or max(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name),
        default=Path("/usr/lib/postgresql/15/bin"),
    )
)
RABBITMQ_SERVER = os.environ.get(
    "BANTIN_TEST_RABBITMQ_SERVER", "/usr/lib/rabbitmq/bin/rabbitmq-server"
)
# The Erlang cookie lives in the rabbitmq user's home; rabbitmqctl (run through Debian's
# wrapper, which switches to that user) reads the same one.
RABBITMQ_HOME = "/var/lib/rabbitmq"
HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def _chown(path: Path, user: str) -> None:
    shutil.chown(path, user=user, group=user)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            shutil.chown(os.path.join(dirpath, name), user=user, group=user)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no {path})"


class PrivateRabbitMQ:
    """One RabbitMQ node of our own, e.g. bantin-fault-3f2a9c1b@localhost on a free port."""

    def __init__(self, config: str = "", advanced: str = "[].") -> None:
        """`config`: more rabbitmq.conf lines (e.g. "consumer_timeout = 3000");
        `advanced`: the Erlang terms of advanced.config (settings rabbitmq.conf lacks)."""
        self.node = f"bantin-fault-{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        while self.dist_port == self.port:
            self.dist_port = free_port()
        # The management API: the topology step sets its policies through it.
        self.management_port = free_port()
        while self.management_port in (self.port, self.dist_port):
            self.management_port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="bantin-fault-rabbitmq-"))
        self._process: subprocess.Popen[bytes] | None = None
        self._closed = False
        (self.root / "mnesia").mkdir()
        (self.root / "log").mkdir()
        (self.root / "enabled_plugins").write_text("[rabbitmq_management].\n")
        (self.root / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = {HOST}:{self.port}\n"
            f"management.tcp.ip = {HOST}\nmanagement.tcp.port = {self.management_port}\n"
            f"{config}\n"
        )
        (self.root / "advanced.config").write_text(f"{advanced}\n")
        _chown(self.root, "rabbitmq")
        atexit.register(self.close)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{HOST}:{self.port}/"

    @property
    def management_url(self) -> str:
        return f"http://guest:guest@{HOST}:{self.management_port}/"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": RABBITMQ_HOME,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq"),  # without .conf
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.root / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(self.root / "feature_flags"),
        }

    def start(self, timeout: float = 60.0) -> float:
        """Start the node and wait until it accepts AMQP connections. Returns the seconds taken."""
        if self.running:
            raise RuntimeError(f"{self.node} is already running")
        began = time.monotonic()
        output = (self.root / "server.out").open("ab")
        try:
            # In the foreground (-detached does nothing here), as the rabbitmq user, in a
            # session of its own so that a kill of its process group takes the Erlang VM too.
            self._process = subprocess.Popen(
                [RABBITMQ_SERVER],
                env=self._env(),
                cwd=self.root,
                user="rabbitmq",
                group="rabbitmq",
                extra_groups=[],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            output.close()
        deadline = began + timeout
        while not (port_open(self.port) and port_open(self.management_port)):
            if not self.running:
                raise RuntimeError(
                    f"{self.node} exited while starting:\n{_tail(self.root / 'server.out')}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(
                    f"{self.node} did not listen on {self.port} within {timeout} s:\n"
                    + _tail(self.root / "server.out")
                )
            time.sleep(0.1)
        return time.monotonic() - began

    def stop(self, timeout: float = 30.0) -> float:
        """Stop the node cleanly (rabbitmqctl stop) and wait for its process to exit."""
        began = time.monotonic()
        if not self.running:
            return 0.0
        assert self._process is not None
        try:
            rabbitmqctl("stop", node=self.node)
            self._process.wait(timeout)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self.kill()
            raise
        while port_open(self.port) and time.monotonic() - began < timeout:
            time.sleep(0.05)
        return time.monotonic() - began

    def restart(self) -> float:
        return self.stop() + self.start()

    def kill(self) -> None:
        """Kill the node's whole process group (the shell script, the VM and its helpers)."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        else:
            # The script exited; make sure nothing it started outlived it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.running:
                with contextlib.suppress(Exception):
                    self.stop(timeout=15)
        finally:
            self.kill()
            shutil.rmtree(self.root, ignore_errors=True)
            atexit.unregister(self.close)

    async def astart(self) -> float:
        return await asyncio.to_thread(self.start)

    async def astop(self) -> float:
        return await asyncio.to_thread(self.stop)

    async def arestart(self) -> float:
        return await asyncio.to_thread(self.restart)


class PrivatePostgres:
    """One Postgres cluster of our own, run by the postgres user on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="bantin-fault-pg-"))
        self.data = self.root / "data"
        self._closed = False
        _chown(self.root, "postgres")
        atexit.register(self.close)
        self._as_postgres(
            "initdb", "-D", str(self.data), "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "-N"
        )

    def _as_postgres(self, tool: str, *args: str) -> str:
        result = subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / tool), *args],
            check=False,
            capture_output=True,
            text=True,
            cwd=self.root,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}\n{_tail(self.root / 'postgres.log')}"
            )
        return result.stdout

    @property
    def management_url(self) -> str:
        return f"http://guest:guest@{HOST}:{self.management_port}/"

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def _pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def start(self) -> float:
        began = time.monotonic()
        options = f"-p {self.port} -k {self.root} -c listen_addresses={HOST}"
        self._as_postgres(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "postgres.log"),
            "-w", "-t", "60", "start",
        )  # fmt: skip
        return time.monotonic() - began

    def stop(self, mode: str = "fast") -> float:
        """Stop the server; "fast" ends every session (clients see their connection close)."""
        began = time.monotonic()
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        return time.monotonic() - began

    def restart(self, mode: str = "fast") -> float:
        """Stop and start again on the same port and data directory."""
        return self.stop(mode) + self.start()

    def create_database(self) -> Database:
        """A fresh database made by deploy/postgres/init.sql: the project's roles and schemas."""
        return create_database(host=HOST, port=self.port)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.running:
                try:
                    self.stop("immediate")
                except Exception:
                    pid = self._pid()
                    if pid is not None:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            atexit.unregister(self.close)

    async def astart(self) -> float:
        return await asyncio.to_thread(self.start)

    async def astop(self, mode: str = "fast") -> float:
        return await asyncio.to_thread(self.stop, mode)

    async def arestart(self, mode: str = "fast") -> float:
        return await asyncio.to_thread(self.restart, mode)


@contextlib.contextmanager
def private_rabbitmq(config: str = "", advanced: str = "[].") -> Iterator[PrivateRabbitMQ]:
    """A running private RabbitMQ node, stopped and removed on exit whatever happened."""
    node = PrivateRabbitMQ(config, advanced)
    try:
        node.start()
        yield node
    finally:
        node.close()


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running private Postgres cluster, stopped and removed on exit whatever happened."""
    cluster = PrivatePostgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()
