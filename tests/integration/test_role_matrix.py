"""The role matrix (issue 13): every route of every service, read from each app's router,
with every identity (nobody, each role, a disabled account, one that must change its
password, and tokens that are forged, expired or from another issuer), straight to the
service and through the real gateway in front of it. No identity is let through where the
table below says it must be refused (with its token as a bearer token and as the access
cookie), and what was refused changed no row. A route added later fails
`test_every_route_has_an_entry` until it is given an entry.

Requests the table allows are not carried out when they would change something (the point
is no wrong allow); allowed reads are made, and must not be refused, so that the table
cannot refuse a read the services allow. Through the gateway every answer must also carry
the security headers (tests/support/security_headers.py).
"""

from __future__ import annotations

import asyncio
import string
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from scripts.run_local import Local, LocalStack
from tests.support.documents import PDF_BYTES
from tests.support.matrix import IDENTITIES, Identity, Stack, running_stack
from tests.support.private_services import free_port
from tests.support.security_headers import missing_security_headers
from tests.support.service_apps import SERVICES, build_app
from tests.support.tools import needs

NGINX = needs("nginx")

# Who may: anyone; the service's own probes (anyone on its port, never through the
# gateway); or holders of one of these roles (admin holds every role).
PUBLIC = "public"
INTERNAL = "internal"
WRITERS = frozenset({"author", "editor"})
PUBLISHERS = frozenset({"editor"})
ADMINS = frozenset({"admin"})
MODERATORS = frozenset({"moderator"})
DESK_HOME = frozenset({"author", "editor", "moderator"})
Who = str | frozenset[str]


@dataclass(frozen=True)
class Case:
    who: Who
    path: str  # with {sample} fields (tests/support/matrix.py's samples)
    # Answering 404 is the documented refusal: the thing is not shown to whoever may not
    # see it (an editor's draft, to an author), rather than said to exist.
    hidden: bool = False


def cases(who: Who, *paths: str, hidden: bool = False) -> list[Case]:
    return [Case(who, path, hidden) for path in paths]


PROBES = {f"GET /{name}": cases(INTERNAL, f"/{name}") for name in ("healthz", "readyz", "metrics")}

