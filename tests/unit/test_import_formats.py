"""The import's parsing, without I/O: a JSON Lines line to an article's fields or a refusal
with its reason; a WordPress <item> to the same fields; images in a body found and
pointed at our store; where an image reference may be on disk."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.articles.import_formats import (
    DRAFT,
    PUBLISHED,
    ArticleRecord,
    RecordRefused,
    Refusal,
    UnreadableFile,
    image_candidates,
    image_sources,
    parse_jsonl,
    parse_jsonl_line,
    parse_wxr,
    with_image_sources,
    wpautop,
    wxr_item,
)
from services.common.vietnam import VIETNAM

FULL = {
    "external_id": "cu-17",
    "title": "  Khối thi đua ký kết   giao ước ",
    "category": "Tình hình hoạt động",
    "body_html": "<p>Nội dung.</p>",
    "summary": "Tóm tắt.",
    "author": "Hồng Tươi",
    "unit": "VP HND",
    "published_at": "2017-04-27T08:30:00+07:00",
    "updated_at": "2017-04-28T10:00:00+07:00",
    "image": "anh/hoi-nghi.jpg",
    "caption": "Toàn cảnh hội nghị.",
    "tags": ["Thi đua", " Khen thưởng "],
    "views": 680,
}


def test_a_full_line_gives_every_field() -> None:
    record = parse_jsonl_line(json.dumps(FULL), 3)
    assert record == ArticleRecord(
        line=3,
        external_id="cu-17",
        title="Khối thi đua ký kết giao ước",
        category="Tình hình hoạt động",
        body_html="<p>Nội dung.</p>",
        published_at=datetime(2017, 4, 27, 8, 30, tzinfo=VIETNAM),
        updated_at=datetime(2017, 4, 28, 10, 0, tzinfo=VIETNAM),
        summary="Tóm tắt.",
        author="Hồng Tươi",
        unit="VP HND",
        image="anh/hoi-nghi.jpg",
        caption="Toàn cảnh hội nghị.",
        tags=("Thi đua", "Khen thưởng"),
        views=680,
        status=PUBLISHED,
    )


def test_a_minimal_line_and_a_draft_without_a_date() -> None:
    minimal = {k: FULL[k] for k in ("external_id", "title", "category", "body_html")}
    record = parse_jsonl_line(json.dumps({**minimal, "published_at": FULL["published_at"]}), 1)
    assert (record.views, record.image, record.tags, record.updated_at) == (None, None, (), None)
    draft = parse_jsonl_line(json.dumps({**minimal, "status": "draft", "external_id": 42}), 2)
    assert (draft.status, draft.published_at, draft.external_id) == (DRAFT, None, "42")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"title": ""}, "Thiếu tiêu đề"),
        ({"title": None}, "Thiếu tiêu đề"),
        ({"title": "x" * 301}, "Tiêu đề dài quá"),
        ({"external_id": ""}, "Thiếu external_id"),
        ({"external_id": None}, "Thiếu external_id"),
        ({"category": ""}, "Thiếu category"),
        ({"body_html": " "}, "Thiếu nội dung"),
        ({"published_at": "27/04/2017"}, "published_at không đọc được"),
        ({"published_at": "2017-04-27T08:30:00"}, "published_at không đọc được"),
        ({"published_at": None}, "Thiếu published_at"),
        ({"updated_at": 2017}, "updated_at không đọc được"),
        ({"views": -1}, "views phải là"),
        ({"views": "680"}, "views phải là"),
        ({"views": True}, "views phải là"),
        ({"tags": "Thi đua"}, "tags phải là"),
        ({"tags": ["x"] * 21}, "Nhiều hơn 20 thẻ"),
        ({"status": "private"}, "status phải là"),
        ({"summary": ["a"]}, "summary phải là một chuỗi"),
        ({"view": 5}, "Trường không được biết: view"),
    ],
)
def test_a_line_is_refused_with_its_reason(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(RecordRefused) as refused:
        parse_jsonl_line(json.dumps({**FULL, **change}), 1)
    assert refused.value.reason.startswith(reason), refused.value.reason


def test_a_file_gives_records_and_refusals_by_line_skipping_blank_lines() -> None:
    text = "\n".join(
        [
            json.dumps(FULL),
            "",
            '{"title": "gãy',
            "[1, 2]",
            json.dumps({**FULL, "external_id": "cu-18"}),
        ]
    )
    found = list(parse_jsonl(text))
    assert [type(f).__name__ for f in found] == [
        "ArticleRecord",
        "Refusal",
        "Refusal",
        "ArticleRecord",
    ]
    assert [f.line for f in found] == [1, 3, 4, 5]
    assert isinstance(found[1], Refusal) and "JSON hợp lệ" in found[1].reason
    assert isinstance(found[2], Refusal) and "đối tượng JSON" in found[2].reason


# --- WordPress ---------------------------------------------------------------------------

NS = (
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    'xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:wp="http://wordpress.org/export/1.2/"'
)


def item(
    status: str = "publish", date_gmt: str = "2017-04-11 02:30:00", extra: str = ""
) -> ET.Element:
    return ET.fromstring(
        f"""<item {NS}>
          <title>Hội nghị ký kết</title>
          <dc:creator>hongtuoi</dc:creator>
          <content:encoded><![CDATA[Đoạn một.

Đoạn hai
dòng hai.]]></content:encoded>
          <excerpt:encoded><![CDATA[Tóm tắt  ngắn.]]></excerpt:encoded>
          <wp:post_id>101</wp:post_id>
          <wp:post_date>2017-04-11 09:30:00</wp:post_date>
          <wp:post_date_gmt>{date_gmt}</wp:post_date_gmt>
          <wp:status>{status}</wp:status>
          <wp:post_type>post</wp:post_type>
          <category domain="category" nicename="tin-tuc">Tin tức</category>
          <category domain="category" nicename="hoi-nghi">Hội nghị</category>
          <category domain="category" nicename="khac">Khác</category>
          <category domain="post_tag" nicename="thi-dua">Thi đua</category>
          <wp:postmeta><wp:meta_key>_thumbnail_id</wp:meta_key>
            <wp:meta_value>50</wp:meta_value></wp:postmeta>
          <wp:postmeta><wp:meta_key>post_views_count</wp:meta_key>
            <wp:meta_value>345</wp:meta_value></wp:postmeta>
          {extra}
        </item>"""
    )


CATEGORIES = {"tin-tuc": ("Tin tức", None), "hoi-nghi": ("Hội nghị", "tin-tuc")}


def test_a_wordpress_post_gives_the_fields() -> None:
    record = wxr_item(
        item(), CATEGORIES, {"hongtuoi": "Hồng Tươi"}, {"50": "http://cu.vn/a.jpg"}, 9
    )
    assert record.external_id == "wp:101" and record.line == 9
    assert (record.category, record.category_parent) == ("Hội nghị", "Tin tức")
    assert record.tags == ("Khác", "Thi đua")  # a third category is kept as a tag
    assert record.body_html == "<p>Đoạn một.</p><p>Đoạn hai<br>dòng hai.</p>"
    assert (record.summary, record.author, record.image) == (
        "Tóm tắt ngắn.",
        "Hồng Tươi",
        "http://cu.vn/a.jpg",
    )
    assert record.published_at == datetime(2017, 4, 11, 2, 30, tzinfo=UTC)
    assert (record.views, record.status) == (345, PUBLISHED)


def test_a_wordpress_draft_stays_a_draft_and_other_states_are_refused() -> None:
    draft = wxr_item(item("draft", "0000-00-00 00:00:00"), CATEGORIES, {}, {})
    assert draft.status == DRAFT
    assert draft.published_at == datetime(2017, 4, 11, 9, 30, tzinfo=VIETNAM)  # local date
    for status in ("private", "trash", "future"):
        with pytest.raises(RecordRefused, match=status):
            wxr_item(item(status), CATEGORIES, {}, {})
    with pytest.raises(RecordRefused, match="post_date_gmt"):
        wxr_item(item(date_gmt="hôm qua"), CATEGORIES, {}, {})


def test_an_export_with_an_entity_or_not_an_export_is_unreadable() -> None:
    for data in (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><rss><channel/></rss>',
        b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><rss>&x;</rss>',
        b"<html><body>not an export</body></html>",
        b"{not xml",
    ):
        with pytest.raises(UnreadableFile):
            parse_wxr(data)


def test_an_export_sorts_posts_attachments_and_other_items() -> None:
    export = parse_wxr(
        f"""<rss version="2.0" {NS}><channel>
        <item><wp:post_id>50</wp:post_id><wp:post_type>attachment</wp:post_type>
          <wp:attachment_url>http://cu.vn/uploads/a.jpg</wp:attachment_url></item>
        <item><title>Giới thiệu</title><wp:post_type>page</wp:post_type></item>
        <item><title></title><wp:post_id>7</wp:post_id><wp:status>publish</wp:status>
          <wp:post_date_gmt>2017-01-01 00:00:00</wp:post_date_gmt>
          <wp:post_type>post</wp:post_type></item>
        </channel></rss>""".encode()
    )
    assert export.attachments == {"50": "http://cu.vn/uploads/a.jpg"}
    assert export.skipped_types == 1
    assert export.items == [Refusal(5, "Thiếu tiêu đề (title).")]


def test_wpautop_leaves_html_with_blocks_alone() -> None:
    assert wpautop("<p>a</p>\n\n<p>b</p>") == "<p>a</p>\n\n<p>b</p>"
    assert wpautop('a <img\nsrc="x.jpg">\nb') == '<p>a <img\nsrc="x.jpg"><br>b</p>'


# --- images in a body --------------------------------------------------------------------


def test_images_are_found_once_and_pointed_at_our_store() -> None:
    body = (
        '<p><img src="anh/a.jpg" alt="A"><img src="file:///srv/cu/b%20c.png">'
        '<img src="http://cu.vn/up/d.gif?x=1&amp;y=2"><img src="anh/a.jpg"></p>'
    )
    assert image_sources(body) == [
        "anh/a.jpg",
        "file:///srv/cu/b%20c.png",
        "http://cu.vn/up/d.gif?x=1&y=2",
    ]
    rewritten = with_image_sources(
        body, {"anh/a.jpg": "/anh/7", "http://cu.vn/up/d.gif?x=1&y=2": "/anh/8"}
    )
    assert rewritten == '<p><img src="/anh/7" alt="A"><img><img src="/anh/8"><img src="/anh/7"></p>'


def test_where_an_image_may_be_on_disk(tmp_path: Path) -> None:
    base, folder = tmp_path / "xuat", tmp_path / "anh-cu"
    assert image_candidates("anh/a%20b.jpg", base, None) == [base / "anh/a b.jpg"]
    assert image_candidates("anh/a.jpg", base, folder) == [base / "anh/a.jpg", folder / "a.jpg"]
    assert image_candidates("file:///srv/c%C3%A1.png", base, folder) == [
        Path("/srv/cá.png"),
        folder / "cá.png",
    ]
    assert image_candidates("https://cu.vn/up/2017/04/d.gif?v=2", base, folder) == [
        folder / "d.gif"
    ]
    assert image_candidates("https://cu.vn/up/d.gif", base, None) == []
