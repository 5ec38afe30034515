"""Helpers of the media workers' and media nodes' tests: clients connected to remote peers."""

from __future__ import annotations

import asyncio

from aiortc import RTCSessionDescription
from media_testkit import (
    Client,
    Yuv,
    next_frame_of,
    offer,
    publisher_client,
    subscriber_client,
    until,
)

from media import MediaKind, Source
from media.workers import MediaWorkers, RemotePeer, WorkerProcess


async def connect(client: Client, peer: RemotePeer, deadline: float = 10.0) -> None:
    answer = await peer.answer(await offer(client))
    await client.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await until(lambda: client.pc.connectionState == "connected", deadline=deadline)


async def publish(pool: MediaWorkers, worker: WorkerProcess, colour: Yuv,
                  clients: list[Client]) -> RemotePeer:  # fmt: skip
    client = publisher_client(colour)
    clients.append(client)
    peer = pool.peer(worker=worker)
    await connect(client, peer)
    return peer


async def watch(pool: MediaWorkers, worker: WorkerProcess, source: Source, colour: Yuv,
                clients: list[Client]) -> tuple[Client, RemotePeer]:  # fmt: skip
    """A subscriber on ``worker`` switched to ``source``, once it shows ``colour``."""
    client = subscriber_client(1, 1)
    clients.append(client)
    peer = pool.peer(worker=worker)
    await connect(client, peer)
    peer.outgoing[0].switch_source(source)
    await next_frame_of(client.received_track(0), colour, deadline=10)
    return client, peer


async def relayed_on(pool: MediaWorkers, name: str) -> int:
    """How many relayed copies the worker (or node) ``name`` holds."""
    stats = {s["worker"]: s for s in await pool.stats()}
    return int(stats[name].get("relayed", 0))


async def no_copies_on(pool: MediaWorkers, name: str, deadline: float = 5.0) -> None:
    """Wait until the worker ``name`` holds no relayed copy any more."""
    async with asyncio.timeout(deadline):
        while await relayed_on(pool, name):  # noqa: ASYNC110 (polled: no event)
            await asyncio.sleep(0.1)


def video(peer: RemotePeer) -> Source:
    return next(s for s in peer.sources if s.kind is MediaKind.VIDEO)
