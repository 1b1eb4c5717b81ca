"""What an uploaded document really is, read from its content, never from its name.

PDF by its "%PDF-" header and the "%%EOF" marker near its end; DOCX and XLSX as ZIP
packages whose [Content_Types].xml declares a Word document or an Excel workbook (not
their macro-enabled kinds) and which hold word/document.xml or xl/workbook.xml; ODT and
ODS as ZIP packages whose first member, "mimetype", names them. A ZIP is never expanded:
only its central directory is read (after its size is checked), and at most two small
members, each read with a cap whatever size it claims, so a ZIP bomb costs nothing.
No I/O: the bytes are in memory already.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from services.articles.domain import DOCX, ODS, ODT, PDF, XLSX

# The "%%EOF" that ends a PDF is in its last 1024 bytes (as readers look for it; some
# writers add a few bytes after it).
PDF_TAIL_BYTES = 1024
# Office packages hold tens of members, a large workbook some hundreds; a central
# directory beyond these bounds is no document of ours (and would cost memory to list).
ZIP_MAX_MEMBERS = 5_000
ZIP_MAX_DIRECTORY_BYTES = 1024 * 1024
# [Content_Types].xml is a few KB; "mimetype" is one line.
CONTENT_TYPES_MAX_BYTES = 256 * 1024
MIMETYPE_MAX_BYTES = 100

_END_OF_DIRECTORY = b"PK\x05\x06"
_END_OF_DIRECTORY_SIZE = 22
_MAX_COMMENT = 0xFFFF
_OPEN_DOCUMENT = {ODT.encode(): ODT, ODS.encode(): ODS}
# The main part's content type each Office package declares (the macro-enabled .docm and
# .xlsm declare others, so they are not taken for a .docx or .xlsx).
_OFFICE_MAIN_PARTS = (
    (DOCX, "word/document.xml", b"wordprocessingml.document.main+xml"),
    (XLSX, "xl/workbook.xml", b"spreadsheetml.sheet.main+xml"),
)
# What a broken, encrypted or oddly compressed archive raises while it is read.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
    RuntimeError,
    EOFError,
    ValueError,
    KeyError,
    OSError,
    struct.error,
)


def document_type(data: bytes) -> str | None:
    """The content type the bytes prove (domain.PDF, DOCX, XLSX, ODT, ODS), or None."""
    if data.startswith(b"%PDF-"):
        return PDF if b"%%EOF" in data[-PDF_TAIL_BYTES:] else None
    if data.startswith(b"PK\x03\x04") and _small_directory(data):
        try:
            return _package_type(data)
        except _ZIP_ERRORS:
            return None
    return None


def _small_directory(data: bytes) -> bool:
    """Whether the ZIP's end record announces a central directory within our bounds
    (ZIP64, which needs one larger than 65535 members or 4 GB, never is)."""
    search_from = max(0, len(data) - _END_OF_DIRECTORY_SIZE - _MAX_COMMENT)
    end = data.rfind(_END_OF_DIRECTORY, search_from)
    if end < 0 or len(data) - end < _END_OF_DIRECTORY_SIZE:
        return False
    members, directory_bytes = struct.unpack_from("<HI", data, end + 10)
    return members <= ZIP_MAX_MEMBERS and directory_bytes <= ZIP_MAX_DIRECTORY_BYTES


def _package_type(data: bytes) -> str | None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
        if members and members[0].filename == "mimetype":
            return _OPEN_DOCUMENT.get(_small_member(archive, members[0], MIMETYPE_MAX_BYTES))
        names = {member.filename for member in members}
        if "[Content_Types].xml" not in names:
            return None
        declared = _small_member(
            archive, archive.getinfo("[Content_Types].xml"), CONTENT_TYPES_MAX_BYTES
        )
        for content_type, main_part, main_type in _OFFICE_MAIN_PARTS:
            if main_part in names and main_type in declared:
                return content_type
    return None


def _small_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, cap: int) -> bytes:
    """The member's bytes, b"" when it claims, or turns out, to be larger than `cap`: at
    most cap + 1 bytes are ever expanded."""
    if member.file_size > cap:
        return b""
    with archive.open(member) as stream:
        content = stream.read(cap + 1)
    return content.strip() if len(content) <= cap else b""
