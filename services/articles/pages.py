"""The HTML pages, in Vietnamese.

Public pages: home, categories, articles and their print view, search, feeds, the
sitemap, static pages, images and the static files. They read only this service's tables
(views and feedback come from read models), so they render while counter or feedback are
down. Every public answer is fresh for 2 s in browsers and the gateway's micro-cache, then
revalidated by its ETag (see PUBLIC_CACHE); nothing on them depends on who is signed in.

The editors' desk: signing in and out with the login form (a sign-in session and a
short access token, both in HttpOnly cookies, SameSite=Lax, Secure with COOKIE_SECURE=1
or when the browser came over HTTPS: sessions.py), renewing the token for the moderation
desk (/dang-nhap/gia-han), changing one's password (/doi-mat-khau, where the first
sign-in of an account whose password an admin chose leads); the desk's own pages are in
desk.py and desk_admin.py. The sign-in and password forms carry a CSRF token (a signed
double-submit cookie), so another site cannot sign a browser in. SameSite=Lax keeps other
sites' forms from posting with the session.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import re
import secrets
from collections.abc import Awaitable, Iterable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from itertools import groupby
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from markupsafe import Markup

from services.articles import actions, domain, feeds, login, sessions, store
from services.articles.answers import optional_principal, problem_for, scheme
from services.articles.config import CONFIG, FORM_SECRET, RENDERED, THROTTLE_SECRET
from services.articles.domain import Article, Category, RefusalError, Tag, Topic
from services.articles.rendered import Rendered, RenderedArticle
from services.common import db
from services.common.pages import TEMPLATES, render
from services.common.web import POOL, client_address

# A public page is fresh 2 s, in browsers and in the gateway's micro-cache (deploy/gateway)
# alike; for 5 s more a cache may still serve it while it fetches the next copy in the
# background (stale-while-revalidate), and never later. A new count or feedback shows
# within seconds; asking again costs little (the ETag, a 304).
PUBLIC_CACHE = "public, max-age=2, stale-while-revalidate=5"
# For files browsers may keep long, the gateway keeps its copy only seconds (nginx reads
# X-Accel-Expires and passes it on to no one), so a release or a document taken down with
# its article shows at once.
GATEWAY_SECONDS = "5"
PER_PAGE = 15
HOME_PER_CATEGORY = 5
HOME_FEATURED = 5
MOST_READ = 5
# The home page's most-read lists, switched with ?xem= (links, no JavaScript): the query
# value, the store's period, the tab's label. The first is shown without ?xem=.
MOST_READ_TABS = (
    ("hom-nay", "day", "Hôm nay"),
    ("7-ngay", "week", "7 ngày"),
    ("30-ngay", "month", "30 ngày"),
)
SITEMAP_LIMIT = 45_000
STATIC_DIR = Path(__file__).resolve().parents[1] / "common" / "static"

routes = web.RouteTableDef()


def origin(request: web.Request) -> str:
    """The public origin for absolute links: SITE_URL, else where the request came to (the
    gateway passes Host and X-Forwarded-Proto) if its name is one of ALLOWED_HOSTS; any
    other Host is refused with a 400, never written into a page."""
    config = request.app[CONFIG]
    if config.site_url:
        return config.site_url
    if domain.host_name(request.host) not in config.allowed_hosts:
        raise web.HTTPBadRequest(text="Tên miền không được phép.")
    return f"{scheme(request)}://{request.host}"


def public_page(
    request: web.Request,
    template: str,
    context: dict[str, Any],
    status: int = 200,
    changed: Iterable[datetime | None] = (),
) -> web.Response:
    """A public page with its validators: a strong ETag, the hash of the page as sent
    (text, counts and feedback alike), and Last-Modified, the last change among the
    articles and feedback it shows and the times in `changed`. A browser or the gateway
    that has this very page (If-None-Match) gets a 304."""
    response = render(request, template, context, status=status)
    modified = max(
        (t for t in (*changed, *_changes_shown(context.values())) if t is not None), default=None
    )
    return _validated(request, response, modified)


def _validated(
    request: web.Request, response: web.Response, modified: datetime | None = None
) -> web.Response:
    body = response.body
    assert isinstance(body, bytes)
    headers = _validators(_etag(body), modified)
    if response.status == 200 and _etag_matches(
        request.headers.get("If-None-Match", ""), headers["ETag"]
    ):
        return web.Response(status=304, headers=headers)
    response.headers.update(headers)
    return response


def _validated_body(request: web.Request, rendered: Rendered) -> web.Response:
    """A page rendered before (its body, ETag and Last-Modified): sent, or a 304."""
    headers = _validators(rendered.etag, rendered.modified)
    if _etag_matches(request.headers.get("If-None-Match", ""), rendered.etag):
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=rendered.body, content_type="text/html", charset="utf-8", headers=headers
    )


def _etag(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def _validators(etag: str, modified: datetime | None) -> dict[str, str]:
    """A strong ETag, the hash of the page as sent (text, counts and feedback alike), and
    Last-Modified. Only If-None-Match is honoured: a time alone cannot tell that a count
    changed within the second, or that feedback was withdrawn (Last-Modified would not
    move)."""
    headers = {"Cache-Control": PUBLIC_CACHE, "ETag": etag}
    if modified is not None:
        headers["Last-Modified"] = format_datetime(modified.astimezone(UTC), usegmt=True)
    return headers


def _changes_shown(values: Iterable[Any]) -> Iterable[datetime]:
    """The times of the last change of every article and feedback among `values` (and in
    the lists and pairs they hold)."""
    for value in values:
        if isinstance(value, Article | store.PublicFeedback):
            yield value.updated_at
        elif isinstance(value, list | tuple):
            yield from _changes_shown(value)


def not_found(request: web.Request, message: str) -> web.Response:
    return public_page(request, "not_found.html", {"message": message}, status=404)


def _moved(location: str) -> web.HTTPMovedPermanently:
    return web.HTTPMovedPermanently(location, headers={"Cache-Control": PUBLIC_CACHE})


def _pages(total: int) -> int:
    return max(1, math.ceil(total / PER_PAGE))


def _page_url(path: str, page: int, **query: str) -> str:
    params = {**query, **({"trang": str(page)} if page > 1 else {})}
    return f"{path}?{urlencode(params)}" if params else path


def _pager(path: str, page: int, pages: int, **query: str) -> dict[str, Any]:
    return {
        "page": page,
        "pages": pages,
        "prev": _page_url(path, page - 1, **query) if page > 1 else None,
        "next": _page_url(path, page + 1, **query) if page < pages else None,
    }


# --- home, categories, articles -----------------------------------------------------------


async def _pictures(conn: Any, *groups: Iterable[Article]) -> dict[int, domain.Picture]:
    """The variants of the lead images of these articles, by image id, so that a page can
    give each <img> its srcset, width and height."""
    return await store.pictures(
        conn, (a.image_id for group in groups for a in group if a.image_id is not None)
    )


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    # An unknown ?xem= shows the first list rather than an error: it only picks a tab.
    tab = next((t for t in MOST_READ_TABS if t[0] == request.query.get("xem")), MOST_READ_TABS[0])
    async with db.acquire(request.app[POOL]) as conn:
        categories = await store.list_categories(conn)
        featured = await store.featured_on_home(conn, HOME_FEATURED)
        latest = await store.latest_by_category(conn, HOME_PER_CATEGORY)
        popular = await store.most_read(conn, tab[1], MOST_READ)
        pictures = await _pictures(conn, featured, latest)
    sections = domain.nest_sections(
        (
            (articles[0].category, articles)
            for _, group in groupby(latest, key=lambda a: a.category.id)
            if (articles := list(group))
        ),
        categories,
    )
    return public_page(
        request,
        "home.html",
        {
            "categories": categories,
            "featured": featured,
            "sections": sections,
            "most_read": popular,
            "most_read_tabs": MOST_READ_TABS,
            "most_read_tab": tab[0],
            "pictures": pictures,
        },
    )


@routes.get("/chuyen-muc/{slug}")
async def category_page(request: web.Request) -> web.Response:
    page = domain.page_number(request.query.get("trang"))
    async with db.acquire(request.app[POOL]) as conn:
        category = await store.get_category_by_slug(conn, request.match_info["slug"])
        if category is None:
            return not_found(request, "Không tìm thấy chuyên mục bạn yêu cầu.")
        categories = await store.list_categories(conn)
        # A parent's page lists its children's articles too.
        listed = domain.with_children(category, categories)
        total = await store.count_published(conn, listed)
        articles = await store.page_of_published(conn, listed, page, PER_PAGE)
        pictures = await _pictures(conn, articles)
    return public_page(
        request,
        "category.html",
        {
            "category": category,
            "parent": next((c for c in categories if c.id == category.parent_id), None),
            "children": [c for c in categories if c.parent_id == category.id],
            "categories": categories,
            "articles": articles,
            "total": total,
            "paging": _pager(f"/chuyen-muc/{category.slug}", page, _pages(total)),
            "origin": origin(request),
            "pictures": pictures,
        },
    )


def _listing(
    request: web.Request,
    kind: str,
    item: Tag | Topic,
    found: tuple[int, list[Article], list[Category], dict[int, domain.Picture]],
) -> web.Response:
    """The page of a tag's or a topic's published articles, newest first; `found` is
    their number, this page of them, the menu's categories and the articles' pictures."""
    total, articles, categories, pictures = found
    page = domain.page_number(request.query.get("trang"))
    return public_page(
        request,
        "listing.html",
        {
            "kind": kind,
            "item": item,
            "categories": categories,
            "articles": articles,
            "total": total,
            "paging": _pager(item.path, page, _pages(total)),
            "origin": origin(request),
            "pictures": pictures,
        },
    )


@routes.get("/the/{slug}")
async def tag_page(request: web.Request) -> web.Response:
    page = domain.page_number(request.query.get("trang"))
    async with db.acquire(request.app[POOL]) as conn:
        tag = await store.get_tag_by_slug(conn, request.match_info["slug"])
        if tag is None:
            return not_found(request, "Không tìm thấy thẻ bạn yêu cầu.")
        articles = await store.page_of_tagged(conn, tag.id, page, PER_PAGE)
        found = (
            await store.count_tagged(conn, tag.id),
            articles,
            await store.list_categories(conn),
            await _pictures(conn, articles),
        )
    return _listing(request, "Thẻ", tag, found)


@routes.get("/dong-su-kien/{slug}")
async def topic_page(request: web.Request) -> web.Response:
    page = domain.page_number(request.query.get("trang"))
    async with db.acquire(request.app[POOL]) as conn:
        topic = await store.get_topic_by_slug(conn, request.match_info["slug"])
        if topic is None:
            return not_found(request, "Không tìm thấy dòng sự kiện bạn yêu cầu.")
        articles = await store.page_of_topic(conn, topic.id, page, PER_PAGE)
        found = (
            await store.count_in_topic(conn, topic.id),
            articles,
            await store.list_categories(conn),
            await _pictures(conn, articles),
        )
    return _listing(request, "Dòng sự kiện", topic, found)


async def _public_article(
    request: web.Request, article_id: int
) -> tuple[Article, dict[int, domain.Picture]] | None:
    async with db.acquire(request.app[POOL]) as conn:
        article = await store.get_article(conn, article_id)
        if article is None or not article.is_public:
            return None
        return article, await _pictures(conn, [article])


@routes.get("/tin/{ref}")
async def article_page(request: web.Request) -> web.StreamResponse:
    """/tin/{slug}-{id}, the canonical address; /tin/{id}, a wrong or old slug, and
    /tin/{slug} (the article's slug, or one it had before a rename) move there."""
    ref = request.match_info["ref"]
    slug, article_id = domain.parse_article_ref(ref) or (None, None)
    page: store.ArticlePage | None = None
    async with db.acquire(request.app[POOL]) as conn:
        text = await store.article_page_text(conn, article_id) if article_id else None
        kept = request.app[RENDERED].get(article_id, text) if article_id and text else None
        if kept is None and text is not None:
            page = store.parse_article_page(text)
            kept = RenderedArticle(page.article.slug, page.article.url, page.article.is_public)
        if kept is None or not kept.public:
            # /tin/{slug} without the id, an old slug after a rename included.
            by_slug = await store.article_id_by_slug(conn, ref) if domain.is_slug(ref) else None
            article = await store.get_article(conn, by_slug) if by_slug else None
            if article is None or not article.is_public:
                return not_found(request, "Bản tin không tồn tại hoặc đã được gỡ xuống.")
            raise _moved(article.url)
    if slug != kept.slug:
        raise _moved(kept.url)
    site = origin(request)
    rendered = kept.by_origin.get(site)
    if rendered is None:
        assert article_id is not None and text is not None
        rendered = _render_article(request, page or store.parse_article_page(text), site)
        kept.by_origin[site] = rendered
        request.app[RENDERED].keep(article_id, text, kept)
    return _validated_body(request, rendered)


def _render_article(request: web.Request, page: store.ArticlePage, site: str) -> Rendered:
    """The page as sent (body, ETag, Last-Modified), rendered from what one query read."""
    article = page.article
    canonical = site + article.url
    pictures = page.pictures
    share = pictures[article.image_id].src("share") if article.image_id in pictures else None
    structured = domain.news_article_ld(
        article,
        canonical=canonical,
        site_name=str(request.app[TEMPLATES].globals["site_name"]),
        image_url=site + share if share else None,
    )
    context = {
        "article": article,
        "views": page.views,
        "comments": page.comments,
        "documents": page.documents,
        "categories": page.categories,
        "origin": site,
        "canonical": canonical,
        "pictures": pictures,
        "related": page.related,
        "structured_data": Markup(domain.json_for_html(structured)),
        "body_html": Markup(domain.lazy_images(article.body_html)),
    }
    html = request.app[TEMPLATES].get_template("article.html").render(request=request, **context)
    body = html.encode("utf-8")
    modified = max(
        (t for t in (page.views_changed, *_changes_shown(context.values())) if t is not None),
        default=None,
    )
    return Rendered(body, _etag(body), modified)


@routes.get(r"/tin/{id:\d{1,18}}/in")
async def print_page(request: web.Request) -> web.Response:
    found = await _public_article(request, int(request.match_info["id"]))
    if found is None:
        return not_found(request, "Bản tin không tồn tại hoặc đã được gỡ xuống.")
    article, pictures = found
    async with db.acquire(request.app[POOL]) as conn:
        attached = await store.documents_of(conn, article.id)
    return public_page(
        request,
        "print.html",
        {
            "article": article,
            "documents": attached,
            "origin": origin(request),
            "pictures": pictures,
        },
    )


# --- search -------------------------------------------------------------------------------


@routes.get("/tim-kiem")
async def search_page(request: web.Request) -> web.Response:
    """Diacritics, case and Unicode form ignored ("giao uoc thi dua" finds "giao ước thi
    đua"), ranked (domain.search_plan, store.search), filtered by category
    (?chuyen-muc=slug, its children included) and days (?tu=, ?den=, YYYY-MM-DD)."""
    query = " ".join(request.query.get("q", "").split())[: domain.MAX_QUERY_LENGTH]
    terms = domain.parse_query(query)
    plan = domain.search_plan(terms)
    page = domain.page_number(request.query.get("trang"))
    days, errors = _search_days(request)
    found = store.SearchPage([], 0, False, {})
    async with db.acquire(request.app[POOL]) as conn:
        categories = await store.list_categories(conn)
        wanted = request.query.get("chuyen-muc")
        chosen = next((c for c in categories if c.slug == wanted), None)
        if wanted and chosen is None:
            errors.append("Không có chuyên mục này; đã tìm trong mọi chuyên mục.")
        if plan is not None:
            filters = store.SearchFilters(
                domain.with_children(chosen, categories) if chosen else None,
                *domain.day_range(*days),
            )
            titles_only = domain.searches_titles_only(terms)
            found = await store.search(
                conn, plan, filters, titles_only=titles_only, page=page, per_page=PER_PAGE
            )
        pictures = await _pictures(conn, found.items)
    kept = {"q": query, "chuyen-muc": chosen.slug if chosen else "", "tu": days[0], "den": days[1]}
    kept = {name: str(value) for name, value in kept.items() if value}
    return public_page(
        request,
        "search.html",
        {
            "query": query,
            "results": _search_results(found, terms),
            "total": found.total,
            "more": found.more,
            "categories": categories,
            "chosen": chosen,
            "days": days,
            "errors": errors,
            "filtered": bool(chosen or days[0] or days[1]),
            "first": (page - 1) * PER_PAGE + 1,
            "paging": {
                **_pager("/tim-kiem", page, _pages(found.total), **kept),
                "first_page": _page_url("/tim-kiem", 1, **kept),
            },
            "pictures": pictures,
        },
    )


def _search_days(request: web.Request) -> tuple[tuple[Any, Any], list[str]]:
    """?tu= and ?den= as days (the earlier first); a day that is not one is left out,
    with a message."""
    days: list[Any] = []
    errors: list[str] = []
    for name, label in (("tu", "Từ ngày"), ("den", "Đến ngày")):
        try:
            days.append(domain.parse_day(request.query.get(name, "").strip(), name))
        except domain.UserInputError as refused:
            days.append(None)
            errors.append(f"{label} không hợp lệ: {refused.message} Đã bỏ qua ngày này.")
    if days[0] and days[1] and days[0] > days[1]:
        days.reverse()
    return (days[0], days[1]), errors


def _search_results(
    found: store.SearchPage, terms: list[domain.SearchTerm]
) -> list[tuple[Article, domain.Snippet, domain.Snippet]]:
    """Each article with its title and a passage of its text, the matches marked."""
    return [
        (
            article,
            domain.snippet(article.title, terms, width=domain.MAX_QUERY_LENGTH * 2),
            # The summary is searched too: the passage may come from it.
            domain.snippet(f"{article.summary} {found.texts.get(article.id, '')}", terms),
        )
        for article in found.items
    ]


# --- feeds and sitemap --------------------------------------------------------------------


def _xml_response(request: web.Request, body: bytes, content_type: str) -> web.Response:
    """A feed, sitemap or robots.txt, with its ETag (a 304 when the reader has it)."""
    response = web.Response(body=body, content_type=content_type, charset="utf-8")
    return _validated(request, response)


@routes.get("/rss")
async def site_feed(request: web.Request) -> web.Response:
    async with db.acquire(request.app[POOL]) as conn:
        articles = await store.list_published(conn, limit=feeds.RSS_ITEMS)
    site = origin(request)
    site_name = str(request.app[TEMPLATES].globals["site_name"])
    body = feeds.rss(
        title=site_name,
        link=site + "/",
        self_url=site + "/rss",
        description=f"Tin mới nhất của {site_name}",
        origin=site,
        articles=articles,
    )
    return _xml_response(request, body, "application/rss+xml")


@routes.get("/chuyen-muc/{slug}/rss")
async def category_feed(request: web.Request) -> web.Response:
    async with db.acquire(request.app[POOL]) as conn:
        category = await store.get_category_by_slug(conn, request.match_info["slug"])
        if category is None:
            return not_found(request, "Không tìm thấy chuyên mục bạn yêu cầu.")
        # A parent's feed, like its page, has its children's articles too.
        listed = domain.with_children(category, await store.list_categories(conn))
        articles = await store.list_published(conn, category_ids=listed, limit=feeds.RSS_ITEMS)
    site = origin(request)
    site_name = str(request.app[TEMPLATES].globals["site_name"])
    body = feeds.rss(
        title=f"{category.name} - {site_name}",
        link=f"{site}/chuyen-muc/{category.slug}",
        self_url=f"{site}/chuyen-muc/{category.slug}/rss",
        description=f"Tin mới nhất trong chuyên mục {category.name}",
        origin=site,
        articles=articles,
    )
    return _xml_response(request, body, "application/rss+xml")


@routes.get("/the/{slug}/rss")
async def tag_feed(request: web.Request) -> web.Response:
    async with db.acquire(request.app[POOL]) as conn:
        tag = await store.get_tag_by_slug(conn, request.match_info["slug"])
        if tag is None:
            return not_found(request, "Không tìm thấy thẻ bạn yêu cầu.")
        articles = await store.page_of_tagged(conn, tag.id, 1, feeds.RSS_ITEMS)
    return _listing_feed(request, tag, f"Tin mới nhất có thẻ {tag.name}", articles)


@routes.get("/dong-su-kien/{slug}/rss")
async def topic_feed(request: web.Request) -> web.Response:
    async with db.acquire(request.app[POOL]) as conn:
        topic = await store.get_topic_by_slug(conn, request.match_info["slug"])
        if topic is None:
            return not_found(request, "Không tìm thấy dòng sự kiện bạn yêu cầu.")
        articles = await store.page_of_topic(conn, topic.id, 1, feeds.RSS_ITEMS)
    return _listing_feed(request, topic, f"Tin mới nhất của dòng sự kiện {topic.name}", articles)


def _listing_feed(
    request: web.Request, item: Tag | Topic, description: str, articles: list[Article]
) -> web.Response:
    site = origin(request)
    site_name = str(request.app[TEMPLATES].globals["site_name"])
    body = feeds.rss(
        title=f"{item.name} - {site_name}",
        link=site + item.path,
        self_url=f"{site}{item.path}/rss",
        description=description,
        origin=site,
        articles=articles,
    )
    return _xml_response(request, body, "application/rss+xml")


# Articles are listed in child sitemaps of this many ids each: fewer URLs than the 50,000
# a sitemap may hold, one primary-key range per child, however many articles there are.
SITEMAP_CHUNK_IDS = 10_000
# The Google News sitemap: articles published in the last two days, at most 1,000.
NEWS_SITEMAP_DAYS = 2
NEWS_SITEMAP_LIMIT = 1000


@routes.get("/sitemap.xml")
async def sitemap_xml(request: web.Request) -> web.Response:
    """The sitemap index: the site's pages, the news of the last two days, and the
    articles in child sitemaps by range of ids, each with its last change of text."""
    async with db.acquire(request.app[POOL]) as conn:
        chunks = await store.sitemap_chunks(conn, SITEMAP_CHUNK_IDS)
    site = origin(request)
    children = [
        feeds.SitemapEntry(f"{site}/sitemap-trang.xml"),
        feeds.SitemapEntry(f"{site}/sitemap-tin-moi.xml"),
        *(feeds.SitemapEntry(f"{site}/sitemap-tin-{n}.xml", lastmod) for n, lastmod in chunks),
    ]
    return _xml_response(request, feeds.sitemap_index(children), "application/xml")


@routes.get("/sitemap-trang.xml")
async def pages_sitemap(request: web.Request) -> web.Response:
    """The home page, categories, tags, topics, static pages and the site map page."""
    async with db.acquire(request.app[POOL]) as conn:
        categories = await store.list_categories(conn)
        tags = await store.list_tags(conn)
        topics = await store.list_topics(conn)
        pages = domain.with_default_pages(await store.list_published_pages(conn))
    site = origin(request)
    entries = [
        feeds.SitemapEntry(site + "/"),
        *(feeds.SitemapEntry(site + path) for path in _listing_paths(categories, topics, tags)),
        *(feeds.SitemapEntry(site + domain.static_page_path(p.slug), p.updated_at) for p in pages),
        feeds.SitemapEntry(site + "/so-do"),
    ]
    # A sitemap holds at most 50,000 URLs: a site with more tags lists the first ones.
    return _xml_response(request, feeds.sitemap(entries[:SITEMAP_LIMIT]), "application/xml")


def _listing_paths(categories: list[Category], topics: list[Topic], tags: list[Tag]) -> list[str]:
    return [c.path for c in categories] + [t.path for t in topics] + [t.path for t in tags]


@routes.get(r"/sitemap-tin-{chunk:\d{1,12}}.xml")
async def articles_sitemap(request: web.Request) -> web.Response:
    """The published articles of one range of ids (see SITEMAP_CHUNK_IDS)."""
    first = int(request.match_info["chunk"]) * SITEMAP_CHUNK_IDS
    async with db.acquire(request.app[POOL]) as conn:
        rows = await store.sitemap_chunk(conn, first, first + SITEMAP_CHUNK_IDS)
    if not rows:
        return not_found(request, "Không tìm thấy sơ đồ bạn yêu cầu.")
    site = origin(request)
    entries = [
        feeds.SitemapEntry(site + domain.article_path(r["slug"], r["id"]), r["text_updated_at"])
        for r in rows
    ]
    # Ten thousand entries take some milliseconds to write: off the event loop.
    body = await asyncio.to_thread(feeds.sitemap, entries)
    return _xml_response(request, body, "application/xml")


@routes.get("/sitemap-tin-moi.xml")
async def news_sitemap(request: web.Request) -> web.Response:
    """The Google News sitemap: what was published in the last two days."""
    since = datetime.now(UTC) - timedelta(days=NEWS_SITEMAP_DAYS)
    async with db.acquire(request.app[POOL]) as conn:
        rows = await store.published_since(conn, since, NEWS_SITEMAP_LIMIT)
    site = origin(request)
    entries = [
        feeds.NewsEntry(
            site + domain.article_path(r["slug"], r["id"]), r["title"], r["published_at"]
        )
        for r in rows
    ]
    publication = str(request.app[TEMPLATES].globals["site_name"])
    body = feeds.news_sitemap(entries, publication=publication)
    return _xml_response(request, body, "application/xml")


@routes.get("/robots.txt")
async def robots(request: web.Request) -> web.Response:
    body = feeds.robots_txt(origin(request) + "/sitemap.xml").encode()
    return _xml_response(request, body, "text/plain")


# --- static pages and the site map page ---------------------------------------------------


async def _static_page(request: web.Request, slug: str) -> web.Response:
    async with db.acquire(request.app[POOL]) as conn:
        # Only a published page is public; until there is one, the built-in default shows.
        page = await store.get_published_page(conn, slug) or domain.default_page(slug)
        categories = await store.list_categories(conn)
    if page is None:
        return not_found(request, "Không tìm thấy trang bạn yêu cầu.")
    return public_page(request, "page.html", {"page": page, "categories": categories})


@routes.get("/gioi-thieu")
async def about_page(request: web.Request) -> web.Response:
    return await _static_page(request, domain.ABOUT_PAGE)


@routes.get("/trang/{slug}")
async def other_page(request: web.Request) -> web.StreamResponse:
    slug = request.match_info["slug"]
    if slug == domain.ABOUT_PAGE:
        raise _moved("/gioi-thieu")
    return await _static_page(request, slug)


@routes.get("/so-do")
async def site_map_page(request: web.Request) -> web.Response:
    async with db.acquire(request.app[POOL]) as conn:
        categories = await store.list_categories(conn)
        pages = domain.with_default_pages(await store.list_published_pages(conn))
    return public_page(
        request,
        "so_do.html",
        {
            "categories": categories,
            "pages": [(p, domain.static_page_path(p.slug)) for p in pages],
        },
    )


# --- static files -----------------------------------------------------------------------

# The shared stylesheet and the pages' scripts (files, never inline code: the gateway's
# Content-Security-Policy allows scripts from this site only).
STATIC_FILES = {
    "admin-menu.js": "text/javascript",
    "import-progress.js": "text/javascript",
    "site.css": "text/css",
    "beacon.js": "text/javascript",
    "print.js": "text/javascript",
    "desk.js": "text/javascript",
    "editor.js": "text/javascript",
    "editor.css": "text/css",
    "session.js": "text/javascript",  # desk: auth
}


_STATIC_NAMES = "|".join(re.escape(name) for name in STATIC_FILES)


@functools.cache
def _static_file(name: str) -> tuple[bytes, dict[str, str]]:
    """A file of services/common/static and its headers, read once."""
    body = (STATIC_DIR / name).read_bytes()
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    return body, {
        "Cache-Control": "public, max-age=3600",
        "X-Accel-Expires": GATEWAY_SECONDS,
        "ETag": etag,
    }


# Only the listed names match: any other /static/ path is the router's 404.
@routes.get(f"/static/{{name:{_STATIC_NAMES}}}")
async def static_file(request: web.Request) -> web.Response:
    """GET /static/{name}: cacheable for an hour and revalidated by ETag."""
    name = request.match_info["name"]
    body, headers = _static_file(name)
    if _etag_matches(request.headers.get("If-None-Match", ""), headers["ETag"]):
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=body, content_type=STATIC_FILES[name], charset="utf-8", headers=headers
    )


