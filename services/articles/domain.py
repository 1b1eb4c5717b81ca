"""The articles service's rules, without I/O: slugs, sanitising, who may do what to an
article, what a publication announces, image types, login slow-down, page numbers."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import nh3
from slugify import slugify

from services.common.roles import Principal
from services.common.vietnam import VIETNAM

DRAFT, PUBLISHED, UNPUBLISHED = "draft", "published", "unpublished"
SLUG_MAX_LENGTH = 80
SLUG_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

# What an article body may contain: text structure, links, images, tables, quotes.
# Everything else (scripts, styles, event handlers, iframes, forms) is removed.
ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr", "strong", "b", "em", "i", "u", "sub", "sup", "span",
        "ul", "ol", "li", "a", "img", "h2", "h3", "h4", "blockquote",
        "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td",
        "figure", "figcaption",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "th": {"colspan", "rowspan", "scope"},
    "td": {"colspan", "rowspan"},
    "ol": {"start"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})


def sanitize_html(raw: str) -> str:
    """The HTML an editor sent, reduced to the allowed tags and attributes; links get
    rel="noopener noreferrer", and only http(s), mailto, tel or relative URLs survive."""
    return nh3.clean(
        raw,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        strip_comments=True,
    ).strip()


def html_to_text(clean_html: str) -> str:
    """The words of (already sanitised) HTML, for search. A space before every tag keeps
    words of neighbouring paragraphs apart once the tags are gone."""
    text = nh3.clean(clean_html.replace("<", " <"), tags=set())
    return " ".join(html.unescape(text).split())


def make_slug(text: str, fallback: str) -> str:
    """ASCII slug of a Vietnamese text ("Tình hình hoạt động" -> "tinh-hinh-hoat-dong")."""
    slug = slugify(text, max_length=SLUG_MAX_LENGTH, word_boundary=True, save_order=True)
    return slug or fallback


def is_slug(text: str) -> bool:
    return len(text) <= SLUG_MAX_LENGTH and SLUG_PATTERN.fullmatch(text) is not None


def article_path(slug: str, article_id: int) -> str:
    """The canonical public path of an article."""
    return f"/tin/{slug}-{article_id}"


def parse_article_ref(ref: str) -> tuple[str | None, int] | None:
    """The (slug, id) of the last part of /tin/{slug}-{id}, or (None, id) for /tin/{id};
    None when it names no article."""
    slug, _, tail = ref.rpartition("-")
    if not (tail.isascii() and tail.isdigit()) or len(tail) > 18:
        return None
    article_id = int(tail)
    if article_id < 1:
        return None
    return (slug or None), article_id


@dataclass(frozen=True)
class Category:
    id: int
    name: str
    slug: str


@dataclass(frozen=True)
class Article:
    id: int
    slug: str
    title: str
    summary: str
    body_html: str
    byline: str
    category: Category
    image_id: int | None
    image_caption: str
    author_id: int
    status: str
    version: int
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None

    @property
    def url(self) -> str:
        return article_path(self.slug, self.id)

    @property
    def image_url(self) -> str | None:
        return image_path(self.image_id) if self.image_id is not None else None

    @property
    def is_public(self) -> bool:
        return self.status == PUBLISHED


def image_path(image_id: int) -> str:
    return f"/anh/{image_id}"


def iso_time(moment: datetime) -> str:
    """ISO 8601 with the offset, in Vietnam's time as readers see it."""
    return moment.astimezone(VIETNAM).isoformat()


# --- who may do what ----------------------------------------------------------------------

WRITERS = ("author", "editor")  # may create articles (admin passes every check)
PUBLISHERS = ("editor",)  # may publish, unpublish and edit any article


def is_publisher(principal: Principal) -> bool:
    return principal.has_role(*PUBLISHERS)


def can_see(principal: Principal | None, article: Article) -> bool:
    """The public sees published articles; publishers see every one, authors their own."""
    if article.is_public:
        return True
    if principal is None:
        return False
    return is_publisher(principal) or (
        principal.has_role("author") and principal.user_id == article.author_id
    )


def can_edit(principal: Principal, article: Article) -> bool:
    """Publishers edit any article; an author edits their own while it is not public."""
    if is_publisher(principal):
        return True
    return (
        principal.has_role("author")
        and principal.user_id == article.author_id
        and not article.is_public
    )


