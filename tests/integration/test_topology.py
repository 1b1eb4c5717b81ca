"""The one-shot topology step against the real RabbitMQ."""

from __future__ import annotations

import subprocess
import sys
from typing import Any
from urllib.parse import quote

import aio_pika
import pytest

from services.common.events import topology
from services.common.events.envelope import EXCHANGE, CloudEvent, source_of
from services.common.web import SUBSCRIPTIONS
from tests.support.amqp import drain, publish_event
from tests.support.infra import ROOT, Vhost, create_vhost, delete_vhost, management, rabbitmqctl
from tests.support.polling import eventually
from tests.support.service_apps import SERVICES, build_app


def queues(vhost: Vhost) -> dict[str, str]:
    """Each queue's name and its arguments, as the broker reports them."""
    out = rabbitmqctl(
        "list_queues", "-p", vhost.name, "--no-table-headers", "-q", "name", "arguments"
    )
    return dict(line.split("\t", 1) for line in out.strip().splitlines())


def bindings(vhost: Vhost) -> list[str]:
    """Every binding (exchange, queue, routing key), as the broker reports them."""
    out = rabbitmqctl(
        "list_bindings", "-p", vhost.name, "--no-table-headers", "-q",
        "source_name", "destination_name", "routing_key",
    )  # fmt: skip
    return sorted(line for line in out.strip().splitlines() if not line.startswith("\t"))


def exchanges(vhost: Vhost) -> list[str]:
    out = rabbitmqctl(
        "list_exchanges", "-p", vhost.name, "--no-table-headers", "-q", "name", "type"
    )
    return sorted(line for line in out.strip().splitlines() if line.startswith("bantin."))


def subscribed_handlers() -> dict[tuple[str, str], set[str]]:
    """(service, queue) -> the routing keys its handlers take, from the services' apps."""
    return {
        (service, s.queue): set(s.handlers)
        for service in SERVICES
        for s in build_app(service)[SUBSCRIPTIONS]
    }


async def test_topology_binds_each_queue_to_the_event_types_it_consumes(
    amqp_url: str, vhost: Vhost
) -> None:
    """The broker's bindings, the topology and the services' handlers say the same thing:
    every queue is consumed by one service, with a handler for each key bound to it."""
    declared = bindings(vhost)
    bound: dict[str, set[str]] = {}
    for line in declared:
        exchange, queue, key = (line.split("\t") + [""])[:3]
        if exchange in (EXCHANGE, topology.INTERNAL_EXCHANGE):
            bound.setdefault(queue, set()).add(key)
    assert bound == {spec.name: set(spec.routing_keys) for spec in topology.QUEUES}
    handlers = subscribed_handlers()
    assert {queue: keys for (_, queue), keys in handlers.items()} == bound
    assert len({queue for _, queue in handlers}) == len(handlers)  # one consumer each
    for service, queue in handlers:
        assert queue.startswith(f"{service}."), "a queue is named for who consumes it"
    for spec in topology.QUEUES:
        assert f"bantin.dead\t{spec.dead_letter_queue}\t{spec.name}" in declared


async def test_topology_declares_every_queue_with_its_parking_queue(
    amqp_url: str, vhost: Vhost
) -> None:
    declared = queues(vhost)
    for spec in topology.QUEUES:
        assert "quorum" in declared[spec.name]
        assert "bantin.dead" in declared[spec.name]
        assert spec.dead_letter_queue in declared


