"""Browsers open the /live socket only from the server's own pages, over HTTPS too."""

from __future__ import annotations

from aiohttp.test_utils import make_mocked_request

from server.app import same_origin


def environ(url: str, **headers: str) -> dict[str, object]:
    scheme, _, host = url.partition("://")
    request = make_mocked_request("GET", "/socket.io/", headers={"Host": host, **headers})
    request = request.clone(scheme=scheme)
    return {"aiohttp.request": request}


def test_a_page_of_the_server_itself_may_connect_over_https_and_http():
    assert same_origin("https://10.0.0.5:8443", environ("https://10.0.0.5:8443"))
    assert same_origin("http://localhost:8080", environ("http://localhost:8080"))


def test_another_origin_may_not():
    assert not same_origin("https://evil.example", environ("https://10.0.0.5:8443"))
    assert not same_origin("http://10.0.0.5:8443", environ("https://10.0.0.5:8443"))
    assert not same_origin(None, environ("https://10.0.0.5:8443"))


def test_behind_a_reverse_proxy_the_forwarded_origin_is_accepted():
    proxied = environ(
        "http://127.0.0.1:8443",
        **{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "giaoban.gov.vn"},
    )
    assert same_origin("https://giaoban.gov.vn", proxied)
