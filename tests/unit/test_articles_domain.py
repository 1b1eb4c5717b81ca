"""The articles service's rules without I/O: slugs, sanitising, permissions, the events a
change writes and their data, image types, login slow-down, feeds."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

import pytest

from services.articles import domain, events, feeds
from services.articles.domain import Article, Category, Tag, Topic
from services.common.auth import Principal
from services.common.events.envelope import CloudEvent, source_of
from services.common.events.payloads import FeedbackPublicData
from services.common.events.schemas import validate

NOW = datetime(2017, 4, 27, 2, 30, tzinfo=UTC)  # 09:30 in Vietnam


def article(**changes: object) -> Article:
    fields: dict[str, object] = {
        "id": 42,
        "slug": "khoi-thi-dua-ky-ket-giao-uoc",
        "title": "Khối thi đua ký kết giao ước",
        "summary": "Tóm tắt",
        "body_html": "<p>Nội dung</p>",
        "byline": "Hồng Tươi (VP HND)",
        "category": Category(3, "Tình hình hoạt động", "tinh-hinh-hoat-dong"),
        "image_id": 9,
        "image_caption": "Lãnh đạo ký giao ước.",
        "author_id": 7,
        "status": domain.PUBLISHED,
        "version": 4,
        "created_at": NOW - timedelta(days=1),
        "updated_at": NOW,
        "published_at": NOW - timedelta(hours=2),
        "author_name": "Hồng Tươi",
        "unit": "VP HND",
        "source": "",
        "text_updated_at": NOW,
        "publish_at": None,
        "end_at": None,
        "return_reason": None,
        "deleted_at": None,
        "deleted_from": None,
    }
    fields.update(changes)
    return Article(**fields)  # type: ignore[arg-type]


def principal(*roles: str, user_id: int = 7) -> Principal:
    return Principal(user_id, "Người dùng", frozenset(roles), NOW + timedelta(minutes=10))


# --- slugs and paths ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Tình hình hoạt động", "tinh-hinh-hoat-dong"),
        ("Đoàn Thanh niên Cộng sản Hồ Chí Minh", "doan-thanh-nien-cong-san-ho-chi-minh"),
        ("Khối thi đua MTTQ, các đoàn thể!", "khoi-thi-dua-mttq-cac-doan-the"),
        ("!!!", "bai-viet"),
    ],
)
def test_slugs_are_ascii_words_of_the_vietnamese_text(text: str, slug: str) -> None:
    assert domain.make_slug(text, fallback="bai-viet") == slug
    assert domain.is_slug(slug)


def test_a_long_title_gives_a_slug_cut_at_a_word() -> None:
    slug = domain.make_slug("Hội nghị " * 30, fallback="x")
    assert len(slug) <= domain.SLUG_MAX_LENGTH
    assert not slug.endswith("-") and slug.endswith("nghi")


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        ("tinh-hinh-42", ("tinh-hinh", 42)),
        ("42", (None, 42)),
        ("2017-nam-moi-7", ("2017-nam-moi", 7)),
        ("tinh-hinh", None),
        ("tinh-hinh-0", None),
        ("tinh-hinh-٤٢", None),  # Arabic-Indic digits are digits to Python, not to us
        ("x-" + "9" * 30, None),
    ],
)
def test_article_references_are_parsed_from_the_path(
    ref: str, parsed: tuple[str | None, int] | None
) -> None:
    assert domain.parse_article_ref(ref) == parsed


def test_the_canonical_path_holds_slug_and_id() -> None:
    assert article().url == "/tin/khoi-thi-dua-ky-ket-giao-uoc-42"
    assert article().image_url == "/anh/9"
    assert article(image_id=None).image_url is None


# --- sanitising -----------------------------------------------------------------------------


def test_scripts_handlers_and_dangerous_urls_are_removed() -> None:
    dirty = (
        '<p style="color:red" onclick="x()">A<script>alert(1)</script></p>'
        '<a href="javascript:alert(1)">j</a><a href="data:text/html,x">d</a>'
        '<img src="x" onerror="x()"><iframe src="//evil"></iframe><form><input></form>'
        "<!-- note -->"
    )
    clean = domain.sanitize_html(dirty)
    for bad in ("script", "onclick", "style=", "javascript:", "data:", "onerror", "iframe",
                "<form", "<input", "note"):  # fmt: skip
        assert bad not in clean
    assert clean.startswith("<p>A</p>")


def test_the_allowed_structure_survives() -> None:
    html = (
        "<h2>Mục</h2><p><strong>Đậm</strong> <em>nghiêng</em><br></p>"
        '<ul><li>một</li></ul><ol start="3"><li>ba</li></ol>'
        '<blockquote>trích</blockquote><figure><img src="/anh/1" alt="Ảnh">'
        "<figcaption>Chú thích</figcaption></figure>"
        '<table><thead><tr><th scope="col">A</th></tr></thead>'
        '<tbody><tr><td colspan="2">B</td></tr></tbody></table>'
    )
    assert domain.sanitize_html(html) == html


def test_links_get_rel_noopener() -> None:
    clean = domain.sanitize_html('<a href="https://example.vn" target="_blank">x</a>')
    assert clean == '<a href="https://example.vn" rel="noopener noreferrer">x</a>'


def test_the_text_of_html_keeps_words_apart_and_decodes_entities() -> None:
    text = domain.html_to_text("<p>giao ước</p><p>thi đua &amp; khen thưởng</p><br>năm 2017")
    assert text == "giao ước thi đua & khen thưởng năm 2017"


# --- who may do what ----------------------------------------------------------------------


def test_the_public_sees_only_published_articles() -> None:
    assert domain.can_see(None, article())
    assert not domain.can_see(None, article(status=domain.DRAFT))
    assert not domain.can_see(principal("moderator"), article(status=domain.UNPUBLISHED))


def test_authors_see_their_own_articles_and_edit_their_own_drafts_only() -> None:
    own_draft = article(status=domain.DRAFT, author_id=7)
    someone_elses = article(status=domain.DRAFT, author_id=8)
    author = principal("author", user_id=7)
    assert domain.can_see(author, own_draft) and domain.can_edit(author, own_draft)
    assert not domain.can_see(author, someone_elses)
    assert not domain.can_edit(author, someone_elses)
    assert not domain.can_edit(author, article(author_id=7))  # published
    assert not domain.can_edit(author, article(author_id=7, status=domain.PENDING))
    assert not domain.is_publisher(author)


@pytest.mark.parametrize("roles", [("editor",), ("admin",), ("author", "editor")])
def test_editors_and_admins_edit_and_publish_anything(roles: tuple[str, ...]) -> None:
    someone = principal(*roles, user_id=99)
    assert domain.is_publisher(someone)
    for status in (domain.DRAFT, domain.PUBLISHED, domain.UNPUBLISHED):
        assert domain.can_see(someone, article(status=status))
        assert domain.can_edit(someone, article(status=status))


def test_which_event_a_change_writes() -> None:
    publish = domain.TRANSITIONS["publish"]
    assert domain.transition_event(publish, domain.DRAFT) == "article.published"
    assert domain.transition_event(publish, domain.UNPUBLISHED) == "article.published"
    assert domain.transition_event(publish, domain.PUBLISHED) == "article.updated"
    assert domain.edit_event(domain.PUBLISHED) == "article.updated"
    assert domain.edit_event(domain.DRAFT) is None
    assert domain.edit_event(domain.UNPUBLISHED) is None


# --- event data -----------------------------------------------------------------------------


def _envelope(type_: str, data: dict[str, object]) -> dict[str, object]:
    return CloudEvent(type_, source_of("articles"), "42", data).to_dict()  # type: ignore[arg-type]


@pytest.mark.parametrize("type_", ["article.published", "article.updated"])
def test_article_data_matches_the_contract(type_: str) -> None:
    data = events.article_data(article()).to_data()
    validate(_envelope(type_, data))
    assert data["url"] == "/tin/khoi-thi-dua-ky-ket-giao-uoc-42"
    # A top-level category says so with parent null (an optional addition of issue 7).
    assert data["category"] == {
        "slug": "tinh-hinh-hoat-dong",
        "name": "Tình hình hoạt động",
        "parent": None,
    }
    assert data["updated_at"] == "2017-04-27T09:30:00+07:00"
    assert data["image_url"] == "/anh/9"
    assert events.article_data(article(image_id=None)).image_url is None
    assert (data["tags"], data["topic"]) == ([], None)
    assert data["featured"] == {"home_until": None, "category_until": None}


def test_article_data_carries_the_taxonomy() -> None:
    tagged = article(
        category=Category(5, "Thi đua", "thi-dua", parent_id=3),
        category_parent=Category(3, "Tình hình hoạt động", "tinh-hinh-hoat-dong"),
        tags=(Tag(1, "bien-dao", "Biển đảo"), Tag(2, "thi-dua", "Thi đua")),
        topic=Topic(4, "dai-hoi", "Đại hội"),
        featured_home_until=NOW + timedelta(days=2),
    )
    data = events.article_data(tagged).to_data()
    validate(_envelope("article.updated", data))
    assert data["category"]["parent"] == {
        "slug": "tinh-hinh-hoat-dong",
        "name": "Tình hình hoạt động",
    }
    assert data["tags"] == [
        {"slug": "bien-dao", "name": "Biển đảo"},
        {"slug": "thi-dua", "name": "Thi đua"},
    ]
    assert data["topic"] == {"slug": "dai-hoi", "name": "Đại hội"}
    assert data["featured"] == {"home_until": "2017-04-29T09:30:00+07:00", "category_until": None}


# --- categories, tags, pins -----------------------------------------------------------------


def test_categories_nest_one_level() -> None:
    top = Category(1, "Tin tức", "tin-tuc")
    child = Category(2, "Trong nước", "trong-nuoc", parent_id=1)
    domain.check_parent(3, top, has_children=False)  # a leaf goes under a top-level one
    domain.check_parent(None, None, has_children=True)  # back to the top: always fine
    with pytest.raises(domain.CategoryTooDeepError):
        domain.check_parent(3, child, has_children=False)
    with pytest.raises(domain.CategoryHasChildrenError):
        domain.check_parent(3, top, has_children=True)
    with pytest.raises(domain.InvalidFieldsError) as refused:
        domain.check_parent(1, top, has_children=False)
    assert list(refused.value.fields) == ["parent_id"]


def test_a_parents_page_lists_its_childrens_articles_too() -> None:
    top = Category(1, "Tin tức", "tin-tuc")
    others = [
        top,
        Category(2, "A", "a", parent_id=1),
        Category(3, "B", "b"),
        Category(4, "C", "c", parent_id=1),
    ]
    assert domain.with_children(top, others) == [1, 2, 4]
    assert domain.with_children(others[1], others) == [2]


def test_tag_names_and_slugs_name_one_tag_each() -> None:
    assert domain.tag_names(["Biển  đảo ", "bien-dao", "Đại hội", "dai-hoi"]) == {
        "bien-dao": "Biển đảo",
        "dai-hoi": "Đại hội",
    }
    with pytest.raises(domain.InvalidFieldsError) as refused:
        domain.tag_names(["Thi đua", "!!!"])
    assert list(refused.value.fields) == ["tags"]


@pytest.mark.parametrize(
    "raw",
    ["ngày mai", "2017-04-28T09:00:00", "2017-04-27T09:30:00+07:00", "2017-04-26T09:00:00+07:00"],
)
def test_a_pin_ends_at_a_future_time_with_its_offset(raw: str) -> None:
    with pytest.raises(domain.InvalidFieldsError) as refused:
        domain.pin_until(raw, NOW)
    assert list(refused.value.fields) == ["until"]


def test_a_pin_until_tomorrow_is_taken() -> None:
    until = domain.pin_until("2017-04-28T09:00:00+07:00", NOW)
    assert until == datetime(2017, 4, 28, 2, 0, tzinfo=UTC)


def test_unpublished_data_matches_the_contract() -> None:
    data = events.unpublished_data(article(status=domain.UNPUBLISHED, version=5)).to_data()
    validate(_envelope("article.unpublished", data))
    assert data == {"id": 42, "version": 5, "unpublished_at": "2017-04-27T09:30:00+07:00"}


def test_public_feedback_is_read_from_the_event_data() -> None:
    item = events.public_feedback(
        FeedbackPublicData.from_data(
            {
                "id": 5,
                "version": 2,
                "article_id": 42,
                "author_name": "Trần Thị B",
                "body": "Bài viết hay.",
                "reply": {"body": "Cảm ơn bạn.", "replied_at": "2017-04-28T08:00:00+07:00"},
                "approved_at": "2017-04-27T10:00:00+07:00",
                "updated_at": "2017-04-28T08:00:00+07:00",
            }
        )
    )
    assert (item.reply_body, item.reply_author) == ("Cảm ơn bạn.", None)
    assert item.replied_at == datetime(2017, 4, 28, 1, 0, tzinfo=UTC)
    without_reply = events.public_feedback(
        FeedbackPublicData.from_data(
            {
                "id": 6,
                "version": 1,
                "article_id": None,
                "author_name": "C",
                "body": "Góp ý chung.",
                "reply": None,
                "approved_at": "2017-04-27T10:00:00+07:00",
                "updated_at": "2017-04-27T10:00:00+07:00",
            }
        )
    )
    assert without_reply.reply_body is None and without_reply.article_id is None


# --- images ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "content_type"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"GIF87a\x01\x00", "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
        (b"\x00\x00\x00\x18ftypheic\x00\x00", "image/heic"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00", None),  # a video
        (b"<svg xmlns=", None),
        (b"%PDF-1.7", None),
        (b"", None),
    ],
)
def test_image_types_come_from_the_first_bytes(head: bytes, content_type: str | None) -> None:
    assert domain.image_type(head) == content_type


def test_the_pixel_limit_passes_a_50_mp_photo_and_counts_every_frame() -> None:
    assert not domain.too_many_pixels(4000, 3000)  # a 12 MP phone photo
    assert not domain.too_many_pixels(8160, 6120)  # a 50 MP sensor's full picture
    assert domain.too_many_pixels(30000, 30000)
    assert domain.too_many_pixels(1000, 1000, frames=51)


@pytest.mark.parametrize(
    ("size", "max_width", "fitted"),
    [
        ((4000, 3000), 1200, (1200, 900)),
        ((3000, 4000), 480, (480, 640)),
        ((300, 200), 1200, (300, 200)),
    ],
)
def test_a_variant_is_narrowed_never_widened(
    size: tuple[int, int], max_width: int, fitted: tuple[int, int]
) -> None:
    assert domain.fitted_size(*size, max_width) == fitted


@pytest.mark.parametrize(
    ("size", "box", "scaled"),
    [
        ((4000, 3000), (0, 450, 4000, 2550), (1200, 630)),  # landscape: top and bottom cut
        ((3000, 4000), (0, 1212, 3000, 2787), (1200, 630)),  # portrait
        ((300, 200), (0, 21, 300, 179), (300, 158)),  # small: cropped, not blown up
    ],
)
def test_the_share_card_is_the_centred_box_of_its_proportions(
    size: tuple[int, int], box: tuple[int, int, int, int], scaled: tuple[int, int]
) -> None:
    assert domain.share_crop(*size) == (box, scaled)


def _variant(name: str, content_type: str, width: int) -> domain.ImageVariant:
    return domain.ImageVariant(7, name, content_type, width, width * 3 // 4, 1000)


def test_a_picture_offers_its_variants_by_width() -> None:
    picture = domain.Picture(
        7,
        tuple(
            _variant(name, content_type, width)
            for name, width in (("lead", 1200), ("list", 480))
            for content_type in ("image/jpeg", "image/webp")
        ),
    )
    assert picture.srcset() == "/anh/7/list.jpg 480w, /anh/7/lead.jpg 1200w"
    assert picture.srcset(webp=True) == "/anh/7/list.webp 480w, /anh/7/lead.webp 1200w"
    assert picture.src("list") == "/anh/7/list.jpg"
    assert picture.size("lead") == (1200, 900)
    # An image stored before variants existed is shown as it is.
    assert domain.Picture(8).src() == "/anh/8"
    assert domain.Picture(8).size() is None


# --- login slow-down ------------------------------------------------------------------------


def test_the_login_delay_starts_at_the_limit_and_doubles_up_to_a_cap() -> None:
    delays = [domain.login_delay(n, allowed=5) for n in range(1, 12)]
    assert delays[:4] == [0, 0, 0, 0]
    assert delays[4:9] == [30, 60, 120, 240, 480]
    assert delays[9:] == [domain.MAX_DELAY_SECONDS] * 2
    assert domain.MAX_DELAY_SECONDS < domain.FAILURE_WINDOW_SECONDS


def test_a_failing_name_only_pauses_a_little_and_never_for_long() -> None:
    pauses = [domain.username_pause(n) for n in range(0, 40)]
    assert pauses[:5] == [0.0] * 5
    assert pauses[5:8] == [1.0, 2.0, 4.0]
    assert set(pauses[8:]) == {domain.MAX_USERNAME_PAUSE_SECONDS}
    assert domain.MAX_USERNAME_PAUSE_SECONDS <= 5
    assert domain.username_pause(10**9) == domain.MAX_USERNAME_PAUSE_SECONDS


# --- where to go after signing in ---------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/quan-tri/phan-hoi", "/quan-tri", "/", "/tin/tap-huan-12?trang=2#binh-luan", "/a/%2F%2Fb"],
)
def test_paths_on_this_site_are_where_signing_in_may_lead(path: str) -> None:
    assert domain.safe_local_path(path) == path


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "quan-tri",
        "//evil.example",
        "//evil.example/quan-tri",
        "/\\evil.example",
        "/\\/evil.example",
        "\\\\evil.example",
        "/quan-tri\\..\\..\\",
        "https://evil.example/",
        "http:/evil.example",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,x",
        " /quan-tri",
        "/\t/evil.example",
        "/quan-tri\r\nSet-Cookie: x=1",
        "/quan-tri\x00",
        "/quan tri",
        "/tin/tập-huấn",
        "/" + "a" * 2000,
        ["/quan-tri"],
    ],
)
def test_anything_else_is_refused_so_no_one_is_sent_to_another_site(raw: object) -> None:
    assert domain.safe_local_path(raw) is None


# --- lists and search ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "page"),
    [(None, 1), ("", 1), ("2", 2), ("0", 1), ("-3", 1), ("abc", 1), ("²", 1), ("99999", 1000)],
)
def test_page_numbers_are_forgiving(raw: str | None, page: int) -> None:
    assert domain.page_number(raw) == page


def test_search_terms_are_words_taken_literally() -> None:
    assert domain.search_terms("  giao  uoc giao thi dua ") == ["giao", "uoc", "thi", "dua"]
    assert domain.like_pattern("50%_a\\b") == "%50\\%\\_a\\\\b%"
    assert len(domain.search_terms(" ".join(str(n) for n in range(50)))) == 8


# --- feeds ----------------------------------------------------------------------------------


def test_the_rss_feed_is_well_formed_rss_2() -> None:
    tricky = article(title='Tin "đặc biệt" <b> & ký tự', summary="A & B")
    body = feeds.rss(
        title="Bantin",
        link="https://tin.example.vn/",
        self_url="https://tin.example.vn/rss",
        description="Tin mới",
        origin="https://tin.example.vn",
        articles=[tricky, article(id=41, slug="cu")],
    )
    root = ET.fromstring(body)
    assert root.tag == "rss" and root.get("version") == "2.0"
    items = root.findall("channel/item")
    assert [i.findtext("link") for i in items] == [
        "https://tin.example.vn/tin/khoi-thi-dua-ky-ket-giao-uoc-42",
        "https://tin.example.vn/tin/cu-41",
    ]
    assert items[0].findtext("title") == 'Tin "đặc biệt" <b> & ký tự'
    assert items[0].findtext("pubDate") == "Thu, 27 Apr 2017 07:30:00 +0700"
    assert root.findtext("channel/language") == "vi"


def test_the_sitemap_lists_locations_with_their_dates() -> None:
    body = feeds.sitemap(
        [feeds.SitemapEntry("https://x.vn/"), feeds.SitemapEntry("https://x.vn/tin/a-1", NOW)]
    )
    root = ET.fromstring(body)
    ns = {"s": feeds.SITEMAP}
    assert [u.findtext("s:loc", namespaces=ns) for u in root.findall("s:url", ns)] == [
        "https://x.vn/",
        "https://x.vn/tin/a-1",
    ]
    assert root.find("s:url/s:lastmod", ns) is not None


# --- the workflow -----------------------------------------------------------------------------


@pytest.mark.parametrize("action", sorted(set(domain.TRANSITIONS) - {"submit"}))
def test_authors_take_no_step_but_submitting_their_own_draft(action: str) -> None:
    author = principal("author", user_id=7)
    with pytest.raises(domain.ActionForbiddenError):
        domain.check_transition(author, article(status=domain.DRAFT), action)
    assert domain.check_transition(author, article(status=domain.DRAFT), "submit")
    with pytest.raises(domain.ActionForbiddenError):
        domain.check_transition(principal("author", user_id=8), article(), "submit")
    with pytest.raises(domain.ActionForbiddenError):
        domain.check_transition(principal("moderator"), article(status=domain.DRAFT), "submit")


def test_only_the_scheduler_takes_its_own_steps() -> None:
    scheduled = article(status=domain.SCHEDULED, publish_at=NOW)
    with pytest.raises(domain.ActionForbiddenError):
        domain.check_transition(principal("admin"), scheduled, "publish_due")
    with pytest.raises(domain.ActionForbiddenError):
        domain.check_transition(None, scheduled, "publish")
    assert domain.check_transition(None, scheduled, "publish_due").target == domain.PUBLISHED


def test_a_step_from_another_state_names_the_action_and_the_state() -> None:
    with pytest.raises(domain.InvalidTransitionError) as refused:
        domain.check_transition(principal("editor"), article(status=domain.DRAFT), "return")
    assert refused.value.message == "Không thể trả lại bài viết đang ở trạng thái “bản nháp”."


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (domain.PUBLISHED, domain.UNPUBLISHED),
        (domain.SCHEDULED, domain.UNPUBLISHED),
        (domain.DRAFT, domain.DRAFT),
        (domain.PENDING, domain.PENDING),
        (domain.EXPIRED, domain.EXPIRED),
    ],
)
def test_a_restored_article_never_comes_back_public(before: str, after: str) -> None:
    deleted = article(status=domain.DELETED, deleted_at=NOW, deleted_from=before)
    change = domain.state_after(deleted, domain.TRANSITIONS["restore"], NOW, domain.StepInput())
    assert (change.status, change.deleted_at, change.deleted_from) == (after, None, None)


def test_a_scheduled_first_publication_is_dated_at_its_time() -> None:
    due = NOW - timedelta(minutes=5)
    scheduled = article(status=domain.SCHEDULED, published_at=None, publish_at=due)
    change = domain.state_after(
        scheduled, domain.TRANSITIONS["publish_due"], NOW, domain.StepInput()
    )
    assert (change.status, change.published_at, change.publish_at) == (
        domain.PUBLISHED,
        due,
        None,
    )
    # A publication again keeps the first date.
    again = article(status=domain.UNPUBLISHED)
    change = domain.state_after(again, domain.TRANSITIONS["publish"], NOW, domain.StepInput())
    assert change.published_at == again.published_at


def test_the_events_of_the_steps() -> None:
    table = domain.TRANSITIONS
    assert domain.transition_event(table["delete"], domain.PUBLISHED) == "article.unpublished"
    assert domain.transition_event(table["delete"], domain.DRAFT) is None
    assert domain.transition_event(table["unpublish"], domain.SCHEDULED) is None
    assert domain.transition_event(table["expire"], domain.PUBLISHED) == "article.unpublished"
    assert domain.transition_event(table["publish_due"], domain.SCHEDULED) == "article.published"
    assert domain.transition_event(table["submit"], domain.DRAFT) is None


def test_slugs_fold_the_vietnamese_d_and_take_a_suffix_on_a_clash() -> None:
    assert domain.make_slug("đường đi", fallback="x") == "duong-di"
    base, second, third = list(domain.slug_candidates("Đêm hội " * 20, tries=2))
    assert second == base[: domain.SLUG_MAX_LENGTH - 2].rstrip("-") + "-2"
    assert len(third) <= domain.SLUG_MAX_LENGTH and domain.is_slug(third)


def test_only_images_of_our_own_store_stay() -> None:
    clean = domain.sanitize_html(
        '<p>x</p><img src="https://evil.example/p.gif" alt="a"><img src="/anh/12" alt="b">'
        '<img src="/anh/../x" alt="c">'
    )
    assert clean == '<p>x</p><img src="/anh/12" alt="b">'


def test_an_image_variant_of_our_store_stays_as_the_editor_inserts_it() -> None:
    clean = domain.sanitize_html(
        '<img src="/anh/12/lead.jpg" alt="a"><img src="/anh/12/list.webp" alt="b">'
        '<img src="/anh/12/lead.jpg?x=1" alt="c"><img src="/anh/12/other.jpg" alt="d">'
        '<img src="/anh/12/lead.gif" alt="e">'
    )
    assert clean == '<img src="/anh/12/lead.jpg" alt="a"><img src="/anh/12/list.webp" alt="b">'


def test_pasted_headings_keep_a_heading_of_the_body() -> None:
    """The page's title is its h1: a pasted h1 is the body's top heading (h2), h5 and h6
    its lowest (h4), their attributes dropped as any other's."""
    clean = domain.sanitize_html(
        '<H1 class="MsoTitle" style="color:red">Báo cáo</H1><h5>Năm</h5><h6 id="x">Sáu</h6>'
        "<h3>Ba</h3><p>h1 trong chữ</p>"
    )
    assert clean == "<h2>Báo cáo</h2><h4>Năm</h4><h4>Sáu</h4><h3>Ba</h3><p>h1 trong chữ</p>"


