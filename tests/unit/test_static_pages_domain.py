"""The rules of static pages, without I/O: which command is allowed from which state,
what the public and the staff see, and slugs made from titles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.articles import domain
from services.articles.domain import StaticPage
from services.common.auth import Principal

LATER = datetime.now(UTC) + timedelta(hours=1)


def who(*roles: str) -> Principal:
    return Principal(user_id=7, name="u", roles=frozenset(roles), expires_at=LATER)


def stored(slug: str, status: str) -> StaticPage:
    return StaticPage(slug, "Trang đã viết", "<p>x</p>", 3, LATER, status=status)


@pytest.mark.parametrize(
    ("command", "status", "after"),
    [
        ("edit", "draft", "draft"),
        ("edit", "published", "published"),  # an edit of a public page is public at once
        ("publish", "draft", "published"),
        ("unpublish", "published", "draft"),
        ("delete", "draft", "deleted"),
        ("delete", "published", "deleted"),
        ("restore", "deleted", "draft"),  # out of the trash, never public by surprise
    ],
)
def test_allowed_commands_lead_to_their_state(command: str, status: str, after: str) -> None:
    assert domain.page_transition(command, status) == after


@pytest.mark.parametrize(
    ("command", "status"),
    [
        ("edit", "deleted"),
        ("publish", "published"),
        ("publish", "deleted"),
        ("unpublish", "draft"),
        ("unpublish", "deleted"),
        ("delete", "deleted"),
        ("restore", "draft"),
        ("restore", "published"),
    ],
)
def test_other_commands_are_refused(command: str, status: str) -> None:
    with pytest.raises(domain.PageStateError):
        domain.page_transition(command, status)


def test_the_public_sees_a_published_page_or_else_the_built_in_default() -> None:
    about = domain.ABOUT_PAGE
    for status in ("draft", "deleted"):
        shown = domain.page_shown(about, stored(about, status), None)
        assert shown is not None and shown.status == "default" and shown.version == 0
        assert domain.page_shown("lien-he", stored("lien-he", status), who("author")) is None
    assert domain.page_shown(about, stored(about, "published"), None) == stored(about, "published")
    assert domain.page_shown("lien-he", None, None) is None


def test_editors_and_admins_see_a_page_in_any_state() -> None:
    for role in ("editor", "admin"):
        for status in ("draft", "published", "deleted"):
            page = stored("lien-he", status)
            assert domain.page_shown("lien-he", page, who(role)) == page
    assert not domain.can_manage_pages(who("author"))
    assert not domain.can_manage_pages(who("moderator"))
    assert not domain.can_manage_pages(None)


def test_a_page_slug_comes_from_the_title_and_is_made_free() -> None:
    assert domain.page_slug_for("Liên hệ", set()) == "lien-he"
    assert domain.page_slug_for("Liên hệ", {"lien-he"}) == "lien-he-2"
    assert domain.page_slug_for("Liên hệ", {"lien-he", "lien-he-2"}) == "lien-he-3"
    assert domain.page_slug_for("!!!", set()) == "trang"
    long_slug = domain.page_slug_for("a" * 80, {"a" * 80})
    assert len(long_slug) <= domain.SLUG_MAX_LENGTH and long_slug.endswith("-2")


def test_the_staff_list_adds_the_defaults_nobody_has_written() -> None:
    pages = domain.with_default_pages([stored("lien-he", "draft")])
    assert [(p.slug, p.status) for p in pages] == [("gioi-thieu", "default"), ("lien-he", "draft")]
    written = domain.with_default_pages([stored("gioi-thieu", "draft")])
    assert [(p.slug, p.status) for p in written] == [("gioi-thieu", "draft")]
