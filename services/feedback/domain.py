"""Feedback rules without I/O: reader text as plain text, what a valid submission, edit or
reply is, the moderation commands and what each does from each status, and the refusals
the service answers."""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import nh3

from services.feedback import spam

NAME_MAX = 100
BODY_MIN = 10
BODY_MAX = 5000
EMAIL_MAX = 254
TITLE_MAX = 200
PHONE_MAX = 20
REPLY_MAX = 5000

# C0 control characters other than tab and newline: invisible, and useless in feedback.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# A pragmatic address check (RFC 5322's dot-atom local part, a dotted domain). Whether
# the address works is never known anyway; this catches typing mistakes.
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
# A phone number as people write it in Vietnam: "0912 345 678", "+84 91 234 5678",
# "(024) 3825.1234"; 8 to 15 digits.
_PHONE = re.compile(r"\+?[0-9 ().-]+")
_PHONE_DIGITS = (8, 15)


def plain_text(raw: str) -> str:
    """Reader text as plain text in NFC (a letter with its accents is one character, however
    the reader's keyboard composed it): HTML removed (nh3 with no tag allowed, which also drops
    the content of script and style), entities turned back into characters (templates
    escape on output, so nothing is escaped twice), line endings unified, ends trimmed."""
    text = html.unescape(nh3.clean(unicodedata.normalize("NFC", raw), tags=set()))
    # NFC again: unescaping may have joined a letter and a combining mark.
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).strip()


def one_line(raw: str) -> str:
    """A name: plain text on one line, runs of whitespace collapsed."""
    return " ".join(plain_text(raw).split())


class InvalidInput(ValueError):
    """Input that cannot be taken; `errors` maps each faulty field to a Vietnamese message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Submission:
    author_name: str
    email: str | None
    body: str
    # Private like the e-mail: never in events nor on pages.
    phone: str | None = None
    title: str | None = None


def _name_error(name: str) -> str | None:
    if not name:
        return "Xin vui lòng nhập họ và tên."
    if len(name) > NAME_MAX:
        return f"Họ và tên không được dài quá {NAME_MAX} ký tự."
    return None


def _body_error(body: str) -> str | None:
    if not body:
        return "Xin vui lòng nhập nội dung ý kiến."
    if len(body) < BODY_MIN:
        return f"Nội dung phải có ít nhất {BODY_MIN} ký tự."
    if len(body) > BODY_MAX:
        return f"Nội dung không được dài quá {BODY_MAX:,} ký tự.".replace(",", ".")
    return None


def _email_error(email: str) -> str | None:
    if len(email) > EMAIL_MAX or not _EMAIL.fullmatch(email):
        return "Địa chỉ email không hợp lệ (ví dụ đúng: ten@example.vn)."
    return None


def _phone_error(phone: str) -> str | None:
    digits = sum(char.isdigit() for char in phone)
    low, high = _PHONE_DIGITS
    if len(phone) > PHONE_MAX or not _PHONE.fullmatch(phone) or not low <= digits <= high:
        return "Số điện thoại không hợp lệ (ví dụ đúng: 0912 345 678)."
    return None


def _title_error(title: str) -> str | None:
    if len(title) > TITLE_MAX:
        return f"Tiêu đề không được dài quá {TITLE_MAX} ký tự."
    return None


def check_submission(
    author_name: str,
    email: str | None,
    body: str,
    phone: str | None = None,
    title: str | None = None,
) -> Submission:
    """The submission cleaned (NFC, plain text) and checked; InvalidInput naming every
    faulty field. An empty optional field is None."""
    name = one_line(author_name)
    text = plain_text(body)
    address = unicodedata.normalize("NFC", (email or "").strip()) or None
    number = one_line(phone or "") or None
    heading = one_line(title or "") or None
    errors = {
        field: message
        for field, message in (
            ("author_name", _name_error(name)),
            ("email", _email_error(address) if address else None),
            ("phone", _phone_error(number) if number else None),
            ("title", _title_error(heading) if heading else None),
            ("body", _body_error(text)),
        )
        if message
    }
    if errors:
        raise InvalidInput(errors)
    return Submission(name, address, text, number, heading)


def check_edit(author_name: str | None, body: str | None) -> Edit:
    """A moderator's edit of the public fields (each optional, at least one given)."""
    if author_name is None and body is None:
        raise InvalidInput({"(toàn bộ)": "Cần sửa ít nhất họ và tên hoặc nội dung."})
    name = one_line(author_name) if author_name is not None else None
    text = plain_text(body) if body is not None else None
    errors = {
        field: message
        for field, message in (
            ("author_name", _name_error(name) if name is not None else None),
            ("body", _body_error(text) if text is not None else None),
        )
        if message
    }
    if errors:
        raise InvalidInput(errors)
    return Edit(name, text)


