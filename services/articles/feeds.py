"""RSS 2.0 feeds and the XML sitemap, built with ElementTree so that they are always
well-formed whatever the titles contain."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from xml.etree import ElementTree as ET

from services.articles.domain import Article
from services.common.vietnam import VIETNAM

ATOM = "http://www.w3.org/2005/Atom"
SITEMAP = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS = "http://www.google.com/schemas/sitemap-news/0.9"
RSS_ITEMS = 20


def _child(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _xml(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def rss(
    *,
    title: str,
    link: str,
    self_url: str,
    description: str,
    origin: str,
    articles: Sequence[Article],
) -> bytes:
    """An RSS 2.0 channel of `articles` (newest first), links absolute on `origin`."""
    ET.register_namespace("atom", ATOM)
    root = ET.Element("rss", {"version": "2.0"})
    channel = _child(root, "channel")
    _child(channel, "title", title)
    _child(channel, "link", link)
    _child(channel, "description", description)
    _child(channel, "language", "vi")
    _child(channel, f"{{{ATOM}}}link", href=self_url, rel="self", type="application/rss+xml")
    if articles:
        # The channel changes when an article comes in or its text changes (not with a
        # pin or a new version number).
        newest = max(max(a.text_updated_at, a.published_at or a.text_updated_at) for a in articles)
        _child(channel, "lastBuildDate", format_datetime(newest.astimezone(VIETNAM)))
    for article in articles:
        url = origin + article.url
        item = _child(channel, "item")
        _child(item, "title", article.title)
        _child(item, "link", url)
        _child(item, "guid", url, isPermaLink="true")
        if article.summary:
            _child(item, "description", article.summary)
        _child(item, "category", article.category.name)
        if article.published_at is not None:
            _child(item, "pubDate", format_datetime(article.published_at.astimezone(VIETNAM)))
    return _xml(root)


@dataclass(frozen=True)
class SitemapEntry:
    loc: str
    lastmod: datetime | None = None


def _lastmod(moment: datetime) -> str:
    return moment.astimezone(VIETNAM).isoformat(timespec="seconds")


def sitemap(entries: Iterable[SitemapEntry]) -> bytes:
    root = ET.Element("urlset", {"xmlns": SITEMAP})
    for entry in entries:
        url = _child(root, "url")
        _child(url, "loc", entry.loc)
        if entry.lastmod is not None:
            _child(url, "lastmod", _lastmod(entry.lastmod))
    return _xml(root)


def sitemap_index(children: Iterable[SitemapEntry]) -> bytes:
    """A sitemap index (sitemaps.org): the address of each child sitemap and its last change."""
    root = ET.Element("sitemapindex", {"xmlns": SITEMAP})
    for child in children:
        entry = _child(root, "sitemap")
        _child(entry, "loc", child.loc)
        if child.lastmod is not None:
            _child(entry, "lastmod", _lastmod(child.lastmod))
    return _xml(root)


@dataclass(frozen=True)
class NewsEntry:
    loc: str
    title: str
    published_at: datetime


def news_sitemap(entries: Iterable[NewsEntry], *, publication: str, language: str = "vi") -> bytes:
    """A Google News sitemap: the articles of the last two days, each with the
    publication's name and language, its publication time and title."""
    root = ET.Element("urlset", {"xmlns": SITEMAP, "xmlns:news": NEWS})
    for entry in entries:
        url = _child(root, "url")
        _child(url, "loc", entry.loc)
        news = _child(url, "news:news")
        source = _child(news, "news:publication")
        _child(source, "news:name", publication)
        _child(source, "news:language", language)
        _child(news, "news:publication_date", _lastmod(entry.published_at))
        _child(news, "news:title", entry.title)
    return _xml(root)


def robots_txt(sitemap_url: str) -> str:
    """What crawlers may read: the public site, not the desk, the API, the login form or
    search results (endless pages of the same articles); where the sitemap is."""
    return (
        "User-agent: *\n"
        "Disallow: /quan-tri\n"
        "Disallow: /dang-nhap\n"
        "Disallow: /api/\n"
        "Disallow: /tim-kiem\n"
        "Disallow: /tra-cuu-phan-hoi\n"
        "\n"
        f"Sitemap: {sitemap_url}\n"
    )
