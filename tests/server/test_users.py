"""People's accounts (issue 17): deactivating, passwords (the policy, changing one's own, an
admin's reset), removing a role, the idle timeout of a login, and the CLI that does the same."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer

from rooms.db import utcnow
from rooms.models import Hall, Terminal
from rooms.org import hash_token
from server import signalling as signalling_module
from server import tls
from server.app import create_app, runner_options
from server.cli import main
from server.db import Database
from server.models import WebSession
from server.security import Passwords
from tests.conftest import FAST_HASHER, PASSWORD, Client, Org
from tests.server.live_kit import LiveClient, live, until

__all__ = ["live"]  # the fixture

NEW_PASSWORD = "ngày mai trời lại sáng"


async def _sessions(db: Database, user_id: int) -> int:
    async with db.session() as session:
        query = sa.select(sa.func.count()).where(WebSession.user_id == user_id)
        return int(await session.scalar(query) or 0)


async def _login(clients: Any, username: str, password: str) -> int:
    client = await clients()
    return int(
        (await client.post("/api/session", {"username": username, "password": password})).status
    )


# -- deactivating -----------------------------------------------------------------------------


async def test_a_deactivated_user_cannot_log_in_and_their_logins_end_at_once(
    clients, org: Org, db: Database
):
    admin = await clients("admin")
    victim = await clients("sec_p")
    other_device = await clients("sec_p")
    assert (await victim.get("/api/session")).status == 200
    reply = await admin.post(f"/api/users/{org.users['sec_p']}/deactivate")
    assert reply.status == 200
    assert reply.body["active"] is False
    for client in (victim, other_device):
        assert (await client.get("/api/meetings")).status == 401
    assert await _sessions(db, org.users["sec_p"]) == 0
    assert await _login(clients, "sec_p", PASSWORD) == 401
    listed = {u["username"]: u["active"] for u in (await admin.get("/api/users")).body}
    assert listed["sec_p"] is False

    back = await admin.post(f"/api/users/{org.users['sec_p']}/reactivate")
    assert back.status == 200
    assert back.body["active"] is True
    assert await _login(clients, "sec_p", PASSWORD) == 200


async def test_deactivating_sends_the_persons_open_sockets_away(live, clients, org: Org):
    chair = await live(user="chair_p")
    admin = await clients("admin")
    assert (await admin.post(f"/api/users/{org.users['chair_p']}/deactivate")).status == 200
    await chair.until(lambda: any(name == "removed" for name, _ in chair.events))
    assert next(d for n, d in chair.events if n == "removed")["code"] == "deactivated"
    await chair.until(lambda: not chair.sio.connected)


async def test_only_an_admin_deactivates_and_not_themself(clients, org: Org):
    sec = await clients("sec_p")
    reply = await sec.post(f"/api/users/{org.users['chair_p']}/deactivate")
    assert reply.status == 403
    assert await _login(clients, "chair_p", PASSWORD) == 200
    admin = await clients("admin")
    self_lockout = await admin.post(f"/api/users/{org.users['admin']}/deactivate")
    assert self_lockout.status == 409
    assert (await admin.post("/api/users/99999/deactivate")).status == 404


# -- passwords --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    ["ngắn quá", "11 ký tự!!", "1qaz2wsx3edc", "PASSWORD1234", "aaaaaaaaaaaaaaaa"],
)
async def test_a_new_user_needs_12_characters_not_a_common_password(
    clients, org: Org, password: str
):
    admin = await clients("admin")
    body = {"username": "moi", "full_name": "Người mới", "password": password,
            "roles": [{"role": "archivist", "unit_id": org.units["P"]}]}  # fmt: skip
    reply = await admin.post("/api/users", body)
    assert reply.status == 422, reply.text
    assert reply.body["error"]["field"] == "password"
    assert password not in reply.text
    body["password"] = "một mật khẩu dài"
    assert (await admin.post("/api/users", body)).status == 201


async def test_a_person_changes_their_own_password_giving_the_current_one(
    clients, org: Org, db: Database
):
    me = await clients("sec_p")
    elsewhere = await clients("sec_p")
    wrong = await me.post(
        "/api/session/password", {"current_password": "not it", "password": NEW_PASSWORD}
    )
    assert wrong.status == 422
    assert wrong.body["error"]["field"] == "current_password"
    weak = await me.post(
        "/api/session/password", {"current_password": PASSWORD, "password": "qwertyuiop123"}
    )
    assert weak.status == 422
    assert weak.body["error"]["field"] == "password"
    changed = await me.post(
        "/api/session/password", {"current_password": PASSWORD, "password": NEW_PASSWORD}
    )
    assert changed.status == 204
    assert (await me.get("/api/session")).status == 200  # this login goes on
    assert (await elsewhere.get("/api/session")).status == 401  # the others end
    assert await _sessions(db, org.users["sec_p"]) == 1
    assert await _login(clients, "sec_p", PASSWORD) == 401
    assert await _login(clients, "sec_p", NEW_PASSWORD) == 200
    terminal = await clients(terminal="A")
    reply = await terminal.post(
        "/api/session/password", {"current_password": PASSWORD, "password": NEW_PASSWORD}
    )
    assert reply.status == 403


async def test_an_admin_resets_a_password_and_the_persons_logins_end(
    clients, org: Org, db: Database
):
    person = await clients("chair_p")
    sec = await clients("sec_p")
    path = f"/api/users/{org.users['chair_p']}/password"
    assert (await sec.post(path, {"password": NEW_PASSWORD})).status == 403
    admin = await clients("admin")
    short = await admin.post(path, {"password": "short"})
    assert short.status == 422
    assert short.body["error"]["field"] == "password"
    reply = await admin.post(path, {"password": NEW_PASSWORD})
    assert reply.status == 200
    assert (await person.get("/api/session")).status == 401
    assert await _sessions(db, org.users["chair_p"]) == 0
    assert await _login(clients, "chair_p", PASSWORD) == 401
    assert await _login(clients, "chair_p", NEW_PASSWORD) == 200


# -- roles ------------------------------------------------------------------------------------


async def test_an_admin_removes_a_role(clients, org: Org):
    admin = await clients("admin")
    created = await admin.post(
        "/api/users",
        {"username": "hai.vai", "full_name": "Hai vai", "password": "một mật khẩu dài",
         "roles": [{"role": "secretariat", "unit_id": org.units["A"]},
                   {"role": "archivist", "unit_id": org.units["P"]}]},
    )  # fmt: skip
    assert created.status == 201
    user_id = created.body["id"]
    person = await clients()
    login = {"username": "hai.vai", "password": "một mật khẩu dài"}
    assert (await person.post("/api/session", login)).status == 200
    assert (await person.get(f"/api/halls/{org.halls['A']}/terminals")).status == 200

    query = {"role": "secretariat", "unit_id": str(org.units["A"])}
    sec = await clients("sec_p")
    assert (await sec.delete(f"/api/users/{user_id}/roles", params=query)).status == 403
    reply = await admin.delete(f"/api/users/{user_id}/roles", params=query)
    assert reply.status == 200
    assert reply.body["roles"] == [{"role": "archivist", "unit_id": org.units["P"]}]
    assert (await person.get(f"/api/halls/{org.halls['A']}/terminals")).status == 403
    again = await admin.delete(f"/api/users/{user_id}/roles", params=query)
    assert again.status == 404
    last = {"role": "archivist", "unit_id": str(org.units["P"])}
    assert (await admin.delete(f"/api/users/{user_id}/roles", params=last)).status == 409
    bad = await admin.delete(f"/api/users/{user_id}/roles", params={"role": "king"})
    assert bad.status == 422
    assert bad.body["error"]["field"] == "role"


async def test_an_admin_gives_an_existing_user_another_role(clients, org: Org):
    admin = await clients("admin")
    chair_a = org.users["chair_a"]
    person = await clients("chair_a")
    assert (await person.get(f"/api/halls/{org.halls['A']}/terminals")).status == 403

    grant = {"role": "secretariat", "unit_id": org.units["A"]}
    sec = await clients("sec_p")
    assert (await sec.post(f"/api/users/{chair_a}/roles", grant)).status == 403
    reply = await admin.post(f"/api/users/{chair_a}/roles", grant)
    assert reply.status == 200, reply.text
    assert grant in reply.body["roles"]
    assert (await person.get(f"/api/halls/{org.halls['A']}/terminals")).status == 200  # at once

    assert (await admin.post(f"/api/users/{chair_a}/roles", grant)).status == 409  # has it
    for body, field in (
        ({"role": "chair"}, "unit_id"),
        ({"role": "admin", "unit_id": org.units["A"]}, "unit_id"),
        ({"role": "chair", "unit_id": 99999}, "unit_id"),
        ({"role": "king", "unit_id": org.units["A"]}, "role"),
    ):
        refused = await admin.post(f"/api/users/{chair_a}/roles", body)
        assert refused.status == 422, (body, refused.text)
        assert refused.body["error"]["field"] == field
    assert (await admin.post("/api/users/99999/roles", grant)).status == 404


# -- sessions ---------------------------------------------------------------------------------


async def _age_logins(db: Database, user_id: int, idle: timedelta) -> None:
    async with db.session() as session:
        await session.execute(
            sa.update(WebSession)
            .where(WebSession.user_id == user_id)
            .values(last_seen_at=utcnow() - idle, created_at=utcnow() - idle)
        )
        await session.commit()


async def test_a_login_unused_for_30_minutes_is_refused_and_deleted(
    clients, org: Org, db: Database
):
    active = await clients("sec_p")
    await _age_logins(db, org.users["sec_p"], timedelta(minutes=29))
    assert (await active.get("/api/session")).status == 200  # used: its idle time restarts
    await _age_logins(db, org.users["sec_p"], timedelta(minutes=31))
    reply = await active.get("/api/meetings")
    assert reply.status == 401
    assert reply.body["error"]["code"] == "unauthenticated"
    assert await _sessions(db, org.users["sec_p"]) == 0


async def test_a_used_login_is_marked_as_used(clients, org: Org, db: Database):
    active = await clients("sec_p")
    await _age_logins(db, org.users["sec_p"], timedelta(minutes=20))
    assert (await active.get("/api/session")).status == 200
    async with db.session() as session:
        seen = await session.scalar(
            sa.select(WebSession.last_seen_at).where(WebSession.user_id == org.users["sec_p"])
        )
    assert seen is not None and utcnow() - seen < timedelta(minutes=1)


@pytest.mark.env(GIAOBAN_SESSION_IDLE_MINUTES="5")
async def test_the_idle_timeout_is_a_setting(clients, org: Org, db: Database):
    active = await clients("sec_p")
    await _age_logins(db, org.users["sec_p"], timedelta(minutes=6))
    assert (await active.get("/api/session")).status == 401


async def test_a_terminal_is_not_logged_out_when_idle(clients, org: Org, db: Database):
    terminal = await clients(terminal="A")
    await _age_logins(db, org.users["sec_p"], timedelta(hours=2))
    assert (await terminal.get("/api/terminal")).status == 200


def _flags(set_cookie: str) -> set[str]:
    """A Set-Cookie's attributes but its lifetime: {"httponly", "path=/", "samesite=lax"…}."""
    attributes = {p.strip().lower() for p in set_cookie.split(";")[1:]}
    return {a for a in attributes if not a.startswith(("max-age", "expires"))}


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
async def test_logout_clears_the_cookie_with_logins_flags(
    org: Org, settings, clock, throttle, tmp_path: Path, https: bool
):
    app = create_app(settings, passwords=Passwords(FAST_HASHER), clock=clock, throttle=throttle)
    server = TestServer(app, scheme="https" if https else "http")
    ssl = tls.server_context(*tls.ensure_demo_certificate(tmp_path / "tls")) if https else None
    await server.start_server(ssl=ssl, **runner_options())
    client = Client(server)
    try:
        login = await client.request(
            "POST", "/api/session", json={"username": "sec_p", "password": PASSWORD}, ssl=False
        )
        assert login.status == 200
        logout = await client.request("DELETE", "/api/session", ssl=False)
        assert logout.status == 204
        set_login, set_logout = login.headers["Set-Cookie"], logout.headers["Set-Cookie"]
        assert _flags(set_login) == _flags(set_logout)
        assert {"httponly", "samesite=lax", "path=/"} <= _flags(set_logout)
        assert ("secure" in _flags(set_logout)) is https
    finally:
        await client.close()
        await server.close()


