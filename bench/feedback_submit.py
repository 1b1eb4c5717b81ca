"""Benchmark: accepted submissions per second through POST /api/v1/feedback with the spam
checks on, and the time from approval to the comment in the article page's read model
(not run in CI).

    .venv/bin/python -m bench.feedback_submit [--seconds 15] [--connections 16,32,64]
                                              [--approvals 50] [--profile DIR]
                                              [--processes N] [--postgres-port PORT]
                                              [--private-postgres [--pg-setting NAME=VALUE]]

Makes a fresh database and RabbitMQ vhost on the machine's servers, starts
`python -m services.feedback` and `python -m services.articles` as their own processes
(TRUSTED_PROXIES=127.0.0.1, the default limits per visitor: 20 a day, 5 a minute), publishes
the articles into feedback's read model, then runs Debian's `wrk` (2 threads) at each
connection count. Every request comes from a distinct visitor (its own X-Forwarded-For) with
a distinct text, so the spam and cap checks run in full and refuse nobody. Prints accepted
submissions/s, latencies and the answers by status.

After each run it prints how many of the run's events were still in the outbox, unsent.
`--relay-process` also starts a relay process of its own for feedback's outbox
(`python -m services.common.events.relay feedback`), beside the one in the service.

Then approves `--approvals` pending items one after another through the moderation API and
times, for each, the approval's answer and its arrival in the articles service's read model
(public_feedback, from which the article page is rendered): the outbox relay, the broker and
the articles consumer in between.

With `--profile DIR`, py-spy records the feedback process during the last load (a
speedscope file) and prints the functions with the most samples.

The database is made on the machine's Postgres (127.0.0.1:5432), or on the cluster at
`--postgres-port` (127.0.0.1, trust, user postgres). `--private-postgres` starts a cluster of
its own for the run (initdb on a free port, as tests/support/private_services.py does; the
shared server is never restarted), with pg_stat_statements loaded and tracking the
statements inside functions, and with `--pg-setting` lines added to its postgresql.conf
(e.g. commit_delay=100). On such a cluster each run also prints Postgres's profile: the
statements with the most execution time (submit_feedback's own statements among them), and
what the service's backends were doing, sampled from pg_stat_activity every 10 ms (on the
CPU, waiting for the client, or waiting on a lock, WAL or an LWLock). The Postgres CPU
figure then counts that cluster's processes only (else every Postgres process of the
machine). Everything is removed afterwards.
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
from tests.support.private_services import PrivatePostgres, free_port

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


def postgres_cpu_seconds(postmaster: int | None = None) -> float:
    """The CPU time so far of the Postgres processes of the cluster whose postmaster is
    `postmaster` (its backends and helpers), or of every Postgres process of the machine."""
    if postmaster is not None:
        try:
            return cpu_seconds(postmaster)
        except OSError:
            return 0.0
    return named_cpu_seconds("postgres")


def named_cpu_seconds(command: str) -> float:
    """The CPU time so far of every process of the machine named `command`."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if f"({command})" in text:
            fields = text.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


# A private cluster for the profile: the shared server's settings where they matter to
# this path (shared_buffers 128 MB, wal_buffers 4 MB, synchronous_commit and fsync on,
# autovacuum off as there), and pg_stat_statements, which must be loaded at start.
PRIVATE_SETTINGS = [
    "shared_preload_libraries = 'pg_stat_statements'",
    "pg_stat_statements.track = all",
    "pg_stat_statements.max = 2000",
    "track_io_timing = on",
    "shared_buffers = 128MB",
    "wal_buffers = 4MB",
    "max_wal_size = 1GB",
    "autovacuum = off",
    "synchronous_commit = on",
    "fsync = on",
]


def private_postgres(settings: list[str]) -> PrivatePostgres:
    cluster = PrivatePostgres()
    with (cluster.data / "postgresql.conf").open("a") as conf:
        for line in [*PRIVATE_SETTINGS, *settings]:
            conf.write(line.replace("=", " = ", 1) if " = " not in line else line)
            conf.write("\n")
    cluster.start()
    return cluster


