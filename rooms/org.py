"""The organisation: units, halls, terminals (paired by token) and users with roles."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Collection, Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.access import Access, Actor, ActorKind, Grant
from rooms.db import utcnow
from rooms.errors import Invalid, NotFound, StateError
from rooms.models import Hall, RoleName, Terminal, Unit, UnitLevel, User, UserRole
from rooms.schemas import GrantIn, HallIn, HallPatch, TerminalIn, UnitIn, UserIn

log = logging.getLogger("giaoban.org")

TOKEN_PREFIX = "gbt_"
CHILD_LEVEL = {UnitLevel.PROVINCE: UnitLevel.DISTRICT, UnitLevel.DISTRICT: UnitLevel.COMMUNE}


def hash_token(token: str) -> str:
    """Terminal tokens are long random secrets: SHA-256 is enough to store them."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_feed_key() -> str:
    return secrets.token_urlsafe(24)


def actor_for_user(user: User) -> Actor:
    return Actor(
        kind=ActorKind.USER,
        name=user.full_name,
        user_id=user.id,
        grants=tuple(Grant(r.role, r.unit_id) for r in user.roles),
    )


def actor_for_terminal(terminal: Terminal, hall_name: str) -> Actor:
    return Actor(
        kind=ActorKind.TERMINAL,
        name=hall_name,
        terminal_id=terminal.id,
        hall_id=terminal.hall_id,
    )


