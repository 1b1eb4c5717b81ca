"""The articles service's rules, without I/O: slugs, sanitising, who may do what to an
article, what a publication announces, image types, users and their input, login
slow-down, static pages (states, defaults), page numbers, and the refusals of these rules."""

from __future__ import annotations

import difflib
import functools
import hashlib
import hmac
import html
import itertools
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import nh3
from slugify import slugify

from services.common.roles import ROLES, Principal
from services.common.vietnam import VIETNAM

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


class ActionForbiddenError(RefusalError):
    """The asker's role may not take this step of the workflow."""

    def __init__(self, action: str) -> None:
        super().__init__(action)
        self.action = action


class InvalidTransitionError(RefusalError):
    """The step is not open from the article's current state."""

    def __init__(self, action: str, status: str) -> None:
        super().__init__(action, status)
        self.action = action
        self.status = status

    @property
    def message(self) -> str:
        return (
            f"Không thể {ACTION_NAMES[self.action]} bài viết đang ở trạng thái "
            f"“{STATE_NAMES[self.status]}”."
        )


class RevisionNotFoundError(RefusalError):
    """No such revision of the article."""


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
    """The file's first bytes are no JPEG, PNG, WebP, GIF or HEIC."""


class BrokenImageError(RefusalError):
    """The file claims an image type but does not decode as one (truncated, corrupt)."""


class ImageTooLargeError(RefusalError):
    """The file is larger than IMAGE_MAX_BYTES."""


class ImageTooManyPixelsError(RefusalError):
    """The picture's header claims more than IMAGE_MAX_PIXELS (all frames counted)."""


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


DRAFT, PENDING, SCHEDULED = "draft", "pending", "scheduled"
PUBLISHED, UNPUBLISHED, EXPIRED, DELETED = "published", "unpublished", "expired", "deleted"
STATES = (DRAFT, PENDING, SCHEDULED, PUBLISHED, UNPUBLISHED, EXPIRED, DELETED)
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
# Images come from our own store only (/anh/{id}): an image from elsewhere would let
# another site follow who reads what.
# An image's original (/anh/5) or one of its variants (/anh/5/lead.jpg), as the editor
# inserts them.
OWN_IMAGE = re.compile(r"/anh/\d{1,18}(?:/(?:lead|list|share)\.(?:jpg|png|webp))?")
_IMAGE_WITHOUT_SOURCE = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>")
# The page's title is its one <h1>: a pasted h1 becomes the body's top heading, h5 and h6
# its lowest, instead of losing their heading (nh3 keeps only the text of a tag it drops).
_HEADING_LEVELS = {"1": "2", "5": "4", "6": "4"}
_OUTER_HEADING = re.compile(r"<(/?)h([156])\b", re.IGNORECASE)


def _own_images_only(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and not OWN_IMAGE.fullmatch(value):
        return None
    return value


def sanitize_html(raw: str) -> str:
    """The HTML an editor sent, reduced to the allowed tags and attributes; links get
    rel="noopener noreferrer", only http(s), mailto, tel or relative URLs survive, and
    only images of our own store."""
    # Renaming tags before nh3 is safe: whatever the pattern touches, nh3 still decides.
    raw = _OUTER_HEADING.sub(lambda m: f"<{m[1]}h{_HEADING_LEVELS[m[2]]}", raw)
    clean = nh3.clean(
        raw,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        strip_comments=True,
        attribute_filter=_own_images_only,
    )
    # An image whose source was dropped goes as a whole (nh3 serialises every tag alike,
    # so the pattern reads its output safely).
    return _IMAGE_WITHOUT_SOURCE.sub("", clean).strip()


def html_to_text(clean_html: str) -> str:
    """The words of (already sanitised) HTML, for search. A space before every tag keeps
    words of neighbouring paragraphs apart once the tags are gone."""
    text = nh3.clean(clean_html.replace("<", " <"), tags=set())
    return " ".join(html.unescape(text).split())


# Cached: slugify is slow, and an import makes the slugs of the same tag and category
# names thousands of times.
@functools.lru_cache(maxsize=4096)
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
    author_name: str
    unit: str
    source: str
    # The last change of the text: what "Cập nhật vào ngày" shows.
    text_updated_at: datetime
    publish_at: datetime | None
    end_at: datetime | None
    return_reason: str | None
    deleted_at: datetime | None
    deleted_from: str | None
    # Taxonomy: the category's parent (if it is a child), the topic, the tags, and the
    # pins still running (a pin whose time passed reads as None).
    category_parent: Category | None = None
    topic: Topic | None = None
    tags: tuple[Tag, ...] = ()
    featured_home_until: datetime | None = None
    featured_category_until: datetime | None = None
    # The lead image's text for those who cannot see it; empty: the caption says it.
    image_alt: str = ""
    # The views an imported article had on the site it came from (None: written here).
    imported_views: int | None = None

    @property
    def url(self) -> str:
        return article_path(self.slug, self.id)

    @property
    def lead_image_alt(self) -> str:
        return self.image_alt or self.image_caption or self.title

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
    """Publishers edit any article; an author edits their own while it is a draft (not
    once submitted, scheduled or published)."""
    if is_publisher(principal):
        return True
    return (
        principal.has_role("author")
        and principal.user_id == article.author_id
        and article.status == DRAFT
    )


def check_edit(principal: Principal, article: Article) -> None:
    """EditForbiddenError, or InvalidTransitionError for an article in the trash."""
    if not can_edit(principal, article):
        raise EditForbiddenError
    if article.status == DELETED:
        raise InvalidTransitionError("edit", DELETED)


def edit_event(status: str) -> str | None:
    """The event an edit writes: only a public article's change is announced."""
    return "article.updated" if status == PUBLISHED else None


# --- the workflow -------------------------------------------------------------------------

STATE_NAMES = {
    DRAFT: "bản nháp",
    PENDING: "chờ duyệt",
    SCHEDULED: "đã hẹn giờ đăng",
    PUBLISHED: "đã đăng",
    UNPUBLISHED: "đã gỡ",
    EXPIRED: "đã hết hạn",
    DELETED: "đã xoá",
}
ACTION_NAMES = {
    "submit": "gửi duyệt",
    "return": "trả lại",
    "publish": "đăng",
    "schedule": "hẹn giờ đăng",
    "unpublish": "gỡ",
    "delete": "xoá",
    "restore": "khôi phục",
    "publish_due": "tự đăng theo lịch",
    "expire": "cho hết hạn",
    "edit": "sửa",
    "import_views": "đặt số lần xem mang từ trang cũ cho",
}


@dataclass(frozen=True)
class Transition:
    """One step of the workflow: who may take it (`roles`, or the article's own author
    when `own_author`; no roles at all: only the scheduler), from which states, to which
    state (None: the one it had before the trash), and the event it writes."""

    action: str
    roles: tuple[str, ...]
    own_author: bool
    sources: frozenset[str]
    target: str | None
    # article.published is article.updated when the article already was public;
    # article.unpublished is written only when it was public.
    event: str | None
    needs_reason: bool = False


_ANY_BUT_DELETED = frozenset(STATES) - {DELETED}

TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("submit", PUBLISHERS, True, frozenset({DRAFT}), PENDING, None),
        Transition(
            "return", PUBLISHERS, False, frozenset({PENDING}), DRAFT, None, needs_reason=True
        ),
        Transition(
            "publish",
            PUBLISHERS,
            False,
            frozenset({DRAFT, PENDING, SCHEDULED, PUBLISHED, UNPUBLISHED, EXPIRED}),
            PUBLISHED,
            "article.published",
        ),
        Transition(
            "schedule",
            PUBLISHERS,
            False,
            frozenset({DRAFT, PENDING, UNPUBLISHED, EXPIRED}),
            SCHEDULED,
            None,
        ),
        Transition(
            "unpublish",
            PUBLISHERS,
            False,
            frozenset({PUBLISHED, SCHEDULED}),
            UNPUBLISHED,
            "article.unpublished",
        ),
        Transition("delete", PUBLISHERS, False, _ANY_BUT_DELETED, DELETED, "article.unpublished"),
        Transition("restore", PUBLISHERS, False, frozenset({DELETED}), None, None),
        # The scheduler's own steps.
        Transition(
            "publish_due", (), False, frozenset({SCHEDULED}), PUBLISHED, "article.published"
        ),
        Transition("expire", (), False, frozenset({PUBLISHED}), EXPIRED, "article.unpublished"),
    )
}
# How long a deleted article stays restorable before the purge.
TRASH_DAYS = 30


