"""The limits per visitor, without I/O: who the visitor is (a keyed hash of the client
address and the Vietnamese calendar day, never the address itself), the daily cap, the
number of submissions per minute, and how their refusals read.

The gateway limits the rate too (a few per minute per address); the service's own limits
hold behind any gateway and for the JSON API above all, which has neither the forms'
honeypot nor their signed timestamp. The visitor's key also tells whether the same visitor
sent the same text before (spam.repeat_rule).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.common.vietnam import VIETNAM

DEFAULT_DAILY_LIMIT = 20
# The gateway lets an address post 6 a minute; a reader writes one message in minutes.
DEFAULT_PER_MINUTE = 5
CODE = "too_many_submissions"
RATE_CODE = "submission_rate"


@dataclass(frozen=True)
class Quota:
    """The counter one submission is charged to: `key` stands for one address on one day
    (the visitor); `previous_key` for the same address the day before, so that what is
    remembered for 24 hours (the texts sent, the last minute's submissions) still counts
    after midnight."""

    key: str
    day: date
    limit: int
    previous_key: str = ""
    per_minute: int = DEFAULT_PER_MINUTE

    @property
    def visitor_keys(self) -> list[str]:
        return [self.key, self.previous_key] if self.previous_key else [self.key]


@dataclass(frozen=True)
class DailyCap:
    """At most `limit` submissions per client address per calendar day in Vietnam, and at
    most `per_minute` in any minute."""

    secret: bytes
    limit: int = DEFAULT_DAILY_LIMIT
    per_minute: int = DEFAULT_PER_MINUTE

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError("the daily limit must be at least 1")
        if self.per_minute < 1:
            raise ValueError("the limit per minute must be at least 1")

    def quota(self, address: str, now: datetime) -> Quota:
        day = now.astimezone(VIETNAM).date()
        key = self._key(address, day)
        return Quota(
            key, day, self.limit, self._key(address, day - timedelta(days=1)), self.per_minute
        )

    def _key(self, address: str, day: date) -> str:
        # The day is in the message too, so one address's keys of two days cannot be linked.
        message = f"daily-cap:{day.isoformat()}:{address}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()


def message(limit: int) -> str:
    return (
        f"Bạn đã gửi {limit} ý kiến trong hôm nay, là số lượng tối đa cho phép mỗi ngày."
        " Xin vui lòng gửi tiếp vào ngày mai."
    )


def seconds_until_tomorrow(now: datetime) -> int:
    """Seconds from `now` until the next midnight in Vietnam (for Retry-After)."""
    local = now.astimezone(VIETNAM)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), VIETNAM)
    return max(1, int((midnight - local).total_seconds()))


def rate_message(per_minute: int) -> str:
    return (
        f"Bạn đã gửi {per_minute} ý kiến trong một phút, là số lượng tối đa cho phép."
        " Xin vui lòng chờ một lát rồi gửi lại."
    )
