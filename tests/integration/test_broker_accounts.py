"""Each service's own broker account, made by the topology step, against the real RabbitMQ:
it may publish only its own events and read only its own queues, and the real relay and
consumer work with it. A private vhost; the users (broker-wide) are unique to the run and
deleted at the end."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import ProbableAuthenticationError
from aiormq.exceptions import ChannelAccessRefused

from services.common import db
from services.common.events import accounts
from services.common.events.accounts import Account
from services.common.events.broker import Publisher, connect
from services.common.events.consumer import Consumer
from services.common.events.envelope import EXCHANGE, CloudEvent
from services.common.events.outbox import write_event
from services.common.events.relay import OutboxRelay
from services.common.events.topology import INTERNAL_EXCHANGE
from tests.support.amqp import drain
from tests.support.events import submitted
from tests.support.infra import (
    ROOT,
    Database,
    Vhost,
    create_database,
    create_vhost,
    delete_vhost,
    drop_database,
    management,
    rabbitmqctl,
)
from tests.support.polling import eventually


def run_step(vhost: Vhost, users: dict[str, Account], tmp: Path) -> None:
    """The real command, each account given another way: the password in the URL, in
    <SERVICE>_AMQP_PASSWORD, in <SERVICE>_AMQP_PASSWORD_FILE."""
    where = f"127.0.0.1:5672/{quote(vhost.name, safe='')}"
    counter_password = tmp / "counter-password"
    counter_password.write_text(users["counter"].password + "\n")
    a, f, c = users["articles"], users["feedback"], users["counter"]
    env = {
        "PATH": "/usr/bin:/bin",
        "AMQP_URL": vhost.url,
        "ARTICLES_AMQP_URL": f"amqp://{a.user}:{quote(a.password, safe='')}@{where}",
        "FEEDBACK_AMQP_URL": f"amqp://{f.user}@{where}",
        "FEEDBACK_AMQP_PASSWORD": f.password,
        "COUNTER_AMQP_URL": f"amqp://{c.user}@{where}",
        "COUNTER_AMQP_PASSWORD_FILE": str(counter_password),
    }
    subprocess.run(
        [sys.executable, "-m", "services.common.events.topology"],
        env=env,
        cwd=ROOT,
        check=True,
        timeout=60,
        capture_output=True,
    )


def new_accounts(run: str, version: str) -> dict[str, Account]:
    # A password with characters a URL must escape.
    return {
        s: Account(s, f"bantin-test-{run}-{s}", f"{version}-{s}/p@ss:{uuid.uuid4().hex}")
        for s in accounts.SERVICES
    }


@pytest.fixture(scope="module")
def tmp_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("accounts")


@pytest.fixture(scope="module")
def run_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def private_vhost(run_id: str) -> Iterator[Vhost]:
    vhost = create_vhost()
    yield vhost
    delete_vhost(vhost)
    for service in accounts.SERVICES:
        subprocess.run(
            ["rabbitmqctl", "delete_user", f"bantin-test-{run_id}-{service}"],
            capture_output=True,
            check=False,
        )


@pytest.fixture(scope="module")
def users(private_vhost: Vhost, run_id: str, tmp_dir: Path) -> dict[str, Account]:
    made = new_accounts(run_id, "first")
    run_step(private_vhost, made, tmp_dir)
    return made


def url(users: dict[str, Account], service: str, vhost: Vhost) -> str:
    """The private vhost, with the service's account."""
    account = users[service]
    credentials = f"{quote(account.user, safe='')}:{quote(account.password, safe='')}"
    return f"amqp://{credentials}@{vhost.host}:{vhost.port}/{quote(vhost.name, safe='')}"


async def publish(amqp_url: str, exchange: str, routing_key: str) -> bool:
    """Publish one event as the services do (Publisher: confirmed, mandatory)."""
    connection = await connect(amqp_url, "test-accounts")
    try:
        publisher = Publisher(connection)
        await publisher.start()
        return await publisher.publish(exchange, routing_key, b"{}", message_id=uuid.uuid4().hex)
    finally:
        await connection.close()


