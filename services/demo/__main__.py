"""Load the demo portal through the public APIs, so a newcomer sees a living site at once:
`python -m services.demo` (compose runs it once the gateway is healthy).

It goes through the gateway like any client (no SQL, no service internals): signs in
with its one-time account (the first-admin job writes its credential to
BANTIN_DEMO_CREDENTIAL_FILE; the first admin's own password must be changed by a person
at the first sign-in), creates categories, uploads images, publishes articles with the
view counts they "had" (imported_views, which the counter takes as each article's starting
total, as for an imported article), sends readers' feedback and approves it, and then
disables its account. A site that already has a category is never touched (nor signed in
to). DEMO_CONTENT=0 turns it off.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from services.common.logs import setup_logging
from services.demo.content import ARTICLES, CATEGORIES, DemoArticle

log = logging.getLogger("demo")
IMAGES = Path(__file__).parent / "images"
READY_TIMEOUT = 180.0


class DemoError(RuntimeError):
    pass


class Site:
    """A thin client of Bantin's public APIs."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base = base_url.rstrip("/")
        self.headers: dict[str, str] = {}

    async def call(self, method: str, path: str, expect: tuple[int, ...], **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        async with self.session.request(
            method, self.base + path, headers=headers, **kwargs
        ) as response:
            if response.status == 429:  # the gateway's rate limit: wait, then again
                await asyncio.sleep(float(response.headers.get("Retry-After", "5")))
                return await self.call(method, path, expect, headers=headers, **kwargs)
            if response.status not in expect:
                text = await response.text()
                raise DemoError(f"{method} {path}: {response.status} {text[:300]}")
            if response.content_type.endswith("json"):
                return await response.json()
            return None

    async def wait_until_up(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                await self.call("GET", "/api/v1/categories", (200,))
                return
            except (aiohttp.ClientError, DemoError, OSError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(1)

    async def log_in(self, username: str, password: str) -> None:
        token = await self.call(
            "POST", "/api/v1/auth/token", (200,), json={"username": username, "password": password}
        )
        self.headers = {"Authorization": f"Bearer {token['access_token']}"}

    async def close_account(self, username: str) -> None:
        """Disable the account signed in with (its credential is good for one load)."""
        users = items(await self.call("GET", "/api/v1/users", (200,)))
        me = next(u for u in users if u["username"] == username)
        await self.call("PATCH", f"/api/v1/users/{me['id']}", (200,), json={"disabled": True})
        self.headers = {}


def items(listing: Any) -> list[Any]:
    return list(listing["items"] if isinstance(listing, dict) else listing)


async def retry_until(attempt: Any, what: str, timeout: float = 60.0) -> Any:
    """Events reach the other services' read models within a moment: retry until then."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await attempt()
        except DemoError:
            if time.monotonic() > deadline:
                raise DemoError(f"gave up waiting: {what}") from None
            await asyncio.sleep(0.5)


async def publish_article(site: Site, article: DemoArticle, category_id: int) -> int:
    form = aiohttp.FormData()
    image = IMAGES / article.image
    form.add_field("file", image.read_bytes(), filename=image.name, content_type="image/jpeg")
    uploaded = await site.call("POST", "/api/v1/images", (201,), data=form)
    created = await site.call(
        "POST",
        "/api/v1/articles",
        (201,),
        json={
            "title": article.title,
            "summary": article.summary,
            "body_html": article.body_html,
            "byline": article.byline,
            "category_id": category_id,
            "image_id": uploaded["id"],
            "image_caption": article.caption,
            "imported_views": article.views,
        },
    )
    await site.call("POST", f"/api/v1/articles/{created['id']}/publish", (200,))
    return int(created["id"])


async def add_feedback(site: Site, article: DemoArticle, article_id: int) -> None:
    for name, text in article.feedback:
        body = {"article_id": article_id, "author_name": name, "body": text}
        sent = await retry_until(
            lambda body=body: site.call("POST", "/api/v1/feedback", (201, 202), json=body),
            "feedback service knows the article",
        )
        await site.call("POST", f"/api/v1/feedback/{sent['id']}/approve", (200,))
        if article.reply:
            reply = {"body": article.reply}
            await site.call("PUT", f"/api/v1/feedback/{sent['id']}/reply", (200,), json=reply)


async def has_content(site: Site) -> bool:
    return bool(items(await site.call("GET", "/api/v1/categories", (200,))))


def read_credential() -> tuple[str, str]:
    """The one-time account's name and password, from BANTIN_DEMO_CREDENTIAL_FILE."""
    path = os.environ.get("BANTIN_DEMO_CREDENTIAL_FILE", "")
    try:
        credential = json.loads(Path(path).read_text())
        return str(credential["username"]), str(credential["password"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DemoError(
            f"no demo credential in BANTIN_DEMO_CREDENTIAL_FILE={path!r} (the first-admin "
            f"job writes it when the site is empty): {exc}"
        ) from exc


async def load(site: Site) -> None:
    """Fill an empty site."""
    categories = {}
    for name in CATEGORIES:
        created = await site.call("POST", "/api/v1/categories", (201,), json={"name": name})
        categories[name] = int(created["id"])
    for article in ARTICLES:
        article_id = await publish_article(site, article, categories[article.category])
        await add_feedback(site, article, article_id)
        log.info("demo article published", extra={"article_id": article_id})


async def main() -> int:
    if os.environ.get("DEMO_CONTENT", "1").lower() in ("0", "false", "no", "off"):
        log.info("demo content switched off (DEMO_CONTENT=0)")
        return 0
    base_url = os.environ.get("BANTIN_URL", "http://127.0.0.1:8080")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        site = Site(session, base_url)
        await site.wait_until_up()
        if await has_content(site):
            log.info("the site already has content; demo content not loaded")
            return 0
        username, password = read_credential()
        await site.log_in(username, password)
        try:
            await load(site)
        finally:  # loaded or not, the credential is good for this one run
            await site.close_account(username)
        log.info("demo content loaded", extra={"articles": len(ARTICLES)})
    return 0


if __name__ == "__main__":
    setup_logging("demo")
    sys.exit(asyncio.run(main()))
