"""Faults under load: the whole site, started by the local runner with the gateway on a
private Postgres and a private RabbitMQ (tests/support/private_services.py: these tests
restart them), takes a steady load of views, feedback and article changes (tests/faults/
load.py) while, three times each: each service process and the gateway is killed
(SIGKILL; the runner starts it again), RabbitMQ restarts, Postgres restarts, a consumer
is paused past the broker's consumer timeout (SIGSTOP, then SIGCONT), and the broker's
memory alarm blocks every publisher for a while.

After each round the site must serve every kind of request again by itself (the time from
the fault to that first success is its recovery time); after each kind of fault the load
pauses and the invariants of tests/faults/invariants.py must hold exactly. The last test
prints the table of recovery times and counts (docs/reliability.md records a run):

    .venv/bin/python -m pytest tests/faults -p no:cacheprovider -s

About five minutes on two cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from scripts.run_local import Local, LocalStack
from tests.e2e.conftest import ADMIN, Accounts
from tests.faults.invariants import Comparison, compare
from tests.faults.load import KINDS, Load
from tests.support.infra import rabbitmqctl
from tests.support.polling import eventually
from tests.support.private_services import (
    PrivatePostgres,
    PrivateRabbitMQ,
    free_port,
    private_postgres,
    private_rabbitmq,
)

pytestmark = pytest.mark.fault

ROUNDS = 3
TARGETS = 4  # articles that receive the views and feedback
# The broker gives a consumer this long to ack a message (ms), and checks every second
# (its default: every minute), so a pause of PAUSE_SECONDS is well past it.
CONSUMER_TIMEOUT_MS = 2000
PAUSE_SECONDS = 5.0
ALARM_SECONDS = 4.0
RECOVERY_TIMEOUT = 60.0
SETTLE_TIMEOUT = 60.0
# Seconds of steady load between two rounds.
STEADY_SECONDS = 1.0
# Per-address limits of the feedback service (each reader here has its own address, but
# the day's limit would still count retries across a long run).
ENVIRONMENT = {"FEEDBACK_DAILY_LIMIT_PER_ADDRESS": "1000", "FEEDBACK_LIMIT_PER_MINUTE": "1000"}


@dataclass
class Round:
    fault: str
    number: int
    recovery: float  # seconds from the fault to the first success again of every kind
    failed: dict[str, int]  # requests of each kind that failed meanwhile
    answers: str  # the failed requests' answers, e.g. "503 x12, TimeoutError x3"


ROUNDS_DONE: list[Round] = []
CHECKS: list[tuple[str, Comparison]] = []


# --- the site --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rabbit() -> Iterator[PrivateRabbitMQ]:
    with private_rabbitmq(
        config=f"consumer_timeout = {CONSUMER_TIMEOUT_MS}",
        advanced="[{rabbit, [{channel_tick_interval, 1000}]}].",
    ) as node:
        yield node


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    with private_postgres() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def stack(
    rabbit: PrivateRabbitMQ, postgres: PrivatePostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    saved = {name: os.environ.get(name) for name in ENVIRONMENT}
    os.environ.update(ENVIRONMENT)  # read by the local runner, as compose's settings are
    local = Local(
        run_dir=tmp_path_factory.mktemp("faults"),
        pg_port=postgres.port,
        amqp_url=rabbit.url,
        management_url=rabbit.management_url,
        gateway_port=free_port(),
        ports={name: free_port() for name in ("articles", "feedback", "counter")},
        admin_password=str(ADMIN["password"]),
    )
    site = LocalStack(local)
    try:
        site.start()
        yield site
    finally:
        site.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
async def admin_db(stack: LocalStack) -> AsyncIterator[asyncpg.Pool]:
    local = stack.local
    pool = await asyncpg.create_pool(
        local.dsn("postgres"), min_size=1, max_size=2, max_inactive_connection_lifetime=1
    )
    yield pool
    await pool.close()


class Token:
    """The admin's bearer token, fetched again before it runs out, signing in as a person
    does (the first time, the first admin chooses their own password: tests/e2e's
    Accounts)."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.accounts = Accounts(http)

    async def __call__(self) -> str:
        headers = await self.accounts.headers("admin")
        return headers["Authorization"].removeprefix("Bearer ")