async def test_a_service_publishes_its_own_events_and_is_refused_any_other(
    users: dict[str, Account], private_vhost: Vhost
) -> None:
    articles = url(users, "articles", private_vhost)
    assert await publish(articles, EXCHANGE, "article.published")
    with pytest.raises(ChannelAccessRefused, match="feedback.approved"):
        await publish(articles, EXCHANGE, "feedback.approved")
    with pytest.raises(ChannelAccessRefused):
        await publish(articles, INTERNAL_EXCHANGE, "views.batch")

    counter = url(users, "counter", private_vhost)
    assert await publish(counter, INTERNAL_EXCHANGE, "views.batch")
    assert await publish(counter, EXCHANGE, "views.counted")
    with pytest.raises(ChannelAccessRefused, match="article.published"):
        await publish(counter, EXCHANGE, "article.published")

    feedback = url(users, "feedback", private_vhost)
    with pytest.raises(ChannelAccessRefused, match="views.counted"):
        await publish(feedback, EXCHANGE, "views.counted")
    for queue in ("feedback.article-state", "counter.article-state", "articles.views-counted"):
        await drain(private_vhost.url, queue)


async def no_handling(message: AbstractIncomingMessage) -> None:
    raise AssertionError("no message may reach a consumer refused the queue")


async def test_a_service_reads_only_its_own_queues_and_declares_nothing(
    users: dict[str, Account], private_vhost: Vhost
) -> None:
    connection = await aio_pika.connect(url(users, "feedback", private_vhost))
    async with connection:
        own = await (await connection.channel()).get_queue("feedback.article-state")
        assert await own.get(fail=False) is None
        for queue in ("articles.views-counted", "articles.feedback-cases.dead"):
            channel = await connection.channel()
            theirs = await channel.get_queue(queue)
            with pytest.raises(ChannelAccessRefused, match=queue):
                await theirs.consume(no_handling)
        with pytest.raises(ChannelAccessRefused):
            await (await connection.channel()).declare_queue("feedback.mine", durable=True)
        # Nor the default exchange (any queue by name): redrive needs the administrator.
        channel = await connection.channel(publisher_confirms=True)
        with pytest.raises(ChannelAccessRefused):
            await channel.default_exchange.publish(
                aio_pika.Message(b"{}"), routing_key="articles.views-counted"
            )


@pytest.fixture(scope="module")
def accounts_db() -> Iterator[Database]:
    database = create_database()
    yield database
    drop_database(database)


@pytest.fixture
async def pool(accounts_db: Database) -> AsyncIterator[asyncpg.Pool]:
    dsn = accounts_db.dsn("feedback")
    await db.migrate(dsn, ROOT / "services" / "feedback")
    pool = await db.create_pool(dsn)
    yield pool
    await pool.close()


async def test_the_relay_and_a_consumer_work_and_park_with_their_own_accounts(
    users: dict[str, Account], private_vhost: Vhost, accounts_db: Database, pool: asyncpg.Pool
) -> None:
    """feedback's relay publishes its outbox with feedback's account; articles' consumer
    takes the event with articles' account, and parks the one it cannot handle."""
    relay_connection = await connect(url(users, "feedback", private_vhost), "feedback-relay")
    publisher = Publisher(relay_connection)
    await publisher.start()
    relay = OutboxRelay(accounts_db.dsn("feedback"), pool, publisher, poll_seconds=60)
    consumer_connection = await connect(url(users, "articles", private_vhost), "articles")
    handled: list[str] = []

    async def handle(conn: asyncpg.Connection, event: CloudEvent) -> None:
        if event.data["id"] == 2:
            raise RuntimeError("cannot take this one")
        handled.append(event.subject)

    consumer = Consumer(
        "articles.feedback-cases",
        pool,
        consumer_connection,
        {"feedback.submitted": handle},
        max_attempts=1,
    )
    try:
        await consumer.start()
        await relay.start()
        async with pool.acquire() as conn, conn.transaction():
            for item in (1, 2):
                await write_event(conn, "feedback.submitted", submitted(item))
        relay.wake()
        await eventually(lambda: handled == ["1"], message="feedback 1 handled")
        parked = await eventually(
            lambda: drain(private_vhost.url, "articles.feedback-cases.dead"),
            message="feedback 2 parked",
        )
        assert [json.loads(m.body)["subject"] for m in parked] == ["2"]

        async def all_sent() -> bool:
            return await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0

        await eventually(all_sent)
    finally:
        await relay.stop()
        await consumer.stop()
        await relay_connection.close()
        await consumer_connection.close()