# -- the CLI ----------------------------------------------------------------------------------


async def _cli(monkeypatch: pytest.MonkeyPatch, db_url: str, tmp_path: Path, *argv: str) -> int:
    monkeypatch.setenv("GIAOBAN_DATABASE_URL", db_url)
    monkeypatch.setenv("GIAOBAN_VAR_DIR", str(tmp_path / "cli"))
    return await asyncio.to_thread(main, list(argv))


async def test_the_cli_deactivates_reactivates_sets_a_password_and_removes_a_role(
    clients, org: Org, db: Database, db_url: str, tmp_path: Path, monkeypatch, capsys
):
    person = await clients("sec_a")
    assert await _cli(monkeypatch, db_url, tmp_path, "user", "deactivate", "sec_a") == 0
    assert (await person.get("/api/session")).status == 401
    assert await _login(clients, "sec_a", PASSWORD) == 401
    assert await _cli(monkeypatch, db_url, tmp_path, "user", "reactivate", "sec_a") == 0
    assert await _login(clients, "sec_a", PASSWORD) == 200

    monkeypatch.setenv("GIAOBAN_NEW_PASSWORD", "password1234")
    assert await _cli(monkeypatch, db_url, tmp_path, "user", "password", "sec_a") == 2
    assert "password" in capsys.readouterr().err
    monkeypatch.setenv("GIAOBAN_NEW_PASSWORD", NEW_PASSWORD)
    assert await _cli(monkeypatch, db_url, tmp_path, "user", "password", "sec_a") == 0
    assert await _login(clients, "sec_a", NEW_PASSWORD) == 200
    assert await _login(clients, "sec_a", PASSWORD) == 401

    admin = await clients("admin")
    granted = await admin.post(
        "/api/users",
        {"username": "hai.vai", "full_name": "Hai vai", "password": NEW_PASSWORD,
         "roles": [{"role": "chair", "unit_id": org.units["A"]},
                   {"role": "archivist", "unit_id": org.units["P"]}]},
    )  # fmt: skip
    assert granted.status == 201
    code = await _cli(monkeypatch, db_url, tmp_path, "user", "remove-role", "hai.vai", "chair",
                      "--unit", "A")  # fmt: skip
    assert code == 0
    users = {u["username"]: u for u in (await admin.get("/api/users")).body}
    assert [r["role"] for r in users["hai.vai"]["roles"]] == ["archivist"]
    capsys.readouterr()
    assert await _cli(monkeypatch, db_url, tmp_path, "user", "list") == 0
    assert "hai.vai" in capsys.readouterr().out
    assert await _cli(monkeypatch, db_url, tmp_path, "user", "deactivate", "nobody") == 2