def publication_event(status: str) -> str:
    """The event a publish request writes: article.published when the article becomes
    public, article.updated when it already was (a re-publication)."""
    return "article.updated" if status == PUBLISHED else "article.published"


def edit_event(status: str) -> str | None:
    """The event an edit writes: only a public article's change is announced."""
    return "article.updated" if status == PUBLISHED else None


# --- images -------------------------------------------------------------------------------

IMAGE_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),  # after "RIFF" and the 4-byte size
)


def image_type(head: bytes) -> str | None:
    """The image type that the file's first bytes prove, whatever name or type it came
    with; None for anything else (SVG included: it can carry scripts)."""
    for signature, offset, content_type in IMAGE_SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            if content_type == "image/webp" and not head.startswith(b"RIFF"):
                continue
            return content_type
    return None


# --- login slow-down ----------------------------------------------------------------------

# Refusals (429 for a while, even for the right password) are per client address and per
# (name, address) pair: whoever guesses is stopped, and nobody can lock a name out for its
# owner by failing on purpose from somewhere else.
FAILURES_PER_PAIR = 5
# An office or a school shares one address: it gets more tries than one name from it does.
FAILURES_PER_ADDRESS = 20
FIRST_DELAY_SECONDS = 30
MAX_DELAY_SECONDS = 15 * 60
# Failures older than this (since the last one) are forgotten.
FAILURE_WINDOW_SECONDS = 30 * 60
# A name failing from everywhere only makes every try for it wait a little before the
# password is checked: guessing it from many addresses slows down, its owner still gets in.
FAILURES_PER_USERNAME = 5
FIRST_USERNAME_PAUSE_SECONDS = 1.0
MAX_USERNAME_PAUSE_SECONDS = 4.0


def login_delay(failures: int, allowed: int) -> int:
    """Seconds to refuse further tries after `failures` recent failures: none until
    `allowed` is reached, then 30 s, doubling with every further failure, at most 15 min."""
    if failures < allowed:
        return 0
    return int(min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2 ** (failures - allowed)))


def username_pause(failures: int) -> float:
    """Seconds every sign-in for a name waits, whatever its password, after `failures`
    recent failures of that name from any address: none below FAILURES_PER_USERNAME, then
    1 s, doubling, at most 4 s. Never a refusal."""
    if failures < FAILURES_PER_USERNAME:
        return 0.0
    steps = min(failures - FAILURES_PER_USERNAME, 8)  # 2**8 s is far past the cap
    return min(MAX_USERNAME_PAUSE_SECONDS, FIRST_USERNAME_PAUSE_SECONDS * 2**steps)


# --- where to go after signing in --------------------------------------------------------

MAX_NEXT_LENGTH = 2000


def safe_local_path(raw: object) -> str | None:
    """`raw` if it is a path on this site to send a browser to after signing in, else None.

    Only a path that starts with one "/" passes: "//host" and "/\\host" are other sites
    to a browser (which reads a backslash as a slash), and so is anything with a scheme.
    Control characters, spaces and non-ASCII are refused too: they have no place in a
    Location header and some browsers drop them, which could join "/" and "/host".
    """
    if not isinstance(raw, str) or not 1 <= len(raw) <= MAX_NEXT_LENGTH:
        return None
    if not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return None
    if not all("!" <= ch <= "~" for ch in raw):  # printable ASCII, no space
        return None
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        return None
    return raw


# --- lists --------------------------------------------------------------------------------

MAX_PAGE = 1000


def page_number(raw: str | None) -> int:
    """?trang=N as a page number from 1; anything else is page 1."""
    if raw is None or not raw.isascii() or not raw.isdigit():
        return 1
    return max(1, min(MAX_PAGE, int(raw)))


MAX_SEARCH_TERMS = 8
MAX_QUERY_LENGTH = 200


def search_terms(query: str) -> list[str]:
    """The words of a search query, each to be found somewhere in an article."""
    words = query[:MAX_QUERY_LENGTH].split()
    unique = list(dict.fromkeys(w for w in words if w))
    return unique[:MAX_SEARCH_TERMS]


def like_pattern(term: str) -> str:
    """%term% for LIKE, with the term's own wildcards taken literally."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
