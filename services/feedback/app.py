"""The feedback service: readers' forms and API, moderation, and the read model of the
articles that may receive feedback (fed by events; DESIGN rule 1: no call to articles)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from services.common.config import Settings
from services.common.pages import TEMPLATES, make_environment
from services.common.periodic import Periodic
from services.common.web import POOL, Subscription, create_base_app
from services.feedback import api, events, openapi, pages, tasks
from services.feedback.config import (
    BANNED_WORDS,
    CASE_IDS,
    CONFIG,
    DAILY_CAP,
    FORM_SIGNER,
    LOOKUP_LIMITER,
    FeedbackConfig,
)
from services.feedback.limits import DailyCap
from services.feedback.lookups import LookupLimiter
from services.feedback.spam import BannedWords, FormSigner
from services.feedback.store import CaseIds

SERVICE_DIR = Path(__file__).parent


def create_app(settings: Settings, config: FeedbackConfig | None = None) -> web.Application:
    """The app; `config` defaults to the environment's (FeedbackConfig.from_env)."""
    config = config or FeedbackConfig.from_env()
    app = create_base_app(
        settings,
        SERVICE_DIR,
        subscriptions=[Subscription(events.QUEUE, events.HANDLERS)],
    )
    app[TEMPLATES] = make_environment(SERVICE_DIR)
    app[FORM_SIGNER] = FormSigner(config.form_secret)
    app[DAILY_CAP] = DailyCap(
        config.form_secret, config.daily_limit_per_address, config.limit_per_minute
    )
    app[BANNED_WORDS] = BannedWords(config.banned_words)
    app[CASE_IDS] = CaseIds()
    app[CONFIG] = config
    app[LOOKUP_LIMITER] = LookupLimiter(config.form_secret)
    # After the pool (the base app's first resource).
    app.cleanup_ctx.append(_retention)
    app.router.add_routes(openapi.routes)
    app.router.add_routes(pages.routes)
    app.router.add_routes(api.routes)
    return app


async def _retention(app: web.Application) -> AsyncIterator[None]:
    job = Periodic(
        "feedback-contact-retention",
        tasks.RETENTION_INTERVAL_SECONDS,
        tasks.retention_round(app[POOL], app[CONFIG].contact_retention_days),
    )
    job.start()
    yield
    await job.stop()
