"""Documents ("văn bản") attached to articles, on the real Postgres and RabbitMQ: each type
taken by its content, files that only pretend refused with nothing stored, the limit, who
may attach, rename, reorder and remove them, and the public listing and download."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, unquote

import aiohttp
import pytest

from services.articles import domain
from tests.support.articles import PNG, Site, running_site
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


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[Site]:
    async with running_site() as harness:
        yield harness


async def problem(response: aiohttp.ClientResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    body = dict(await response.json())
    assert body["code"] == code, body
    return body


async def stored(site: Site) -> list[tuple[Any, ...]]:
    """Every document row, to show a refusal changed nothing."""
    rows = await site.pool.fetch(
        "SELECT id, article_id, title, position, sha256 FROM documents ORDER BY id"
    )
    return [tuple(row) for row in rows]


def form(data: bytes, file_name: str, title: str | None = None) -> aiohttp.FormData:
    sent = aiohttp.FormData()
    sent.add_field("file", data, filename=file_name, content_type="application/octet-stream")
    if title is not None:
        sent.add_field("title", title)
    return sent


async def upload(
    site: Site, article_id: int, data: bytes, file_name: str, role: str = "editor", **more: Any
) -> aiohttp.ClientResponse:
    return await site.client.post(
        f"/api/v1/articles/{article_id}/documents",
        data=form(data, file_name, more.get("title")),
        headers=more.get("headers", site.auth(role)),
    )


async def uploaded(site: Site, article_id: int, data: bytes = PDF_BYTES, name: str = "qd.pdf",
                   **more: Any) -> dict[str, Any]:  # fmt: skip
    response = await upload(site, article_id, data, name, **more)
    assert response.status == 201, await response.text()
    return dict(await response.json())


# --- each type, by its content ------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "content_type", "kind"),
    [
        (PDF_BYTES, "Quyet_dinh_so_12.pdf", domain.PDF, "PDF"),
        (DOCX_BYTES, "Quyet_dinh_so_12.DOCX", domain.DOCX, "Word"),
        (XLSX_BYTES, "Quyet_dinh_so_12.xlsx", domain.XLSX, "Excel"),
        (ODT_BYTES, "Quyet_dinh_so_12.odt", domain.ODT, "OpenDocument"),
        (ODS_BYTES, "Quyet_dinh_so_12.ods", domain.ODS, "OpenDocument"),
    ],
    ids=["pdf", "docx", "xlsx", "odt", "ods"],
)
async def test_each_type_is_taken_by_its_content(
    site: Site, data: bytes, name: str, content_type: str, kind: str
) -> None:
    article = await site.draft()
    created = await uploaded(site, article["id"], data, name)
    assert created["content_type"] == content_type
    assert created["kind"] == kind
    assert created["title"] == "Quyet dinh so 12"  # the name without extension, cleaned
    assert created["file_name"] == name
    assert created["size"] == len(data)
    assert created["url"] == f"/van-ban/{created['id']}"
    assert created["article_id"] == article["id"]
    row = await site.pool.fetchrow("SELECT data, uploaded_by FROM documents WHERE id = $1",
                                   created["id"])  # fmt: skip
    assert row["data"] == data
    assert row["uploaded_by"] == site.accounts["editor"].user.id


async def test_a_given_title_is_kept_and_documents_go_last(site: Site) -> None:
    article = await site.draft()
    first = await uploaded(site, article["id"], title="  Quyết định\nsố 12/QĐ-UBND ")
    second = await uploaded(site, article["id"], title="")  # a blank field: the file's name
    assert first["title"] == "Quyết định số 12/QĐ-UBND"
    assert second["title"] == "qd"
    assert (first["position"], second["position"]) == (0, 1)


# --- refusals: nothing stored -------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (PNG, "quyet-dinh.pdf"),  # a picture renamed
        (ODT_BYTES, "ke-hoach.docx"),  # an OpenDocument named as Word
        (PLAIN_ZIP_BYTES, "bang.xlsx"),  # a plain ZIP named as Excel
        (DOCM_BYTES, "ke-hoach.docx"),  # a macro-enabled Word file named as a plain one
        (PDF_BYTES, "quyet-dinh.docx"),
        (PDF_BYTES, "quyet-dinh"),
        (b"<script>alert(1)</script>", "trang.pdf"),
        (zip_bomb(), "bom.odt"),
        (zip_bomb(lying=True), "bom.odt"),
    ],
    ids=["png-as-pdf", "odt-as-docx", "zip-as-xlsx", "docm-as-docx", "pdf-as-docx",
         "no-extension", "html-as-pdf", "zip-bomb", "lying-zip-bomb"],
)  # fmt: skip
async def test_a_file_that_is_not_what_its_name_says_is_refused(
    site: Site, data: bytes, name: str
) -> None:
    article = await site.draft()
    before = await stored(site)
    await problem(await upload(site, article["id"], data, name), 415, "unsupported_document_type")
    assert await stored(site) == before


async def test_a_document_over_the_limit_is_a_413(site: Site) -> None:
    article = await site.draft()
    before = await stored(site)
    too_big = PDF_BYTES + b"\0" * domain.DOCUMENT_MAX_BYTES
    refused = await problem(await upload(site, article["id"], too_big, "lon.pdf"), 413,
                            "body_too_large")  # fmt: skip
    assert "20 MB" in refused["detail"]
    # Just at the limit is taken.
    at_limit = PDF_BYTES[:-6] + b" " * (domain.DOCUMENT_MAX_BYTES - len(PDF_BYTES)) + b"%%EOF\n"
    assert len(at_limit) == domain.DOCUMENT_MAX_BYTES
    assert (await uploaded(site, article["id"], at_limit, "vua.pdf"))["size"] == len(at_limit)
    assert len(await stored(site)) == len(before) + 1


@pytest.mark.parametrize(
    ("parts", "status", "code", "field"),
    [
        ({"title": "Không có tệp"}, 422, "invalid_input", "file"),
        ({"file": (PDF_BYTES, "a.pdf"), "title": "x" * 301}, 422, "invalid_input", "title"),
        (
            {"file": (PDF_BYTES, "a.pdf"), "title": io.BytesIO(b"\xff\xfe")},
            422,
            "invalid_input",
            "title",
        ),
    ],
    ids=["no-file", "long-title", "title-not-utf8"],
)
async def test_bad_fields_are_a_422_naming_them(
    site: Site, parts: dict[str, Any], status: int, code: str, field: str
) -> None:
    article = await site.draft()
    before = await stored(site)
    sent = aiohttp.FormData(default_to_multipart=True)
    for name, value in parts.items():
        if isinstance(value, tuple):
            sent.add_field(name, value[0], filename=value[1] or None,
                           content_type="application/pdf")  # fmt: skip
        else:
            sent.add_field(name, value)
    response = await site.client.post(
        f"/api/v1/articles/{article['id']}/documents", data=sent, headers=site.auth("editor")
    )
    refused = await problem(response, status, code)
    assert [e["field"] for e in refused["errors"]] == [field]
    assert await stored(site) == before


def raw_form(disposition: str, data: bytes) -> bytes:
    """A multipart body of one part, its Content-Disposition written as a client may."""
    return (
        (
            f"--b0undary\r\nContent-Disposition: {disposition}\r\n"
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + data
        + b"\r\n--b0undary--\r\n"
    )


async def raw_upload(site: Site, article_id: int, body: bytes) -> aiohttp.ClientResponse:
    return await site.client.post(
        f"/api/v1/articles/{article_id}/documents",
        data=body,
        headers={**site.auth("editor"), "Content-Type": "multipart/form-data; boundary=b0undary"},
    )


async def test_a_file_without_a_name_is_a_422(site: Site) -> None:
    article = await site.draft()
    before = await stored(site)
    for disposition in ('form-data; name="file"', 'form-data; name="file"; filename="../"'):
        response = await raw_upload(site, article["id"], raw_form(disposition, PDF_BYTES))
        refused = await problem(response, 422, "invalid_input")
        assert [e["field"] for e in refused["errors"]] == ["file"]
    assert await stored(site) == before


async def test_a_body_that_is_no_multipart_form_is_refused(site: Site) -> None:
    article = await site.draft()
    url = f"/api/v1/articles/{article['id']}/documents"
    headers = site.auth("editor")
    await problem(await site.client.post(url, json={"file": "x"}, headers=headers), 415,
                  "unsupported_media_type")  # fmt: skip
    broken = {**headers, "Content-Type": "multipart/form-data; boundary=boundary"}
    await problem(await site.client.post(url, data=b"--boundary\r\n-2--boundary--",
                                         headers=broken), 400, "invalid_multipart")  # fmt: skip
    many = aiohttp.FormData(default_to_multipart=True)
    for n in range(12):
        many.add_field(f"f{n}", "x")
    await problem(await site.client.post(url, data=many, headers=headers), 400,
                  "invalid_multipart")  # fmt: skip


# --- who may ------------------------------------------------------------------------------


async def test_who_may_attach_a_document(site: Site) -> None:
    own = await site.draft(role="author")
    others = await site.draft(role="editor")
    before = await stored(site)
    await problem(await upload(site, own["id"], PDF_BYTES, "a.pdf", headers={}), 401,
                  "unauthenticated")  # fmt: skip
    await problem(await upload(site, own["id"], PDF_BYTES, "a.pdf", "moderator"), 403, "forbidden")
    # An author does not see another's draft at all.
    await problem(await upload(site, others["id"], PDF_BYTES, "a.pdf", "author"), 404,
                  "article_not_found")  # fmt: skip
    await problem(await upload(site, 987654321, PDF_BYTES, "a.pdf"), 404, "article_not_found")
    assert await stored(site) == before

    await uploaded(site, own["id"], role="author")  # their own draft
    await uploaded(site, own["id"], role="editor")
    await uploaded(site, own["id"], role="admin")
    submitted = await site.client.post(f"/api/v1/articles/{own['id']}/submit",
                                       headers=site.auth("author"))  # fmt: skip
    assert submitted.status == 200
    middle = await stored(site)
    # Submitted: the author may no longer change it, its editors still may.
    await problem(await upload(site, own["id"], PDF_BYTES, "a.pdf", "author"), 403, "forbidden")
    assert await stored(site) == middle
    await uploaded(site, own["id"], role="editor")

    trashed = await site.client.delete(f"/api/v1/articles/{others['id']}",
                                       headers=site.auth("editor"))  # fmt: skip
    assert trashed.status in (200, 204)
    await problem(await upload(site, others["id"], PDF_BYTES, "a.pdf"), 409, "invalid_transition")


async def test_who_may_rename_reorder_and_remove(site: Site) -> None:
    article = await site.draft(role="author")
    document = await uploaded(site, article["id"], role="author")
    url = f"/api/v1/documents/{document['id']}"
    other_author = await site.new_account("author")

    await problem(await site.client.patch(url, json={"title": "x"}), 401, "unauthenticated")
    await problem(await site.client.patch(url, json={"title": "x"}, headers=other_author.headers),
                  404, "document_not_found")  # fmt: skip
    await problem(await site.client.delete(url, headers=other_author.headers), 404,
                  "document_not_found")  # fmt: skip
    await problem(await site.client.delete(url, headers=site.auth("moderator")), 403, "forbidden")
    listed = await site.client.get(f"/api/v1/articles/{article['id']}/documents",
                                   headers=other_author.headers)  # fmt: skip
    await problem(listed, 404, "article_not_found")

    renamed = await site.client.patch(url, json={"title": " Kế hoạch  năm 2025 "},
                                      headers=site.auth("author"))  # fmt: skip
    assert renamed.status == 200
    assert (await renamed.json())["title"] == "Kế hoạch năm 2025"

    await site.client.post(f"/api/v1/articles/{article['id']}/submit", headers=site.auth("author"))
    before = await stored(site)
    await problem(await site.client.patch(url, json={"title": "x"}, headers=site.auth("author")),
                  403, "forbidden")  # fmt: skip
    await problem(await site.client.delete(url, headers=site.auth("author")), 403, "forbidden")
    assert await stored(site) == before
    # The author still sees the list of their submitted article.
    listed = await site.client.get(f"/api/v1/articles/{article['id']}/documents",
                                   headers=site.auth("author"))  # fmt: skip
    assert [d["id"] for d in (await listed.json())["items"]] == [document["id"]]

    removed = await site.client.delete(url, headers=site.auth("editor"))
    assert removed.status == 204
    await problem(await site.client.delete(url, headers=site.auth("editor")), 404,
                  "document_not_found")  # fmt: skip
    await problem(await site.client.patch("/api/v1/documents/98765432", json={"title": "x"},
                                          headers=site.auth("editor")), 404,
                  "document_not_found")  # fmt: skip


async def test_the_list_follows_the_positions_editors_set(site: Site) -> None:
    article = await site.draft()
    first = await uploaded(site, article["id"], title="Một")
    second = await uploaded(site, article["id"], DOCX_BYTES, "hai.docx", title="Hai")
    moved = await site.client.patch(f"/api/v1/documents/{first['id']}", json={"position": 5},
                                    headers=site.auth("editor"))  # fmt: skip
    assert (await moved.json())["position"] == 5
    listed = await site.client.get(f"/api/v1/articles/{article['id']}/documents",
                                   headers=site.auth("editor"))  # fmt: skip
    assert listed.status == 200
    assert listed.headers["Cache-Control"] == "no-store"
    items = (await listed.json())["items"]
    assert [d["title"] for d in items] == ["Hai", "Một"]
    assert items[0] == second | {"position": 1}


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, None), ({"title": "  "}, "title"), ({"position": -1}, "position"),
     ({"position": 10_001}, "position"), ({"file_name": "x.pdf"}, None), ({"title": 12}, "title")],
)  # fmt: skip
async def test_a_bad_change_is_a_422_and_changes_nothing(
    site: Site, body: dict[str, Any], field: str | None
) -> None:
    article = await site.draft()
    document = await uploaded(site, article["id"])
    before = await stored(site)
    response = await site.client.patch(f"/api/v1/documents/{document['id']}", json=body,
                                       headers=site.auth("editor"))  # fmt: skip
    refused = await problem(response, 422, "invalid_input")
    if field:
        assert [e["field"] for e in refused["errors"]] == [field]
    assert await stored(site) == before


# --- the public ---------------------------------------------------------------------------

# As a client may send it percent-encoded (RFC 8187): quotes, a line break and a header,
# Windows and Unix path parts.
HOSTILE_NAME = '..\\..\\Quyết định "số 12"\r\nSet-Cookie: a=b.pdf'


async def test_the_article_page_lists_its_documents_and_they_download(site: Site) -> None:
    article = await site.published()
    hostile = raw_form(
        f"form-data; name=\"file\"; filename*=UTF-8''{quote(HOSTILE_NAME, safe='')}", PDF_BYTES
    )
    response = await raw_upload(site, article["id"], hostile)
    assert response.status == 201, await response.text()
    pdf = await response.json()
    assert pdf["file_name"] == "Quyết định _số 12_Set-Cookie_ a=b.pdf"
    renamed = await site.client.patch(f"/api/v1/documents/{pdf['id']}",
                                      json={"title": "Quyết định số 12"},
                                      headers=site.auth("editor"))  # fmt: skip
    assert renamed.status == 200
    big = b"%PDF-1.7\n" + b"x" * 1_572_864 + b"\n%%EOF"  # 1.5 MB
    plan = await uploaded(site, article["id"], big, "ke-hoach.pdf", title="Kế hoạch")
    # As browsers send a name: UTF-8 as it is in filename="...".
    sent = raw_form('form-data; name="file"; filename="bảng.xlsx"', XLSX_BYTES)
    # The title comes after the file here.
    sheet_response = await raw_upload(site, article["id"], sent.replace(
        b"--b0undary--", b'--b0undary\r\nContent-Disposition: form-data; name="title"\r\n\r\n'
        + "Bảng tổng hợp".encode() + b"\r\n--b0undary--"))  # fmt: skip
    assert sheet_response.status == 201, await sheet_response.text()
    sheet = await sheet_response.json()
    assert (sheet["file_name"], sheet["title"]) == ("bảng.xlsx", "Bảng tổng hợp")

    page = await site.client.get(article["url"] if "url" in article else f"/tin/{article['id']}")
    html = await page.text()
    assert page.status == 200
    assert "Văn bản đính kèm" in html
    assert f'<a href="/van-ban/{pdf["id"]}" download>Quyết định số 12</a>' in html
    assert f"(PDF, {domain.size_text(len(PDF_BYTES))})" in html
    assert "(PDF, 1,5 MB)" in html
    assert "(Excel, " in html
    assert html.index("Quyết định số 12") < html.index("Kế hoạch") < html.index("Bảng tổng hợp")
    printed = await (await site.client.get(f"/tin/{article['id']}/in")).text()
    assert f"https://tin.example.vn/van-ban/{plan['id']}" in printed

    served = await site.client.get(pdf["url"])
    assert served.status == 200
    assert await served.read() == PDF_BYTES
    assert served.headers["Content-Type"] == "application/pdf"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age=31536000" in served.headers["Cache-Control"]
    disposition = served.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="')
    assert disposition.count('"') == 2 and "\r" not in disposition and "\n" not in disposition
    assert disposition.isascii()
    fallback = disposition.split('"')[1]
    assert fallback.endswith(".pdf") and "/" not in fallback and "\\" not in fallback
    encoded = disposition.split("filename*=UTF-8''")[1]
    assert unquote(encoded) == pdf["file_name"] == domain.clean_file_name(HOSTILE_NAME)
    assert fallback == "Quyet dinh _so 12_Set-Cookie_ a_b.pdf"
    assert served.headers.get("Set-Cookie") is None

    again = await site.client.get(pdf["url"], headers={"If-None-Match": served.headers["ETag"]})
    assert again.status == 304
    xlsx = await site.client.get(sheet["url"])
    assert xlsx.headers["Content-Type"] == domain.XLSX
    assert "filename*=UTF-8''b%E1%BA%A3ng.xlsx" in xlsx.headers["Content-Disposition"]


async def test_a_hidden_articles_documents_are_not_public(site: Site) -> None:
    draft = await site.draft()
    in_draft = await uploaded(site, draft["id"])
    article = await site.published()
    document = await uploaded(site, article["id"])
    assert (await site.client.get(document["url"])).status == 200
    unpublished = await site.client.post(f"/api/v1/articles/{article['id']}/unpublish",
                                         headers=site.auth("editor"))  # fmt: skip
    assert unpublished.status == 200, await unpublished.text()

    for hidden in (in_draft, document):
        response = await site.client.get(hidden["url"])
        assert response.status == 404
        assert "Không tìm thấy văn bản" in await response.text()
        revalidated = await site.client.get(hidden["url"], headers={"If-None-Match": "*"})
        assert revalidated.status == 404
        # Staff download it through the API, never cached.
        staff = await site.client.get(f"/api/v1/documents/{hidden['id']}/file",
                                      headers=site.auth("editor"))  # fmt: skip
        assert staff.status == 200
        assert await staff.read() == PDF_BYTES
        assert staff.headers["Cache-Control"] == "no-store"
        assert staff.headers["X-Content-Type-Options"] == "nosniff"
        assert staff.headers["Content-Disposition"].startswith("attachment;")
        await problem(await site.client.get(f"/api/v1/documents/{hidden['id']}/file"), 401,
                      "unauthenticated")  # fmt: skip
    # An author who does not see the draft does not get its documents.
    await problem(await site.client.get(f"/api/v1/documents/{in_draft['id']}/file",
                                        headers=site.auth("author")), 404,
                  "document_not_found")  # fmt: skip
    assert (await site.client.get("/van-ban/98765432")).status == 404


async def test_documents_go_with_their_article(site: Site) -> None:
    article = await site.draft()
    document = await uploaded(site, article["id"])
    await site.pool.execute("DELETE FROM articles WHERE id = $1", article["id"])
    assert await site.pool.fetchval("SELECT count(*) FROM documents WHERE id = $1",
                                    document["id"]) == 0  # fmt: skip
