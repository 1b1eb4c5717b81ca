"""The articles service's rules, without I/O: slugs, sanitising, who may do what to an
article, what a publication announces, image types, users and their input, login
slow-down, static pages' defaults, page numbers, and the refusals of these rules."""

from __future__ import annotations

import hashlib
import hmac
import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import nh3
from slugify import slugify

from services.common.roles import ROLES, Principal

# --- refusals -----------------------------------------------------------------------------


class RefusalError(Exception):
    """Something the rules refuse. The handlers answer each kind the same way wherever it
    is raised (services/articles/answers.py: problem_for)."""


class ArticleNotFoundError(RefusalError):
    """No such article, or none the asker may see."""


class EditForbiddenError(RefusalError):
    """The asker sees the article but may not change it."""


class VersionConflictError(RefusalError):
    """The article changed since the version the editor started from."""


class NotPublishedError(RefusalError):
    """Only a published article can be unpublished."""


class SlugTakenError(RefusalError):
    """Another category (or tag, or topic: `kind`) has this slug."""

    def __init__(self, slug: str, kind: str = "chuyên mục") -> None:
        super().__init__(slug)
        self.slug = slug
        self.kind = kind


class CategoryNotFoundError(RefusalError):
    pass


class CategoryNotEmptyError(RefusalError):
    """An article (of any state, drafts and the trash included) still uses the category."""


class CategoryHasChildrenError(RefusalError):
    """The category has children: it cannot be deleted, nor become a child itself."""


class CategoryTooDeepError(RefusalError):
    """The wanted parent is itself a child: categories nest one level only."""


class TagNotFoundError(RefusalError):
    pass


class TopicNotFoundError(RefusalError):
    pass


class UnsupportedImageError(RefusalError):
    """The file's first bytes are no JPEG, PNG, WebP or GIF."""


class InvalidFieldsError(RefusalError):
    """Fields the record cannot take, each with a Vietnamese message."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(fields)
        self.fields = fields


class UserNotFoundError(RefusalError):
    pass


class LastAdminError(RefusalError):
    """The change would leave the site without an enabled admin."""


class InvalidCredentialsError(RefusalError):
    """Wrong username or password, or a disabled account (the answer does not say which)."""


class TooManyAttemptsError(RefusalError):
    """Sign-in is slowed down for this address or this name from it."""

    def __init__(self, wait_seconds: int) -> None:
        super().__init__(wait_seconds)
        self.wait_seconds = wait_seconds


class UserInputError(RefusalError):
    """Input a user record cannot take; `message` is Vietnamese, for the person who typed it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class WeakPasswordError(UserInputError):
    pass


class UsernameTakenError(UserInputError):
    def __init__(self) -> None:
        super().__init__("username", "Tên đăng nhập này đã có người dùng.")


def one_line(text: str) -> str:
    """A single-line text as it is kept: trimmed, every run of white space one space."""
    return " ".join(text.split())


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
    # The parent of a child category; a category with a parent has no children.
    parent_id: int | None = None
    # Order in the menu and on the home page (then by name).
    position: int = 0

    @property
    def path(self) -> str:
        return f"/chuyen-muc/{self.slug}"


@dataclass(frozen=True)
class Tag:
    id: int
    slug: str
    name: str

    @property
    def path(self) -> str:
        return f"/the/{self.slug}"


@dataclass(frozen=True)
class Topic:
    """A running story ("dòng sự kiện") that groups articles over months."""

    id: int
    slug: str
    name: str

    @property
    def path(self) -> str:
        return f"/dong-su-kien/{self.slug}"


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
    # Taxonomy: the category's parent (if it is a child), the topic, the tags, and the
    # pins still running (a pin whose time passed reads as None).
    category_parent: Category | None = None
    topic: Topic | None = None
    tags: tuple[Tag, ...] = ()
    featured_home_until: datetime | None = None
    featured_category_until: datetime | None = None

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


# --- an article's fields ------------------------------------------------------------------

# Columns an editor writes; body_text follows body_html.
EDITABLE = ("title", "summary", "body_html", "byline", "category_id", "image_id", "image_caption")
ONE_LINE_FIELDS = ("title", "summary", "byline", "image_caption")


