"""Run Bantin without Docker: the topology step, the three services and the nginx gateway
as local processes against a local Postgres and RabbitMQ.

    scripts/run-local            # then open http://127.0.0.1:8080

Each process's command and environment come from docker-compose.yml itself, so the two
ways of running cannot drift; only what differs between a compose network and one
machine is rewritten (host names, ports, the key directory, the broker account). The
gateway config is rendered from the same template the nginx image renders.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
GATEWAY_TEMPLATE = ROOT / "deploy" / "gateway" / "default.conf.template"
INIT_SQL = ROOT / "deploy" / "postgres" / "init.sql"

SETUP_JOBS = ("topology", "keys", "first-admin")
# Where compose's secret files are mounted, and the topology step's service accounts.
SECRET_DIRS = ("/run/bantin/secrets/", "/run/bantin/broker/")
SERVICE_ACCOUNT_VARIABLES = frozenset(
    {"ARTICLES_AMQP_URL", "FEEDBACK_AMQP_URL", "COUNTER_AMQP_URL"}
)
SERVICES = ("articles", "feedback", "counter")
DEMO_JOB = "demo-content"

_COMPOSE_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR-default}, from `environ`."""
    return _COMPOSE_VARIABLE.sub(
        lambda m: environ.get(m[1]) or (m[2] if m[2] is not None else ""), value
    ).replace("$$", "$")


