"""The public side as a search engine, a news aggregator and a browser's cache see it:
structured data and share tags on the article page, related articles, nested sections on
the home page, listings' next and previous pages, feeds read by a real feed parser,
sitemaps checked against their XML schemas, robots.txt, and the pages' validators (ETag,
Last-Modified, 304). Against the real database, with events through RabbitMQ."""

from __future__ import annotations

import html as html_lib
import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import aiohttp
import feedparser
import pytest
from lxml import etree

from services.articles import actions
from services.common.events.envelope import CloudEvent, source_of
from tests.support.amqp import publish_event
from tests.support.articles import PNG, Site, running_site
from tests.support.polling import eventually

SITE = "https://tin.example.vn"
SCHEMAS = Path(__file__).resolve().parents[1] / "fixtures" / "sitemaps"
PUBLIC_CACHE = "public, max-age=2, stale-while-revalidate=5"
SITEMAP_NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[Site]:
    async with running_site() as harness:
        yield harness


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:6]}"


async def page(site: Site, path: str, status: int = 200) -> str:
    response = await site.client.get(path, allow_redirects=False)
    assert response.status == status, await response.text()
    return await response.text()


async def new_topic(site: Site) -> dict[str, Any]:
    response = await site.client.post(
        "/api/v1/topics", json={"name": unique("Đại hội")}, headers=site.auth("editor")
    )
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def upload_image(site: Site) -> int:
    form = aiohttp.FormData()
    form.add_field("file", PNG, filename="anh.png", content_type="image/png")
    upload = await site.client.post("/api/v1/images", data=form, headers=site.auth("editor"))
    assert upload.status == 201, await upload.text()
    return int((await upload.json())["id"])


def structured_data(html: str) -> dict[str, Any]:
    found = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert len(found) == 1, found
    return dict(json.loads(found[0]))


def same_second(shown: str, stored: str) -> bool:
    return datetime.fromisoformat(shown) == datetime.fromisoformat(stored).replace(microsecond=0)


def meta(html: str, key: str) -> str | None:
    """The content of <meta property|name="key">, unescaped as a parser reads it."""
    found = re.search(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)">', html)
    return html_lib.unescape(found.group(1)) if found else None


# --- the article page ---------------------------------------------------------------------


async def test_the_article_page_carries_news_article_data_and_share_tags(site: Site) -> None:
    image_id = await upload_image(site)
    # A title that would end the data block if it were written as it is.
    title = unique("Hội nghị </script><script>alert(1)</script> & tổng kết")
    article = await site.published(
        title=title,
        summary="Tổng kết công tác năm.",
        byline="Hồng Tươi (VP HND)",
        image_id=image_id,
        tags=[unique("Tổng kết")],
    )
    html = await page(site, article["url"])
    canonical = SITE + article["url"]
    assert "<script>alert(1)</script>" not in html
    data = structured_data(html)
    assert data["@context"] == "https://schema.org" and data["@type"] == "NewsArticle"
    assert data["headline"] == title
    assert same_second(data["datePublished"], article["published_at"])
    assert data["datePublished"].endswith("+07:00")
    assert same_second(data["dateModified"], article["text_updated_at"])
    assert data["author"] == {"@type": "Person", "name": "Hồng Tươi (VP HND)"}
    assert data["publisher"]["@type"] == "Organization" and data["publisher"]["name"]
    assert data["image"] == [f"{SITE}/anh/{image_id}/share.png"]
    assert data["mainEntityOfPage"]["@id"] == canonical
    assert data["keywords"] == article["tags"][0]["name"]

    assert f'<link rel="canonical" href="{canonical}">' in html
    assert meta(html, "og:url") == canonical
    assert meta(html, "og:title") == title
    assert meta(html, "og:description") == "Tổng kết công tác năm."
    assert meta(html, "og:image") == f"{SITE}/anh/{image_id}/share.png"
    assert meta(html, "twitter:card") == "summary_large_image"
    assert meta(html, "twitter:image") == f"{SITE}/anh/{image_id}/share.png"
    assert meta(html, "twitter:title") == title
    assert meta(html, "twitter:description") == "Tổng kết công tác năm."
    assert html_lib.unescape(re.findall(r"<title>(.*?)</title>", html)[0]).startswith(title)
    assert meta(html, "description") == "Tổng kết công tác năm."

    # Without an image or a byline: a summary card, and the site as the author.
    plain = await site.published(title=unique("Không ảnh"), byline="")
    plain_html = await page(site, plain["url"])
    assert meta(plain_html, "twitter:card") == "summary"
    plain_data = structured_data(plain_html)
    assert "image" not in plain_data
    assert plain_data["author"] == {"@type": "Organization", "name": data["publisher"]["name"]}


