"""The public pages of the articles service, as a reader gets them, with the read models of
views and feedback fed by real CloudEvents through RabbitMQ."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

import aiohttp
import pytest

from services.common.events.envelope import CloudEvent, source_of
from services.common.vietnam import VIETNAM
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


def views_counted(
    article_id: int, version: int, total: int, today: int = 3, **sums: Any
) -> CloudEvent:
    data = {
        "article_id": article_id,
        "version": version,
        "total": total,
        "today": today,
        "day": datetime.now(VIETNAM).date().isoformat(),
        **sums,
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


async def test_a_page_rendered_before_shows_every_change_at_the_next_request(
    site: Site,
) -> None:
    """Each process keeps the last rendering of a page with what its query read
    (services/articles/rendered.py): a change to the text, the count, the feedback, the
    related articles or the menu is shown at once, and the ETag follows the page."""
    category = await site.category()
    article = await site.published(title="Bản tin giữ sẵn", category_id=category["id"])

    async def read(etag: str | None = None) -> tuple[int, str, str]:
        headers = {"If-None-Match": etag} if etag else {}
        response = await site.client.get(article["url"], headers=headers)
        return response.status, response.headers["ETag"], await response.text()

    status, etag, html = await read()
    assert status == 200 and "[ Số lần xem: 0 ]" in html
    assert await read() == (200, etag, html)  # the kept rendering
    assert (await read(etag))[:2] == (304, etag)

    async def changed(sql: str, *args: Any) -> str:
        nonlocal etag
        await site.pool.execute(sql, *args)
        status, new_etag, html = await read(etag)  # the browser's copy is now old
        assert status == 200 and new_etag != etag
        etag = new_etag
        return html

    html = await changed(
        "INSERT INTO article_views (article_id, total, today, day, version)"
        " VALUES ($1, 4321, 1, current_date, 1)",
        article["id"],
    )
    assert "[ Số lần xem: 4.321 ]" in html
    html = await changed(
        "UPDATE article_views SET total = 4322, version = 2 WHERE article_id = $1", article["id"]
    )
    assert "[ Số lần xem: 4.322 ]" in html
    html = await changed(
        "INSERT INTO public_feedback (id, article_id, author_name, body, approved_at, updated_at,"
        " version) VALUES ($1, $2, 'Bạn đọc giữ sẵn', 'Ý kiến mới.', now(), now(), 1)",
        900_000 + article["id"],
        article["id"],
    )
    assert "Bạn đọc giữ sẵn" in html and "Ý kiến mới." in html
    html = await changed("DELETE FROM public_feedback WHERE id = $1", 900_000 + article["id"])
    assert "Bạn đọc giữ sẵn" not in html
    html = await changed(
        "UPDATE articles SET title = 'Bản tin đã sửa', version = version + 1 WHERE id = $1",
        article["id"],
    )
    assert '<h1 class="article-title">Bản tin đã sửa</h1>' in html
    html = await changed(
        "UPDATE categories SET name = 'Chuyên mục đổi tên' WHERE id = $1", category["id"]
    )
    assert ">Chuyên mục đổi tên</a>" in html
    other = await site.published(title="Bản tin cùng chuyên mục", category_id=category["id"])
    status, etag_after, html = await read(etag)
    assert status == 200 and etag_after != etag
    assert f'href="{other["url"]}">Bản tin cùng chuyên mục</a>' in html


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
    await publish_event(site.amqp_url, views_counted(article["id"], 1, 999_999, today=5))

    async def most_read() -> bool:
        html = await page(site, "/")
        return 'Tin mới nhất của Hội</a> <span class="views">(5 lượt xem)' in html

    await eventually(most_read, timeout=15)
    html = await page(site, "/")
    assert "Đọc nhiều nhất" in html
    assert '<a href="/chuyen-muc/tin-hoat-dong-hoi">Tin hoạt động Hội</a></h2>' in html
    assert "<title>Trang chủ - " in html


def most_read_list(html: str) -> list[tuple[str, str]]:
    """The titles and counts of the home page's most-read list, in order."""
    aside = html[html.index('<aside class="most-read"') : html.index("</aside>")]
    return re.findall(r'<li><a href="[^"]+">([^<]+)</a> <span class="views">\(([^)]+)\)', aside)