def check_reply(body: str) -> str:
    """The organisation's official reply, as plain text."""
    text = plain_text(body)
    if not text:
        raise InvalidInput({"body": "Xin vui lòng nhập nội dung trả lời."})
    if len(text) > REPLY_MAX:
        raise InvalidInput({"body": f"Nội dung trả lời không được dài quá {REPLY_MAX} ký tự."})
    return text


REASON_MAX = 300
# The reasons a moderator picks from; any other is written in full.
REJECT_REASONS = (
    "Nội dung không liên quan",
    "Ngôn từ không phù hợp",
    "Trùng lặp",
    "Thông tin cá nhân",
)


def check_reject_reason(raw: str | None) -> str | None:
    """A reject reason as plain text on one line; None when none was given."""
    reason = one_line(raw or "")
    if len(reason) > REASON_MAX:
        raise InvalidInput({"reason": f"Lý do không được dài quá {REASON_MAX} ký tự."})
    return reason or None


class Status(StrEnum):
    PENDING = "pending"
    # Stored, but doubtful (spam.HoldReason): waits for a moderator like a pending item.
    HELD = "held"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


STATUS_NAMES = {
    Status.PENDING: "đang chờ duyệt",
    Status.HELD: "đang bị tạm giữ chờ kiểm duyệt",
    Status.APPROVED: "đã được duyệt",
    Status.REJECTED: "đã bị từ chối",
    Status.WITHDRAWN: "đã được rút lại",
}


# --- moderation: the commands, and one table of what each does -----------------------------


@dataclass(frozen=True)
class Approve:
    """Publish a pending item under its article."""


@dataclass(frozen=True)
class Reject:
    """Refuse a pending item: it is never published. `reason` is public (the reader sees
    it on the status page) but no part of feedback.rejected."""

    reason: str | None = None


@dataclass(frozen=True)
class Withdraw:
    """Take an item down and erase the reader's name and words."""


@dataclass(frozen=True)
class Edit:
    """Correct the public fields; None leaves a field as it is."""

    author_name: str | None
    body: str | None


@dataclass(frozen=True)
class Reply:
    """The organisation's official reply: signed in public with the organisation's unit
    name (`signature`, FEEDBACK_ORGANISATION_NAME), and the moderator who wrote it kept
    privately (`moderator`, never in events nor on public pages)."""

    text: str
    signature: str
    moderator: str = ""


Command = Approve | Reject | Withdraw | Edit | Reply


@dataclass(frozen=True)
class Moderation:
    """What one command does: from which statuses, what it stores, which event it writes."""

    verb: str  # Vietnamese, for the refusal: "Không thể {verb} ý kiến ..."
    allowed_from: frozenset[Status]
    # The function of store.py that writes the change, called (conn, item_id, command).
    stores: str
    # The event written with the change, when the item was in one of `emits_from`.
    emits: str
    emits_from: frozenset[Status]
    # Whether the item's earlier PERSONAL_EVENTS are erased from the outbox.
    forgets: bool = False

    def event_from(self, status: Status) -> str | None:
        """The event type written when the item was in `status` (None: no event)."""
        return self.emits if status in self.emits_from else None


# A held item waits for a moderator exactly as a pending one does.
_PENDING = frozenset({Status.PENDING, Status.HELD})
_APPROVED = frozenset({Status.APPROVED})
_PUBLISHABLE = _PENDING | _APPROVED
_NOT_WITHDRAWN = _PUBLISHABLE | {Status.REJECTED}

# A rejected item is never published, so it is neither approved later nor edited; a
# withdrawn one has been erased, so nothing applies to it any more. Only approved items
# live in other services' read models, so only their edits and replies are re-published
# (feedback.updated); a pending item's are simply part of what approval publishes later.
MODERATION: dict[type[Command], Moderation] = {
    # command: Moderation(verb, allowed from, stores, emits, emits from[, forgets])
    Approve: Moderation("duyệt", _PENDING, "approve", "feedback.approved", _PENDING),
    Reject: Moderation("từ chối", _PENDING, "reject", "feedback.rejected", _PENDING),
    Withdraw: Moderation(
        "rút lại", _NOT_WITHDRAWN, "withdraw", "feedback.withdrawn", _NOT_WITHDRAWN, forgets=True
    ),
    Edit: Moderation("sửa", _PUBLISHABLE, "edit", "feedback.updated", _APPROVED),
    Reply: Moderation("trả lời", _PUBLISHABLE, "reply", "feedback.updated", _APPROVED),
}

# The events that carried (or announced) the reader's words. Once the item is withdrawn, its
# feedback.withdrawn (a higher version) replaces them for every consumer, and a replay of
# the outbox must not bring the name back (DESIGN rule 4).
PERSONAL_EVENTS = ("feedback.submitted", "feedback.approved", "feedback.updated")