# Keyed by service, then "METHOD path" as the router has it (HEAD goes with GET). Rows of
# an editor's draft are hidden from authors: the draft is where their refusals show.
DRAFT = "/api/v1/articles/{draft}"
TABLE: dict[str, dict[str, list[Case]]] = {
    "articles": {
        **PROBES,
        "GET /api/v1/articles/openapi.json": cases(PUBLIC, "/api/v1/articles/openapi.json"),
        # Credentials are in the body (a password) or the sign-in session cookie.
        "POST /api/v1/auth/token": cases(PUBLIC, "/api/v1/auth/token"),
        "POST /api/v1/auth/session": cases(PUBLIC, "/api/v1/auth/session"),
        "POST /api/v1/auth/refresh": cases(PUBLIC, "/api/v1/auth/refresh"),
        "POST /api/v1/auth/password": cases(PUBLIC, "/api/v1/auth/password"),
        "GET /api/v1/categories": cases(PUBLIC, "/api/v1/categories"),
        "POST /api/v1/categories": cases(PUBLISHERS, "/api/v1/categories"),
        "PATCH /api/v1/categories/{id}": cases(PUBLISHERS, "/api/v1/categories/{category}"),
        "DELETE /api/v1/categories/{id}": cases(PUBLISHERS, "/api/v1/categories/{category}"),
        "GET /api/v1/tags": cases(PUBLIC, "/api/v1/tags"),
        "POST /api/v1/tags": cases(WRITERS, "/api/v1/tags"),
        "PATCH /api/v1/tags/{id}": cases(PUBLISHERS, "/api/v1/tags/{tag}"),
        "DELETE /api/v1/tags/{id}": cases(PUBLISHERS, "/api/v1/tags/{tag}"),
        "GET /api/v1/topics": cases(PUBLIC, "/api/v1/topics"),
        "POST /api/v1/topics": cases(PUBLISHERS, "/api/v1/topics"),
        "PATCH /api/v1/topics/{id}": cases(PUBLISHERS, "/api/v1/topics/{topic}"),
        "DELETE /api/v1/topics/{id}": cases(PUBLISHERS, "/api/v1/topics/{topic}"),
        "POST /api/v1/articles": cases(WRITERS, "/api/v1/articles"),
        # Published articles for all; filtered by state, author or words, for writers
        # (an author's own only).
        "GET /api/v1/articles": [
            Case(PUBLIC, "/api/v1/articles"),
            *cases(WRITERS, "/api/v1/articles?status=draft", "/api/v1/articles?q=nh%C3%A1p"),
        ],
        "GET /api/v1/articles/{id}": [
            Case(PUBLIC, "/api/v1/articles/{article}"),
            Case(PUBLISHERS, DRAFT, hidden=True),
        ],
        "PATCH /api/v1/articles/{id}": cases(PUBLISHERS, DRAFT, hidden=True),
        **{
            f"POST /api/v1/articles/{{id}}/{action}": cases(
                PUBLISHERS, f"{DRAFT}/{action}", hidden=True
            )
            for action in (
                "submit",
                "return",
                "publish",
                "schedule",
                "unpublish",
                "delete",
                "restore",
            )
        },  # fmt: skip
        "DELETE /api/v1/articles/{id}": cases(PUBLISHERS, DRAFT, hidden=True),
        "GET /api/v1/articles/{id}/history": cases(PUBLISHERS, f"{DRAFT}/history", hidden=True),
        "GET /api/v1/articles/{id}/revisions": cases(PUBLISHERS, f"{DRAFT}/revisions", hidden=True),
        "GET /api/v1/articles/{id}/revisions/{rev}": cases(
            PUBLISHERS, f"{DRAFT}/revisions/{{revision}}", hidden=True
        ),
        "GET /api/v1/articles/{id}/revisions/compare": cases(
            PUBLISHERS, f"{DRAFT}/revisions/compare?from=1&to=1", hidden=True
        ),
        "POST /api/v1/articles/{id}/revisions/{rev}/restore": cases(
            PUBLISHERS, f"{DRAFT}/revisions/{{revision}}/restore", hidden=True
        ),
        "POST /api/v1/articles/{id}/feature": cases(
            PUBLISHERS, "/api/v1/articles/{article}/feature"
        ),
        "DELETE /api/v1/articles/{id}/feature": cases(
            PUBLISHERS, "/api/v1/articles/{article}/feature"
        ),
        "POST /api/v1/images": cases(WRITERS, "/api/v1/images"),
        "POST /api/v1/articles/{id}/documents": cases(
            PUBLISHERS, f"{DRAFT}/documents", hidden=True
        ),
        "GET /api/v1/articles/{id}/documents": cases(PUBLISHERS, f"{DRAFT}/documents", hidden=True),
        "PATCH /api/v1/documents/{id}": cases(
            PUBLISHERS, "/api/v1/documents/{document}", hidden=True
        ),
        "DELETE /api/v1/documents/{id}": cases(
            PUBLISHERS, "/api/v1/documents/{document}", hidden=True
        ),
        "GET /api/v1/documents/{id}/file": cases(
            PUBLISHERS, "/api/v1/documents/{document}/file", hidden=True
        ),
        "GET /api/v1/pages": cases(PUBLISHERS, "/api/v1/pages"),
        "POST /api/v1/pages": cases(PUBLISHERS, "/api/v1/pages"),
        "PUT /api/v1/pages/{slug}": cases(PUBLISHERS, "/api/v1/pages/{page}"),
        # A published page is public; its drafts show only to those who manage pages.
        "GET /api/v1/pages/{slug}": cases(PUBLIC, "/api/v1/pages/{page}"),
        "PATCH /api/v1/pages/{slug}": cases(PUBLISHERS, "/api/v1/pages/{page}"),
        "POST /api/v1/pages/{slug}/publish": cases(PUBLISHERS, "/api/v1/pages/{page}/publish"),
        "POST /api/v1/pages/{slug}/unpublish": cases(PUBLISHERS, "/api/v1/pages/{page}/unpublish"),
        "DELETE /api/v1/pages/{slug}": cases(PUBLISHERS, "/api/v1/pages/{page}"),
        "POST /api/v1/pages/{slug}/restore": cases(PUBLISHERS, "/api/v1/pages/{page}/restore"),
        "GET /api/v1/pages/{slug}/revisions": cases(PUBLISHERS, "/api/v1/pages/{page}/revisions"),
        "GET /api/v1/pages/{slug}/revisions/{rev}": cases(
            PUBLISHERS, "/api/v1/pages/{page}/revisions/{revision}"
        ),
        "POST /api/v1/pages/{slug}/revisions/{rev}/restore": cases(
            PUBLISHERS, "/api/v1/pages/{page}/revisions/{revision}/restore"
        ),
        "GET /api/v1/users": cases(ADMINS, "/api/v1/users"),
        "POST /api/v1/users": cases(ADMINS, "/api/v1/users"),
        "GET /api/v1/users/{id}": cases(ADMINS, "/api/v1/users/{user}"),
        "PATCH /api/v1/users/{id}": cases(ADMINS, "/api/v1/users/{user}"),
        # The public site.
        "GET /": cases(PUBLIC, "/", "/?xem=7-ngay"),
        "GET /chuyen-muc/{slug}": cases(PUBLIC, "/chuyen-muc/{category_slug}"),
        "GET /the/{slug}": cases(PUBLIC, "/the/the-ma-tran"),
        "GET /dong-su-kien/{slug}": cases(PUBLIC, "/dong-su-kien/dong-su-kien-ma-tran"),
        "GET /tin/{ref}": cases(PUBLIC, "/tin/{slug}-{article}", "/tin/ban-nhap-{draft}"),
        "GET /tin/{id}/in": cases(PUBLIC, "/tin/{article}/in", "/tin/{draft}/in"),
        "GET /tim-kiem": cases(PUBLIC, "/tim-kiem?q=ma+tr%E1%BA%ADn"),
        "GET /rss": cases(PUBLIC, "/rss"),
        "GET /chuyen-muc/{slug}/rss": cases(PUBLIC, "/chuyen-muc/{category_slug}/rss"),
        "GET /the/{slug}/rss": cases(PUBLIC, "/the/the-ma-tran/rss"),
        "GET /dong-su-kien/{slug}/rss": cases(PUBLIC, "/dong-su-kien/dong-su-kien-ma-tran/rss"),
        "GET /sitemap.xml": cases(PUBLIC, "/sitemap.xml"),
        "GET /sitemap-trang.xml": cases(PUBLIC, "/sitemap-trang.xml"),
        "GET /sitemap-tin-{chunk}.xml": cases(PUBLIC, "/sitemap-tin-1.xml"),
        "GET /sitemap-tin-moi.xml": cases(PUBLIC, "/sitemap-tin-moi.xml"),
        "GET /robots.txt": cases(PUBLIC, "/robots.txt"),
        "GET /gioi-thieu": cases(PUBLIC, "/gioi-thieu"),
        "GET /trang/{slug}": cases(PUBLIC, "/trang/{page}"),
        "GET /so-do": cases(PUBLIC, "/so-do"),
        "GET /static/{name}": cases(PUBLIC, "/static/session.js"),
        "GET /static/vendor/{folder}/{name}": cases(PUBLIC, "/static/vendor/khong-co-1.0/a.js"),
        "GET /anh/{id}": cases(PUBLIC, "/anh/{image}"),
        "GET /anh/{id}/{name}.{ext}": cases(PUBLIC, "/anh/{image}/lead.webp"),
        "GET /van-ban/{id}": cases(PUBLIC, "/van-ban/{document}"),
        # Signing in and out, and changing one's password: the password is the credential.
        "GET /dang-nhap": cases(PUBLIC, "/dang-nhap"),
        "POST /dang-nhap": cases(PUBLIC, "/dang-nhap"),
        "GET /dang-nhap/gia-han": cases(PUBLIC, "/dang-nhap/gia-han?next=/quan-tri"),
        "POST /dang-xuat": cases(PUBLIC, "/dang-xuat"),
        "GET /doi-mat-khau": cases(PUBLIC, "/doi-mat-khau"),
        "POST /doi-mat-khau": cases(PUBLIC, "/doi-mat-khau"),
        # The desk.
        "GET /quan-tri": cases(DESK_HOME, "/quan-tri"),
        "GET /quan-tri/bai-viet": cases(WRITERS, "/quan-tri/bai-viet"),
        "POST /quan-tri/bai-viet/{id}/khoi-phuc": cases(
            PUBLISHERS, "/quan-tri/bai-viet/{draft}/khoi-phuc", hidden=True
        ),
        "GET /quan-tri/{kind}": cases(
            PUBLISHERS, "/quan-tri/chuyen-muc", "/quan-tri/the", "/quan-tri/dong-su-kien"
        ),
        "POST /quan-tri/{kind}": cases(
            PUBLISHERS, "/quan-tri/chuyen-muc", "/quan-tri/the", "/quan-tri/dong-su-kien"
        ),
        "POST /quan-tri/{kind}/{id}/doi-ten": cases(
            PUBLISHERS,
            "/quan-tri/chuyen-muc/{category}/doi-ten",
            "/quan-tri/the/{tag}/doi-ten",
            "/quan-tri/dong-su-kien/{topic}/doi-ten",
        ),
        "POST /quan-tri/{kind}/{id}/xoa": cases(
            PUBLISHERS,
            "/quan-tri/chuyen-muc/{category}/xoa",
            "/quan-tri/the/{tag}/xoa",
            "/quan-tri/dong-su-kien/{topic}/xoa",
        ),
        "POST /quan-tri/{kind}/{id}/{way}": cases(
            PUBLISHERS,
            "/quan-tri/chuyen-muc/{category}/len",
            "/quan-tri/chuyen-muc/{category}/xuong",
        ),
        "GET /quan-tri/nguoi-dung": cases(ADMINS, "/quan-tri/nguoi-dung"),
        "POST /quan-tri/nguoi-dung": cases(ADMINS, "/quan-tri/nguoi-dung"),
        **{
            f"POST /quan-tri/nguoi-dung/{{id}}/{action}": cases(
                ADMINS, f"/quan-tri/nguoi-dung/{{user}}/{action}"
            )
            for action in ("vai-tro", "khoa", "mo-khoa", "dat-lai-mat-khau")
        },
        "GET /quan-tri/nhap-bai": cases(ADMINS, "/quan-tri/nhap-bai"),
        "POST /quan-tri/nhap-bai": cases(ADMINS, "/quan-tri/nhap-bai"),
        "GET /quan-tri/nhap-bai/{id}": cases(ADMINS, "/quan-tri/nhap-bai/{job}"),
        "GET /quan-tri/nhap-bai/{id}/tien-do": cases(ADMINS, "/quan-tri/nhap-bai/{job}/tien-do"),
        "GET /quan-tri/bai-viet/moi": cases(WRITERS, "/quan-tri/bai-viet/moi"),
        "GET /quan-tri/bai-viet/{id}": cases(PUBLISHERS, "/quan-tri/bai-viet/{draft}", hidden=True),
        "GET /quan-tri/bai-viet/{id}/xem-truoc": cases(
            PUBLISHERS, "/quan-tri/bai-viet/{draft}/xem-truoc", hidden=True
        ),
        "GET /quan-tri/bai-viet/{id}/phien-ban": cases(
            PUBLISHERS, "/quan-tri/bai-viet/{draft}/phien-ban", hidden=True
        ),
        "GET /quan-tri/trang": cases(PUBLISHERS, "/quan-tri/trang"),
        "GET /quan-tri/trang/{slug}": cases(PUBLISHERS, "/quan-tri/trang/{page}"),
    },
    "feedback": {
        **PROBES,
        "GET /api/v1/feedback/openapi.json": cases(PUBLIC, "/api/v1/feedback/openapi.json"),
        "GET /tin/{id}/phan-hoi": cases(PUBLIC, "/tin/{article}/phan-hoi"),
        "POST /tin/{id}/phan-hoi": cases(PUBLIC, "/tin/{article}/phan-hoi"),
        "GET /gop-y": cases(PUBLIC, "/gop-y"),
        "POST /gop-y": cases(PUBLIC, "/gop-y"),
        "GET /tra-cuu-phan-hoi": cases(PUBLIC, "/tra-cuu-phan-hoi?ma=K7QM-4XTR-9B"),
        "GET /hoi-dap": cases(PUBLIC, "/hoi-dap"),
        "GET /quan-tri/phan-hoi": cases(MODERATORS, "/quan-tri/phan-hoi"),
        "GET /quan-tri/phan-hoi/{id}": cases(MODERATORS, "/quan-tri/phan-hoi/{feedback}"),
        "POST /quan-tri/phan-hoi/{id}/{action}": cases(
            MODERATORS,
            *(
                f"/quan-tri/phan-hoi/{{feedback}}/{action}"
                for action in (
                    "duyet",
                    "tu-choi",
                    "rut-lai",
                    "sua",
                    "tra-loi",
                    "dang-hoi-dap",
                    "go-hoi-dap",
                )
            ),
        ),  # fmt: skip
        "GET /quan-tri/phan-hoi/thong-ke-chan-thu-rac": cases(
            MODERATORS, "/quan-tri/phan-hoi/thong-ke-chan-thu-rac"
        ),
        "POST /api/v1/feedback": cases(PUBLIC, "/api/v1/feedback"),
        "GET /api/v1/feedback": cases(MODERATORS, "/api/v1/feedback"),
        "GET /api/v1/feedback/{id}": cases(MODERATORS, "/api/v1/feedback/{feedback}"),
        "PATCH /api/v1/feedback/{id}": cases(MODERATORS, "/api/v1/feedback/{feedback}"),
        **{
            f"POST /api/v1/feedback/{{id}}/{action}": cases(
                MODERATORS, f"/api/v1/feedback/{{feedback}}/{action}"
            )
            for action in ("approve", "reject", "withdraw", "qa")
        },
        "DELETE /api/v1/feedback/{id}/qa": cases(MODERATORS, "/api/v1/feedback/{feedback}/qa"),
        "PUT /api/v1/feedback/{id}/reply": cases(MODERATORS, "/api/v1/feedback/{feedback}/reply"),
        "GET /api/v1/feedback/{id}/history": cases(
            MODERATORS, "/api/v1/feedback/{feedback}/history"
        ),
        "GET /api/v1/feedback/spam-stats": cases(MODERATORS, "/api/v1/feedback/spam-stats"),
        "GET /api/v1/feedback/export.csv": cases(MODERATORS, "/api/v1/feedback/export.csv"),
    },
    "counter": {
        **PROBES,
        "GET /api/v1/views/openapi.json": cases(PUBLIC, "/api/v1/views/openapi.json"),
        "POST /api/v1/views": cases(PUBLIC, "/api/v1/views"),
        "GET /v.gif": cases(PUBLIC, "/v.gif?a={article}"),
        "GET /api/v1/views/most-read": cases(PUBLIC, "/api/v1/views/most-read"),
        "GET /api/v1/views/{article_id}": cases(PUBLIC, "/api/v1/views/{article}"),
        "GET /api/v1/views/{article_id}/days": cases(PUBLIC, "/api/v1/views/{article}/days"),
        "PUT /api/v1/views/{article_id}/imported": cases(
            ADMINS, "/api/v1/views/{article}/imported"
        ),
    },
}


