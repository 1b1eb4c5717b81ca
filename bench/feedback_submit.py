"""Benchmark: accepted submissions per second through POST /api/v1/feedback with the spam
checks on, and the time from approval to the comment in the article page's read model
(not run in CI).

    .venv/bin/python -m bench.feedback_submit [--seconds 15] [--connections 16,32,64]
                                              [--approvals 50] [--profile DIR]
                                              [--processes N]

Makes a fresh database and RabbitMQ vhost on the machine's servers, starts
`python -m services.feedback` and `python -m services.articles` as their own processes
(TRUSTED_PROXIES=127.0.0.1, the default limits per visitor: 20 a day, 5 a minute), publishes
the articles into feedback's read model, then runs Debian's `wrk` (2 threads) at each
connection count. Every request comes from a distinct visitor (its own X-Forwarded-For) with
a distinct text, so the spam and cap checks run in full and refuse nobody. Prints accepted
submissions/s, latencies and the answers by status.

Then approves `--approvals` pending items one after another through the moderation API and
times, for each, the approval's answer and its arrival in the articles service's read model
(public_feedback, from which the article page is rendered): the outbox relay, the broker and
the articles consumer in between.

With `--profile DIR`, py-spy records the feedback process during the last load (a flame
graph as SVG, and a speedscope file). Everything is removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg

from bench.counter_ingest import article_published
from services.articles.domain import User
from services.articles.tokens import TokenIssuer
from services.common.events import topology
from tests.support.amqp import publish_event
from tests.support.infra import ROOT, create_database, create_vhost, delete_vhost, drop_database
from tests.support.keys import new_keypair
from tests.support.private_services import free_port

# Each wrk thread has its own Lua state; setup() gives each its own number (a global `tid`,
# see NOTES.md), so no two threads send the same visitor or text. `run` (the script's
# argument) keeps the visitors of successive runs apart too: each address posts once a run.
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
  n = 0
  statuses = {}
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  local address = string.format("10.%d.%d.%d", (run * 4 + tid) % 256,
                                math.floor(n / 256) % 256, n % 256)
  local body = string.format(
    '{"article_id": %d, "author_name": "Bạn đọc %d-%d-%d", "email": "ban.doc@example.vn",' ..
    ' "body": "Ý kiến số %d của luồng %d lần chạy %d: cảm ơn bài viết rất hay, mong có thêm tin."}',
    n % articles + 1, run, tid, n, n, tid, run)
  wrk.headers["X-Forwarded-For"] = address
  return wrk.format(nil, "/api/v1/feedback", nil, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local counted = thread:get("statuses")
    for status, count in pairs(counted) do
      total[tostring(status)] = (total[tostring(status)] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(total) do
    table.insert(parts, string.format('"%s": %d', status, count))
  end
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "p50": %d, "p90": %d, "p99": %d, ' ..
    '"max": %d, "socket_errors": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, table.concat(parts, ", ")))
end
"""

MODERATOR = User(5, "kiemduyet", "Kiểm Duyệt", frozenset({"moderator"}), False,
                 datetime.now(UTC), datetime.now(UTC))  # fmt: skip


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