def check_transition(principal: Principal | None, article: Article, action: str) -> Transition:
    """The transition `action` of `article` by `principal` (None: the scheduler);
    ActionForbiddenError for the role, InvalidTransitionError for the state."""
    transition = TRANSITIONS[action]
    if principal is None:
        allowed = not transition.roles
    else:
        allowed = bool(transition.roles) and (
            principal.has_role(*transition.roles)
            or (
                transition.own_author
                and principal.has_role("author")
                and principal.user_id == article.author_id
            )
        )
    if not allowed:
        raise ActionForbiddenError(action)
    if article.status not in transition.sources:
        raise InvalidTransitionError(action, article.status)
    return transition


def transition_target(transition: Transition, article: Article) -> str:
    """The state the transition leads to. A restored article gets its state back, but a
    public one comes back unpublished (and a scheduled one too: its time may have passed):
    it goes public again only by a publish."""
    if transition.target is not None:
        return transition.target
    before = article.deleted_from or DRAFT
    return UNPUBLISHED if before in (PUBLISHED, SCHEDULED) else before


@dataclass(frozen=True)
class StateChange:
    """Everything a step of the workflow writes on the article row."""

    status: str
    published_at: datetime | None
    publish_at: datetime | None
    end_at: datetime | None
    return_reason: str | None
    deleted_at: datetime | None
    deleted_from: str | None


@dataclass(frozen=True)
class StepInput:
    """What a request may add to a step: a publication time in the past (publish), the
    times of a schedule, the reason of a send-back."""

    published_at: datetime | None = None
    publish_at: datetime | None = None
    end_at: datetime | None = None
    reason: str | None = None


def state_after(
    article: Article, transition: Transition, now: datetime, given: StepInput
) -> StateChange:
    """The row after the step. The first publication fixes published_at (the time an
    editor gave, else the scheduled time, else now); later ones keep it unless an editor
    gives one. A schedule holds until published or unpublished; the end time stays with
    a scheduled publication; a send-back's reason stays with the draft until it moves on."""
    action, target = transition.action, transition_target(transition, article)
    published_at = article.published_at
    if target == PUBLISHED:
        scheduled = article.publish_at if action == "publish_due" else None
        published_at = given.published_at or published_at or scheduled or now
    end_at = article.end_at
    if action == "schedule":
        end_at = given.end_at
    elif action in ("publish", "unpublish"):
        end_at = None  # a publication by hand lasts until taken down by hand
    reason = given.reason if action == "return" else article.return_reason
    if target not in (DRAFT, DELETED):
        reason = None  # shown with the draft only: gone once it moves on
    deleting = action == "delete"
    return StateChange(
        status=target,
        published_at=published_at,
        publish_at=given.publish_at if action == "schedule" else None,
        end_at=end_at,
        return_reason=reason,
        deleted_at=now if deleting else None,
        deleted_from=article.status if deleting else None,
    )


def transition_event(transition: Transition, before: str) -> str | None:
    if transition.event == "article.published":
        return "article.updated" if before == PUBLISHED else "article.published"
    if transition.event == "article.unpublished":
        return transition.event if before == PUBLISHED else None
    return transition.event


def purge_before(now: datetime) -> datetime:
    """Articles deleted before this are purged."""
    return now - timedelta(days=TRASH_DAYS)


TIME_FORMAT_MESSAGE = "Thời điểm phải theo ISO 8601 kèm múi giờ, ví dụ 2025-03-01T08:00:00+07:00."


