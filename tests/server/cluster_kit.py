"""Several real server processes (``giaoban serve``) on one Redis and one PostgreSQL, and halls
that follow the protocol's ``moved`` answers and fall back to other nodes, as the pages do.

Each test gets a database of its own on the PostgreSQL server (created and dropped here) and
a Redis key prefix of its own, so that nothing it does is seen by another test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from server.db import Database, migrate_sync
from tests.conftest import PASSWORD, POSTGRES_URL, Org, _postgres_reachable, seed_org
from tests.server.live_kit import LiveClient, soon

REDIS_URL = os.environ.get("GIAOBAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 40.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_reachable() -> None:
    host_port = REDIS_URL.split("//", 1)[1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    try:
        socket.create_connection((host, int(port or 6379)), timeout=5).close()
    except OSError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is unreachable ({exc}): start it", pytrace=False)


class NodeProcess:
    """One ``giaoban serve`` process: a node of the cluster."""

    def __init__(self, node_id: str, env: dict[str, str], log: Path) -> None:
        self.node_id = node_id
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = {**env, "GIAOBAN_NODE_ID": node_id, "GIAOBAN_PORT": str(self.port),
                    "GIAOBAN_HOST": "127.0.0.1", "GIAOBAN_PUBLIC_URL": self.url}  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve"],
                env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    async def start(self) -> None:
        self.proc = self._spawn()
        deadline = time.monotonic() + START_TIMEOUT
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"node {self.node_id} exited: {self.log.read_text()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(f"{self.url}/api/health") as reply:
                        if reply.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise AssertionError(f"node {self.node_id} did not start in {START_TIMEOUT} s")

    def kill(self) -> None:
        """kill -9: no goodbye, no cleanup."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Deployment:
    """Nodes on one Redis (own key prefix) and one PostgreSQL database (own database)."""

    def __init__(self, tmp: Path, database_url: str, prefix: str) -> None:
        self.tmp = tmp
        self.database_url = database_url
        self.prefix = prefix
        self.nodes: dict[str, NodeProcess] = {}
        shared = tmp / "shared"  # the data centre's NAS: recordings and the archive
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("GIAOBAN_")},
            "GIAOBAN_DATABASE_URL": database_url,
            "GIAOBAN_REDIS_URL": REDIS_URL,
            "GIAOBAN_REDIS_PREFIX": prefix,
            "GIAOBAN_VAR_DIR": str(shared / "var"),
            "GIAOBAN_RECORDINGS_DIR": str(shared / "recordings"),
            "GIAOBAN_ARCHIVE_DIR": str(shared / "archive"),
            "GIAOBAN_RECORDING_MIN_FREE_MB": "1",
            "GIAOBAN_SEGMENT_SECONDS": "2",
            "GIAOBAN_LOG_LEVEL": "INFO",
        }
        self.org: Org | None = None

    async def start(self, *names: str, **extra_env: str) -> list[NodeProcess]:
        started = []
        for name in names:  # one after the other: the first makes the shared signing key
            node = NodeProcess(name, {**self.env, **extra_env}, self.tmp / f"{name}.log")
            self.nodes[name] = node
            await node.start()
            started.append(node)
        return started

    def redis(self) -> Any:
        import redis.asyncio as aioredis

        return aioredis.Redis.from_url(REDIS_URL, decode_responses=True)

    async def host_of(self, meeting_id: int) -> str | None:
        r = self.redis()
        try:
            value = await r.get(f"{self.prefix}:host:{meeting_id}")
        finally:
            await r.aclose()
        return str(value) if value is not None else None

    def node_at(self, url: str) -> str:
        return next(name for name, n in self.nodes.items() if n.url == url)

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()