async def test_related_articles_come_from_the_same_topic_then_the_same_category(
    site: Site,
) -> None:
    category = await site.category(unique("Nông thôn mới"))
    other = await site.category(unique("Thể thao"))
    topic = await new_topic(site)
    image_id = await upload_image(site)
    in_topic = await site.published(
        title=unique("Cùng dòng sự kiện"), category_id=other["id"], topic_id=topic["id"]
    )
    same_category = await site.published(
        title=unique("Cùng chuyên mục"), category_id=category["id"], image_id=image_id
    )
    unrelated = await site.published(title=unique("Không liên quan"), category_id=other["id"])
    draft = await site.draft(title=unique("Bản nháp"), category_id=category["id"])
    article = await site.published(
        title=unique("Bản tin chính"), category_id=category["id"], topic_id=topic["id"]
    )
    html = await page(site, article["url"])
    related = html[html.index('<section class="related-articles"') :]
    related = related[: related.index("</section>")]
    assert '<h2 id="related-heading">Tin liên quan</h2>' in related
    # The topic's article first, though it is older and elsewhere; then the category's.
    assert related.index(in_topic["title"]) < related.index(same_category["title"])
    assert unrelated["title"] not in related and draft["title"] not in related
    assert article["title"] not in related
    # Its pictures are below the fold: loaded when the reader gets near.
    assert f'src="/anh/{image_id}/list.png"' in related and 'loading="lazy"' in related


async def test_pictures_in_the_body_load_when_the_reader_nears_them(site: Site) -> None:
    image_id = await upload_image(site)
    article = await site.published(
        body_html=f'<p>Mở đầu.</p><p><img src="/anh/{image_id}" alt="Hội trường"></p>'
    )
    html = await page(site, article["url"])
    body = html[html.index('<div class="article-body">') :]
    body = body[: body.index("</div>")]
    assert f'<img loading="lazy" src="/anh/{image_id}" alt="Hội trường">' in body
    assert body.count("loading=") == 1


async def test_unknown_unpublished_and_expired_articles_are_a_friendly_404(site: Site) -> None:
    article = await site.published(title=unique("Hết hạn"))
    async with site.pool.acquire() as conn:
        await conn.execute(
            "UPDATE articles SET end_at = now() - interval '1 minute' WHERE id = $1",
            article["id"],
        )
    while await actions.expire_next(site.pool):
        pass
    answer = await site.client.get(f"/api/v1/articles/{article['id']}", headers=site.auth("editor"))
    assert (await answer.json())["status"] == "expired"
    for path in (article["url"], f"/tin/{article['id']}/in", "/tin/khong-co-bai-nay-98765"):
        html = await page(site, path, status=404)
        assert "<h1>Không tìm thấy</h1>" in html
        assert "Bản tin không tồn tại hoặc đã được gỡ xuống." in html
        assert '<a href="/">Về trang chủ</a>' in html
        assert '<meta name="robots" content="noindex">' in html
        assert article["title"] not in html


# --- home and listings --------------------------------------------------------------------


async def test_the_home_page_shows_child_categories_under_their_parent(site: Site) -> None:
    parent = await site.category(unique("Mặt trận"))
    response = await site.client.post(
        "/api/v1/categories",
        json={"name": unique("Dân vận"), "parent_id": parent["id"]},
        headers=site.auth("editor"),
    )
    child = await response.json()
    in_child = await site.published(title=unique("Tin dân vận"), category_id=child["id"])
    html = await page(site, "/")
    start = html.index(f'<section class="home-section" aria-labelledby="section-{parent["id"]}">')
    section = html[start : html.index('<p class="more">', start)]
    # The parent has no article of its own yet: it still heads its child's section.
    assert f'<a href="/chuyen-muc/{parent["slug"]}">{parent["name"]}</a></h2>' in section
    assert f'<a href="/chuyen-muc/{child["slug"]}">{child["name"]}</a></h3>' in section
    assert in_child["title"] in section
    # The child has no section of its own beside the parent's.
    assert html.count(f'aria-labelledby="section-{child["id"]}"') == 1


