"""What the import reads, parsed without I/O: a JSON Lines file (one article a line) and a
WordPress export (WXR: RSS 2.0 with the wp:, content:, excerpt: and dc: namespaces). Each
article becomes an ArticleRecord, or a Refusal naming its line and the reason; the
command (import_articles.py) stores them. Also the image references in a body and their
rewriting to our own /anh/{id}."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET  # only the types and tree walking; parsing is defusedxml's
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import nh3
from defusedxml.common import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from services.articles import domain
from services.common.vietnam import VIETNAM

PUBLISHED, DRAFT = "published", "draft"
EXTERNAL_ID_MAX_LENGTH = 200
TITLE_MAX_LENGTH = 300
BODY_MAX_BYTES = 512 * 1024


@dataclass(frozen=True)
class ArticleRecord:
    """One article as the earlier site had it, checked but not yet stored. The body is as
    it came (sanitised when stored); images are references (a path relative to the file,
    a file:// URL, or a URL whose file name is looked up in --images-from)."""

    line: int
    external_id: str
    title: str
    category: str
    body_html: str
    published_at: datetime | None
    updated_at: datetime | None
    summary: str = ""
    author: str = ""
    unit: str = ""
    image: str | None = None
    caption: str = ""
    tags: tuple[str, ...] = ()
    views: int | None = None
    status: str = PUBLISHED
    # The parent of the category, by name (WordPress' nested categories).
    category_parent: str | None = None


@dataclass(frozen=True)
class Refusal:
    """A record that cannot be imported: where it is (line of the file) and why."""

    line: int
    reason: str


class RecordRefused(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnreadableFile(ValueError):
    """Nothing of the file can be read (not XML, not a WordPress export, entities)."""


# --- JSON Lines ---------------------------------------------------------------------------

JSONL_FIELDS = frozenset(
    {
        "external_id", "title", "category", "body_html", "summary", "author", "unit",
        "published_at", "updated_at", "image", "caption", "tags", "views", "status",
    }
)  # fmt: skip


def parse_jsonl(text: str) -> Iterator[ArticleRecord | Refusal]:
    """Every non-blank line of a JSON Lines file, as a record or a refusal."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield parse_jsonl_line(line, number)
        except RecordRefused as refused:
            yield Refusal(number, refused.reason)


def parse_jsonl_line(line: str, number: int) -> ArticleRecord:
    """One line of the JSON Lines format; RecordRefused with the reason otherwise."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RecordRefused(f"Dòng không phải JSON hợp lệ ({exc.msg}, cột {exc.colno}).") from None
    if not isinstance(raw, dict):
        raise RecordRefused("Mỗi dòng phải là một đối tượng JSON {...}.")
    unknown = sorted(set(raw) - JSONL_FIELDS)
    if unknown:
        raise RecordRefused(f"Trường không được biết: {', '.join(unknown)}.")
    status = _choice(raw, "status", (PUBLISHED, DRAFT), PUBLISHED)
    published_at = _time(raw, "published_at")
    if status == PUBLISHED and published_at is None:
        raise RecordRefused("Thiếu published_at (bài đã đăng cần thời điểm đăng).")
    return ArticleRecord(
        line=number,
        external_id=_external_id(raw.get("external_id")),
        title=_title(raw.get("title")),
        category=_required_text(raw, "category"),
        body_html=_body(raw.get("body_html")),
        published_at=published_at,
        updated_at=_time(raw, "updated_at"),
        summary=_text(raw, "summary"),
        author=_text(raw, "author"),
        unit=_text(raw, "unit"),
        image=_text(raw, "image") or None,
        caption=_text(raw, "caption"),
        tags=_tags(raw.get("tags", [])),
        views=_views(raw.get("views")),
        status=status,
    )


def _external_id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise RecordRefused("Thiếu external_id (mã bài trên trang cũ, để không nhập hai lần).")
    if len(value.strip()) > EXTERNAL_ID_MAX_LENGTH:
        raise RecordRefused(f"external_id dài quá {EXTERNAL_ID_MAX_LENGTH} ký tự.")
    return value.strip()


def _title(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RecordRefused("Thiếu tiêu đề (title).")
    title = domain.one_line(value)
    if len(title) > TITLE_MAX_LENGTH:
        raise RecordRefused(f"Tiêu đề dài quá {TITLE_MAX_LENGTH} ký tự.")
    return title


def _body(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RecordRefused("Thiếu nội dung (body_html).")
    if len(value.encode()) > BODY_MAX_BYTES:
        raise RecordRefused(f"Nội dung dài quá {BODY_MAX_BYTES // 1024} KB.")
    return value


def _required_text(raw: Mapping[str, Any], name: str) -> str:
    value = _text(raw, name)
    if not value:
        raise RecordRefused(f"Thiếu {name}.")
    return value


def _text(raw: Mapping[str, Any], name: str) -> str:
    value = raw.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordRefused(f"{name} phải là một chuỗi.")
    return value.strip()


def _choice(raw: Mapping[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = raw.get(name, default)
    if value not in allowed:
        raise RecordRefused(f"{name} phải là một trong: {', '.join(allowed)}.")
    return str(value)


def _time(raw: Mapping[str, Any], name: str) -> datetime | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment
    raise RecordRefused(f"{name} không đọc được: {domain.TIME_FORMAT_MESSAGE}")


def _tags(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise RecordRefused("tags phải là một danh sách tên thẻ.")
    names = [domain.one_line(t) for t in value if t.strip()]
    if len(names) > domain.MAX_TAGS:
        raise RecordRefused(f"Nhiều hơn {domain.MAX_TAGS} thẻ.")
    if any(len(n) > domain.TAG_NAME_MAX_LENGTH for n in names):
        raise RecordRefused(f"Tên thẻ dài quá {domain.TAG_NAME_MAX_LENGTH} ký tự.")
    return tuple(names)


def _views(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RecordRefused("views phải là một số nguyên không âm.")
    return value


# --- WordPress export (WXR) ---------------------------------------------------------------

CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"
# wp: is versioned (export/1.0/, 1.1/, 1.2/) and excerpt: hangs under it.
WP_NS_PREFIX = "http://wordpress.org/export/"
# WordPress statuses brought over, and what they become; the others (private, trash,
# future, auto-draft) are refused: they were not public there and must not become so.
WP_STATUSES = {"publish": PUBLISHED, "draft": DRAFT, "pending": DRAFT}
# Meta keys where view-counter plugins keep a post's count.
WP_VIEW_KEYS = ("views", "post_views_count")
_NO_DATE = "0000-00-00 00:00:00"


@dataclass
class WxrExport:
    """What a WordPress export holds for the import: posts as records or refusals, each
    attachment's URL by its post id, each category's name and parent by nicename."""

    items: list[ArticleRecord | Refusal] = field(default_factory=list)
    attachments: dict[str, str] = field(default_factory=dict)
    skipped_types: int = 0


def parse_wxr(data: bytes) -> WxrExport:
    """A WordPress export file. XML entities are never expanded (defusedxml): a file that
    declares one is UnreadableFile, as is one that is not XML or not an RSS channel."""
    lines = _LineKeeper()
    parser = DefusedXMLParser(target=lines)
    lines.parser = parser
    try:
        parser.feed(data)
        root = parser.close()
    except (ET.ParseError, DefusedXmlException) as exc:
        raise UnreadableFile(f"Tệp WordPress không đọc được: {exc}") from None
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise UnreadableFile("Không phải tệp xuất của WordPress (thiếu <rss><channel>).")
    categories = _wxr_categories(channel)
    authors = _wxr_authors(channel)
    export = WxrExport()
    items = channel.findall("item")
    for item in items:
        if _wp(item, "post_type") == "attachment":
            url = _wp(item, "attachment_url")
            if url:
                export.attachments[_wp(item, "post_id")] = url
    for item in items:
        post_type = _wp(item, "post_type")
        if post_type == "attachment":
            continue
        if post_type != "post":
            export.skipped_types += 1
            continue
        line = lines.item_lines.get(id(item), 0)
        try:
            export.items.append(wxr_item(item, categories, authors, export.attachments, line))
        except RecordRefused as refused:
            export.items.append(Refusal(line, refused.reason))
    return export


class _LineKeeper(ET.TreeBuilder):
    """Builds the tree and notes the line each <item> starts on (for the refusals)."""

    def __init__(self) -> None:
        super().__init__()
        self.parser: Any = None
        self.item_lines: dict[int, int] = {}

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        element = super().start(tag, attrs)
        if tag == "item" and self.parser is not None:
            self.item_lines[id(element)] = self.parser.parser.CurrentLineNumber
        return element


def wxr_item(
    item: ET.Element,
    categories: Mapping[str, tuple[str, str | None]],
    authors: Mapping[str, str],
    attachments: Mapping[str, str],
    line: int = 0,
) -> ArticleRecord:
    """One <item> of wp:post_type "post" as a record; RecordRefused with the reason."""
    post_id = _wp(item, "post_id")
    if not post_id:
        raise RecordRefused("Bài WordPress thiếu wp:post_id.")
    wp_status = _wp(item, "status")
    if wp_status not in WP_STATUSES:
        raise RecordRefused(f"Bài WordPress ở trạng thái “{wp_status}”: không nhập.")
    status = WP_STATUSES[wp_status]
    published_at = _wp_time(item)
    if status == PUBLISHED and published_at is None:
        raise RecordRefused("Bài WordPress đã đăng nhưng thiếu wp:post_date_gmt.")
    in_categories = [
        (c.get("nicename") or "", (c.text or "").strip())
        for c in item.findall("category")
        if c.get("domain") == "category"
    ]
    category, parent, others = _primary_category(in_categories, categories)
    tags = [
        (c.text or "").strip() for c in item.findall("category") if c.get("domain") == "post_tag"
    ]
    meta = _wp_meta(item)
    thumbnail = meta.get("_thumbnail_id")
    creator = _text_of(item, f"{{{DC_NS}}}creator")
    return ArticleRecord(
        line=line,
        external_id=f"wp:{post_id}",
        title=_title(_text_of(item, "title")),
        category=category,
        category_parent=parent,
        body_html=_body(wpautop(_text_of(item, f"{{{CONTENT_NS}}}encoded"))),
        summary=domain.one_line(_excerpt(item)),
        author=authors.get(creator, creator),
        published_at=published_at,
        updated_at=published_at,
        image=attachments.get(thumbnail) if thumbnail else None,
        tags=_tags([*others, *tags]),
        views=_wp_views(meta),
        status=status,
    )


def _primary_category(
    in_categories: list[tuple[str, str]], known: Mapping[str, tuple[str, str | None]]
) -> tuple[str, str | None, list[str]]:
    """The article's one category among the post's (a child whose parent is listed too,
    else the first), its parent's name, and the other categories (kept as tags, so
    nothing of the post's classification is lost)."""
    if not in_categories:
        return "Chưa phân loại", None, []
    nicenames = [n for n, _ in in_categories]
    chosen = next(
        (i for i, (n, _) in enumerate(in_categories) if known.get(n, ("", None))[1] in nicenames),
        0,
    )
    nicename, name = in_categories[chosen]
    parent_nicename = known.get(nicename, (name, None))[1]
    parent = known[parent_nicename][0] if parent_nicename and parent_nicename in known else None
    others = [n for i, (nn, n) in enumerate(in_categories) if i != chosen and nn != parent_nicename]
    return name, parent, others


def _wxr_categories(channel: ET.Element) -> dict[str, tuple[str, str | None]]:
    """Each category's (name, parent nicename) by nicename, from <wp:category>."""
    found: dict[str, tuple[str, str | None]] = {}
    for element in _wp_all(channel, "category"):
        nicename = _wp(element, "category_nicename")
        if nicename:
            found[nicename] = (_wp(element, "cat_name"), _wp(element, "category_parent") or None)
    return found


def _wxr_authors(channel: ET.Element) -> dict[str, str]:
    """Each author's display name by login, from <wp:author>."""
    return {
        _wp(a, "author_login"): _wp(a, "author_display_name") or _wp(a, "author_login")
        for a in _wp_all(channel, "author")
    }


def _wp_meta(item: ET.Element) -> dict[str, str]:
    return {_wp(m, "meta_key"): _wp(m, "meta_value") for m in _wp_all(item, "postmeta")}


def _wp_views(meta: Mapping[str, str]) -> int | None:
    for key in WP_VIEW_KEYS:
        value = meta.get(key, "").strip()
        if value.isdigit():
            return int(value)
    return None


def _wp_time(item: ET.Element) -> datetime | None:
    """wp:post_date_gmt (UTC); a draft has none ("0000-00-00 00:00:00"), then the local
    wp:post_date is read as Vietnam's time."""
    for name, zone in (("post_date_gmt", UTC), ("post_date", VIETNAM)):
        raw = _wp(item, name)
        if raw and raw != _NO_DATE:
            try:
                return datetime.fromisoformat(raw).replace(tzinfo=zone)
            except ValueError:
                raise RecordRefused(f"wp:{name} không đọc được: “{raw}”.") from None
    return None


def _excerpt(item: ET.Element) -> str:
    for child in item:
        if child.tag.endswith("}encoded") and "excerpt" in child.tag:
            return (child.text or "").strip()
    return ""


def _wp_all(element: ET.Element, local: str) -> Iterator[ET.Element]:
    for child in element:
        if child.tag.startswith("{" + WP_NS_PREFIX) and child.tag.endswith("}" + local):
            if "excerpt" not in child.tag:
                yield child


def _wp(element: ET.Element, local: str) -> str:
    found = next(_wp_all(element, local), None)
    return (found.text or "").strip() if found is not None else ""


def _text_of(element: ET.Element, tag: str) -> str:
    found = element.find(tag)
    return (found.text or "") if found is not None else ""


# A line break outside a tag (one inside a tag, between attributes, is no break).
_LINE_BREAK = re.compile(r"\n(?![^<]*>)")
_BLOCK_TAG = re.compile(r"<(p|div|h[1-6]|ul|ol|table|blockquote|figure)\b", re.IGNORECASE)


def wpautop(text: str) -> str:
    """WordPress keeps paragraphs as blank lines and adds <p> when it shows a post; a body
    without block tags gets them here the same way (single line breaks become <br>)."""
    if _BLOCK_TAG.search(text):
        return text
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "".join(f"<p>{_LINE_BREAK.sub('<br>', p)}</p>" for p in paragraphs)


# --- images in a body ---------------------------------------------------------------------


def image_sources(body_html: str) -> list[str]:
    """The src of every <img> of a body, in order, each once (entities decoded)."""
    found: list[str] = []

    def collect(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src" and value not in found:
            found.append(value)
        return value

    _clean(body_html, collect)
    return found


def with_image_sources(body_html: str, replacements: Mapping[str, str]) -> str:
    """The body with each <img src> replaced as `replacements` says; an image not in it
    loses its src (and is then dropped when the body is sanitised)."""

    def replace(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src":
            return replacements.get(value)
        return value

    return _clean(body_html, replace)


def _clean(body_html: str, attribute_filter: Callable[[str, str, str], str | None]) -> str:
    # The tags and attributes an article body may keep (domain.sanitize_html runs after),
    # with file: URLs let through to the filter: imports point at local files.
    return str(
        nh3.clean(
            body_html,
            tags=set(domain.ALLOWED_TAGS),
            attributes={tag: set(attrs) for tag, attrs in domain.ALLOWED_ATTRIBUTES.items()},
            url_schemes={*domain.URL_SCHEMES, "file"},
            strip_comments=True,
            attribute_filter=attribute_filter,
        )
    )


def image_candidates(reference: str, base_dir: Path, images_from: Path | None) -> list[Path]:
    """Where an image reference may be on this machine, most likely first: a file:// URL's
    path; a path relative to the import file (or absolute); and, for any reference, its
    file name in the --images-from folder (an export's http URLs end up there)."""
    parts = urlsplit(reference)
    candidates: list[Path] = []
    if parts.scheme == "file":
        candidates.append(Path(unquote(parts.path)))
    elif not parts.scheme and not parts.netloc:
        candidates.append(base_dir / unquote(parts.path))
    name = PurePosixPath(unquote(parts.path)).name
    if images_from is not None and name:
        candidates.append(images_from / name)
    return candidates