# Bodies a refusal must be decided on: an empty one would be refused as input (422) before
# the rules say who may. Every other change is sent `{}` (the API) or a desk form with its
# CSRF token: whoever is refused must be refused before the input is looked at.
BODIES: dict[str, dict[str, Any]] = {
    "PATCH /api/v1/articles/{id}": {"title": "Tiêu đề do người khác sửa"},
    "POST /api/v1/articles/{id}/return": {"reason": "Cần viết lại phần mở đầu."},
    "POST /api/v1/articles/{id}/schedule": {"publish_at": "2030-01-01T08:00:00+07:00"},
    "PATCH /api/v1/documents/{id}": {"title": "Quyết định đổi tên"},
}
UPLOADS = {"POST /api/v1/articles/{id}/documents": ("qd.pdf", PDF_BYTES, "application/pdf")}


# --- the table covers every route ------------------------------------------------------------


def route_key(route: web.AbstractRoute) -> str | None:
    """ "METHOD path" of a route (None for HEAD, which goes with its GET)."""
    if route.method == "HEAD":
        return None
    info = route.resource.get_info() if route.resource else {}
    path = info.get("path") or info.get("formatter")
    return f"{route.method} {path}"


def app_routes(service: str) -> Iterator[tuple[str, web.AbstractRoute, web.Application]]:
    app = build_app(service)
    for route in app.router.routes():
        key = route_key(route)
        if key is not None:
            yield key, route, app


