"""The import command against the real database and broker: a JSON Lines file with good,
malformed and incomplete lines and a missing image, imported twice (nothing doubles); a
WordPress export with nested categories, tags, a featured image, an image in the body and
a draft, checked on the public pages; a file that declares an XML entity is refused
whole."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from services.articles.import_articles import Summary, import_file, summary_lines
from services.articles.import_formats import UnreadableFile
from tests.support.articles import PNG, Site, running_site

GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"  # noqa: E501


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[Site]:
    async with running_site() as harness:
        yield harness


def line(**fields: Any) -> str:
    return json.dumps(fields, ensure_ascii=False)


def good(external_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "title": f"Hội nghị sơ kết quý I {external_id}",
        "category": "Tin nhập từ trang cũ",
        "body_html": "<p>Nội dung bài viết cũ.</p>",
        "published_at": "2017-03-02T09:00:00+07:00",
        **fields,
    }


async def rows(site: Site, sql: str, *args: Any) -> list[Any]:
    return list(await site.pool.fetch(sql, *args))


async def counts(site: Site) -> tuple[int, int, int, int]:
    return (
        await site.pool.fetchval("SELECT count(*) FROM articles"),
        await site.pool.fetchval("SELECT count(*) FROM images"),
        await site.pool.fetchval("SELECT count(*) FROM outbox"),
        await site.pool.fetchval("SELECT count(*) FROM article_imports"),
    )


async def published_events(site: Site, article_id: int) -> list[dict[str, Any]]:
    found = await rows(
        site,
        "SELECT envelope FROM outbox WHERE type = 'article.published' AND subject = $1",
        str(article_id),
    )
    return [
        json.loads(r["envelope"]) if isinstance(r["envelope"], str) else r["envelope"]
        for r in found
    ]


async def imported(site: Site, external_id: str) -> int:
    return int(
        await site.pool.fetchval(
            "SELECT article_id FROM article_imports WHERE external_id = $1", external_id
        )
    )


async def run(
    path: Path, file_format: str, images_from: Path | None = None, *, site: Site
) -> Summary:
    return await import_file(site.pool, path, file_format, images_from, out=io.StringIO())


async def test_a_jsonl_file_imports_what_it_can_and_says_what_it_refused(
    site: Site, tmp_path: Path
) -> None:
    (tmp_path / "anh").mkdir()
    (tmp_path / "anh" / "dau bai.png").write_bytes(PNG)
    (tmp_path / "trong-bai.gif").write_bytes(GIF)
    old_site = tmp_path / "uploads"
    old_site.mkdir()
    (old_site / "tu-trang-cu.png").write_bytes(PNG + b"\x00")  # another file, same kind
    body = (
        "<p>Đoạn mở đầu.</p>"
        f'<p><img src="file://{tmp_path}/trong-bai.gif" alt="Ảnh trong bài"></p>'
        '<p><img src="http://trangcu.example.vn/wp-content/uploads/tu-trang-cu.png"></p>'
        "<script>alert(1)</script><p>Đoạn kết.</p>"
    )
    lines = [
        line(
            **good(
                "cu-1",
                body_html=body,
                summary="Tóm tắt bài cũ.",
                author="Hồng Tươi",
                unit="VP HND",
                updated_at="2017-03-05T10:00:00+07:00",
                image="anh/dau%20bai.png",
                caption="Toàn cảnh hội nghị.",
                tags=["Thi đua", "Khen thưởng"],
                views=120,
            )
        ),
        '{"external_id": "cu-2", "title": "Thiếu dấu đóng ngoặc"',
        line(**good("cu-3", title="")),
        line(**good("cu-4", published_at="27/04/2017")),
        line(**good("cu-5", image="anh/khong-co.jpg", views=7)),
        line(**good("cu-6", status="draft", published_at=None)),
        "",
        line(**good("", title="Không có mã")),
    ]
    path = tmp_path / "bai-cu.jsonl"
    path.write_text("\n".join(lines) + "\n")

    summary = await run(path, "jsonl", old_site, site=site)

    assert (summary.imported, summary.drafts, summary.skipped) == (3, 1, 0)
    assert [(r.line, r.reason.split(" ")[0]) for r in summary.refused] == [
        (2, "Dòng"),
        (3, "Thiếu"),
        (4, "published_at"),
        (8, "Thiếu"),
    ]
    assert "JSON" in summary.refused[0].reason and "tiêu đề" in summary.refused[1].reason
    assert summary.images_stored == 3
    assert [(i.line, i.reference) for i in summary.images_left_out] == [(5, "anh/khong-co.jpg")]
    printed = "\n".join(summary_lines(summary))
    assert "Đã nhập: 3 (trong đó 1 bản nháp)" in printed and "dòng 4: published_at" in printed

    first = await site.pool.fetchrow(
        "SELECT * FROM articles WHERE id = $1", await imported(site, "cu-1")
    )
    assert first["status"] == "published"
    assert first["published_at"] == datetime.fromisoformat("2017-03-02T09:00:00+07:00")
    assert first["text_updated_at"] == datetime.fromisoformat("2017-03-05T10:00:00+07:00")
    assert (first["imported_views"], first["byline"]) == (120, "Hồng Tươi (VP HND)")
    assert first["image_id"] is not None and first["image_caption"] == "Toàn cảnh hội nghị."
    assert first["body_html"].count('<img src="/anh/') == 2 and "script" not in first["body_html"]
    tags = await rows(
        site,
        """SELECT t.name FROM article_tags a JOIN tags t ON t.id = a.tag_id
            WHERE a.article_id = $1 ORDER BY t.name""",
        first["id"],
    )
    assert [t["name"] for t in tags] == ["Khen thưởng", "Thi đua"]
    assert [e["data"]["imported_views"] for e in await published_events(site, first["id"])] == [120]

    missing_image = await site.pool.fetchrow(
        "SELECT status, image_id FROM articles WHERE id = $1", await imported(site, "cu-5")
    )
    assert (missing_image["status"], missing_image["image_id"]) == ("published", None)
    draft_id = await imported(site, "cu-6")
    assert (
        await site.pool.fetchval("SELECT status FROM articles WHERE id = $1", draft_id) == "draft"
    )
    assert not await site.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE subject = $1", str(draft_id)
    )

    # Page of the imported article, as readers see it.
    page = await site.client.get(f"/tin/{first['id']}", allow_redirects=True)
    html = await page.text()
    assert page.status == 200 and "Cập nhật vào ngày (05/03/2017)" in html

    # A second run: everything already there is skipped, nothing is written.
    before = await counts(site)
    again = await run(path, "jsonl", old_site, site=site)
    assert (again.imported, again.skipped, len(again.refused)) == (0, 3, 4)
    assert again.images_stored == 0
    assert await counts(site) == before


async def test_the_published_event_carries_the_imported_views(site: Site, tmp_path: Path) -> None:
    path = tmp_path / "mot-bai.jsonl"
    path.write_text(line(**good("su-kien-1", views=680)) + "\n")
    assert (await run(path, "jsonl", site=site)).imported == 1
    events = await published_events(site, await imported(site, "su-kien-1"))
    assert [e["data"]["imported_views"] for e in events] == [680]
    assert events[0]["data"]["published_at"] == "2017-03-02T09:00:00+07:00"


WXR = """<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0"
  xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"
  xmlns:content="http://purl.org/rss/1.0/modules/content/"
  xmlns:wfw="http://wellformedweb.org/CommentAPI/"
  xmlns:dc="http://purl.org/dc/elements/1.1/"
  xmlns:wp="http://wordpress.org/export/1.2/">
