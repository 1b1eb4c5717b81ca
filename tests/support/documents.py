"""Minimal valid documents of each type we take, and files that only pretend to be one,
made in memory for the tests."""

from __future__ import annotations

import io
import zipfile

PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n"
    b"2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\n"
    b"trailer <</Root 1 0 R>>\n%%EOF\n"
)


def zip_of(members: dict[str, bytes | str], *, stored_first: bool = False) -> bytes:
    """A ZIP holding `members` in order (the first stored uncompressed if asked, as ODF
    wants its "mimetype")."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, (name, content) in enumerate(members.items()):
            compression = zipfile.ZIP_STORED if stored_first and index == 0 else None
            archive.writestr(name, content, compress_type=compression)
    return buffer.getvalue()


def _content_types(main: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        f'<Override PartName="/{main[0]}" ContentType="{main[1]}"/></Types>'
    )


DOCX_BYTES = zip_of(
    {
        "[Content_Types].xml": _content_types(
            (
                "word/document.xml",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
            )
        ),
        "word/document.xml": "<w:document/>",
    }
)
XLSX_BYTES = zip_of(
    {
        "[Content_Types].xml": _content_types(
            (
                "xl/workbook.xml",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
            )
        ),
        "xl/workbook.xml": "<workbook/>",
    }
)
# A macro-enabled Word file: word/document.xml is there, but the package says .docm.
DOCM_BYTES = zip_of(
    {
        "[Content_Types].xml": _content_types(
            ("word/document.xml", "application/vnd.ms-word.document.macroEnabled.main+xml")
        ),
        "word/document.xml": "<w:document/>",
    }
)
ODT_BYTES = zip_of(
    {"mimetype": "application/vnd.oasis.opendocument.text", "content.xml": "<office/>"},
    stored_first=True,
)
ODS_BYTES = zip_of(
    {"mimetype": "application/vnd.oasis.opendocument.spreadsheet", "content.xml": "<office/>"},
    stored_first=True,
)
PLAIN_ZIP_BYTES = zip_of({"readme.txt": "Không phải văn bản."})


def zip_bomb(*, lying: bool = False) -> bytes:
    """An ODT-looking ZIP whose "mimetype" expands to 100 MB of zeros (about 100 KB sent);
    `lying`, its central directory claims the member holds 39 bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("mimetype", "w") as member:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(100):
                member.write(chunk)
    data = bytearray(buffer.getvalue())
    if lying:
        entry = data.rfind(b"PK\x01\x02")
        data[entry + 24 : entry + 28] = (39).to_bytes(4, "little")
    return bytes(data)