# The vendored editor (services/common/static/vendor/NAME-VERSION/, fetched by
# scripts/vendor_editor.sh): the version is in the path, so a file never changes under its
# URL and browsers may keep it for a year.
VENDOR_DIR = STATIC_DIR / "vendor"
VENDOR_TYPES = {"js": "text/javascript", "css": "text/css", "txt": "text/plain"}
VENDOR_CACHE = "public, max-age=31536000, immutable"


@functools.cache
def _vendor_file(folder: str, name: str) -> tuple[bytes, str] | None:
    """A vendored file's bytes and ETag, read once; None if there is no such file."""
    path = VENDOR_DIR / folder / name
    if not path.is_file():
        return None
    body = path.read_bytes()
    return body, f'"{hashlib.sha256(body).hexdigest()[:32]}"'


# A folder named NAME-VERSION and a file of a served type: no other path matches (so no
# "..", no hidden file, no directory listing).
@routes.get(
    r"/static/vendor/{folder:[a-z0-9]+(?:-[a-z0-9]+)*-\d+(?:\.\d+)*}"
    r"/{name:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.(?:js|css|txt)}"
)
async def vendor_file(request: web.Request) -> web.Response:
    """GET /static/vendor/jodit-4.15.13/jodit.min.js: long-cached, by its extension's type."""
    name = request.match_info["name"]
    found = _vendor_file(request.match_info["folder"], name)
    if found is None:
        return not_found(request, "Không tìm thấy tệp bạn yêu cầu.")
    body, etag = found
    headers = {"Cache-Control": VENDOR_CACHE, "ETag": etag, "X-Content-Type-Options": "nosniff"}
    if _etag_matches(request.headers.get("If-None-Match", ""), etag):
        return web.Response(status=304, headers=headers)
    content_type = VENDOR_TYPES[name.rsplit(".", 1)[1]]
    return web.Response(body=body, content_type=content_type, charset="utf-8", headers=headers)


