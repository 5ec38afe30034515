"""Units, halls, terminals and users."""

from __future__ import annotations

import sqlalchemy as sa
from pydantic import BaseModel

from rooms import org
from rooms.errors import NotFound
from rooms.models import RoleName, Unit, User
from rooms.schemas import (
    GrantIn,
    HallIn,
    HallPatch,
    Id,
    PasswordIn,
    TerminalIn,
    UnitIn,
    UserIn,
)
from server.api.routing import Auth, Call, Endpoint
from server.api.schemas import HallOut, TerminalOut, TerminalPaired, UnitOut, UserOut, UserRef
from server.auth import end_sessions


class HallQuery(BaseModel):
    unit_id: Id | None = None


async def list_units(call: Call) -> list[UnitOut]:
    return [UnitOut.of(u) for u in await org.list_units(call.session, await call.access())]


async def create_unit(call: Call) -> UnitOut:
    return UnitOut.of(await org.create_unit(call.session, await call.access(), call.body))


async def list_chairs(call: Call) -> list[UserRef]:
    """Who may chair a meeting of the unit (a chair role over it or above): the meeting editor's
    choice for a secretariat, who may not list users."""
    unit_id = call.path_id("unit_id")
    access = await call.access()
    if await call.session.get(Unit, unit_id) is None or not access.sees_unit(unit_id):
        raise NotFound(f"no unit {unit_id}")
    access.require(RoleName.SECRETARIAT, unit_id, "Listing a unit's chairs")
    users = await call.session.scalars(sa.select(User).where(User.active).order_by(User.full_name))
    return [
        UserRef.model_validate(u)
        for u in users
        if any(r.role is RoleName.CHAIR and access.tree.covers(r.unit_id, unit_id) for r in u.roles)
    ]


async def list_halls(call: Call) -> list[HallOut]:
    halls = await org.list_halls(call.session, await call.access(), call.query.unit_id)
    return [HallOut.of(h) for h in halls]


async def get_hall(call: Call) -> HallOut:
    return HallOut.of(
        await org.get_hall(call.session, await call.access(), call.path_id("hall_id"))
    )


async def create_hall(call: Call) -> HallOut:
    return HallOut.of(await org.create_hall(call.session, await call.access(), call.body))


async def update_hall(call: Call) -> HallOut:
    access = await call.access()
    hall = await org.update_hall(call.session, access, call.path_id("hall_id"), call.body)
    if not hall.active:  # its terminals no longer get in: their open sockets go now
        for terminal in await org.list_terminals(call.session, access, hall.id):
            await call.services.drop_terminal(terminal.id, "the hall was deactivated")
    return HallOut.of(hall)


async def list_terminals(call: Call) -> list[TerminalOut]:
    terminals = await org.list_terminals(call.session, await call.access(), call.path_id("hall_id"))
    return [TerminalOut.of(t) for t in terminals]


def _paired(call: Call, terminal: org.Terminal, token: str) -> TerminalPaired:
    return TerminalPaired(
        terminal=TerminalOut.of(terminal),
        token=token,
        pairing_url=f"{call.base_url()}/terminal#token={token}",
    )


async def pair_terminal(call: Call) -> TerminalPaired:
    terminal, token = await org.pair_terminal(
        call.session, await call.access(), call.path_id("hall_id"), call.body
    )
    return _paired(call, terminal, token)


async def rotate_terminal(call: Call) -> TerminalPaired:
    terminal, token = await org.rotate_terminal(
        call.session, await call.access(), call.path_id("terminal_id")
    )
    await call.services.drop_terminal(terminal.id, "the terminal's token was replaced")
    return _paired(call, terminal, token)


async def revoke_terminal(call: Call) -> TerminalOut:
    terminal = await org.revoke_terminal(
        call.session, await call.access(), call.path_id("terminal_id")
    )
    await call.services.drop_terminal(terminal.id, "the terminal was revoked")
    return TerminalOut.of(terminal)


async def list_users(call: Call) -> list[UserOut]:
    return [UserOut.of(u) for u in await org.list_users(call.session, await call.access())]


async def create_user(call: Call) -> UserOut:
    access = await call.access()
    access.require_admin("Creating a user")
    data: UserIn = call.body
    password_hash = await call.services.passwords.hash(data.password)
    return UserOut.of(await org.create_user(call.session, access, data, password_hash))


class RoleQuery(BaseModel):
    role: RoleName
    unit_id: Id | None = None


async def deactivate_user(call: Call) -> UserOut:
    user = await org.set_user_active(
        call.session, await call.access(), call.path_id("user_id"), active=False
    )
    await end_sessions(call.session, user.id)
    await call.services.drop_user(user.id, "the account was deactivated")
    return UserOut.of(user)


