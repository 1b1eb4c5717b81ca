"""Benchmark: article pages per second from the articles service with the gateway's
micro-cache off (wrk straight to the service) and on (wrk through the real nginx gateway),
against nginx serving a static copy of the page (the ceiling). Not run in CI.

    .venv/bin/python -m bench.article_pages [--articles 100000] [--seconds 15]
        [--via direct,gateway,static] [--connections 64] [--processes 2]
        [--hot 500] [--hot-share 0.8] [--database NAME] [--keep] [--service-dir DIR]
        [--profile DIR]

Makes a fresh database on the machine's Postgres and fills it as bench/search.py does
(`--articles` published articles by COPY through the articles migrations), then the read
models the page shows: view counts for every article (the most read among the newest, with
the 7 and 30 days' counts the most-read lists rank by) and approved feedback, some with a
reply, on a fifth of them. `--database NAME --keep` reuses a database a former run kept, so
that two versions of the code are measured on the same data (`--service-dir`: the checkout
the articles service is started from, e.g. an export of an older commit).

Starts `python -m services.articles` as a plain process with ARTICLES_PROCESSES=`--processes`
(workers on one port) and runs Debian's `wrk` (2 threads, `--connections`) for `--seconds`
a run, each request for an article page drawn from a realistic mix: four in five among the
500 newest articles (the newest most), the rest over all of them (`--hot 1 --hot-share 1`:
the newest article only, one page as in issue 12's first figures). Reports requests/s,
p50/p99, non-2xx answers and socket errors, and the CPU (in cores) that the service's
processes, nginx, Postgres and wrk itself used meanwhile. With `--profile DIR`, py-spy
records the service's workers during the direct run and the hottest areas are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg

from bench import search
from bench.counter_ingest import PY_SPY, process_tree, summarise_profile
from bench.feedback_submit import cpu_seconds, postgres_cpu_seconds, wait_ready
from bench.gateway import start_gateway
from bench.wrk import run_wrk
from services.articles.import_articles import SERVICE_DIR
from services.common import db
from services.common.events import topology
from tests.support.infra import (
    ROOT,
    Database,
    create_database,
    create_vhost,
    delete_vhost,
    drop_database,
)
from tests.support.keys import new_keypair
from tests.support.private_services import free_port

HOT = 500  # the newest articles, where most readers are
HOT_SHARE = 0.8
FEEDBACK_SHARE = 0.2

# Each wrk thread has its own Lua state and random generator: setup() gives each its own
# number (a global `tid`, see NOTES.md) to seed it, so the threads ask for different
# articles. No response() callback: counting in Lua would slow wrk itself; the non-2xx
# answers are in the summary.
WRK_SCRIPT = r"""
tid = 0

function setup(thread)
  tid = tid + 1
  thread:set("tid", tid)
end

