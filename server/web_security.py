"""What every response says to the browser about itself (OWASP ASVS level 1, V14.4), and the
Origin check of state-changing requests that carry the session cookie (V13.2 / V4.2.2).

- **Headers**, on every response (pages, static files, the API, errors): a Content-Security-
  Policy with no inline script and no framing, X-Frame-Options, X-Content-Type-Options,
  Referrer-Policy, a Permissions-Policy that lets only our own pages use the camera, the
  microphone and screen capture, and HSTS over HTTPS.
- **Origin**: a POST, PUT, PATCH or DELETE to the API that carries the session cookie must come
  from one of the deployment's own origins (this node as the browser reached it, a reverse
  proxy's forwarded host, or another node of the deployment). A browser always sends Origin on
  such requests; a request with none is taken as a browser's only when its ``Sec-Fetch-Site``
  says so, and then must be ``same-origin``. Programs (the CLI, scripts) send neither, and a
  terminal's bearer token is no ambient credential, so neither is checked.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from server.api.routing import error_response
from server.security import SESSION_COOKIE

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

PERMISSIONS_POLICY = (
    "camera=(self), microphone=(self), display-capture=(self), geolocation=(), payment=(), "
    "usb=(), serial=(), bluetooth=()"
)
HSTS = "max-age=31536000"
"""A year; no includeSubDomains: the province's other sites on its domain are not ours."""


def content_security_policy(connect: str) -> str:
    """Our pages load only what this server serves; ``connect`` is where their sockets and
    requests may go."""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob:",
            f"connect-src {connect}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def connect_sources(secure: bool, scaled_out: bool) -> str:
    """Embedded, a page talks to its own server only. Scaled out, its socket follows the
    meeting to whichever node hosts it (``moved``), and nodes join after the page was served,
    so any host is allowed on the page's own scheme (scripts stay this server's own)."""
    if not scaled_out:
        return "'self'"
    return "'self' https: wss:" if secure else "'self' http: ws: https: wss:"


def own_origins(request: web.BaseRequest) -> set[str]:
    """This node's origin as the browser reached it (and as a reverse proxy forwards it)."""
    accepted = {f"{request.scheme}://{request.host}"}
    proto = request.headers.get("X-Forwarded-Proto")
    host = request.headers.get("X-Forwarded-Host")
    if proto or host:
        scheme = (proto or request.scheme).split(",")[0].strip()
        accepted.add(f"{scheme}://{(host or request.host).split(',')[0].strip()}")
    return accepted


def cross_origin_refusal(request: web.BaseRequest, other_origins: set[str]) -> str | None:
    """Why a state-changing request with the session cookie is refused, or None."""
    if request.method not in UNSAFE_METHODS or SESSION_COOKIE not in request.cookies:
        return None
    origin = request.headers.get("Origin")
    if origin is not None:
        if origin in own_origins(request) or origin in other_origins:
            return None
        return f"a request from {origin} may not act with this site's login"
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return f"a {fetch_site} request may not act with this site's login"
    return None


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
CLIENT: web.RequestKey[str | None] = web.RequestKey("client", object)  # type: ignore[arg-type]
"""Request key: the address of the browser or terminal behind any trusted reverse proxies."""


def client_address(request: web.BaseRequest, trusted: Sequence[Network]) -> str | None:
    """Who sent the request: the TCP peer, unless the peer is a trusted reverse proxy
    (``GIAOBAN_TRUSTED_PROXIES``); then the nearest address in ``X-Forwarded-For`` that is
    not one of them, read from the right (what a client writes there itself is further left
    and is never believed past an untrusted hop)."""
    peer = request.remote
    address = peer
    hops = ",".join(request.headers.getall("X-Forwarded-For", [])).split(",")
    for hop in [peer, *reversed(hops)]:
        try:
            ip = ipaddress.ip_address((hop or "").strip())
        except ValueError:
            return address  # unreadable: the last hop read stands
        address = str(ip)
        if not any(ip in network for network in trusted):
            return address
    return address


def client(request: web.BaseRequest) -> str:
    """The request's client address, as :func:`forwarded` found it."""
    return str(request.get(CLIENT) or request.remote or "-")


def forwarded(trusted: Sequence[Network]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Finds each request's client address once (:func:`client` reads it)."""

    @web.middleware
    async def find_client(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        request[CLIENT] = client_address(request, trusted)
        return await handler(request)

    return find_client


def middleware(
    other_origins: Callable[[], set[str]],
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Refuses cross-origin state changes made with the session cookie (403, JSON)."""

    @web.middleware
    async def check_origin(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        refusal = cross_origin_refusal(request, other_origins())
        if refusal is not None:
            return error_response(403, "forbidden", refusal, field="Origin")
        return await handler(request)

    return check_origin


def add_headers(app: web.Application, *, scaled_out: bool) -> None:
    """Every response of ``app`` (static files and errors included) carries the headers."""
    policies = {
        secure: content_security_policy(connect_sources(secure, scaled_out))
        for secure in (False, True)
    }

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", policies[request.secure])
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if request.secure:
            headers.setdefault("Strict-Transport-Security", HSTS)

    app.on_response_prepare.append(on_prepare)