async def authenticate_terminal(session: AsyncSession, token: str) -> Actor | None:
    """The terminal a bearer token belongs to, unless revoked; marks it as seen."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    terminal = await session.scalar(
        sa.select(Terminal).where(Terminal.token_hash == hash_token(token))
    )
    if terminal is None or terminal.revoked_at is not None:
        return None
    hall = await session.get(Hall, terminal.hall_id)
    if hall is None or not hall.active:
        return None
    terminal.last_seen_at = utcnow()
    await session.commit()
    return actor_for_terminal(terminal, hall.name)


async def terminals_gone(
    session: AsyncSession, tokens: Collection[tuple[int, str]]
) -> set[tuple[int, str]]:
    """Of open sockets' (terminal id, the token they connected with), those whose token no
    longer lets them in: revoked, replaced by a new pairing, or their hall deactivated."""
    if not tokens:
        return set()
    ids = {terminal_id for terminal_id, _ in tokens}
    rows = (
        await session.execute(
            sa.select(Terminal.id, Terminal.token_hash)
            .join(Hall, Hall.id == Terminal.hall_id)
            .where(Terminal.id.in_(ids), Terminal.revoked_at.is_(None), Hall.active)
        )
    ).all()
    current: dict[int, str] = {terminal_id: digest for terminal_id, digest in rows}
    return {(t, token) for t, token in tokens if current.get(t) != hash_token(token)}


# -- units and halls ---------------------------------------------------------------------


async def list_units(session: AsyncSession, access: Access) -> Sequence[Unit]:
    visible = access.visible_units()
    query = sa.select(Unit).order_by(Unit.id)
    if visible is not None:
        lineage = {a for u in visible for a in access.tree.lineage(u)}
        query = query.where(Unit.id.in_(lineage))
    return (await session.scalars(query)).all()


async def create_unit(session: AsyncSession, access: Access, data: UnitIn) -> Unit:
    parent = await session.get(Unit, data.parent_id)
    if parent is None:
        raise Invalid(f"no unit {data.parent_id}", field="parent_id")
    access.require(RoleName.SECRETARIAT, parent.id, "Adding a unit")
    level = CHILD_LEVEL.get(parent.level)
    if level is None:
        raise Invalid("a commune has no units below it", field="parent_id")
    if await session.scalar(sa.select(Unit.id).where(Unit.code == data.code)):
        raise Invalid(f"the code {data.code} is taken", field="code")
    unit = Unit(name=data.name, code=data.code, level=level, parent_id=parent.id)
    session.add(unit)
    await session.commit()
    log.info("unit %s created by %s", unit.id, access.actor.label)
    return unit


async def list_halls(
    session: AsyncSession, access: Access, unit_id: int | None = None
) -> Sequence[Hall]:
    query = sa.select(Hall).order_by(Hall.unit_id, Hall.id)
    if unit_id is not None:
        query = query.where(Hall.unit_id == unit_id)
    if access.actor.kind is ActorKind.TERMINAL:
        query = query.where(Hall.id == access.actor.hall_id)
    else:
        visible = access.visible_units()
        if visible is not None:
            query = query.where(Hall.unit_id.in_(visible))
    return (await session.scalars(query)).all()


async def get_hall_unchecked(session: AsyncSession, hall_id: int) -> Hall:
    """A hall by id, for callers that checked access another way (a signed feed key)."""
    hall = await session.get(Hall, hall_id, populate_existing=True)
    if hall is None:
        raise NotFound(f"no hall {hall_id}")
    return hall


async def nearest_unit_of_hall(
    session: AsyncSession, hall_id: int, codes: Collection[str]
) -> str | None:
    """The code of the nearest unit in ``codes`` that the hall belongs to: its own unit, or
    one above it (a commune's hall belongs to its district); none when there is none."""
    if not codes:
        return None
    hall = await session.get(Hall, hall_id)
    if hall is None:
        return None
    units = {u.id: u for u in (await session.scalars(sa.select(Unit))).all()}
    unit = units.get(hall.unit_id)
    seen: set[int] = set()
    while unit is not None and unit.id not in seen:
        if unit.code in codes:
            return unit.code
        seen.add(unit.id)
        unit = units.get(unit.parent_id) if unit.parent_id is not None else None
    return None


async def get_hall(session: AsyncSession, access: Access, hall_id: int) -> Hall:
    hall = await get_hall_unchecked(session, hall_id)
    if access.actor.kind is ActorKind.TERMINAL:
        if access.actor.hall_id != hall.id:
            raise NotFound(f"no hall {hall_id}")
    elif not access.sees_unit(hall.unit_id):
        raise NotFound(f"no hall {hall_id}")
    return hall


async def create_hall(session: AsyncSession, access: Access, data: HallIn) -> Hall:
    if await session.get(Unit, data.unit_id) is None:
        raise Invalid(f"no unit {data.unit_id}", field="unit_id")
    access.require(RoleName.SECRETARIAT, data.unit_id, "Adding a hall")
    hall = Hall(unit_id=data.unit_id, name=data.name, address=data.address)
    session.add(hall)
    await session.commit()
    log.info("hall %s created by %s", hall.id, access.actor.label)
    return hall


async def update_hall(session: AsyncSession, access: Access, hall_id: int, data: HallPatch) -> Hall:
    hall = await get_hall(session, access, hall_id)
    access.require(RoleName.SECRETARIAT, hall.unit_id, "Changing a hall")
    for name in data.model_fields_set:
        value = getattr(data, name)
        if value is not None:
            setattr(hall, name, value)
    await session.commit()
    log.info("hall %s changed by %s", hall.id, access.actor.label)
    return hall


# -- calendar feeds ------------------------------------------------------------------------


async def feed_key_of(session: AsyncSession, hall: Hall) -> str:
    """The key of the hall's calendar feed, made (random) the first time it is needed."""
    if hall.feed_key is None:
        await session.execute(
            sa.update(Hall)
            .where(Hall.id == hall.id, Hall.feed_key.is_(None))
            .values(feed_key=new_feed_key())
        )  # two callers at once: the first one's key stays
        await session.commit()
        await session.refresh(hall)
    assert hall.feed_key is not None
    return hall.feed_key


async def rotate_feed_key(session: AsyncSession, access: Access, hall_id: int) -> Hall:
    """A new key for the hall's feed (admin): the URL calendar clients had answers 404."""
    hall = await get_hall(session, access, hall_id)
    access.require_admin("Rotating a hall's feed key")
    hall.feed_key = new_feed_key()
    hall.feed_key_rotated_at = utcnow()
    await session.commit()
    log.info("feed key of hall %s rotated by %s", hall.id, access.actor.label)
    return hall


async def hall_by_feed_key(session: AsyncSession, hall_id: int, key: str) -> Hall | None:
    """The active hall whose feed ``key`` opens, or None."""
    hall = await session.get(Hall, hall_id, populate_existing=True)
    if hall is None or not hall.active or hall.feed_key is None:
        return None
    return hall if hmac.compare_digest(key.encode(), hall.feed_key.encode()) else None


# -- terminals ---------------------------------------------------------------------------


async def list_terminals(session: AsyncSession, access: Access, hall_id: int) -> Sequence[Terminal]:
    hall = await get_hall(session, access, hall_id)
    access.require(RoleName.SECRETARIAT, hall.unit_id, "Listing a hall's terminals")
    return (
        await session.scalars(
            sa.select(Terminal).where(Terminal.hall_id == hall.id).order_by(Terminal.id)
        )
    ).all()


async def pair_terminal(
    session: AsyncSession, access: Access, hall_id: int, data: TerminalIn
) -> tuple[Terminal, str]:
    """A new terminal for the hall and its token (shown once, only its hash is kept)."""
    hall = await get_hall(session, access, hall_id)
    access.require(RoleName.SECRETARIAT, hall.unit_id, "Pairing a terminal")
    if not hall.active:
        raise StateError("the hall is inactive", field="hall_id")
    token = new_token()
    terminal = Terminal(hall_id=hall.id, label=data.label, token_hash=hash_token(token))
    session.add(terminal)
    await session.commit()
    log.info("terminal %s paired to hall %s by %s", terminal.id, hall.id, access.actor.label)
    return terminal, token


async def _managed_terminal(
    session: AsyncSession, access: Access, terminal_id: int, action: str
) -> Terminal:
    terminal = await session.get(Terminal, terminal_id)
    if terminal is None:
        raise NotFound(f"no terminal {terminal_id}")
    hall = await get_hall(session, access, terminal.hall_id)
    access.require(RoleName.SECRETARIAT, hall.unit_id, action)
    return terminal


async def rotate_terminal(
    session: AsyncSession, access: Access, terminal_id: int
) -> tuple[Terminal, str]:
    """A new token for the terminal; the old one stops working at once."""
    terminal = await _managed_terminal(session, access, terminal_id, "Rotating a terminal's token")
    if terminal.revoked_at is not None:
        raise StateError("the terminal is revoked; pair a new one")
    token = new_token()
    terminal.token_hash = hash_token(token)
    terminal.rotated_at = utcnow()
    await session.commit()
    log.info("terminal %s token rotated by %s", terminal.id, access.actor.label)
    return terminal, token


async def revoke_terminal(session: AsyncSession, access: Access, terminal_id: int) -> Terminal:
    terminal = await _managed_terminal(session, access, terminal_id, "Revoking a terminal")
    if terminal.revoked_at is None:
        terminal.revoked_at = utcnow()
        await session.commit()
        log.info("terminal %s revoked by %s", terminal.id, access.actor.label)
    return terminal


# -- users -------------------------------------------------------------------------------


async def list_users(session: AsyncSession, access: Access) -> Sequence[User]:
    access.require_admin("Listing users")
    return (await session.scalars(sa.select(User).order_by(User.id))).all()


async def create_user(
    session: AsyncSession, access: Access, data: UserIn, password_hash: str
) -> User:
    access.require_admin("Creating a user")
    if await session.scalar(sa.select(User.id).where(User.username == data.username)):
        raise Invalid(f"the username {data.username} is taken", field="username")
    roles = [await _role(session, grant, f"roles.{i}.") for i, grant in enumerate(data.roles)]
    user = User(
        username=data.username, full_name=data.full_name, password_hash=password_hash, roles=roles
    )
    session.add(user)
    await session.commit()
    log.info("user %s created by %s", user.id, access.actor.label)
    return user


async def _role(session: AsyncSession, grant: GrantIn, where: str = "") -> UserRole:
    """A role as granted: admin everywhere, every other role over one existing unit."""
    if grant.role is RoleName.ADMIN:
        if grant.unit_id is not None:
            raise Invalid("admin is not scoped to a unit", field=f"{where}unit_id")
    elif grant.unit_id is None:
        raise Invalid(f"{grant.role.value} needs a unit", field=f"{where}unit_id")
    elif await session.get(Unit, grant.unit_id) is None:
        raise Invalid(f"no unit {grant.unit_id}", field=f"{where}unit_id")
    return UserRole(role=grant.role, unit_id=grant.unit_id)


async def add_role(session: AsyncSession, access: Access, user_id: int, grant: GrantIn) -> User:
    """Give an existing user one more role (admin)."""
    user = await _managed_user(session, access, user_id, "Giving a role")
    role = await _role(session, grant)
    if any(r.role is role.role and r.unit_id == role.unit_id for r in user.roles):
        raise StateError(f"user {user_id} already has this role")
    user.roles.append(role)
    await session.commit()
    await session.refresh(user, ["roles"])
    log.info("role %s (unit %s) given to user %s by %s", role.role.value, role.unit_id, user.id,
             access.actor.label)  # fmt: skip
    return user


async def _managed_user(session: AsyncSession, access: Access, user_id: int, action: str) -> User:
    access.require_admin(action)
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


async def set_user_active(
    session: AsyncSession, access: Access, user_id: int, active: bool
) -> User:
    """Deactivate (the person can no longer log in) or reactivate a user; the caller ends a
    deactivated user's sessions."""
    action = "Reactivating a user" if active else "Deactivating a user"
    user = await _managed_user(session, access, user_id, action)
    if not active and user.id == access.actor.user_id:
        raise StateError("you cannot deactivate your own account")
    if not active and user.active and any(r.role is RoleName.ADMIN for r in user.roles):
        await _keep_an_admin(session, user.id)
    if user.active != active:
        user.active = active
        await session.commit()
        log.info("user %s %s by %s", user.id, "reactivated" if active else "deactivated",
                 access.actor.label)  # fmt: skip
    return user


async def _keep_an_admin(session: AsyncSession, user_id: int) -> None:
    """Refuse to leave the deployment without an active administrator (nobody could manage
    people any more but from the server's command line)."""
    others = await session.scalar(
        sa.select(sa.func.count(sa.distinct(User.id)))
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == RoleName.ADMIN, User.active, User.id != user_id)
    )
    if not others:
        raise StateError(
            "this is the last active administrator: give another person the admin role first"
        )