def parse_time(raw: str, field: str) -> datetime:
    """An ISO 8601 time with its offset; InvalidFieldsError naming `field` otherwise."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidFieldsError({field: TIME_FORMAT_MESSAGE}) from None
    if moment.tzinfo is None:
        raise InvalidFieldsError({field: TIME_FORMAT_MESSAGE})
    return moment


def check_schedule(publish_at: datetime, end_at: datetime | None, now: datetime) -> None:
    if publish_at <= now:
        raise InvalidFieldsError(
            {"publish_at": "Thời điểm hẹn đăng phải ở tương lai; muốn đăng ngay, hãy đăng."}
        )
    if end_at is not None and end_at <= publish_at:
        raise InvalidFieldsError({"end_at": "Thời điểm kết thúc phải sau thời điểm đăng."})


def check_backdate(published_at: datetime, now: datetime) -> None:
    """An editor may date a publication in the past (news written earlier), never in the
    future: that is scheduling."""
    if published_at > now:
        raise InvalidFieldsError(
            {"published_at": "Thời điểm đăng không được ở tương lai; muốn đăng sau, hãy hẹn giờ."}
        )


# --- an article's fields ------------------------------------------------------------------

# Columns an editor writes; body_text follows body_html, byline author_name and unit.
EDITABLE = (
    "title", "summary", "body_html", "author_name", "unit", "source",
    "category_id", "image_id", "image_caption", "image_alt",
)  # fmt: skip
ONE_LINE_FIELDS = (
    "title", "summary", "author_name", "unit", "source", "image_caption", "image_alt",
)  # fmt: skip
# The text of an article: a change of any of these keeps a revision and moves
# "Cập nhật vào ngày"; a change of the others (category, image) does not.
TEXT_FIELDS = ("title", "summary", "body_html", "author_name", "unit", "source")


def make_byline(author_name: str, unit: str) -> str:
    """What the page shows under the article: "Hồng Tươi (VP HND)"."""
    if author_name and unit:
        return f"{author_name} ({unit})"
    return author_name or unit


def clean_article_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The editable fields of a request, tidied: body_html sanitised (InvalidFieldsError if
    nothing is left of it), single-line texts trimmed. A `byline` (the older form) becomes
    the author's name."""
    fields = {k: v for k, v in body.items() if k in EDITABLE}
    if "byline" in body:
        if "author_name" in body or "unit" in body:
            raise InvalidFieldsError(
                {"byline": "Gửi byline hoặc author_name và unit, không gửi cả hai."}
            )
        fields["author_name"], fields["unit"] = body["byline"], ""
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


def derived_columns(fields: Mapping[str, Any], current: Article | None = None) -> dict[str, Any]:
    """The columns that follow from the edited ones: the search text from the body, the
    byline from the author's name and unit (those of `current` where not edited)."""
    derived: dict[str, Any] = {}
    if "body_html" in fields:
        derived["body_text"] = html_to_text(fields["body_html"])
    if current is None or "author_name" in fields or "unit" in fields:
        derived["byline"] = make_byline(
            fields.get("author_name", current.author_name if current else ""),
            fields.get("unit", current.unit if current else ""),
        )
    derived.update(_search_columns(fields, derived, current))
    return derived


def _search_columns(
    fields: Mapping[str, Any], derived: Mapping[str, Any], current: Article | None
) -> dict[str, str]:
    """The folded text search reads (search_title, search_body), for the columns edited."""
    columns: dict[str, str] = {}
    if current is None or "title" in fields:
        columns["search_title"] = search_title(fields["title"] if "title" in fields else "")
    if current is None or {"summary", "body_html", "author_name", "unit"} & fields.keys():
        body_text = derived.get("body_text")
        if body_text is None:
            body_text = html_to_text(current.body_html) if current else ""
        columns["search_body"] = search_body(
            fields.get("summary", current.summary if current else ""),
            derived.get("byline", current.byline if current else ""),
            body_text,
        )
    return columns


def changes_text(fields: Mapping[str, Any], article: Article) -> bool:
    """True if the edit really changes the article's text."""
    return any(name in fields and fields[name] != getattr(article, name) for name in TEXT_FIELDS)


def slug_candidates(title: str, tries: int = 1000) -> Iterable[str]:
    """The slug of a title, then the same with -2, -3, ... for when it is taken."""
    base = make_slug(title, fallback="bai-viet")
    yield base
    for n in range(2, tries + 2):
        suffix = f"-{n}"
        yield base[: SLUG_MAX_LENGTH - len(suffix)].rstrip("-") + suffix


# --- revisions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Revision:
    article_id: int
    number: int
    title: str
    summary: str
    body_html: str
    author_name: str
    unit: str
    source: str
    user_id: int | None
    created_at: datetime

    def text_fields(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in TEXT_FIELDS}


# Where a block of the body starts: one line of the compared text each.
_BLOCK_START = re.compile(r"(?=<(?:p|h[2-4]|li|blockquote|tr|figure|figcaption|br)\b)")


def body_lines(clean_html: str) -> list[str]:
    """The body's text, one line per paragraph, heading, list item or table row."""
    lines = (html_to_text(block) for block in _BLOCK_START.split(clean_html))
    return [line for line in lines if line]


def compare_revisions(old: Revision, new: Revision) -> dict[str, str]:
    """A unified diff of the title, the summary and the body's text ("" when equal)."""
    texts = {
        "title": ([old.title], [new.title]),
        "summary": ([old.summary], [new.summary]),
        "body": (body_lines(old.body_html), body_lines(new.body_html)),
    }
    return {
        field: "\n".join(
            difflib.unified_diff(
                before,
                after,
                fromfile=f"bản {old.number}",
                tofile=f"bản {new.number}",
                lineterm="",
            )
        )
        for field, (before, after) in texts.items()
    }


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

# The upload limits, in one place: the API handler, its OpenAPI description and the
# gateway's client_max_body_size (deploy/gateway/default.conf.template) follow these.
# A phone camera's 12 MP JPEG at its highest quality is 5-12 MB; 15 MB leaves it room.
IMAGE_MAX_BYTES = 15 * 1024 * 1024
# Room for the multipart boundaries and part headers around the file.
MULTIPART_OVERHEAD_BYTES = 16 * 1024
# 50 megapixels: a 50 MP phone sensor's full picture (8160 x 6120) passes; a picture
# claiming more is refused from its header, before a pixel is decoded (decoded as RGBA it
# would take 200 MB). Every frame of an animation counts.
IMAGE_MAX_PIXELS = 50_000_000

IMAGE_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),  # after "RIFF" and the 4-byte size
    # HEIC, as phones save photos: an ISO box "ftyp" and a HEIF brand.
    (b"ftypheic", 4, "image/heic"),
    (b"ftypheix", 4, "image/heic"),
    (b"ftypmif1", 4, "image/heic"),
)


