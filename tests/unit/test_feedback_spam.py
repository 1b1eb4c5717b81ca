"""Spam rules, without I/O: the honeypot, the signed form timestamp, links and the
fingerprint that recognises the same text sent again."""

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
    ],
)
def test_links_are_counted(text: str, links: int) -> None:
    assert spam.count_links(text) == links
    assert (spam.check_links(text) is spam.TOO_MANY_LINKS) == (links > 2)


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
