"""Benchmark: the ceilings under the counter's beacon rate on this machine (not run in CI).

    .venv/bin/python -m bench.counter_ceiling [--duration 8] [--connections 128]
        [--only aiohttp,nginx]

Runs the counter bench's own wrk script (bench/counter_ingest.py: 2 threads, every request
a new reader's beacon POST, as fast as it goes) for `--duration` seconds against:

- aiohttp: an app of 2 processes on one port (SO_REUSEPORT) on uvloop, as the counter runs,
  that reads the beacon's body and answers 204, doing nothing else: the most the framework
  answers here, with wrk on the same cores;
- nginx: Debian's nginx (2 workers) answering `return 204`: the most HTTP answers with wrk
  on the same cores.

Prints requests a second, p50/p99 and the answers. The counter itself at full load is
`bench.counter_ingest --rates 0`, run right after for the figure beside these.

    .venv/bin/python -m bench.counter_ceiling cpu &   # then a bench that runs wrk

prints where the machine's CPU went while that wrk ran (cores busy, by command: the
counter's workers, wrk, Postgres, RabbitMQ's beam.smp, nginx).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.counter_ingest import wrk
from tests.support.infra import ROOT
from tests.support.private_services import free_port

NGINX_CONF = """
worker_processes 2;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port} reuseport;
        location / {{ return 204; }}
    }}
}}
"""


def serve_nothing(port: int) -> None:
    """One process of the do-nothing app (run as `python -m bench.counter_ceiling serve`)."""
    import uvloop
    from aiohttp import web

    async def beacon(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    uvloop.install()
    app = web.Application()
    app.router.add_post("/api/v1/views", beacon)
    web.run_app(app, host="127.0.0.1", port=port, reuse_port=True, access_log=None, print=None)


def wait_listening(port: int, timeout: float = 20) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def start_aiohttp(port: int) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "bench.counter_ceiling", "serve", "--port", str(port)],
            cwd=ROOT,
        )
        for _ in range(2)
    ]


def start_nginx(port: int, directory: Path) -> list[subprocess.Popen[bytes]]:
    conf = directory / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=directory, port=port))
    return [
        subprocess.Popen(
            ["nginx", "-p", str(directory), "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]


def measure(name: str, args: argparse.Namespace, run: int) -> dict:
    port = free_port()
    directory = Path(tempfile.mkdtemp(prefix=f"bench-ceiling-{name}-"))
    processes = start_aiohttp(port) if name == "aiohttp" else start_nginx(port, directory)
    try:
        wait_listening(port)
        time.sleep(1.0)  # every process of the app listening
        return wrk(f"http://127.0.0.1:{port}", run, 0, args)
    finally:
        for process in processes:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(directory, ignore_errors=True)


def _python_name(cmdline: Path) -> str:
    """A Python process by what it runs: `python -m X` as X, any other as python."""
    try:
        args = cmdline.read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return "python"
    if "-m" in args[:-1]:
        return "python -m " + args[args.index("-m") + 1]
    return "python"


def cpu_while_wrk(timeout: float) -> None:
    """Where the machine's CPU goes while a wrk runs (started by another command, e.g. the
    counter bench): each command's CPU seconds over the seconds wrk ran, sampled from /proc
    every 0.5 s, as cores busy on average. Shared services (Postgres, RabbitMQ) count
    whoever else uses them meanwhile."""
    tick = os.sysconf("SC_CLK_TCK")

    def sample() -> dict[int, tuple[str, int]]:
        found = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            name = text[text.index("(") + 1 : text.rindex(")")]
            if name.startswith("python"):
                name = _python_name(stat.parent / "cmdline")
            fields = text[text.rindex(")") + 2 :].split()
            found[int(stat.parent.name)] = (name, int(fields[11]) + int(fields[12]))
        return found

    used: dict[str, float] = {}
    seconds = 0.0
    deadline = time.monotonic() + timeout
    last, last_time = sample(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now, now_time = sample(), time.monotonic()
        if any(name == "wrk" for name, _ in now.values()):
            seconds += now_time - last_time
            for pid, (name, ticks) in now.items():
                before = last[pid][1] if pid in last else 0  # else started meanwhile
                used[name] = used.get(name, 0.0) + (ticks - before) / tick
        elif seconds:
            break
        last, last_time = now, now_time
    print(f"while wrk ran ({seconds:.1f} s), cores busy on average by command:")
    for name, busy in sorted(used.items(), key=lambda item: -item[1])[:12]:
        print(f"  {busy / max(seconds, 1e-9):5.2f}  {name}")
    print(f"  {sum(used.values()) / max(seconds, 1e-9):5.2f}  all")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "serve", "cpu"])
    parser.add_argument("--port", type=int, default=0, help="serve: the port")
    parser.add_argument("--duration", type=int, default=8, help="seconds a run")
    parser.add_argument("--connections", type=int, default=128)
    parser.add_argument("--articles", type=int, default=100)
    parser.add_argument("--only", type=lambda s: s.split(","), default=["aiohttp", "nginx"])
    args = parser.parse_args()
    if args.mode == "serve":
        serve_nothing(args.port)
        return
    if args.mode == "cpu":
        cpu_while_wrk(timeout=600)
        return
    print(f"wrk -t2 -c{args.connections}, {args.duration} s a run, as fast as it goes")
    print("| server | requests/s | p50 / p99 ms | answers | socket errors |")
    print("|---|---|---|---|---|")
    for number, name in enumerate(args.only, start=1):
        result = measure(name, args, number)
        print(
            f"| {name} | {result['requests'] / result['seconds']:,.0f} | "
            f"{result['p50'] / 1000:.1f} / {result['p99'] / 1000:.1f} | "
            f"{result['statuses']} | {result['socket_errors']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
