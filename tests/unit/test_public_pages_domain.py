"""The public side's rules without I/O: the home page's nested sections, the article's
NewsArticle data and its safe writing into the page, the news sitemap and robots.txt."""

from __future__ import annotations

import json

from services.articles import domain, feeds
from services.articles.domain import Category, Tag, Topic
from tests.unit.test_articles_domain import NOW, article

PARENT = Category(1, "Mặt trận", "mat-tran", position=1)
CHILD = Category(2, "Dân vận", "dan-van", parent_id=1, position=1)
OTHER = Category(3, "Thể thao", "the-thao", position=2)
LONELY_PARENT = Category(4, "Kinh tế", "kinh-te", position=3)
ITS_CHILD = Category(5, "Nông nghiệp", "nong-nghiep", parent_id=4, position=1)


def test_child_sections_sit_under_their_parent_in_the_menus_order() -> None:
    in_parent, in_child = article(id=1), article(id=2)
    in_other, in_lonely_child = article(id=3), article(id=4)
    sections = [
        (CHILD, [in_child]),
        (OTHER, [in_other]),
        (PARENT, [in_parent]),
        (ITS_CHILD, [in_lonely_child]),
    ]
    nested = domain.nest_sections(sections, [PARENT, CHILD, OTHER, LONELY_PARENT, ITS_CHILD])
    assert nested == [
        (PARENT, [in_parent], [(CHILD, [in_child])]),
        (OTHER, [in_other], []),
        # A parent without articles of its own still heads its child's.
        (LONELY_PARENT, [], [(ITS_CHILD, [in_lonely_child])]),
    ]


def test_a_parent_with_nothing_to_show_has_no_section() -> None:
    assert domain.nest_sections([], [PARENT, CHILD]) == []


def test_the_news_article_data_names_what_a_search_engine_reads() -> None:
    story = article(
        title="T" * 120,
        tags=(Tag(1, "the-thao", "Thể thao"), Tag(2, "bong-da", "Bóng đá")),
        topic=Topic(1, "sea-games", "SEA Games"),
    )
    data = domain.news_article_ld(
        story,
        canonical="https://tin.example.vn/tin/x-42",
        site_name="Cổng thông tin",
        image_url="https://tin.example.vn/anh/9/share.jpg",
    )
    assert data["@type"] == "NewsArticle"
    assert data["headline"] == "T" * 110  # Google reads at most 110 characters
    assert data["datePublished"] == "2017-04-27T07:30:00+07:00"
    assert data["dateModified"] == "2017-04-27T09:30:00+07:00"
    assert data["author"] == {"@type": "Person", "name": "Hồng Tươi (VP HND)"}
    assert data["publisher"] == {"@type": "Organization", "name": "Cổng thông tin"}
    assert data["image"] == ["https://tin.example.vn/anh/9/share.jpg"]
    assert data["keywords"] == "Thể thao, Bóng đá"
    without = domain.news_article_ld(
        article(byline="", author_name=""), canonical="c", site_name="Cổng", image_url=None
    )
    assert without["author"] == {"@type": "Organization", "name": "Cổng"}
    assert "image" not in without and "keywords" not in without


def test_json_for_html_cannot_close_the_element_and_reads_back_the_same() -> None:
    data = {"headline": "</script><script>alert(1)</script> <!-- & -->"}
    text = domain.json_for_html(data)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == data


def test_the_news_sitemap_and_robots_txt() -> None:
    body = feeds.news_sitemap(
        [feeds.NewsEntry("https://tin.example.vn/tin/a-1", "Tin <mới> & nóng", NOW)],
        publication="Cổng thông tin",
    ).decode()
    assert "<news:title>Tin &lt;mới&gt; &amp; nóng</news:title>" in body
    assert "<news:publication_date>2017-04-27T09:30:00+07:00</news:publication_date>" in body
    robots = feeds.robots_txt("https://tin.example.vn/sitemap.xml").splitlines()
    assert robots[0] == "User-agent: *"
    assert robots[-1] == "Sitemap: https://tin.example.vn/sitemap.xml"


def test_each_picture_of_a_body_loads_lazily_once() -> None:
    body = '<p>a</p><img src="/anh/1" alt="x"><p><img src="/anh/2" alt=""></p>'
    assert domain.lazy_images(body) == (
        '<p>a</p><img loading="lazy" src="/anh/1" alt="x">'
        '<p><img loading="lazy" src="/anh/2" alt=""></p>'
    )
    assert domain.lazy_images("<p>Không ảnh</p>") == "<p>Không ảnh</p>"