def test_the_byline_is_the_author_and_the_unit() -> None:
    assert domain.make_byline("Hồng Tươi", "VP HND") == "Hồng Tươi (VP HND)"
    assert domain.make_byline("Hồng Tươi", "") == "Hồng Tươi"
    assert domain.make_byline("", "VP HND") == "VP HND"


# --- public search --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("giao ước thi đua", "giao uoc thi dua"),
        ("GIAO ƯỚC", "giao uoc"),
        ("Đường ĐƯỜNG đường", "duong duong duong"),
        (unicodedata.normalize("NFD", "Hồ Chí Minh"), "ho chi minh"),
        ("Quỹ Ủy ban", "quy uy ban"),
    ],
)
def test_folding_drops_diacritics_case_and_unicode_form(text: str, folded: str) -> None:
    assert domain.fold(text) == folded
    assert domain.fold(unicodedata.normalize("NFC", text)) == domain.fold(
        unicodedata.normalize("NFD", text)
    )


def test_stored_search_text_is_folded_words() -> None:
    assert domain.fold_words(" Giao ước, thi-đua! hộ_nghèo 1.000 ") == (
        "giao uoc thi dua ho ngheo 1 000"
    )
    assert domain.search_body("Tóm tắt.", "Hồng Tươi (VP)", "Nội dung") == (
        "tom tat hong tuoi vp noi dung"
    )