def clean_article_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The editable fields of a request, tidied: body_html sanitised (InvalidFieldsError if
    nothing is left of it), single-line texts trimmed."""
    fields = {k: v for k, v in body.items() if k in EDITABLE}
    for name in ONE_LINE_FIELDS:
        if name in fields:
            fields[name] = one_line(fields[name])
    if "body_html" in fields:
        fields["body_html"] = sanitize_html(fields["body_html"])
        if not html_to_text(fields["body_html"]) and "<img" not in fields["body_html"]:
            raise InvalidFieldsError(
                {"body_html": "Nội dung trống sau khi lọc bỏ mã HTML không an toàn."}
            )
    return fields


# Fields of an article kept outside its row's text columns: a list of tag names (or
# slugs) and the topic's id (or null).
TAXONOMY = ("tags", "topic_id")


def taxonomy_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The tags and topic a request sets, if it sets them."""
    return {k: body[k] for k in TAXONOMY if k in body}


def derived_columns(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The columns that follow from the edited ones: the slug from the title, the search
    text from the body."""
    derived: dict[str, Any] = {}
    if "title" in fields:
        derived["slug"] = make_slug(fields["title"], fallback="bai-viet")
    if "body_html" in fields:
        derived["body_text"] = html_to_text(fields["body_html"])
    return derived


# --- categories, tags, topics -------------------------------------------------------------


def check_parent(category_id: int | None, parent: Category | None, has_children: bool) -> None:
    """Categories nest one level: a parent is never a child, a child never a parent.
    `category_id` is None for a category being created."""
    if parent is None:
        return
    if parent.id == category_id:
        raise InvalidFieldsError({"parent_id": "Chuyên mục không thể là mục con của chính nó."})
    if parent.parent_id is not None:
        raise CategoryTooDeepError
    if has_children:
        raise CategoryHasChildrenError


def with_children(category: Category, categories: Iterable[Category]) -> list[int]:
    """The ids a category's page lists articles of: its own and its children's."""
    return [category.id, *(c.id for c in categories if c.parent_id == category.id)]


MAX_TAGS = 20
TAG_NAME_MAX_LENGTH = 100


def tag_names(raw: Iterable[str]) -> dict[str, str]:
    """The tags an article asks for, as {slug: name} in the order given: a name and a
    slug of the same tag are one tag ("Biển đảo", "bien-dao"). InvalidFieldsError for a
    name with no letter or digit."""
    wanted: dict[str, str] = {}
    for name in map(one_line, raw):
        slug = make_slug(name, fallback="")
        if not slug:
            raise InvalidFieldsError({"tags": f"Thẻ “{name}” cần có chữ hoặc số."})
        wanted.setdefault(slug, name)
    return wanted


# --- featured (pinned) articles -----------------------------------------------------------

PIN_SCOPES = ("home", "category")


def pin_until(raw: str, now: datetime) -> datetime:
    """The end of a pin: an ISO 8601 time with its offset, in the future."""
    try:
        until = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidFieldsError({"until": "Thời điểm không đúng dạng ISO 8601."}) from exc
    if until.tzinfo is None:
        raise InvalidFieldsError({"until": "Thời điểm cần có múi giờ, ví dụ +07:00."})
    if until <= now:
        raise InvalidFieldsError({"until": "Thời điểm kết thúc ghim phải ở tương lai."})
    return until


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


# --- users --------------------------------------------------------------------------------

USERNAME_PATTERN = re.compile(r"[a-z0-9._-]{3,40}")
MIN_PASSWORD_LENGTH = 10
# Argon2 takes any length, but hashing megabytes on every login attempt is a cheap attack.
MAX_PASSWORD_LENGTH = 1024
MAX_DISPLAY_NAME_LENGTH = 100


@dataclass(frozen=True)
class User:
    """A user as the rest of the code sees one: the password hash is never part of it."""

    id: int
    username: str
    display_name: str
    roles: frozenset[str]
    disabled: bool
    created_at: datetime
    updated_at: datetime


def username_key(raw: str) -> str:
    """The form a username is stored and looked up in."""
    return raw.strip().lower()


def normalize_username(raw: str) -> str:
    username = username_key(raw)
    if not USERNAME_PATTERN.fullmatch(username):
        raise UserInputError(
            "username",
            "Tên đăng nhập phải dài 3–40 ký tự, chỉ gồm chữ cái không dấu, chữ số và . _ -",
        )
    return username


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(
            "password", f"Mật khẩu phải có ít nhất {MIN_PASSWORD_LENGTH} ký tự."
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPasswordError(
            "password", f"Mật khẩu không được dài quá {MAX_PASSWORD_LENGTH} ký tự."
        )


def check_roles(roles: Iterable[str]) -> frozenset[str]:
    wanted = frozenset(roles)
    if not wanted or not wanted <= ROLES:
        raise UserInputError(
            "roles", "Cần ít nhất một vai trò trong: admin, editor, author, moderator."
        )
    return wanted


def check_display_name(raw: str) -> str:
    display_name = raw.strip()
    if not 1 <= len(display_name) <= MAX_DISPLAY_NAME_LENGTH:
        raise UserInputError(
            "display_name", f"Tên hiển thị phải dài 1–{MAX_DISPLAY_NAME_LENGTH} ký tự."
        )
    return display_name


def _checked_password(password: str) -> str:
    check_password(password)
    return password


USER_FIELD_CHECKS = {
    "username": normalize_username,
    "display_name": check_display_name,
    "roles": check_roles,
    "password": _checked_password,
}


def checked_user_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a user as they will be stored; InvalidFieldsError naming every field
    refused (so nothing is written when any one of them is bad)."""
    checked, errors = {}, {}
    for field, value in body.items():
        check = USER_FIELD_CHECKS.get(field)
        try:
            checked[field] = check(value) if check else value
        except UserInputError as refused:
            errors[refused.field] = refused.message
    if errors:
        raise InvalidFieldsError(errors)
    return checked


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


def _throttle_key(secret: bytes, kind: str, value: str) -> str:
    digest = hmac.new(secret, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()
    return f"{kind}:{digest}"


@dataclass(frozen=True)
class ThrottleKeys:
    """The failure counters of one sign-in, each under an HMAC key: neither the address
    nor the typed name is stored."""

    pair: str
    address: str
    username: str

    @property
    def refusing(self) -> tuple[tuple[str, int], ...]:
        """The counters that refuse tries, each with its allowed failures."""
        return (
            (self.pair, FAILURES_PER_PAIR),
            (self.address, FAILURES_PER_ADDRESS),
        )


def throttle_keys(secret: bytes, username: str, address: str) -> ThrottleKeys:
    name = username_key(username)
    return ThrottleKeys(
        pair=_throttle_key(secret, "pair", f"{name}\0{address}"),
        address=_throttle_key(secret, "addr", address),
        username=_throttle_key(secret, "user", name),
    )


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


# --- static pages -------------------------------------------------------------------------

ABOUT_PAGE = "gioi-thieu"

# A Vietnamese default for each page the site links to before anyone has written it.
DEFAULT_PAGES: dict[str, tuple[str, str]] = {
    ABOUT_PAGE: (
        "Giới thiệu",
        "<p>Đây là cổng thông tin điện tử của cơ quan, nơi đăng tải tin tức về tình hình "
        "hoạt động, các chủ trương, chính sách và những sự kiện tiêu biểu.</p>"
        "<p>Bạn đọc có thể gửi phản hồi cho từng bản tin hoặc góp ý chung cho cổng thông "
        'tin qua mục <a href="/gop-y">Góp ý</a>. Các ý kiến được ban biên tập xem xét '
        "trước khi đăng.</p>",
    ),
}


@dataclass(frozen=True)
class StaticPage:
    slug: str
    title: str
    body_html: str
    version: int
    updated_at: datetime | None


def default_page(slug: str) -> StaticPage | None:
    """The page shown while nobody has written `slug`, if the site has a default for it."""
    if slug not in DEFAULT_PAGES:
        return None
    title, body_html = DEFAULT_PAGES[slug]
    return StaticPage(slug, title, body_html, version=0, updated_at=None)


def with_default_pages(stored: Iterable[StaticPage]) -> list[StaticPage]:
    """Every page for the site map: the stored ones and the defaults nobody replaced,
    the about page first, then by title."""
    pages = {p.slug: p for p in stored}
    for slug in DEFAULT_PAGES:
        if slug not in pages:
            page = default_page(slug)
            assert page is not None
            pages[slug] = page
    return sorted(pages.values(), key=lambda p: (p.slug != ABOUT_PAGE, p.title))


def static_page_path(slug: str) -> str:
    """Where a page is served: the about page at /gioi-thieu, the others at /trang/{slug}."""
    return "/gioi-thieu" if slug == ABOUT_PAGE else f"/trang/{slug}"


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
