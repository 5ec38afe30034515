"""Scale-out: nodes on one Redis (server/cluster.py), first as objects in this process, then
as real server processes on one Redis and one PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from recordings.models import RecordingSegment, SegmentState
from server.cluster import Load, NodeUnreachable, RedisCluster
from server.db import Database
from server.settings import Settings, SettingsError
from tests.server.cluster_kit import (
    REDIS_URL,
    Deployment,
    FollowingClient,
    cookie,
    create_meeting,
    deployment,
    session,
)
from tests.server.live_kit import COLOURS, LiveClient, sees

# -- the registry, placement and calls (in this process, real Redis) ------------------------


@pytest.fixture
async def nodes() -> AsyncIterator[Callable[..., Any]]:
    prefix = f"gbunit-{uuid.uuid4().hex[:8]}"
    made: list[RedisCluster] = []

    async def make(node_id: str, load: Load | None = None, start: bool = True) -> RedisCluster:
        node = RedisCluster(node_id, f"http://{node_id}.example:8443", redis_url=REDIS_URL,
                            prefix=prefix, heartbeat=0.2)  # fmt: skip
        node.measure = lambda: load or Load()
        if start:
            await node.start()
        made.append(node)
        return node

    yield make
    for node in made:
        await node.close()


def test_a_redis_url_without_a_public_url_is_refused() -> None:
    env = {"GIAOBAN_REDIS_URL": "redis://127.0.0.1:6379/0"}
    with pytest.raises(SettingsError, match="GIAOBAN_PUBLIC_URL is needed"):
        Settings.from_env(env, create_dirs=False)
    env |= {"GIAOBAN_REDIS_URL": "http://x", "GIAOBAN_PUBLIC_URL": "https://a"}
    with pytest.raises(SettingsError, match="GIAOBAN_REDIS_URL must start with"):
        Settings.from_env(env, create_dirs=False)


def test_the_embedded_default_has_no_redis(tmp_path: Path) -> None:
    settings = Settings.from_env({"GIAOBAN_VAR_DIR": str(tmp_path)})
    assert settings.redis_url is None


async def test_a_meeting_is_placed_on_the_least_loaded_node(nodes: Any) -> None:
    busy = await nodes("n1", Load(participants=40, meetings=2))
    idle = await nodes("n2", Load(participants=3, meetings=1))
    full = await nodes("n3", Load(participants=0, accepting=False))
    for asking in (busy, idle, full):
        assert (await asking.host(7)).id == "n2"  # every node agrees, whoever asks
    assert {n.id for n in await busy.nodes()} == {"n1", "n2", "n3"}


async def test_a_dead_nodes_meeting_is_taken_over_by_exactly_one_node(nodes: Any) -> None:
    dead = await nodes("n1")
    assert (await dead.host(5)).id == "n1"
    others = [await nodes(f"n{i}") for i in (2, 3, 4)]
    await dead.close()  # its heartbeat key is gone, as after its time to live
    chosen = await asyncio.gather(*(n.host(5) for n in others))
    assert len({n.id for n in chosen}) == 1, chosen
    assert chosen[0].id in {"n2", "n3", "n4"}


async def test_a_node_whose_heartbeat_lapses_is_no_longer_listed(nodes: Any) -> None:
    watcher = await nodes("n1")
    silent = await nodes("n2")
    for task in silent._tasks:  # stops beating without saying goodbye (kill -9)
        task.cancel()
    deadline = time.monotonic() + 5
    while "n2" in {n.id for n in await watcher.nodes()}:
        assert time.monotonic() < deadline, "a silent node stayed listed"
        await asyncio.sleep(0.1)
    assert "http://n2.example:8443" not in watcher.urls()
    # Its pages' sockets are still accepted: a terminal at home there comes to the others.
    assert "http://n2.example:8443" in watcher.origins()
    latecomer = await nodes("n3")  # started after n2 died: knows its origin from Redis
    assert "http://n2.example:8443" in latecomer.origins()
    assert time.monotonic() - (deadline - 5) >= silent.ttl - silent.heartbeat


async def test_a_call_reaches_the_other_node_and_a_dead_node_times_out(
    nodes: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = await nodes("n1")
    callee = await nodes("n2")

    async def started(meeting_id: int, by: str) -> dict[str, Any]:
        return {"echo": [meeting_id, by, callee.node_id]}

    callee.handle("started", started)
    target = next(n for n in await caller.nodes() if n.id == "n2")
    assert await caller.call(target, "started", meeting_id=3, by="chair") == {
        "echo": [3, "chair", "n2"]
    }
    monkeypatch.setattr("server.cluster.CALL_TIMEOUT", 0.5)
    await callee.close()
    with pytest.raises(NodeUnreachable, match="did not answer"):
        await caller.call(target, "started", meeting_id=3, by="chair")


# -- real server processes --------------------------------------------------------------------


async def _timeline(url: str, meeting_id: int) -> list[dict[str, Any]]:
    http = await session(url, "sec_p")
    try:
        async with http.get(f"{url}/api/meetings/{meeting_id}/timeline") as reply:
            assert reply.status == 200, await reply.text()
            events: list[dict[str, Any]] = await reply.json()
            return events
    finally:
        await http.close()


class Halls:
    """The small province's halls and chair, each at home on a node of its own choosing."""

    def __init__(self, deploy: Deployment) -> None:
        self.deploy = deploy
        self.clients: dict[str, FollowingClient] = {}

    async def hall(self, key: str, home: str) -> FollowingClient:
        assert self.deploy.org is not None
        c = FollowingClient(self.deploy.nodes[home].url, token=self.deploy.org.terminal_tokens[key],
                            colour=COLOURS[key], thumb=True)  # fmt: skip
        await c.connect()
        self.clients[key] = c
        return c

    async def chair(self, home: str) -> FollowingClient:
        url = self.deploy.nodes[home].url
        c = FollowingClient(url, cookie=await cookie(url, "chair_p"), slots=("main", "chair"))
        await c.connect()
        self.clients["chair"] = c
        return c

    async def close(self) -> None:
        for c in self.clients.values():
            await c.close()


