"""The whole site through the real nginx gateway: the local runner starts the topology
step, the three services and nginx against a fresh database and vhost, on free ports."""

from __future__ import annotations

import asyncio
import functools
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page

from scripts.run_local import Local, LocalStack
from services.common.events import topology
from tests.support import polling
from tests.support.infra import create_database, create_vhost, delete_vhost, drop_database
from tests.support.private_services import free_port

ADMIN = {"username": "quantri", "password": "doi-mat-khau-ngay"}  # the first admin's, this run's
# Through the gateway and real processes things take longer: the shared wait, with a
# longer default and fewer requests.
eventually = functools.partial(polling.eventually, timeout=30.0, interval=0.3)
BROWSER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/120.0.0.0 Safari/537.36"
)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    yield from running_stack(tmp_path_factory, demo_content=False)


# Every request of these tests reaches the services from one address (the gateway's own):
# the per-address limits on feedback (tested on their own in tests/integration) are raised
# so that they do not depend on how many tests ran before within the same minute or day.
FEEDBACK_LIMITS = {
    "FEEDBACK_DAILY_LIMIT_PER_ADDRESS": "1000",
    "FEEDBACK_LIMIT_PER_MINUTE": "1000",
    # And the gateway's sign-in limit: every browser of these tests signs in from it.
    "BANTIN_LOGIN_RATE": "600r/m",
}


def running_stack(
    tmp_path_factory: pytest.TempPathFactory,
    demo_content: bool,
    settings: dict[str, str] | None = None,
) -> Iterator[LocalStack]:
    """A whole site; `settings` are compose variables of this stack alone (a short
    ACCESS_TOKEN_TTL_SECONDS, say)."""
    wanted = {**FEEDBACK_LIMITS, **(settings or {})}
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)  # read by the local runner, as compose's settings
    try:
        yield from _running_stack(tmp_path_factory, demo_content)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _running_stack(
    tmp_path_factory: pytest.TempPathFactory, demo_content: bool
) -> Iterator[LocalStack]:
    database = create_database()
    vhost = create_vhost()
    asyncio.run(topology.apply(vhost.url))
    local = Local(
        run_dir=tmp_path_factory.mktemp("run"),
        database=database.name,
        amqp_url=vhost.url,
        gateway_port=free_port(),
        ports={name: free_port() for name in ("articles", "feedback", "counter")},
        admin_password=str(ADMIN["password"]),
    )
    site = LocalStack(local)
    try:
        site.start(demo_content=demo_content)
        yield site
    finally:
        site.stop()
        delete_vhost(vhost)
        drop_database(database)


@pytest.fixture(scope="session")
async def http(stack: LocalStack) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        base_url=stack.url, timeout=aiohttp.ClientTimeout(total=30)
    ) as session:
        yield session


class Accounts:
    """People who sign in through the gateway: the first admin (from compose's defaults), an
    editor and a moderator the admin creates. Each account's first password was chosen by
    someone else (compose's settings, the admin), so at the first sign-in its owner
    chooses their own through the API, as a person would at /doi-mat-khau; `password(who)`
    is the one that holds now. Tokens live minutes, so each is fetched again before it
    runs out; a sign-in the gateway slows (429) is tried again."""

    PEOPLE = {
        "editor": {"username": "bientap", "password": "bien-tap-vien-2026", "roles": ["editor"]},
        "moderator": {
            "username": "kiemduyet",
            "password": "kiem-duyet-2026",
            "roles": ["moderator"],
        },
    }
    # What each person chooses at the first sign-in: their first password made their own.
    OWN_SUFFIX = "-cua-rieng-toi"

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http
        self.tokens: dict[str, tuple[str, float]] = {}
        self.passwords: dict[str, str] = {}

    def username(self, who: str) -> str:
        return str(ADMIN["username"] if who == "admin" else self.PEOPLE[who]["username"])

    def password(self, who: str) -> str:
        """The password `who` signs in with now (call headers(who) first: it creates the
        account and makes its owner choose their own)."""
        return self.passwords[who]

    async def headers(self, who: str) -> dict[str, str]:
        token, good_until = self.tokens.get(who, ("", 0.0))
        if time.monotonic() > good_until:
            if who != "admin" and who not in self.tokens:
                await self._create(who)
            token, good_until = await eventually(lambda: self._sign_in(who), timeout=60, interval=2)
            self.tokens[who] = (token, good_until)
        return {"Authorization": f"Bearer {token}"}

    async def _create(self, who: str) -> None:
        admin = await self.headers("admin")
        async with self.http.post("/api/v1/users", json=self.PEOPLE[who], headers=admin) as r:
            # 409: made by an earlier try whose sign-in did not get through.
            assert r.status in (201, 409), await r.text()

    async def _sign_in(self, who: str) -> tuple[str, float] | None:
        first = str(ADMIN["password"] if who == "admin" else self.PEOPLE[who]["password"])
        password = self.passwords.setdefault(who, first)
        credentials = {"username": self.username(who), "password": password}
        async with self.http.post("/api/v1/auth/token", json=credentials) as response:
            if response.status == 429:
                return None
            if response.status == 403:
                answer = await response.json()
                assert answer["code"] == "password_change_required", answer
                return await self._choose_own_password(who)
            assert response.status == 200, await response.text()
            answer = await response.json()
        # A minute's margin (a quarter of a short lifetime), so that no request carries a
        # token about to expire.
        margin = min(60, answer["expires_in"] / 4)
        return answer["access_token"], time.monotonic() + answer["expires_in"] - margin

    async def _choose_own_password(self, who: str) -> None:
        """The first sign-in: the owner replaces the password someone else chose; None,
        so that `eventually` signs in again with it."""
        own = self.passwords[who] + self.OWN_SUFFIX
        change = {
            "username": self.username(who),
            "current_password": self.passwords[who],
            "new_password": own,
        }
        async with self.http.post("/api/v1/auth/password", json=change) as response:
            if response.status == 429:
                return
            assert response.status == 204, await response.text()
        self.passwords[who] = own


