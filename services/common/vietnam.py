"""Vietnam's calendar and clock, without I/O: the time zone every day, date and
timestamp of the product is read in (DESIGN rule 9), for domains and templates alike."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def utc_now() -> datetime:
    return datetime.now(UTC)


def vn_day(moment: datetime) -> date:
    """The calendar day in Asia/Ho_Chi_Minh of an aware moment."""
    return moment.astimezone(VIETNAM).date()


def iso_time(moment: datetime) -> str:
    """ISO 8601 with the offset, in Vietnam's time as readers see it."""
    return moment.astimezone(VIETNAM).isoformat()


def vn_date(value: datetime | date | None) -> str:
    """dd/mm/yyyy as readers in Vietnam write it, on Vietnam's calendar day."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(VIETNAM).date()
    return value.strftime("%d/%m/%Y")


def vn_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(VIETNAM).strftime("%H:%M %d/%m/%Y")


def vn_number(value: int) -> str:
    """1234567 -> 1.234.567 (Vietnamese thousands separator)."""
    return f"{value:,}".replace(",", ".")