async def test_the_last_active_administrator_keeps_the_role_and_the_account(
    clients, org: Org, db_url: str, tmp_path: Path, monkeypatch, capsys
):
    """Nobody may leave the deployment without an active administrator (people could then be
    managed from the server's shell only). Through the API an admin acts, so one is left;
    the command line (the server's shell) could take the last one away."""
    assert await _cli(monkeypatch, db_url, tmp_path, "user", "deactivate", "admin") == 2
    assert "last active administrator" in capsys.readouterr().err
    assert await _login(clients, "admin", PASSWORD) == 200

    admin = await clients("admin")
    granted = await admin.post(
        "/api/users",
        {"username": "hai.vai", "full_name": "Hai vai", "password": PASSWORD,
         "roles": [{"role": "admin"}, {"role": "archivist", "unit_id": org.units["P"]}]},
    )  # fmt: skip
    assert granted.status == 201
    second = await clients("hai.vai")
    assert await _cli(monkeypatch, db_url, tmp_path, "user", "deactivate", "admin") == 0
    # hai.vai is the only active one now: the role stays.
    assert await _cli(monkeypatch, db_url, tmp_path, "user", "remove-role", "hai.vai", "admin") == 2
    assert "last active administrator" in capsys.readouterr().err
    back = await second.post(f"/api/users/{org.users['admin']}/reactivate")
    assert back.status == 200, back.body
    admin = await clients("admin")
    refused = await admin.delete(f"/api/users/{org.users['admin']}/roles?role=admin")
    assert refused.status == 409  # their own
    removed = await admin.delete(f"/api/users/{granted.body['id']}/roles?role=admin")
    assert removed.status == 200, removed.body
    again = await second.delete(f"/api/users/{org.users['admin']}/roles?role=admin")
    assert again.status == 403  # hai.vai is no admin any more


