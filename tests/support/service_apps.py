"""Each service's app as its `create_app` builds it, without starting it (building does no
I/O: the database and the broker are reached only at start-up)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from aiohttp import web

from services.common.config import Settings
from tests.support.infra import Database, Vhost
from tests.support.keys import KeyPair, new_keypair

SERVICES = ("articles", "feedback", "counter")
_KEYS = new_keypair()


def unstarted_settings(service: str) -> Settings:
    return Settings(
        service=service,
        database_url="postgresql://nobody@127.0.0.1:1/none",
        amqp_url="amqp://guest:guest@127.0.0.1:1/",
        auth_private_key=_KEYS.private_pem,
        auth_public_key=_KEYS.public_pem,
    )


def running_settings(service: str, database: Database, vhost: Vhost, keys: KeyPair) -> Settings:
    """A service's settings on a test's own database and vhost (only articles signs)."""
    return Settings(
        service=service,
        database_url=database.dsn(service),
        amqp_url=vhost.url,
        auth_public_key=keys.public_pem,
        auth_private_key=keys.private_pem if service == "articles" else None,
        relay_poll_seconds=0.5,
    )


def build_app(service: str) -> web.Application:
    create_app: Callable[[Settings], web.Application] = import_module(
        f"services.{service}.app"
    ).create_app
    return create_app(unstarted_settings(service))