@pytest.fixture(scope="module")
async def load(stack: LocalStack, admin_db: asyncpg.Pool) -> AsyncIterator[Load]:
    sign_in = aiohttp.ClientSession(base_url=stack.url)
    token = Token(sign_in)
    headers = {"Authorization": f"Bearer {await token()}"}
    async with aiohttp.ClientSession(base_url=stack.url, headers=headers) as http:
        async with http.post("/api/v1/categories", json={"name": "Tin thử tải"}) as answer:
            assert answer.status == 201, await answer.text()
            category_id = (await answer.json())["id"]
        targets = []
        for n in range(TARGETS):
            article = {
                "title": f"Bản tin nhận lượt xem {n}",
                "summary": "Tóm tắt.",
                "body_html": "<p>Nội dung.</p>",
                "category_id": category_id,
            }
            async with http.post("/api/v1/articles", json=article) as answer:
                assert answer.status == 201, await answer.text()
                article_id = (await answer.json())["id"]
            async with http.post(f"/api/v1/articles/{article_id}/publish") as answer:
                assert answer.status == 200, await answer.text()
            targets.append(article_id)

    async def known_everywhere() -> bool:
        known = await admin_db.fetchval(
            """SELECT count(*) FROM feedback.articles f JOIN counter.articles c USING (id)
                WHERE id = ANY($1::bigint[]) AND f.published AND c.countable""",
            targets,
        )
        return bool(known == len(targets))

    await eventually(known_everywhere, timeout=30, interval=0.3)
    await asyncio.sleep(1)  # the counter's in-memory set follows its table by NOTIFY
    running = Load(stack.url, token, targets, category_id)
    await running.start()
    await steady(running, 4.0)
    yield running
    await running.stop()
    await sign_in.close()


async def steady(load: Load, seconds: float) -> None:
    """Let the load run, and make sure every kind succeeds before a fault."""
    began = time.monotonic()
    await asyncio.sleep(seconds)
    await eventually(
        lambda: all(load.recovered_at(kind, began) for kind in KINDS),
        timeout=RECOVERY_TIMEOUT,
        interval=0.2,
        message="every kind of request succeeding before the fault",
    )


async def recover(load: Load, fault: str, number: int, began: float) -> Round:
    """Wait until every kind of request succeeds again; record the round."""
    await eventually(
        lambda: all(load.recovered_at(kind, began) for kind in KINDS),
        timeout=RECOVERY_TIMEOUT,
        interval=0.1,
        message=f"{fault}: every kind of request succeeding again",
    )
    moments = [load.recovered_at(kind, began) for kind in KINDS]
    recovery = max(m for m in moments if m is not None) - began
    failed = {kind: load.failures(kind, began, began + recovery) for kind in KINDS}
    answers = Counter(
        str(a.status) for a in load.done(since=began) if not a.ok and a.started <= began + recovery
    )
    done = Round(
        fault, number, recovery, failed, ", ".join(f"{k} x{n}" for k, n in answers.most_common())
    )
    ROUNDS_DONE.append(done)
    print(f"[faults] {fault} #{number}: recovered in {recovery:.1f} s, failed {failed}")
    return done


async def invariants_hold(
    load: Load, admin_db: asyncpg.Pool, rabbit: PrivateRabbitMQ, after: str
) -> Comparison:
    """Pause the load, wait for the site to catch up, and compare exactly."""
    await load.pause()
    last: list[Comparison] = []

    async def agreed() -> bool:
        async with admin_db.acquire() as conn:
            found = await compare(conn, load, rabbit.node)
        last[:] = [found]
        return not found.problems

    try:
        await eventually(agreed, timeout=SETTLE_TIMEOUT, interval=1.0, message=after)
    except AssertionError:
        pass
    finally:
        load.resume()
    comparison = last[-1]
    CHECKS.append((after, comparison))
    print(f"[faults] after {after}: {comparison.counts}")
    assert not comparison.problems, f"after {after}: {comparison.problems}"
    return comparison


# --- the faults ------------------------------------------------------------------------


# The gateway too: compose restarts it, and so does the runner (its nginx workers, left
# holding the port by a killed master, are ended first).
@pytest.mark.parametrize("service", ["articles", "feedback", "counter", "gateway"])
async def test_a_killed_service_is_started_again_and_nothing_is_lost(
    service: str,
    stack: LocalStack,
    load: Load,
    admin_db: asyncpg.Pool,
    rabbit: PrivateRabbitMQ,
) -> None:
    for number in range(1, ROUNDS + 1):
        killed = stack.processes[service]
        began = time.monotonic()
        if service == "gateway":  # all of nginx, master and workers, as a container's kill
            os.killpg(killed.pid, signal.SIGKILL)
        else:
            killed.send_signal(signal.SIGKILL)
        await asyncio.to_thread(killed.wait, 10)
        await eventually(
            lambda: stack.processes[service] is not killed,  # noqa: B023
            timeout=10,
            interval=0.1,
            message=f"the runner starting {service} again",
        )
        await recover(load, f"SIGKILL {service}", number, began)
        await steady(load, STEADY_SECONDS)
    # Said in the runner's log; the back-off doubles when a process is killed again within
    # 10 s of its start (1 s, 2 s, 4 s ...).
    restarts = [r for r in stack.supervisor.restarts if r[0] == service][-ROUNDS:]
    assert [code for _, code, _ in restarts] == [-9] * ROUNDS
    assert all(delay <= 4 for _, _, delay in restarts), restarts
    log = (stack.logs / f"{service}.log").read_text(errors="replace")
    assert f"{service} exited with -9; restarting in 1 s" in log
    await invariants_hold(load, admin_db, rabbit, f"SIGKILL {service} x{ROUNDS}")


