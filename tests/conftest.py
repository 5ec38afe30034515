"""Shared fixtures: databases (SQLite always, PostgreSQL when asked for), an organisation, and
HTTP clients that log in as each kind of actor."""

from __future__ import annotations

import faulthandler
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher

from rooms.db import Base
from rooms.models import Hall, RoleName, Terminal, Unit, UnitLevel, User, UserRole
from rooms.org import hash_token
from server.app import create_app, runner_options
from server.db import Database, migrate_sync
from server.security import LoginThrottle, Passwords
from server.settings import Settings

POSTGRES_URL = os.environ.get("GIAOBAN_TEST_POSTGRES_URL", "").strip()
BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]
PASSWORD = "correct horse battery"


def _postgres_reachable(url: str) -> None:
    """Fail (never skip) when PostgreSQL was asked for and does not answer."""
    host_port = url.split("@", 1)[1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    try:
        socket.create_connection((host, int(port or 5432)), timeout=5).close()
    except OSError as exc:
        pytest.fail(
            f"GIAOBAN_TEST_POSTGRES_URL={url} is unreachable ({exc}); start PostgreSQL "
            "or run with GIAOBAN_TEST_POSTGRES_URL= to test SQLite only",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], str]:
    """A migrated database URL per backend, built once per test session."""
    urls: dict[str, str] = {}

    def get(backend: str) -> str:
        if backend not in urls:
            if backend == "sqlite":
                url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
            else:
                url = POSTGRES_URL
                _postgres_reachable(url)
                _reset_postgres(url)
            migrate_sync(url)
            urls[backend] = url
        return urls[backend]

    return get


def _reset_postgres(url: str) -> None:
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    async def reset() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            await conn.execute(sa.text("CREATE SCHEMA public"))
        await engine.dispose()

    asyncio.run(reset())


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, migrated: Callable[[str], str]) -> str:
    return migrated(request.param)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """The migrated database, emptied before the test."""
    database = Database(db_url)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with database.engine.connect() as conn:
        if db_url.startswith("postgresql"):
            await conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            await conn.execute(sa.text("PRAGMA foreign_keys=OFF"))
            for name in tables:
                await conn.execute(sa.text(f"DELETE FROM {name}"))
            await conn.commit()
            await conn.execute(sa.text("PRAGMA foreign_keys=ON"))
        await conn.commit()
    yield database
    await database.close()


@dataclass
class Org:
    """A small province: P with districts A and B, and commune A1 under A; a hall each."""

    units: dict[str, int] = field(default_factory=dict)
    halls: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    terminal_tokens: dict[str, str] = field(default_factory=dict)
    terminal_ids: dict[str, int] = field(default_factory=dict)


FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
USERS = {
    "admin": (RoleName.ADMIN, None),
    "sec_p": (RoleName.SECRETARIAT, "P"),
    "sec_a": (RoleName.SECRETARIAT, "A"),
    "sec_b": (RoleName.SECRETARIAT, "B"),
    "chair_p": (RoleName.CHAIR, "P"),
    "chair_a": (RoleName.CHAIR, "A"),
    "arch": (RoleName.ARCHIVIST, "P"),
}


@pytest.fixture
async def org(db: Database) -> Org:
    return await seed_org(db)


async def seed_org(db: Database) -> Org:
    """The small province, its terminals and one user per role, in an empty database."""
    result = Org()
    password_hash = FAST_HASHER.hash(PASSWORD)
    async with db.session() as session:
        p = Unit(code="P", name="Tỉnh P", level=UnitLevel.PROVINCE)
        session.add(p)
        await session.flush()
        a = Unit(code="A", name="Huyện A", level=UnitLevel.DISTRICT, parent_id=p.id)
        b = Unit(code="B", name="Huyện B", level=UnitLevel.DISTRICT, parent_id=p.id)
        session.add_all([a, b])
        await session.flush()
        a1 = Unit(code="A1", name="Xã A1", level=UnitLevel.COMMUNE, parent_id=a.id)
        session.add(a1)
        await session.flush()
        units = {"P": p, "A": a, "B": b, "A1": a1}
        halls = {
            "P": Hall(unit_id=p.id, name="Hội trường tỉnh P"),
            "A": Hall(unit_id=a.id, name="Điểm cầu Huyện A"),
            "B": Hall(unit_id=b.id, name="Điểm cầu Huyện B"),
            "A1": Hall(unit_id=a1.id, name="Điểm cầu Xã A1"),
        }
        session.add_all(halls.values())
        await session.flush()
        for key, hall in halls.items():
            token = f"gbt_test-token-{key}-{'x' * 30}"
            terminal = Terminal(hall_id=hall.id, label=f"T-{key}", token_hash=hash_token(token))
            session.add(terminal)
            await session.flush()
            result.terminal_tokens[key] = token
            result.terminal_ids[key] = terminal.id
        for username, (role, unit_key) in USERS.items():
            unit_id = units[unit_key].id if unit_key else None
            user = User(
                username=username,
                full_name=f"Người dùng {username}",
                password_hash=password_hash,
                roles=[UserRole(role=role, unit_id=unit_id)],
            )
            session.add(user)
            await session.flush()
            result.users[username] = user.id
        result.units = {k: u.id for k, u in units.items()}
        result.halls = {k: h.id for k, h in halls.items()}
        await session.commit()
    return result


