"""Logging in and out, and who the caller is."""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from aiohttp import web
from pydantic import StringConstraints

import web as web_assets
from rooms.access import ActorKind
from rooms.db import utcnow
from rooms.models import Hall, MeetingState, User
from rooms.schemas import NewPassword, Strict
from rooms.text import OneLine
from server.api.routing import Auth, Call, Endpoint, error_response, json_response
from server.api.schemas import HallOut, MeetingOut, TerminalHome, UserOut, WhoAmI
from server.auth import end_sessions
from server.models import WebSession
from server.security import SESSION_COOKIE, new_session_token, session_token_hash
from server.web_security import client

log = logging.getLogger("giaoban.auth")


class LoginIn(Strict):
    username: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), OneLine
    ]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


async def login(call: Call) -> web.StreamResponse:
    body: LoginIn = call.body
    services = call.services
    address = client(call.request)
    # The attempt is counted before the password is checked (one atomic step): parallel
    # guesses cannot all pass the brake while the hash runs.
    wait = await services.throttle.reserve(body.username, address)
    if wait > 0:
        log.warning("login throttled for %r from %s", body.username, address)
        seconds = math.ceil(wait)
        response = error_response(
            429,
            "too_many_attempts",
            f"too many failed logins; try again in {seconds} seconds",
            retry_after=seconds,
        )
        response.headers["Retry-After"] = str(seconds)
        return response
    user = await call.session.scalar(sa.select(User).where(User.username == body.username))
    ok = await services.passwords.verify(user.password_hash if user else None, body.password)
    if user is None or not ok or not user.active:
        log.info("login failed for %r from %s", body.username, address)
        return error_response(401, "bad_credentials", "wrong username or password")
    await services.throttle.succeeded(body.username, address)

    now = utcnow()
    token, token_hash = new_session_token()
    hours = services.settings.session_hours
    await call.session.execute(sa.delete(WebSession).where(WebSession.expires_at <= now))
    call.session.add(
        WebSession(token_hash=token_hash, user_id=user.id, expires_at=now + timedelta(hours=hours))
    )
    await call.session.commit()
    log.info("user %s logged in from %s", user.id, client(call.request))
    payload = WhoAmI(kind="user", name=user.full_name, user=UserOut.of(user))
    response = json_response(payload.model_dump(mode="json"))
    response.set_cookie(SESSION_COOKIE, token, max_age=hours * 3600, **_cookie_flags(call.request))
    return response


def _cookie_flags(request: web.Request) -> dict[str, Any]:
    """Login's and logout's Set-Cookie carry the same flags (a browser may otherwise keep
    or refuse the clearing one)."""
    return {"path": "/", "httponly": True, "samesite": "Lax", "secure": request.secure}


async def logout(call: Call) -> web.StreamResponse:
    cookie = call.request.cookies.get(SESSION_COOKIE)
    if cookie:
        await call.session.execute(
            sa.delete(WebSession).where(WebSession.token_hash == session_token_hash(cookie))
        )
        await call.session.commit()
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, **_cookie_flags(call.request))
    return response


class PasswordChangeIn(Strict):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    password: NewPassword


async def change_password(call: Call) -> web.StreamResponse:
    """A person changes their own password, giving the current one; their other logins end."""
    actor = call.actor
    assert actor is not None and actor.user_id is not None  # Auth.USER
    body: PasswordChangeIn = call.body
    services = call.services
    user = await call.session.get(User, actor.user_id)
    assert user is not None
    address = client(call.request)
    # Guessing the current password here is braked like guessing it at login.
    wait = await services.throttle.reserve(user.username, address)
    if wait > 0:
        seconds = math.ceil(wait)
        response = error_response(429, "too_many_attempts",
                                  f"too many failed attempts; try again in {seconds} seconds",
                                  retry_after=seconds)  # fmt: skip
        response.headers["Retry-After"] = str(seconds)
        return response
    if not await services.passwords.verify(user.password_hash, body.current_password):
        return error_response(422, "invalid", "the current password is wrong", "current_password")
    await services.throttle.succeeded(user.username, address)
    if body.password == body.current_password:
        return error_response(422, "invalid", "choose a password unlike the current one",
                              "password")  # fmt: skip
    user.password_hash = await services.passwords.hash(body.password)
    await call.session.commit()
    ended = await end_sessions(call.session, user.id, keep=call.request.cookies.get(SESSION_COOKIE))
    log.info("user %s changed their password; %d other login(s) ended", user.id, ended)
    return web.Response(status=204)


async def whoami(call: Call) -> WhoAmI:
    actor = call.actor
    assert actor is not None
    if actor.kind is ActorKind.TERMINAL:
        hall = await call.session.get(Hall, actor.hall_id)
        return WhoAmI(
            kind="terminal",
            name=actor.name,
            terminal_id=actor.terminal_id,
            hall=HallOut.of(hall) if hall else None,
        )
    user = await call.session.get(User, actor.user_id)
    assert user is not None
    return WhoAmI(kind="user", name=actor.name, user=UserOut.of(user))


async def terminal_home(call: Call) -> TerminalHome | web.Response:
    """A terminal's own hall and its live and upcoming meetings (the next 7 days)."""
    actor = call.actor
    if actor is None or actor.kind is not ActorKind.TERMINAL or actor.hall_id is None:
        return error_response(403, "forbidden", "this is for a paired terminal (bearer token)")
    hall = await call.session.get(Hall, actor.hall_id)
    assert hall is not None
    now = call.services.scheduler.clock()
    meetings = await call.services.scheduler.list(
        call.session, await call.access(), start=now, end=now + timedelta(days=7)
    )
    return TerminalHome(
        terminal_id=actor.terminal_id or 0,
        hall=HallOut.of(hall),
        now=now,
        meetings=[
            MeetingOut.of(m)
            for m in meetings
            if m.state in (MeetingState.SCHEDULED, MeetingState.LIVE)
        ],
        assets=web_assets.fingerprint(),
    )


ENDPOINTS = (
    Endpoint("POST", "/api/session", login, "Log in (sets the session cookie)", auth=Auth.PUBLIC,
             body=LoginIn, response=WhoAmI, tag="session"),
    Endpoint("DELETE", "/api/session", logout, "Log out", auth=Auth.PUBLIC, tag="session"),
    Endpoint("GET", "/api/session", whoami, "Who is calling: a person or a terminal",
             response=WhoAmI, tag="session"),
    Endpoint("POST", "/api/session/password", change_password,
             "Change one's own password (the current one is asked); one's other logins end",
             auth=Auth.USER, body=PasswordChangeIn, status=204, tag="session"),
    Endpoint("GET", "/api/terminal", terminal_home, "A terminal's hall and its next meetings",
             response=TerminalHome, tag="terminals"),
)  # fmt: skip