async def test_listing_pages_name_their_previous_and_next_pages(site: Site) -> None:
    category = await site.category(unique("Văn bản"))
    for n in range(31):
        await site.published(title=f"Văn bản {n:02d}", category_id=category["id"])
    path = f"/chuyen-muc/{category['slug']}"

    def head(html: str) -> str:
        return html[: html.index("</head>")]

    first, second, third = [
        head(await page(site, f"{path}?trang={n}" if n > 1 else path)) for n in (1, 2, 3)
    ]
    assert '<link rel="prev"' not in first
    assert f'<link rel="next" href="{path}?trang=2">' in first
    assert f'<link rel="prev" href="{path}">' in second
    assert f'<link rel="next" href="{path}?trang=3">' in second
    assert f'<link rel="prev" href="{path}?trang=2">' in third and 'rel="next"' not in third


# --- feeds, sitemaps, robots.txt ------------------------------------------------------------


async def test_every_feed_is_read_by_a_feed_parser_without_error(site: Site) -> None:
    category = await site.category(unique("Tin & sự kiện"))
    topic = await new_topic(site)
    tag = unique("Biển <đảo>")
    article = await site.published(
        title=unique("Tin có <b>thẻ</b> & dòng sự kiện"),
        summary="Tóm tắt có ký tự đặc biệt: < > & \" '",
        category_id=category["id"],
        topic_id=topic["id"],
        tags=[tag],
    )
    tag_slug = article["tags"][0]["slug"]
    for path in (
        "/rss",
        f"/chuyen-muc/{category['slug']}/rss",
        f"/the/{tag_slug}/rss",
        f"/dong-su-kien/{topic['slug']}/rss",
    ):
        response = await site.client.get(path)
        assert response.status == 200, path
        assert response.content_type == "application/rss+xml"
        feed = feedparser.parse(await response.read())
        assert not feed.bozo, (path, feed.get("bozo_exception"))
        assert feed.version == "rss20"
        titles = [entry.title for entry in feed.entries]
        assert article["title"] in titles, path
        entry = feed.entries[titles.index(article["title"])]
        assert entry.link == SITE + article["url"]
        assert entry.published_parsed is not None
    for missing in ("/the/khong-co-the/rss", "/dong-su-kien/khong-co/rss"):
        assert (await site.client.get(missing)).status == 404


def schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / name)))


def assert_valid(xml: bytes, schema_name: str) -> etree._Element:
    document = etree.fromstring(xml)
    checker = schema(schema_name)
    assert checker.validate(document), checker.error_log
    return document


def test_the_schemas_refuse_a_wrong_sitemap() -> None:
    """The checks below can fail: a sitemap without <loc>, or an index with a <url>."""
    wrong = b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url/></urlset>'
    assert not schema("sitemap.xsd").validate(etree.fromstring(wrong))
    index = (
        b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://tin.example.vn/</loc></url></sitemapindex>"
    )
    assert not schema("siteindex.xsd").validate(etree.fromstring(index))


async def test_the_sitemap_is_an_index_of_valid_child_sitemaps(site: Site) -> None:
    shown = await site.published(title=unique("Trong sơ đồ"))
    hidden = await site.draft(title=unique("Ngoài sơ đồ"))
    topic = await new_topic(site)
    response = await site.client.get("/sitemap.xml")
    assert response.content_type == "application/xml"
    index = assert_valid(await response.read(), "siteindex.xsd")
    children = [loc.text for loc in index.iterfind("s:sitemap/s:loc", SITEMAP_NS)]
    assert f"{SITE}/sitemap-trang.xml" in children and f"{SITE}/sitemap-tin-moi.xml" in children
    article_maps = [c for c in children if re.fullmatch(rf"{SITE}/sitemap-tin-\d+\.xml", c)]
    assert article_maps

    locations: list[str] = []
    for child in children:
        body = await site.client.get(child.removeprefix(SITE))
        assert body.status == 200, child
        xsd = "news.xsd" if child.endswith("tin-moi.xml") else "sitemap.xsd"
        document = assert_valid(await body.read(), xsd)
        locations += [loc.text for loc in document.iterfind("s:url/s:loc", SITEMAP_NS)]
    assert SITE + shown["url"] in locations
    assert f"{SITE}/gioi-thieu" in locations and f"{SITE}/dong-su-kien/{topic['slug']}" in locations
    assert not any(loc.endswith(f"-{hidden['id']}") for loc in locations)
    # A range of ids without a published article has no sitemap.
    assert (await site.client.get("/sitemap-tin-99999.xml")).status == 404