def image_type(head: bytes) -> str | None:
    """The image type that the file's first bytes claim, whatever name or type it came
    with; None for anything else (SVG included: it can carry scripts). Only decoding the
    whole file (services/articles/images.py) proves the claim."""
    for signature, offset, content_type in IMAGE_SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            if content_type == "image/webp" and not head.startswith(b"RIFF"):
                continue
            return content_type
    return None


def too_many_pixels(width: int, height: int, frames: int = 1) -> bool:
    return width * height * max(1, frames) > IMAGE_MAX_PIXELS


# The variants made once at upload: the lead image of an article page, the thumbnail of a
# list, and the card a shared link shows (1200 x 630, the size social sites ask for).
LEAD_WIDTH = 1200
LIST_WIDTH = 480
SHARE_SIZE = (1200, 630)
VARIANT_NAMES = ("lead", "list", "share")
# What a variant file is called after its type: /anh/12/lead.webp.
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
WEBP = "image/webp"


def fitted_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    """The size of a picture narrowed to `max_width`, its proportions kept; never wider
    than it is (a small picture is not blown up)."""
    if width <= max_width:
        return width, height
    return max_width, max(1, round(height * max_width / width))


def share_crop(width: int, height: int) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
    """The centred box of the picture with the share card's proportions, and the size it
    is scaled to (SHARE_SIZE, or the box's own size when the picture is smaller)."""
    target_w, target_h = SHARE_SIZE
    box_w = min(width, round(height * target_w / target_h))
    box_h = min(height, round(box_w * target_h / target_w))
    left, top = (width - box_w) // 2, (height - box_h) // 2
    size = (target_w, target_h) if box_w > target_w else (box_w, box_h)
    return (left, top, left + box_w, top + box_h), (max(1, size[0]), max(1, size[1]))


@dataclass(frozen=True)
class EncodedImage:
    """One stored picture file: an image's cleaned original (name "original") or one of
    its variants."""

    name: str
    content_type: str
    width: int
    height: int
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class ImageVariant:
    image_id: int
    name: str
    content_type: str
    width: int
    height: int
    size: int

    @property
    def url(self) -> str:
        return variant_path(self.image_id, self.name, self.content_type)


def variant_path(image_id: int, name: str, content_type: str) -> str:
    return f"/anh/{image_id}/{name}.{EXTENSIONS[content_type]}"


@dataclass(frozen=True)
class Picture:
    """What a page needs to show a stored image: its variants, for `srcset`, width and
    height. An image stored before variants existed has none: the page shows /anh/{id}."""

    image_id: int
    variants: tuple[ImageVariant, ...] = ()

    def _of(self, name: str, webp: bool) -> ImageVariant | None:
        return next(
            (v for v in self.variants if v.name == name and (v.content_type == WEBP) == webp),
            None,
        ) or next((v for v in self.variants if v.name == name), None)

    def srcset(self, webp: bool = False) -> str:
        chosen = [self._of(name, webp) for name in ("list", "lead")]
        widths = {v.width: v.url for v in chosen if v is not None}
        return ", ".join(f"{url} {width}w" for width, url in sorted(widths.items()))

    @property
    def has_webp(self) -> bool:
        return any(v.content_type == WEBP for v in self.variants)

    def src(self, name: str = "lead", webp: bool = False) -> str:
        variant = self._of(name, webp)
        return variant.url if variant else image_path(self.image_id)

    def size(self, name: str = "lead") -> tuple[int, int] | None:
        variant = self._of(name, webp=False)
        return (variant.width, variant.height) if variant else None


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
    # Set by an admin's password (and for the first admin): no token until its owner
    # chooses a new one.
    must_change_password: bool = False


def check_imported_views(principal: Principal, body: Mapping[str, Any]) -> int | None:
    """The view count a new article brings from an earlier site, if the request gives one:
    only editors and admins may set it (it starts the article's total on the counter)."""
    views = body.get("imported_views")
    if views is not None and not is_publisher(principal):
        raise ActionForbiddenError("import_views")
    return int(views) if views is not None else None


# An import is one command run; its principal is never sent anywhere, so this only has to
# outlast the run.
IMPORT_PRINCIPAL_HOURS = 24


def import_principal(user: User | None, now: datetime) -> Principal | None:
    """Who an import acts as: an enabled user who may publish (editor or admin); None for
    anyone else."""
    if user is None or user.disabled:
        return None
    principal = Principal(
        user_id=user.id,
        name=user.username,
        roles=user.roles,
        expires_at=now + timedelta(hours=IMPORT_PRINCIPAL_HOURS),
    )
    return principal if is_publisher(principal) else None


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

# A Host header as a browser sends it: a name or an IPv4 address, or an IPv6 address in
# brackets, then at most a port. Anything else ("bantin.vn:@evil.example") is no host.
_HOST = re.compile(
    r"(?:([a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?)|\[([0-9a-f:.]{2,45})\])(?::\d{1,5})?"
)


def host_name(host: str) -> str | None:
    """The name a Host header gives (lower case, IPv6 without brackets), or None when it is
    not the form of a host at all."""
    found = _HOST.fullmatch(host.strip().lower())
    if found is None:
        return None
    return found.group(1) or found.group(2)


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

# A page is a draft or published, or in the trash. "default" is no stored state: it is how
# a built-in page nobody has written yet is shown.
PAGE_DELETED = "deleted"
PAGE_DEFAULT = "default"
PAGE_STATUSES = (DRAFT, PUBLISHED, PAGE_DELETED)
# Who manages static pages (admin passes every check): the people who publish articles.
PAGE_MANAGERS = ("editor",)
# A deleted page stays restorable this long, then it is purged with its revisions.
PAGE_TRASH_DAYS = 30
PAGE_TITLE_MAX_LENGTH = 200

# What each command does to a stored page: the states it is allowed from and the state it
# leads to. An edit keeps the state: editing a published page changes the public text at
# once (only editors and admins manage pages, and they may publish anyway; every save is a
# revision, so a bad edit is undone by restoring the one before). Unpublishing makes the
# page a draft again; restoring from the trash makes it a draft, never public by surprise.
PAGE_TRANSITIONS: dict[str, dict[str, str]] = {
    "edit": {DRAFT: DRAFT, PUBLISHED: PUBLISHED},
    "publish": {DRAFT: PUBLISHED},
    "unpublish": {PUBLISHED: DRAFT},
    "delete": {DRAFT: PAGE_DELETED, PUBLISHED: PAGE_DELETED},
    "restore": {PAGE_DELETED: DRAFT},
}


