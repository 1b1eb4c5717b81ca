"""Feedback rules without I/O: reader text as plain text, what a valid submission, edit or
reply is, and which moderation action each status allows."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from enum import StrEnum

import nh3

NAME_MAX = 100
BODY_MIN = 10
BODY_MAX = 5000
EMAIL_MAX = 254
REPLY_MAX = 5000

# C0 control characters other than tab and newline: invisible, and useless in feedback.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# A pragmatic address check (RFC 5322's dot-atom local part, a dotted domain). Whether
# the address works is never known anyway; this catches typing mistakes.
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def plain_text(raw: str) -> str:
    """Reader text as plain text: HTML removed (nh3 with no tag allowed, which also drops
    the content of script and style), entities turned back into characters (templates
    escape on output, so nothing is escaped twice), line endings unified, ends trimmed."""
    text = html.unescape(nh3.clean(raw, tags=set()))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
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


def check_submission(author_name: str, email: str | None, body: str) -> Submission:
    """The submission cleaned and checked; InvalidInput naming every faulty field."""
    name = one_line(author_name)
    text = plain_text(body)
    address = (email or "").strip() or None
    errors = {
        field: message
        for field, message in (
            ("author_name", _name_error(name)),
            ("email", _email_error(address) if address else None),
            ("body", _body_error(text)),
        )
        if message
    }
    if errors:
        raise InvalidInput(errors)
    return Submission(name, address, text)


@dataclass(frozen=True)
class Edit:
    author_name: str | None
    body: str | None


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


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Action(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    WITHDRAW = "withdraw"
    EDIT = "edit"
    REPLY = "reply"


STATUS_NAMES = {
    Status.PENDING: "đang chờ duyệt",
    Status.APPROVED: "đã được duyệt",
    Status.REJECTED: "đã bị từ chối",
    Status.WITHDRAWN: "đã được rút lại",
}
ACTION_NAMES = {
    Action.APPROVE: "duyệt",
    Action.REJECT: "từ chối",
    Action.WITHDRAW: "rút lại",
    Action.EDIT: "sửa",
    Action.REPLY: "trả lời",
}

# A rejected item is never published, so it is neither approved later nor edited; a
# withdrawn one has been erased, so nothing applies to it any more.
ALLOWED_FROM: dict[Action, frozenset[Status]] = {
    Action.APPROVE: frozenset({Status.PENDING}),
    Action.REJECT: frozenset({Status.PENDING}),
    Action.WITHDRAW: frozenset({Status.PENDING, Status.APPROVED, Status.REJECTED}),
    Action.EDIT: frozenset({Status.PENDING, Status.APPROVED}),
    Action.REPLY: frozenset({Status.PENDING, Status.APPROVED}),
}


class InvalidTransition(Exception):
    def __init__(self, action: Action, status: Status) -> None:
        self.action = action
        self.status = status
        super().__init__(f"Không thể {ACTION_NAMES[action]} ý kiến {STATUS_NAMES[status]}.")


def check_transition(action: Action, status: Status) -> None:
    if status not in ALLOWED_FROM[action]:
        raise InvalidTransition(action, status)


def republishes(action: Action, status: Status) -> bool:
    """Whether changing an item in `status` re-publishes it (feedback.updated): only the
    public (approved) items live in other services' read models."""
    return action in (Action.EDIT, Action.REPLY) and status is Status.APPROVED
