"""The moderation page (/quan-tri/phan-hoi) with the bantin_access cookie: who may see it,
and approve/reject buttons that need the page's CSRF token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from services.articles.domain import User
from services.articles.tokens import TokenIssuer
from tests.support.amqp import tap
from tests.support.feedback import Service, running_service

PAGE = "/quan-tri/phan-hoi"
NAME = "Võ Thị Mai"
EMAIL = "mai.vo@example.vn"


@pytest.fixture(scope="module")
async def service() -> AsyncIterator[Service]:
    async with running_service() as service:
        yield service


def cookie(service: Service, *roles: str) -> dict[str, str]:
    return {"Cookie": f"bantin_access={service.token(*roles)}"}


async def pending_item(service: Service, text: str) -> int:
    response = await service.client.post(
        "/api/v1/feedback",
        json={"article_id": None, "author_name": NAME, "email": EMAIL, "body": text},
    )
    assert response.status == 202
    return int((await response.json())["id"])


def csrf_in(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page carries no CSRF token"
    return found[1]


async def status_of(service: Service, item_id: int) -> str:
    return str(await service.pool.fetchval("SELECT status FROM feedback WHERE id = $1", item_id))


async def test_without_a_session_the_page_sends_to_the_login(service: Service) -> None:
    response = await service.client.get(PAGE, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"].startswith("/dang-nhap")


async def test_an_editor_may_not_moderate(service: Service) -> None:
    response = await service.client.get(PAGE, headers=cookie(service, "editor"))
    assert response.status == 403
    assert "Không có quyền" in await response.text()


@pytest.mark.parametrize("role", ["moderator", "admin"])
async def test_a_moderator_sees_pending_feedback_with_the_email(
    service: Service, role: str
) -> None:
    item_id = await pending_item(service, f"Góp ý để {role} xem trên trang kiểm duyệt.")
    response = await service.client.get(PAGE, headers=cookie(service, role))
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = await response.text()
    assert "Kiểm duyệt ý kiến bạn đọc" in page
    assert f"Góp ý để {role} xem trên trang kiểm duyệt." in page
    assert NAME in page and EMAIL in page
    assert f'action="{PAGE}/{item_id}/duyet"' in page


async def test_approve_and_reject_buttons_work_with_the_token(service: Service) -> None:
    approved = await pending_item(service, "Ý kiến sẽ được duyệt từ trang kiểm duyệt.")
    rejected = await pending_item(service, "Ý kiến sẽ bị từ chối từ trang kiểm duyệt.")
    headers = cookie(service, "moderator")
    token = csrf_in(await (await service.client.get(PAGE, headers=headers)).text())
    async with tap(service.amqp_url, "feedback.approved") as events:
        response = await service.client.post(
            f"{PAGE}/{approved}/duyet", data={"csrf": token}, headers=headers
        )
        assert response.status == 200  # after the 303 back to the list
        assert "Đã duyệt ý kiến." in await response.text()
        [message] = await events.wait_for(1)
    assert message["data"]["id"] == approved
    response = await service.client.post(
        f"{PAGE}/{rejected}/tu-choi",
        data={"csrf": token, "ly_do": "Trùng lặp"},
        headers=headers,
    )
    assert response.status == 200
    assert (await status_of(service, approved), await status_of(service, rejected)) == (
        "approved",
        "rejected",
    )
    page = await response.text()
    assert "Ý kiến sẽ được duyệt" not in page and "Ý kiến sẽ bị từ chối" not in page


@pytest.mark.parametrize("token", [None, "", "sai"])
async def test_a_button_without_the_right_token_is_refused(
    service: Service, token: str | None
) -> None:
    item_id = await pending_item(service, f"Ý kiến gửi kèm mã chống giả mạo {token!r}.")
    data = {} if token is None else {"csrf": token}
    response = await service.client.post(
        f"{PAGE}/{item_id}/duyet", data=data, headers=cookie(service, "moderator")
    )
    assert response.status == 403
    assert await status_of(service, item_id) == "pending"


async def test_a_token_from_another_session_is_refused(service: Service) -> None:
    item_id = await pending_item(service, "Ý kiến với mã của một phiên khác.")
    other = csrf_in(await (await service.client.get(PAGE, headers=cookie(service, "admin"))).text())
    response = await service.client.post(
        f"{PAGE}/{item_id}/duyet", data={"csrf": other}, headers=cookie(service, "moderator")
    )
    assert response.status == 403
    assert await status_of(service, item_id) == "pending"


async def test_a_form_stays_good_when_its_sessions_token_is_renewed(service: Service) -> None:
    """The desk's forms are bound to the sign-in session a token was renewed from (its
    sid), so session.js renewing the token while the page is open keeps them good; a
    token of another session is refused."""
    now = datetime.now(UTC)
    user = User(5, "user5", "Kiểm duyệt viên", frozenset({"moderator"}), False, now, now)
    issuer = TokenIssuer(service.keys.private_pem)

    def renewed(session_id: int) -> dict[str, str]:
        return {"Cookie": f"bantin_access={issuer.issue(user, session_id=session_id)[0]}"}

    first, second = (
        await pending_item(service, "Ý kiến thứ nhất."),
        await pending_item(service, "Ý kiến thứ hai."),
    )
    token = csrf_in(await (await service.client.get(PAGE, headers=renewed(41))).text())
    other_session = await service.client.post(
        f"{PAGE}/{first}/duyet", data={"csrf": token}, headers=renewed(42)
    )
    assert other_session.status == 403
    same_session = await service.client.post(
        f"{PAGE}/{first}/duyet", data={"csrf": token}, headers=renewed(41), allow_redirects=False
    )
    assert same_session.status == 303
    assert await status_of(service, first) == "approved"
    assert await status_of(service, second) == "pending"


async def test_approving_twice_from_the_page_conflicts(service: Service) -> None:
    item_id = await pending_item(service, "Ý kiến bị bấm duyệt hai lần liền.")
    headers = cookie(service, "moderator")
    token = csrf_in(await (await service.client.get(PAGE, headers=headers)).text())
    first = await service.client.post(
        f"{PAGE}/{item_id}/duyet", data={"csrf": token}, headers=headers
    )
    again = await service.client.post(
        f"{PAGE}/{item_id}/tu-choi", data={"csrf": token, "ly_do": "Trùng lặp"}, headers=headers
    )
    assert (first.status, again.status) == (200, 409)
    assert "Không thể từ chối ý kiến đã được duyệt" in await again.text()
    assert await status_of(service, item_id) == "approved"


async def test_a_cross_site_change_with_the_cookie_is_refused(service: Service) -> None:
    item_id = await pending_item(service, "Ý kiến mà trang web khác muốn duyệt hộ.")
    response = await service.client.post(
        f"/api/v1/feedback/{item_id}/approve",
        headers={**cookie(service, "moderator"), "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status == 403
    assert (await response.json())["code"] == "cross_site_request"
    assert await status_of(service, item_id) == "pending"


@pytest.mark.parametrize("before", ["", "x", "²", "9" * 30])
async def test_a_bad_paging_parameter_shows_the_first_page(service: Service, before: str) -> None:
    response = await service.client.get(
        f"{PAGE}?truoc={before}", headers=cookie(service, "moderator")
    )
    assert response.status == 200
