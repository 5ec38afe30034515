"""What every response tells the browser about itself (OWASP ASVS level 1), and the refusal of
state changes made with the session cookie from another origin."""

from __future__ import annotations

import re

import pytest

from tests.conftest import meeting_body

PATHS = [
    "/", "/terminal", "/chair", "/present", "/secretariat", "/minutes", "/archive", "/admin",
    "/static/style.css", "/static/live.js", "/static/i18n/vi.json",
    "/api/session", "/api/meetings", "/api/health", "/api/openapi.json", "/metrics",
    "/api/archive/meetings", "/no/such/page", "/api/no-such-endpoint",
]  # fmt: skip


@pytest.mark.parametrize("path", PATHS)
async def test_every_page_and_api_family_sends_the_security_headers(clients, path):
    client = await clients("admin")
    reply = await client.get(path)
    headers = reply.headers
    csp = headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"  # no inline script, no eval, no CDN
    assert "unsafe" not in csp
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "display-capture=(self)" in headers["Permissions-Policy"]
    assert "Strict-Transport-Security" not in headers  # plain HTTP here; HTTPS: tests/web


async def test_a_cross_origin_post_with_the_session_cookie_is_refused(clients, org, server):
    admin = await clients("admin")
    own = str(server.make_url("")).rstrip("/")
    rotate = f"/api/terminals/{org.terminal_ids['A']}/rotate"
    # A page of another site, or of another port of ours (same-site), rotating a terminal's
    # token with the admin's cookie: refused, nothing changed.
    for origin in ("https://evil.example", own.replace("http://", "https://"), "null"):
        reply = await admin.post(rotate, headers={"Origin": origin})
        assert reply.status == 403, reply.text
        assert reply.body["error"]["field"] == "Origin"
        assert origin in reply.body["error"]["message"]
    refused = await admin.post(rotate, headers={"Sec-Fetch-Site": "same-site"})
    assert refused.status == 403
    still = await clients(terminal="A")
    assert (await still.get("/api/terminal")).status == 200  # its token still works
    # JSON bodies too, and the other unsafe methods.
    created = await admin.post(
        "/api/meetings", meeting_body(org), headers={"Origin": "https://evil.example"}
    )
    assert created.status == 403
    assert (
        await admin.delete("/api/session", headers={"Origin": "https://evil.example"})
    ).status == 403
    # From our own pages (and from programs, which send no Origin) it works.
    assert (await admin.post(rotate, headers={"Origin": own})).status == 200
    assert (await admin.post(rotate, headers={"Sec-Fetch-Site": "same-origin"})).status == 200
    assert (await admin.post(rotate)).status == 200


async def test_a_terminal_token_is_no_ambient_credential_and_is_not_origin_checked(clients):
    terminal = await clients(terminal="A")
    reply = await terminal.get("/api/terminal", headers={"Origin": "https://evil.example"})
    assert reply.status == 200


async def test_logging_in_from_another_origin_needs_no_cookie_and_is_not_refused(clients):
    anonymous = await clients()
    reply = await anonymous.post(
        "/api/session",
        {"username": "admin", "password": "wrong password"},
        headers={"Origin": "https://evil.example"},
    )
    assert reply.status == 401  # judged on its password, not its origin (no cookie yet)


def test_scaled_out_pages_may_follow_their_meeting_to_any_node_on_their_scheme():
    from server.web_security import connect_sources

    assert connect_sources(secure=True, scaled_out=False) == "'self'"
    assert connect_sources(secure=True, scaled_out=True) == "'self' https: wss:"
    assert "ws:" in connect_sources(secure=False, scaled_out=True).split()


async def test_every_state_change_of_the_api_checks_the_origin(clients):
    """Every POST, PUT, PATCH and DELETE the API documents, with the admin's cookie from a
    same-site page (another port of ours) and a body-less text/plain request (a form can send
    one): refused before it is looked at, whatever the path's ids."""
    admin = await clients("admin")
    spec = (await admin.get("/api/openapi.json")).body
    unsafe = [
        (method.upper(), re.sub(r"\{[^}]+\}", "1", path))
        for path, operations in spec["paths"].items()
        for method in operations
        if method in ("post", "put", "patch", "delete")
        and not (path == "/api/session" and method == "post")  # logging in: see below
    ]
    assert len(unsafe) > 20, unsafe  # rotate, revoke, start, end, approve, correct, verify…
    for method, path in unsafe:
        reply = await admin.request(
            method,
            path,
            data=b"x",
            headers={"Content-Type": "text/plain", "Sec-Fetch-Site": "same-site"},
        )
        assert reply.status == 403, (method, path, reply.status, reply.text)
        assert reply.body["error"]["field"] == "Origin", (method, path)
