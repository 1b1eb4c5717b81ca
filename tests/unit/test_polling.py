"""The shared wait (tests/support/polling.py): plain and async checks, the answer it
returns, and a failure that says what was awaited."""

from __future__ import annotations

import pytest

from tests.support.polling import eventually


async def test_a_plain_check_is_asked_until_it_holds() -> None:
    answers = iter([0, None, "", 3])
    assert await eventually(lambda: next(answers), interval=0) == 3


async def test_an_async_check_is_awaited_and_its_answer_returned() -> None:
    asked = 0

    async def check() -> str | None:
        nonlocal asked
        asked += 1
        return "ready" if asked == 3 else None

    assert await eventually(check, interval=0) == "ready"
    assert asked == 3


async def test_a_check_that_never_holds_fails_naming_what_was_awaited() -> None:
    with pytest.raises(AssertionError, match=r"not within 0 s: the marker counted; last answer: 0"):
        await eventually(lambda: 0, timeout=0, message="the marker counted")


async def test_without_a_message_the_failure_names_the_check() -> None:
    async def marker_counted() -> bool:
        return False

    with pytest.raises(AssertionError, match="marker_counted"):
        await eventually(marker_counted, timeout=0)