def test_a_saved_title_or_text_refreshes_its_search_columns() -> None:
    created = domain.derived_columns(
        {"title": "Tin Mới", "summary": "Tóm tắt", "body_html": "<p>Đoàn <b>viên</b></p>"}
    )
    assert created["search_title"] == "tin moi"
    assert created["search_body"] == "tom tat doan vien"
    current = article(title="Cũ", summary="Tóm tắt", body_html="<p>Nội dung</p>", byline="")
    assert domain.derived_columns({"title": "Đổi tên"}, current) == {"search_title": "doi ten"}
    assert domain.derived_columns({"summary": "Mới"}, current)["search_body"] == "moi noi dung"


def test_a_query_is_its_distinct_words_typed_and_folded() -> None:
    terms = domain.parse_query("Đường,  ĐƯỜNG duong <script> x")
    assert [(t.typed, t.folded) for t in terms] == [
        ("đường", "duong"),
        ("duong", "duong"),
        ("script", "script"),
        ("x", "x"),
    ]
    assert [t.accented for t in terms] == [True, False, False, False]
    assert [t.short for t in terms] == [False, False, False, True]
    assert len(domain.parse_query(" ".join(f"tu{n}" for n in range(50)))) == 8
    assert domain.parse_query("!!! ...") == [] and domain.search_plan([]) is None