async def sign_in_page(page: Page, accounts: Accounts, who: str, next_path: str) -> None:
    """Sign `who` in on /dang-nhap with the browser, as a person does, and land on
    `next_path`. Retries while the gateway slows sign-ins from this one address (429)."""
    await accounts.headers(who)  # the account exists and its owner chose their password
    for _ in range(12):
        await page.goto(f"/dang-nhap?next={next_path}")
        await page.get_by_label("Tên đăng nhập").fill(accounts.username(who))
        await page.get_by_label("Mật khẩu").fill(accounts.password(who))
        await page.get_by_role("button", name="Đăng nhập").click()
        await page.wait_for_load_state()
        # The service too slows sign-ins from an address after wrong passwords ("thử lại
        # sau"): every browser here shares one.
        refused = await page.inner_text("body")
        if GATEWAY_REFUSED not in refused and "thử lại sau" not in refused:
            break
        await page.wait_for_timeout(10_000)
    await page.wait_for_url(f"**{next_path}")


@pytest.fixture(scope="session")
def accounts(http: aiohttp.ClientSession) -> Accounts:
    return Accounts(http)


@pytest.fixture
async def admin_headers(accounts: Accounts) -> dict[str, str]:
    return await accounts.headers("admin")


@pytest.fixture
async def editor_headers(accounts: Accounts) -> dict[str, str]:
    return await accounts.headers("editor")


@pytest.fixture
async def moderator_headers(accounts: Accounts) -> dict[str, str]:
    return await accounts.headers("moderator")


def text_of(html: str) -> str:
    """The page as a reader sees it: tags dropped, whitespace collapsed."""
    without_scripts = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", without_scripts)).strip()


SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "images"


# The gateway lets one address post a reader's form every 10 s after a burst of 3 (zone
# "forms" in deploy/gateway); every test here posts from the same address.
GATEWAY_REFUSED = "429 Too Many Requests"
FORM_POST_INTERVAL_MS = 10_500


async def post_as_reader(
    http: aiohttp.ClientSession, path: str, body: dict[str, Any], tries: int = 7
) -> dict[str, Any]:
    """POST a reader's JSON (feedback) through the gateway; when its limit on this one
    address refuses it (429), wait as a reader would and send it again."""
    for _ in range(tries):
        async with http.post(path, json=body) as response:
            if response.status != 429:
                assert response.status == 202, await response.text()
                return dict(await response.json())
        await asyncio.sleep(FORM_POST_INTERVAL_MS / 1000)
    raise AssertionError(f"the gateway refused {path} {tries} times")


async def send_form(
    page: Page, fill: Callable[[], Awaitable[None]], button: str = "Gửi ý kiến", tries: int = 7
) -> None:
    """Fill the open form as a person would (past its 3 s minimum) and send it. When the
    gateway refuses a burst of posts from this machine's one address, wait until its limit
    lets one through and send again from a fresh form."""
    url = page.url
    for _ in range(tries):
        await fill()
        await page.wait_for_timeout(3200)  # a person takes longer than the form's minimum
        await page.get_by_role("button", name=button).click()
        await page.wait_for_load_state()
        if GATEWAY_REFUSED not in await page.inner_text("body"):
            return
        await page.wait_for_timeout(FORM_POST_INTERVAL_MS)
        await page.goto(url)
    raise AssertionError(f"the gateway refused the form {tries} times")