<channel>
  <title>Hội Nông dân phường (trang cũ)</title>
  <link>http://trangcu.example.vn</link>
  <language>vi</language>
  <wp:wxr_version>1.2</wp:wxr_version>
  <wp:base_site_url>http://trangcu.example.vn</wp:base_site_url>
  <wp:author><wp:author_id>2</wp:author_id>
    <wp:author_login><![CDATA[hongtuoi]]></wp:author_login>
    <wp:author_display_name><![CDATA[Hồng Tươi]]></wp:author_display_name></wp:author>
  <wp:category><wp:term_id>3</wp:term_id>
    <wp:category_nicename><![CDATA[tin-tuc-{run}]]></wp:category_nicename>
    <wp:category_parent><![CDATA[]]></wp:category_parent>
    <wp:cat_name><![CDATA[Tin tức {run}]]></wp:cat_name></wp:category>
  <wp:category><wp:term_id>4</wp:term_id>
    <wp:category_nicename><![CDATA[hoi-nghi-{run}]]></wp:category_nicename>
    <wp:category_parent><![CDATA[tin-tuc-{run}]]></wp:category_parent>
    <wp:cat_name><![CDATA[Hội nghị {run}]]></wp:cat_name></wp:category>
  <wp:tag><wp:term_id>7</wp:term_id><wp:tag_slug><![CDATA[thi-dua]]></wp:tag_slug>
    <wp:tag_name><![CDATA[Thi đua]]></wp:tag_name></wp:tag>
  <item>
    <title>hoi-nghi-toan-canh</title>
    <link>http://trangcu.example.vn/hoi-nghi-toan-canh/</link>
    <dc:creator><![CDATA[hongtuoi]]></dc:creator>
    <wp:post_id>50</wp:post_id>
    <wp:post_date_gmt><![CDATA[2017-04-11 02:00:00]]></wp:post_date_gmt>
    <wp:status><![CDATA[inherit]]></wp:status>
    <wp:post_parent>101</wp:post_parent>
    <wp:post_type><![CDATA[attachment]]></wp:post_type>
    <wp:attachment_url><![CDATA[http://trangcu.example.vn/wp-content/uploads/2017/04/toan-canh.png]]></wp:attachment_url>
  </item>
  <item>
    <title>Hội nghị ký kết giao ước thi đua năm 2017 {run}</title>
    <link>http://trangcu.example.vn/?p=101</link>
    <pubDate>Tue, 11 Apr 2017 02:30:00 +0000</pubDate>
    <dc:creator><![CDATA[hongtuoi]]></dc:creator>
    <guid isPermaLink="false">http://trangcu.example.vn/?p=101</guid>
    <description></description>
    <content:encoded><![CDATA[Ngày 11-4-2017, các đơn vị trong Khối thi đua tổ chức
hội nghị ký kết giao ước.

<img class="aligncenter size-full wp-image-51" alt="Ký kết" width="1" height="1"
src="http://trangcu.example.vn/wp-content/uploads/2017/04/ky-ket.gif" />

Các đơn vị thống nhất nhiệm vụ trọng tâm năm 2017.]]></content:encoded>
    <excerpt:encoded><![CDATA[Các đơn vị ký giao ước thi đua năm 2017.]]></excerpt:encoded>
    <wp:post_id>101{run_id}</wp:post_id>
    <wp:post_date><![CDATA[2017-04-11 09:30:00]]></wp:post_date>
    <wp:post_date_gmt><![CDATA[2017-04-11 02:30:00]]></wp:post_date_gmt>
    <wp:comment_status><![CDATA[open]]></wp:comment_status>
    <wp:post_name><![CDATA[hoi-nghi-ky-ket]]></wp:post_name>
    <wp:status><![CDATA[publish]]></wp:status>
    <wp:post_parent>0</wp:post_parent>
    <wp:menu_order>0</wp:menu_order>
    <wp:post_type><![CDATA[post]]></wp:post_type>
    <wp:is_sticky>0</wp:is_sticky>
    <category domain="category" nicename="tin-tuc-{run}"><![CDATA[Tin tức {run}]]></category>
    <category domain="category" nicename="hoi-nghi-{run}"><![CDATA[Hội nghị {run}]]></category>
    <category domain="post_tag" nicename="thi-dua"><![CDATA[Thi đua]]></category>
    <category domain="post_tag" nicename="giao-uoc"><![CDATA[Giao ước]]></category>
    <wp:postmeta><wp:meta_key><![CDATA[_thumbnail_id]]></wp:meta_key><wp:meta_value><![CDATA[50]]></wp:meta_value></wp:postmeta>
    <wp:postmeta><wp:meta_key><![CDATA[views]]></wp:meta_key><wp:meta_value><![CDATA[345]]></wp:meta_value></wp:postmeta>
  </item>
  <item>
    <title>Bản nháp chưa đăng {run}</title>
    <dc:creator><![CDATA[hongtuoi]]></dc:creator>
    <content:encoded><![CDATA[<p>Bài viết còn dang dở.</p>]]></content:encoded>
    <excerpt:encoded><![CDATA[]]></excerpt:encoded>
    <wp:post_id>102{run_id}</wp:post_id>
    <wp:post_date><![CDATA[2017-04-12 08:00:00]]></wp:post_date>
    <wp:post_date_gmt><![CDATA[0000-00-00 00:00:00]]></wp:post_date_gmt>
    <wp:status><![CDATA[draft]]></wp:status>
    <wp:post_type><![CDATA[post]]></wp:post_type>
    <category domain="category" nicename="tin-tuc-{run}"><![CDATA[Tin tức {run}]]></category>
  </item>
  <item>
    <title>Giới thiệu</title>
    <content:encoded><![CDATA[<p>Trang giới thiệu.</p>]]></content:encoded>
    <wp:post_id>2</wp:post_id>
    <wp:status><![CDATA[publish]]></wp:status>
    <wp:post_type><![CDATA[page]]></wp:post_type>
  </item>
  <item>
    <title>Riêng tư {run}</title>
    <content:encoded><![CDATA[<p>Không công khai.</p>]]></content:encoded>
    <wp:post_id>103{run_id}</wp:post_id>
    <wp:post_date_gmt><![CDATA[2017-04-12 01:00:00]]></wp:post_date_gmt>
    <wp:status><![CDATA[private]]></wp:status>
    <wp:post_type><![CDATA[post]]></wp:post_type>
  </item>
</channel>
</rss>
"""


async def test_a_wordpress_export_shows_on_the_public_pages(site: Site, tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "toan-canh.png").write_bytes(PNG)
    (uploads / "ky-ket.gif").write_bytes(GIF)
    path = tmp_path / "wordpress.xml"
    text = WXR.format(run="A", run_id="1")
    path.write_text(text)
    private_item_line = text.splitlines().index("    <title>Riêng tư A</title>")  # 0-based

    summary = await run(path, "wxr", uploads, site=site)

    assert (summary.imported, summary.drafts, summary.images_stored) == (2, 1, 2)
    assert [r.reason for r in summary.refused] == [
        "Bài WordPress ở trạng thái “private”: không nhập."
    ]
    assert summary.refused[0].line == private_item_line  # where its <item> starts
    assert summary.other_wordpress_items == 1 and not summary.images_left_out

    post_id = await imported(site, "wp:1011")
    response = await site.client.get(f"/tin/{post_id}")
    assert response.status == 200
    html = await response.text()
    assert "Hội nghị ký kết giao ước thi đua năm 2017 A" in html
    # Its categories (the child under its parent) and its tags.
    assert (
        'href="/chuyen-muc/tin-tuc-a">Tin tức A</a> » <a href="/chuyen-muc/hoi-nghi-a">Hội nghị A'
        in html
    )
    assert 'href="/the/thi-dua" rel="tag">Thi đua</a>' in html and ">Giao ước</a>" in html
    assert "Cập nhật vào ngày (11/04/2017)" in html and "Hồng Tươi" in html
    # WordPress' blank-line paragraphs became paragraphs; both images are ours now.
    assert "<p>Ngày 11-4-2017" in html and "<br>hội nghị ký kết" in html
    images = [src for src in html.split('src="')[1:] if src.startswith("/anh/")]
    assert len(images) == 2
    for src in images:
        served = await site.client.get(src.split('"')[0])
        assert served.status == 200
        assert served.content_type in ("image/png", "image/gif")
    for listing in ("/chuyen-muc/tin-tuc-a", "/chuyen-muc/hoi-nghi-a", "/the/thi-dua"):
        page = await site.client.get(listing)
        assert "Hội nghị ký kết giao ước thi đua năm 2017 A" in await page.text(), listing

    # The draft was never published: no page, no event, only the desk sees it.
    draft_id = await imported(site, "wp:1021")
    assert (await site.client.get(f"/tin/{draft_id}")).status == 404
    assert (await site.client.get(f"/tin/{draft_id}", headers=site.auth("editor"))).status == 404
    desk = await site.client.get(f"/api/v1/articles/{draft_id}", headers=site.auth("editor"))
    assert (await desk.json())["status"] == "draft"
    assert not await site.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE subject = $1", str(draft_id)
    )

    before = await counts(site)
    again = await run(path, "wxr", uploads, site=site)
    assert (again.imported, again.skipped) == (0, 2)
    assert await counts(site) == before


async def test_a_file_with_an_xml_entity_is_refused_whole(site: Site, tmp_path: Path) -> None:
    path = tmp_path / "entity.xml"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
        "<rss><channel><item><title>&secret;</title></item></channel></rss>"
    )
    before = await counts(site)
    with pytest.raises(UnreadableFile):
        await run(path, "wxr", site=site)
    empty = tmp_path / "trong.jsonl"
    empty.write_text("\n\n")
    assert not (await run(empty, "jsonl", site=site)).read_anything
    assert await counts(site) == before


async def test_an_editor_may_create_an_article_with_its_earlier_views(site: Site) -> None:
    category = await site.category()
    body = {
        "title": "Bài chuyển sang từ trang cũ",
        "summary": "Tóm tắt.",
        "body_html": "<p>Nội dung.</p>",
        "category_id": category["id"],
        "imported_views": 245,
    }
    created = await site.client.post("/api/v1/articles", json=body, headers=site.auth("editor"))
    assert created.status == 201, await created.text()
    article_id = (await created.json())["id"]
    published = await site.client.post(
        f"/api/v1/articles/{article_id}/publish", headers=site.auth("editor")
    )
    assert published.status == 200
    assert [e["data"]["imported_views"] for e in await published_events(site, article_id)] == [245]

    before = await counts(site)
    for role, views, status in (("author", 245, 403), ("editor", -1, 422), ("editor", "9", 422)):
        refused = await site.client.post(
            "/api/v1/articles", json={**body, "imported_views": views}, headers=site.auth(role)
        )
        assert refused.status == status, (role, views)
        assert refused.content_type == "application/problem+json"
    assert await counts(site) == before