@pytest.fixture
async def halls_of() -> AsyncIterator[Callable[[Deployment], Halls]]:
    made: list[Halls] = []

    def make(deploy: Deployment) -> Halls:
        made.append(Halls(deploy))
        return made[-1]

    yield make
    for h in made:
        await h.close()


async def _in_meeting(c: FollowingClient, deadline: float = 20.0) -> None:
    await c.until(lambda: c.pc is not None and bool(c.readers) and c.joined is not None, deadline)


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_halls_at_home_on_three_nodes_are_sent_to_the_host_and_all_see_the_floor(
    tmp_path: Path, halls_of: Callable[[Deployment], Halls]
) -> None:
    async with deployment(tmp_path) as deploy:
        await deploy.start("n1", "n2", "n3")
        assert deploy.org is not None
        meeting_id = await create_meeting(deploy, deploy.nodes["n2"].url)
        halls = halls_of(deploy)
        homes = {"P": "n1", "A": "n2", "B": "n3"}
        for key, home in homes.items():
            c = await halls.hall(key, home)
            waiting = await c.join(meeting_id)
            assert waiting["ok"] and waiting["lobby"], waiting  # a lobby on every node
        chair = await halls.chair("n3")
        assert (await chair.join(meeting_id))["lobby"]
        started = await chair.call("start_meeting", {"meeting_id": meeting_id})
        assert started["ok"], started

        # meeting_started reached every node's lobby: every hall joins by itself, and those
        # at home elsewhere are sent to the host.
        host = await deploy.host_of(meeting_id)
        assert host in ("n1", "n2", "n3")
        host_url = deploy.nodes[host].url
        for c in halls.clients.values():
            await _in_meeting(c)
            assert c.url == host_url
            assert c.moves == ([] if c.home == host_url else [host_url])
        assert sum(bool(c.moves) for c in halls.clients.values()) >= 2

        ids = [deploy.org.halls[k] for k in homes]
        await chair.until(lambda: all(chair.hall(i)["presence"] == "connected" for i in ids))
        floor = await chair.call("give_floor", {"hall_id": deploy.org.halls["A"]})
        assert floor["ok"], floor
        for key in ("P", "B", "chair"):
            await sees(halls.clients[key], "main", COLOURS["A"], deadline=15)
        for c in halls.clients.values():
            await c.until(lambda c=c: c.state is not None
                          and c.state["floor_hall_id"] == deploy.org.halls["A"])  # fmt: skip
        for node in deploy.nodes.values():
            assert "Traceback" not in node.output(), node.output()


