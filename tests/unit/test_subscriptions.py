"""A service subscribes by naming a queue of the topology and its handlers; an app whose
handlers and the queue's bound routing keys differ refuses to be built."""

from __future__ import annotations

import pytest

from services.common.config import ConfigError
from services.common.events import topology
from services.common.web import SUBSCRIPTIONS, Subscription, create_base_app
from tests.support.infra import ROOT
from tests.support.service_apps import SERVICES, build_app, unstarted_settings


async def on_anything(conn: object, event: object) -> None:
    raise AssertionError("never called")


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_consumes_every_queue_named_for_it_with_a_handler_per_binding(
    service: str,
) -> None:
    subscribed = {s.queue: set(s.handlers) for s in build_app(service)[SUBSCRIPTIONS]}
    wanted = {
        spec.name: set(spec.routing_keys)
        for spec in topology.QUEUES
        if spec.name.startswith(f"{service}.")
    }
    assert subscribed == wanted


def test_a_bound_routing_key_without_a_handler_is_refused() -> None:
    missing = Subscription("feedback.article-state", {"article.published": on_anything})
    with pytest.raises(ConfigError, match=r"missing \['article.unpublished', 'article.updated'\]"):
        create_base_app(unstarted_settings("feedback"), ROOT / "services" / "feedback", [missing])


def test_a_handler_for_a_key_the_queue_is_not_bound_to_is_refused() -> None:
    handlers = dict.fromkeys(topology.queue("articles.views-counted").routing_keys, on_anything)
    extra = Subscription("articles.views-counted", {**handlers, "feedback.approved": on_anything})
    with pytest.raises(ConfigError, match=r"unbound \['feedback.approved'\]"):
        create_base_app(unstarted_settings("articles"), ROOT / "services" / "articles", [extra])


def test_a_queue_missing_from_the_topology_is_refused() -> None:
    unknown = Subscription("articles.nothing", {"views.counted": on_anything})
    with pytest.raises(ConfigError, match="no such queue"):
        create_base_app(unstarted_settings("articles"), ROOT / "services" / "articles", [unknown])