class PostgresProfile:
    """pg_stat_statements and pg_stat_activity of the bench's database, run by run."""

    def __init__(self, conn: asyncpg.Connection, database: str) -> None:
        self.conn = conn
        self.database = database
        self.waits: dict[str, int] = {}
        self.samples = 0

    async def reset(self) -> None:
        await self.conn.execute("SELECT pg_stat_statements_reset()")
        self.waits, self.samples = {}, 0

    async def sample(self, stop: asyncio.Event) -> None:
        """Every 10 ms, what each of the feedback role's backends is doing."""
        while not stop.is_set():
            rows = await self.conn.fetch(
                """SELECT state, wait_event_type, wait_event FROM pg_stat_activity
                    WHERE datname = $1 AND usename = 'feedback'
                      AND backend_type = 'client backend'""",
                self.database,
            )
            self.samples += 1
            for row in rows:
                if row["state"] == "active":
                    what = (
                        f"active, waiting {row['wait_event_type']}:{row['wait_event']}"
                        if row["wait_event_type"]
                        else "active, on the CPU"
                    )
                else:
                    what = f"{row['state']} ({row['wait_event_type']}:{row['wait_event']})"
                self.waits[what] = self.waits.get(what, 0) + 1
            try:
                await asyncio.wait_for(stop.wait(), 0.01)
            except TimeoutError:
                pass

    async def report(self, accepted: int) -> None:
        rows = await self.conn.fetch(
            """SELECT s.toplevel, s.calls, s.total_exec_time, s.mean_exec_time, s.rows,
                      s.wal_bytes, s.shared_blks_hit + s.shared_blks_read AS blocks,
                      regexp_replace(s.query, '\\s+', ' ', 'g') AS query
                 FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
                WHERE d.datname = $1 ORDER BY s.total_exec_time DESC LIMIT 14""",
            self.database,
        )
        print(f"  Postgres statements by total time (per accepted submission, {accepted}):")
        for row in rows:
            print(
                f"    {'top ' if row['toplevel'] else 'in  '}"
                f"{row['total_exec_time'] / max(1, accepted):7.3f} ms "
                f"({row['calls']:>6} calls, mean {row['mean_exec_time']:.3f} ms, "
                f"{row['blocks'] / max(1, row['calls']):.1f} blocks, "
                f"{int(row['wal_bytes']) / max(1, row['calls']):.0f} WAL bytes a call) "
                f"{row['query'][:110]}"
            )
        seen = sum(self.waits.values())
        print(f"  the feedback backends, {self.samples} samples of pg_stat_activity:")
        for what, count in sorted(self.waits.items(), key=lambda item: -item[1])[:12]:
            print(f"    {count / max(1, seen):6.1%} {what}")


def broker_cpu_seconds() -> float:
    """The CPU time so far of the machine's RabbitMQ (Erlang VM): the shared broker, so other
    people's traffic counts too."""
    return named_cpu_seconds("beam.smp")


