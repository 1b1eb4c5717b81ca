"""Static pages ("Giới thiệu" and others an admin writes), with a Vietnamese default for
each page the site links to before anyone has written it."""

from __future__ import annotations

import asyncpg

from services.articles import store

ABOUT = "gioi-thieu"

DEFAULTS: dict[str, tuple[str, str]] = {
    ABOUT: (
        "Giới thiệu",
        "<p>Đây là cổng thông tin điện tử của cơ quan, nơi đăng tải tin tức về tình hình "
        "hoạt động, các chủ trương, chính sách và những sự kiện tiêu biểu.</p>"
        "<p>Bạn đọc có thể gửi phản hồi cho từng bản tin hoặc góp ý chung cho cổng thông "
        'tin qua mục <a href="/gop-y">Góp ý</a>. Các ý kiến được ban biên tập xem xét '
        "trước khi đăng.</p>",
    ),
}


async def load(conn: asyncpg.Connection, slug: str) -> store.StaticPage | None:
    """The stored page, else its default, else None."""
    page = await store.get_page(conn, slug)
    if page is not None:
        return page
    if slug in DEFAULTS:
        title, body_html = DEFAULTS[slug]
        return store.StaticPage(slug, title, body_html, version=0, updated_at=None)
    return None


def path(slug: str) -> str:
    """Where a page is served: the about page at /gioi-thieu, the others at /trang/{slug}."""
    return "/gioi-thieu" if slug == ABOUT else f"/trang/{slug}"


async def list_all(conn: asyncpg.Connection) -> list[store.StaticPage]:
    """Every page, defaults included, for the site map."""
    stored = {p.slug: p for p in await store.list_pages(conn)}
    for slug in DEFAULTS:
        if slug not in stored:
            page = await load(conn, slug)
            assert page is not None
            stored[slug] = page
    return sorted(stored.values(), key=lambda p: (p.slug != ABOUT, p.title))