class InvalidTransition(Exception):
    def __init__(self, command: Command, status: Status) -> None:
        self.command = command
        self.status = status
        verb = MODERATION[type(command)].verb
        super().__init__(f"Không thể {verb} ý kiến {STATUS_NAMES[status]}.")


def awaiting_moderation() -> list[Status]:
    """The statuses of the desk's queue: those an item may be approved from."""
    return [status for status in Status if status in MODERATION[Approve].allowed_from]


# What the history of a case calls each command (moderators read it on the case's page).
ACTIONS = {
    Approve: ("approve", "Duyệt"),
    Reject: ("reject", "Từ chối"),
    Withdraw: ("withdraw", "Rút lại"),
    Edit: ("edit", "Sửa nội dung"),
    Reply: ("reply", "Trả lời"),
}
# Showing a site suggestion on /hoi-dap (True) or taking it off: kept in the history too.
QUESTION_ACTIONS = {
    True: ("qa_show", "Đăng lên Hỏi – Đáp"),
    False: ("qa_hide", "Gỡ khỏi Hỏi – Đáp"),
}
ACTION_NAMES = dict([*ACTIONS.values(), *QUESTION_ACTIONS.values()])


def action_of(command: Command) -> str:
    """The history's name of a command ("approve", "reject", ...)."""
    return ACTIONS[type(command)][0]


def history_reason(command: Command) -> str | None:
    """What the history keeps beside the action: the reject reason, if any."""
    return command.reason if isinstance(command, Reject) else None


def age_text(since: datetime, now: datetime) -> str:
    """How long ago, as the queue shows it: "vừa xong", "5 phút trước", "3 giờ trước",
    "2 ngày trước"."""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 1:
        return "vừa xong"
    if minutes < 60:
        return f"{minutes} phút trước"
    if minutes < 24 * 60:
        return f"{minutes // 60} giờ trước"
    return f"{minutes // (24 * 60)} ngày trước"


# Spreadsheets run a cell that starts with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A value as an exported CSV cell: a text that a spreadsheet would take for a formula
    is prefixed with an apostrophe, so it shows as text."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def check_transition(command: Command, status: Status) -> Moderation:
    """What `command` does to an item in `status`; InvalidTransition if it may not."""
    moderation = MODERATION[type(command)]
    if status not in moderation.allowed_from:
        raise InvalidTransition(command, status)
    return moderation


def event_for(command: Command, status: Status) -> str | None:
    """The event type `command` writes for an item in `status` (None: no event)."""
    return check_transition(command, status).event_from(status)


# --- the domain's refusals (api, pages and the moderation page answer them one way) --------


class FeedbackNotFound(Exception):
    pass


class ArticleUnavailable(Exception):
    """The article is unknown or not published: it takes no feedback."""


class DailyLimitReached(Exception):
    """The client address has sent its daily number of submissions already."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"{limit} submissions today")
        self.limit = limit


class TooManySubmissions(Exception):
    """The visitor has sent its number of submissions per minute already."""

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(f"{limit} submissions a minute")
        self.limit = limit
        self.retry_after = retry_after


class SpamRefused(Exception):
    def __init__(self, verdict: spam.Verdict) -> None:
        super().__init__(verdict.rule.value)
        self.verdict = verdict


class IdempotencyKeyReused(Exception):
    """An Idempotency-Key sent again with a different submission."""


class NotForQuestions(Exception):
    """Only an approved and answered site suggestion can be shown on /hoi-dap."""


# --- the case as its reader sees it (the status page) -------------------------------------


class ReaderStatus(StrEnum):
    RECEIVED = "received"
    PUBLISHED = "published"
    ANSWERED = "answered"
    NOT_PUBLISHED = "not_published"
    WITHDRAWN = "withdrawn"


READER_STATUS_NAMES = {
    ReaderStatus.RECEIVED: "Đã nhận, đang chờ kiểm duyệt",
    ReaderStatus.PUBLISHED: "Đã được duyệt và đăng",
    ReaderStatus.ANSWERED: "Đã được trả lời",
    ReaderStatus.NOT_PUBLISHED: "Không được đăng",
    ReaderStatus.WITHDRAWN: "Đã được rút lại",
}


def reader_status(status: str, has_reply: bool) -> ReaderStatus:
    """What the reader is told: derived from the status and whether the organisation has
    answered (an answer to a rejected case is still shown, the status stays "not
    published"). A status this part does not know (a held message) reads as received."""
    if status == Status.WITHDRAWN:
        return ReaderStatus.WITHDRAWN
    if status == Status.REJECTED:
        return ReaderStatus.NOT_PUBLISHED
    if has_reply:
        return ReaderStatus.ANSWERED
    if status == Status.APPROVED:
        return ReaderStatus.PUBLISHED
    return ReaderStatus.RECEIVED
