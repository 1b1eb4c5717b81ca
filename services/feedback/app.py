"""The feedback service: readers' forms and API, moderation, and the read model of the
articles that may receive feedback (fed by events; DESIGN rule 1: no call to articles)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from services.common.auth import SESSION_COOKIE
from services.common.config import Settings
from services.common.errors import Problem
from services.common.pages import TEMPLATES, make_environment
from services.common.web import Subscription, create_base_app
from services.feedback import api, events, moderation, pages
from services.feedback.config import DAILY_CAP, FORM_SIGNER, FeedbackConfig
from services.feedback.limits import DailyCap
from services.feedback.spam import FormSigner

SERVICE_DIR = Path(__file__).parent
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Where the session cookie alone authorises a change (the readers' forms use no cookie).
COOKIE_GUARDED = ("/quan-tri/", "/api/v1/feedback/")


@web.middleware
async def no_cross_site_changes(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a change another site's page makes a browser send with the moderator's
    cookie (the browser says so in Sec-Fetch-Site); defence in depth beside the CSRF
    token of the moderation page and the cookie's SameSite."""
    if (
        request.method not in SAFE_METHODS
        and request.path.startswith(COOKIE_GUARDED)
        and SESSION_COOKIE in request.cookies
        and request.headers.get("Sec-Fetch-Site") == "cross-site"
    ):
        raise Problem(403, "cross_site_request", "Yêu cầu từ trang web khác bị từ chối.")
    return await handler(request)


def create_app(settings: Settings, config: FeedbackConfig | None = None) -> web.Application:
    """The app; `config` defaults to the environment's (FEEDBACK_FORM_SECRET,
    FEEDBACK_DAILY_LIMIT_PER_ADDRESS)."""
    config = config or FeedbackConfig.from_env()
    app = create_base_app(
        settings,
        SERVICE_DIR,
        subscriptions=[Subscription(events.QUEUE, events.HANDLERS)],
    )
    app.middlewares.append(no_cross_site_changes)
    app[TEMPLATES] = make_environment(SERVICE_DIR)
    app[FORM_SIGNER] = FormSigner(config.form_secret)
    app[DAILY_CAP] = DailyCap(config.form_secret, config.daily_limit_per_address)
    pages.add_routes(app)
    api.add_routes(app)
    moderation.add_routes(app)
    return app
