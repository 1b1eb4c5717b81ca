"""The daily cap per client address, without I/O: the counter's key (never the address,
one per address and Vietnamese calendar day), the refusal's wording and Retry-After."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.common.vietnam import VIETNAM
from services.feedback.limits import DEFAULT_DAILY_LIMIT, DailyCap, message, seconds_until_tomorrow

SECRET = b"0123456789abcdef0123456789abcdef"
ADDRESS = "203.0.113.45"
NOON = datetime(2026, 11, 28, 12, 0, tzinfo=VIETNAM)


def test_the_key_stands_for_the_address_without_holding_it() -> None:
    quota = DailyCap(SECRET).quota(ADDRESS, NOON)
    assert ADDRESS not in quota.key and "203" not in quota.key
    assert len(quota.key) == 64
    assert quota.limit == DEFAULT_DAILY_LIMIT == 20
    assert DailyCap(SECRET).quota(ADDRESS, NOON + timedelta(hours=11)) == quota
    assert DailyCap(SECRET).quota("203.0.113.46", NOON).key != quota.key
    # Without the secret nobody can test a guessed address against a stored key.
    assert DailyCap(b"another-secret-of-32-bytes-long!").quota(ADDRESS, NOON).key != quota.key


def test_the_day_is_the_calendar_day_in_vietnam() -> None:
    cap = DailyCap(SECRET, limit=3)
    # 16:59 and 17:00 UTC are 23:59 on the 28th and 00:00 on the 29th in Vietnam.
    before = cap.quota(ADDRESS, datetime(2026, 11, 28, 16, 59, tzinfo=UTC))
    after = cap.quota(ADDRESS, datetime(2026, 11, 28, 17, 0, tzinfo=UTC))
    assert (before.day, after.day) == (date(2026, 11, 28), date(2026, 11, 29))
    assert before.key != after.key  # two days of one address cannot be linked
    assert after.limit == 3


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        DailyCap(SECRET, limit=0)


def test_retry_after_runs_to_midnight_in_vietnam() -> None:
    assert seconds_until_tomorrow(datetime(2026, 11, 28, 23, 0, tzinfo=VIETNAM)) == 3600
    assert seconds_until_tomorrow(datetime(2026, 11, 28, 16, 59, 30, tzinfo=UTC)) == 30
    assert seconds_until_tomorrow(datetime(2026, 11, 28, 17, 0, tzinfo=UTC)) == 24 * 3600


def test_the_refusal_says_how_many_and_when_to_come_back() -> None:
    text = message(20)
    assert "20 ý kiến trong hôm nay" in text and "ngày mai" in text


def test_the_quota_knows_the_visitor_of_today_and_yesterday() -> None:
    """Texts and the last minute are remembered across midnight: yesterday's key counts."""
    cap = DailyCap(SECRET, limit=3, per_minute=2)
    today = cap.quota(ADDRESS, NOON)
    yesterday = cap.quota(ADDRESS, NOON - timedelta(days=1))
    assert today.previous_key == yesterday.key
    assert today.visitor_keys == [today.key, yesterday.key]
    assert today.per_minute == 2
    assert ADDRESS not in "".join(today.visitor_keys)


def test_the_limit_per_minute_is_at_least_one() -> None:
    with pytest.raises(ValueError, match="per minute"):
        DailyCap(SECRET, per_minute=0)
