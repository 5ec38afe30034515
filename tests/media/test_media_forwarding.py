"""Contracts of forwarding through real connections: aiortc clients ↔ media.Peer."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

import av
import pytest
from aiortc import RTCRtpReceiver, sdp
from aiortc.rtp import RtpPacket
from media_testkit import (
    BLUE,
    GREEN,
    RED,
    Client,
    EncoderSpy,
    FrameLog,
    Yuv,
    connect,
    next_frame_of,
    publisher_client,
    subscriber_client,
    until,
)

from media import ForwardedTrack, Peer, VideoCodec, aiortc_patch
from media.aiortc_patch.send import DirectFrameSender
from media.codecs import is_keyframe


async def publish(
    colour: Yuv, make_peer: Callable[..., Peer], clients: list[Client], **peer_args: Any
) -> tuple[Client, Peer]:
    client = publisher_client(colour)
    clients.append(client)
    peer = make_peer(**peer_args)
    await connect(client, peer)
    return client, peer


async def subscribe(
    make_peer: Callable[..., Peer],
    clients: list[Client],
    video_slots: int = 1,
    audio_slots: int = 1,
    **peer_args: Any,
) -> tuple[Client, Peer]:
    client = subscriber_client(video_slots, audio_slots)
    clients.append(client)
    peer = make_peer(**peer_args)
    await connect(client, peer)
    return client, peer


def spy_on_sent(track: ForwardedTrack) -> list[tuple[float, bool, int]]:
    """Note ``(when, is_keyframe, rtp_timestamp)`` of every frame the server's sender takes
    from ``track``, pushed (the fast send path) or read with ``recv()``."""
    log: list[tuple[float, bool, int]] = []
    original_attach, original_recv = track.attach_direct, track.recv

    def spy(send: DirectFrameSender) -> DirectFrameSender:
        def spied(frame: bytes, timestamp: int) -> None:
            log.append((time.monotonic(), is_keyframe("video/VP8", frame), timestamp))
            send(frame, timestamp)

        return spied

    def attach_direct(send: DirectFrameSender, on_stop: Callable[..., None]) -> None:
        original_attach(spy(send), on_stop)

    if track._direct is not None:  # the sender has already attached itself
        track._direct = spy(track._direct)

    async def recv() -> av.Packet:
        packet = await original_recv()
        assert packet.pts is not None
        log.append((time.monotonic(), packet.is_keyframe, packet.pts))
        return packet

    track.attach_direct = attach_direct  # type: ignore[method-assign]
    track.recv = recv  # type: ignore[method-assign]
    return log


@pytest.mark.parametrize("per_packet", ["compiled", "python"])
async def test_three_publishers_reach_subscribers_without_any_server_side_encode(
    make_peer: Callable[..., Peer],
    clients: list[Client],
    monkeypatch: pytest.MonkeyPatch,
    per_packet: str,
) -> None:
    """Also with the per-packet work in Python, as where ``_fastpath`` is not built."""
    if per_packet == "python":
        monkeypatch.setattr(aiortc_patch.send, "_native", None)
        monkeypatch.setattr(aiortc_patch.receive, "_native", None)
    spy = EncoderSpy().install(monkeypatch)
    colours = (RED, GREEN, BLUE)
    publishers = [await publish(colour, make_peer, clients) for colour in colours]
    subscribers = [await subscribe(make_peer, clients, 3, 3) for _ in range(2)]
    for _, peer in subscribers:
        for slot, (_, publisher) in enumerate(publishers):
            peer.outgoing[slot].switch_source(publisher.sources[0])
            peer.outgoing[3 + slot].switch_source(publisher.sources[1])
    logs = [
        [FrameLog(client.received_track(slot)) for slot in range(6)] for client, _ in subscribers
    ]
    try:
        await until(lambda: all(log.count() > 0 for row in logs for log in row), deadline=5)
        start = time.monotonic()
        counts = [[log.count() for log in row] for row in logs]
        # Media flows for about three seconds: 90 more frames on every video slot.
        await until(
            lambda: all(
                row[slot].count() - before[slot] >= 90
                for row, before in zip(logs, counts, strict=True)
                for slot in range(3)
            ),
            deadline=6,
        )
        elapsed = time.monotonic() - start
    finally:
        for row in logs:
            for log in row:
                await log.stop()

    for row, before in zip(logs, counts, strict=True):
        for slot, colour in enumerate(colours):
            video = row[slot]
            assert video.count() - before[slot] >= 20 * elapsed, "video frames missing"
            assert all(decoded.close_to(colour) for decoded in video.colours)
            assert video.max_gap(since=start) < 0.5
            audio = row[3 + slot]
            assert audio.count() - before[3 + slot] >= 30 * elapsed, "audio frames missing"
    # VP8 and Opus frames are packetised by media's own send loop
    # (aiortc_patch.send.enable_fast_send): the server makes no encoder at all.
    assert not spy.server_encoders, "the server made an encoder"
    assert spy.server_encode_calls == 0, "the server re-encoded media"
    assert spy.client_encode_calls > 0


async def test_switched_track_shows_the_new_source_within_a_second_from_a_keyframe(
    make_peer: Callable[..., Peer], clients: list[Client]
) -> None:
    _, red = await publish(RED, make_peer, clients)
    _, green = await publish(GREEN, make_peer, clients)
    subscriber, peer = await subscribe(make_peer, clients, 1, 0)
    slot = peer.outgoing[0]
    sent = spy_on_sent(slot)
    slot.switch_source(red.sources[0])
    track = subscriber.received_track(0)
    await next_frame_of(track, RED, deadline=5)
    for _ in range(10):
        await next_frame_of(track, RED, deadline=2)

    switched_at = time.monotonic()
    slot.switch_source(green.sources[0])
    await next_frame_of(track, GREEN, deadline=1.0)
    assert time.monotonic() - switched_at < 1.0
    for _ in range(10):
        frame = await asyncio.wait_for(track.recv(), 2)
        assert isinstance(frame, av.VideoFrame)

    after = [key for at, key, _ in sent if at >= switched_at]
    assert after and after[0], "the first frame after a switch is not a keyframe"
    timestamps = [timestamp for _, _, timestamp in sent]
    assert all(b > a for a, b in itertools.pairwise(timestamps)), (
        "the forwarded timestamps are not monotonic across the switch"
    )
    assert green.sources[0].keyframe_requests_sent >= 1


async def test_keyframe_request_of_a_subscriber_reaches_the_publisher(
    make_peer: Callable[..., Peer], clients: list[Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = EncoderSpy().install(monkeypatch)
    _, publisher = await publish(RED, make_peer, clients)
    subscriber, peer = await subscribe(make_peer, clients, 1, 0)
    peer.outgoing[0].switch_source(publisher.sources[0])
    track = subscriber.received_track(0)
    await next_frame_of(track, RED, deadline=5)
    # Let the keyframes of the join settle, past the source's PLI rate limit (15 frames).
    for _ in range(15):
        await next_frame_of(track, RED, deadline=2)
    settled = spy.client_forced_keyframes
    keyframes = publisher.sources[0].keyframes_received

    receiver: RTCRtpReceiver = subscriber.receiving[0].receiver
    (ssrc,) = [source.source for source in receiver.getSynchronizationSources()]
    await receiver._send_rtcp_pli(ssrc)  # what the subscriber's decoder does on a loss

    await until(lambda: spy.client_forced_keyframes > settled, deadline=2)
    await until(lambda: publisher.sources[0].keyframes_received > keyframes, deadline=2)


def stream_ssrcs(offer_sdp: str) -> tuple[int, int]:
    """The video SSRC and its RTX SSRC in a client's offer."""
    description = sdp.SessionDescription.parse(offer_sdp)
    video = next(media for media in description.media if media.kind == "video")
    (group,) = [group for group in video.ssrc_group if group.semantic == "FID"]
    return int(group.items[0]), int(group.items[1])


