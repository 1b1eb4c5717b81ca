"""The counting rules, free of I/O: the 30-minute bucket, the view key, which user agents
are bots, the article id a beacon or pixel names, the set of countable articles, the fair
count rules (agents per address, our own site) and the most-read periods."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

from crawlerdetect import CrawlerDetect

from services.common.events.payloads import BatchedView

BUCKET_SECONDS = 30 * 60
# Keys and salts of today and yesterday are kept; older ones are deleted, and a view of an
# older day arriving late is not counted (its key could no longer be checked).
KEEP_DAYS = 2
SALT_BYTES = 32
ARTICLE_ID_MAX = 2**63 - 1

# What tells the time: utc_now, or a fixed moment in tests.
Clock = Callable[[], datetime]


def bucket_of(moment: datetime) -> int:
    """The 30-minute bucket of a moment (counted from the epoch). Vietnam is a whole number
    of hours from UTC, so a bucket never straddles two Vietnamese days."""
    return int(moment.timestamp()) // BUCKET_SECONDS


def oldest_kept_day(today: date) -> date:
    return today - timedelta(days=KEEP_DAYS - 1)


def view_key(salt: bytes, address: str, user_agent: str, article_id: int, bucket: int) -> str:
    """HMAC-SHA256(daily salt, address | user agent | article | bucket), hex.

    Unambiguous although a user agent may hold "|": the address has none and the last two
    fields are integers.
    """
    message = f"{address}|{user_agent}|{article_id}|{bucket}".encode()
    return hmac.new(salt, message, hashlib.sha256).hexdigest()


_crawlers = CrawlerDetect()
# Real user agents are a few hundred characters; longer ones are checked but not cached,
# so nobody can fill the cache with huge headers.
_CACHED_LENGTH = 512


def is_bot(user_agent: str) -> bool:
    """A known crawler, headless browser or HTTP library (crawlerdetect), or no user agent at
    all (every browser sends one)."""
    if not user_agent.strip():
        return True
    if len(user_agent) > _CACHED_LENGTH:
        return _detect(user_agent)
    return _detect_cached(user_agent)


def _detect(user_agent: str) -> bool:
    return bool(_crawlers.isCrawler(user_agent))


# The same few agents come again and again; the detector runs hundreds of regexes.
_detect_cached = lru_cache(maxsize=4096)(_detect)


# A view as the ingest makes it and a views.batch carries it.
View = BatchedView


# --- the article id a beacon or pixel names ----------------------------------------------

# navigator.sendBeacon sends a string as text/plain and a Blob with the Blob's type.
JSON_TYPES = frozenset({"application/json", "text/plain"})
FORM_TYPE = "application/x-www-form-urlencoded"


class BeaconFault(StrEnum):
    """What is wrong with a beacon or pixel request; each value is the stable code its
    answer carries."""

    UNSUPPORTED_TYPE = "unsupported_media_type"
    INVALID_FORM = "invalid_form"
    INVALID_JSON = "invalid_json"
    INVALID_INPUT = "invalid_input"


class InvalidBeacon(Exception):
    """A beacon or pixel request that names no article id we can read: the fault, a
    Vietnamese message, and for INVALID_INPUT the message of each bad field."""

    def __init__(
        self, fault: BeaconFault, message: str, errors: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{fault}: {message}")
        self.fault = fault
        self.message = message
        self.errors = errors or {}


def _bad_article_id(field: str, message: str) -> InvalidBeacon:
    return InvalidBeacon(BeaconFault.INVALID_INPUT, "Mã bài viết không hợp lệ.", {field: message})


def parse_article_id(raw: str | None, field: str = "a") -> int:
    """An article id given as text (the pixel's ?a=, a form field)."""
    if raw is None or raw == "":
        raise _bad_article_id(field, "Thiếu mã bài viết.")
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= ARTICLE_ID_MAX:
        raise _bad_article_id(field, "Mã bài viết phải là số nguyên dương.")
    return int(text)


def parse_beacon_form(body: bytes) -> int:
    """The article id of a beacon sent as a form: a=N (or article_id=N)."""
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise InvalidBeacon(BeaconFault.INVALID_FORM, "Nội dung biểu mẫu không hợp lệ.") from exc
    values = fields.get("a") or fields.get("article_id")
    return parse_article_id(values[0] if values else None)


def parse_beacon_json(content_type: str, body: bytes) -> Any:
    """The JSON document of a beacon that is not a form: sent as application/json or
    text/plain. Its shape is the caller's to check (the beacon's JSON Schema)."""
    if content_type not in JSON_TYPES:
        raise InvalidBeacon(
            BeaconFault.UNSUPPORTED_TYPE,
            "Nội dung phải ở dạng JSON (application/json, text/plain) hoặc biểu mẫu.",
        )
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InvalidBeacon(
            BeaconFault.INVALID_JSON, "Nội dung gửi lên không phải JSON hợp lệ."
        ) from exc


def plain_article_id(document: Any) -> int | None:
    """The article id of the usual beacon document, {"article_id": N} with N an integer in
    range, as BEACON_SCHEMA admits it; None for anything else (the schema then decides)."""
    if type(document) is dict and len(document) == 1:
        article_id = document.get("article_id")
        if type(article_id) is int and 1 <= article_id <= ARTICLE_ID_MAX:
            return article_id
    return None


# --- the countable articles ---------------------------------------------------------------


class CountableArticles:
    """The ids of articles that may receive views, kept in memory by each ingest instance.

    Changes arrive one by one (NOTIFY) and as whole reloads from the table. A reload reads a
    snapshot that changes notified while it ran may postdate, so those are replayed on top
    of the snapshot before it replaces the set.
    """

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self._ids: set[int] = set(ids)
        self._during_reload: list[tuple[int, bool]] | None = None

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def apply(self, article_id: int, countable: bool) -> None:
        _set_state(self._ids, article_id, countable)
        if self._during_reload is not None:
            self._during_reload.append((article_id, countable))

    def begin_reload(self) -> None:
        self._during_reload = []

    def finish_reload(self, ids: Iterable[int]) -> None:
        fresh = set(ids)
        for article_id, countable in self._during_reload or ():
            _set_state(fresh, article_id, countable)
        self._ids = fresh
        self._during_reload = None

    def abandon_reload(self) -> None:
        self._during_reload = None


def _set_state(ids: set[int], article_id: int, countable: bool) -> None:
    if countable:
        ids.add(article_id)
    else:
        ids.discard(article_id)


def parse_notification(payload: str) -> tuple[int, bool]:
    """The "id:1" / "id:0" payload of the articles table's NOTIFY."""
    article_id, _, state = payload.partition(":")
    return int(article_id), state == "1"


# --- fair counts --------------------------------------------------------------------------

# Distinct user agents from one address that count for one article in one bucket: an office
# behind one address still counts its several readers, a script rotating agents does not.
AGENTS_PER_ADDRESS = 8


class DropReason(StrEnum):
    """Why a view was answered but not counted: the label of bantin_views_dropped_total."""

    BOT = "bot"
    OTHER_SITE = "other_site"
    REPEAT = "repeat"
    ADDRESS_LIMIT = "address_limit"
    TOO_OLD = "too_old"


def address_key(salt: bytes, address: str, article_id: int, bucket: int) -> str:
    """HMAC-SHA256(daily salt + "|address", address | article | bucket), hex: what the
    views of one address to one article in one bucket share, so the counting consumer can
    cap how many distinct agents count, without ever seeing the address. Keyed apart from
    the view keys, so none can ever equal one."""
    message = f"{address}|{article_id}|{bucket}".encode()
    return hmac.new(salt + b"|address", message, hashlib.sha256).hexdigest()


def admitted_views(agents_before: int, new_agents: int, limit: int) -> int:
    """Of `new_agents` first-time views (distinct agents) from one address to one article
    in one bucket, how many count when `agents_before` were seen there already."""
    return max(0, min(new_agents, limit - agents_before))


# Sec-Fetch-Site values of a request made by a page of our own origin.
OWN_SITE_FETCHES = frozenset({"same-origin"})


def from_other_site(sec_fetch_site: str | None, origin: str | None, host: str) -> bool:
    """Whether a beacon or pixel was sent by a page of another site. Browsers send
    Sec-Fetch-Site (trusted first) or, on posts, Origin; a request with neither (an old
    browser, the pixel of a page without JavaScript) is taken as ours, since nothing says
    otherwise. `host` is the Host the reader asked for (with its port)."""
    if sec_fetch_site:
        return sec_fetch_site.strip().lower() not in OWN_SITE_FETCHES
    if origin:
        if origin.strip() == "null":
            return True
        return urlsplit(origin.strip()).netloc.lower() != host.strip().lower()
    return False


# --- most read by period ------------------------------------------------------------------


class Period(StrEnum):
    """The most-read lists: today, the last 7 and the last 30 days (today included)."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"

    @property
    def days(self) -> int:
        return {"day": 1, "week": 7, "month": 30}[self.value]


# The longest per-day series of one article the API gives (and so the deepest query).
SERIES_MAX_DAYS = 90


def first_day(today: date, days: int) -> date:
    """The first day of the `days` days ending today."""
    return today - timedelta(days=days - 1)


def day_series(today: date, days: int, counted: dict[date, int]) -> list[tuple[date, int]]:
    """Each of the `days` days ending today with its views, oldest first, 0 where none."""
    start = first_day(today, days)
    return [(day, counted.get(day, 0)) for day in (start + timedelta(n) for n in range(days))]