async def test_the_articles_sitemaps_split_by_ranges_of_ids_with_the_text_change(
    site: Site,
) -> None:
    article = await site.published(title=unique("Theo khoảng mã"))
    chunk = article["id"] // 10_000
    document = assert_valid(
        await (await site.client.get(f"/sitemap-tin-{chunk}.xml")).read(), "sitemap.xsd"
    )
    entries = {
        url.findtext("s:loc", namespaces=SITEMAP_NS): url.findtext(
            "s:lastmod", namespaces=SITEMAP_NS
        )
        for url in document.iterfind("s:url", SITEMAP_NS)
    }
    lastmod = entries[SITE + article["url"]]
    assert lastmod is not None
    assert same_second(lastmod, article["text_updated_at"])


async def test_the_news_sitemap_holds_the_last_two_days(site: Site) -> None:
    fresh = await site.published(title=unique("Tin mới <đăng> & nóng"))
    old = await site.published(title=unique("Tin cũ"))
    async with site.pool.acquire() as conn:
        await conn.execute(
            "UPDATE articles SET published_at = now() - interval '3 days' WHERE id = $1", old["id"]
        )
    document = assert_valid(
        await (await site.client.get("/sitemap-tin-moi.xml")).read(), "news.xsd"
    )
    news = {"n": "http://www.google.com/schemas/sitemap-news/0.9", **SITEMAP_NS}
    titles = {
        url.findtext("s:loc", namespaces=news): url.findtext("n:news/n:title", namespaces=news)
        for url in document.iterfind("s:url", news)
    }
    assert titles[SITE + fresh["url"]] == fresh["title"]
    assert SITE + old["url"] not in titles
    first = document.find("s:url/n:news", news)
    assert first is not None
    assert first.findtext("n:publication/n:language", namespaces=news) == "vi"
    assert first.findtext("n:publication/n:name", namespaces=news)


async def test_robots_txt_names_the_sitemap_and_keeps_crawlers_off_the_desk(site: Site) -> None:
    response = await site.client.get("/robots.txt")
    assert response.status == 200 and response.content_type == "text/plain"
    lines = (await response.text()).splitlines()
    assert "User-agent: *" in lines
    assert f"Sitemap: {SITE}/sitemap.xml" in lines
    for private in ("/quan-tri", "/dang-nhap", "/api/"):
        assert f"Disallow: {private}" in lines
    assert "Disallow: /" not in lines  # the public site stays open


# --- validators ---------------------------------------------------------------------------


def views_counted(article_id: int, version: int, total: int) -> CloudEvent:
    data = {
        "article_id": article_id,
        "version": version,
        "total": total,
        "today": 1,
        "day": date.today().isoformat(),
    }
    return CloudEvent("views.counted", source_of("counter"), str(article_id), data)


async def test_a_page_is_304_while_it_shows_the_same_and_changes_with_a_count(
    site: Site,
) -> None:
    article = await site.published(title=unique("Có ETag"))
    first = await site.client.get(article["url"])
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)  # strong: no W/
    modified = parsedate_to_datetime(first.headers["Last-Modified"])
    assert first.headers["Cache-Control"] == "public, max-age=2, stale-while-revalidate=5"

    again = await site.client.get(article["url"], headers={"If-None-Match": etag})
    assert again.status == 304
    assert again.headers["ETag"] == etag and await again.read() == b""
    other = await site.client.get(article["url"], headers={"If-None-Match": '"ffff"'})
    assert other.status == 200

    # A new count changes the page: a new ETag, a later Last-Modified, a whole answer.
    await publish_event(site.amqp_url, views_counted(article["id"], 1, 4321))

    async def counted() -> aiohttp.ClientResponse | None:
        response = await site.client.get(article["url"], headers={"If-None-Match": etag})
        return response if response.status == 200 else None

    changed = await eventually(counted, timeout=15)
    assert "Số lần xem: 4.321" in await changed.text()
    assert changed.headers["ETag"] != etag
    assert parsedate_to_datetime(changed.headers["Last-Modified"]) >= modified

    for path in ("/", "/rss", "/sitemap.xml", f"/chuyen-muc/{article['category']['slug']}"):
        response = await site.client.get(path)
        tag = response.headers["ETag"]
        assert (await site.client.get(path, headers={"If-None-Match": tag})).status == 304, path
