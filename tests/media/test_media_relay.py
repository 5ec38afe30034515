"""Contracts of the cascade link (media/relay.py): one copy of a stream from one process's
sources to another's, over TCP, without decoding; keyframe requests go back to the publisher."""

from __future__ import annotations

import asyncio
import fractions
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import av
import pytest
from media_testkit import (
    RED,
    Client,
    EncoderSpy,
    FrameLog,
    next_frame_of,
    publisher_client,
    subscriber_client,
    until,
)
from media_testkit import connect as connect_client

from media import MediaKind, Peer, Source
from media.relay import RelayError, RelayLink, open_link, serve_links

SECRET = "cascade-secret"


@dataclass
class Pair:
    """Two ends of one link: ``near`` dialled, ``far`` accepted (its sources in ``arrived``)."""

    near: RelayLink
    far: RelayLink
    arrived: list[tuple[Source, dict[str, Any]]] = field(default_factory=list)


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    accepted: asyncio.Queue[RelayLink] = asyncio.Queue()
    arrived: list[tuple[Source, dict[str, Any]]] = []

    def on_link(link: RelayLink) -> None:
        link.on_source = lambda source, label: arrived.append((source, label))
        accepted.put_nowait(link)

    server = await serve_links("127.0.0.1", 0, secret=SECRET, on_link=on_link)
    port = server.sockets[0].getsockname()[1]
    near = await open_link("127.0.0.1", port, secret=SECRET)
    async with asyncio.timeout(5):
        far = await accepted.get()
    made = Pair(near, far, arrived)
    yield made
    await near.close()
    await far.close()
    server.close()
    await server.wait_closed()


class Recorder:
    """A sink that keeps what it is handed: (index in the payload, keyframe)."""

    def __init__(self) -> None:
        self.frames: list[tuple[int, bool]] = []
        self.ended = False

    def on_packet(self, source: Source, packet: av.Packet) -> None:
        (index,) = struct.unpack_from(">I", bytes(packet), 10)
        self.frames.append((index, packet.is_keyframe))

    def on_source_ended(self, source: Source) -> None:
        self.ended = True


def vp8(index: int, *, key: bool, size: int = 1200) -> av.Packet:
    """A VP8-looking frame that carries its index (bytes 10..13)."""
    head = b"\x10\x02\x00\x9d\x01\x2a\x80\x02\xe0\x01" if key else b"\x11" + b"\x00" * 9
    packet = av.Packet(head + struct.pack(">I", index) + b"\x00" * (size - 14))
    packet.pts = index * 3000
    packet.dts = packet.pts
    packet.time_base = fractions.Fraction(1, 90_000)
    packet.is_keyframe = key
    return packet


class Publisher:
    """A fed video source whose keyframe requests are counted."""

    def __init__(self) -> None:
        self.requests = 0
        self.source = Source(kind=MediaKind.VIDEO, codec="video/VP8",
                             send_keyframe_request=self._request)  # fmt: skip

    async def _request(self) -> bool:
        self.requests += 1
        return True


