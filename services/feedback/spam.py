"""Spam checks without I/O: the honeypot, the signed form timestamp, links, and the
fingerprint by which a repeated text is recognised (the store looks that one up)."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

# A person reads the form and types at least a sentence; a script posts at once.
MIN_FILL_SECONDS = 3.0
MAX_FORM_AGE_SECONDS = 24 * 3600.0
MAX_LINKS = 2
DUPLICATE_WINDOW = timedelta(hours=24)

_LINK = re.compile(r"\b(?:https?://|www\.)", re.IGNORECASE)


class Rule(StrEnum):
    HONEYPOT = "honeypot"
    FORM_INVALID = "form_invalid"
    TOO_FAST = "too_fast"
    FORM_EXPIRED = "form_expired"
    TOO_MANY_LINKS = "too_many_links"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Verdict:
    """Why a submission is refused as spam: a stable rule (the problem code), a status,
    a Vietnamese message, and the field it concerns (None for the whole form)."""

    rule: Rule
    message: str
    status: int = 422
    field: str | None = None

    @property
    def code(self) -> str:
        return f"spam_{self.rule.value}"


HONEYPOT = Verdict(
    Rule.HONEYPOT,
    "Ý kiến không được nhận vì biểu mẫu có dấu hiệu được điền tự động."
    " Nếu bạn là người đọc, xin vui lòng để trống ô ẩn và gửi lại.",
)
FORM_INVALID = Verdict(
    Rule.FORM_INVALID,
    "Biểu mẫu không hợp lệ hoặc đã bị thay đổi. Xin vui lòng bấm Gửi một lần nữa.",
)
TOO_FAST = Verdict(
    Rule.TOO_FAST,
    "Bạn gửi quá nhanh. Xin vui lòng kiểm tra lại nội dung rồi bấm Gửi một lần nữa.",
)
FORM_EXPIRED = Verdict(
    Rule.FORM_EXPIRED,
    "Biểu mẫu đã được mở quá một ngày nên đã hết hạn. Xin vui lòng bấm Gửi một lần nữa.",
)
TOO_MANY_LINKS = Verdict(
    Rule.TOO_MANY_LINKS,
    f"Nội dung chứa quá nhiều đường liên kết (tối đa {MAX_LINKS}).",
    field="body",
)
DUPLICATE = Verdict(
    Rule.DUPLICATE,
    "Ý kiến có nội dung này đã được gửi gần đây; xin đừng gửi lại nhiều lần.",
    status=409,
    field="body",
)


def check_honeypot(value: str | None) -> Verdict | None:
    """The form's hidden field: people never see it, form-filling scripts fill it."""
    return HONEYPOT if value and value.strip() else None


def count_links(text: str) -> int:
    return len(_LINK.findall(text))


def check_links(text: str) -> Verdict | None:
    return TOO_MANY_LINKS if count_links(text) > MAX_LINKS else None


def fingerprint(text: str) -> str:
    """The same text whatever its case, accents' encoding (NFC), spacing or punctuation,
    so a resubmission with a changed space or full stop is still recognised."""
    normal = unicodedata.normalize("NFC", text).casefold()
    words = re.findall(r"\w+", normal)
    return hashlib.sha256(" ".join(words).encode()).hexdigest()


class FormSigner:
    """Signs the moment a form was rendered (HMAC-SHA256), for the form it was rendered
    for, so the time a reader took cannot be forged and a stamp cannot be moved from
    one form to another."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the form secret must be at least 16 bytes")
        self._secret = secret

    def _mac(self, purpose: str, message: str) -> str:
        return hmac.new(self._secret, f"{purpose}:{message}".encode(), hashlib.sha256).hexdigest()

    def issue(self, target: str, now: float) -> str:
        stamp = str(int(now * 1000))
        return f"{stamp}.{self._mac('form', f'{target}:{stamp}')}"

    def check(self, token: str | None, target: str, now: float) -> Verdict | None:
        """None if the token is ours, for this form, and was issued between
        MIN_FILL_SECONDS and MAX_FORM_AGE_SECONDS ago."""
        stamp, _, mac = (token or "").partition(".")
        # ASCII only: str.isdigit() also takes "²", which int() refuses.
        if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 15:
            return FORM_INVALID
        if not _same(mac, self._mac("form", f"{target}:{stamp}")):
            return FORM_INVALID
        elapsed = now - int(stamp) / 1000
        if elapsed < MIN_FILL_SECONDS:
            return TOO_FAST
        if elapsed > MAX_FORM_AGE_SECONDS:
            return FORM_EXPIRED
        return None

    def csrf_token(self, session: str) -> str:
        """A token bound to the signed-in session, for the moderation page's forms."""
        return self._mac("csrf", hashlib.sha256(session.encode()).hexdigest())

    def check_csrf(self, session: str, token: str | None) -> bool:
        return _same(self.csrf_token(session), token or "")


def _same(given: str, expected: str) -> bool:
    # Bytes: compare_digest refuses non-ASCII str, and `given` comes from the request.
    return hmac.compare_digest(given.encode(), expected.encode())
