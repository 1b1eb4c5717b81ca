"""The public pages of the articles service, as a reader gets them, with the read models of
views and feedback fed by real CloudEvents through RabbitMQ."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any
from xml.etree import ElementTree as ET

import aiohttp
import pytest

from services.common.events.envelope import CloudEvent, source_of
from tests.support.amqp import publish_event
from tests.support.articles import PNG, Site, running_site
from tests.support.polling import eventually

# What a public page tells browsers and the gateway: fresh 2 s, then 5 s stale at most.
PUBLIC_CACHE = "public, max-age=2, stale-while-revalidate=5"

FEEDBACK_NAME = "Trần Thị Bạn Đọc"


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[Site]:
    async with running_site() as harness:
        yield harness


async def page(site: Site, path: str, status: int = 200) -> str:
    response = await site.client.get(path, allow_redirects=False)
    assert response.status == status, await response.text()
    return await response.text()


def vn_day(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%d/%m/%Y")  # already in +07:00


def views_counted(article_id: int, version: int, total: int) -> CloudEvent:
    data = {
        "article_id": article_id,
        "version": version,
        "total": total,
        "today": 3,
        "day": date.today().isoformat(),
    }
    return CloudEvent("views.counted", source_of("counter"), str(article_id), data)


def feedback(type_: str, item_id: int, article_id: int, version: int, **data: Any) -> CloudEvent:
    stamp = "2017-04-28T08:00:00+07:00"
    body: dict[str, Any] = {"id": item_id, "version": version, "article_id": article_id}
    if type_ == "feedback.withdrawn":
        body["withdrawn_at"] = stamp
    else:
        body.update(author_name=FEEDBACK_NAME, approved_at=stamp, updated_at=stamp, **data)
    return CloudEvent(type_, source_of("feedback"), str(item_id), body)


# --- the article page ---------------------------------------------------------------------


async def test_the_article_page_has_every_element_of_the_reference(site: Site) -> None:
    category = await site.category("Tình hình hoạt động")
    form = aiohttp.FormData()
    form.add_field("file", PNG, filename="anh.png", content_type="image/png")
    upload = await site.client.post("/api/v1/images", data=form, headers=site.auth("editor"))
    image = await upload.json()
    article = await site.published(
        title="Khối thi đua ký kết giao ước thi đua năm 2017",
        summary="Lãnh đạo các đơn vị trong Khối ký giao ước thi đua.",
        body_html="<p>Ngày 11-4-2017, đại diện lãnh đạo các đơn vị thuộc Khối thi đua.</p>",
        byline="Hồng Tươi (VP HND)",
        category_id=category["id"],
        image_id=image["id"],
        image_caption="Lãnh đạo các đơn vị trong Khối ký giao ước thi đua năm 2017.",
    )
    response = await site.client.get(article["url"])
    assert response.status == 200
    assert response.headers["Cache-Control"] == PUBLIC_CACHE
    html = await response.text()
    day = vn_day(article["updated_at"])
    aid = article["id"]
    for expected in (
        "<title>Khối thi đua ký kết giao ước thi đua năm 2017 - ",
        '<meta name="description" content="Lãnh đạo các đơn vị trong Khối ký giao ước',
        f'<link rel="canonical" href="https://tin.example.vn{article["url"]}">',
        '<meta property="og:title" content="Khối thi đua ký kết giao ước thi đua năm 2017">',
        f'<meta property="og:image" content="https://tin.example.vn/anh/{image["id"]}/share.png">',
        '<a href="/chuyen-muc/tinh-hinh-hoat-dong">Tình hình hoạt động</a>',
        '<h1 class="article-title">Khối thi đua ký kết giao ước thi đua năm 2017</h1>',
        f"[ Cập nhật vào ngày ({day}) ] - [ Số lần xem: 0 ]",
        f'<img src="/anh/{image["id"]}/lead.png" srcset="/anh/{image["id"]}/lead.png 1w"',
        "<figcaption>Lãnh đạo các đơn vị trong Khối ký giao ước thi đua năm 2017.</figcaption>",
        "<p>Ngày 11-4-2017, đại diện lãnh đạo các đơn vị thuộc Khối thi đua.</p>",
        '<p class="byline">Hồng Tươi (VP HND)</p>',
        f'<a href="/tin/{aid}/phan-hoi">Gửi phản hồi cho bản tin</a>',
        '<a href="/gop-y">Gửi ý kiến</a>',
        f'<a href="/tin/{aid}/in" rel="nofollow">In bài viết</a>',
        "Các ý kiến của bạn đọc",
        f'<script src="/static/beacon.js" data-article-id="{aid}" defer></script>',
        f'<noscript><img src="/v.gif?a={aid}" alt="" width="1" height="1"></noscript>',
        '<a href="/gioi-thieu">Giới thiệu</a>',
        '<a href="/so-do">Sơ đồ</a>',
        '<a href="/dang-nhap">Đăng Nhập</a>',
    ):
        assert expected in html, expected


async def test_the_view_count_comes_from_views_counted_events(site: Site) -> None:
    article = await site.published()

    async def shows(text: str) -> bool:
        return text in await page(site, article["url"])

    await publish_event(site.amqp_url, views_counted(article["id"], 1, 679))
    await eventually(lambda: shows("[ Số lần xem: 679 ]"), timeout=15)
    await publish_event(site.amqp_url, views_counted(article["id"], 3, 1234))
    await publish_event(site.amqp_url, views_counted(article["id"], 2, 700))  # late, older
    await eventually(lambda: shows("[ Số lần xem: 1.234 ]"), timeout=15)
    # The late older count never wins.
    marker = await site.published()
    await publish_event(site.amqp_url, views_counted(marker["id"], 1, 5))
    await eventually(lambda: shows_marker(site, marker["url"]), timeout=15)
    assert "[ Số lần xem: 1.234 ]" in await page(site, article["url"])


async def shows_marker(site: Site, url: str) -> bool:
    return "[ Số lần xem: 5 ]" in await page(site, url)


async def test_approved_feedback_shows_under_the_article_until_withdrawn(site: Site) -> None:
    article = await site.published()
    item = 7000 + article["id"]

    def comments(html: str) -> str:
        return html.split("Các ý kiến của bạn đọc", 1)[1]

    async def shows(text: str) -> bool:
        return text in comments(await page(site, article["url"]))

    await publish_event(
        site.amqp_url,
        feedback("feedback.approved", item, article["id"], 1, body="Bài viết rất <b>hay</b>."),
    )
    await eventually(lambda: shows("Bài viết rất &lt;b&gt;hay&lt;/b&gt;."), timeout=15)
    assert FEEDBACK_NAME in comments(await page(site, article["url"]))
    assert "(28/04/2017)" in comments(await page(site, article["url"]))

    reply = {"body": "Xin cảm ơn ý kiến của bạn.", "author": "Ban biên tập",
             "replied_at": "2017-04-29T09:00:00+07:00"}  # fmt: skip
    await publish_event(
        site.amqp_url,
        feedback("feedback.updated", item, article["id"], 2, body="Bài viết hay.", reply=reply),
    )
    await eventually(lambda: shows("Xin cảm ơn ý kiến của bạn."), timeout=15)
    html = comments(await page(site, article["url"]))
    assert "Trả lời của Ban biên tập" in html
    assert html.index("Bài viết hay.") < html.index("Xin cảm ơn ý kiến của bạn.")

    await publish_event(site.amqp_url, feedback("feedback.withdrawn", item, article["id"], 3))

    async def gone() -> bool:
        return FEEDBACK_NAME not in comments(await page(site, article["url"]))

    await eventually(gone, timeout=15)
    assert "Bài viết hay." not in await page(site, article["url"])


async def test_other_addresses_of_an_article_move_to_the_canonical_one(site: Site) -> None:
    article = await site.published(title="Địa chỉ chuẩn")
    aid = article["id"]
    for wrong in (f"/tin/{aid}", f"/tin/dia-chi-cu-{aid}", f"/tin/Dia-Chi-Chuan-{aid}"):
        response = await site.client.get(wrong, allow_redirects=False)
        assert response.status == 301, wrong
        assert response.headers["Location"] == f"/tin/dia-chi-chuan-{aid}"


async def test_unpublished_and_unknown_articles_are_a_vietnamese_404(site: Site) -> None:
    draft = await site.draft(title="Chưa đăng")
    gone = await site.published(title="Đã gỡ")
    await site.client.post(f"/api/v1/articles/{gone['id']}/unpublish", headers=site.auth("editor"))
    for path in (
        f"/tin/chua-dang-{draft['id']}",
        f"/tin/{draft['id']}",
        gone["url"],
        f"/tin/{gone['id']}/in",
        "/tin/khong-co-999999",
        "/tin/khong-co-so",
    ):
        html = await page(site, path, status=404)
        assert "Không tìm thấy" in html, path
        assert "Chưa đăng" not in html and "Đã gỡ</h1>" not in html


async def test_the_print_view_has_the_article_without_navigation(site: Site) -> None:
    article = await site.published(title="Bản in", byline="Phóng viên A")
    html = await page(site, f"/tin/{article['id']}/in")
    assert '<h1 class="article-title">Bản in</h1>' in html
    assert "Phóng viên A" in html
    assert '<link rel="stylesheet" href="/static/site.css">' in html
    assert "site-header" not in html and "site-footer" not in html
    assert "beacon.js" not in html  # printing is not a second view
    assert '<button type="button" data-print>In bài viết</button>' in html
    assert '<script src="/static/print.js" defer></script>' in html


# --- home and categories ------------------------------------------------------------------


async def test_the_home_page_groups_the_latest_news_and_shows_the_most_read(site: Site) -> None:
    category = await site.category("Tin hoạt động Hội")
    article = await site.published(title="Tin mới nhất của Hội", category_id=category["id"])
    await publish_event(site.amqp_url, views_counted(article["id"], 1, 999_999))

    async def most_read() -> bool:
        html = await page(site, "/")
        return 'Tin mới nhất của Hội</a> <span class="views">(999.999 lượt xem)' in html

    await eventually(most_read, timeout=15)
    html = await page(site, "/")
    assert "Đọc nhiều nhất" in html
    assert '<a href="/chuyen-muc/tin-hoat-dong-hoi">Tin hoạt động Hội</a></h2>' in html
    assert "<title>Trang chủ - " in html


async def test_a_category_page_is_paginated(site: Site) -> None:
    category = await site.category("Văn bản chỉ đạo")
    titles = [f"Văn bản số {n:02d}" for n in range(16)]
    for title in titles:
        await site.published(title=title, category_id=category["id"])
    first = await site.client.get("/chuyen-muc/van-ban-chi-dao")
    assert first.headers["Cache-Control"] == PUBLIC_CACHE
    html = await first.text()
    assert "Văn bản số 15" in html and "Văn bản số 01" in html
    assert "Văn bản số 00" not in html
    assert 'href="/chuyen-muc/van-ban-chi-dao?trang=2"' in html
    second = await page(site, "/chuyen-muc/van-ban-chi-dao?trang=2")
    assert "Văn bản số 00" in second and "Văn bản số 01" not in second
    assert "Trang 2/2" in second
    assert "Không tìm thấy chuyên mục" in await page(site, "/chuyen-muc/khong-co", status=404)


# --- search, feeds, sitemap ---------------------------------------------------------------


async def test_search_ignores_accents_and_case(site: Site) -> None:
    tag = uuid.uuid4().hex[:8]
    await site.published(
        title=f"Ký kết giao ước thi đua năm 2017 {tag}",
        body_html="<p>Đoàn Thanh niên Cộng sản Hồ Chí Minh tham gia.</p>",
    )
    for query in ("giao uoc thi dua", "GIAO ƯỚC", "doan thanh nien", "Đoàn thanh"):
        html = await page(site, f"/tim-kiem?q={query} {tag}")
        assert f"Ký kết giao ước thi đua năm 2017 {tag}" in html, query
        assert "Tìm thấy 1 bản tin" in html
    html = await page(site, f"/tim-kiem?q=khong co dau {tag}")
    assert "Tìm thấy 0 bản tin" in html
    assert "Tìm thấy" not in await page(site, "/tim-kiem?q=")
    assert "Tìm thấy 0 bản tin" in await page(site, "/tim-kiem?q=100%25_%5C")


async def test_search_results_are_paginated(site: Site) -> None:
    tag = uuid.uuid4().hex[:8]
    for n in range(16):
        await site.published(title=f"Kết quả {n:02d} {tag}")
    html = await page(site, f"/tim-kiem?q={tag}")
    assert "Tìm thấy 16 bản tin" in html and "Trang 1/2" in html
    assert f"/tim-kiem?q={tag}&amp;trang=2" in html
    second = await page(site, f"/tim-kiem?q={tag}&trang=2")
    assert f"Kết quả 00 {tag}" in second and f"Kết quả 01 {tag}" not in second


async def test_the_feeds_are_rss_2_with_the_newest_20(site: Site) -> None:
    category = await site.category("Tin nhanh")
    for n in range(21):
        await site.published(title=f"Tin nhanh {n:02d}", category_id=category["id"])
    response = await site.client.get("/chuyen-muc/tin-nhanh/rss")
    assert response.content_type == "application/rss+xml"
    root = ET.fromstring(await response.read())
    items = root.findall("channel/item")
    assert len(items) == 20
    assert items[0].findtext("title") == "Tin nhanh 20"
    assert items[-1].findtext("title") == "Tin nhanh 01"
    assert items[0].findtext("link", "").startswith("https://tin.example.vn/tin/tin-nhanh-20-")
    site_feed = ET.fromstring(await (await site.client.get("/rss")).read())
    assert len(site_feed.findall("channel/item")) == 20
    assert (await site.client.get("/chuyen-muc/khong-co/rss")).status == 404


# --- static pages and the site map --------------------------------------------------------


async def test_the_about_page_has_a_default_and_only_editors_and_admins_change_it(
    site: Site,
) -> None:
    assert "cổng thông tin điện tử" in await page(site, "/gioi-thieu")
    body = {
        "title": "Giới thiệu Hội Nông dân",
        "body_html": "<p>Lịch sử Hội.</p><script>x</script>",
    }
    # Issue 7 widened managing pages from admins to editors; authors still may not.
    refused = await site.client.put(
        "/api/v1/pages/gioi-thieu", json=body, headers=site.auth("author")
    )
    assert refused.status == 403
    saved = await site.client.put(
        "/api/v1/pages/gioi-thieu", json=body, headers=site.auth("editor")
    )
    assert saved.status == 200
    assert (await saved.json())["body_html"] == "<p>Lịch sử Hội.</p>"
    html = await page(site, "/gioi-thieu")
    assert "<h1>Giới thiệu Hội Nông dân</h1>" in html and "Lịch sử Hội." in html

    other = await site.client.put(
        "/api/v1/pages/lien-he",
        json={"title": "Liên hệ", "body_html": "<p>Điện thoại: 0292 000 000</p>"},
        headers=site.auth("admin"),
    )
    assert other.status == 200
    assert "Điện thoại: 0292 000 000" in await page(site, "/trang/lien-he")
    assert (await site.client.get("/trang/khong-co")).status == 404


async def test_the_site_map_page_lists_categories_and_pages(site: Site) -> None:
    await site.category("Chuyên mục trong sơ đồ")
    html = await page(site, "/so-do")
    assert '<a href="/chuyen-muc/chuyen-muc-trong-so-do">Chuyên mục trong sơ đồ</a>' in html
    assert re.search(r'<a href="/gioi-thieu">Giới thiệu[^<]*</a>', html)
    assert "<title>Sơ đồ cổng thông tin - " in html


@pytest.mark.parametrize(
    ("path", "content_type", "inside"),
    [
        ("/static/site.css", "text/css", "@media print"),
        ("/static/beacon.js", "text/javascript", 'navigator.sendBeacon("/api/v1/views"'),
        ("/static/print.js", "text/javascript", "window.print()"),
    ],
)
async def test_the_static_files_are_served_cacheable_with_a_validator(
    site: Site, path: str, content_type: str, inside: str
) -> None:
    response = await site.client.get(path)
    assert response.status == 200
    assert response.content_type == content_type
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    # An hour in browsers; seconds in the gateway, so that a new release shows at once.
    assert response.headers["X-Accel-Expires"] == "5"
    assert inside in await response.text()
    again = await site.client.get(path, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status == 304
    assert (await site.client.get("/static/nothing.js")).status == 404
