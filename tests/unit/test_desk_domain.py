"""The desk's pure rules: moving a category among its siblings, the list's day filters."""

from __future__ import annotations

from datetime import date

import pytest

from services.articles import domain
from services.articles.domain import Category


def cats(*ids: int, parent: int | None = None) -> list[Category]:
    return [Category(i, f"C{i}", f"c{i}", parent_id=parent, position=0) for i in ids]


def test_moving_up_swaps_with_the_one_before_and_numbers_every_sibling() -> None:
    assert domain.moved_positions(cats(1, 2, 3), 3, -1) == {1: 10, 3: 20, 2: 30}
    assert domain.moved_positions(cats(1, 2, 3), 1, 1) == {2: 10, 1: 20, 3: 30}


def test_the_first_cannot_move_up_nor_the_last_down() -> None:
    assert domain.moved_positions(cats(1, 2), 1, -1) is None
    assert domain.moved_positions(cats(1, 2), 2, 1) is None
    assert domain.moved_positions(cats(1, 2), 9, 1) is None


def test_siblings_are_those_of_the_same_parent_in_order() -> None:
    everyone = cats(1, 2) + cats(3, 4, parent=1)
    assert [c.id for c in domain.siblings_of(everyone[3], everyone)] == [3, 4]
    assert [c.id for c in domain.siblings_of(everyone[0], everyone)] == [1, 2]


def test_days_are_read_as_iso_dates_and_bad_ones_name_their_field() -> None:
    assert domain.parse_day("2025-03-01", "tu-ngay") == date(2025, 3, 1)
    assert domain.parse_day("", "tu-ngay") is None
    with pytest.raises(domain.UserInputError) as refused:
        domain.parse_day("01/03/2025", "den-ngay")
    assert refused.value.field == "den-ngay"


def test_a_day_range_spans_whole_days_in_vietnam() -> None:
    start, end = domain.day_range(date(2025, 3, 1), date(2025, 3, 1))
    assert start is not None and end is not None
    assert start.isoformat() == "2025-03-01T00:00:00+07:00"
    assert (end - start).days == 1
    assert domain.day_range(None, None) == (None, None)