def machine_cpu() -> tuple[float, float]:
    """The machine's busy and total CPU seconds so far, all cores (/proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    total = sum(fields[:8])
    return (total - idle) / os.sysconf("SC_CLK_TCK"), total / os.sysconf("SC_CLK_TCK")


def report(
    connections: int,
    result: dict,
    cpu: float,
    postgres_cpu: float,
    machine: tuple[float, float] = (0.0, 0.0),
    others: tuple[float, float] = (0.0, 0.0),
    relay_cpu: float | None = None,
) -> None:
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
        f"{postgres_cpu * 1000 / max(1, result['requests']):.2f} ms a request; articles CPU "
        f"{others[0] * 1000 / max(1, result['requests']):.2f} ms, RabbitMQ CPU "
        f"{others[1] * 1000 / max(1, result['requests']):.2f} ms a request; "
        + (
            f"relay process CPU {relay_cpu * 1000 / max(1, result['requests']):.2f} ms a request; "
            if relay_cpu is not None
            else ""
        )
        + f"the machine's cores {machine[0] / max(1e-9, machine[1]):.0%} busy",
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


def start(module: str, env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    # The services log to stdout as in production; the log goes to a file, not the report.
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args], cwd=ROOT, env=env, stdout=output, stderr=output
        )


async def unsent_events(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"))
    finally:
        await conn.close()


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
    postgres_port: int | None = None,
    private_settings: list[str] | None = None,
    relay_process: bool = False,
) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    cluster = private_postgres(private_settings) if private_settings is not None else None
    if cluster is not None:
        postgres_port = cluster.port
        print(f"private Postgres on port {cluster.port}: {PRIVATE_SETTINGS + private_settings}")
    database = create_database(port=postgres_port) if postgres_port else create_database()
    vhost = create_vhost()
    feedback_port, articles_port = free_port(), free_port()
    processes: list[subprocess.Popen[bytes]] = []
    pg_profile: PostgresProfile | None = None
    postmaster = cluster._pid() if cluster is not None else None
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
        if relay_process:
            processes.append(
                start(
                    "services.common.events.relay",
                    {**common, "FEEDBACK_DATABASE_URL": database.dsn("feedback")},
                    LOG_FILE,
                    "feedback",
                )
            )
        base = f"http://127.0.0.1:{feedback_port}"
        await wait_ready(base)
        await wait_ready(f"http://127.0.0.1:{articles_port}")
        for article_id in range(1, articles + 1):
            await publish_event(vhost.url, article_published(article_id))
        await wait_articles(database.dsn("feedback"), articles)
        admin = await asyncpg.connect(database.admin_dsn)
        if await admin.fetchval(
            "SELECT true FROM pg_settings WHERE name = 'shared_preload_libraries'"
            " AND setting LIKE '%pg_stat_statements%'"
        ):
            await admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            pg_profile = PostgresProfile(admin, database.name)
        else:
            await admin.close()

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
            stop_sampling = asyncio.Event()
            sampler = None
            if pg_profile is not None:
                await pg_profile.reset()
                sampler = asyncio.create_task(pg_profile.sample(stop_sampling))
            print(f"  load before: {os.getloadavg()[0]:.2f}", flush=True)
            cpu_before = cpu_seconds(feedback.pid)
            postgres_before = postgres_cpu_seconds(postmaster)
            machine_before = machine_cpu()
            articles_before, broker_before = cpu_seconds(processes[1].pid), broker_cpu_seconds()
            relay_before = cpu_seconds(processes[2].pid) if relay_process else 0.0
            result = await asyncio.to_thread(wrk, base, count, seconds, run_number, articles)
            cpu = cpu_seconds(feedback.pid) - cpu_before
            postgres_cpu = postgres_cpu_seconds(postmaster) - postgres_before
            machine_after = machine_cpu()
            others = (
                cpu_seconds(processes[1].pid) - articles_before,
                broker_cpu_seconds() - broker_before,
            )
            machine = (
                machine_after[0] - machine_before[0],
                machine_after[1] - machine_before[1],
            )
            stop_sampling.set()
            if sampler is not None:
                await sampler
            relay_cpu = cpu_seconds(processes[2].pid) - relay_before if relay_process else None
            report(count, result, cpu, postgres_cpu, machine, others, relay_cpu)
            unsent = await unsent_events(database.dsn("feedback"))
            print(f"  events left unsent in the outbox at the end of the run: {unsent}")
            if pg_profile is not None:
                await pg_profile.report(result["statuses"].get("202", 0))
            if spy is not None:
                spy.wait(60)
                print_profile(profile / f"feedback-{count}.speedscope.json")

        await approval_to_page(base, database.dsn("feedback"), database.dsn("articles"), approvals)
    finally:
        if pg_profile is not None:
            await pg_profile.conn.close()
        for process in processes:
            stop(process)
        drop_database(database)
        delete_vhost(vhost)
        if cluster is not None:
            cluster.close()


def print_profile(path: Path, top: int = 25) -> None:
    """The functions in the most py-spy samples (inclusive, each counted once a sample),
    from a speedscope file of every process."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        print(f"  (no profile in {path})")
        return
    frames = document["shared"]["frames"]
    counts: dict[str, int] = {}
    total = 0
    for profile in document["profiles"]:
        for sample in profile["samples"]:
            total += 1
            for name in {
                f"{frames[i]['name']} ({Path(frames[i].get('file', '')).name})" for i in sample
            }:
                counts[name] = counts.get(name, 0) + 1
    print(f"  py-spy, {total} samples, the functions in the most (inclusive):")
    for name, count in sorted(counts.items(), key=lambda item: -item[1])[:top]:
        print(f"    {count / max(1, total):6.1%} {name}")


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
    parser.add_argument(
        "--relay-process",
        action="store_true",
        help="also run a relay process of its own for feedback's outbox",
    )
    parser.add_argument(
        "--postgres-port", type=int, help="the cluster on 127.0.0.1 to make the database on"
    )
    parser.add_argument(
        "--private-postgres",
        action="store_true",
        help="a cluster of our own with pg_stat_statements, and Postgres's profile",
    )
    parser.add_argument(
        "--pg-setting",
        action="append",
        default=[],
        help="NAME=VALUE for the private cluster's postgresql.conf (repeatable)",
    )
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
            args.postgres_port,
            args.pg_setting if args.private_postgres else None,
            args.relay_process,
        )
    )


if __name__ == "__main__":
    main()
