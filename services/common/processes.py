"""Several processes of one service on its port (<SERVICE>_PROCESSES, e.g.
COUNTER_PROCESSES, default 1): the kernel spreads connections among them (SO_REUSEPORT), so
the service uses more than one core. Each process is a whole instance of the service (its
HTTP side, consumers, outbox relay and periodic jobs); they share nothing but the database
and the broker, as instances on several machines do.

With more than one, this process only supervises: it starts the workers, passes SIGTERM and
SIGINT on (each drains its views and stops as one process would), restarts a worker that
died, and ends when they have all stopped. A worker dies with it (PR_SET_PDEATHSIG), so a
killed supervisor leaves no orphan holding the port."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

log = logging.getLogger(__name__)

WORKER_ENV = "BANTIN_WORKER"
RESTART_PAUSE_SECONDS = 1.0
PR_SET_PDEATHSIG = 1


# Each service's setting, spelled out so a search for it finds where it is read.
SETTINGS = {
    "articles": "ARTICLES_PROCESSES",
    "feedback": "FEEDBACK_PROCESSES",
    "counter": "COUNTER_PROCESSES",
}


def processes_wanted(service: str) -> int:
    """How many processes <SERVICE>_PROCESSES asks for (1 to 32); 1 in a worker itself."""
    if is_worker():
        return 1
    name = SETTINGS[service]
    raw = os.environ.get(name, "")
    try:
        return max(1, min(32, int(raw))) if raw else 1
    except ValueError:
        sys.exit(f"{name} must be an integer, got {raw!r}")


def is_worker() -> bool:
    return os.environ.get(WORKER_ENV) == "1"


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _start_worker(service: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", f"services.{service}"],
        env={**os.environ, WORKER_ENV: "1"},
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, before exec
    )


def supervise(service: str, count: int) -> None:
    """Run `count` workers of `service` until SIGTERM/SIGINT, then stop them and return."""
    workers = [_start_worker(service) for _ in range(count)]
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        for index, worker in enumerate(workers):
            code = worker.poll()
            if code is not None and not stopping:
                log.error(
                    "%s worker %d exited with %s; starting another", service, worker.pid, code
                )
                time.sleep(RESTART_PAUSE_SECONDS)
                workers[index] = _start_worker(service)
        if stopping and all(w.poll() is not None for w in workers):
            return
        time.sleep(0.2)


def serve(service: str, port: int, app_module: str) -> None:
    """`python -m services.<service>`: the service on its port, as one process, or as
    <SERVICE>_PROCESSES workers under this process's supervision. The supervisor imports
    nothing of the service: it only starts and watches."""
    wanted = processes_wanted(service)
    if wanted > 1:
        supervise(service, wanted)
        return
    import importlib

    import uvloop

    from services.common.web import run

    # uvloop: a service's time goes largely to the event loop and its socket writes.
    uvloop.install()
    create_app = importlib.import_module(app_module).create_app
    run(create_app, service, port, reuse_port=is_worker())
