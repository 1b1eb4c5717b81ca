"""The daily cap on submissions per client address, without I/O: which counter a submission
falls on (a keyed hash of the address and the Vietnamese calendar day, never the address
itself), and how the refusal reads.

The gateway limits the rate (a few per minute); this caps the total, for the JSON API
above all, which has neither the forms' honeypot nor their signed timestamp.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.common.vietnam import VIETNAM

DEFAULT_DAILY_LIMIT = 20
CODE = "too_many_submissions"


@dataclass(frozen=True)
class Quota:
    """The counter one submission is charged to: `key` stands for one address on one day."""

    key: str
    day: date
    limit: int


@dataclass(frozen=True)
class DailyCap:
    """At most `limit` submissions per client address per calendar day in Vietnam."""

    secret: bytes
    limit: int = DEFAULT_DAILY_LIMIT

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError("the daily limit must be at least 1")

    def quota(self, address: str, now: datetime) -> Quota:
        day = now.astimezone(VIETNAM).date()
        # The day is in the message too, so one address's keys of two days cannot be linked.
        message = f"daily-cap:{day.isoformat()}:{address}".encode()
        key = hmac.new(self.secret, message, hashlib.sha256).hexdigest()
        return Quota(key, day, self.limit)


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