async def test_a_publishers_stream_reaches_a_subscriber_of_the_far_side_without_an_encode(
    pair: Pair,
    make_peer: Any,
    clients: list[Client],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spy = EncoderSpy().install(monkeypatch)
    publisher = publisher_client(RED)
    clients.append(publisher)
    near_peer: Peer = make_peer()
    await connect_client(publisher, near_peer)
    for source in near_peer.sources:
        pair.near.relay(source, {"hall": 7})
    await until(lambda: len(pair.arrived) == 2, deadline=5)
    relayed = {source.kind: (source, label) for source, label in pair.arrived}
    assert relayed[MediaKind.VIDEO][1] == {"hall": 7}
    assert relayed[MediaKind.VIDEO][0].codec.lower() == "video/vp8"

    subscriber = subscriber_client(1, 1)
    clients.append(subscriber)
    far_peer: Peer = make_peer()
    await connect_client(subscriber, far_peer)
    far_peer.outgoing[0].switch_source(relayed[MediaKind.VIDEO][0])
    far_peer.outgoing[1].switch_source(relayed[MediaKind.AUDIO][0])
    video = subscriber.received_track(0)
    await next_frame_of(video, RED, deadline=10)
    log = FrameLog(subscriber.received_track(1))
    try:
        await until(lambda: log.count() >= 25, deadline=5)  # half a second of audio
    finally:
        await log.stop()
    assert pair.far.frames_received > 0
    assert spy.server_encode_calls == 0, "a relayed stream was re-encoded"


async def test_one_stream_on_the_wire_however_often_it_is_relayed(pair: Pair) -> None:
    publisher = Publisher()
    first = pair.near.relay(publisher.source)
    assert pair.near.relay(publisher.source) is first
    await until(lambda: len(pair.arrived) == 1, deadline=5)
    far_source = pair.arrived[0][0]
    sinks = [Recorder(), Recorder()]
    for sink in sinks:
        far_source.subscribe(sink)
    for i in range(10):
        publisher.source.feed(vp8(i, key=i == 0))
    await until(lambda: all(len(s.frames) == 10 for s in sinks), deadline=5)
    assert first.frames_sent == 10
    assert len(pair.far.incoming) == 1
    assert sinks[0].frames == [(i, i == 0) for i in range(10)]


async def test_a_keyframe_request_of_the_far_side_reaches_the_publisher(pair: Pair) -> None:
    publisher = Publisher()
    pair.near.relay(publisher.source)
    await until(lambda: len(pair.arrived) == 1, deadline=5)
    publisher.source.feed(vp8(0, key=True))
    far_source = pair.arrived[0][0]
    await until(lambda: far_source.has_keyframe, deadline=5)
    asked = publisher.requests
    far_source.request_keyframe()
    await until(lambda: publisher.requests > asked, deadline=5)


async def test_a_closed_link_ends_the_far_sides_sources_and_frees_the_publishers(
    pair: Pair,
) -> None:
    publisher = Publisher()
    pair.near.relay(publisher.source)
    await until(lambda: len(pair.arrived) == 1, deadline=5)
    sink = Recorder()
    pair.arrived[0][0].subscribe(sink)
    await pair.near.close()
    await until(lambda: sink.ended, deadline=5)
    assert pair.arrived[0][0].ended
    assert publisher.source.idle  # the link no longer takes its frames


async def test_unrelaying_a_source_ends_only_its_copy(pair: Pair) -> None:
    kept, dropped = Publisher(), Publisher()
    pair.near.relay(kept.source)
    pair.near.relay(dropped.source)
    await until(lambda: len(pair.arrived) == 2, deadline=5)
    pair.near.unrelay(dropped.source)
    await until(lambda: pair.arrived[1][0].ended, deadline=5)
    assert not pair.arrived[0][0].ended
    assert dropped.source.idle and not kept.source.idle


async def test_a_link_that_falls_behind_drops_frames_and_resumes_from_a_keyframe(
    pair: Pair,
) -> None:
    pair.near.max_buffer = 64 * 1024
    publisher = Publisher()
    relayed = pair.near.relay(publisher.source)
    await until(lambda: len(pair.arrived) == 1, deadline=5)
    sink = Recorder()
    pair.arrived[0][0].subscribe(sink)
    pair.far._transport.pause_reading()  # the far side stops reading: the network is slow
    index = 0
    while relayed.frames_dropped < 5:
        publisher.source.feed(vp8(index, key=index % 50 == 0, size=50_000))
        index += 1
        if index % 20 == 0:
            await asyncio.sleep(0)  # let the loop write what the kernel takes
        assert index < 5000, "the link never fell behind"
    asked = publisher.requests
    pair.far._transport.resume_reading()
    await until(lambda: not pair.near.behind(), deadline=10)
    async with asyncio.timeout(5):  # delta frames: the link waits for a key, and asks for one
        while publisher.requests == asked:
            publisher.source.feed(vp8(index, key=False, size=50_000))
            index += 1
            await asyncio.sleep(0.02)
    publisher.source.feed(vp8(index, key=True, size=50_000))
    last = index
    await until(lambda: bool(sink.frames) and sink.frames[-1][0] == last, deadline=10)
    # Nothing the far side got follows a gap unless it is a keyframe: every frame decodes.
    for (before, _), (after, key) in zip(sink.frames, sink.frames[1:], strict=False):
        assert after == before + 1 or key, (before, after)
    indices = [i for i, _ in sink.frames]
    assert indices != list(range(indices[0], last + 1)), "no frame was dropped"


async def test_a_link_with_the_wrong_secret_is_refused() -> None:
    accepted: list[RelayLink] = []
    server = await serve_links("127.0.0.1", 0, secret=SECRET, on_link=accepted.append)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(RelayError, match="refused"):
            await open_link("127.0.0.1", port, secret="guess")
        assert not accepted
    finally:
        server.close()
        await server.wait_closed()


async def test_a_malformed_message_closes_the_link_and_ends_its_sources(pair: Pair) -> None:
    publisher = Publisher()
    pair.near.relay(publisher.source)
    await until(lambda: len(pair.arrived) == 1, deadline=5)
    pair.near._writer.write(struct.pack(">IB", 1, 99))  # an unknown message type
    await asyncio.wait_for(pair.far.wait_closed(), 5)
    assert pair.arrived[0][0].ended
