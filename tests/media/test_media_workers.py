"""Contracts of the media workers (media/workers.py, media/worker.py): peers in other
processes, used like media.Peer; a slot switched to another worker's source is cascaded; a
sink here gets its own copy; a worker ends with its parent's socket."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import av
import pytest
from media_testkit import BLUE, RED, Client, next_frame_of, until
from workers_kit import no_copies_on, publish, relayed_on, video, watch

from media import MediaKind, NegotiationError, Source
from media.workers import MediaWorkers

pytestmark = pytest.mark.slow


@pytest.fixture
async def pool() -> AsyncIterator[MediaWorkers]:
    workers = MediaWorkers(2)
    await workers.start()
    yield workers
    await workers.close()


async def test_a_subscriber_on_another_worker_sees_the_publisher_through_the_cascade(
    pool: MediaWorkers, clients: list[Client]
) -> None:
    w1, w2 = pool.workers
    red = await publish(pool, w1, RED, clients)
    await watch(pool, w1, video(red), RED, clients)
    await watch(pool, w2, video(red), RED, clients)
    assert await relayed_on(pool, "w2") == 1  # one copy crossed, for the far subscriber
    assert await relayed_on(pool, "w1") == 0


async def test_switching_to_a_source_of_another_worker_shows_it(
    pool: MediaWorkers, clients: list[Client]
) -> None:
    w1, w2 = pool.workers
    red = await publish(pool, w1, RED, clients)
    blue = await publish(pool, w2, BLUE, clients)
    client, peer = await watch(pool, w2, video(blue), BLUE, clients)
    peer.outgoing[0].switch_source(video(red))
    await next_frame_of(client.received_track(0), RED, deadline=10)
    peer.outgoing[0].switch_source(video(blue))  # the cascaded copy is no longer needed
    await next_frame_of(client.received_track(0), BLUE, deadline=10)
    assert not pool._relays
    await no_copies_on(pool, "w2")


class Keeper:
    def __init__(self) -> None:
        self.packets: list[av.Packet] = []

    def on_packet(self, source: Source, packet: av.Packet) -> None:
        self.packets.append(packet)

    def on_source_ended(self, source: Source) -> None:
        pass


async def test_a_sink_in_this_process_gets_a_copy_from_a_keyframe_and_the_levels_come(
    pool: MediaWorkers, clients: list[Client]
) -> None:
    red = await publish(pool, pool.workers[0], RED, clients)
    keeper = Keeper()
    video(red).subscribe(keeper)  # as the recorder does
    await until(lambda: len(keeper.packets) >= 30, deadline=10)
    assert keeper.packets[0].is_keyframe
    mic = next(s for s in red.sources if s.kind is MediaKind.AUDIO)
    await until(lambda: (mic.audio_level or 0) > 0.05, deadline=10)
    video(red).unsubscribe(keeper)
    count = len(keeper.packets)
    await asyncio.sleep(0.5)  # nothing is handed to a sink that left
    assert len(keeper.packets) == count


async def test_an_offer_the_worker_cannot_answer_is_refused_with_its_reason(
    pool: MediaWorkers,
) -> None:
    peer = pool.peer()
    with pytest.raises(NegotiationError, match=r"no m-line"):
        await peer.answer("v=0\r\nthis is not an offer\r\n")
    await peer.close()


async def test_a_closed_publisher_ends_its_sources_here_and_on_the_far_worker(
    pool: MediaWorkers, clients: list[Client]
) -> None:
    w1, w2 = pool.workers
    red = await publish(pool, w1, RED, clients)
    await watch(pool, w2, video(red), RED, clients)
    source = video(red)
    await red.close()
    assert source.ended
    await no_copies_on(pool, "w2")


async def test_peers_of_a_group_share_a_worker_until_it_is_full() -> None:
    pool = MediaWorkers(2, capacity=2)
    await pool.start()
    try:
        peers = [pool.peer(group="m1") for _ in range(3)]
        assert peers[0].worker is peers[1].worker
        assert peers[2].worker is not peers[0].worker
        other = pool.peer(group="m2")
        assert other.worker is peers[2].worker  # the least loaded
        for p in peers:
            await p.close()
        assert pool.peer(group="m3").worker is pool.workers[0]  # closed peers are no load
    finally:
        await pool.close()


async def test_a_worker_ends_when_its_parent_goes_and_a_dead_one_is_replaced(
    pool: MediaWorkers, clients: list[Client]
) -> None:
    w1, w2 = pool.workers
    red = await publish(pool, w2, RED, clients)
    assert w1.process is not None and w2.process is not None
    assert w1._writer is not None
    w1._writer.close()  # as when the parent dies: the kernel closes its end
    async with asyncio.timeout(10):
        await w1.process.wait()
    os.kill(w2.pid, signal.SIGKILL)
    await until(lambda: video(red).ended, deadline=10)  # its sources end here
    assert not w2.alive
    # Both are replaced; a hall that reconnects is placed on a new one and works.
    await until(lambda: all(w.alive for w in pool.workers), deadline=30)
    assert {w.name for w in pool.workers} == {"w3", "w4"}
    blue = await publish(pool, pool.place(), BLUE, clients)
    await watch(pool, pool.place(), video(blue), BLUE, clients)