def granted(vhost: Vhost, users: dict[str, Account]) -> list[Any]:
    """What the broker holds for each account: its user record (the password's hash
    included), permissions and topic permissions."""
    v = quote(vhost.name, safe="")
    return [
        (
            management("GET", f"/users/{quote(a.user, safe='')}"),
            management("GET", f"/permissions/{v}/{quote(a.user, safe='')}"),
            management("GET", f"/users/{quote(a.user, safe='')}/topic-permissions"),
        )
        for a in users.values()
    ]


async def test_running_the_step_again_changes_nothing_and_a_new_password_is_taken(
    users: dict[str, Account], private_vhost: Vhost, run_id: str, tmp_dir: Path
) -> None:
    before = granted(private_vhost, users)
    assert before[0][0]["tags"] in ([], "")  # no management or administrator rights
    run_step(private_vhost, users, tmp_dir)
    assert granted(private_vhost, users) == before

    renewed = new_accounts(run_id, "second")
    run_step(private_vhost, renewed, tmp_dir)
    try:
        with pytest.raises(ProbableAuthenticationError):
            await aio_pika.connect(url(users, "counter", private_vhost), timeout=10)
        assert await publish(
            url(renewed, "counter", private_vhost), INTERNAL_EXCHANGE, "views.batch"
        )
        await drain(private_vhost.url, "counter.view-batches")
        after = granted(private_vhost, renewed)
        assert [(p, t) for _, p, t in after] == [(p, t) for _, p, t in before]
    finally:
        run_step(private_vhost, users, tmp_dir)  # the module's accounts as they were


def test_a_service_account_may_not_be_the_administrator(private_vhost: Vhost) -> None:
    where = f"127.0.0.1:5672/{quote(private_vhost.name, safe='')}"
    answer = subprocess.run(
        [sys.executable, "-m", "services.common.events.topology"],
        env={
            "PATH": "/usr/bin:/bin",
            "AMQP_URL": private_vhost.url,
            "ARTICLES_AMQP_URL": f"amqp://guest:guest@{where}",
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert answer.returncode != 0
    assert "administrator's account" in answer.stderr
    assert "[administrator]" in rabbitmqctl("list_users")  # guest left as it was


async def test_an_event_the_account_may_not_publish_stays_in_the_outbox(
    users: dict[str, Account], private_vhost: Vhost, accounts_db: Database, pool: asyncpg.Pool
) -> None:
    """A relay on the wrong account (counter's, for feedback's outbox): the broker refuses
    the event, which stays unsent with the reason, to go out once the account is right."""
    await pool.execute("DELETE FROM outbox")
    connection = await connect(url(users, "counter", private_vhost), "wrong-relay")
    publisher = Publisher(connection)
    await publisher.start()
    relay = OutboxRelay(accounts_db.dsn("feedback"), pool, publisher, poll_seconds=60)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await write_event(conn, "feedback.submitted", submitted(3))
        await relay.start()

        async def refused() -> asyncpg.Record | None:
            return await pool.fetchrow("SELECT sent_at, last_error FROM outbox WHERE attempts > 0")

        row = await eventually(refused, message="the publish refused")
        assert row["sent_at"] is None
        assert "ACCESS_REFUSED" in row["last_error"]
    finally:
        await relay.stop()
        await connection.close()
        await pool.execute("DELETE FROM outbox")
