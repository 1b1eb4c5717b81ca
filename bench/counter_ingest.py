"""Benchmark: views per second through the beacon, straight to the counter's ingest
processes and through the gateway, counted end to end and checked exact (not run in CI).

    .venv/bin/python -m bench.counter_ingest [--duration 10] [--rates 2000,5000,10000,0]
        [--via direct,gateway] [--connections 128] [--processes N] [--profile]

Makes a fresh database and RabbitMQ vhost on the machine's servers, starts
`python -m services.counter` (COUNTER_PROCESSES=N ingest/counting processes on one port)
and, for `--via gateway`, Debian's nginx with the gateway template rendered as the local
runner renders it, trusting the load generator as its front (BANTIN_REAL_IP_FROM=127.0.0.1,
so each beacon's X-Forwarded-For is its reader) and with the beacon limit per address
raised for the run only. Publishes the articles, then for each target rate (0: as fast as
it goes) runs Debian's `wrk` (2 threads; each thread has its own number, so every request
is a distinct reader: its own X-Forwarded-For) for `--duration` seconds, paced by a Lua
delay() per connection.

Meanwhile a probe sends a beacon to a marker article every 100 ms and times it until the
views.counted carrying it arrives (the lag from beacon to views.counted). After each run it
waits until every view is counted and checks that the stored totals equal the number of
distinct stored view keys, and that they hold every accepted (2xx) view: at most the views
in flight when wrk stopped (answered after it stopped looking) may be counted besides.

Prints a table: accepted views/s, counted views/s (until the last one was counted), the
answer's p50/p99, the lag's p50/p99, the largest resident memory of each counter process,
and the check. With `--profile`, py-spy samples every counter process during the last run
and the top functions by own time are printed. Everything is removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter as Tally
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg

from bench.gateway import start_gateway as start_nginx_gateway
from bench.wrk import run_wrk
from services.common.events import topology
from services.common.events.envelope import CloudEvent, source_of
from tests.support.amqp import publish_event, tap
from tests.support.infra import ROOT, create_database, create_vhost, delete_vhost, drop_database
from tests.support.private_services import free_port

AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/120.0.0.0 Safari/537.36"
)
MARKER = 1_000_000  # the probe's article
PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")

# Each wrk thread has its own Lua state; setup() gives each its own number (a global `tid`,
# see NOTES.md), and `run` keeps the readers of successive runs apart: every request of the
# whole benchmark is from its own address. delay() paces each connection to its share of
# the target rate (0: no pause).
WRK_SCRIPT = r"""
tid = 0
threads = {}

function setup(thread)
  tid = tid + 1
  thread:set("tid", tid)
  table.insert(threads, thread)
end

function init(args)
  run = tonumber(args[1])
  articles = tonumber(args[2])
  pause = tonumber(args[3])
  n = 0
  statuses = {}
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "text/plain;charset=UTF-8"
  wrk.headers["User-Agent"] = args[4]
  wrk.headers["Sec-Fetch-Site"] = "same-origin"
end

function delay()
  return pause
end

function request()
  n = n + 1
  -- 10.x.y.z for thread and run, then 2^16 readers each; beyond, IPv6 keeps them distinct.
  local address
  if n < 65536 then
    address = string.format("10.%d.%d.%d", (run * 8 + tid) % 256, math.floor(n / 256) % 256,
                            n % 256)
  else
    address = string.format("fd00:%x:%x::%x", run, tid, n)
  end
  wrk.headers["X-Forwarded-For"] = address
  return wrk.format(nil, "/api/v1/views", nil,
                    string.format('{"article_id": %d}', n % articles + 1))
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[tostring(status)] = (total[tostring(status)] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(total) do
    table.insert(parts, string.format('"%s": %d', status, count))
  end
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "p50": %d, "p99": %d, "max": %d, ' ..
    '"socket_errors": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50),
    latency:percentile(99), latency.max,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, table.concat(parts, ", ")))