async def test_rabbitmq_restarts(
    load: Load, admin_db: asyncpg.Pool, rabbit: PrivateRabbitMQ
) -> None:
    for number in range(1, ROUNDS + 1):
        began = time.monotonic()
        await rabbit.arestart()
        await recover(load, "RabbitMQ restart", number, began)
        await steady(load, STEADY_SECONDS)
    await invariants_hold(load, admin_db, rabbit, f"RabbitMQ restart x{ROUNDS}")


async def test_postgres_restarts(
    load: Load, admin_db: asyncpg.Pool, postgres: PrivatePostgres, rabbit: PrivateRabbitMQ
) -> None:
    for number in range(1, ROUNDS + 1):
        began = time.monotonic()
        await postgres.arestart()
        await recover(load, "Postgres restart", number, began)
        await steady(load, STEADY_SECONDS)
    await invariants_hold(load, admin_db, rabbit, f"Postgres restart x{ROUNDS}")


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (a service's supervisor and its worker processes)."""
    tree = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                tree += process_tree(int(child))
    return tree


def signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def consumer_timeouts(rabbit: PrivateRabbitMQ) -> int:
    """How often the broker closed a channel for a delivery not acked in time."""
    return sum(
        path.read_text(errors="replace").count("delivery acknowledgement")
        for path in Path(rabbit.root / "log").glob("*.log")
    )


async def test_a_consumer_paused_past_the_consumer_timeout(
    stack: LocalStack, load: Load, admin_db: asyncpg.Pool, rabbit: PrivateRabbitMQ
) -> None:
    # Each service in turn: each consumes events the load makes (article.* for feedback
    # and counter, views.counted for articles), so it holds unacked messages when paused.
    for number, service in enumerate(("feedback", "counter", "articles"), start=1):
        timeouts_before = await asyncio.to_thread(consumer_timeouts, rabbit)
        # The service's process and its workers (<SERVICE>_PROCESSES), all of them.
        paused = process_tree(stack.processes[service].pid)
        began = time.monotonic()
        signal_all(paused, signal.SIGSTOP)
        try:
            await asyncio.sleep(PAUSE_SECONDS)
        finally:
            signal_all(paused, signal.SIGCONT)
        fault = f"{service} paused {PAUSE_SECONDS:g} s"
        await recover(load, fault, number, began)
        timed_out = await asyncio.to_thread(consumer_timeouts, rabbit) - timeouts_before
        assert timed_out >= 1, f"the broker did not time {service}'s consumer out"
        await steady(load, STEADY_SECONDS)
    await invariants_hold(load, admin_db, rabbit, f"consumer timeout x{ROUNDS}")


async def test_the_memory_alarm_blocks_publishers(
    load: Load, admin_db: asyncpg.Pool, rabbit: PrivateRabbitMQ
) -> None:
    for number in range(1, ROUNDS + 1):
        await asyncio.to_thread(
            rabbitmqctl, "set_vm_memory_high_watermark", "0.0000001", node=rabbit.node
        )
        began = time.monotonic()  # the alarm is raised (rabbitmqctl itself takes a second)
        try:
            await asyncio.sleep(ALARM_SECONDS)
        finally:
            await asyncio.to_thread(
                rabbitmqctl, "set_vm_memory_high_watermark", "0.4", node=rabbit.node
            )
        await recover(load, "memory alarm", number, began)
        await steady(load, STEADY_SECONDS)
    await invariants_hold(load, admin_db, rabbit, f"memory alarm x{ROUNDS}")


def test_report() -> None:
    """The table docs/reliability.md records (shown with -s)."""
    lines = [
        "| fault | round | recovery (s) | failed views | failed feedback | failed changes "
        "| their answers |",
        "|---|---|---|---|---|---|---|",
    ]
    for done in ROUNDS_DONE:
        failed = done.failed
        lines.append(
            f"| {done.fault} | {done.number} | {done.recovery:.1f} | {failed['views']} | "
            f"{failed['feedback']} | {failed['changes']} | {done.answers or '-'} |"
        )
    lines += ["", "| after | " + " | ".join(CHECKS[0][1].counts) + " |" if CHECKS else ""]
    if CHECKS:
        lines.append("|---" * (len(CHECKS[0][1].counts) + 1) + "|")
        for after, comparison in CHECKS:
            lines.append(f"| {after} | " + " | ".join(map(str, comparison.counts.values())) + " |")
    print("\n" + "\n".join(lines))
