"""The one-shot topology step against the real RabbitMQ."""

from __future__ import annotations

import subprocess
import sys

from services.common.events import topology
from services.common.events.envelope import EXCHANGE, CloudEvent, source_of
from services.common.web import SUBSCRIPTIONS
from tests.support.amqp import drain, publish_event
from tests.support.infra import ROOT, Vhost, rabbitmqctl
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