async def reactivate_user(call: Call) -> UserOut:
    user = await org.set_user_active(
        call.session, await call.access(), call.path_id("user_id"), active=True
    )
    return UserOut.of(user)


async def reset_password(call: Call) -> UserOut:
    access = await call.access()
    access.require_admin("Resetting a password")
    body: PasswordIn = call.body
    password_hash = await call.services.passwords.hash(body.password)
    user = await org.reset_password(call.session, access, call.path_id("user_id"), password_hash)
    await end_sessions(call.session, user.id)
    return UserOut.of(user)


async def add_role(call: Call) -> UserOut:
    user = await org.add_role(call.session, await call.access(), call.path_id("user_id"), call.body)
    return UserOut.of(user)


async def remove_role(call: Call) -> UserOut:
    query: RoleQuery = call.query
    user = await org.remove_role(
        call.session, await call.access(), call.path_id("user_id"), query.role, query.unit_id
    )
    return UserOut.of(user)


ENDPOINTS = (
    Endpoint("GET", "/api/units", list_units, "The units the caller may see",
             auth=Auth.USER, response=list[UnitOut], tag="organisation"),
    Endpoint("POST", "/api/units", create_unit, "Add a unit below one the caller manages",
             auth=Auth.USER, body=UnitIn, response=UnitOut, status=201, tag="organisation"),
    Endpoint("GET", "/api/units/{unit_id}/chairs", list_chairs,
             "People who may chair the unit's meetings (secretariat of the unit)",
             auth=Auth.USER, response=list[UserRef], tag="organisation"),
    Endpoint("GET", "/api/halls", list_halls, "Halls the caller may see",
             query=HallQuery, response=list[HallOut], tag="organisation"),
    Endpoint("POST", "/api/halls", create_hall, "Add a hall to a unit",
             auth=Auth.USER, body=HallIn, response=HallOut, status=201, tag="organisation"),
    Endpoint("GET", "/api/halls/{hall_id}", get_hall, "One hall", response=HallOut,
             tag="organisation"),
    Endpoint("PATCH", "/api/halls/{hall_id}", update_hall, "Rename, move or deactivate a hall",
             auth=Auth.USER, body=HallPatch, response=HallOut, tag="organisation"),
    Endpoint("GET", "/api/halls/{hall_id}/terminals", list_terminals, "A hall's terminals",
             auth=Auth.USER, response=list[TerminalOut], tag="terminals"),
    Endpoint("POST", "/api/halls/{hall_id}/terminals", pair_terminal,
             "Pair a new terminal: returns its token and pairing link, shown once",
             auth=Auth.USER, body=TerminalIn, response=TerminalPaired, status=201, tag="terminals"),
    Endpoint("POST", "/api/terminals/{terminal_id}/rotate", rotate_terminal,
             "Give a terminal a new token; the old one stops working",
             auth=Auth.USER, response=TerminalPaired, tag="terminals"),
    Endpoint("POST", "/api/terminals/{terminal_id}/revoke", revoke_terminal,
             "Revoke a terminal's token for good", auth=Auth.USER, response=TerminalOut,
             tag="terminals"),
    Endpoint("GET", "/api/users", list_users, "All users (admin)", auth=Auth.USER,
             response=list[UserOut], tag="organisation"),
    Endpoint("POST", "/api/users", create_user, "Create a user with roles (admin)",
             auth=Auth.USER, body=UserIn, response=UserOut, status=201, tag="organisation"),
    Endpoint("POST", "/api/users/{user_id}/deactivate", deactivate_user,
             "Deactivate a user (admin): no more logins, their open logins end at once",
             auth=Auth.USER, response=UserOut, tag="organisation"),
    Endpoint("POST", "/api/users/{user_id}/reactivate", reactivate_user,
             "Let a deactivated user log in again (admin)",
             auth=Auth.USER, response=UserOut, tag="organisation"),
    Endpoint("POST", "/api/users/{user_id}/password", reset_password,
             "Set another person's password (admin); their open logins end",
             auth=Auth.USER, body=PasswordIn, response=UserOut, tag="organisation"),
    Endpoint("POST", "/api/users/{user_id}/roles", add_role,
             "Give a user one more role (admin): {role, unit_id} (no unit_id for admin)",
             auth=Auth.USER, body=GrantIn, response=UserOut, tag="organisation"),
    Endpoint("DELETE", "/api/users/{user_id}/roles", remove_role,
             "Remove one role of a user (admin): ?role=…&unit_id=… (no unit_id for admin)",
             auth=Auth.USER, query=RoleQuery, response=UserOut, tag="organisation"),
)  # fmt: skip