async def test_a_revoke_or_deactivation_on_one_node_sends_the_sockets_on_another_away_at_once(
    tmp_path: Path,
) -> None:
    """The admin acts on n1; the terminal and the console are connected to n2. Their sockets
    are closed within seconds, not at n2's next check of the credentials (an hour here)."""
    async with deployment(tmp_path) as deploy:
        await deploy.start("n1", "n2", GIAOBAN_CREDENTIALS_CHECK_SECONDS="3600")
        assert deploy.org is not None
        n2 = deploy.nodes["n2"].url
        terminal = LiveClient(n2, token=deploy.org.terminal_tokens["A"])
        chair = LiveClient(n2, cookie=await cookie(n2, "chair_p"))
        admin = await session(deploy.nodes["n1"].url, "admin")
        try:
            await terminal.connect()
            await chair.connect()
            n1 = deploy.nodes["n1"].url
            terminal_id, user_id = deploy.org.terminal_ids["A"], deploy.org.users["chair_p"]
            for path, client, code in (
                (f"/api/terminals/{terminal_id}/revoke", terminal, "revoked"),
                (f"/api/users/{user_id}/deactivate", chair, "deactivated"),
            ):
                async with admin.post(f"{n1}{path}", headers={"Origin": n1}) as reply:
                    assert reply.status == 200, await reply.text()
                await client.until(
                    lambda c=client: any(n == "removed" for n, _ in c.events), deadline=5
                )
                assert next(d for n, d in client.events if n == "removed")["code"] == code
        finally:
            await admin.close()
            await terminal.close()
            await chair.close()


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_kill_9_of_the_host_brings_the_halls_back_on_another_node_within_15_s(
    tmp_path: Path, halls_of: Callable[[Deployment], Halls]
) -> None:
    async with deployment(tmp_path) as deploy:
        await deploy.start("n1", "n2")
        assert deploy.org is not None
        meeting_id = await create_meeting(deploy, deploy.nodes["n1"].url)
        halls = halls_of(deploy)
        homes = {"P": "n1", "A": "n2", "B": "n1"}
        for key, home in homes.items():
            assert (await (await halls.hall(key, home)).join(meeting_id))["lobby"]
        chair = await halls.chair("n1")
        assert (await chair.join(meeting_id))["lobby"]
        assert (await chair.call("start_meeting", {"meeting_id": meeting_id}))["ok"]
        for c in halls.clients.values():
            await _in_meeting(c)
        host = await deploy.host_of(meeting_id)
        assert host is not None
        survivor = next(n for n in deploy.nodes if n != host)
        a = deploy.org.halls["A"]
        assert (await chair.call("give_floor", {"hall_id": a}))["ok"]
        await sees(halls.clients["P"], "main", COLOURS["A"], deadline=15)
        deadline = time.monotonic() + 10  # the floor and the (automatic) recording are stored
        while True:
            before = await _timeline(deploy.nodes[survivor].url, meeting_id)
            if {"floor", "recording_started"} <= {e["kind"] for e in before}:
                break
            assert time.monotonic() < deadline, before
            await asyncio.sleep(0.2)

        killed_at, killed_wall = time.monotonic(), datetime.now(UTC)
        deploy.nodes[host].kill()
        # Nobody touches the halls: they find the survivor, which takes the meeting over.
        for c in halls.clients.values():
            await c.until(lambda c=c: bool(c.rejoined) and c.pc is not None, deadline=30)
        back = max(c.rejoined[-1] for c in halls.clients.values()) - killed_at
        assert back < 15, f"halls back after {back:.1f} s"
        assert await deploy.host_of(meeting_id) == survivor
        for key in ("P", "B"):  # the floor survived the takeover (rebuilt from the timeline)
            await sees(halls.clients[key], "main", COLOURS["A"], deadline=15)
        after = await _timeline(deploy.nodes[survivor].url, meeting_id)
        assert after[: len(before)] == before  # nothing stored before the kill is lost
        assert [e["at"] for e in after] == sorted(e["at"] for e in after)
        assert {"reconnect", "join"} & {e["kind"] for e in after[len(before) :]}
        # The segments the dead host was writing were closed by the node that took over.
        db = Database(deploy.database_url)
        try:
            async with db.session() as session:
                segments = (await session.scalars(sa.select(RecordingSegment))).all()
        finally:
            await db.close()
        old = [s for s in segments if s.started_at < killed_wall]
        assert old, [(s.state, s.started_at, s.path, killed_wall) for s in segments]
        assert all(s.state is not SegmentState.WRITING for s in old), [s.state for s in old]
        print(f"halls back in the meeting {back:.1f} s after kill -9 of its host")