class PageNotFoundError(RefusalError):
    """No such page (or none the asker may see, or one purged from the trash)."""


class PageSlugTakenError(SlugTakenError):
    """A page (in any state, the trash included) already has this slug."""


class PageVersionConflictError(RefusalError):
    """The page changed since the version the editor started from."""


class PageStateError(RefusalError):
    """The command is not allowed from the page's state."""

    def __init__(self, command: str, status: str) -> None:
        super().__init__(command, status)
        self.command = command
        self.status = status


class PageRevisionNotFoundError(RefusalError):
    pass


@dataclass(frozen=True)
class StaticPage:
    slug: str
    title: str
    body_html: str
    version: int
    updated_at: datetime | None
    status: str = PAGE_DEFAULT
    updated_by: int | None = None
    updated_by_name: str | None = None
    deleted_at: datetime | None = None

    @property
    def is_public(self) -> bool:
        return self.status in (PUBLISHED, PAGE_DEFAULT)


@dataclass(frozen=True)
class PageRevision:
    slug: str
    number: int
    title: str
    body_html: str
    saved_by: int | None
    saved_by_name: str | None
    saved_at: datetime
    restored_from: int | None


def can_manage_pages(principal: Principal | None) -> bool:
    return principal is not None and principal.has_role(*PAGE_MANAGERS)


def page_transition(command: str, status: str) -> str:
    """The state `command` leads a page in `status` to; PageStateError if not allowed."""
    after = PAGE_TRANSITIONS[command].get(status)
    if after is None:
        raise PageStateError(command, status)
    return after


def default_page(slug: str) -> StaticPage | None:
    """The page shown while nobody has written `slug`, if the site has a default for it."""
    if slug not in DEFAULT_PAGES:
        return None
    title, body_html = DEFAULT_PAGES[slug]
    return StaticPage(slug, title, body_html, version=0, updated_at=None)


def page_shown(
    slug: str, stored: StaticPage | None, principal: Principal | None
) -> StaticPage | None:
    """What GET of a page shows: to the public, the page if it is published, else the
    built-in default (so "Giới thiệu" keeps its default text until a page with that slug
    is published); to page managers, the stored page in whatever state, else the default."""
    if stored is not None and (stored.is_public or can_manage_pages(principal)):
        return stored
    return default_page(slug)


def with_default_pages(stored: Iterable[StaticPage]) -> list[StaticPage]:
    """The stored pages and the defaults of slugs nobody has stored, the about page first,
    then by title: the public site map gets the published pages, the staff list all."""
    pages = {p.slug: p for p in stored}
    for slug in DEFAULT_PAGES:
        if slug not in pages:
            page = default_page(slug)
            assert page is not None
            pages[slug] = page
    return sorted(pages.values(), key=lambda p: (p.slug != ABOUT_PAGE, p.title))


def clean_page_fields(body: Mapping[str, Any]) -> dict[str, str]:
    """A page's title (one line) and body (sanitised) from a request, those it carries."""
    fields: dict[str, str] = {}
    if "title" in body:
        fields["title"] = one_line(body["title"])
    if "body_html" in body:
        fields["body_html"] = sanitize_html(body["body_html"])
    return fields


def page_slug_for(title: str, taken: Iterable[str]) -> str:
    """A free slug from a page's title: "Liên hệ" -> "lien-he", then "lien-he-2", ..."""
    base = make_slug(title, fallback="trang")
    taken = set(taken)
    if base not in taken:
        return base
    number = 2
    while True:
        suffix = f"-{number}"
        candidate = base[: SLUG_MAX_LENGTH - len(suffix)].rstrip("-") + suffix
        if candidate not in taken:
            return candidate
        number += 1


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


# --- search (the public /tim-kiem) ---------------------------------------------------------
# One folding for the text that is indexed and the words readers type: Unicode form (NFC or
# NFD), diacritics, case and đ/Đ make no difference. The articles' folded text is stored
# (search_title, search_body) when they are saved; the database only matches folded words.

SHORT_TERM = 2  # letters; a term this short never selects articles on its own
SNIPPET_CHARS = 220
SNIPPET_SCAN = 20_000  # characters of a text a snippet is looked for in


# Every combining mark of the Basic Multilingual Plane (the diacritics NFD splits off)
# dropped, đ/Đ (a letter of its own, not a d with a mark) made d: one str.translate.
_UNMARK: dict[int, str | None] = {
    code: None for code in range(0x10000) if unicodedata.combining(chr(code))
} | {ord("đ"): "d", ord("Đ"): "D"}


def fold(text: str) -> str:
    """Text as search compares it: "ĐƯỜNG" and "đường" (NFC or NFD) -> "duong"."""
    return unicodedata.normalize("NFD", text).translate(_UNMARK).lower()


# A word: letters and digits; anything else (punctuation, "_") separates words. The stored
# columns hold the folded words joined by single spaces, so the database's parser reads
# exactly these words.
_WORD = re.compile(r"[^\W_]+")


def fold_words(text: str) -> str:
    """The words of `text`, folded: "Giao ước, thi-đua!" -> "giao uoc thi dua"."""
    return " ".join(_WORD.findall(fold(text)))


def search_title(title: str) -> str:
    return fold_words(title)


def search_body(summary: str, byline: str, body_text: str) -> str:
    return fold_words(" ".join((summary, byline, body_text)))


def _as_typed(text: str) -> str:
    """Lower case in NFC: how a word "keeps the diacritics the reader typed"."""
    return unicodedata.normalize("NFC", text).lower()


@dataclass(frozen=True)
class SearchTerm:
    """A word of a query: `folded` is what selects articles, `typed` (lower case, NFC)
    what an exact match must show; `accented` when the reader typed diacritics."""

    typed: str
    folded: str

    @property
    def accented(self) -> bool:
        return self.typed != self.folded

    @property
    def short(self) -> bool:
        return len(self.folded) <= SHORT_TERM


