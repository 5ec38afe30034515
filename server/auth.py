"""Who is calling: a person by the session cookie, a terminal by its bearer token."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.access import Actor
from rooms.db import utcnow
from rooms.models import User
from rooms.org import actor_for_user, authenticate_terminal
from server.models import WebSession
from server.security import session_token_hash

TOUCH_EVERY = timedelta(minutes=1)
"""A session's last use is written at most this often (not on every request)."""


async def person_by_cookie(
    session: AsyncSession, cookie: str | None, idle: timedelta | None = None
) -> Actor | None:
    """The person whose unexpired login the cookie value names.

    A login unused for longer than ``idle`` is refused and deleted; a used one is marked as
    used now (terminals use their token, never a login session)."""
    if not cookie or len(cookie) > 100:
        return None
    row = await session.get(WebSession, session_token_hash(cookie))
    if row is None:
        return None
    now = utcnow()
    last_used = row.last_seen_at or row.created_at
    if row.expires_at <= now or (idle is not None and now - last_used > idle):
        await session.delete(row)
        await session.commit()
        return None
    user = await session.scalar(sa.select(User).where(User.id == row.user_id, User.active))
    if user is None:
        return None
    if now - last_used >= TOUCH_EVERY:
        row.last_seen_at = now
        await session.commit()
    return actor_for_user(user)


async def touch_session(session: AsyncSession, cookie: str) -> None:
    """The login was in use until now (a live socket that has just closed)."""
    await session.execute(
        sa.update(WebSession)
        .where(WebSession.token_hash == session_token_hash(cookie))
        .values(last_seen_at=utcnow())
    )
    await session.commit()


async def logins_in_use(session: AsyncSession, logins: Mapping[str, int]) -> dict[str, str]:
    """Open sockets' logins (cookie → its person): each one still good is used now (an open
    socket is use, however long the meeting); the answer names those that have ended, with
    why: ``deactivated`` (the person) or ``logged_out`` (logged out, here or everywhere,
    removed, or past its lifetime)."""
    if not logins:
        return {}
    by_hash = {session_token_hash(c): c for c in logins}
    now = utcnow()
    live = set(
        await session.scalars(
            sa.select(WebSession.token_hash).where(
                WebSession.token_hash.in_(by_hash), WebSession.expires_at > now
            )
        )
    )
    people = set(logins.values())
    active = set(await session.scalars(sa.select(User.id).where(User.id.in_(people), User.active)))
    ended: dict[str, str] = {}
    for digest, cookie in by_hash.items():
        if logins[cookie] not in active:
            ended[cookie] = "deactivated"
        elif digest not in live:
            ended[cookie] = "logged_out"
    good = [digest for digest, cookie in by_hash.items() if cookie not in ended]
    if good:  # as a request does: written at most once a minute
        stale = sa.or_(
            WebSession.last_seen_at.is_(None), WebSession.last_seen_at <= now - TOUCH_EVERY
        )
        await session.execute(
            sa.update(WebSession)
            .where(WebSession.token_hash.in_(good), stale)
            .values(last_seen_at=now)
        )
        await session.commit()
    return ended


async def end_sessions(session: AsyncSession, user_id: int, keep: str | None = None) -> int:
    """Log a person out everywhere (but for the login whose cookie is ``keep``)."""
    query = sa.delete(WebSession).where(WebSession.user_id == user_id)
    if keep is not None:
        query = query.where(WebSession.token_hash != session_token_hash(keep))
    result = await session.execute(query)
    await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


async def terminal_by_token(session: AsyncSession, token: str | None) -> Actor | None:
    """The terminal a bearer token belongs to, unless revoked."""
    if not token:
        return None
    return await authenticate_terminal(session, token.strip())