def load_compose(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    with path.open() as file:
        compose: dict[str, Any] = yaml.safe_load(file)
    return compose


@dataclass(frozen=True)
class Local:
    """Where things are on this machine."""

    run_dir: Path
    database: str = "bantin"
    pg_host: str = "127.0.0.1"
    pg_port: int = 5432
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    gateway_port: int = 8080
    ports: dict[str, int] = field(
        default_factory=lambda: {"articles": 8001, "feedback": 8002, "counter": 8003}
    )
    page_cache: bool = True
    # Gateway settings over compose's (e.g. BANTIN_REAL_IP_FROM for a front proxy).
    gateway_env: dict[str, str] = field(default_factory=dict)
    # The broker's management API, when it is not on AMQP_URL's host at port 15672.
    management_url: str | None = None
    # nginx's workers run as nobody when started by root: their cache and temp files
    # must then live where nobody can reach (not under a private run directory).
    nginx_dir: Path | None = None
    # Feedback's form secret, the same for the whole run (a restarted feedback process
    # still takes the forms it rendered), new for every run: compose's comes from a file.
    form_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    # The first admin's password, to be replaced at the first sign-in: the operator's
    # BANTIN_ADMIN_PASSWORD, else new for every run and printed at the start (compose's
    # comes from its secrets volume).
    admin_password: str = field(
        default_factory=lambda: os.environ.get("BANTIN_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
    )

    @property
    def gateway_dir(self) -> Path:
        return self.nginx_dir or self.run_dir / "nginx"

    def dsn(self, role: str) -> str:
        return f"postgresql://{role}@{self.pg_host}:{self.pg_port}/{self.database}"


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    command: list[str]
    env: dict[str, str]


def _localise(value: str, local: Local) -> str:
    """Rewrite one compose value for this machine."""
    value = value.replace("/run/bantin/", f"{local.run_dir}/keys/")
    value = value.replace("http://gateway:8080", f"http://127.0.0.1:{local.gateway_port}")
    for service, port in local.ports.items():
        value = value.replace(f"{service}:{_compose_port(service)}", f"127.0.0.1:{port}")
    return value


def _compose_port(service: str) -> str:
    return {"articles": "8001", "feedback": "8002", "counter": "8003"}[service]


def process_spec(compose: dict[str, Any], name: str, local: Local) -> ProcessSpec:
    service = compose["services"][name]
    environ = dict(os.environ)
    raw = {
        key: interpolate(str(value), environ)
        for key, value in (service.get("environment") or {}).items()
    }
    # No secret files here (compose's `secrets` job makes them): the local Postgres trusts
    # its users, every process uses the broker's one account (so the topology step gets
    # no service accounts to make), and feedback's form secret is the run's own.
    env = {
        key: _localise(value, local)
        for key, value in raw.items()
        if not value.startswith(SECRET_DIRS) and key not in SERVICE_ACCOUNT_VARIABLES
    }
    for key in env:
        if key.endswith("_DATABASE_URL"):
            env[key] = local.dsn(key.removesuffix("_DATABASE_URL").lower())
    if "AMQP_URL" in env:
        env["AMQP_URL"] = local.amqp_url
    # The management API beside the local broker: the topology step finds it from AMQP_URL
    # (unless a broker's is on another port: a private test broker's).
    env.pop("RABBITMQ_MANAGEMENT_URL", None)
    if local.management_url and "AMQP_URL" in env:
        env["RABBITMQ_MANAGEMENT_URL"] = local.management_url
    if "FEEDBACK_FORM_SECRET_FILE" in raw:
        env["FEEDBACK_FORM_SECRET"] = local.form_secret
    if "BANTIN_ADMIN_PASSWORD_FILE" in raw:
        env["BANTIN_ADMIN_PASSWORD"] = local.admin_password
    if "TRUSTED_PROXIES" in env:
        env["TRUSTED_PROXIES"] = "127.0.0.1,::1"
    if name in local.ports:
        env["HTTP_PORT"] = str(local.ports[name])
        env["HTTP_HOST"] = "127.0.0.1"
    if name == "gateway":
        env["BANTIN_CACHE_DIR"] = str(local.gateway_dir / "cache")
        env["BANTIN_GATEWAY_PORT"] = str(local.gateway_port)
        env["BANTIN_PAGE_CACHE"] = "pages" if local.page_cache else "off"
        env.update(local.gateway_env)
    command = [
        _localise(interpolate(str(arg), environ), local) for arg in service.get("command", [])
    ]
    if command and command[0] == "python":
        command[0] = sys.executable
    return ProcessSpec(name, command, env)


def render_gateway_config(env: dict[str, str], out_dir: Path) -> Path:
    """Render the template as the nginx image's entrypoint does: envsubst, restricted to
    the variables that are defined (here: the gateway's BANTIN_* settings)."""
    names = " ".join(f"${{{key}}}" for key in env)
    rendered = subprocess.run(
        ["envsubst", names],
        input=GATEWAY_TEMPLATE.read_text(),
        env={**env, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    conf_d = out_dir / "conf.d"
    conf_d.mkdir(parents=True, exist_ok=True)
    (conf_d / "default.conf").write_text(rendered)
    main = out_dir / "nginx.conf"
    # The same frame as the image's /etc/nginx/nginx.conf: the template goes in http {}.
    main.write_text(
        f"""daemon off;
worker_processes auto;
pid {out_dir}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 65;
    client_body_temp_path {out_dir}/tmp/body;
    proxy_temp_path {out_dir}/tmp/proxy;
    fastcgi_temp_path {out_dir}/tmp/fastcgi;
    uwsgi_temp_path {out_dir}/tmp/uwsgi;
    scgi_temp_path {out_dir}/tmp/scgi;
    include {conf_d}/*.conf;
}}
"""
    )
    for sub in ("tmp", "cache"):
        (out_dir / sub).mkdir(exist_ok=True)
    if os.geteuid() == 0:  # workers drop to nobody: let them write their cache
        for path in [out_dir, *out_dir.rglob("*")]:
            shutil.chown(path, "nobody", "nogroup")
    return main


def nginx_work_dir(run_dir: Path) -> Path | None:
    """Where nginx keeps its files: inside the run directory, unless we are root and that
    directory is out of the workers' reach; then a fresh directory of their own in /tmp."""
    if os.geteuid() != 0:
        return None
    work = Path(tempfile.mkdtemp(prefix="bantin-gateway-"))
    work.chmod(0o755)
    return work


class LocalStack:
    """The whole site as local processes; used by `scripts/run-local` and the e2e tests."""

    def __init__(self, local: Local, compose: dict[str, Any] | None = None) -> None:
        if local.nginx_dir is None:
            local = replace(local, nginx_dir=nginx_work_dir(local.run_dir))
        self.local = local
        self.compose = compose or load_compose()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs = local.run_dir / "logs"
        self.supervisor = Supervisor(self)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local.gateway_port}"

    def spec(self, name: str) -> ProcessSpec:
        return process_spec(self.compose, name, self.local)

    def prepare_database(self) -> None:
        subprocess.run(
            [
                "psql", "-X", "-q", "-h", self.local.pg_host, "-p", str(self.local.pg_port),
                "-U", os.environ.get("PGUSER", "postgres"), "-d", "postgres",
                "-v", f"dbname={self.local.database}", "-f", str(INIT_SQL),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip

    def run_job(self, name: str, timeout: float = 120, env: dict[str, str] | None = None) -> None:
        """Run a one-shot job of compose; `env` overrides some of its settings."""
        spec = self.spec(name)
        with self._log(name) as log:
            result = subprocess.run(
                spec.command, env={**self._env(spec), **(env or {})}, cwd=ROOT, stdout=log,
                stderr=log, timeout=timeout,
            )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"{name} failed (exit {result.returncode}); see {self.logs}")

    def start_service(self, name: str) -> None:
        self.spawn_service(name)
        wait_until_ready(f"http://127.0.0.1:{self.local.ports[name]}/readyz", self.processes[name])

    def spawn_service(self, name: str) -> None:
        spec = self.spec(name)
        with self._log(name) as log:
            self.processes[name] = subprocess.Popen(
                spec.command, env=self._env(spec), cwd=ROOT, stdout=log, stderr=log
            )

    def stop_service(self, name: str, sig: int = signal.SIGTERM) -> int:
        process = self.processes.pop(name)
        process.send_signal(sig)
        return process.wait(timeout=30)

    def start_gateway(self) -> None:
        spec = self.spec("gateway")
        render_gateway_config(spec.env, self.local.gateway_dir)
        self.spawn_gateway()
        wait_until_ready(f"{self.url}/gioi-thieu", self.processes["gateway"])

    def spawn_gateway(self) -> None:
        conf = self.local.gateway_dir / "nginx.conf"
        with self._log("gateway") as log:
            # In a process group of its own: should the master die, its workers (which
            # still hold the port) are ended with the group before it starts again.
            self.processes["gateway"] = subprocess.Popen(
                ["nginx", "-p", str(conf.parent), "-c", str(conf)],
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    def start(self, demo_content: bool = False) -> None:
        self.local.run_dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        self.prepare_database()
        for job in SETUP_JOBS:
            # Without the demo job, the first-admin job opens no one-time account for it.
            self.run_job(job, env=None if demo_content else {"DEMO_CONTENT": "0"})
        for service in SERVICES:
            self.start_service(service)
        self.start_gateway()
        self.supervisor.start()
        if demo_content:
            self.run_job(DEMO_JOB, timeout=300)

    def stop(self) -> None:
        self.supervisor.stop()
        self._stop_processes()
        if self.local.nginx_dir and self.local.nginx_dir != self.local.run_dir / "nginx":
            shutil.rmtree(self.local.nginx_dir, ignore_errors=True)

    def _stop_processes(self) -> None:
        for name in reversed(list(self.processes)):
            process = self.processes.pop(name)
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def _env(self, spec: ProcessSpec) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME", "TZ")}
        return {**keep, "PYTHONUNBUFFERED": "1", **spec.env}

    def _log(self, name: str) -> Any:
        self.logs.mkdir(parents=True, exist_ok=True)
        return (self.logs / f"{name}.log").open("ab")


# --- supervision --------------------------------------------------------------------------
# A service or the gateway that exits while the stack runs is started again, as compose's
# `restart: unless-stopped` does: after 1 s, then 2, 4 ... up to 30 s while it keeps
# exiting, back to 1 s once it has run for 10 s. Each restart is said on standard error
# and in the process's own log. The one-shot jobs are not restarted (compose: "no").

RESTART_FIRST_DELAY = 1.0
RESTART_MAX_DELAY = 30.0
RESTART_RESET_AFTER = 10.0


def next_restart_delay(previous: float | None, ran_for: float) -> float:
    """The wait before starting again a process that exited after running `ran_for` s."""
    if previous is None or ran_for >= RESTART_RESET_AFTER:
        return RESTART_FIRST_DELAY
    return min(previous * 2, RESTART_MAX_DELAY)


class Supervisor:
    """Watches the stack's long-running processes from a thread of its own and starts
    again, after the back-off, each one that exited. A process the stack stops on purpose
    (stop_service, stop) is first taken out of `processes`, so it is left alone."""

    POLL_SECONDS = 0.2

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.restarts: list[tuple[str, int, float]] = []  # (name, exit code, delay)
        self._delays: dict[str, float] = {}
        self._started_at: dict[str, float] = {}
        self._due: dict[str, float] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        now = time.monotonic()
        self._started_at = dict.fromkeys(self.stack.processes, now)
        self._stopping.clear()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _watch(self) -> None:
        while not self._stopping.wait(self.POLL_SECONDS):
            self.check()

    def check(self) -> None:
        """Schedule a restart for each process that exited; start those that are due."""
        now = time.monotonic()
        for name, process in list(self.stack.processes.items()):
            code = process.poll()
            if code is None or name in self._due:
                continue
            ran_for = now - self._started_at.get(name, now)
            delay = next_restart_delay(self._delays.get(name), ran_for)
            self._delays[name] = delay
            self._due[name] = now + delay
            self.restarts.append((name, code, delay))
            self._say(name, f"{name} exited with {code}; restarting in {delay:g} s")
        for name, due in list(self._due.items()):
            if now >= due and not self._stopping.is_set():
                del self._due[name]
                if name in self.stack.processes:  # not stopped on purpose meanwhile
                    self._respawn(name)

    def _respawn(self, name: str) -> None:
        self._started_at[name] = time.monotonic()
        try:
            if name == "gateway":
                end_process_group(self.stack.processes[name])
                self.stack.spawn_gateway()
            else:
                self.stack.spawn_service(name)
        except OSError as exc:  # it will be tried again after the next back-off
            self._say(name, f"{name} could not be started: {exc}")

    def _say(self, name: str, message: str) -> None:
        print(message, file=sys.stderr, flush=True)
        with self.stack._log(name) as log:
            log.write(f"[run-local] {message}\n".encode())


def end_process_group(leader: subprocess.Popen[bytes]) -> None:
    """Kill what is left of the process group `leader` started (start_new_session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(leader.pid, signal.SIGKILL)


def wait_until_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, default=ROOT / ".run")
    parser.add_argument("--database", default=os.environ.get("BANTIN_DATABASE", "bantin"))
    parser.add_argument("--vhost", default=os.environ.get("BANTIN_VHOST", "/"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("BANTIN_PORT", "8080")))
    parser.add_argument("--no-page-cache", action="store_true")
    parser.add_argument(
        "--services-port",
        type=int,
        default=8001,
        help="articles listens here, feedback and counter on the next two ports",
    )
    args = parser.parse_args()
    local = Local(
        run_dir=args.run_dir.resolve(),
        database=args.database,
        amqp_url=f"amqp://guest:guest@127.0.0.1:5672/{quote(args.vhost, safe='')}",
        gateway_port=args.port,
        ports={name: args.services_port + i for i, name in enumerate(SERVICES)},
        page_cache=not args.no_page_cache,
    )
    stack = LocalStack(local)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        # The demo job reads DEMO_CONTENT itself (from compose's environment), as in compose.
        stack.start(demo_content=True)
        print(f"Bantin chạy tại {stack.url} (logs: {stack.logs}); Ctrl-C để dừng.", flush=True)
        # Only an empty database gets a first admin; its password is replaced at the
        # first sign-in, so it opens nothing afterwards.
        admin = os.environ.get("BANTIN_ADMIN_USERNAME") or "quantri"
        print(
            f"Quản trị viên đầu tiên (nếu lần chạy này vừa tạo): {admin} / "
            f"{local.admin_password} (đổi mật khẩu ở lần đăng nhập đầu).",
            flush=True,
        )
        while True:  # the supervisor starts again any process that exits
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
