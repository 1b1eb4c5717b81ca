"""The desk's rules without I/O: reject reasons, the queue's statuses, how old a case is,
what the history records, and CSV cells a spreadsheet cannot run as formulas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.feedback.domain import (
    ACTION_NAMES,
    MODERATION,
    REASON_MAX,
    REJECT_REASONS,
    Approve,
    Edit,
    InvalidInput,
    Reject,
    Reply,
    Status,
    Withdraw,
    action_of,
    age_text,
    awaiting_moderation,
    check_reject_reason,
    csv_cell,
    history_reason,
)

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ago", "shown"),
    [
        (timedelta(seconds=20), "vừa xong"),
        (timedelta(minutes=5, seconds=59), "5 phút trước"),
        (timedelta(hours=3, minutes=10), "3 giờ trước"),
        (timedelta(days=2, hours=5), "2 ngày trước"),
        (-timedelta(minutes=3), "vừa xong"),  # a clock a little ahead
    ],
)
def test_the_age_of_a_case_in_vietnamese(ago: timedelta, shown: str) -> None:
    assert age_text(NOW - ago, NOW) == shown


def test_a_reject_reason_is_one_line_of_plain_text() -> None:
    assert check_reject_reason("  Trùng   lặp <b>với</b>\n ý kiến #3 ") == "Trùng lặp với ý kiến #3"
    assert check_reject_reason("") is None
    assert check_reject_reason(None) is None
    assert check_reject_reason("<script>x</script>") is None


def test_a_reject_reason_too_long_names_the_field() -> None:
    with pytest.raises(InvalidInput) as refused:
        check_reject_reason("x" * (REASON_MAX + 1))
    assert set(refused.value.errors) == {"reason"}


def test_the_short_list_of_reasons() -> None:
    assert REJECT_REASONS == (
        "Nội dung không liên quan",
        "Ngôn từ không phù hợp",
        "Trùng lặp",
        "Thông tin cá nhân",
    )


def test_the_queue_holds_the_statuses_an_item_may_be_approved_from() -> None:
    assert awaiting_moderation() == [s for s in Status if s in MODERATION[Approve].allowed_from]
    assert Status.PENDING in awaiting_moderation()


def test_the_history_names_every_command_and_keeps_only_the_reject_reason() -> None:
    commands = (Approve(), Reject("Trùng lặp"), Withdraw(), Edit("A", None), Reply("x", "y"))
    assert [action_of(c) for c in commands] == ["approve", "reject", "withdraw", "edit", "reply"]
    # Every name the history can hold has a Vietnamese name: the commands' and the
    # /hoi-dap switch's.
    assert set(ACTION_NAMES) == {action_of(c) for c in commands} | {"qa_show", "qa_hide"}
    assert [history_reason(c) for c in commands] == [None, "Trùng lặp", None, None, None]


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+84 912", "'+84 912"),
        ("-1+2", "'-1+2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTab", "'\tTab"),
        ("\rCR", "'\rCR"),
        ("Nguyễn Văn A = B", "Nguyễn Văn A = B"),
        (42, "42"),
        (None, ""),
    ],
)
def test_a_csv_cell_never_starts_a_formula(value: object, cell: str) -> None:
    assert csv_cell(value) == cell
