"""The editor desk's pure helpers (services/articles/desk_editor.py): the side-by-side
comparison of two texts, the nested category choices, and the workflow buttons a person
is offered, which follow domain.TRANSITIONS."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from services.articles import domain
from services.articles.desk_editor import (
    ComparedLine,
    allowed_steps,
    category_choices,
    side_by_side,
)
from services.common.roles import Principal

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def person(user_id: int, *roles: str) -> Principal:
    return Principal(user_id, "Người dùng", frozenset(roles), NOW)


def article(status: str, author_id: int = 1) -> domain.Article:
    return domain.Article(
        id=5, slug="bai", title="Bài", summary="", body_html="<p>x</p>", byline="",
        category=domain.Category(1, "Tin", "tin"), image_id=None, image_caption="",
        author_id=author_id, status=status, version=1, created_at=NOW, updated_at=NOW,
        published_at=None, author_name="", unit="", source="", text_updated_at=NOW,
        publish_at=None, end_at=None, return_reason=None, deleted_at=None, deleted_from=None,
    )  # fmt: skip


def test_equal_lines_sit_side_by_side_and_changes_are_marked() -> None:
    rows = side_by_side(["một", "hai", "ba"], ["một", "hai sửa", "ba", "bốn"])
    assert rows == [
        ComparedLine("một", "một", False),
        ComparedLine("hai", "hai sửa", True),
        ComparedLine("ba", "ba", False),
        ComparedLine(None, "bốn", True),
    ]
    assert side_by_side(["a", "b"], ["b"]) == [
        ComparedLine("a", None, True),
        ComparedLine("b", "b", False),
    ]
    assert side_by_side([], []) == []


def test_children_follow_their_parent_in_the_category_choices() -> None:
    news = domain.Category(1, "Tin tức", "tin-tuc")
    local = domain.Category(2, "Trong tỉnh", "trong-tinh", parent_id=1)
    notes = domain.Category(3, "Thông báo", "thong-bao")
    assert category_choices([news, notes, local]) == [(news, False), (local, True), (notes, False)]


def test_an_author_submits_their_draft_and_nothing_more() -> None:
    author = person(1, "author")
    assert allowed_steps(author, article(domain.DRAFT)) == ["submit"]
    assert allowed_steps(author, article(domain.PENDING)) == []
    assert allowed_steps(author, article(domain.DRAFT, author_id=2)) == []
    assert allowed_steps(author, None) == ["submit"]


def test_an_editor_gets_the_steps_the_state_allows() -> None:
    editor = person(2, "editor")
    assert allowed_steps(editor, article(domain.PENDING)) == ["publish", "schedule", "return"]
    assert allowed_steps(editor, article(domain.PUBLISHED)) == ["unpublish"]
    assert allowed_steps(editor, article(domain.SCHEDULED)) == ["publish", "unpublish"]
    assert allowed_steps(editor, None) == ["publish", "schedule"]
    assert allowed_steps(person(3, "admin"), replace(article(domain.DRAFT))) == [
        "submit", "publish", "schedule",
    ]  # fmt: skip
    assert allowed_steps(person(4, "moderator"), article(domain.DRAFT)) == []
