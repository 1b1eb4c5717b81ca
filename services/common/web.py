"""What every service's aiohttp app shares: typed app keys, the resources' start-up and
clean-up in dependency order, health and metrics endpoints, and the process entry point."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web
from aiohttp.typedefs import Handler as HttpHandler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.common import db
from services.common.auth import (
    ACCESS_COOKIE,
    SESSION_COOKIE,
    VERIFIER,
    TokenVerifier,
    bearer_token,
)
from services.common.config import ConfigError, Settings
from services.common.errors import Problem, error_middleware
from services.common.events import housekeeping, topology
from services.common.events.broker import Publisher, connect
from services.common.events.consumer import Consumer, Handler
from services.common.events.grouping import Grouping, GroupingConsumer
from services.common.events.relay import OutboxRelay
from services.common.logs import setup_logging

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
AMQP = web.AppKey("amqp", AbstractRobustConnection)
PUBLISHER = web.AppKey("publisher", Publisher)
RELAY = web.AppKey("relay", OutboxRelay)
CONSUMERS = web.AppKey("consumers", list[Consumer])


@dataclass(frozen=True)
class Subscription:
    """A queue of the topology (services/common/events/topology.py) this service consumes,
    with one handler for each routing key bound to it: no more, no fewer."""

    queue: str
    handlers: Mapping[str, Handler]
    # Several messages in one transaction (events/grouping.py); the handlers above still
    # handle a message alone when its group failed.
    grouping: Grouping | None = None

    @property
    def spec(self) -> topology.QueueSpec:
        return topology.queue(self.queue)

    def check(self) -> None:
        """ConfigError unless the queue exists and its handlers match its bindings: a key
        bound without a handler would park every such event as "no handler", a handler
        without a binding would never run."""
        try:
            bound = set(self.spec.routing_keys)
        except KeyError as exc:
            raise ConfigError(f"subscription to {self.queue!r}: no such queue") from exc
        if self.grouping is not None and self.spec.versioned:
            raise ConfigError(f"subscription to {self.queue!r}: a versioned queue is not grouped")
        handled = set(self.handlers)
        if handled != bound:
            raise ConfigError(
                f"subscription to {self.queue!r}: bound to {sorted(bound)} but handles "
                f"{sorted(handled)} (missing {sorted(bound - handled)}, "
                f"unbound {sorted(handled - bound)})"
            )


SUBSCRIPTIONS = web.AppKey("subscriptions", tuple[Subscription, ...])


def create_base_app(
    settings: Settings,
    service_dir: Path,
    subscriptions: Sequence[Subscription] = (),
    client_max_size: int | None = None,
) -> web.Application:
    """An app with the service's database pool (migrated), broker connection, outbox relay
    and consumers, plus /healthz, /readyz and /metrics."""
    app = web.Application(
        middlewares=[error_middleware, same_origin_changes],
        client_max_size=client_max_size or settings.max_body_bytes,
    )
    for subscription in subscriptions:
        subscription.check()
    app[SETTINGS] = settings
    app[SUBSCRIPTIONS] = tuple(subscriptions)
    if settings.auth_public_key:
        app[VERIFIER] = TokenVerifier(settings.auth_public_key)
    app.cleanup_ctx.append(_database(service_dir))
    app.cleanup_ctx.append(_broker)
    app.cleanup_ctx.append(_relay)
    app.cleanup_ctx.append(_consumers(subscriptions))
    # Stop taking messages before the HTTP server and the pool go away.
    app.on_shutdown.append(_stop_consumers)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


def _database(service_dir: Path) -> Callable[[web.Application], AsyncIterator[None]]:
    async def database(app: web.Application) -> AsyncIterator[None]:
        dsn = app[SETTINGS].database_url
        await db.migrate(dsn, service_dir)
        app[POOL] = await db.create_pool(dsn)
        yield
        await app[POOL].close()

    return database


async def _broker(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[AMQP] = await connect(settings.amqp_url, settings.service)
    app[PUBLISHER] = Publisher(app[AMQP])
    await app[PUBLISHER].start()
    yield
    await app[PUBLISHER].close()
    await app[AMQP].close()


async def _relay(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    relay = OutboxRelay(
        settings.database_url, app[POOL], app[PUBLISHER], settings.relay_poll_seconds
    )
    app[RELAY] = relay
    await relay.start()
    pruning = asyncio.create_task(housekeeping.run_periodically(app[POOL]), name="prune")
    yield
    await housekeeping.stop(pruning)
    await relay.stop()


def _consumers(
    subscriptions: Sequence[Subscription],
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def consumers(app: web.Application) -> AsyncIterator[None]:
        prefetch = app[SETTINGS].consumer_prefetch
        app[CONSUMERS] = [
            Consumer(
                s.queue,
                app[POOL],
                app[AMQP],
                s.handlers,
                prefetch=prefetch,
                versioned=s.spec.versioned,
            )
            if s.grouping is None
            else GroupingConsumer(s.queue, app[POOL], app[AMQP], s.handlers, s.grouping)
            for s in subscriptions
        ]
        for consumer in app[CONSUMERS]:
            await consumer.start()
        yield
        await _stop_consumers(app)

    return consumers


async def _stop_consumers(app: web.Application) -> None:
    for consumer in app.get(CONSUMERS, []):
        await consumer.stop()


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SAME_ORIGIN_FETCH = frozenset({"same-origin", "none"})


@web.middleware
async def same_origin_changes(request: web.Request, handler: HttpHandler) -> web.StreamResponse:
    """Refuse a change that another site's page makes a browser send with the session
    cookie (CSRF). Browsers say where a request comes from in Sec-Fetch-Site and Origin;
    a program using a Bearer token is not a browser riding on a cookie and passes. Any
    other Authorization header (Basic, a bare word) does not: the cookie is what would
    authenticate such a request."""
    if (
        request.method not in SAFE_METHODS
        and (SESSION_COOKIE in request.cookies or ACCESS_COOKIE in request.cookies)
        and bearer_token(request) is None
        and not _from_same_origin(request)
    ):
        raise Problem(403, "cross_site_request", "Yêu cầu từ trang web khác bị từ chối.")
    return await handler(request)


def _from_same_origin(request: web.Request) -> bool:
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in SAME_ORIGIN_FETCH:
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # an older browser sends neither; SameSite=Lax still guards it
    return urlsplit(origin).netloc == request.host


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the database answers and the broker connection is open."""
    app = request.app
    checks: dict[str, str] = {}
    try:
        async with app[POOL].acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1", timeout=2)
        checks["database"] = "ok"
    except (*db.UNAVAILABLE_ERRORS, asyncpg.PostgresError) as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    # A robust connection is never "closed" while it reconnects; `connected` is cleared
    # the moment the broker goes away and set again when it is back.
    checks["broker"] = "ok" if app[AMQP].connected.is_set() else "unavailable"
    ready = all(v == "ok" for v in checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def client_address(request: web.Request) -> str:
    """The reader's address: the gateway's X-Forwarded-For, trusted only from a proxy
    listed in TRUSTED_PROXIES (DESIGN rule 9); otherwise the peer itself. Never log it."""
    peer = request.remote or ""
    trusted = request.app[SETTINGS].trusted_proxies
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and is_trusted_proxy(peer, trusted):
        return forwarded.split(",")[-1].strip()
    return peer


def is_trusted_proxy(peer: str, trusted: list[str]) -> bool:
    """True if `peer` is one of the configured proxies (addresses or networks)."""
    return _is_trusted(peer, tuple(trusted))


# Asked on every request that reads the client's address (each beacon), of the few peers
# a service sees (the gateway's addresses): parsing the peer and every network each time
# was a twentieth of the counter's time at full load.
@functools.lru_cache(maxsize=1024)
def _is_trusted(peer: str, trusted: tuple[str, ...]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in trusted)


def run(
    app_factory: Callable[[Settings], web.Application],
    service: str,
    port: int,
    reuse_port: bool = False,
) -> None:
    """`python -m services.<name>`: JSON logs, then serve until SIGTERM/SIGINT. On a signal
    aiohttp stops accepting, runs on_shutdown (consumers stop and finish their messages),
    waits for requests in flight, then runs the clean-ups (relay, broker, pool).
    `reuse_port`: several processes listen on the one port (SO_REUSEPORT)."""
    settings = Settings.from_env(service, default_port=port)
    setup_logging(service, settings.log_level)
    web.run_app(
        app_factory(settings),
        host=settings.http_host,
        port=settings.http_port,
        access_log=None,  # it would log client addresses
        shutdown_timeout=15,
        print=None,
        handle_signals=True,
        reuse_port=reuse_port or None,
    )
