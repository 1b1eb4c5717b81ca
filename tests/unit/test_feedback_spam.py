"""Spam rules, without I/O: the honeypot, the signed form timestamp, links (held, then
refused), banned words on folded text, the fingerprint that recognises the same text sent
again, and what a repeat from the same visitor gets."""

from __future__ import annotations

import unicodedata

import pytest

from services.feedback import spam

SECRET = b"0123456789abcdef0123456789abcdef"
NOW = 1_800_000_000.0


@pytest.fixture
def signer() -> spam.FormSigner:
    return spam.FormSigner(SECRET)


def test_an_empty_honeypot_passes_a_filled_one_is_spam() -> None:
    assert spam.check_honeypot("") is None
    assert spam.check_honeypot(None) is None
    assert spam.check_honeypot("http://spam.example") is spam.HONEYPOT


@pytest.mark.parametrize(
    ("elapsed", "verdict"),
    [
        (0.0, spam.TOO_FAST),
        (2.9, spam.TOO_FAST),
        (-5.0, spam.TOO_FAST),
        (3.0, None),
        (600.0, None),
        (24 * 3600.0, None),
        (24 * 3600.0 + 1, spam.FORM_EXPIRED),
    ],
)
def test_the_time_taken_to_fill_the_form(
    signer: spam.FormSigner, elapsed: float, verdict: spam.Verdict | None
) -> None:
    token = signer.issue("article:7", NOW)
    assert signer.check(token, "article:7", NOW + elapsed) is verdict


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "abc",
        "1800000000000",
        "1800000000000.",
        "1800000000000.deadbeef",
        "x.y",
        "ý.ý",
        "²³.ab",
    ],
)
def test_a_missing_or_forged_token_is_refused(signer: spam.FormSigner, token: str | None) -> None:
    assert signer.check(token, "site", NOW + 10) is spam.FORM_INVALID


def test_a_token_cannot_be_moved_to_another_form_or_back_in_time(
    signer: spam.FormSigner,
) -> None:
    token = signer.issue("article:7", NOW)
    assert signer.check(token, "article:8", NOW + 10) is spam.FORM_INVALID
    stamp, mac = token.split(".")
    older = f"{int(stamp) - 60_000}.{mac}"
    assert signer.check(older, "article:7", NOW + 10) is spam.FORM_INVALID


def test_a_token_from_another_secret_is_refused(signer: spam.FormSigner) -> None:
    other = spam.FormSigner(b"another-secret-of-32-bytes......")
    assert signer.check(other.issue("site", NOW), "site", NOW + 10) is spam.FORM_INVALID


def test_the_secret_must_not_be_trivial() -> None:
    with pytest.raises(ValueError):
        spam.FormSigner(b"short")


def test_csrf_tokens_are_bound_to_the_session(signer: spam.FormSigner) -> None:
    token = signer.csrf_token("session-a")
    assert signer.check_csrf("session-a", token)
    assert not signer.check_csrf("session-b", token)
    assert not signer.check_csrf("session-a", None)
    assert not signer.check_csrf("session-a", "ý")


@pytest.mark.parametrize(
    ("text", "links"),
    [
        ("Không có liên kết nào.", 0),
        ("Xem https://a.vn và http://b.vn", 2),
        ("Xem https://a.vn, http://b.vn và www.c.vn", 3),
        ("HTTPS://A.VN HTTP://B.VN WWW.C.VN", 3),
        (" ".join(f"https://{n}.vn" for n in range(5)), 5),
        (" ".join(f"https://{n}.vn" for n in range(6)), 6),
    ],
)
def test_links_are_counted_two_pass_up_to_five_are_held_more_are_refused(
    text: str, links: int
) -> None:
    assert spam.count_links(text) == links
    assert (spam.link_hold(text) is spam.HoldReason.MANY_LINKS) == (links > 2)
    assert (spam.check_links(text) is spam.TOO_MANY_LINKS) == (links > 5)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Đường ĐƯỜNG đường", "duong duong duong"),
        (unicodedata.normalize("NFD", "Lừa đảo"), "lua dao"),
        (unicodedata.normalize("NFC", "Lừa đảo"), "lua dao"),
        ("ＣÁ ĐỘ", "ca do"),  # full-width letters, as some spam writes them
        ("Straße", "strasse"),
    ],
)
def test_folding_drops_accents_case_and_encoding(text: str, folded: str) -> None:
    assert spam.fold(text) == folded