function init(args)
  paths = {}
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  hot = math.min(tonumber(args[2]), #paths)
  hot_share = tonumber(args[3])
  math.randomseed(tid * 7919 + os.time())
end

function request()
  local index
  if math.random() < hot_share then
    -- The newest first: the square of a uniform number leans to the small indexes.
    local u = math.random()
    index = 1 + math.floor(u * u * hot)
  else
    index = math.random(#paths)
  end
  return wrk.format("GET", paths[index])
end

function done(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "p50": %d, "p90": %d, "p99": %d, ' ..
    '"max": %d, "non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout))
end
"""

STATIC_CONF = """daemon off;
worker_processes auto;
pid {dir}/nginx.pid;
error_log stderr error;
events {{ worker_connections 1024; }}
http {{
    default_type text/html;
    sendfile on;
    access_log off;
    keepalive_timeout 65;
    client_body_temp_path {dir}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {dir};
        location / {{ try_files /page.html =404; }}
    }}
}}
"""

# Where a sample's time goes in the service: the first area whose marker its stack shows.
AREAS = (
    ("template rendering (Jinja2)", ("jinja2/", "templates/")),
    ("database queries (asyncpg)", ("asyncpg/",)),
    ("ETag (sha256 of the page)", ("_validated (",)),
    ("JSON-LD, body, URLs", ("news_article_ld", "lazy_images", "json_for_html")),
    ("page handler (other)", ("article_page (", "public_page (")),
    ("middlewares", ("error_middleware", "same_origin_changes")),
    ("aiohttp HTTP (parse, respond)", ("aiohttp/web_protocol.py", "aiohttp/web_response.py")),
    ("event loop, sockets (uvloop/asyncio)", ("run_app (", "base_events.py", "selector_events")),
)


# --- the data -----------------------------------------------------------------------------


async def fill_read_models(conn: asyncpg.Connection) -> None:
    """View counts for every article (more on the newest) and approved feedback on a share
    of them, as the counter's and feedback's events would have left them."""
    rng = random.Random(7)
    ids = [r["id"] for r in await conn.fetch("SELECT id FROM articles ORDER BY published_at DESC")]
    today = datetime.now(UTC).date()
    views = []
    for rank, article_id in enumerate(ids):
        total = int(200_000 / (rank + 20)) + rng.randint(0, 400)
        recent = int(total * 0.3) if rank < HOT else rng.randint(0, 3)
        views.append((article_id, total, recent // 7, today, 1, recent // 2, recent))
    await conn.copy_records_to_table(
        "article_views",
        records=views,
        columns=("article_id", "total", "today", "day", "version", "last_7_days", "last_30_days"),
    )
    feedback = []
    now = datetime.now(UTC)
    for article_id in ids:
        if rng.random() >= FEEDBACK_SHARE:
            continue
        for _ in range(rng.randint(1, 4)):
            approved = now - timedelta(minutes=rng.randint(10, 500_000))
            replied = rng.random() < 0.5
            feedback.append(
                (len(feedback) + 1, article_id, f"Bạn đọc {rng.randint(1, 9999)}",
                 search.sentence(rng, 12, 40),
                 search.sentence(rng, 10, 30) if replied else None,
                 "Ban biên tập" if replied else None,
                 approved + timedelta(hours=2) if replied else None,
                 approved, approved, 1)
            )  # fmt: skip
    await conn.copy_records_to_table(
        "public_feedback",
        records=feedback,
        columns=("id", "article_id", "author_name", "body", "reply_body", "reply_author",
                 "replied_at", "approved_at", "updated_at", "version"),
    )  # fmt: skip
    await conn.execute("ANALYZE article_views; ANALYZE public_feedback")
    print(f"read models: {len(views)} view counts, {len(feedback)} feedback items")


async def prepare(database: Database, articles: int) -> None:
    dsn = database.dsn("articles")
    await db.migrate(dsn, SERVICE_DIR)
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        await search.fill(conn, articles)
        await fill_read_models(conn)
        print(f"filled {articles} articles in {time.perf_counter() - started:.0f} s", flush=True)
    finally:
        await conn.close()


async def write_paths(dsn: str, out: Path) -> None:
    """Every article's address, newest first (the Lua script's mix counts on the order)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT id, slug FROM articles WHERE status = 'published' ORDER BY published_at DESC"
        )
    finally:
        await conn.close()
    out.write_text("".join(f"/tin/{r['slug']}-{r['id']}\n" for r in rows))


# --- the processes ------------------------------------------------------------------------


def start_articles(env: dict[str, str], service_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "services.articles"],
            cwd=service_dir,
            env={**env, "PYTHONPATH": str(service_dir)},
            stdout=output,
            stderr=output,
        )


