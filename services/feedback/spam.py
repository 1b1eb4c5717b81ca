"""Spam checks without I/O: the honeypot, the signed form timestamp, links, banned words,
and the fingerprint by which a repeated text is recognised (the store looks that one up).

A check either refuses a submission (a Verdict: nothing is stored) or holds it for a
moderator (a HoldReason: stored with status held). Robots are refused; what a person may
well have written in good faith (a banned word, a few links too many, the same text sent
to another article) is held, so a moderator decides and no reader is turned away.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from services.common.csrf import CsrfTokens
from services.feedback import limits

# A person reads the form and types at least a sentence; a script posts at once.
MIN_FILL_SECONDS = 3.0
MAX_FORM_AGE_SECONDS = 24 * 3600.0
# Up to MAX_LINKS links pass; more are held for a moderator; more than MAX_LINKS_HELD are
# refused (a reader's message cites a source or two; a list of links is advertising).
MAX_LINKS = 2
MAX_LINKS_HELD = 5
# How long a visitor's text is remembered to recognise it sent again (limits.Quota keys it
# to the visitor; the memory is deleted after this window).
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
    f"Nội dung chứa quá nhiều đường liên kết (tối đa {MAX_LINKS_HELD}).",
    field="body",
)
DUPLICATE = Verdict(
    Rule.DUPLICATE,
    "Bạn đã gửi ý kiến có nội dung này tới đây trong 24 giờ qua; ý kiến đó đã được nhận"
    " và đang chờ kiểm duyệt, nên không cần gửi lại.",
    status=409,
    field="body",
)


class HoldReason(StrEnum):
    """Why a stored submission waits, held, for a moderator (stored on the item)."""

    BANNED_WORD = "banned_word"
    MANY_LINKS = "many_links"
    REPEATED_TEXT = "repeated_text"


HOLD_LABELS = {
    HoldReason.BANNED_WORD: "Chứa từ ngữ trong danh sách cấm",
    HoldReason.MANY_LINKS: f"Có hơn {MAX_LINKS} đường liên kết",
    HoldReason.REPEATED_TEXT: "Cùng người gửi đã gửi nội dung này tới nơi khác trong 24 giờ qua",
}


# What each refusal's code means, for the moderators' counts (spam-stats).
REFUSAL_LABELS = {
    HONEYPOT.code: "Ô ẩn (chỉ máy tự điền thấy) bị điền",
    FORM_INVALID.code: "Biểu mẫu không hợp lệ hoặc bị sửa",
    TOO_FAST.code: f"Gửi trong vòng {MIN_FILL_SECONDS:g} giây sau khi mở biểu mẫu",
    FORM_EXPIRED.code: "Biểu mẫu đã mở quá một ngày",
    TOO_MANY_LINKS.code: f"Có hơn {MAX_LINKS_HELD} đường liên kết",
    DUPLICATE.code: "Cùng người gửi, cùng nội dung, cùng nơi nhận trong 24 giờ",
    limits.CODE: "Vượt số ý kiến tối đa mỗi ngày của một người gửi",
    limits.RATE_CODE: "Vượt số ý kiến tối đa mỗi phút của một người gửi",
}


def reason_label(code: str) -> str:
    """The Vietnamese label of a refusal's or a hold's code (the code itself if unknown)."""
    if code in REFUSAL_LABELS:
        return REFUSAL_LABELS[code]
    return HOLD_LABELS.get(HoldReason(code), code) if code in set(HoldReason) else code


def check_honeypot(value: str | None) -> Verdict | None:
    """The form's hidden field: people never see it, form-filling scripts fill it."""
    return HONEYPOT if value and value.strip() else None


def count_links(text: str) -> int:
    return len(_LINK.findall(text))


def check_links(text: str) -> Verdict | None:
    """Refuses only above MAX_LINKS_HELD; link_hold holds what lies between."""
    return TOO_MANY_LINKS if count_links(text) > MAX_LINKS_HELD else None


def link_hold(text: str) -> HoldReason | None:
    return HoldReason.MANY_LINKS if count_links(text) > MAX_LINKS else None


def fold(text: str) -> str:
    """Text as banned words are compared: compatibility forms and accents' encodings made
    one (NFKD), the accents dropped, "đ" as "d", case folded. "Đường", "đường" written with
    combining accents, "DUONG" and "duong" all fold to "duong"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    # "đ" is a letter of its own, not "d" with a mark: no decomposition removes its bar.
    return bare.replace("đ", "d")


class BannedWords:
    """The configured banned words and phrases, found as whole words in folded text: a
    banned "lua dao" is found in "Lừa  đảo!" but not in "luadao" or "sự lừa đảong"."""

    def __init__(self, words: Iterable[str] = ()) -> None:
        phrases = {" ".join(fold(word).split()) for word in words}
        phrases.discard("")
        # Longest first, so a phrase wins over a word it starts with; any whitespace
        # between a phrase's words matches.
        alternatives = "|".join(
            r"\s+".join(map(re.escape, phrase.split()))
            for phrase in sorted(phrases, key=len, reverse=True)
        )
        self.words = frozenset(phrases)
        self._pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)") if phrases else None

    def found_in(self, *texts: str) -> bool:
        pattern = self._pattern
        return pattern is not None and any(pattern.search(fold(text)) for text in texts)


NO_BANNED_WORDS = BannedWords()


def holds(author_name: str, body: str, banned: BannedWords) -> list[HoldReason]:
    """The reasons to hold a submission for its own words (the name is published too)."""
    reasons = [HoldReason.BANNED_WORD] if banned.found_in(author_name, body) else []
    return reasons + ([hold] if (hold := link_hold(body)) else [])


def repeat_rule(target: str, earlier_targets: Iterable[str]) -> Verdict | HoldReason | None:
    """The same visitor's same text, sent within DUPLICATE_WINDOW to these targets before:
    to this target again it is refused (the first is stored and waits for moderation; a
    second copy would only be more to moderate); to another target it is held, since one
    comment pasted on many articles is what spam looks like, yet a reader may mean it."""
    earlier = set(earlier_targets)
    if target in earlier:
        return DUPLICATE
    return HoldReason.REPEATED_TEXT if earlier else None


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
        self._csrf = CsrfTokens(secret)

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
        """A token bound to the signed-in session, for the moderation page's forms (the
        desk's one kind of token, services/common/csrf.py)."""
        return self._csrf.token(session)

    def check_csrf(self, session: str, token: str | None) -> bool:
        return self._csrf.check(session, token)


def _same(given: str, expected: str) -> bool:
    # Bytes: compare_digest refuses non-ASCII str, and `given` comes from the request.
    return hmac.compare_digest(given.encode(), expected.encode())