# --- images -------------------------------------------------------------------------------

# An image never changes once uploaded (a new one gets a new id): browsers and proxies
# may keep it for a year.
IMAGE_CACHE = "public, max-age=31536000, immutable"


def _etag_matches(header: str, etag: str) -> bool:
    candidates = {c.strip().removeprefix("W/") for c in header.split(",")}
    return etag in candidates or "*" in candidates


def _image_answer(request: web.Request, found: store.Image | None) -> web.Response:
    if found is None:
        return not_found(request, "Không tìm thấy ảnh bạn yêu cầu.")
    return web.Response(
        body=found.data,
        content_type=found.content_type,
        headers={
            "ETag": f'"{found.sha256}"',
            "Cache-Control": IMAGE_CACHE,
            "X-Content-Type-Options": "nosniff",
        },
    )


def _not_modified(
    request: web.Request, digest: str | None, caching: dict[str, str] | None = None
) -> web.Response | None:
    """304 when the browser's copy (If-None-Match) is this file, read by its hash alone;
    `caching`: its caching headers (an image's by default)."""
    if digest is not None and _etag_matches(request.headers["If-None-Match"], f'"{digest}"'):
        headers = caching or {"Cache-Control": IMAGE_CACHE}
        return web.Response(status=304, headers={"ETag": f'"{digest}"', **headers})
    return None