async def wait_articles(dsn: str, articles: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        while await conn.fetchval("SELECT count(*) FROM articles WHERE published") < articles:
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


def wrk(base: str, connections: int, seconds: float, run: int, articles: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    try:
        output = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "10s",
             "-s", script.name, base, "--", str(run), str(articles)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
    finally:
        os.unlink(script.name)
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def cpu_seconds(pid: int) -> float:
    """The user and system CPU time so far (Linux /proc) of the process and its children
    (the workers, with FEEDBACK_PROCESSES)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return own + sum(cpu_seconds(int(child)) for child in children)


def postgres_cpu_seconds() -> float:
    """The CPU time so far of every Postgres process of the machine (its backends serve the
    services here)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(postgres)" in text:
            fields = text.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def report(connections: int, result: dict, cpu: float, postgres_cpu: float) -> None:
    accepted = result["statuses"].get("202", 0)
    seconds = result["seconds"]
    # The service's own CPU per submission holds up better than the rate when other work
    # shares the machine's cores.
    print(
        f"{connections:>3} connections: {accepted / seconds:7,.0f} accepted/s "
        f"({result['requests'] / seconds:,.0f} requests/s), latency ms "
        f"p50 {result['p50'] / 1000:.1f}, p90 {result['p90'] / 1000:.1f}, "
        f"p99 {result['p99'] / 1000:.1f}, max {result['max'] / 1000:.1f}; "
        f"statuses {dict(sorted(result['statuses'].items()))}, "
        f"socket errors {result['socket_errors']}; "
        f"feedback CPU {cpu * 1000 / max(1, result['requests']):.2f} ms a request, "
        f"{cpu / seconds:.0%} of a core; Postgres CPU "
        f"{postgres_cpu * 1000 / max(1, result['requests']):.2f} ms a request",
        flush=True,
    )


async def approval_to_page(base: str, feedback_dsn: str, articles_dsn: str, count: int) -> None:
    """Approve `count` pending items one by one; time each until the articles read model has
    it."""
    token = TokenIssuer(KEYS.private_pem).issue(MODERATOR)[0]
    feedback = await asyncpg.connect(feedback_dsn)
    articles = await asyncpg.connect(articles_dsn)
    answers: list[float] = []
    arrivals: list[float] = []
    try:
        ids = [
            row["id"]
            for row in await feedback.fetch(
                "SELECT id FROM feedback WHERE status = 'pending' ORDER BY id LIMIT $1", count
            )
        ]
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
            for item_id in ids:
                began = time.perf_counter()
                async with session.post(f"{base}/api/v1/feedback/{item_id}/approve") as answer:
                    assert answer.status == 200, await answer.text()
                answers.append(time.perf_counter() - began)
                while not await articles.fetchval(
                    "SELECT true FROM public_feedback WHERE id = $1", item_id
                ):
                    await asyncio.sleep(0.002)
                arrivals.append(time.perf_counter() - began)
    finally:
        await feedback.close()
        await articles.close()
    print(
        f"approval to page ({len(ids)} items, one at a time): approval answered in ms "
        f"p50 {statistics.median(answers) * 1000:.1f}, max {max(answers) * 1000:.1f}; "
        f"in the articles read model after ms p50 {statistics.median(arrivals) * 1000:.1f}, "
        f"max {max(arrivals) * 1000:.1f}",
        flush=True,
    )


KEYS = new_keypair()
PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
LOG_FILE = Path(tempfile.gettempdir()) / "bench-feedback-submit.log"


def start(module: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # The services log to stdout as in production; the log goes to a file, not the report.
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", module], cwd=ROOT, env=env, stdout=output, stderr=output
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


async def run(
    seconds: float,
    connections: list[int],
    articles: int,
    approvals: int,
    profile: Path | None,
    processes_wanted: int = 1,
) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    database, vhost = create_database(), create_vhost()
    feedback_port, articles_port = free_port(), free_port()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        await topology.apply(vhost.url)
        common = {
            **os.environ,
            "AMQP_URL": vhost.url,
            "HTTP_HOST": "127.0.0.1",
            "TRUSTED_PROXIES": "127.0.0.1",
            "AUTH_PUBLIC_KEY": KEYS.public_pem,
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        }
        feedback = start(
            "services.feedback",
            {**common, "FEEDBACK_DATABASE_URL": database.dsn("feedback"),
             "HTTP_PORT": str(feedback_port), "FEEDBACK_PROCESSES": str(processes_wanted)},
            LOG_FILE,
        )  # fmt: skip
        processes.append(feedback)
        processes.append(
            start(
                "services.articles",
                {
                    **common,
                    "ARTICLES_DATABASE_URL": database.dsn("articles"),
                    "AUTH_PRIVATE_KEY": KEYS.private_pem,
                    "HTTP_PORT": str(articles_port),
                },
                LOG_FILE,
            )
        )
        base = f"http://127.0.0.1:{feedback_port}"
        await wait_ready(base)
        await wait_ready(f"http://127.0.0.1:{articles_port}")
        for article_id in range(1, articles + 1):
            await publish_event(vhost.url, article_published(article_id))
        await wait_articles(database.dsn("feedback"), articles)

        print(f"services log to {LOG_FILE}")
        print(f"feedback: wrk -t2, {seconds:.0f} s a run, one visitor and text per request")
        wrk(base, 8, 3, 0, articles)  # warm-up (connections, prepared statements)
        for run_number, count in enumerate(connections, start=1):
            spy = None
            if profile is not None and run_number == len(connections):
                profile.mkdir(parents=True, exist_ok=True)
                spy = subprocess.Popen(
                    [PY_SPY, "record", "--pid", str(feedback.pid), "--subprocesses",
                     "--rate", "200", "--duration", str(int(seconds)), "--format", "speedscope",
                     "--output", str(profile / f"feedback-{count}.speedscope.json")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
            cpu_before, postgres_before = cpu_seconds(feedback.pid), postgres_cpu_seconds()
            result = wrk(base, count, seconds, run_number, articles)
            cpu = cpu_seconds(feedback.pid) - cpu_before
            report(count, result, cpu, postgres_cpu_seconds() - postgres_before)
            if spy is not None:
                spy.wait(60)

        await approval_to_page(base, database.dsn("feedback"), database.dsn("articles"), approvals)
    finally:
        for process in processes:
            stop(process)
        drop_database(database)
        delete_vhost(vhost)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--connections", default="16,32,64")
    parser.add_argument("--articles", type=int, default=100)
    parser.add_argument("--approvals", type=int, default=50)
    parser.add_argument(
        "--processes", type=int, default=1, help="FEEDBACK_PROCESSES: workers on the one port"
    )
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args()
    connections = [int(count) for count in args.connections.split(",")]
    asyncio.run(
        run(
            args.seconds,
            connections,
            args.articles,
            args.approvals,
            args.profile,
            args.processes,
        )
    )


if __name__ == "__main__":
    main()
