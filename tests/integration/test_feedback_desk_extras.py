"""The moderation desk's held cases, spam counts, /hoi-dap switch and return to the queue,
on the real Postgres and RabbitMQ: held cases show "Tạm giữ" and their reasons in
Vietnamese; "Thống kê chặn thư rác" counts refusals and holds by reason; an approved and
answered site suggestion is put on (and taken off) /hoi-dap from its page with the CSRF
token; an action taken from a filtered queue returns to the same filters."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from services.common.vietnam import VIETNAM
from services.feedback import domain, spam
from tests.support.feedback import Service, running_service

PAGE = "/quan-tri/phan-hoi"
STATS = PAGE + "/thong-ke-chan-thu-rac"
ARTICLE = 311
_addresses = (f"198.51.100.{n}" for n in itertools.count(60))
_serial = itertools.count(1)


@pytest.fixture(scope="module")
async def service() -> AsyncIterator[Service]:
    async with running_service(
        trusted_proxies=("127.0.0.1", "::1"), banned_words=("lừa đảo",)
    ) as service:
        await service.publish_article(ARTICLE, title="Kế hoạch tiếp công dân năm 2027")
        yield service


_sessions: dict[int, dict[str, str]] = {}


def cookie(service: Service) -> dict[str, str]:
    """One moderator's session for the whole module: a desk form's CSRF token is bound to
    the session that was shown it."""
    if id(service) not in _sessions:
        _sessions[id(service)] = {"Cookie": f"bantin_access={service.token('moderator')}"}
    return _sessions[id(service)]


async def submit(service: Service, body: str = "", article_id: int | None = ARTICLE) -> int:
    body = body or f"Xin hỏi lịch tiếp công dân của tháng này, lần {next(_serial)}."
    response = await service.client.post(
        "/api/v1/feedback",
        json={"article_id": article_id, "author_name": "Lê Hoa", "body": body},
        headers={"X-Forwarded-For": next(_addresses)},
    )
    assert response.status == 202, await response.text()
    return int((await response.json())["id"])


async def page(service: Service, path: str) -> str:
    response = await service.client.get(path, headers=cookie(service))
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    return await response.text()


def csrf_in(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found
    return found[1]


def case_in(html: str, item_id: int) -> str:
    return html[html.index(f'id="y-kien-{item_id}"') :].split("</li>")[0]


async def public_qa(service: Service, item_id: int) -> bool:
    return bool(
        await service.pool.fetchval("SELECT public_qa FROM feedback WHERE id = $1", item_id)
    )


# --- held cases -------------------------------------------------------------------------


async def test_held_cases_show_the_badge_and_their_reasons(service: Service) -> None:
    body = "Trang này lừa đảo: https://a.vn https://b.vn https://c.vn https://d.vn"
    held = await submit(service, body)
    labels = [spam.reason_label("banned_word"), spam.reason_label("many_links")]
    assert labels[0] == "Chứa từ ngữ trong danh sách cấm"

    queue = case_in(await page(service, PAGE), held)  # held cases await a moderator
    assert '<span class="desk-status desk-status-held">Tạm giữ</span>' in queue
    assert f'<p class="desk-hold">Lý do tạm giữ: {labels[0]}; {labels[1]}</p>' in queue

    case = await page(service, f"{PAGE}/{held}")
    assert '<span class="desk-status desk-status-held">Tạm giữ</span>' in case
    assert "<dt>Lý do tạm giữ</dt>" in case
    assert all(f"<li>{label}</li>" in case for label in labels)
    # The held filter lists it under the same badge.
    assert f'id="y-kien-{held}"' in await page(service, f"{PAGE}?trang-thai=held")
    assert '<option value="held">Tạm giữ</option>' in await page(service, PAGE)


async def test_a_pending_case_shows_no_hold(service: Service) -> None:
    pending = await submit(service)
    assert "desk-hold" not in case_in(await page(service, PAGE), pending)
    assert "Lý do tạm giữ" not in await page(service, f"{PAGE}/{pending}")


# --- spam counts ------------------------------------------------------------------------


async def test_the_spam_counts_page_counts_by_reason_within_the_days_chosen(
    service: Service,
) -> None:
    await service.pool.execute("DELETE FROM spam_counts")
    await submit(service, "Cảnh báo lừa đảo qua điện thoại, xin đăng lên.", article_id=None)
    today = await service.pool.fetchval("SELECT (now() AT TIME ZONE $1)::date", str(VIETNAM))
    await service.pool.executemany(
        "INSERT INTO spam_counts (day, outcome, reason, target, count) VALUES ($1, $2, $3, $4, $5)",
        [
            (today, "refused", "spam_honeypot", "article", 7),
            (today - timedelta(days=10), "refused", "spam_too_fast", "site", 2),
            (today - timedelta(days=40), "refused", "spam_duplicate", "article", 5),
        ],
    )
    queue = await page(service, PAGE)
    assert f'<a href="{STATS}">Thống kê chặn thư rác</a>' in queue

    html = await page(service, STATS)  # 30 days by default
    rows = re.findall(r"<tr>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td", html)
    assert rows == [
        ("Bị tạm giữ", spam.reason_label("banned_word"), "Góp ý cho trang"),
        ("Bị từ chối", spam.reason_label("spam_honeypot"), "Phản hồi bản tin"),
        ("Bị từ chối", spam.reason_label("spam_too_fast"), "Góp ý cho trang"),
    ]
    assert re.search(r'Tổng</th><td class="number">10</td>', html)
    assert "Ô ẩn (chỉ máy tự điền thấy) bị điền" in html

    longer = await page(service, f"{STATS}?ngay=90")
    assert spam.reason_label("spam_duplicate") in longer
    assert re.search(r'Tổng</th><td class="number">15</td>', longer)
    assert re.search(r'Tổng</th><td class="number">8</td>', await page(service, f"{STATS}?ngay=7"))


@pytest.mark.parametrize("days", ["0", "-1", "abc", "10000000000000000000000", "31"])
async def test_odd_day_counts_show_the_default_30(service: Service, days: str) -> None:
    html = await page(service, f"{STATS}?ngay={days}")
    assert "trong 30 ngày gần nhất" in html


async def test_the_spam_counts_are_for_moderators_only(service: Service) -> None:
    anonymous = await service.client.get(STATS, allow_redirects=False)
    assert (anonymous.status, anonymous.headers["Location"]) == (
        303,
        f"/dang-nhap/gia-han?next={STATS}",
    )
    editor = {"Cookie": f"bantin_access={service.token('editor')}"}
    assert (await service.client.get(STATS, headers=editor)).status == 403


# --- /hoi-dap from the case page ------------------------------------------------------------


async def answered_suggestion(service: Service) -> int:
    item_id = await submit(
        service, f"Đề nghị đăng lịch tiếp dân lên trang, lần {next(_serial)}.", None
    )
    auth = service.auth("moderator")
    assert (await service.client.post(f"/api/v1/feedback/{item_id}/approve", headers=auth)).ok
    reply = await service.client.put(
        f"/api/v1/feedback/{item_id}/reply", json={"body": "Lịch đã được đăng."}, headers=auth
    )
    assert reply.ok, await reply.text()
    return item_id


async def post_case_form(
    service: Service, item_id: int, action: str, **fields: str
) -> tuple[int, str]:
    headers = cookie(service)  # one session: the token is bound to it
    token = csrf_in(await page(service, f"{PAGE}/{item_id}"))
    response = await service.client.post(
        f"{PAGE}/{item_id}/{action}",
        data={"csrf": token, "ve": "ho-so", **fields},
        headers=headers,
        allow_redirects=False,
    )
    return response.status, response.headers.get("Location", "")


async def test_an_answered_suggestion_goes_on_and_off_the_questions_page(
    service: Service,
) -> None:
    item_id = await answered_suggestion(service)
    html = await page(service, f"{PAGE}/{item_id}")
    assert f'action="{PAGE}/{item_id}/dang-hoi-dap"' in html
    assert "Đăng lên Hỏi – Đáp" in html and "Gỡ khỏi Hỏi – Đáp" not in html

    status, location = await post_case_form(service, item_id, "dang-hoi-dap")
    assert (status, location) == (303, f"{PAGE}/{item_id}?da=dang-hoi-dap")
    assert await public_qa(service, item_id)
    shown = await page(service, location)
    assert "Đã đăng lên trang Hỏi – Đáp." in shown
    assert f'action="{PAGE}/{item_id}/go-hoi-dap"' in shown and "Gỡ khỏi Hỏi – Đáp" in shown
    assert f'id="hoi-dap-{item_id}"' in await (await service.client.get("/hoi-dap")).text()

    status, location = await post_case_form(service, item_id, "go-hoi-dap")
    assert (status, location) == (303, f"{PAGE}/{item_id}?da=go-hoi-dap")
    assert not await public_qa(service, item_id)
    assert "Đã gỡ khỏi trang Hỏi – Đáp." in await page(service, location)
    assert f'id="hoi-dap-{item_id}"' not in await (await service.client.get("/hoi-dap")).text()
    # Both steps are in the case's history, with who took them.
    history = await service.pool.fetch(
        "SELECT action, moderator_name FROM moderation_history WHERE feedback_id = $1"
        " AND action LIKE 'qa_%' ORDER BY id",
        item_id,
    )
    assert [r["action"] for r in history] == ["qa_show", "qa_hide"]
    assert all(r["moderator_name"] for r in history)
    case_page = await page(service, f"{PAGE}/{item_id}")
    assert "Đăng lên Hỏi – Đáp" in case_page and "Gỡ khỏi Hỏi – Đáp" in case_page


async def test_no_questions_button_where_it_does_not_apply(service: Service) -> None:
    unanswered = await submit(service, "Góp ý chưa được trả lời về giao diện trang.", None)
    on_article = await submit(service)
    auth = service.auth("moderator")
    for item_id in (unanswered, on_article):
        await service.client.post(f"/api/v1/feedback/{item_id}/approve", headers=auth)
        assert "Hỏi – Đáp" not in await page(service, f"{PAGE}/{item_id}")
    # Posted anyway: refused with 409 and nothing changes.
    for item_id in (unanswered, on_article):
        status, _ = await post_case_form(service, item_id, "dang-hoi-dap")
        assert status == 409
        assert not await public_qa(service, item_id)


async def test_the_questions_switch_needs_the_csrf_token(service: Service) -> None:
    item_id = await answered_suggestion(service)
    for token in ("", "sai"):
        response = await service.client.post(
            f"{PAGE}/{item_id}/dang-hoi-dap", data={"csrf": token}, headers=cookie(service)
        )
        assert response.status == 403
    editor = {"Cookie": f"bantin_access={service.token('editor')}"}
    response = await service.client.post(f"{PAGE}/{item_id}/dang-hoi-dap", headers=editor)
    assert response.status == 403
    assert not await public_qa(service, item_id)


# --- back to the same queue -----------------------------------------------------------------


async def test_an_action_from_a_filtered_queue_returns_to_the_same_filters(
    service: Service,
) -> None:
    marker = f"bão số {next(_serial)}"
    first = await submit(service, f"Xin hỏi về hỗ trợ sau {marker} cho bà con.")
    second = await submit(service, f"Xin thêm thông tin về {marker} ở xã bên.")
    queue_path = f"{PAGE}?trang-thai=pending&loai=article&q={marker.replace(' ', '+')}"
    html = await page(service, queue_path)
    case = case_in(html, first)
    for name, value in (("trang-thai", "pending"), ("loai", "article"), ("q", marker)):
        assert f'<input type="hidden" name="{name}" value="{value}">' in case

    token = csrf_in(html)
    filters = {"trang-thai": "pending", "loai": "article", "q": marker}
    response = await service.client.post(
        f"{PAGE}/{first}/duyet",
        data={"csrf": token, **filters},
        headers=cookie(service),
        allow_redirects=False,
    )
    assert response.status == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == PAGE
    assert parse_qs(location.query) == {
        "trang-thai": ["pending"],
        "loai": ["article"],
        "q": [marker],
        "da": ["duyet"],
    }
    after = await page(service, response.headers["Location"])
    assert "Đã duyệt ý kiến." in after
    assert f'id="y-kien-{second}"' in after and f'id="y-kien-{first}"' not in after

    # Rejecting from the unfiltered queue returns to it as before; odd filters are dropped.
    response = await service.client.post(
        f"{PAGE}/{second}/tu-choi",
        data={"csrf": token, "ly_do": domain.REJECT_REASONS[0], "loai": "khac", "q": " "},
        headers=cookie(service),
        allow_redirects=False,
    )
    assert (response.status, response.headers["Location"]) == (303, f"{PAGE}?da=tu-choi")