async def reset_password(
    session: AsyncSession, access: Access, user_id: int, password_hash: str
) -> User:
    """An admin sets another person's password (the caller ends that person's sessions)."""
    user = await _managed_user(session, access, user_id, "Resetting a password")
    user.password_hash = password_hash
    await session.commit()
    log.info("password of user %s reset by %s", user.id, access.actor.label)
    return user


async def remove_role(
    session: AsyncSession, access: Access, user_id: int, role: RoleName, unit_id: int | None
) -> User:
    user = await _managed_user(session, access, user_id, "Removing a role")
    grant = next((r for r in user.roles if r.role is role and r.unit_id == unit_id), None)
    if grant is None:
        where = f" of unit {unit_id}" if unit_id is not None else ""
        raise NotFound(f"user {user_id} has no role {role.value}{where}")
    if len(user.roles) == 1:
        raise StateError("this is the user's only role: deactivate the user instead")
    if role is RoleName.ADMIN and user.id == access.actor.user_id:
        raise StateError("you cannot remove your own admin role")
    if role is RoleName.ADMIN and user.active:
        await _keep_an_admin(session, user.id)
    user.roles.remove(grant)
    await session.commit()
    await session.refresh(user, ["roles"])
    log.info("role %s (unit %s) of user %s removed by %s", role.value, unit_id, user.id,
             access.actor.label)  # fmt: skip
    return user