def parse_query(query: str) -> list[SearchTerm]:
    """The distinct words of a query (at most MAX_SEARCH_TERMS, query cut at
    MAX_QUERY_LENGTH), punctuation dropped: "Giao ước, thi-đua!" -> giao, ước, thi, đua."""
    terms: dict[str, SearchTerm] = {}
    for word in _WORD.findall(_as_typed(query[:MAX_QUERY_LENGTH])):
        folded = fold_words(word)
        if folded:
            terms.setdefault(word, SearchTerm(word, folded))
    return list(terms.values())[:MAX_SEARCH_TERMS]


@dataclass(frozen=True)
class SearchPlan:
    """What the database is asked, as tsquery texts ('simple' configuration) of folded
    words: `every` (all selecting words), `most` (all but one, for three or more; else
    None); `words` all the query's folded words, which rank the candidates; `accented` a
    word pattern for each word typed with diacritics, for the exact-match bonus."""

    every: str
    most: str | None
    words: list[str]
    accented: list[str]


def search_plan(terms: Sequence[SearchTerm]) -> SearchPlan | None:
    """The articles a query selects: those holding every longer word (three letters or
    more), or all but one of them when there are three or more; short words only rank
    them. A query of only short words selects by titles (SQL: the title-only candidates)."""
    words = list(dict.fromkeys(t.folded for t in terms))
    if not words:
        return None
    selecting = [w for w in words if len(w) > SHORT_TERM] or words
    most = None
    if len(selecting) >= 3:
        most = " | ".join(
            "(" + _all_of(group) + ")"
            for group in itertools.combinations(selecting, len(selecting) - 1)
        )
    return SearchPlan(
        every=_all_of(selecting),
        most=most,
        words=words,
        accented=[r"\m(?:" + "|".join(typed_forms(t.typed)) + r")\M" for t in terms if t.accented],
    )


# The marks that make a vowel of its own (â ê ô ă ơ ư); the others are tones.
_VOWEL_MARKS = frozenset("\u0302\u0306\u031b")


def typed_forms(word: str) -> list[str]:
    """The ways a word is stored in Unicode: NFC, NFD, and the "tổ hợp" form older input
    methods write (the vowel composed, the tone mark after it: "ư" + U+0300 for "ừ"). The
    exact-match check compares stored text in all three without normalising it."""
    combined = []
    for char in unicodedata.normalize("NFC", word):
        parts = unicodedata.normalize("NFD", char)
        vowel = "".join(c for c in parts if not unicodedata.combining(c) or c in _VOWEL_MARKS)
        tones = "".join(c for c in parts if unicodedata.combining(c) and c not in _VOWEL_MARKS)
        combined.append(unicodedata.normalize("NFC", vowel) + tones)
    forms = (unicodedata.normalize("NFC", word), unicodedata.normalize("NFD", word))
    return list(dict.fromkeys((*forms, "".join(combined))))


def _all_of(words: Iterable[str]) -> str:
    # Words are letters and digits only (_WORD), so quoting them is enough.
    return " & ".join(f"'{w}'" for w in words)


def searches_titles_only(terms: Sequence[SearchTerm]) -> bool:
    return all(t.short for t in terms)


def _pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    alternatives = sorted({re.escape(w) for w in words if w}, key=len, reverse=True)
    if not alternatives:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


@dataclass(frozen=True)
class Snippet:
    """A passage of an article's text as (text, is_match) parts; the page escapes each
    part and marks the matches, so no markup of the article or the query gets through."""

    parts: tuple[tuple[str, bool], ...]
    cut_before: bool
    cut_after: bool


@functools.lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    return fold(char)


def _folded_with_offsets(text: str) -> tuple[str, list[int] | None]:
    """`text` folded, with where each folded character came from (folding a character may
    give 0, 1 or more characters); None when the folded text is as long, as Vietnamese
    text always is, so that positions are the same. (A text in which one character gives
    two and another none would have its marks a little off: only the marks.)"""
    folded = fold(text)
    if len(folded) == len(text):
        return folded, None
    pieces = list(map(_fold_char, text))
    origins = [index for index, piece in enumerate(pieces) for _ in piece]
    return "".join(pieces), origins


def _busiest(spans: Sequence[tuple[int, int, str]], reach: int) -> int:
    """Where the passage of `reach` characters holding the most different query words
    begins (the first such), as a position in the text; 0 without matches. One pass: a
    window over the matches, counting the words in it."""
    best, best_words = 0, 0
    counts: dict[str, int] = {}
    last = 0
    for first, (begin, _, _) in enumerate(spans):
        while last < len(spans) and spans[last][0] < begin + reach:
            counts[spans[last][2]] = counts.get(spans[last][2], 0) + 1
            last += 1
        if len(counts) > best_words:
            best, best_words = begin, len(counts)
        word = spans[first][2]
        counts[word] -= 1
        if not counts[word]:
            del counts[word]
    return best


