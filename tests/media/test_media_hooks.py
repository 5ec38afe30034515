"""The aiortc hooks as one: the version check, the one install call, and every hook at work
on a real connection (one module per hook: ``test_media_hooks_*.py``)."""

from __future__ import annotations

import fractions
import threading
from collections.abc import Callable

import aiortc
import aiortc.rtcrtpreceiver
import av
import pytest
from aiortc.codecs import get_capabilities
from media_testkit import (
    RED,
    Client,
    connect,
    next_frame_of,
    publisher_client,
    subscriber_client,
    until,
)

from media import AiortcIncompatibleError, Peer, aiortc_patch
from media.aiortc_patch.jitter import BoundedJitterBuffer


def test_an_unsupported_aiortc_version_is_refused_loudly() -> None:
    aiortc_patch.check_version()  # the installed one
    with pytest.raises(AiortcIncompatibleError, match=r"found aiortc 1\.17\.0"):
        aiortc_patch.check_version("1.17.0")
    assert aiortc.__version__.startswith(aiortc_patch.SUPPORTED_AIORTC_VERSIONS)


def test_the_internals_the_patch_uses_exist_in_the_installed_aiortc() -> None:
    aiortc_patch.check_hooks()
    aiortc_patch.install()
    aiortc_patch.install()  # idempotent
    assert aiortc_patch.installed()
    worker = aiortc.rtcrtpreceiver.decoder_worker
    assert worker.__module__ == "media.aiortc_patch.receive", (
        "install() did not take the decoder thread"
    )
    assert {codec.mimeType for codec in get_capabilities("video").codecs} >= {
        "video/VP8",
        "video/H264",
    }


async def test_the_hooks_work_on_a_real_connection(
    make_peer: Callable[..., Peer], clients: list[Client]
) -> None:
    publisher, subscriber = publisher_client(RED), subscriber_client(1, 0)
    clients += [publisher, subscriber]
    source_peer, slot_peer = make_peer(), make_peer()
    await connect(publisher, source_peer)
    await connect(subscriber, slot_peer)
    video, audio = source_peer.sources

    # Idle: a source nobody takes frames from is counted, not reassembled.
    await until(lambda: video.packets_received >= 10 and audio.packets_received >= 10, deadline=5)
    assert video.idle and audio.idle
    (video_receiver,) = [t.receiver for t in source_peer._pc.getTransceivers() if t.kind == "video"]
    held = aiortc_patch.jitter.jitter_buffer(video_receiver)._packets  # type: ignore[attr-defined]
    estimator = video_receiver._RTCRtpReceiver__remote_bitrate_estimator  # type: ignore[attr-defined]
    assert isinstance(estimator.incoming_bitrate, aiortc_patch.estimator._RateCounter)
    assert not any(held), "an idle source's packets were put in the jitter buffer"

    # Receive side: frames arrive as av.Packets through the passthrough queue, not decoded.
    packets: list[av.Packet] = []

    class Sink:
        def on_packet(self, source: object, packet: av.Packet) -> None:
            packets.append(packet)

        def on_source_ended(self, source: object) -> None:
            pass

    video.subscribe(Sink())
    assert not video.idle
    # Frames are wanted again: from a keyframe, which the source asks for itself.
    await until(lambda: bool(packets), deadline=5)
    assert packets[0].is_keyframe
    assert all(isinstance(packet, av.Packet) for packet in packets)
    assert packets[0].time_base == fractions.Fraction(1, 90_000)
    assert [p.pts for p in packets] == sorted(p.pts for p in packets)
    await until(lambda: audio.packets_received > 0, deadline=5)
    for transceiver in source_peer._pc.getTransceivers():
        assert aiortc_patch.receive.is_passthrough(transceiver.receiver)
        assert isinstance(
            aiortc_patch.jitter.jitter_buffer(transceiver.receiver), BoundedJitterBuffer
        )
        # The receiver started its decoder thread, which ended at once.
        thread = transceiver.receiver._RTCRtpReceiver__decoder_thread  # type: ignore[attr-defined]
        assert isinstance(thread, threading.Thread) and not thread.is_alive()

    # Fast receive: RTP is handled in the datagram callback, never queued for the DTLS task;
    # aiortc's own (async) handler is not called, and the DTLS counts still grow.
    (dtls,) = {t.receiver.transport for t in source_peer._pc.getTransceivers()}
    queued: list[bytes] = []
    connection = dtls.transport._connection
    put = connection._queue.put_nowait

    def spy_put(item: tuple[bytes, int] | None) -> None:
        if item is not None and 127 < item[0][0] < 192 and not 192 <= item[0][1] <= 208:
            queued.append(item[0])
        put(item)

    connection._queue.put_nowait = spy_put
    aiortc_handled: list[int] = []
    for transceiver in source_peer._pc.getTransceivers():
        transceiver.receiver._handle_rtp_packet = (  # type: ignore[method-assign]
            lambda packet, arrival_time_ms: aiortc_handled.append(1)  # type: ignore[misc]
        )
    received, before = dtls._RTCDtlsTransport__rx_packets, len(packets)  # type: ignore[attr-defined]
    await until(lambda: len(packets) >= before + 10, deadline=5)
    assert dtls._RTCDtlsTransport__rx_packets > received  # type: ignore[attr-defined]
    assert not queued and not aiortc_handled
    connection._queue.put_nowait = put

    # Keyframe requests, both ways: the server's PLI reaches the publisher's sender ...
    requests: list[str] = []
    (sender,) = [t.sender for t in publisher.pc.getTransceivers() if t.kind == "video"]
    aiortc_patch.send.on_keyframe_request(sender, lambda: requests.append("publisher"))
    (receiver,) = [t.receiver for t in source_peer._pc.getTransceivers() if t.kind == "video"]
    assert await aiortc_patch.receive.send_pli(receiver)
    await until(lambda: "publisher" in requests, deadline=2)
    # ... and a subscriber's PLI reaches the server's sender hook.
    slot = slot_peer.outgoing[0]
    slot.switch_source(video)
    await next_frame_of(subscriber.received_track(0), RED, deadline=5)  # a client still decodes
    (server_sender,) = [t.sender for t in slot_peer._pc.getTransceivers()]
    aiortc_patch.send.on_keyframe_request(server_sender, lambda: requests.append("subscriber"))
    (client_receiver,) = [t.receiver for t in subscriber.pc.getTransceivers()]
    (ssrc,) = [s.source for s in client_receiver.getSynchronizationSources()]
    await client_receiver._send_rtcp_pli(ssrc)
    await until(lambda: "subscriber" in requests, deadline=2)
    # Direct send: the sender pushes frames from the source's callback, it does not read.
    assert slot._direct is not None
