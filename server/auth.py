"""Who is calling: a person by the session cookie, a terminal by its bearer token."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.access import Actor
from rooms.db import utcnow
from rooms.models import User
from rooms.org import actor_for_user, authenticate_terminal
from server.models import WebSession
from server.security import session_token_hash


async def person_by_cookie(session: AsyncSession, cookie: str | None) -> Actor | None:
    """The person whose unexpired login the cookie value names."""
    if not cookie or len(cookie) > 100:
        return None
    row = await session.get(WebSession, session_token_hash(cookie))
    if row is None or row.expires_at <= utcnow():
        return None
    user = await session.scalar(sa.select(User).where(User.id == row.user_id, User.active))
    return None if user is None else actor_for_user(user)


async def terminal_by_token(session: AsyncSession, token: str | None) -> Actor | None:
    """The terminal a bearer token belongs to, unless revoked."""
    if not token:
        return None
    return await authenticate_terminal(session, token.strip())
