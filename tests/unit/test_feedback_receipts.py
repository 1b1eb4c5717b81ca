"""Receipt codes, idempotency keys and the lookup limit, without I/O."""

from __future__ import annotations

from services.feedback import receipts
from services.feedback.domain import ReaderStatus, reader_status
from services.feedback.lookups import LookupLimiter

SECRET = b"unit-test-secret-of-32-bytes-xxx"


def test_a_code_is_ten_crockford_characters_shown_in_three_groups() -> None:
    codes = {receipts.new_code() for _ in range(2000)}
    assert len(codes) == 2000  # 50 random bits: no collision in a few thousand
    for code in codes:
        assert len(code) == 10 and set(code) <= set(receipts.ALPHABET)
        assert not set(code) & set("ILOU")
    assert receipts.grouped("K7QM4XTR9B") == "K7QM-4XTR-9B"


def test_typing_back_forgives_case_separators_and_look_alikes() -> None:
    assert receipts.normalise(" k7qm-4xtr 9b ") == "K7QM4XTR9B"
    assert receipts.normalise("O1IL-0000-00") == "0111000000"
    for wrong in ("", "K7QM-4XTR", "K7QM-4XTR-9BB", "K7QM-4XTR-9U", "<script>"):
        assert receipts.normalise(wrong) is None


def test_a_keyed_code_is_the_same_each_time_and_differs_per_key_and_secret() -> None:
    key = receipts.form_key_hash(receipts.new_form_token())
    assert key is not None
    code = receipts.code_for_key(SECRET, key)
    assert code == receipts.code_for_key(SECRET, key)
    assert receipts.normalise(code) == code
    other_key = receipts.form_key_hash(receipts.new_form_token())
    assert other_key is not None
    assert receipts.code_for_key(SECRET, other_key) != code
    assert receipts.code_for_key(b"another-secret-of-32-bytes-xxxxx", key) != code


def test_only_hashes_of_codes_and_keys_are_kept() -> None:
    code = receipts.new_code()
    assert code not in receipts.code_hash(code) and len(receipts.code_hash(code)) == 64
    assert receipts.form_key_hash("short") is None
    assert receipts.form_key_hash("a" * 22) != receipts.api_key_hash("a" * 22)
    assert receipts.api_key_hash("") is None and receipts.api_key_hash("có dấu") is None


def test_lookups_are_limited_per_visitor_by_a_keyed_hash() -> None:
    limiter = LookupLimiter(SECRET, limit=3, window=60)
    assert [limiter.take("192.0.2.1", 0.0) for _ in range(3)] == [None] * 3
    assert limiter.take("192.0.2.1", 1.0) == 59
    assert limiter.take("192.0.2.2", 1.0) is None  # another visitor
    assert limiter.take("192.0.2.1", 60.0) is None  # a new window
    assert all("192.0.2" not in key for key in limiter._windows)


def test_what_the_reader_is_told() -> None:
    assert reader_status("pending", False) is ReaderStatus.RECEIVED
    assert reader_status("held", False) is ReaderStatus.RECEIVED
    assert reader_status("approved", False) is ReaderStatus.PUBLISHED
    assert reader_status("approved", True) is ReaderStatus.ANSWERED
    assert reader_status("pending", True) is ReaderStatus.ANSWERED
    assert reader_status("rejected", True) is ReaderStatus.NOT_PUBLISHED
    assert reader_status("withdrawn", False) is ReaderStatus.WITHDRAWN
