"""The moderation table (domain.MODERATION), without I/O: every command from every status is
either allowed, with the event it writes, or refused with InvalidTransition; and each row
names a store function and an event that exist."""

from __future__ import annotations

import inspect
import itertools

import pytest

from services.feedback import events, store
from services.feedback.domain import (
    MODERATION,
    PERSONAL_EVENTS,
    Approve,
    Command,
    Edit,
    InvalidTransition,
    Reject,
    Reply,
    Status,
    Withdraw,
    check_transition,
    event_for,
)

COMMANDS: tuple[Command, ...] = (
    Approve(),
    Reject(),
    Withdraw(),
    Edit("Trần Thị B", "Nội dung đã được sửa lại."),
    Reply("Xin cảm ơn bạn.", "Ban biên tập"),
)

# (command, status the item is in) -> the event written; a pair missing here is refused.
# Only approved items live in other services' read models, so only their edits and replies
# are re-published; a pending item's edit or reply writes no event. A held item (a doubtful
# submission kept for a moderator) is moderated exactly like a pending one.
ALLOWED: dict[tuple[type[Command], Status], str | None] = {
    (Approve, Status.PENDING): "feedback.approved",
    (Approve, Status.HELD): "feedback.approved",
    (Reject, Status.PENDING): "feedback.rejected",
    (Reject, Status.HELD): "feedback.rejected",
    (Withdraw, Status.PENDING): "feedback.withdrawn",
    (Withdraw, Status.HELD): "feedback.withdrawn",
    (Withdraw, Status.APPROVED): "feedback.withdrawn",
    (Withdraw, Status.REJECTED): "feedback.withdrawn",
    (Edit, Status.PENDING): None,
    (Edit, Status.HELD): None,
    (Edit, Status.APPROVED): "feedback.updated",
    (Reply, Status.PENDING): None,
    (Reply, Status.HELD): None,
    (Reply, Status.APPROVED): "feedback.updated",
}


@pytest.mark.parametrize(
    ("command", "status"),
    list(itertools.product(COMMANDS, Status)),
    ids=lambda value: type(value).__name__ if not isinstance(value, Status) else value.value,
)
def test_each_command_from_each_status(command: Command, status: Status) -> None:
    key = (type(command), status)
    if key in ALLOWED:
        assert event_for(command, status) == ALLOWED[key]
    else:
        with pytest.raises(InvalidTransition) as refused:
            event_for(command, status)
        assert refused.value.status is status
        assert refused.value.command == command


def test_the_table_has_a_row_for_every_command_and_no_other() -> None:
    assert set(MODERATION) == {type(command) for command in COMMANDS}


def test_a_refusal_names_the_command_and_the_status_in_vietnamese() -> None:
    refusals = {
        Approve(): "Không thể duyệt ý kiến đã bị từ chối.",
        Reject(): "Không thể từ chối ý kiến đã được duyệt.",
        Withdraw(): "Không thể rút lại ý kiến đã được rút lại.",
        COMMANDS[3]: "Không thể sửa ý kiến đã bị từ chối.",
        COMMANDS[4]: "Không thể trả lời ý kiến đã được rút lại.",
    }
    statuses = {
        Approve(): Status.REJECTED,
        Reject(): Status.APPROVED,
        Withdraw(): Status.WITHDRAWN,
        COMMANDS[3]: Status.REJECTED,
        COMMANDS[4]: Status.WITHDRAWN,
    }
    for command, message in refusals.items():
        with pytest.raises(InvalidTransition) as refused:
            check_transition(command, statuses[command])
        assert str(refused.value) == message


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: type(command).__name__)
def test_each_row_names_a_store_function_taking_the_command(command: Command) -> None:
    save = getattr(store, MODERATION[type(command)].stores)
    assert inspect.iscoroutinefunction(save)
    assert list(inspect.signature(save).parameters)[:2] == ["conn", "item_id"]
    assert len(inspect.signature(save).parameters) == 3


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: type(command).__name__)
def test_each_emitted_event_has_a_payload_builder(command: Command) -> None:
    assert MODERATION[type(command)].emits in events.BUILDERS


def test_only_a_withdrawal_forgets_the_personal_events() -> None:
    assert {kind for kind, row in MODERATION.items() if row.forgets} == {Withdraw}
    assert set(PERSONAL_EVENTS) == {"feedback.submitted", "feedback.approved", "feedback.updated"}
