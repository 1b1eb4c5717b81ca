"""Several counter processes on one port (COUNTER_PROCESSES, default 1): the kernel spreads
connections among them (SO_REUSEPORT), so ingest uses more than one core. Each process is a
whole counter instance (ingest, counting consumer, views.counted, maintenance); they share
nothing but the database and the broker, as instances on several machines do.

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

WORKER_ENV = "COUNTER_WORKER"
RESTART_PAUSE_SECONDS = 1.0
PR_SET_PDEATHSIG = 1


def processes_wanted() -> int:
    raw = os.environ.get("COUNTER_PROCESSES", "")
    if os.environ.get(WORKER_ENV) == "1":
        return 1
    try:
        return max(1, min(32, int(raw))) if raw else 1
    except ValueError:
        sys.exit(f"COUNTER_PROCESSES must be an integer, got {raw!r}")


def is_worker() -> bool:
    return os.environ.get(WORKER_ENV) == "1"


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _start_worker() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.counter"],
        env={**os.environ, WORKER_ENV: "1"},
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, before exec
    )


def supervise(count: int) -> None:
    """Run `count` workers until SIGTERM/SIGINT, then stop them and return."""
    workers = [_start_worker() for _ in range(count)]
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
                log.error("counter worker %d exited with %s; starting another", worker.pid, code)
                time.sleep(RESTART_PAUSE_SECONDS)
                workers[index] = _start_worker()
        if stopping and all(w.poll() is not None for w in workers):
            return
        time.sleep(0.2)
