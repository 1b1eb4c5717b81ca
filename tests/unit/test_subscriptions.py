"""A service subscribes by naming a queue of the topology and its handlers; an app whose
handlers and the queue's bound routing keys differ refuses to be built."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

import pytest
from aiohttp import web

from services.common.config import ConfigError, Settings
from services.common.events import topology
from services.common.web import SUBSCRIPTIONS, Subscription, create_base_app
from tests.support.infra import ROOT
from tests.support.keys import new_keypair

SERVICES = ("articles", "feedback", "counter")
KEYS = new_keypair()


def settings(service: str) -> Settings:
    # Building an app does no I/O: the database and broker are reached only at start-up.
    return Settings(
        service=service,
        database_url="postgresql://nobody@127.0.0.1:1/none",
        amqp_url="amqp://guest:guest@127.0.0.1:1/",
        auth_private_key=KEYS.private_pem,
        auth_public_key=KEYS.public_pem,
    )


def build(service: str) -> web.Application:
    create_app: Callable[[Settings], web.Application] = import_module(
        f"services.{service}.app"
    ).create_app
    return create_app(settings(service))


async def on_anything(conn: object, event: object) -> None:
    raise AssertionError("never called")


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_consumes_every_queue_named_for_it_with_a_handler_per_binding(
    service: str,
) -> None:
    subscribed = {s.queue: set(s.handlers) for s in build(service)[SUBSCRIPTIONS]}
    wanted = {
        spec.name: set(spec.routing_keys)
        for spec in topology.QUEUES
        if spec.name.startswith(f"{service}.")
    }
    assert subscribed == wanted


def test_a_bound_routing_key_without_a_handler_is_refused() -> None:
    missing = Subscription("feedback.article-state", {"article.published": on_anything})
    with pytest.raises(ConfigError, match=r"missing \['article.unpublished', 'article.updated'\]"):
        create_base_app(settings("feedback"), ROOT / "services" / "feedback", [missing])


def test_a_handler_for_a_key_the_queue_is_not_bound_to_is_refused() -> None:
    handlers = dict.fromkeys(topology.queue("articles.views-counted").routing_keys, on_anything)
    extra = Subscription("articles.views-counted", {**handlers, "feedback.approved": on_anything})
    with pytest.raises(ConfigError, match=r"unbound \['feedback.approved'\]"):
        create_base_app(settings("articles"), ROOT / "services" / "articles", [extra])


def test_a_queue_missing_from_the_topology_is_refused() -> None:
    unknown = Subscription("articles.nothing", {"views.counted": on_anything})
    with pytest.raises(ConfigError, match="no such queue"):
        create_base_app(settings("articles"), ROOT / "services" / "articles", [unknown])