@routes.get(r"/anh/{id:\d{1,18}}")
async def image(request: web.Request) -> web.Response:
    """The cleaned original (as uploaded, for an image stored before uploads were decoded)."""
    image_id = int(request.match_info["id"])
    async with db.acquire(request.app[POOL]) as conn:
        if "If-None-Match" in request.headers:
            unchanged = _not_modified(request, await store.image_digest(conn, image_id))
            if unchanged:
                return unchanged
        found = await store.get_image(conn, image_id)
    return _image_answer(request, found)


_VARIANT_TYPES = {ext: content_type for content_type, ext in domain.EXTENSIONS.items()}


@routes.get(r"/anh/{id:\d{1,18}}/{name:(?:lead|list|share)}.{ext:(?:jpg|png|webp)}")
async def image_variant(request: web.Request) -> web.Response:
    """/anh/{id}/lead.webp: a variant made at upload; its URL never changes."""
    image_id, name = int(request.match_info["id"]), request.match_info["name"]
    content_type = _VARIANT_TYPES[request.match_info["ext"]]
    async with db.acquire(request.app[POOL]) as conn:
        if "If-None-Match" in request.headers:
            digest = await store.variant_digest(conn, image_id, name, content_type)
            unchanged = _not_modified(request, digest)
            if unchanged:
                return unchanged
        found = await store.get_variant(conn, image_id, name, content_type)
    return _image_answer(request, found)