# -- open sockets and logins that end elsewhere ---------------------------------------------


async def _session_status(server: TestServer, cookie: str) -> int:
    url = str(server.make_url("/api/session"))
    headers = {"Cookie": f"giaoban_session={cookie}"}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as reply:
        return reply.status


async def _removed(client: Any) -> str:
    """The code of the ``removed`` the socket got, once it is closed."""
    await client.until(lambda: any(name == "removed" for name, _ in client.events))
    await client.until(lambda: not client.sio.connected)
    return str(next(d for n, d in client.events if n == "removed")["code"])


@pytest.mark.env(GIAOBAN_CREDENTIALS_CHECK_SECONDS="0.2")
async def test_an_open_console_keeps_its_login_through_a_long_meeting(
    live, server: TestServer, org: Org, db: Database
):
    """A chair's console with its socket open two hours, nothing asked over HTTP meanwhile:
    its login is still good afterwards (the socket is use), not ended as idle."""
    chair = await live(user="chair_p")
    await _age_logins(db, org.users["chair_p"], timedelta(hours=2))

    async def seen_now() -> bool:
        async with db.session() as session:
            last = await session.scalar(
                sa.select(WebSession.last_seen_at).where(WebSession.user_id == org.users["chair_p"])
            )
        return last is not None and utcnow() - last < timedelta(minutes=1)

    await until(seen_now)
    assert chair.cookie is not None
    assert await _session_status(server, chair.cookie) == 200
    assert chair.sio.connected