async def test_one_lost_packet_stalls_the_stream_less_than_half_a_second(
    make_peer: Callable[..., Peer], clients: list[Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, publisher = await publish(RED, make_peer, clients)
    video_ssrc, rtx_ssrc = stream_ssrcs(client.pc.localDescription.sdp)
    subscriber, peer = await subscribe(make_peer, clients, 1, 0)
    peer.outgoing[0].switch_source(publisher.sources[0])
    log = FrameLog(subscriber.received_track(0))
    lost: list[int] = []
    drop = asyncio.Event()
    # The server's receivers handle RTP on the fast receive path (aiortc_patch).
    for receiver in publisher._pc.getReceivers():
        original = receiver._giaoban_handle_rtp  # type: ignore[attr-defined]

        def handle_rtp(
            packet: RtpPacket, arrival_time_ms: int, original: Callable[..., None] = original
        ) -> None:
            if packet.ssrc == video_ssrc and drop.is_set() and not lost:
                lost.append(packet.sequence_number)  # lost for good: and its retransmissions
                return
            if (
                packet.ssrc == rtx_ssrc
                and lost
                and packet.payload[:2] == lost[0].to_bytes(2, "big")
            ):
                return
            original(packet, arrival_time_ms)

        monkeypatch.setattr(receiver, "_giaoban_handle_rtp", handle_rtp)
    try:
        await until(lambda: log.count() >= 30, deadline=5)
        dropped_at = time.monotonic()
        drop.set()
        await until(lambda: bool(lost), deadline=2)
        await until(lambda: publisher.sources[0].discontinuities >= 1, deadline=2)
        frames = log.count()
        await until(lambda: log.count() >= frames + 30, deadline=3)  # the stream runs on
    finally:
        await log.stop()
    assert log.max_gap(since=dropped_at - 0.2) < 0.5
    assert publisher.sources[0].frames_dropped >= 1
    assert publisher.sources[0].keyframe_requests_sent >= 1
    assert all(colour.close_to(RED) for colour in log.colours)


async def test_h264_is_forwarded_when_the_peers_negotiate_it(
    make_peer: Callable[..., Peer], clients: list[Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = EncoderSpy().install(monkeypatch)
    _, publisher = await publish(BLUE, make_peer, clients, video_codec=VideoCodec.H264)
    subscriber, peer = await subscribe(make_peer, clients, 1, 0, video_codec=VideoCodec.H264)
    assert publisher.sources[0].codec == "video/H264"
    peer.outgoing[0].switch_source(publisher.sources[0])
    track = subscriber.received_track(0)
    await next_frame_of(track, BLUE, deadline=5)
    for _ in range(10):
        await next_frame_of(track, BLUE, deadline=2)
    assert spy.server_pack_calls > 0
    assert spy.server_encode_calls == 0