async def test_running_the_step_twice_changes_nothing(amqp_url: str, vhost: Vhost) -> None:
    before = queues(vhost), bindings(vhost), exchanges(vhost)
    event = CloudEvent("article.published", source_of("articles"), "1", {"version": 1})
    await publish_event(amqp_url, event)

    # The real command, as compose and the local runner run it.
    subprocess.run(
        [sys.executable, "-m", "services.common.events.topology"],
        env={"AMQP_URL": amqp_url, "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        check=True,
        timeout=60,
    )

    assert (queues(vhost), bindings(vhost), exchanges(vhost)) == before
    waiting = await drain(amqp_url, "feedback.article-state")
    assert [m.message_id for m in waiting] == [event.id]
    await drain(amqp_url, "counter.article-state")


# The queue the desk's feedback count added (issue 10): a broker that ran the topology
# before it must take the new one as it is, keeping what waits on the older queues.
NEW_QUEUE = "articles.feedback-cases"


async def test_the_desk_queue_joins_a_broker_that_ran_the_earlier_topology(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vhost = create_vhost()
    try:
        earlier = tuple(q for q in topology.QUEUES if q.name != NEW_QUEUE)
        assert len(earlier) == len(topology.QUEUES) - 1
        with monkeypatch.context() as patched:
            patched.setattr(topology, "QUEUES", earlier)
            await topology.apply(vhost.url)
        assert NEW_QUEUE not in queues(vhost)
        before = queues(vhost)
        approved = CloudEvent("feedback.approved", source_of("feedback"), "7", {"version": 2})
        await publish_event(vhost.url, approved)

        # Today's step on the same broker: the new queue and its bindings, nothing else
        # changed, the waiting message still there.
        subprocess.run(
            [sys.executable, "-m", "services.common.events.topology"],
            env={"AMQP_URL": vhost.url, "PATH": "/usr/bin:/bin"},
            cwd=ROOT,
            check=True,
            timeout=60,
        )
        after = queues(vhost)
        assert {name: args for name, args in after.items() if name in before} == before
        assert "quorum" in after[NEW_QUEUE] and f"{NEW_QUEUE}.dead" in after
        keys = {
            line.split("\t")[2]
            for line in bindings(vhost)
            if line.split("\t")[:2] == [EXCHANGE, NEW_QUEUE]
        }
        assert keys == {
            "feedback.submitted",
            "feedback.approved",
            "feedback.rejected",
            "feedback.updated",
            "feedback.withdrawn",
        }
        waiting = await drain(vhost.url, "articles.feedback-public")
        assert [m.message_id for m in waiting] == [approved.id]
        submitted = CloudEvent("feedback.submitted", source_of("feedback"), "8", {"version": 1})
        await publish_event(vhost.url, submitted)
        assert [m.message_id for m in await drain(vhost.url, NEW_QUEUE)] == [submitted.id]
    finally:
        delete_vhost(vhost)


# --- the policies, applied to the queues of a running broker ------------------------------


def policies_in_effect(vhost: Vhost) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each queue's policy and the definition in effect, as the management API says."""
    return {
        q["name"]: (q.get("policy"), q.get("effective_policy_definition"))
        for q in management("GET", f"/queues/{quote(vhost.name, safe='')}")
    }


def queue_info(vhost: Vhost, name: str) -> dict[str, Any]:
    info: dict[str, Any] = management("GET", f"/queues/{quote(vhost.name, safe='')}/{name}")
    return info


def held_for_dead_lettering(info: dict[str, Any]) -> bool:
    return (info.get("messages"), info.get("messages_dlx")) == (1, 1)


async def over_the_delivery_limit(vhost: Vhost, queue: str) -> None:
    """A message whose consumer gives it back until the broker dead-letters it, while the
    parking queue is gone."""
    connection = await aio_pika.connect(vhost.url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.queue_delete(f"{queue}.dead")
        await channel.default_exchange.publish(aio_pika.Message(b"kept?"), routing_key=queue)
        consumer_queue = await channel.get_queue(queue, ensure=False)
        deliveries = 0
        while (message := await consumer_queue.get(fail=False)) is not None:
            await message.nack(requeue=True)
            deliveries += 1
        assert deliveries == topology.DELIVERY_LIMIT + 1


async def test_the_step_makes_the_queues_of_a_running_broker_dead_letter_at_least_once() -> None:
    """Today's queues (declared with the arguments they have on running brokers) get the
    policies from the step, since declaring them again with other arguments would fail;
    then a message the broker dead-letters while the parking queue is gone is kept."""
    vhost = create_vhost()
    queue = "feedback.article-state"
    try:
        connection = await aio_pika.connect(vhost.url)
        async with connection:
            await topology.declare(await connection.channel())  # no policies yet
        # Without them, the broker drops such a message (at most once).
        await over_the_delivery_limit(vhost, queue)
        await eventually(lambda: queue_info(vhost, queue).get("messages") == 0, timeout=20)

        subprocess.run(
            [sys.executable, "-m", "services.common.events.topology"],
            env={"AMQP_URL": vhost.url, "PATH": "/usr/bin:/bin"},
            cwd=ROOT,
            check=True,
            timeout=60,
        )

        reject = {"overflow": "reject-publish"}
        expected = {
            spec.name: ("bantin-dead-letter", {"dead-letter-strategy": "at-least-once", **reject})
            for spec in topology.QUEUES
        } | {spec.dead_letter_queue: ("bantin-parking", reject) for spec in topology.QUEUES}
        # The broker's figures lag a few seconds.
        await eventually(lambda: policies_in_effect(vhost) == expected, timeout=20)
        # With them, the broker keeps it until the parking queue takes it.
        await over_the_delivery_limit(vhost, queue)
        await eventually(
            lambda: (
                (
                    queue_info(vhost, queue).get("messages_dlx"),
                    queue_info(vhost, queue).get("messages"),
                )
                == (1, 1)
            ),
            timeout=20,
        )
    finally:
        delete_vhost(vhost)