BANNED = spam.BannedWords(["lừa đảo", "Cá độ", "  ", "", "xxx"])


@pytest.mark.parametrize(
    "text",
    [
        "Trang này LỪA ĐẢO người đọc!",
        "trang nay lua dao nguoi doc",  # written without accents
        unicodedata.normalize("NFD", "trang này lừa đảo"),  # decomposed accents
        "Lừa\n  đảo",  # any whitespace between a phrase's words
        "mời chơi cá độ bóng đá",
        "CA DO bong da",
        "(xxx)",
    ],
)
def test_a_banned_word_is_found_however_it_is_written(text: str) -> None:
    assert BANNED.found_in(text)
    assert spam.holds("Bạn đọc", text, BANNED) == [spam.HoldReason.BANNED_WORD]


@pytest.mark.parametrize(
    "text",
    ["luadao", "sự lừa đảong", "xxxl", "caddo", "Bài viết rất hay, cảm ơn ban biên tập."],
)
def test_only_whole_words_match(text: str) -> None:
    assert not BANNED.found_in(text)


def test_the_name_is_checked_too_and_no_list_finds_nothing() -> None:
    assert spam.holds("Lừa Đảo", "Nội dung bình thường.", BANNED) == [spam.HoldReason.BANNED_WORD]
    assert spam.BannedWords().words == frozenset()
    assert not spam.NO_BANNED_WORDS.found_in("lừa đảo", "cá độ")
    assert BANNED.words == {"lua dao", "ca do", "xxx"}


def test_a_banned_word_and_many_links_give_both_reasons() -> None:
    text = "lừa đảo https://a.vn https://b.vn https://c.vn"
    assert spam.holds("An", text, BANNED) == [
        spam.HoldReason.BANNED_WORD,
        spam.HoldReason.MANY_LINKS,
    ]


def test_a_repeat_is_judged_per_target() -> None:
    assert spam.repeat_rule("article:7", []) is None
    # The same visitor, the same text, the same article: refused, the first one waits.
    assert spam.repeat_rule("article:7", ["article:7"]) is spam.DUPLICATE
    assert spam.repeat_rule("site", ["article:7", "site"]) is spam.DUPLICATE
    # The same visitor, the same text, another target: held for a moderator.
    assert spam.repeat_rule("article:8", ["article:7"]) is spam.HoldReason.REPEATED_TEXT
    assert spam.repeat_rule("site", ["article:7"]) is spam.HoldReason.REPEATED_TEXT


def test_every_reason_has_a_vietnamese_label() -> None:
    for reason in spam.HoldReason:
        assert spam.reason_label(reason.value) == spam.HOLD_LABELS[reason]
    for verdict in (spam.HONEYPOT, spam.TOO_FAST, spam.DUPLICATE, spam.TOO_MANY_LINKS):
        assert spam.reason_label(verdict.code) != verdict.code
    assert spam.reason_label("too_many_submissions").startswith("Vượt")
    assert spam.reason_label("submission_rate").startswith("Vượt")
    assert spam.reason_label("unknown_code") == "unknown_code"


def test_the_same_text_has_the_same_fingerprint_whatever_its_spacing_or_case() -> None:
    base = spam.fingerprint("Đề nghị ban biên tập đăng thêm tin về nông thôn mới.")
    assert spam.fingerprint("  đề NGHỊ ban   biên tập\nđăng thêm tin về nông thôn mới ") == base
    # The same letters in decomposed (NFD) form, as some keyboards send them.
    decomposed = unicodedata.normalize(
        "NFD", "Đề nghị ban biên tập đăng thêm tin về nông thôn mới."
    )
    assert spam.fingerprint(decomposed) == base
    assert spam.fingerprint("Đề nghị ban biên tập đăng thêm tin về nông thôn cũ.") != base


def test_verdicts_have_stable_codes() -> None:
    assert spam.HONEYPOT.code == "spam_honeypot"
    assert spam.DUPLICATE.code == "spam_duplicate"
    assert spam.DUPLICATE.status == 409
    assert spam.TOO_MANY_LINKS.field == "body"
