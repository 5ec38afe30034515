"""Contracts of media nodes (media.worker.run_node, media.workers.MediaNode): a district's
machine owns its halls' connections; one copy of a stream crosses each way; a node that
dies fails its peers, its halls fall back to the node's own workers, and it is dialled
again until it is back."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from media_testkit import BLUE, RED, Client, until
from workers_kit import publish, relayed_on, video, watch

from media import ConnectionState
from media.worker import read_message, write_message
from media.workers import MediaNode, MediaWorkers

pytestmark = pytest.mark.slow

SECRET = "a secret the province and its districts share"


class NodeProcess:
    """``python -m media.worker --listen``: a media node, as a district would run it."""

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None
        self.port = 0

    async def start(self, port: int = 0) -> None:
        env = {**os.environ, "GIAOBAN_MEDIA_WORKER_SECRET": SECRET}
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "media.worker", "--listen", f"127.0.0.1:{port}",
            env=env, stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert self.process.stdout is not None
        async with asyncio.timeout(20):
            line = (await self.process.stdout.readline()).decode()
        found = re.search(r"listening on [^ ]+:(\d+)", line)
        assert found, line
        self.port = int(found.group(1))

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            async with asyncio.timeout(10):
                await self.process.wait()


@pytest.fixture
async def node() -> AsyncIterator[NodeProcess]:
    started = NodeProcess()
    await started.start()
    yield started
    await started.kill()


@pytest.fixture
async def make_pool() -> AsyncIterator[Callable[..., Awaitable[MediaWorkers]]]:
    pools: list[MediaWorkers] = []

    async def make(port: int, secret: str = SECRET) -> MediaWorkers:
        pool = MediaWorkers(1, nodes={"huyen-a": ("127.0.0.1", port)}, secret=secret)
        await pool.start()
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.close()


def the_node(pool: MediaWorkers) -> MediaNode:
    (node,) = pool.nodes
    return node


async def test_a_zones_halls_are_on_its_node_and_one_copy_crosses_each_way(
    node: NodeProcess, make_pool: Callable[..., Awaitable[MediaWorkers]], clients: list[Client]
) -> None:
    pool = await make_pool(node.port)
    await until(lambda: the_node(pool).alive, deadline=10)
    (here,) = pool.workers
    district = pool.place("meeting-1", zone="huyen-a")
    assert district is the_node(pool)
    assert pool.place("meeting-1", zone="huyen-b") is here  # a zone without a node
    commune = await publish(pool, district, RED, clients)
    province = await publish(pool, here, BLUE, clients)
    # Two halls of the district and one of the province see the commune; the district's
    # halls see the province.
    for _ in range(2):
        await watch(pool, district, video(province), BLUE, clients)
    await watch(pool, here, video(commune), RED, clients)
    await watch(pool, district, video(commune), RED, clients)
    assert await relayed_on(pool, "huyen-a") == 1  # the province's stream, once
    assert await relayed_on(pool, "w1") == 1  # the commune's stream, once
    assert (await pool.stats())[-1]["address"] == f"127.0.0.1:{node.port}"


async def test_a_controller_that_does_not_say_the_secret_is_refused(
    node: NodeProcess, make_pool: Callable[..., Awaitable[MediaWorkers]]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    write_message(writer, {"hello": "a guess"})
    async with asyncio.timeout(10):
        assert await read_message(reader) == {"event": "refused", "reason": "wrong secret"}
        with pytest.raises(asyncio.IncompleteReadError):
            await read_message(reader)  # and closed
    writer.close()
    pool = await make_pool(node.port, secret="another deployment's")
    (here,) = pool.workers
    await until(lambda: the_node(pool).last_error is not None, deadline=10)
    assert "refused us: wrong secret" in str(the_node(pool).last_error)
    assert not the_node(pool).alive
    assert (await pool.stats())[-1]["error"] == the_node(pool).last_error
    assert pool.place("meeting-1", zone="huyen-a") is here  # its halls are served here


async def test_a_node_that_dies_fails_its_peers_and_is_dialled_again_until_it_is_back(
    node: NodeProcess, make_pool: Callable[..., Awaitable[MediaWorkers]], clients: list[Client]
) -> None:
    pool = await make_pool(node.port)
    await until(lambda: the_node(pool).alive, deadline=10)
    (here,) = pool.workers
    commune = await publish(pool, the_node(pool), RED, clients)
    await watch(pool, here, video(commune), RED, clients)
    source = video(commune)
    await node.kill()
    await until(lambda: source.ended, deadline=15)
    assert commune.connection_state is ConnectionState.FAILED  # the hall reconnects
    assert pool.place("meeting-1", zone="huyen-a") is here  # and is served here meanwhile
    await node.start(port=node.port)
    await until(lambda: the_node(pool).alive, deadline=20)
    again = await publish(pool, pool.place("meeting-1", zone="huyen-a"), RED, clients)
    assert again.worker is the_node(pool)
    await watch(pool, here, video(again), RED, clients)