class Clock:
    """A settable clock for the scheduler (starts at the real time)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """The test deployment's settings; ``@pytest.mark.env(GIAOBAN_X="…")`` adds variables."""
    marker = request.node.get_closest_marker("env")
    return Settings.from_env(
        {
            "GIAOBAN_VAR_DIR": str(tmp_path / "var"),
            "GIAOBAN_DATABASE_URL": db_url,
            **(marker.kwargs if marker else {}),
        }
    )


@pytest.fixture
def throttle() -> LoginThrottle:
    return LoginThrottle()


@pytest.fixture
async def server(
    org: Org, settings: Settings, clock: Clock, throttle: LoginThrottle
) -> AsyncIterator[TestServer]:
    app = create_app(settings, passwords=Passwords(FAST_HASHER), clock=clock, throttle=throttle)
    test_server = TestServer(app)
    await test_server.start_server(**runner_options())
    yield test_server
    await test_server.close()


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any
    text: str
    data: bytes = b""


class Client:
    """An HTTP client of the test server with its own cookie jar."""

    def __init__(self, server: TestServer, token: str | None = None) -> None:
        self.server = server
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=30),
        )

    async def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        async with self.http.request(method, self.server.make_url(path), **kwargs) as resp:
            data = await resp.read()
            text = data.decode("utf-8", errors="replace")
            body: Any = None
            if resp.content_type == "application/json" and text:
                body = await resp.json()
            return Reply(resp.status, body, resp.headers, text, data)

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> Reply:
        return await self.request("POST", path, json=json, **kwargs)

    async def patch(self, path: str, json: Any = None, **kwargs: Any) -> Reply:
        return await self.request("PATCH", path, json=json, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("DELETE", path, **kwargs)

    async def close(self) -> None:
        await self.http.close()


@pytest.fixture
async def clients(server: TestServer, org: Org) -> AsyncIterator[Callable[..., Any]]:
    """``await clients("sec_p")`` a logged-in person; ``clients(terminal="A")``; ``clients()``."""
    made: list[Client] = []

    async def make(username: str | None = None, *, terminal: str | None = None) -> Client:
        client = Client(server, org.terminal_tokens[terminal] if terminal else None)
        made.append(client)
        if username is not None:
            reply = await client.post("/api/session", {"username": username, "password": PASSWORD})
            assert reply.status == 200, reply.text
        return client

    yield make
    for client in made:
        await client.close()


def local(days: int, hour: int, minute: int = 0) -> str:
    """A local (Asia/Ho_Chi_Minh) date-time ``days`` from today, as the API takes it."""
    from rooms.localtime import LOCAL_TZ

    today = datetime.now(LOCAL_TZ).date()
    moment = datetime(today.year, today.month, today.day, hour, minute) + timedelta(days=days)
    return moment.isoformat(timespec="minutes")


def meeting_body(
    org: Org, days: int = 3, at: tuple[int, int] = (8, 10), **extra: Any
) -> dict[str, Any]:
    """A valid meeting of P with halls A and B, ``days`` from today, hours ``at`` (local)."""
    body = {
        "title": "Giao ban tuần",
        "start": local(days, at[0]),
        "end": local(days, at[1]),
        "chair_hall_id": org.halls["P"],
        "chair_user_id": org.users["chair_p"],
        "invited_hall_ids": [org.halls["A"], org.halls["B"]],
        "agenda": [
            {"title": "Tình hình kinh tế", "presenter": "Sở KH&ĐT", "planned_minutes": 30},
            {"title": "Kết luận", "presenter": "Chủ tịch", "planned_minutes": 10},
        ],
    }
    body.update(extra)
    return body


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "db_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


# pytest-timeout interrupts a test once; a teardown that then hangs (a task that will not
# finish when its event loop is closed) would hold the run until CI's own limit. This guard
# prints every thread's stack and ends the run when one test, set-up to teardown, outlasts it.
HARD_LIMIT_S = 300


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[object]:
    faulthandler.dump_traceback_later(HARD_LIMIT_S, exit=True, file=sys.stderr)
    try:
        return (yield)
    finally:
        faulthandler.cancel_dump_traceback_later()