end
"""


def article_published(article_id: int) -> CloudEvent:
    data = {
        "id": article_id,
        "version": 1,
        "slug": f"tin-{article_id}",
        "title": f"Tin số {article_id}",
        "url": f"/tin/tin-{article_id}-{article_id}",
        "category": {"slug": "tin-tuc", "name": "Tin tức"},
        "published_at": "2026-11-28T08:00:00+07:00",
        "updated_at": "2026-11-28T08:00:00+07:00",
    }
    return CloudEvent("article.published", source_of("articles"), str(article_id), data)


# --- processes ----------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (the counter's parent and its workers)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            found.extend(process_tree(int(child)))
    return found


def rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0.0
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else 0.0


async def wait_ready(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{base}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{base} did not become ready")


async def wait_countable(base: str, articles: list[int]) -> None:
    async with aiohttp.ClientSession() as session:
        for article_id in articles:
            while True:
                try:
                    async with session.head(f"{base}/v.gif?a={article_id}") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass  # the gateway starting
                await asyncio.sleep(0.05)


def start_gateway(counter_port: int) -> tuple[subprocess.Popen[bytes], str]:
    """The gateway, the load generator its trusted front, the beacon limit per address
    raised for this run only."""
    return start_nginx_gateway(
        {"counter": counter_port},
        page_cache=False,
        gateway_env={"BANTIN_REAL_IP_FROM": "127.0.0.1"},
        edit=lambda text: text.replace(
            "zone=beacons:10m rate=30r/s", "zone=beacons:10m rate=1000000r/s"
        ),
    )


# --- one run ------------------------------------------------------------------------------


@dataclass
class Run:
    via: str
    rate: int
    result: dict = field(default_factory=dict)
    counted: int = 0
    keys: int = 0
    count_seconds: float = 0.0
    lags: list[float] = field(default_factory=list)
    rss: dict[int, float] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return sum(n for s, n in self.result["statuses"].items() if s.startswith("2"))

    def check(self, connections: int) -> str:
        if self.counted != self.keys:
            return f"FAIL: totals {self.counted} != keys {self.keys}"
        if not self.accepted <= self.counted <= self.accepted + connections:
            return f"FAIL: counted {self.counted}, accepted {self.accepted}"
        return "ok"


def wrk(base: str, run: int, rate: int, args: argparse.Namespace) -> dict:
    pause = 0 if rate == 0 else max(1, round(args.connections * 1000 / rate))
    return run_wrk(
        WRK_SCRIPT, base, args.connections, args.duration,
        str(run), str(args.articles), str(pause), AGENT,
    )  # fmt: skip


async def probe(base: str, amqp_url: str, run: int, stop: asyncio.Event, lags: list[float]) -> None:
    """A beacon to the marker article every 100 ms, each timed until the views.counted whose
    total holds it arrives."""
    sent: list[float] = []
    async with tap(amqp_url, "views.counted") as seen, aiohttp.ClientSession() as session:
        n = 0
        while not stop.is_set():
            n += 1
            headers = {
                "Content-Type": "text/plain",
                "User-Agent": AGENT,
                "X-Forwarded-For": f"fd99:{run:x}:{n // 65536:x}::{n % 65536:x}",
            }
            began = time.monotonic()
            async with session.post(
                f"{base}/api/v1/views", data=b'{"article_id": %d}' % MARKER, headers=headers
            ) as response:
                if response.status == 204:
                    sent.append(began)
            await asyncio.sleep(0.1)
        # The last probe's views.counted, then the times: each message's arrival is the
        # views.counted of every probe view its total holds.
        deadline = time.monotonic() + 30
        arrivals: list[tuple[float, int]] = []
        base_total: int | None = None
        while time.monotonic() < deadline:
            arrivals = [
                (message_time, body["data"]["total"])
                for message_time, body in zip(seen.times, seen.bodies, strict=True)
                if body["data"]["article_id"] == MARKER
            ]
            if arrivals and base_total is None:
                base_total = min(t for _, t in arrivals) - 1
            if base_total is not None and arrivals[-1][1] - base_total >= len(sent):
                break
            await asyncio.sleep(0.2)
    for index, began in enumerate(sent):
        wanted = (base_total or 0) + index + 1
        arrived = next((at for at, total in arrivals if total >= wanted), None)
        if arrived is not None:
            lags.append(arrived - began)


async def totals(dsn: str) -> tuple[int, int]:
    conn = await asyncpg.connect(dsn)
    try:
        counted = await conn.fetchval(
            "SELECT coalesce(sum(counted), 0) FROM article_totals WHERE article_id <> $1", MARKER
        )
        keys = await conn.fetchval("SELECT count(*) FROM view_keys WHERE article_id <> $1", MARKER)
        return int(counted), int(keys)
    finally:
        await conn.close()


async def settle(dsn: str, timeout: float = 180) -> tuple[int, int]:
    """Wait until the counts stop moving (every batch counted)."""
    deadline = time.monotonic() + timeout
    last = await totals(dsn)
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        now = await totals(dsn)
        if now == last:
            return now
        last = now
    return last


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# Where a sample's time goes: the first area whose marker is in its stack (innermost first
# for the libraries, so a schema check inside the consumer counts as the schema check).
AREAS = (
    ("JSON Schema checks", ("jsonschema/",)),
    ("bot check (crawlerdetect)", ("crawlerdetect/", "is_bot (")),
    ("view and address keys (HMAC)", ("hmac.py", "view_key (", "address_key (")),
    ("publishing batches (aio-pika)", ("ViewBatcher._send", "publish_views (")),
    ("counting consumer (decode, SQL)", ("on_views_batch", "Consumer._process", "Consumer._run")),
    ("views.counted and other jobs", ("Periodic.", "OutboxRelay")),
    ("beacon handler (parse, checks)", ("beacon (services/counter/api.py", "count_view (")),
    ("aiohttp HTTP (parse, respond)", ("aiohttp/web_protocol.py", "aiohttp/web_response.py")),
    ("event loop, sockets (uvloop/asyncio)", ("run_app (", "base_events.py", "selector_events")),
)


def summarise_profile(
    raw_files: list[Path], top: int = 12, areas: tuple[tuple[str, tuple[str, ...]], ...] = AREAS
) -> list[str]:
    """Where the samples of every counter process went: by area (each sample counted once,
    in the first area its stack shows), then the hottest functions by own time (py-spy
    raw: one collapsed stack per line, its sample count last)."""
    own: Tally[str] = Tally()
    by_area: Tally[str] = Tally()
    total = 0
    for raw in raw_files:
        if not raw.exists():
            continue
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            samples = int(count)
            total += samples
            leaf = stack.split(";")[-1]
            own[re.sub(r" \((.*)/([^/]+):\d+\)$", r" (\2)", leaf)] += samples
            area = next((name for name, marks in areas if any(m in stack for m in marks)), None)
            by_area[area or "other"] += samples
    if not total:
        return ["  (no samples)"]
    lines = ["  by area:"]
    lines += [f"  {count / total:6.1%}  {area}" for area, count in by_area.most_common()]
    lines.append("  hottest functions (own time):")
    lines += [f"  {count / total:6.1%}  {frame}" for frame, count in own.most_common(top)]
    return lines


async def measure(
    via: str, base: str, rate: int, run: int, args: argparse.Namespace, counter_pid: int,
    amqp_url: str, dsn: str, profile_dir: Path | None,
) -> Run:  # fmt: skip
    result = Run(via, rate)
    before, _ = await totals(dsn)
    stop = asyncio.Event()
    probing = asyncio.create_task(probe(base, amqp_url, run, stop, result.lags))
    spies: list[subprocess.Popen[bytes]] = []
    if profile_dir is not None:
        for pid in process_tree(counter_pid):
            spies.append(
                subprocess.Popen(
                    [
                        PY_SPY,
                        "record",
                        "--pid",
                        str(pid),
                        "--duration",
                        str(args.duration),
                        "--rate",
                        "97",
                        "--format",
                        "raw",
                        "--nonblocking",
                        "-o",
                        str(profile_dir / f"{via}-{pid}.txt"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )  # fmt: skip
            )
    began = time.monotonic()
    loading = asyncio.create_task(asyncio.to_thread(wrk, base, run, rate, args))
    while not loading.done():
        for pid in process_tree(counter_pid):
            result.rss[pid] = max(result.rss.get(pid, 0.0), rss_mb(pid))
        await asyncio.sleep(0.5)
    result.result = loading.result()
    stop.set()
    counted, keys = await settle(dsn)
    result.count_seconds = time.monotonic() - began
    result.counted, result.keys = counted - before, keys - before
    await probing
    for spy in spies:
        spy.wait(60)
    return result


def print_table(runs: list[Run], args: argparse.Namespace, processes: int) -> None:
    print()
    print(
        f"counter processes (a supervisor and its workers, if any): {processes}, "
        f"wrk -t2 -c{args.connections}, {args.duration} s a run"
    )
    print(
        "| via | target/s | accepted views/s | counted views/s | p50 / p99 ms | lag p50 / p99 s"
        " | RSS MB per process | check |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        seconds = r.result["seconds"]
        target = "max" if r.rate == 0 else f"{r.rate:,}"
        rss = ", ".join(f"{mb:.0f}" for mb in r.rss.values())
        print(
            f"| {r.via} | {target} | {r.accepted / seconds:,.0f} | "
            f"{r.counted / r.count_seconds:,.0f} | "
            f"{r.result['p50'] / 1000:.1f} / {r.result['p99'] / 1000:.1f} | "
            f"{percentile(r.lags, 0.5):.2f} / {percentile(r.lags, 0.99):.2f} | {rss} | "
            f"{r.check(args.connections)} |"
        )
    others = {s: n for r in runs for s, n in r.result["statuses"].items() if s != "204"}
    if others or any(r.result["socket_errors"] for r in runs):
        print(f"other answers: {others}; socket errors: "
              f"{[r.result['socket_errors'] for r in runs]}")  # fmt: skip


async def run(args: argparse.Namespace) -> None:
    database, vhost = create_database(), create_vhost()
    port = free_port()
    counter: subprocess.Popen[bytes] | None = None
    gateway: subprocess.Popen[bytes] | None = None
    run_dir = Path(tempfile.mkdtemp(prefix="bench-counter-"))
    try:
        await topology.apply(vhost.url)
        env = {
            **os.environ,
            "COUNTER_DATABASE_URL": database.dsn("counter"),
            "AMQP_URL": vhost.url,
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(port),
            "TRUSTED_PROXIES": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
        }
        if args.processes:
            env["COUNTER_PROCESSES"] = str(args.processes)
        counter = subprocess.Popen([sys.executable, "-m", "services.counter"], cwd=ROOT, env=env)
        direct = f"http://127.0.0.1:{port}"
        await wait_ready(direct)
        articles = [*range(1, args.articles + 1), MARKER]
        for article_id in articles:
            await publish_event(vhost.url, article_published(article_id))
        await wait_countable(direct, articles)
        bases = {"direct": direct}
        if "gateway" in args.via:
            gateway, bases["gateway"] = start_gateway(port)
            await wait_countable(bases["gateway"], [MARKER])
        processes = len(process_tree(counter.pid))

        runs: list[Run] = []
        number = 0
        profile_dir = Path(tempfile.mkdtemp(prefix="bench-profile-")) if args.profile else None
        for via in args.via:
            for rate in args.rates:
                number += 1
                last = via == args.via[-1] and rate == args.rates[-1]
                runs.append(
                    await measure(
                        via,
                        bases[via],
                        rate,
                        number,
                        args,
                        counter.pid,
                        vhost.url,
                        database.dsn("counter"),
                        profile_dir if last else None,
                    )  # fmt: skip
                )
                print_table(runs[-1:], args, processes)
        print_table(runs, args, processes)
        if profile_dir is not None:
            print("\nprofile of the last run, own time over every counter process:")
            print("\n".join(summarise_profile(sorted(profile_dir.glob("*.txt")))))
            print(f"(raw stacks in {profile_dir})")
    finally:
        for process in (gateway, counter):
            if process is not None:
                process.send_signal(signal.SIGTERM if process is counter else signal.SIGQUIT)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
        drop_database(database)
        delete_vhost(vhost)
        shutil.rmtree(run_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=10, help="seconds a run")
    parser.add_argument(
        "--rates", type=lambda s: [int(r) for r in s.split(",")], default=[2000, 5000, 10000, 0]
    )
    parser.add_argument("--via", type=lambda s: s.split(","), default=["direct", "gateway"])
    parser.add_argument("--connections", type=int, default=128)
    parser.add_argument("--articles", type=int, default=100)
    parser.add_argument("--processes", type=int, default=0, help="COUNTER_PROCESSES")
    parser.add_argument("--profile", action="store_true")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