def snippet(text: str, terms: Sequence[SearchTerm], width: int = SNIPPET_CHARS) -> Snippet:
    """About `width` characters of `text` where most query words are (the start of the
    text if none is), every matched word marked, cut at spaces."""
    text = unicodedata.normalize("NFC", " ".join(text[:SNIPPET_SCAN].split()))
    folded, origins = _folded_with_offsets(text)
    pattern = _pattern(t.folded for t in terms)
    matches = list(itertools.islice(pattern.finditer(folded), 300)) if pattern else []
    spans = [
        (m.start(), m.end(), m.group())
        if origins is None
        else (origins[m.start()], origins[m.end() - 1] + 1, m.group())
        for m in matches
    ]
    start = max(0, _busiest(spans, width * 2 // 3) - width // 6) if spans else 0
    if start:
        start = text.find(" ", start) + 1 or start
    end = min(len(text), start + width)
    if end < len(text) and text.rfind(" ", start, end) > start:
        end = text.rfind(" ", start, end)
    parts: list[tuple[str, bool]] = []
    position = start
    for begin, finish, _ in spans:
        if begin < position or finish > end:
            continue
        if begin > position:
            parts.append((text[position:begin], False))
        parts.append((text[begin:finish], True))
        position = finish
    if position < end:
        parts.append((text[position:end], False))
    return Snippet(tuple(parts), start > 0, end < len(text))


# --- documents ----------------------------------------------------------------------------
# "Văn bản": decisions, plans and forms attached to an article, downloaded at /van-ban/{id}.

# A scanned decision or plan of a few dozen pages fits (about 1 MB a page at 300 dpi, as
# offices scan); the whole file is held in memory once while it is checked and stored.
# The gateway's limit for the upload route (deploy/gateway/default.conf.template) matches.
DOCUMENT_MAX_BYTES = 20 * 1024 * 1024
DOCUMENT_TITLE_MAX_LENGTH = 300
FILE_NAME_MAX_LENGTH = 200
MAX_DOCUMENT_POSITION = 10_000

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
# Each type with the one extension its files must carry and its name for readers.
DOCUMENT_TYPES: dict[str, tuple[str, str]] = {
    PDF: (".pdf", "PDF"),
    DOCX: (".docx", "Word"),
    XLSX: (".xlsx", "Excel"),
    ODT: (".odt", "OpenDocument"),
    ODS: (".ods", "OpenDocument"),
}


class DocumentNotFoundError(RefusalError):
    """No such document, or none the asker may see."""


class UnsupportedDocumentError(RefusalError):
    """The content is no PDF, DOCX, XLSX, ODT or ODS, or the file name's extension names
    another type than the content is."""


class DocumentTooLargeError(RefusalError):
    """Larger than DOCUMENT_MAX_BYTES."""


@dataclass(frozen=True)
class Document:
    id: int
    article_id: int
    title: str
    file_name: str
    content_type: str
    size: int
    position: int
    uploaded_at: datetime

    @property
    def url(self) -> str:
        return document_path(self.id)

    @property
    def kind(self) -> str:
        return DOCUMENT_TYPES[self.content_type][1]

    @property
    def size_text(self) -> str:
        return size_text(self.size)


def document_path(document_id: int) -> str:
    return f"/van-ban/{document_id}"


def size_text(size: int) -> str:
    """A file size as readers read it: 1536 -> "1,5 KB", 2621440 -> "2,5 MB" (Vietnamese
    decimal comma, one decimal, none when it is zero)."""
    unit, divisor = ("MB", 1024 * 1024) if size >= 1024 * 1024 else ("KB", 1024)
    number = f"{max(size / divisor, 0.1):.1f}".removesuffix(".0").replace(".", ",")
    return f"{number} {unit}"


# Characters no file name keeps: path separators and those Windows refuses.
_FILE_NAME_UNSAFE = re.compile(r'[/\\:*?"<>|]')


def clean_file_name(raw: str) -> str:
    """The name a file is kept and offered under: its last path part only, NFC, without
    control or invisible characters, quotes or separators, on one line, not hidden (no
    leading dot) and at most FILE_NAME_MAX_LENGTH characters with its extension kept."""
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if not unicodedata.category(c).startswith("C"))
    name = one_line(_FILE_NAME_UNSAFE.sub("_", name)).lstrip(". ")
    stem, dot, extension = name.rpartition(".")
    if dot and len(extension) <= 10 and len(name) > FILE_NAME_MAX_LENGTH:
        return stem[: FILE_NAME_MAX_LENGTH - len(extension) - 1].rstrip() + "." + extension
    return name[:FILE_NAME_MAX_LENGTH]


def file_extension(file_name: str) -> str:
    """ ".pdf" for "Quyết định.PDF"; "" for a name without one."""
    stem, dot, extension = file_name.rpartition(".")
    return f".{extension.lower()}" if dot and stem else ""


def default_document_title(file_name: str) -> str:
    """The title shown when none is given: the file name without its extension, its
    underscores as spaces ("Quyet_dinh_12.pdf" -> "Quyet dinh 12")."""
    stem = file_name[: -len(file_extension(file_name))] if file_extension(file_name) else file_name
    return one_line(stem.replace("_", " "))[:DOCUMENT_TITLE_MAX_LENGTH] or file_name


def check_document_type(content_type: str | None, file_name: str) -> str:
    """The content's type, if it is one we take and the name's extension agrees with it;
    UnsupportedDocumentError otherwise (a ".pdf" that is a PNG, a ".docx" that is an ODT)."""
    if content_type is None or file_extension(file_name) != DOCUMENT_TYPES[content_type][0]:
        raise UnsupportedDocumentError
    return content_type


def document_title(raw: str | None, file_name: str) -> str:
    """The title to keep: the one given, on one line, or the file name's when it is blank."""
    given = one_line(raw or "")
    return given or default_document_title(file_name)


def document_changes(body: Mapping[str, Any]) -> dict[str, Any]:
    """The title (on one line, not blank) and position a change of a document sets."""
    changes: dict[str, Any] = {}
    if "title" in body:
        changes["title"] = one_line(body["title"])
        if not changes["title"]:
            raise InvalidFieldsError({"title": "Tên văn bản không được để trống."})
    if "position" in body:
        changes["position"] = body["position"]
    if not changes:
        raise InvalidFieldsError({"(toàn bộ)": "Cần gửi ít nhất một trường để sửa."})
    return changes


def ascii_file_name(file_name: str) -> str:
    """An ASCII stand-in for a Vietnamese file name, for clients that cannot read the
    UTF-8 one: "Quyết định số 12.pdf" -> "Quyet dinh so 12.pdf"."""
    cleaned = clean_file_name(file_name).replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", cleaned)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    safe = re.sub(r"[^A-Za-z0-9 ._()-]", "_", plain).strip(". ")
    return safe or "van-ban" + file_extension(file_name)


def content_disposition(file_name: str) -> str:
    """The Content-Disposition of a download (RFC 6266): an ASCII fallback and the real
    name percent-encoded (RFC 8187), so no quote, line break or path gets through."""
    encoded = quote(clean_file_name(file_name), safe="")
    return f"attachment; filename=\"{ascii_file_name(file_name)}\"; filename*=UTF-8''{encoded}"


# --- desk: auth ---------------------------------------------------------------------------


class PasswordChangeRequiredError(RefusalError):
    """The right password, but its owner must choose a new one before anything else."""


class SessionEndedError(RefusalError):
    """The sign-in session is unknown, ended or past its limits: sign in again."""


class HashingBusyError(RefusalError):
    """Too many password checks are waiting already: try again in a moment."""

    RETRY_SECONDS = 5


@dataclass(frozen=True)
class SessionLimits:
    """How long a sign-in session lives: `idle` since it last renewed a token, `absolute`
    since it began, whichever ends first."""

    idle: timedelta
    absolute: timedelta


def session_secret_hash(secret: str) -> bytes:
    """What is stored of a session's secret (the cookie's value): its SHA-256. The secret
    is random and long, so a plain hash is enough (no salt, no slow hash)."""
    return hashlib.sha256(secret.encode()).digest()


SESSION_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")


def is_session_secret(raw: object) -> bool:
    """True if `raw` has the shape of a secret this service hands out (32 random bytes,
    base64url): anything else is never looked up."""
    return isinstance(raw, str) and SESSION_SECRET_PATTERN.fullmatch(raw) is not None


SAME_AS_CURRENT = "Mật khẩu mới phải khác mật khẩu hiện tại."
TYPED_TWICE_DIFFERENTLY = "Hai lần nhập mật khẩu mới không giống nhau."


def check_new_password(current: str, new: str, repeat: str | None = None) -> None:
    """The rules of a password change; InvalidFieldsError naming each field refused.
    `repeat` is the form's second typing (the API has none)."""
    refused_fields: list[tuple[str, str]] = []
    try:
        check_password(new)
    except UserInputError as refused:
        refused_fields.append(("new_password", refused.message))
    if not refused_fields and new == current:
        refused_fields.append(("new_password", SAME_AS_CURRENT))
    if repeat is not None and repeat != new:
        refused_fields.append(("repeat_password", TYPED_TWICE_DIFFERENTLY))
    if refused_fields:
        raise InvalidFieldsError(dict(refused_fields))


def form_csrf_token(secret: bytes, nonce: str) -> str:
    """The hidden field of a sign-in or password form: an HMAC of the random nonce in the
    form's cookie (a signed double-submit cookie). Another site can neither read the
    cookie nor make the HMAC, so it cannot post a form that signs a browser in."""
    return hmac.new(secret, f"form-csrf\0{nonce}".encode(), hashlib.sha256).hexdigest()


def form_csrf_matches(secret: bytes, nonce: str | None, token: object) -> bool:
    if not nonce or not isinstance(token, str) or len(nonce) > 100:
        return False
    return hmac.compare_digest(form_csrf_token(secret, nonce).encode(), token.encode())


# --- desk: manage (the article list's filters, reordering categories) ---------------------

DESK_PAGE_SIZE = 20
DESK_MAX_PAGE_SIZE = 100


def moved_positions(siblings: list[Category], category_id: int, step: int) -> dict[int, int] | None:
    """New positions after moving one category up (step -1) or down (+1) among the
    categories of its parent, in their shown order: every sibling numbered 10, 20, ... so
    that equal positions (all 0 at first) get a real order. None when it cannot move
    further (or is not among them)."""
    order = [c.id for c in siblings]
    if category_id not in order:
        return None
    at = order.index(category_id)
    to = at + step
    if not 0 <= to < len(order):
        return None
    order[at], order[to] = order[to], order[at]
    return {item: (n + 1) * 10 for n, item in enumerate(order)}


def siblings_of(category: Category, categories: Iterable[Category]) -> list[Category]:
    """The categories under the same parent (the top level for a top-level one), in the
    order menus show them."""
    return [c for c in categories if c.parent_id == category.parent_id]


def parse_day(raw: str | None, field: str) -> date | None:
    """A yyyy-mm-dd date field (as <input type=date> sends it); None when empty.
    UserInputError naming `field` for anything else."""
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise UserInputError(field, "Ngày phải có dạng năm-tháng-ngày, ví dụ 2025-03-01.") from None


def day_range(first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """The moments from the start of `first` to the end of `last`, as Vietnam's calendar
    days (both included)."""
    start = datetime.combine(first, datetime.min.time(), VIETNAM) if first else None
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), VIETNAM) if last else None
    return start, end