def test_long_words_select_and_short_words_only_rank() -> None:
    plan = domain.search_plan(domain.parse_query("đường bộ an toàn"))
    assert plan is not None
    assert plan.every == "'duong' & 'toan'" and plan.most is None
    assert plan.words == ["duong", "bo", "an", "toan"]
    nfd = unicodedata.normalize("NFD", "đường")
    assert plan.accented[0] == r"\m(?:" + f"đường|{nfd}|đươ\u0300ng" + r")\M"
    assert len(plan.accented) == 3  # bộ and toàn too, not "an"
    three = domain.search_plan(domain.parse_query("lua gao xuat"))
    assert three is not None and three.every == "'lua' & 'gao' & 'xuat'"
    assert three.most == "('lua' & 'gao') | ('lua' & 'xuat') | ('gao' & 'xuat')"
    only_short = domain.parse_query("về hà")
    assert domain.searches_titles_only(only_short)
    plan = domain.search_plan(only_short)
    assert plan is not None and plan.every == "'ve' & 'ha'"


def test_a_snippet_marks_the_matches_around_the_first_one() -> None:
    text = "Mở đầu. " * 50 + "Ký giao ước thi đua tại Đà Nẵng. " + "Kết thúc. " * 50
    found = domain.snippet(text, domain.parse_query("GIAO UOC da"), width=80)
    assert found.cut_before and found.cut_after
    marked = [part for part, hit in found.parts if hit]
    assert marked == ["giao", "ước", "Đà"]
    assert len("".join(p for p, _ in found.parts)) <= 80
    # Inside a word is no match ("ước" in "nước"), and no match gives the start.
    plain = domain.snippet("Nước sạch về làng", domain.parse_query("uoc"))
    assert plain.parts == (("Nước sạch về làng", False),) and not plain.cut_before


def test_a_snippet_shows_where_most_query_words_are() -> None:
    text = (
        "Trước hết giao ban. "
        + "Nội dung khác. " * 40
        + "Giao ước thi đua được ký. "
        + "Hết. " * 30
    )
    found = domain.snippet(text, domain.parse_query("giao uoc thi dua"))
    marked = [part for part, hit in found.parts if hit]
    assert marked == ["Giao", "ước", "thi", "đua"]


def test_a_typed_word_is_looked_for_in_each_unicode_form() -> None:
    forms = domain.typed_forms("ừ")
    assert forms == ["ừ", "u\u031b\u0300", "ư\u0300"]
    assert all(unicodedata.normalize("NFC", f) == "ừ" for f in forms)
    assert domain.typed_forms("ấn") == ["ấn", "a\u0302\u0301n", "â\u0301n"]
    assert domain.typed_forms("an") == ["an"]