# --- documents ----------------------------------------------------------------------------

# A document never changes once uploaded (a new file is a new id), as images do; but it
# goes away with its article (unpublished): the gateway keeps it GATEWAY_SECONDS only.
DOCUMENT_CACHE = {"Cache-Control": IMAGE_CACHE, "X-Accel-Expires": GATEWAY_SECONDS}


@routes.get(r"/van-ban/{id:\d{1,18}}")
async def document(request: web.Request) -> web.Response:
    """A document of a published article, as a download under its own name; any other is
    404 here, whoever asks (staff download through /api/v1/documents/{id}/file), so this
    answer never depends on who is signed in and may be cached."""
    document_id = int(request.match_info["id"])
    async with db.acquire(request.app[POOL]) as conn:
        if "If-None-Match" in request.headers:
            unchanged = _not_modified(
                request, await store.public_document_digest(conn, document_id), DOCUMENT_CACHE
            )
            if unchanged:
                return unchanged
        found = await store.document_file(conn, document_id, public_only=True)
    if found is None:
        return not_found(request, "Không tìm thấy văn bản bạn yêu cầu.")
    return web.Response(
        body=found.data,
        content_type=found.document.content_type,
        headers={
            "Content-Disposition": domain.content_disposition(found.document.file_name),
            "ETag": f'"{found.sha256}"',
            **DOCUMENT_CACHE,
            "X-Content-Type-Options": "nosniff",
        },
    )


