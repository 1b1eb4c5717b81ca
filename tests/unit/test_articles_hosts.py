"""Absolute links never come from a forged Host: SITE_URL when it is set, else the request's
Host only when its name is one of ALLOWED_HOSTS (a 400 otherwise)."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from services.articles.config import CONFIG, ArticlesConfig, allowed_hosts
from services.articles.domain import host_name
from services.articles.pages import origin


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("bantin.vn", "bantin.vn"),
        ("Bantin.VN:8080", "bantin.vn"),
        ("127.0.0.1:8080", "127.0.0.1"),
        ("[::1]:8080", "::1"),
        ("bantin.vn:@evil.example", None),
        ("bantin.vn@evil.example", None),
        ("evil.example/tin", None),
        ("bantin.vn:80:81", None),
        ("", None),
    ],
)
def test_the_name_of_a_host_header(host: str, name: str | None) -> None:
    assert host_name(host) == name


def test_allowed_hosts_are_read_as_lower_case_names() -> None:
    assert allowed_hosts("Bantin.vn, www.bantin.vn [::1]") == {"bantin.vn", "www.bantin.vn", "::1"}
    assert allowed_hosts("  ") == {"localhost", "127.0.0.1", "::1"}


def request_for(host: str, config: ArticlesConfig) -> web.Request:
    app = web.Application()
    app[CONFIG] = config
    return make_mocked_request("GET", "/tin/1", headers={"Host": host}, app=app)


ALLOWED = ArticlesConfig(allowed_hosts=frozenset({"bantin.vn"}))


def test_links_use_an_allowed_host_with_its_port() -> None:
    assert origin(request_for("bantin.vn:8080", ALLOWED)) == "http://bantin.vn:8080"


@pytest.mark.parametrize(
    "host", ["bantin.vn:@evil.example", "evil.example", "bantin.vn.evil.example"]
)
def test_a_forged_host_is_refused_not_written_into_a_link(host: str) -> None:
    with pytest.raises(web.HTTPBadRequest):
        origin(request_for(host, ALLOWED))


def test_site_url_wins_over_any_host() -> None:
    config = ArticlesConfig(site_url="https://tin.example.vn", allowed_hosts=frozenset({"x"}))
    assert origin(request_for("evil.example", config)) == "https://tin.example.vn"