@contextlib.asynccontextmanager
async def deployment(tmp: Path) -> AsyncIterator[Deployment]:
    """A fresh database on the test PostgreSQL, migrated and seeded with the small province."""
    if not POSTGRES_URL:
        pytest.fail("the cluster tests need GIAOBAN_TEST_POSTGRES_URL (PostgreSQL)", pytrace=False)
    _postgres_reachable(POSTGRES_URL)
    _redis_reachable()
    name = f"giaoban_cluster_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    deploy = Deployment(tmp, url, f"gbtest-{uuid.uuid4().hex[:8]}")
    try:
        await asyncio.to_thread(migrate_sync, url)
        db = Database(url)
        try:
            deploy.org = await seed_org(db)
        finally:
            await db.close()
        yield deploy
    finally:
        deploy.stop()
        r = deploy.redis()
        try:
            keys = [k async for k in r.scan_iter(match=f"{deploy.prefix}:*")]
            if keys:
                await r.delete(*keys)
        finally:
            await r.aclose()
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def session(url: str, username: str) -> aiohttp.ClientSession:
    """A logged-in HTTP session of ``username`` on the node at ``url``."""
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.post(f"{url}/api/session",
                         json={"username": username, "password": PASSWORD}) as reply:  # fmt: skip
        assert reply.status == 200, await reply.text()
    return http


async def cookie(url: str, username: str) -> str:
    """The session cookie of ``username`` logged in at ``url`` (for a console's socket)."""
    http = await session(url, username)
    try:
        return next(c.value for c in http.cookie_jar if c.key == "giaoban_session")
    finally:
        await http.close()


async def create_meeting(deploy: Deployment, url: str) -> int:
    """The small province's meeting (P chairs, A and B invited), made by its secretariat."""
    assert deploy.org is not None
    http = await session(url, "sec_p")
    try:
        async with http.post(f"{url}/api/meetings", json=soon(deploy.org)) as reply:
            assert reply.status == 201, await reply.text()
            return int((await reply.json())["id"])
    finally:
        await http.close()


class FollowingClient(LiveClient):
    """A hall (or console) as the pages behave scaled out: a ``moved`` answer to ``join``
    sends it to the hosting node; a node that stops answering sends it to the others it
    knows (its home first), where it joins its meeting again by itself."""

    def __init__(self, home: str, **kw: Any) -> None:
        super().__init__(home, **kw)
        self.home = home
        self.known: list[str] = [home]
        self.moves: list[str] = []
        self.rejoined: list[float] = []
        self._stopping = False
        self._recovering: asyncio.Task[None] | None = None
        self._switching = False
        self.sio.on("disconnect", self._dropped, namespace="/live")

    async def join(self, meeting_id: int) -> dict[str, Any]:
        for _ in range(4):
            reply = await super().join(meeting_id)
            if reply.get("ok"):
                self.known = [self.home, *[u for u in reply.get("nodes", []) if u != self.home]]
            if reply.get("ok") or reply["error"]["code"] != "moved":
                return reply
            self.moves.append(reply["error"]["url"])
            await self._switch(reply["error"]["url"])
        return reply

    async def _switch(self, url: str) -> None:
        self._switching = True
        try:
            await self.close_media()
            if self.sio.connected:
                await self.sio.disconnect()
            self.url = url
            await self.connect()
        finally:
            self._switching = False

    async def _dropped(self, *_: Any) -> None:
        if self._stopping or self._switching:
            return
        if self._recovering is None or self._recovering.done():
            self._recovering = asyncio.ensure_future(self._recover())

    async def _recover(self) -> None:
        """Reconnect to a node that answers (this one, then home, then the others), and
        join the meeting again."""
        await self.close_media()
        deadline = time.monotonic() + 60
        candidates = [self.url, *[u for u in self.known if u != self.url]]
        attempt = 0
        while not self._stopping and time.monotonic() < deadline:
            url = candidates[attempt % len(candidates)]
            attempt += 1
            try:
                await self._switch(url)
                reply = await self.enter(self.meeting_id) if self.meeting_id else {"ok": True}
            except (socketio.exceptions.ConnectionError, OSError, TimeoutError):
                await asyncio.sleep(0.5)
                continue
            if reply.get("ok"):
                self.rejoined.append(time.monotonic())
                return
            await asyncio.sleep(0.5)

    async def close(self) -> None:
        self._stopping = True
        if self._recovering is not None:
            self._recovering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovering
        await super().close()
        http = self.sio.eio.http  # engine.io keeps it when its server vanished (kill -9)
        if http is not None and not http.closed:
            await http.close()
