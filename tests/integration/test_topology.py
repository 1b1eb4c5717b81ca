"""The one-shot topology step against the real RabbitMQ."""

from __future__ import annotations

import subprocess
import sys

from services.common.events import topology
from services.common.events.envelope import CloudEvent, source_of
from tests.support.amqp import drain, publish_event
from tests.support.infra import ROOT, Vhost, rabbitmqctl


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


async def test_topology_binds_each_queue_to_the_event_types_it_consumes(
    amqp_url: str, vhost: Vhost
) -> None:
    declared = bindings(vhost)
    for spec in topology.QUEUES:
        for event_type in spec.routing_keys:
            assert f"{spec.exchange}\t{spec.name}\t{event_type}" in declared
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
