"""Whether a request came over HTTPS: the gateway's X-Forwarded-Proto is believed only from a
proxy in TRUSTED_PROXIES, the rule client_address() applies to X-Forwarded-For."""

from __future__ import annotations

from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from services.articles.answers import is_https, scheme
from services.common.config import Settings
from services.common.web import SETTINGS


def request_from(peer: str, trusted: list[str], headers: dict[str, str]) -> web.Request:
    app = web.Application()
    app[SETTINGS] = Settings(
        service="articles",
        database_url="postgresql://nobody@127.0.0.1:1/none",
        amqp_url="amqp://guest:guest@127.0.0.1:1/",
        trusted_proxies=trusted,
    )
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (peer, 40000) if name == "peername" else default
    )
    return make_mocked_request("POST", "/dang-nhap", headers=headers, app=app, transport=transport)


GATEWAYS = ["10.0.0.0/8", "::1"]


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        ("10.1.2.3", {"X-Forwarded-Proto": "https"}, "https"),
        ("::1", {"X-Forwarded-Proto": "HTTPS"}, "https"),
        ("10.1.2.3", {"X-Forwarded-Proto": "http"}, "http"),
        ("10.1.2.3", {}, "http"),
        # Anyone else saying so is not believed.
        ("203.0.113.9", {"X-Forwarded-Proto": "https"}, "http"),
        ("", {"X-Forwarded-Proto": "https"}, "http"),
        # Only the two schemes count.
        ("10.1.2.3", {"X-Forwarded-Proto": "javascript"}, "http"),
        ("10.1.2.3", {"X-Forwarded-Proto": "https, http"}, "http"),
    ],
)
def test_the_scheme_comes_from_a_trusted_gateway_only(
    peer: str, headers: dict[str, str], expected: str
) -> None:
    request = request_from(peer, GATEWAYS, headers)
    assert scheme(request) == expected
    assert is_https(request) is (expected == "https")


def test_nothing_is_trusted_without_trusted_proxies() -> None:
    assert not is_https(request_from("127.0.0.1", [], {"X-Forwarded-Proto": "https"}))
