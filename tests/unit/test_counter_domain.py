"""The counter's rules without I/O: Vietnamese days, 30-minute buckets, view keys, bots,
beacon bodies (read by the domain, checked and answered by the API), the countable set and
the data of the events it sends."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest

from services.common.errors import Problem
from services.common.events.envelope import CloudEvent, source_of
from services.common.events.payloads import ViewsBatchData, ViewsCountedData
from services.common.events.schemas import EventSchemaError, validate
from services.common.vietnam import vn_day
from services.counter.api import BEACON_SCHEMA, beacon_article_id, beacon_problem
from services.counter.domain import (
    AGENTS_PER_ADDRESS,
    BeaconFault,
    CountableArticles,
    InvalidBeacon,
    Period,
    View,
    address_key,
    admitted_views,
    bucket_of,
    day_series,
    first_day,
    from_other_site,
    is_bot,
    oldest_kept_day,
    parse_article_id,
    parse_beacon_form,
    parse_beacon_json,
    parse_notification,
    plain_article_id,
    view_key,
)

SALT = bytes(range(32))
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/120.0.0.0 Safari/537.36"
)


# --- days and buckets ---------------------------------------------------------------------


def test_the_day_turns_at_midnight_in_vietnam_not_in_utc() -> None:
    # 16:59:59 UTC is 23:59:59 in Hanoi; 17:00 UTC is already the next day there.
    assert vn_day(datetime(2026, 11, 28, 16, 59, 59, tzinfo=UTC)) == date(2026, 11, 28)
    assert vn_day(datetime(2026, 11, 28, 17, 0, 0, tzinfo=UTC)) == date(2026, 11, 29)
    assert vn_day(datetime(2026, 11, 28, 23, 0, 0, tzinfo=UTC)) == date(2026, 11, 29)


def test_a_bucket_is_thirty_minutes() -> None:
    start = datetime(2026, 11, 28, 8, 0, 0, tzinfo=UTC)
    assert bucket_of(start) == bucket_of(start + timedelta(minutes=29, seconds=59))
    assert bucket_of(start + timedelta(minutes=30)) == bucket_of(start) + 1
    assert bucket_of(start - timedelta(seconds=1)) == bucket_of(start) - 1


def test_a_bucket_never_straddles_a_vietnamese_day() -> None:
    midnight_in_hanoi = datetime(2026, 11, 28, 17, 0, 0, tzinfo=UTC)
    before, after = midnight_in_hanoi - timedelta(seconds=1), midnight_in_hanoi
    assert bucket_of(before) != bucket_of(after)
    assert vn_day(before) != vn_day(after)


def test_two_days_of_keys_and_salts_are_kept() -> None:
    assert oldest_kept_day(date(2026, 11, 28)) == date(2026, 11, 27)
    assert oldest_kept_day(date(2026, 3, 1)) == date(2026, 2, 28)


# --- the view key -------------------------------------------------------------------------


def test_the_view_key_is_hmac_sha256_of_address_agent_article_and_bucket() -> None:
    expected = hmac.new(
        SALT, f"203.0.113.9|{BROWSER}|42|987654".encode(), hashlib.sha256
    ).hexdigest()
    assert view_key(SALT, "203.0.113.9", BROWSER, 42, 987654) == expected
    assert len(expected) == 64


@pytest.mark.parametrize(
    "changed",
    [
        {"salt": bytes(32)},
        {"address": "203.0.113.10"},
        {"user_agent": BROWSER + " Edg/120"},
        {"article_id": 43},
        {"bucket": 987655},
    ],
)
def test_every_part_of_the_view_key_changes_it(changed: dict) -> None:
    parts = {
        "salt": SALT,
        "address": "203.0.113.9",
        "user_agent": BROWSER,
        "article_id": 42,
        "bucket": 987654,
    }
    assert view_key(**parts) != view_key(**{**parts, **changed})


def test_the_view_key_does_not_reveal_its_parts() -> None:
    key = view_key(SALT, "203.0.113.9", BROWSER, 42, 987654)
    assert "203" not in key and "Mozilla" not in key


# --- bots ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
        " HeadlessChrome/120.0.0.0 Safari/537.36",
        "curl/8.5.0",
        "Python/3.11 aiohttp/3.14.5",
        "",
        "   ",
    ],
)
def test_bots_and_missing_agents_are_not_counted(agent: str) -> None:
    assert is_bot(agent)


@pytest.mark.parametrize(
    "agent",
    [
        BROWSER,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15"
        " (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    ],
)
def test_browsers_are_counted(agent: str) -> None:
    assert not is_bot(agent)


def test_a_huge_user_agent_is_still_checked() -> None:
    assert is_bot("Googlebot/2.1 " + "x" * 5000)
    assert not is_bot(BROWSER + " " + "x" * 5000)


# --- beacon bodies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "article_id"),
    [
        ("text/plain", b'{"article_id": 7}', 7),
        ("application/json", b'{"article_id": 123456789}', 123456789),
        ("application/x-www-form-urlencoded", b"a=9", 9),
        ("application/x-www-form-urlencoded", b"article_id=11", 11),
    ],
)
def test_a_beacon_names_its_article(content_type: str, body: bytes, article_id: int) -> None:
    assert beacon_article_id(content_type, body) == article_id


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"),
    [
        ("text/plain", b"{not json", 400, "invalid_json"),
        ("text/plain", b"[" * 1024, 400, "invalid_json"),
        ("text/plain", b"\xff\xfe\x00", 400, "invalid_json"),
        ("application/json", b"{}", 422, "invalid_input"),
        ("application/json", b"[7]", 422, "invalid_input"),
        ("application/json", b'{"article_id": "7"}', 422, "invalid_input"),
        ("application/json", b'{"article_id": true}', 422, "invalid_input"),
        ("application/json", b'{"article_id": 0}', 422, "invalid_input"),
        ("application/json", b'{"article_id": -3}', 422, "invalid_input"),
        ("application/json", b'{"article_id": 1.5}', 422, "invalid_input"),
        ("application/json", b'{"article_id": 99999999999999999999}', 422, "invalid_input"),
        ("application/json", b'{"article_id": 7, "ip": "1.2.3.4"}', 422, "invalid_input"),
        ("application/x-www-form-urlencoded", b"", 422, "invalid_input"),
        ("application/x-www-form-urlencoded", b"a=", 422, "invalid_input"),
        ("application/x-www-form-urlencoded", b"a=abc", 422, "invalid_input"),
        ("application/x-www-form-urlencoded", b"a=%FF", 422, "invalid_input"),
        ("application/octet-stream", b'{"article_id": 7}', 415, "unsupported_media_type"),
        ("multipart/form-data", b"a=7", 415, "unsupported_media_type"),
    ],
)
def test_a_malformed_beacon_is_a_clear_problem(
    content_type: str, body: bytes, status: int, code: str
) -> None:
    with pytest.raises(Problem) as raised:
        beacon_article_id(content_type, body)
    assert (raised.value.status, raised.value.code) == (status, code)
    assert raised.value.detail  # a Vietnamese sentence for whoever reads it


@pytest.mark.parametrize(
    ("read", "fault"),
    [
        (lambda: parse_beacon_json("multipart/form-data", b"a=7"), "unsupported_media_type"),
        (lambda: parse_beacon_json("text/plain", b"{not json"), "invalid_json"),
        (lambda: parse_beacon_form(b"a=%FF"), "invalid_input"),
        (lambda: parse_beacon_form(b"\xff"), "invalid_form"),
    ],
)
def test_the_domain_says_what_is_wrong_with_a_beacon_without_http(
    read: Callable[[], object], fault: str
) -> None:
    with pytest.raises(InvalidBeacon) as raised:
        read()
    assert raised.value.fault == fault
    assert raised.value.message


def test_the_domain_reads_a_json_beacon_for_the_api_to_check() -> None:
    assert parse_beacon_json("text/plain", b'{"article_id": 7, "x": 1}') == {
        "article_id": 7,
        "x": 1,
    }


@pytest.mark.parametrize("raw", [None, "", "x", "-1", "0", "1.0", "٣", "9" * 20])
def test_the_pixel_needs_a_positive_article_id(raw: str | None) -> None:
    with pytest.raises(InvalidBeacon) as raised:
        parse_article_id(raw)
    assert raised.value.fault is BeaconFault.INVALID_INPUT
    assert list(raised.value.errors) == ["a"]
    problem = beacon_problem(raised.value)
    assert (problem.status, problem.code) == (422, "invalid_input")
    assert problem.errors[0]["field"] == "a"


def test_the_pixel_takes_a_plain_number() -> None:
    assert parse_article_id("42") == 42


# --- the countable set --------------------------------------------------------------------


def test_notifications_add_and_remove_articles() -> None:
    articles = CountableArticles([1, 2])
    articles.apply(*parse_notification("3:1"))
    articles.apply(*parse_notification("1:0"))
    assert 3 in articles and 2 in articles and 1 not in articles
    assert len(articles) == 2


def test_a_change_notified_during_a_reload_survives_the_older_snapshot() -> None:
    articles = CountableArticles([1])
    articles.begin_reload()
    articles.apply(5, True)  # published after the snapshot was read
    articles.apply(1, False)  # unpublished after the snapshot was read
    articles.finish_reload([1, 2])  # the snapshot: 1 and 2
    assert 5 in articles and 2 in articles and 1 not in articles
    articles.begin_reload()
    articles.finish_reload([2])  # a later reload starts from a clean slate
    assert 5 not in articles


def test_an_abandoned_reload_keeps_the_set() -> None:
    articles = CountableArticles([1])
    articles.begin_reload()
    articles.apply(2, True)
    articles.abandon_reload()
    assert 1 in articles and 2 in articles


def test_an_unreadable_notification_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_notification("garbage")


# --- event data ---------------------------------------------------------------------------


def _envelope(type_: str, data: dict) -> dict:
    return CloudEvent(type_, source_of("counter"), "x", data).to_dict()


def test_a_views_batch_matches_its_schema_and_carries_no_private_data() -> None:
    address = "203.0.113.9"
    key = view_key(SALT, address, BROWSER, 42, 1)
    grouped = address_key(SALT, address, 42, 1)
    envelope = _envelope(
        "views.batch", ViewsBatchData((View(42, key, date(2026, 11, 28), grouped),)).to_data()
    )
    validate(envelope)
    assert envelope["data"] == {
        "version": 1,
        "views": [{"article_id": 42, "key": key, "day": "2026-11-28", "address_key": grouped}],
    }
    text = json.dumps(envelope)
    assert address not in text and BROWSER not in text and "Chrome" not in text
    # Nor could a later change add them: the schema refuses any other field of a view.
    for extra in ({"address": address}, {"user_agent": BROWSER}):
        view = {"article_id": 42, "key": key, "day": "2026-11-28", **extra}
        with pytest.raises(EventSchemaError):
            validate(_envelope("views.batch", {"version": 1, "views": [view]}))


def test_views_counted_matches_its_schema() -> None:
    data = ViewsCountedData(42, 3, 1250, 17, date(2026, 11, 28), 60, 200).to_data()
    assert data == {
        "article_id": 42,
        "version": 3,
        "total": 1250,
        "today": 17,
        "day": "2026-11-28",
        "last_7_days": 60,
        "last_30_days": 200,
    }
    validate(_envelope("views.counted", data))
    # The two sums came later: an event of an earlier counter, without them, is valid.
    older = {k: v for k, v in data.items() if not k.startswith("last_")}
    validate(_envelope("views.counted", older))
    assert ViewsCountedData.from_data(older).last_7_days is None
    with pytest.raises(EventSchemaError):
        validate(_envelope("views.counted", {**data, "ip": "203.0.113.9"}))


# --- fair counts --------------------------------------------------------------------------


def test_eight_agents_from_one_address_count_by_default_and_no_more() -> None:
    assert AGENTS_PER_ADDRESS == 8
    # One at a time, as beacons come: the ninth agent and after add nothing.
    counted = [admitted_views(before, 1, AGENTS_PER_ADDRESS) for before in range(12)]
    assert counted == [1] * 8 + [0] * 4
    # In batches: a batch that crosses the limit counts only up to it.
    assert admitted_views(0, 100, 8) == 8
    assert admitted_views(6, 5, 8) == 2
    assert admitted_views(8, 3, 8) == 0
    assert admitted_views(20, 3, 8) == 0  # counts past the limit never go negative
    assert admitted_views(0, 3, 1) == 1


def test_an_address_key_groups_one_address_article_and_bucket_and_hides_the_address() -> None:
    key = address_key(SALT, "203.0.113.9", 42, 7)
    assert key == address_key(SALT, "203.0.113.9", 42, 7)
    assert (
        len(
            {
                key,
                address_key(SALT, "203.0.113.10", 42, 7),
                address_key(SALT, "203.0.113.9", 43, 7),
                address_key(SALT, "203.0.113.9", 42, 8),
                address_key(b"another salt", "203.0.113.9", 42, 7),
            }
        )
        == 5
    )
    assert "203.0.113.9" not in key
    # Never equal to a view key, whatever the agent.
    for agent in ("", "42", "address"):
        assert key != view_key(SALT, "203.0.113.9", agent, 42, 7)
    assert key != view_key(SALT, "address", "203.0.113.9", 42, 7)


@pytest.mark.parametrize(
    ("fetch_site", "origin", "other"),
    [
        ("same-origin", None, False),
        ("Same-Origin", "https://tin.example.vn", False),
        ("cross-site", None, True),
        ("same-site", None, True),
        ("none", None, True),  # typed into the address bar: no page of ours sent it
        (None, "https://tin.example.vn", False),
        (None, "https://TIN.example.vn", False),
        (None, "https://evil.example", True),
        (None, "https://tin.example.vn:8443", True),
        (None, "null", True),
        (None, None, False),  # an old browser, or a pixel: nothing says it is not ours
        ("cross-site", "https://tin.example.vn", True),  # Sec-Fetch-Site is believed first
    ],
)
def test_only_pages_of_our_own_site_count(
    fetch_site: str | None, origin: str | None, other: bool
) -> None:
    assert from_other_site(fetch_site, origin, "tin.example.vn") is other


def test_the_origin_is_compared_with_the_host_and_its_port() -> None:
    assert not from_other_site(None, "http://127.0.0.1:8080", "127.0.0.1:8080")
    assert from_other_site(None, "http://127.0.0.1:9090", "127.0.0.1:8080")


# --- most read by period ------------------------------------------------------------------


def test_the_periods_are_today_7_and_30_days() -> None:
    assert [(p.value, p.days) for p in Period] == [("day", 1), ("week", 7), ("month", 30)]
    today = date(2026, 12, 2)
    assert first_day(today, Period.DAY.days) == today
    assert first_day(today, Period.WEEK.days) == date(2026, 11, 26)
    assert first_day(today, Period.MONTH.days) == date(2026, 11, 3)


def test_a_series_has_every_day_oldest_first_with_zero_where_none() -> None:
    today = date(2026, 12, 2)
    counted = {date(2026, 12, 1): 4, date(2026, 11, 20): 99}  # outside the series: left out
    assert day_series(today, 3, counted) == [
        (date(2026, 11, 30), 0),
        (date(2026, 12, 1), 4),
        (date(2026, 12, 2), 0),
    ]


@pytest.mark.parametrize(
    "document",
    [
        {"article_id": 7},
        {"article_id": 2**63 - 1},
        {"article_id": 2**63},
        {"article_id": 0},
        {"article_id": True},
        {"article_id": 7.0},
        {"article_id": "7"},
        {"article_id": 7, "more": 1},
        {},
        [7],
        7,
        None,
    ],
)
def test_the_quick_read_of_a_beacon_agrees_with_its_schema(document: object) -> None:
    quick = plain_article_id(document)
    valid = not list(BEACON_SCHEMA.iter_errors(document))
    # The quick read takes only valid documents; the schema decides the rest.
    assert quick is None or (valid and quick == document["article_id"])  # type: ignore[index]
    if type(document) is dict and type(document.get("article_id")) is int and valid:
        assert quick == document["article_id"]
