"""Every desk route with every role (issue 10, "Roles"): nobody signed in is sent to the
login form, a role without the right gets 403, a role with it gets the page (GET) or has
its form handled (POST: aimed at rows that do not exist, so the walk changes nothing).
The editor's URLs (desk-shared: /quan-tri/bai-viet/moi, /{id}, ...) are walked too when
the app serves them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from services.articles import store
from tests.support.articles import Site, running_site

ROLES = ("anonymous", "author", "editor", "moderator", "admin")
WRITERS = {"author", "editor", "admin"}
PUBLISHERS = {"editor", "admin"}
ADMINS = {"admin"}
MISSING = 999_999_999


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[Site]:
    async with running_site() as harness:
        yield harness


async def desk_routes(site: Site) -> list[tuple[str, str, set[str]]]:
    """(method, path, roles allowed) for every desk route of this app."""
    article = await site.draft("author")  # the author's own: every writer may open it
    async with site.pool.acquire() as conn:
        job = await store.insert_import_job(
            conn, site.accounts["admin"].user.id, "a.jsonl", "jsonl"
        )
    routes: list[tuple[str, str, set[str]]] = [
        ("GET", "/quan-tri", WRITERS | {"moderator"}),
        ("GET", "/quan-tri/bai-viet", WRITERS),
        ("GET", "/quan-tri/bai-viet?trang-thai=deleted", WRITERS),
        ("POST", f"/quan-tri/bai-viet/{MISSING}/khoi-phuc", WRITERS),
        ("GET", "/quan-tri/nguoi-dung", ADMINS),
        ("POST", "/quan-tri/nguoi-dung", ADMINS),
        ("GET", "/quan-tri/nhap-bai", ADMINS),
        ("POST", "/quan-tri/nhap-bai", ADMINS),
        ("GET", f"/quan-tri/nhap-bai/{job.id}", ADMINS),
        ("GET", f"/quan-tri/nhap-bai/{job.id}/tien-do", ADMINS),
    ]
    for action in ("vai-tro", "khoa", "mo-khoa", "dat-lai-mat-khau"):
        routes.append(("POST", f"/quan-tri/nguoi-dung/{MISSING}/{action}", ADMINS))
    for kind in ("chuyen-muc", "the", "dong-su-kien"):
        routes += [
            ("GET", f"/quan-tri/{kind}", PUBLISHERS),
            ("POST", f"/quan-tri/{kind}", PUBLISHERS),
            ("POST", f"/quan-tri/{kind}/{MISSING}/doi-ten", PUBLISHERS),
            ("POST", f"/quan-tri/{kind}/{MISSING}/xoa", PUBLISHERS),
        ]
    for way in ("len", "xuong"):
        routes.append(("POST", f"/quan-tri/chuyen-muc/{MISSING}/{way}", PUBLISHERS))
    # The editor's part, where this tree has it.
    editor_pages = [
        ("/quan-tri/bai-viet/moi", WRITERS),
        (f"/quan-tri/bai-viet/{article['id']}", WRITERS),
        (f"/quan-tri/bai-viet/{article['id']}/xem-truoc", WRITERS),
        (f"/quan-tri/bai-viet/{article['id']}/phien-ban", WRITERS),
        ("/quan-tri/trang", PUBLISHERS),
        ("/quan-tri/trang/gioi-thieu", PUBLISHERS),
    ]
    for path, roles in editor_pages:
        if served(site, "GET", path):
            routes.append(("GET", path, roles))
    return routes


def served(site: Site, method: str, path: str) -> bool:
    """Whether the app has a route (other than a catch-all) for this path."""
    for resource in site.client.app.router.resources():
        if resource.canonical.startswith("/quan-tri") and resource.get_info():
            for route in resource:
                if route.method == method:
                    match = re.fullmatch(_pattern(resource), path.split("?")[0])
                    if match:
                        return True
    return False


def _pattern(resource: object) -> str:
    info = resource.get_info()  # type: ignore[attr-defined]
    if "path" in info:
        return re.escape(info["path"])
    return str(info["pattern"].pattern)


async def csrf_for(site: Site, role: str) -> str:
    response = await site.client.get("/quan-tri", headers=site.auth(role))
    found = re.search(r'name="csrf-token" content="([0-9a-f]+)"', await response.text())
    assert found
    return found.group(1)


async def users(site: Site) -> list[tuple[str, bool, list[str]]]:
    response = await site.client.get("/api/v1/users", headers=site.auth("admin"))
    return [(u["username"], u["disabled"], u["roles"]) for u in (await response.json())["items"]]


async def test_every_desk_route_answers_every_role_as_its_rights_say(site: Site) -> None:
    routes = await desk_routes(site)
    tokens = {role: await csrf_for(site, role) for role in ROLES if role != "anonymous"}
    users_before = await users(site)
    wrong = []
    for method, path, allowed in routes:
        for role in ROLES:
            headers = site.auth(role) if role != "anonymous" else {}
            if method == "GET":
                response = await site.client.get(path, headers=headers, allow_redirects=False)
            else:
                data = {"csrf": tokens.get(role, "x")}
                response = await site.client.post(
                    path, data=data, headers=headers, allow_redirects=False
                )
            status, location = response.status, response.headers.get("Location", "")
            if role == "anonymous":
                ok = status == 303 and location.startswith("/dang-nhap")
            elif role not in allowed:
                ok = status == 403
            elif method == "GET":
                ok = status == 200 and response.headers["Cache-Control"] == "no-store"
            else:
                # Handled: refused for the missing row or the empty form, never for the role.
                ok = status in (404, 409, 422)
            if not ok:
                wrong.append(f"{role} {method} {path}: {status} {location}")
    assert wrong == []
    # The walk changed nothing.
    assert await users(site) == users_before


async def test_the_walk_covers_the_desk_routes_this_app_serves(site: Site) -> None:
    """No desk route of the app is left out of the walk (a new page must join it)."""
    walked = {(m, p.split("?")[0]) for m, p, _ in await desk_routes(site)}
    for resource in site.client.app.router.resources():
        info = resource.get_info()
        if not resource.canonical.startswith("/quan-tri") or "/phan-hoi" in resource.canonical:
            continue
        pattern = re.escape(info["path"]) if "path" in info else info["pattern"].pattern
        for route in resource:
            if route.method in ("GET", "POST"):
                assert any(m == route.method and re.fullmatch(pattern, p) for m, p in walked), (
                    f"{route.method} {resource.canonical} is not walked"
                )
