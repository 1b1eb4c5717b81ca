"""Feedback input rules, without I/O: plain text only, the field limits with Vietnamese
messages, and which moderation command each status allows."""

from __future__ import annotations

import pytest

from services.feedback.domain import (
    Approve,
    Command,
    Edit,
    InvalidInput,
    InvalidTransition,
    Reject,
    Reply,
    Status,
    Withdraw,
    check_edit,
    check_reply,
    check_submission,
    check_transition,
    event_for,
    plain_text,
)

BODY = "Bài viết rất bổ ích, cảm ơn ban biên tập."


def errors_of(**fields: str | None) -> dict[str, str]:
    with pytest.raises(InvalidInput) as raised:
        check_submission(
            fields.get("author_name", "Trần Thị B") or "",
            fields.get("email"),
            fields.get("body", BODY) or "",
        )
    return raised.value.errors


def test_a_valid_submission_is_taken_cleaned() -> None:
    taken = check_submission("  Trần   Thị B ", " ban.doc@example.vn ", f"  {BODY}\r\n")
    assert taken.author_name == "Trần Thị B"
    assert taken.email == "ban.doc@example.vn"
    assert taken.body == BODY


def test_email_is_optional() -> None:
    assert check_submission("Trần Thị B", "", BODY).email is None
    assert check_submission("Trần Thị B", None, BODY).email is None


def test_html_is_stripped_to_plain_text() -> None:
    assert plain_text("<b>Đậm</b> và <a href='http://x'>liên kết</a>") == "Đậm và liên kết"
    assert plain_text("<script>alert(1)</script>Chào bạn") == "Chào bạn"
    # Characters that look like markup stay as the reader typed them (escaped on output).
    assert plain_text("a < b & c > d") == "a < b & c > d"


def test_html_that_leaves_no_text_counts_as_empty() -> None:
    assert errors_of(body="<p><img src=x onerror=alert(1)></p>") == {
        "body": "Xin vui lòng nhập nội dung ý kiến."
    }


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"author_name": ""}, "author_name", "Xin vui lòng nhập họ và tên."),
        ({"author_name": "   "}, "author_name", "Xin vui lòng nhập họ và tên."),
        ({"author_name": "A" * 101}, "author_name", "Họ và tên không được dài quá 100 ký tự."),
        ({"email": "khong-phai-email"}, "email", "Địa chỉ email không hợp lệ"),
        ({"email": "a@b"}, "email", "Địa chỉ email không hợp lệ"),
        ({"email": "a b@example.vn"}, "email", "Địa chỉ email không hợp lệ"),
        ({"email": "x" * 250 + "@example.vn"}, "email", "Địa chỉ email không hợp lệ"),
        ({"body": ""}, "body", "Xin vui lòng nhập nội dung ý kiến."),
        ({"body": "Quá ngắn"}, "body", "Nội dung phải có ít nhất 10 ký tự."),
        ({"body": "x" * 5001}, "body", "Nội dung không được dài quá 5.000 ký tự."),
    ],
)
def test_each_field_rule_names_its_field(fields: dict, field: str, message: str) -> None:
    errors = errors_of(**fields)
    assert list(errors) == [field]
    assert errors[field].startswith(message)


def test_limits_are_inclusive() -> None:
    assert check_submission("A" * 100, None, "x" * 10).author_name == "A" * 100
    assert len(check_submission("A", None, "ý" * 5000).body) == 5000


def test_every_faulty_field_is_reported_at_once() -> None:
    assert set(errors_of(author_name="", email="sai", body="")) == {"author_name", "email", "body"}


def test_an_edit_needs_a_field_and_follows_the_same_limits() -> None:
    with pytest.raises(InvalidInput):
        check_edit(None, None)
    with pytest.raises(InvalidInput) as raised:
        check_edit("", "ngắn")
    assert set(raised.value.errors) == {"author_name", "body"}
    assert check_edit(None, "<i>Nội dung đã sửa</i>").body == "Nội dung đã sửa"


def test_a_reply_is_plain_text_and_not_empty() -> None:
    assert check_reply("<p>Xin cảm ơn bạn.</p>") == "Xin cảm ơn bạn."
    with pytest.raises(InvalidInput):
        check_reply("<p> </p>")


EDIT = Edit("Trần Thị B", None)
REPLY = Reply("Xin cảm ơn bạn.", "Ban biên tập")


@pytest.mark.parametrize(
    ("command", "allowed"),
    [
        (Approve(), {Status.PENDING, Status.HELD}),
        (Reject(), {Status.PENDING, Status.HELD}),
        (Withdraw(), {Status.PENDING, Status.HELD, Status.APPROVED, Status.REJECTED}),
        (EDIT, {Status.PENDING, Status.HELD, Status.APPROVED}),
        (REPLY, {Status.PENDING, Status.HELD, Status.APPROVED}),
    ],
)
def test_transitions(command: Command, allowed: set[Status]) -> None:
    for status in Status:
        if status in allowed:
            check_transition(command, status)
        else:
            with pytest.raises(InvalidTransition):
                check_transition(command, status)


def test_an_invalid_transition_says_why_in_vietnamese() -> None:
    with pytest.raises(InvalidTransition, match="Không thể duyệt ý kiến đã bị từ chối"):
        check_transition(Approve(), Status.REJECTED)


def test_only_changes_to_public_items_republish() -> None:
    assert event_for(REPLY, Status.APPROVED) == "feedback.updated"
    assert event_for(EDIT, Status.APPROVED) == "feedback.updated"
    assert event_for(REPLY, Status.PENDING) is None
    assert event_for(Approve(), Status.PENDING) != "feedback.updated"
