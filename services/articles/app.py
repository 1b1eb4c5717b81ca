"""The articles service: public pages, the editors' JSON API, user administration, login,
and the read models of views and feedback.

    python -m services.articles     # port 8001
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives import serialization

from services.articles import (
    answers,
    api,
    desk,
    desk_admin,
    desk_editor,
    events,
    login,
    openapi,
    pages,
    passwords,
    sessions,
    tasks,
)
from services.articles.config import (
    CONFIG,
    DESK_CSRF,
    FORM_SECRET,
    ISSUER,
    RENDERED,
    THROTTLE_SECRET,
    ArticlesConfig,
    desk_csrf_secret,
    form_secret,
)
from services.articles.config import throttle_secret as make_throttle_secret
from services.articles.domain import RefusalError
from services.articles.rendered import RenderedPages
from services.articles.tokens import TokenIssuer, ttl_from_env
from services.common.auth import ACTIVE_CHECK, VERIFIER, TokenVerifier
from services.common.config import ConfigError, Settings
from services.common.csrf import CsrfTokens
from services.common.errors import refusal_middleware
from services.common.pages import TEMPLATES, make_environment
from services.common.periodic import Periodic
from services.common.roles import Principal
from services.common.web import POOL, Subscription, create_base_app

SERVICE_DIR = Path(__file__).parent

SUBSCRIPTIONS = (
    Subscription("articles.views-counted", {"views.counted": events.on_views_counted}),
    Subscription(
        "articles.feedback-public",
        {
            "feedback.approved": events.on_feedback_public,
            "feedback.updated": events.on_feedback_public,
            "feedback.withdrawn": events.on_feedback_withdrawn,
        },
    ),
    # desk: manage (the count of feedback waiting for moderation on the desk's home)
    Subscription(
        "articles.feedback-cases", dict.fromkeys(events.CASE_STATUS, events.on_feedback_case)
    ),
)


def _public_key_of(private_key_pem: str) -> str:
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def create_app(settings: Settings, config: ArticlesConfig | None = None) -> web.Application:
    if not settings.auth_private_key:
        raise ConfigError("articles signs access tokens: set AUTH_PRIVATE_KEY(_FILE)")
    # The app's own body limit stays small (MAX_BODY_BYTES); the article and image routes
    # raise theirs one by one (see services/articles/api.py).
    app = create_base_app(settings, SERVICE_DIR, subscriptions=SUBSCRIPTIONS)
    if VERIFIER not in app:
        # The public key follows from the private one: no second setting to get wrong.
        app[VERIFIER] = TokenVerifier(_public_key_of(settings.auth_private_key))
    app[ISSUER] = TokenIssuer(settings.auth_private_key, ttl_from_env())
    app[THROTTLE_SECRET] = make_throttle_secret(settings.auth_private_key)
    app[CONFIG] = config or ArticlesConfig.from_env()
    app[TEMPLATES] = make_environment(SERVICE_DIR)
    app[RENDERED] = RenderedPages()
    # --- desk: auth ---
    app[FORM_SECRET] = form_secret(settings.auth_private_key)
    passwords.configure(app[CONFIG].password_threads, app[CONFIG].password_queue)
    # After the base app's error handling and same-origin check, before the handlers.
    app.middlewares.append(sessions.renewal_middleware)

    async def principal_is_active(principal: Principal) -> bool:
        # Articles owns the users table: a disabled user's token (or one whose sign-in
        # session ended) is refused here at once.
        return await login.active_check(app[POOL], app[CONFIG].session_limits)(principal)

    app[ACTIVE_CHECK] = principal_is_active
    # After the pool (the base app's first resource): the scheduler's first round runs
    # at start, so what fell due while no instance ran publishes now.
    app.cleanup_ctx.append(_scheduler)
    # A refusal of the rules that a handler lets through is answered as its problem.
    app.middlewares.append(refusal_middleware(RefusalError, answers.problem_for))
    app.router.add_routes(openapi.routes)
    app.router.add_routes(api.routes)
    app.router.add_routes(pages.routes)
    # desk: manage (home, article list, categories, tags, topics, users, import)
    app[DESK_CSRF] = CsrfTokens(desk_csrf_secret(settings.auth_private_key))
    app.cleanup_ctx.append(desk_admin.import_tasks)
    app.router.add_routes(desk.routes)
    app.router.add_routes(desk_admin.routes)
    app.router.add_routes(desk_editor.routes)  # desk: editor
    return app


async def _scheduler(app: web.Application) -> AsyncIterator[None]:
    jobs = [
        Periodic(
            "articles-scheduler", app[CONFIG].schedule_interval, tasks.schedule_round(app[POOL])
        ),
        Periodic("articles-trash", tasks.PURGE_INTERVAL_SECONDS, tasks.purge_round(app[POOL])),
    ]
    for job in jobs:
        job.start()
    yield
    for job in jobs:
        await job.stop()