async def test_the_home_page_switches_between_today_7_and_30_days_without_javascript(
    site: Site,
) -> None:
    category = await site.category("Đọc nhiều")
    # Larger than any other test's counts here, so that these are the top of each list.
    counts = {  # title: (today, 7 days, 30 days)
        "Tin đọc nhiều hôm nay": (400, 410, 420),
        "Tin đọc nhiều trong tuần": (100, 900, 910),
        "Tin đọc nhiều trong tháng": (0, 20, 5000),
    }
    for title, (today, week, month) in counts.items():
        article = await site.published(title=title, category_id=category["id"])
        await publish_event(
            site.amqp_url,
            views_counted(
                article["id"], 2, 10_000, today=today, last_7_days=week, last_30_days=month
            ),
        )
        # A late, older event changes nothing.
        await publish_event(
            site.amqp_url,
            views_counted(article["id"], 1, 1, today=999, last_7_days=999, last_30_days=999),
        )

    async def all_counted() -> bool:
        return "Tin đọc nhiều trong tháng" in await page(site, "/?xem=30-ngay")

    await eventually(all_counted, timeout=15)
    mine = set(counts)

    async def shown(query: str) -> list[tuple[str, str]]:
        return [(t, v) for t, v in most_read_list(await page(site, query)) if t in mine]

    today = [
        ("Tin đọc nhiều hôm nay", "400 lượt xem"),
        ("Tin đọc nhiều trong tuần", "100 lượt xem"),
    ]
    assert await shown("/") == today
    assert await shown("/?xem=hom-nay") == today
    assert await shown("/?xem=7-ngay") == [
        ("Tin đọc nhiều trong tuần", "900 lượt xem"),
        ("Tin đọc nhiều hôm nay", "410 lượt xem"),
        ("Tin đọc nhiều trong tháng", "20 lượt xem"),
    ]
    assert await shown("/?xem=30-ngay") == [
        ("Tin đọc nhiều trong tháng", "5.000 lượt xem"),
        ("Tin đọc nhiều trong tuần", "910 lượt xem"),
        ("Tin đọc nhiều hôm nay", "420 lượt xem"),
    ]
    assert await shown("/?xem=khong-co") == today  # an unknown tab: the first
    html = await page(site, "/?xem=7-ngay")
    assert '<a href="/?xem=7-ngay#doc-nhieu" aria-current="true">7 ngày</a>' in html
    assert '<a href="/?xem=hom-nay#doc-nhieu">Hôm nay</a>' in html
    assert '<a href="/?xem=30-ngay#doc-nhieu">30 ngày</a>' in html


async def test_sums_of_a_day_gone_by_leave_today_s_list(site: Site) -> None:
    category = await site.category("Tin cũ")
    article = await site.published(title="Tin đọc nhiều hôm kia", category_id=category["id"])
    event = views_counted(article["id"], 1, 70, today=70, last_7_days=70, last_30_days=70)
    event.data["day"] = (datetime.now(VIETNAM).date() - timedelta(days=2)).isoformat()
    await publish_event(site.amqp_url, event)

    async def titles(query: str) -> list[str]:
        return [title for title, _ in most_read_list(await page(site, query))]

    async def in_the_week() -> bool:
        return "Tin đọc nhiều hôm kia" in await titles("/?xem=7-ngay")

    await eventually(in_the_week, timeout=15)
    assert "Tin đọc nhiều hôm kia" in await titles("/?xem=30-ngay")
    assert "Tin đọc nhiều hôm kia" not in await titles("/?xem=hom-nay")


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


# Search: tests/integration/test_articles_search.py.


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
