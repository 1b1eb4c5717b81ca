"""Documents without I/O: the type read from the content (and the name that must agree
with it), ZIP bombs left unexpanded, file names made safe, sizes as readers read them."""

from __future__ import annotations

import time

import pytest

from services.articles import domain
from services.articles.documents import document_type
from tests.support.articles import PNG
from tests.support.documents import (
    DOCM_BYTES,
    DOCX_BYTES,
    ODS_BYTES,
    ODT_BYTES,
    PDF_BYTES,
    PLAIN_ZIP_BYTES,
    XLSX_BYTES,
    zip_bomb,
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (PDF_BYTES, domain.PDF),
        (DOCX_BYTES, domain.DOCX),
        (XLSX_BYTES, domain.XLSX),
        (ODT_BYTES, domain.ODT),
        (ODS_BYTES, domain.ODS),
    ],
    ids=["pdf", "docx", "xlsx", "odt", "ods"],
)
def test_each_type_is_known_by_its_content(data: bytes, expected: str) -> None:
    assert document_type(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        PNG,
        PLAIN_ZIP_BYTES,
        DOCM_BYTES,
        b"%PDF-1.4\n" + b"x" * 5000,  # no %%EOF near the end: cut short
        b"%PDF-1.4\n%%EOF\n" + b"x" * 5000,  # %%EOF far from the end
        b"PK\x03\x04" + b"\0" * 100,  # a ZIP header and nothing of a ZIP
        DOCX_BYTES[: len(DOCX_BYTES) // 2],  # a cut ZIP
        b"",
        "<html>Quyết định</html>".encode(),
    ],
    ids=["png", "plain-zip", "docm", "pdf-cut", "pdf-eof-far", "zip-header", "zip-cut", "empty",
         "html"],
)  # fmt: skip
def test_anything_else_is_no_document(data: bytes) -> None:
    assert document_type(data) is None


@pytest.mark.parametrize("lying", [False, True], ids=["honest", "lying-directory"])
def test_a_zip_bomb_is_refused_without_being_expanded(lying: bool) -> None:
    bomb = zip_bomb(lying=lying)
    assert len(bomb) < 200_000
    started = time.perf_counter()
    assert document_type(bomb) is None
    # Expanding 100 MB takes far longer than this; reading the directory does not.
    assert time.perf_counter() - started < 0.05


def test_a_central_directory_beyond_the_bounds_is_not_read() -> None:
    # The end record claims 65535 members (as ZIP64 archives do).
    end = b"PK\x05\x06\x00\x00\x00\x00\x02\x00\x02\x00"
    many = DOCX_BYTES.replace(end, end[:-2] + b"\xff\xff")
    assert many != DOCX_BYTES
    assert document_type(many) is None


@pytest.mark.parametrize(
    ("content", "name"),
    [(domain.PDF, "quyet-dinh.pdf"), (domain.PDF, "QUYET DINH.PDF"), (domain.DOCX, "ke-hoach.docx"),
     (domain.XLSX, "bang.xlsx"), (domain.ODT, "mau.odt"), (domain.ODS, "bang.ods")],
)  # fmt: skip
def test_the_name_must_carry_the_contents_extension(content: str, name: str) -> None:
    assert domain.check_document_type(content, name) == content


@pytest.mark.parametrize(
    ("content", "name"),
    [(None, "anh.pdf"), (domain.ODT, "van-ban.docx"), (None, "goi.xlsx"),
     (domain.PDF, "quyet-dinh"), (domain.PDF, "quyet-dinh.pdf.exe"),
     (domain.DOCX, "ke-hoach.doc"), (domain.PDF, ".pdf")],
)  # fmt: skip
def test_a_name_that_disagrees_with_the_content_is_refused(content: str | None, name: str) -> None:
    with pytest.raises(domain.UnsupportedDocumentError):
        domain.check_document_type(content, name)


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("Quyết định số 12.pdf", "Quyết định số 12.pdf"),
        ("C:\\Users\\vp\\Kế hoạch.docx", "Kế hoạch.docx"),
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ('a"b\r\nContent-Type: x.pdf', "a_bContent-Type_ x.pdf"),
        ("  ..ẩn.pdf", "ẩn.pdf"),
        ("Quye\u0302\u0301t.pdf", "Quyết.pdf"),  # decomposed accents become one character each
        ("a\u202egnp.pdf", "agnp.pdf"),  # no right-to-left override
        ("x" * 300 + ".docx", "x" * 195 + ".docx"),
    ],
)
def test_file_names_are_cleaned(raw: str, cleaned: str) -> None:
    assert domain.clean_file_name(raw) == cleaned


def test_the_default_title_is_the_name_without_its_extension() -> None:
    assert domain.document_title(None, "Quyet_dinh_so_12.pdf") == "Quyet dinh so 12"
    assert domain.document_title("  ", "Kế hoạch 2025.docx") == "Kế hoạch 2025"
    assert domain.document_title(" Quyết  định\nsố 12 ", "x.pdf") == "Quyết định số 12"


@pytest.mark.parametrize(
    ("name", "header"),
    [
        (
            "Quyết định số 12.pdf",
            'attachment; filename="Quyet dinh so 12.pdf"; '
            "filename*=UTF-8''Quy%E1%BA%BFt%20%C4%91%E1%BB%8Bnh%20s%E1%BB%91%2012.pdf",
        ),
        (
            'x"; filename="evil.html\r\nSet-Cookie: a=b/../ĐƠN.pdf',
            "attachment; filename=\"DON.pdf\"; filename*=UTF-8''%C4%90%C6%A0N.pdf",
        ),
        ('Đơn/"\r\n', "attachment; filename=\"_\"; filename*=UTF-8''_"),
        ("ứ.pdf", "attachment; filename=\"u.pdf\"; filename*=UTF-8''%E1%BB%A9.pdf"),
        ("ữ", "attachment; filename=\"u\"; filename*=UTF-8''%E1%BB%AF"),
    ],
)
def test_a_downloads_name_cannot_break_out_of_its_header(name: str, header: str) -> None:
    built = domain.content_disposition(name)
    assert built == header
    assert built.isascii() and "\r" not in built and "\n" not in built
    assert built.count('"') == 2


@pytest.mark.parametrize(
    ("size", "text"),
    [(50, "0,1 KB"), (1024, "1 KB"), (1536, "1,5 KB"), (123_456, "120,6 KB"),
     (1024 * 1024, "1 MB"), (2_621_440, "2,5 MB"), (domain.DOCUMENT_MAX_BYTES, "20 MB")],
)  # fmt: skip
def test_sizes_read_with_a_decimal_comma(size: int, text: str) -> None:
    assert domain.size_text(size) == text