@pytest.mark.env(GIAOBAN_CREDENTIALS_CHECK_SECONDS="0.2")
async def test_a_stop_lets_the_check_of_the_sockets_finish_its_query(
    live, server: TestServer, monkeypatch
):
    """The server stops while its check of the open sockets is reading the database: the
    check ends its query (cancelled there, SQLAlchemy logged the connection's reset under
    the cancellation as an error, a traceback in the log at a restart)."""
    await live(user="chair_p")
    reading, done = asyncio.Event(), asyncio.Event()
    outcome: list[str] = []
    real = signalling_module.logins_in_use

    async def slow_read(session: Any, logins: Any) -> Any:
        reading.set()
        try:
            await asyncio.sleep(0.5)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise
        outcome.append("finished")
        done.set()
        return await real(session, logins)

    monkeypatch.setattr(signalling_module, "logins_in_use", slow_read)
    await asyncio.wait_for(reading.wait(), 10)
    await asyncio.wait_for(server.close(), 30)
    assert outcome[:1] == ["finished"]


@pytest.mark.env(GIAOBAN_CREDENTIALS_CHECK_SECONDS="0.2")
async def test_a_login_ended_outside_this_server_sends_its_socket_away(
    live, org: Org, db: Database, db_url: str, tmp_path: Path, monkeypatch
):
    """Logged out on another node, or deactivated from the command line: the server finds out
    at its next check and closes the socket, saying why."""
    chair = await live(user="chair_p")
    other = await live(user="sec_p")
    async with db.session() as session:  # what a logout handled by another node does
        await session.execute(sa.delete(WebSession).where(WebSession.user_id == org.users["sec_p"]))
        await session.commit()
    assert await _removed(other) == "logged_out"
    assert chair.sio.connected

    assert await _cli(monkeypatch, db_url, tmp_path, "user", "deactivate", "chair_p") == 0
    assert await _removed(chair) == "deactivated"


@pytest.mark.env(GIAOBAN_CREDENTIALS_CHECK_SECONDS="0.2")
async def test_a_terminal_whose_pairing_ended_elsewhere_is_sent_away(live, org: Org, db: Database):
    """Revoked by another node, or its hall deactivated: the terminal's socket is closed with
    ``revoked`` (its page asks to be paired again); the other halls stay."""
    a = await live(hall="A")
    b = await live(hall="B")
    async with db.session() as session:
        await session.execute(
            sa.update(Terminal)
            .where(Terminal.id == org.terminal_ids["A"])
            .values(revoked_at=utcnow())
        )
        await session.commit()
    assert await _removed(a) == "revoked"
    assert b.sio.connected
    async with db.session() as session:
        await session.execute(sa.update(Hall).where(Hall.id == org.halls["B"]).values(active=False))
        await session.commit()
    assert await _removed(b) == "revoked"


@pytest.mark.env(GIAOBAN_CREDENTIALS_CHECK_SECONDS="0.2")
async def test_a_terminal_paired_anew_elsewhere_keeps_its_new_socket_and_loses_its_old(
    live, server: TestServer, org: Org, db: Database
):
    old = await live(hall="A")
    new_token = "gbt_" + "n" * 40
    async with db.session() as session:  # the pairing replaced on another node
        await session.execute(
            sa.update(Terminal)
            .where(Terminal.id == org.terminal_ids["A"])
            .values(token_hash=hash_token(new_token))
        )
        await session.commit()
    new = LiveClient(str(server.make_url("")).rstrip("/"), token=new_token)
    await new.connect()
    try:
        assert await _removed(old) == "revoked"
        await asyncio.sleep(0.6)  # three more checks: the new socket is not sent away
        assert new.sio.connected
        assert not any(name == "removed" for name, _ in new.events)
    finally:
        await new.close()


async def test_deactivating_a_hall_sends_its_terminal_away_at_once(live, clients, org: Org):
    a = await live(hall="A")
    sec = await clients("sec_a")
    reply = await sec.patch(f"/api/halls/{org.halls['A']}", {"active": False})
    assert reply.status == 200, reply.text
    assert await _removed(a) == "revoked"
