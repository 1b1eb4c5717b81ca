"""A steady load through the gateway, recording every request and its answer.

Three kinds, each at a fixed rate whatever the answers (an open loop: a request that hangs
does not slow the others): views (a beacon from a reader never seen before), feedback
(a submission with a unique word in its text) and article changes (publish a new article,
edit or unpublish one published earlier). Every reader comes from an address of its own
(127.x.y.z: the whole 127/8 is the loopback), as real readers do, so the gateway's
per-address limits and the counting rules see distinct readers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

BROWSER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/120.0.0.0 Safari/537.36"
)
KINDS = ("views", "feedback", "changes")
# Requests a second of each kind.
RATES = {"views": 6.0, "feedback": 2.0, "changes": 2.0}
# A request unanswered after this long counts as failed (its outcome unknown).
REQUEST_TIMEOUT = 8.0
# At most this many requests of one kind in flight: the loop stays bounded while a
# service is paused or down.
MAX_IN_FLIGHT = 40


@dataclass
class Attempt:
    kind: str
    started: float  # time.monotonic()
    at: datetime  # wall clock at the start, for the counter's 30-minute bucket
    data: dict[str, Any]
    ended: float | None = None
    ended_at: datetime | None = None
    status: int | str = "pending"

    @property
    def ok(self) -> bool:
        return self.status in SUCCESS[self.kind]


SUCCESS = {"views": (204,), "feedback": (202,), "changes": (200,)}


def addresses(second_octet: int) -> Callable[[], str]:
    """A fresh loopback address at each call: 127.<second_octet>.y.z."""
    numbers = itertools.count()

    def next_address() -> str:
        n = next(numbers)
        return f"127.{second_octet}.{1 + n // 250 % 250}.{1 + n % 250}"

    return next_address


@dataclass
class Load:
    url: str
    token: Callable[[], Awaitable[str]]
    targets: list[int]  # published articles that receive views and feedback
    category_id: int
    attempts: list[Attempt] = field(default_factory=list)
    published: list[int] = field(default_factory=list)  # changed by the load itself
    _running: asyncio.Event = field(default_factory=asyncio.Event)
    _stopping: bool = False
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _in_flight: dict[str, set[asyncio.Task[None]]] = field(
        default_factory=lambda: {kind: set() for kind in KINDS}
    )

    def __post_init__(self) -> None:
        self._view_address = addresses(101)
        self._feedback_address = addresses(102)
        self._editor: aiohttp.ClientSession | None = None

    # --- running -------------------------------------------------------------------------

    async def start(self) -> None:
        self._editor = aiohttp.ClientSession(
            base_url=self.url, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        )
        self._running.set()
        for kind in KINDS:
            self._tasks.append(asyncio.create_task(self._loop(kind)))

    async def pause(self) -> None:
        """Send nothing more, and wait for every request in flight to be answered."""
        self._running.clear()
        pending = [task for tasks in self._in_flight.values() for task in tasks]
        if pending:
            await asyncio.wait(pending)

    def resume(self) -> None:
        self._running.set()

    async def stop(self) -> None:
        self._stopping = True
        await self.pause()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._editor is not None:
            await self._editor.close()

    async def _loop(self, kind: str) -> None:
        interval = 1 / RATES[kind]
        send = {"views": self._view, "feedback": self._feedback, "changes": self._change}[kind]
        next_at = time.monotonic()
        while not self._stopping:
            await self._running.wait()
            if len(self._in_flight[kind]) < MAX_IN_FLIGHT:
                task = asyncio.create_task(self._record(kind, send))
                self._in_flight[kind].add(task)
                task.add_done_callback(self._in_flight[kind].discard)
            next_at = max(next_at + interval, time.monotonic())
            await asyncio.sleep(next_at - time.monotonic())

    async def _record(self, kind: str, send: Callable[[Attempt], Awaitable[int]]) -> None:
        attempt = Attempt(kind, time.monotonic(), datetime.now(UTC), {})
        self.attempts.append(attempt)
        try:
            attempt.status = await send(attempt)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            attempt.status = type(exc).__name__
        attempt.ended, attempt.ended_at = time.monotonic(), datetime.now(UTC)

    # --- the three kinds -----------------------------------------------------------------

    def _reader(self, address: str) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            base_url=self.url,
            connector=aiohttp.TCPConnector(local_addr=(address, 0), force_close=True),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
            headers={"User-Agent": BROWSER_AGENT},
        )

    async def _view(self, attempt: Attempt) -> int:
        article_id = random.choice(self.targets)
        address = self._view_address()
        attempt.data.update(article_id=article_id, address=address)
        async with self._reader(address) as reader:
            async with reader.post("/api/v1/views", json={"article_id": article_id}) as answer:
                return answer.status

    async def _feedback(self, attempt: Attempt) -> int:
        word = f"maso{uuid.uuid4().hex}"
        attempt.data["word"] = word
        body = {
            "article_id": random.choice(self.targets),
            "author_name": "Nguyễn Văn Đọc",
            "body": f"Tôi góp ý về bản tin này, mã {word}.",
        }
        async with self._reader(self._feedback_address()) as reader:
            async with reader.post("/api/v1/feedback", json=body) as answer:
                return answer.status

    async def _change(self, attempt: Attempt) -> int:
        assert self._editor is not None
        headers = {"Authorization": f"Bearer {await self.token()}"}
        roll = random.random()
        if len(self.published) < 3 or roll < 0.5:
            article = {
                "title": f"Tin tải {uuid.uuid4().hex[:8]}",
                "summary": "Tóm tắt.",
                "body_html": "<p>Nội dung bản tin.</p>",
                "category_id": self.category_id,
            }
            async with self._editor.post("/api/v1/articles", json=article, headers=headers) as r:
                if r.status != 201:
                    attempt.data["step"] = "create"
                    return r.status
                article_id = (await r.json())["id"]
            attempt.data.update(action="publish", article_id=article_id)
            async with self._editor.post(
                f"/api/v1/articles/{article_id}/publish", headers=headers
            ) as r:
                if r.status == 200:
                    self.published.append(article_id)
                return r.status
        article_id = random.choice(self.published)
        if roll < 0.85:
            attempt.data.update(action="update", article_id=article_id)
            change = {"title": f"Tin tải đã sửa {uuid.uuid4().hex[:8]}"}
            async with self._editor.patch(
                f"/api/v1/articles/{article_id}", json=change, headers=headers
            ) as r:
                return r.status
        self.published.remove(article_id)
        attempt.data.update(action="unpublish", article_id=article_id)
        async with self._editor.post(
            f"/api/v1/articles/{article_id}/unpublish", headers=headers
        ) as r:
            return r.status

    # --- what happened -------------------------------------------------------------------

    def done(self, kind: str | None = None, since: float = 0.0) -> list[Attempt]:
        """Answered (or failed) attempts, in the order they started."""
        return [
            a
            for a in self.attempts
            if a.ended is not None and a.started >= since and (kind is None or a.kind == kind)
        ]

    def recovered_at(self, kind: str, since: float) -> float | None:
        """When the first success came of a request sent after the last failure since
        `since` (the moment of a fault); None while there is none, or while the last two
        answers of the kind are not both successes."""
        answered = self.done(kind, since)
        if len(answered) < 2 or not (answered[-1].ok and answered[-2].ok):
            return None
        failures = [a for a in answered if not a.ok]
        after = failures[-1].started if failures else since
        first = next(a for a in answered if a.ok and a.started >= after)
        assert first.ended is not None
        return first.ended

    def failures(self, kind: str, since: float, until: float) -> int:
        return sum(1 for a in self.done(kind, since) if not a.ok and a.started <= until)