# --- the editors' desk: signing in and out (the desk's pages: desk.py, desk_admin.py) ----

ADMIN_HOME = "/quan-tri"
PRIVATE = "no-store"
MAX_FIELD_LENGTH = 1024

# --- desk: auth (sign-in, renewal, password change; see sessions.py) -------------------

LOGIN_PAGE = "/dang-nhap"
RENEW_PAGE = "/dang-nhap/gia-han"
PASSWORD_PAGE = "/doi-mat-khau"
# The signed double-submit cookie of the sign-in and password forms (domain.form_csrf_token).
FORM_COOKIE = "bantin_form"
FORM_EXPIRED = (
    "Biểu mẫu đã hết hạn hoặc không hợp lệ (có thể bạn đã mở nó từ lâu, hoặc trình duyệt "
    "chặn cookie). Xin nhập lại rồi gửi."
)


def _private(response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Cache-Control"] = PRIVATE
    return response


def _see_other(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location, headers={"Cache-Control": PRIVATE})


def _with_next(path: str, next_path: str | None, **query: str) -> str:
    params = {**query, **({"next": next_path} if next_path else {})}
    return f"{path}?{urlencode(params)}" if params else path


def _form_page(
    request: web.Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    """A sign-in or password form with its CSRF token; the nonce cookie is kept when the
    browser has one, so a second tab's form stays good."""
    nonce = request.cookies.get(FORM_COOKIE, "")
    if not (20 <= len(nonce) <= 100 and nonce.isascii()):
        nonce = secrets.token_urlsafe(32)
    csrf = domain.form_csrf_token(request.app[FORM_SECRET], nonce)
    response = render(request, template, {**context, "csrf": csrf}, status=status)
    response.headers.update(headers or {})
    response.set_cookie(
        FORM_COOKIE,
        nonce,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=sessions.cookie_secure(request),
    )
    return _private(response)


def _form_is_genuine(request: web.Request, form: Any) -> bool:
    return domain.form_csrf_matches(
        request.app[FORM_SECRET], request.cookies.get(FORM_COOKIE), form.get("csrf")
    )


def _login_form(
    request: web.Request,
    *,
    username: str = "",
    next_path: str | None = None,
    error: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    context = {"username": username, "next": next_path, "error": error}
    return _form_page(request, "login.html", context, status=status, headers=headers)


def _field(form: Any, name: str, limit: int = MAX_FIELD_LENGTH + 1) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


@routes.get(LOGIN_PAGE)
async def login_page(request: web.Request) -> web.StreamResponse:
    """The login form; ?next=/path (a path on this site) is where signing in leads, as
    the feedback moderation page asks with /dang-nhap?next=/quan-tri/phan-hoi."""
    return _login_form(request, next_path=domain.safe_local_path(request.query.get("next")))


@routes.post(LOGIN_PAGE)
async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    # Anything but a path on this site leads to the admin home (no open redirect).
    next_path = domain.safe_local_path(form.get("next", request.query.get("next")))
    username = _field(form, "username").strip()[:MAX_FIELD_LENGTH]
    password = _field(form, "password")
    if not _form_is_genuine(request, form):
        # Another site's form, or one too old: nobody is signed in (no login CSRF).
        return _login_form(
            request, username=username, next_path=next_path, error=FORM_EXPIRED, status=403
        )
    if not username or not password:
        return _login_form(
            request,
            username=username,
            next_path=next_path,
            error="Xin nhập tên đăng nhập và mật khẩu.",
            status=422,
        )
    try:
        user = await login.sign_in(
            request.app[POOL],
            request.app[THROTTLE_SECRET],
            client_address(request),
            username,
            password,
        )
    except RefusalError as refused:
        answer = problem_for(refused)
        return _login_form(
            request,
            username=username,
            next_path=next_path,
            error=answer.detail,
            status=answer.status,
            headers=answer.headers,
        )
    if user.must_change_password:
        # The right password, chosen by someone else: its owner chooses their own first.
        raise _see_other(_with_next(PASSWORD_PAGE, next_path, ten=user.username, buoc="dau"))
    response = _see_other(next_path or ADMIN_HOME)
    await sessions.sign_in_browser(request, user, response)
    raise response


@routes.get(RENEW_PAGE)
async def renew_page(request: web.Request) -> web.StreamResponse:
    """Where a desk page another service serves (the moderation desk) sends a person whose
    access token ran out: a new one from the sign-in session and back to ?next=, or the
    sign-in form (leading back there) when the session is gone."""
    next_path = domain.safe_local_path(request.query.get("next"))
    response = _see_other(next_path or ADMIN_HOME)
    try:
        await sessions.renew_browser(request, response)
    except domain.SessionEndedError:
        return _login_form(request, next_path=next_path)
    except domain.PasswordChangeRequiredError:
        raise _see_other(_with_next(PASSWORD_PAGE, next_path)) from None
    raise response


@routes.post("/dang-xuat")
async def logout(request: web.Request) -> web.StreamResponse:
    """Ends this browser's sign-in session at once (its tokens are refused by articles
    from now on) and takes its cookies away."""
    response = _see_other("/")
    await sessions.sign_out_browser(request, response)
    raise response


async def _password_form(
    request: web.Request,
    *,
    username: str = "",
    next_path: str | None = None,
    first: bool = False,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    principal = await optional_principal(request)
    signed_in_as = None
    if principal is not None:
        async with db.acquire(request.app[POOL]) as conn:
            user = await store.get_user(conn, principal.user_id)
        signed_in_as = user.username if user else None
    context = {
        "username": signed_in_as or username,
        "signed_in": signed_in_as is not None,
        "principal": principal,
        "next": next_path,
        "first": first,
        "errors": errors or {},
        "error": error,
        "min_length": domain.MIN_PASSWORD_LENGTH,
        "max_length": domain.MAX_PASSWORD_LENGTH,
    }
    return _form_page(request, "password.html", context, status=status, headers=headers)


@routes.get(PASSWORD_PAGE)
async def password_page(request: web.Request) -> web.StreamResponse:
    """Change one's password: current, new, and new again. Where the first sign-in of an
    account whose password an admin chose leads (?ten=username&buoc=dau)."""
    return await _password_form(
        request,
        username=_field(request.query, "ten", 100).strip(),
        next_path=domain.safe_local_path(request.query.get("next")),
        first=request.query.get("buoc") == "dau",
    )


@routes.post(PASSWORD_PAGE)
async def password_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    next_path = domain.safe_local_path(form.get("next"))
    first = form.get("buoc") == "dau"
    principal = await optional_principal(request)
    username = _field(form, "username", 100).strip()
    current, new = _field(form, "current_password"), _field(form, "new_password")
    repeat = _field(form, "repeat_password")

    def again(status: int, **answer: Any) -> Awaitable[web.StreamResponse]:
        return _password_form(
            request, username=username, next_path=next_path, first=first, status=status, **answer
        )

    if not _form_is_genuine(request, form):
        return await again(403, error=FORM_EXPIRED)
    if principal is not None:  # signed in: their own account, whatever the form says
        async with db.acquire(request.app[POOL]) as conn:
            me = await store.get_user(conn, principal.user_id)
        username = me.username if me else username
    if not username or not current:
        return await again(422, error="Xin nhập tên đăng nhập và mật khẩu hiện tại.")
    try:
        domain.check_new_password(current, new, repeat)
        user = await login.sign_in(
            request.app[POOL],
            request.app[THROTTLE_SECRET],
            client_address(request),
            username,
            current,
        )
        user = await actions.change_password(request.app[POOL], user.id, new)
    except domain.InvalidFieldsError as refused:
        return await again(422, errors=refused.fields)
    except RefusalError as refused:
        answer = problem_for(refused)
        return await again(answer.status, error=answer.detail, headers=answer.headers)
    # Every session of the account ended with the change; this browser starts a new one.
    response = _see_other(next_path or ADMIN_HOME)
    await sessions.sign_in_browser(request, user, response)
    raise response