def start_static(page: bytes) -> tuple[subprocess.Popen[bytes], str]:
    work = Path(tempfile.mkdtemp(prefix="bench-static-"))
    work.chmod(0o755)
    (work / "page.html").write_bytes(page)
    (work / "page.html").chmod(0o644)
    port = free_port()
    (work / "nginx.conf").write_text(STATIC_CONF.format(dir=work, port=port))
    process = subprocess.Popen(
        ["nginx", "-p", str(work), "-c", str(work / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, f"http://127.0.0.1:{port}"


def stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


async def wait_answering(url: str, timeout: float = 30) -> bytes:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return await response.read()
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200")


# --- a run --------------------------------------------------------------------------------


def wrk(
    base: str, paths: Path, seconds: int, connections: int, hot: int = HOT, share: float = HOT_SHARE
) -> dict:
    return run_wrk(WRK_SCRIPT, base, connections, seconds, str(paths), str(hot), str(share))


def tree_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def measure(
    via: str, base: str, paths: Path, args: argparse.Namespace, service: int, nginx: int | None
) -> str:
    before = (tree_cpu([service]), tree_cpu([nginx] if nginx else []), postgres_cpu_seconds())
    wrk_before = children_cpu()
    result = wrk(base, paths, args.seconds, args.connections, args.hot, args.hot_share)
    wrk_cpu = children_cpu() - wrk_before
    after = (tree_cpu([service]), tree_cpu([nginx] if nginx else []), postgres_cpu_seconds())
    seconds = result["seconds"]
    cores = [(a - b) / seconds for a, b in zip(after, before, strict=True)]
    load = os.getloadavg()[0]
    return (
        f"| {via} | {result['requests'] / seconds:,.0f} | {result['p50'] / 1000:.1f} / "
        f"{result['p99'] / 1000:.1f} | {result['non_2xx']} / {result['socket_errors']} | "
        f"{cores[0]:.2f} ({cores[0] * seconds * 1000 / max(1, result['requests']):.2f} ms) | "
        f"{cores[1]:.2f} | {cores[2]:.2f} | {wrk_cpu / seconds:.2f} | "
        f"{load:.2f} |"
    )


async def run(args: argparse.Namespace) -> None:
    database = Database(args.database) if args.database else create_database()
    vhost = create_vhost()
    print(f"database {database.name}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    paths = work / "paths.txt"
    log = work / "articles.log"
    processes: list[tuple[subprocess.Popen[bytes], int]] = []
    keys = new_keypair()
    try:
        await topology.apply(vhost.url)
        if not args.database:
            await prepare(database, args.articles)
        await write_paths(database.dsn("articles"), paths)
        port = free_port()
        env = {
            **os.environ,
            "ARTICLES_DATABASE_URL": database.dsn("articles"),
            "AMQP_URL": vhost.url,
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(port),
            "AUTH_PRIVATE_KEY": keys.private_pem,
            "AUTH_PUBLIC_KEY": keys.public_pem,
            "ARTICLES_PROCESSES": str(args.processes),
            "LOG_LEVEL": "WARNING",
        }
        service = start_articles(env, args.service_dir, log)
        processes.append((service, signal.SIGTERM))
        direct = f"http://127.0.0.1:{port}"
        await wait_ready(direct)
        first = paths.read_text().split("\n", 1)[0]
        page = await wait_answering(direct + first)
        print(f"articles service: {args.processes} processes, log {log}; page {first}: "
              f"{len(page):,} bytes", flush=True)  # fmt: skip
        bases: dict[str, tuple[str, int | None]] = {"direct": (direct, None)}
        if "gateway" in args.via:
            gateway, url = start_gateway({"articles": port}, page_cache=True)
            processes.append((gateway, signal.SIGQUIT))
            await wait_answering(url + first)
            bases["gateway"] = (url, gateway.pid)
        if "static" in args.via:
            static, url = start_static(page)
            processes.append((static, signal.SIGQUIT))
            await wait_answering(url + first)
            bases["static"] = (url, static.pid)
        wrk(direct, paths, 3, args.connections)  # warm-up: connections, statements, caches
        print(f"\nwrk -t2 -c{args.connections}, {args.seconds} s a run; CPU in cores "
              f"(2 on this machine)")  # fmt: skip
        print("| via | requests/s | p50 / p99 ms | non-2xx / socket errors |"
              " service CPU (a request) | nginx CPU | Postgres CPU | wrk CPU |"
              " load (1 min) |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|", flush=True)
        raw: list[Path] = []  # this run's stacks only, whatever else is in --profile
        for via in args.via:
            base, nginx = bases[via]
            spies = []
            if args.profile and via == "direct":
                args.profile.mkdir(parents=True, exist_ok=True)
                for pid in process_tree(service.pid)[1:] or [service.pid]:
                    raw.append(args.profile / f"articles-{pid}.txt")
                    spies.append(subprocess.Popen(
                        [PY_SPY, "record", "--pid", str(pid), "--rate", "97", "--duration",
                         str(args.seconds), "--format", "raw", "--nonblocking",
                         "-o", str(raw[-1])],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    ))  # fmt: skip
            print(measure(via, base, paths, args, service.pid, nginx), flush=True)
            for spy in spies:
                spy.wait(60)
        if args.profile:
            print("\nprofile of the direct run, over the service's workers:")
            print("\n".join(summarise_profile(raw, top=15, areas=AREAS)))
    finally:
        for process, sig in reversed(processes):
            stop(process, sig)
        delete_vhost(vhost)
        if not args.keep:
            drop_database(database)
        else:
            print(f"kept database {database.name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument(
        "--via", type=lambda s: s.split(","), default=["direct", "gateway", "static"]
    )
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--hot", type=int, default=HOT, help="the newest articles most requests are for"
    )
    parser.add_argument(
        "--hot-share", type=float, default=HOT_SHARE, help="the share of requests for them"
    )
    parser.add_argument("--processes", type=int, default=2, help="ARTICLES_PROCESSES")
    parser.add_argument("--database", help="a database a former run kept (--keep)")
    parser.add_argument("--keep", action="store_true", help="leave the database")
    parser.add_argument("--service-dir", type=Path, default=ROOT)
    parser.add_argument("--profile", type=Path, help="py-spy's raw stacks go here")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