class _Placeholders(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "1" if key != "page" else "gioi-thieu"


@pytest.mark.parametrize("service", SERVICES)
async def test_every_route_has_an_entry(service: str) -> None:
    """Each route of the app (as its router has it) has cases, and one of its cases'
    paths is routed to it: the request reaches that very handler."""
    keys = set()
    for key, route, app in app_routes(service):
        keys.add(key)
        assert key in TABLE[service], f"{service}: no expected access for {key}"
        reached = False
        for case in TABLE[service][key]:
            path = string.Formatter().vformat(case.path, (), _Placeholders())
            request = make_mocked_request(key.split()[0], path, app=app)
            match = await app.router.resolve(request)
            reached = reached or match.route is route
        assert reached, f"{service}: no case of {key} reaches its handler"
    assert set(TABLE[service]) <= keys, "entries for routes that no longer exist"


# --- the stack ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def stack() -> AsyncIterator[Stack]:
    async with running_stack() as running:
        yield running


@pytest.fixture(scope="module")
async def gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """The real gateway (the template, rendered as compose's nginx does) in front of the
    stack's services."""
    local = Local(
        run_dir=Path(tmp_path_factory.mktemp("matrix-gateway")),
        gateway_port=free_port(),
        ports={service: stack.port(service) for service in SERVICES},
        # Every request of the matrix comes from one address: the sign-in limit would
        # refuse most of them (with 429) before any service decided.
        gateway_env={"BANTIN_LOGIN_RATE": "6000r/m"},
    )
    local_stack = LocalStack(local)
    await asyncio.to_thread(local_stack.start_gateway)
    yield local_stack.url
    await asyncio.to_thread(local_stack.stop)


# --- asking --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Asked:
    service: str
    method: str
    path: str
    identity: str
    case: Case
    key: str
    # Where the token goes: as its client holds it (a bearer token for the API, the access
    # cookie for pages), or the other way round (each service takes either).
    swapped: bool = False


@dataclass(frozen=True)
class Answer:
    status: int
    location: str
    html: bool
    missing: tuple[str, ...]  # the security headers it lacks (tests/support/security_headers)


def every_request(stack: Stack) -> list[Asked]:
    asked = []
    for service, routes in TABLE.items():
        for key, route_cases in routes.items():
            method = key.split()[0]
            methods = (method, "HEAD") if method == "GET" else (method,)
            for case in route_cases:
                path = case.path.format(**stack.samples)
                for each in methods:
                    for identity in IDENTITIES:
                        asked.append(Asked(service, each, path, identity, case, key))
    return asked


def someone(stack: Stack, asked: Asked) -> bool:
    """Whether the identity is a signed-in account at the service asked."""
    return stack.identities[asked.identity].roles_at(asked.service) is not None


def allowed(stack: Stack, asked: Asked) -> bool:
    who = asked.case.who
    if who in (PUBLIC, INTERNAL):
        return True
    roles = stack.identities[asked.identity].roles_at(asked.service)
    return roles is not None and ("admin" in roles or not roles.isdisjoint(who))


def refused(answer: Answer, case: Case) -> bool:
    """A refusal: not signed in (401), not allowed (403), sent to sign in (a desk page), or
    a 404 where the thing is hidden from whoever may not see it."""
    if answer.status in (401, 403):
        return True
    if answer.status in (302, 303) and answer.location.startswith("/dang-nhap"):
        return True
    return case.hidden and answer.status == 404


def request_arguments(stack: Stack, asked: Asked) -> dict[str, Any]:
    """The identity's credential (see Asked.swapped) and, for a change, a body: JSON for the
    API, a desk form with a valid CSRF token for the identity's token elsewhere."""
    identity: Identity = stack.identities[asked.identity]
    headers: dict[str, str] = {}
    api = asked.path.startswith("/api/")
    if identity.token is not None:
        if api != asked.swapped:
            headers["Authorization"] = f"Bearer {identity.token}"
        else:
            headers["Cookie"] = f"bantin_access={identity.token}"
    arguments: dict[str, Any] = {"headers": headers, "allow_redirects": False}
    if asked.key in UPLOADS:
        name, content, content_type = UPLOADS[asked.key]
        form = aiohttp.FormData()
        form.add_field("file", content, filename=name, content_type=content_type)
        arguments["data"] = form
    elif asked.method in ("POST", "PUT", "PATCH"):
        if api:
            arguments["json"] = BODIES.get(asked.key, {})
        else:
            arguments["data"] = {"csrf": stack.csrf(asked.service, identity)}
    return arguments


async def ask_all(
    stack: Stack, base_url: dict[str, str], requests: list[Asked]
) -> list[tuple[Asked, Answer]]:
    limit = asyncio.Semaphore(16)
    connector = aiohttp.TCPConnector(limit=32)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def ask(asked: Asked) -> tuple[Asked, Answer]:
            async with limit:
                async with http.request(
                    asked.method,
                    base_url[asked.service] + asked.path,
                    **request_arguments(stack, asked),
                ) as response:
                    await response.read()
                    return asked, Answer(
                        response.status,
                        response.headers.get("Location", ""),
                        response.content_type == "text/html",
                        tuple(missing_security_headers(response.headers)),
                    )

        return await asyncio.gather(*(ask(asked) for asked in requests))


def wrong_allows(answers: list[tuple[Asked, Answer]]) -> list[str]:
    return [
        f"{a.identity:>12}{' (swapped)' if a.swapped else ''} {a.method} {a.path} "
        f"({a.service}) -> {answer.status} {answer.location}"
        for a, answer in answers
        if not refused(answer, a.case)
    ]


def wrong_refusals(answers: list[tuple[Asked, Answer]]) -> list[str]:
    return [
        f"{a.identity:>12} {a.method} {a.path} ({a.service}) -> {answer.status}"
        for a, answer in answers
        if refused(answer, a.case) and not a.case.hidden
    ]


Answers = list[tuple[Asked, Answer]]


async def walk(stack: Stack, base_url: dict[str, str]) -> tuple[Answers, Answers]:
    """Allowed reads first (a copy a signed-in reader left in the gateway's cache would then
    show in the refusals), then every refused request: (the reads, the refusals)."""
    everything = every_request(stack)
    reads = [
        a
        for a in everything
        if allowed(stack, a)
        and a.method in ("GET", "HEAD")
        and a.case.who != INTERNAL
        # A bad credential on a public page may be refused or ignored: either is fine.
        and (a.identity == "anonymous" or someone(stack, a))
    ]
    read = await ask_all(stack, base_url, reads)
    wrong = wrong_refusals(read)
    assert not wrong, "refused, though the table allows it:\n" + "\n".join(wrong)
    before = await stack.digest()
    assert before, "no tables to watch"
    refusals = [a for a in everything if not allowed(stack, a)]
    refusals += [replace(a, swapped=True) for a in refusals if stack.identities[a.identity].token]
    refused = await ask_all(stack, base_url, refusals)
    wrong = wrong_allows(refused)
    assert not wrong, "let through, though the table refuses it:\n" + "\n".join(wrong)
    after = await stack.digest()
    assert [table for table in before if before[table] != after[table]] == []
    return read, refused


def summary(reads: Answers, refusals: Answers) -> str:
    """What the walk compared, for the record (docs/reliability.md)."""
    routes = {(a.service, a.key) for a, _ in reads + refusals}
    statuses = Counter(answer.status for _, answer in refusals)
    return (
        f"{len(routes)} routes, {len(reads)} allowed reads, {len(refusals)} refused requests "
        f"({', '.join(f'{status} x{n}' for status, n in sorted(statuses.items()))}), "
        "no wrong allow, no row changed"
    )


def decisions(answers: Answers) -> dict[tuple[str, str, str, str, bool], int]:
    return {
        (a.service, a.method, a.path, a.identity, a.swapped): answer.status for a, answer in answers
    }


@pytest.fixture(scope="module")
async def direct(stack: Stack) -> tuple[Answers, Answers]:
    """The walk straight to each service (it asserts as it goes)."""
    return await walk(stack, {service: stack.url(service) for service in SERVICES})


async def test_no_identity_is_let_through_where_it_is_refused(
    direct: tuple[Answers, Answers],
) -> None:
    reads, refusals = direct
    # The walk asserted as it went: every refusal was one, and changed nothing.
    assert len(reads) > 100 and len(refusals) > 500
    print(f"\n[matrix] direct: {summary(reads, refusals)}")


@NGINX
async def test_through_the_gateway_the_decisions_are_the_same_and_carry_the_headers(
    stack: Stack, gateway: str, direct: tuple[Answers, Answers]
) -> None:
    reads, refusals = await walk(stack, dict.fromkeys(SERVICES, gateway))
    direct_decisions = decisions(direct[1])
    assert {k: v for k, v in decisions(refusals).items() if v != direct_decisions[k]} == {}
    # Every page (public, desk, feedback forms, the sign-in page) and every refusal.
    lacking = {
        f"{a.identity} {a.method} {a.path}": answer.missing
        for a, answer in reads + refusals
        if answer.missing
    }
    assert lacking == {}
    pages = {a.path for a, answer in reads if answer.html and answer.status == 200}
    assert {"/", "/dang-nhap", "/gop-y", "/quan-tri", "/quan-tri/phan-hoi"} <= pages
    print(f"\n[matrix] through the gateway: {summary(reads, refusals)}")


@NGINX
async def test_error_pages_through_the_gateway_carry_the_security_headers(gateway: str) -> None:
    async with aiohttp.ClientSession(gateway) as http:
        for path, status in (
            ("/tin/khong-co-bai-nay-999999999", 404),
            ("/chuyen-muc/khong-co-chuyen-muc-nay", 404),
            ("/tin/999999999/phan-hoi", 404),
        ):
            async with http.get(path) as response:
                assert (response.status, response.content_type) == (status, "text/html"), path
                assert missing_security_headers(response.headers) == [], path
        # The gateway's own refusal of too many receipt lookups (20 a minute, 10 at once).
        for _ in range(30):
            async with http.get("/tra-cuu-phan-hoi?ma=K7QM-4XTR-9B") as response:
                if response.status == 429:
                    assert missing_security_headers(response.headers) == []
                    break
        else:
            raise AssertionError("no lookup was refused")


@NGINX
async def test_the_gateway_reaches_no_service_internals(stack: Stack, gateway: str) -> None:
    internal = [
        case.path
        for routes in TABLE.values()
        for route_cases in routes.values()
        for case in route_cases
        if case.who == INTERNAL
    ]
    internal += ["/internal/x", "/api/v1/internal/x", "/metrics/", "/readyz?x=1"]
    async with aiohttp.ClientSession(gateway) as http:
        for path in internal:
            for method in ("GET", "HEAD"):
                async with http.request(method, path) as response:
                    assert response.status == 404, path
                    assert "bantin_" not in await response.text(), path