# --- public pages -------------------------------------------------------------------------

# What the home page's sections are: a category, its newest articles, and (for a parent)
# the sections of its children, shown under it.
Section = tuple[Category, list[Article], list[tuple[Category, list[Article]]]]


def nest_sections(
    sections: Iterable[tuple[Category, list[Article]]], categories: Iterable[Category]
) -> list[Section]:
    """The home page's sections in the menu's order, each child category's under its
    parent's; a parent without articles of its own still heads its children's."""
    listed = {category.id: articles for category, articles in sections}
    nested: list[Section] = []
    ordered = list(categories)
    for parent in (c for c in ordered if c.parent_id is None):
        children = [
            (c, listed[c.id]) for c in ordered if c.parent_id == parent.id and c.id in listed
        ]
        if parent.id in listed or children:
            nested.append((parent, listed.get(parent.id, []), children))
    return nested


# A headline longer than this is cut for schema.org (Google reads at most 110 characters).
LD_HEADLINE_LENGTH = 110


def news_article_ld(
    article: Article, *, canonical: str, site_name: str, image_url: str | None
) -> dict[str, Any]:
    """The schema.org NewsArticle a search engine reads from the article page (JSON-LD):
    headline, dates (the text's last change as dateModified), author, publisher, image."""
    author_name = article.byline or article.author_name
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "mainEntityOfPage": {"@type": "WebPage", "@id": canonical},
        "url": canonical,
        "headline": article.title[:LD_HEADLINE_LENGTH],
        "description": article.summary or article.title,
        "inLanguage": "vi",
        "datePublished": (article.published_at or article.created_at)
        .astimezone(VIETNAM)
        .isoformat(timespec="seconds"),
        "dateModified": article.text_updated_at.astimezone(VIETNAM).isoformat(timespec="seconds"),
        "articleSection": article.category.name,
        "author": (
            {"@type": "Person", "name": author_name}
            if author_name
            else {"@type": "Organization", "name": site_name}
        ),
        "publisher": {"@type": "Organization", "name": site_name},
    }
    if image_url:
        data["image"] = [image_url]
    if article.tags:
        data["keywords"] = ", ".join(tag.name for tag in article.tags)
    return data


def json_for_html(data: Any) -> str:
    """JSON to put inside a <script type="application/ld+json"> element: "<", ">" and "&"
    written as \\u escapes (the same JSON), so no "</script>" or "<!--" in a title can end
    or change the element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def lazy_images(body_html: str) -> str:
    """A sanitised body with its pictures loaded only when the reader nears them (they sit
    below the title and the lead image). The sanitiser lets no `loading` attribute in, so
    each <img> gets exactly one."""
    return body_html.replace("<img ", '<img loading="lazy" ')
