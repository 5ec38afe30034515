"""The hooks into aiortc internals: these tests fail loudly when an aiortc upgrade moves one."""

from __future__ import annotations

import fractions
import random
import threading
from collections.abc import Callable

import aiortc
import aiortc.rtcrtpreceiver
import av
import pytest
from aiortc.codecs import get_capabilities
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rate import RateCounter, RemoteBitrateEstimator
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket
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
from media.aiortc_patch import BoundedJitterBuffer, PassthroughQueue

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=97)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48_000, channels=2, payloadType=96)


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
    assert worker.__module__ == "media.aiortc_patch", "install() did not take the decoder thread"
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
    held = aiortc_patch.jitter_buffer(video_receiver)._packets  # type: ignore[attr-defined]
    estimator = video_receiver._RTCRtpReceiver__remote_bitrate_estimator  # type: ignore[attr-defined]
    assert isinstance(estimator.incoming_bitrate, aiortc_patch._RateCounter)
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
        assert aiortc_patch.is_passthrough(transceiver.receiver)
        assert isinstance(aiortc_patch.jitter_buffer(transceiver.receiver), BoundedJitterBuffer)
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
    aiortc_patch.on_keyframe_request(sender, lambda: requests.append("publisher"))
    (receiver,) = [t.receiver for t in source_peer._pc.getTransceivers() if t.kind == "video"]
    assert await aiortc_patch.send_pli(receiver)
    await until(lambda: "publisher" in requests, deadline=2)
    # ... and a subscriber's PLI reaches the server's sender hook.
    slot = slot_peer.outgoing[0]
    slot.switch_source(video)
    await next_frame_of(subscriber.received_track(0), RED, deadline=5)  # a client still decodes
    (server_sender,) = [t.sender for t in slot_peer._pc.getTransceivers()]
    aiortc_patch.on_keyframe_request(server_sender, lambda: requests.append("subscriber"))
    (client_receiver,) = [t.receiver for t in subscriber.pc.getTransceivers()]
    (ssrc,) = [s.source for s in client_receiver.getSynchronizationSources()]
    await client_receiver._send_rtcp_pli(ssrc)
    await until(lambda: "subscriber" in requests, deadline=2)
    # Direct send: the sender pushes frames from the source's callback, it does not read.
    assert slot._direct is not None


def test_passthrough_queue_turns_frames_into_packets_and_never_raises() -> None:
    got: list[av.Packet] = []
    ended: list[bool] = []
    queue = PassthroughQueue(
        got.append, lambda: ended.append(True), mime_type="video/VP8", clock_rate=90_000
    )
    keyframe = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00]) + bytes(20)
    # From the jitter buffer: raw RTP timestamps, unwrapped across 2**32, pts from 0.
    queue.deliver(JitterFrame(data=keyframe, timestamp=2**32 - 3000))
    late = JitterFrame(data=bytes([0x31]) + bytes(20), timestamp=3000)
    late.discontinuity = True  # type: ignore[attr-defined]
    queue.deliver(late)
    # From aiortc itself (timestamp already unwrapped), should it ever put a frame.
    queue.put((VP8, JitterFrame(data=bytes([0x31]) + bytes(20), timestamp=9000)))
    assert [(p.pts, p.is_keyframe, p.is_corrupt) for p in got] == [
        (0, True, False),
        (6000, False, True),
        (9000, False, False),
    ]
    assert got[0].time_base == fractions.Fraction(1, 90_000)
    assert bytes(got[0]) == keyframe

    def broken(packet: av.Packet) -> None:
        raise RuntimeError("a sink bug")

    PassthroughQueue(broken, lambda: None, mime_type="audio/opus", clock_rate=48_000).deliver(
        JitterFrame(data=b"\xfc\xff\xfe", timestamp=0)
    )
    queue.put(None)
    queue.put(None)
    assert ended == [True]


def rtp(seq: int, timestamp: int, *, marker: bool = True, size: int = 100) -> RtpPacket:
    packet = RtpPacket(payload_type=97, sequence_number=seq, timestamp=timestamp, marker=marker)
    packet._data = bytes([seq & 0xFF]) * size  # type: ignore[attr-defined]
    return packet


def feed(buffer: JitterBuffer, packets: list[RtpPacket]) -> list[JitterFrame]:
    frames = []
    for packet in packets:
        _, frame = buffer.add(packet)
        if frame is not None:
            frames.append(frame)
    return frames


def test_a_lost_packet_is_skipped_after_max_delay_and_the_next_frame_marked() -> None:
    buffer = BoundedJitterBuffer(capacity=256, max_delay=18_000, is_video=True)  # 0.2 s
    # One packet per frame, 30 fps; packet 10 is lost for good.
    packets = [rtp(seq, seq * 3000) for seq in range(40) if seq != 10]
    released: list[JitterFrame] = []
    pli = False
    for packet in packets:
        flag, frame = buffer.add(packet)
        pli = pli or flag
        if frame is not None:
            released.append(frame)
    timestamps = [frame.timestamp for frame in released]
    # Every frame up to 9 came out as its (marker) packet arrived; 11 (right after the hole)
    # is skipped; 12 resumes, once the packets held behind the hole span more than 0.2 s.
    assert timestamps[:10] == [seq * 3000 for seq in range(10)]
    assert 10 * 3000 not in timestamps and 11 * 3000 not in timestamps
    assert timestamps[10] == 12 * 3000
    assert getattr(released[10], "discontinuity", False)
    assert not any(getattr(frame, "discontinuity", False) for frame in released[11:])
    assert buffer.holes_skipped == 1
    assert pli
    # How long the stream stood still: the newest packet when 12 came out was 0.2 s newer.
    assert timestamps == sorted(timestamps)


def test_a_retransmission_within_max_delay_fills_the_hole_and_the_backlog_leaves_at_once() -> None:
    frames: list[JitterFrame] = []
    buffer = BoundedJitterBuffer(
        capacity=256, max_delay=18_000, is_video=True, on_frame=frames.append
    )
    packets = [rtp(seq, seq * 3000) for seq in range(8) if seq != 3]
    packets.append(rtp(3, 3 * 3000))  # the NACKed packet comes back 0.13 s late
    assert feed(buffer, packets) == []  # with on_frame, add() itself returns no frame
    # Frames 3 to 7 were held behind the hole; all leave with the retransmission (aiortc's
    # buffer would release one per packet added, and keep the delay).
    assert [frame.timestamp for frame in frames] == [seq * 3000 for seq in range(8)]
    assert buffer.holes_skipped == 0
    assert not any(getattr(frame, "discontinuity", False) for frame in frames)

    stock = JitterBuffer(capacity=256, is_video=True)
    stock_frames = feed(stock, packets)
    assert len(stock_frames) < 7


def test_a_frame_leaves_with_its_marker_packet_not_a_frame_later() -> None:
    # aiortc releases a frame when the next frame's first packet arrives (+1 frame interval of
    # latency); a video frame complete up to its marker bit, or an audio packet, leaves now.
    frames: list[JitterFrame] = []
    video = BoundedJitterBuffer(
        capacity=256, max_delay=18_000, is_video=True, on_frame=frames.append
    )
    video.add(rtp(0, 0, marker=False))
    assert frames == []
    video.add(rtp(1, 0, marker=True))
    assert [len(frame.data) for frame in frames] == [200]
    # A marker packet that arrives before the rest of its frame waits for it.
    video.add(rtp(3, 3000, marker=True))
    assert len(frames) == 1
    video.add(rtp(2, 3000, marker=False))
    assert [frame.timestamp for frame in frames] == [0, 3000]
    sound: list[JitterFrame] = []
    audio = BoundedJitterBuffer(capacity=16, max_delay=2880, is_video=False, on_frame=sound.append)
    audio.add(rtp(0, 0, marker=False))
    assert len(sound) == 1
    stock = JitterBuffer(capacity=256, is_video=True)
    assert stock.add(rtp(0, 0, marker=True))[1] is None


def big_frame_then_next(packets_in_frame: int) -> list[RtpPacket]:
    frame = [
        rtp(seq, 0, marker=seq == packets_in_frame - 1, size=1200)
        for seq in range(packets_in_frame)
    ]
    return [*frame, rtp(packets_in_frame, 3000)]


def test_a_keyframe_larger_than_64_packets_passes_whole() -> None:
    # Why the capacity is not 64: aiortc's overflow handling destroys a frame that does not
    # fit, and the keyframe asked for next is as large: the stream would never recover.
    frames = feed(
        BoundedJitterBuffer(capacity=256, max_delay=18_000, is_video=True), big_frame_then_next(100)
    )
    assert len(frames[0].data) == 100 * 1200
    stock = feed(JitterBuffer(capacity=64, is_video=True), big_frame_then_next(100))
    assert not any(len(frame.data) == 100 * 1200 for frame in stock)


def test_remb_is_sent_at_most_once_per_interval() -> None:
    # aiortc's receiver sends a REMB for every packet while its estimator sees "overuse" (a
    # busy server's own loop delay looks like it): the estimate goes on, the REMBs are spaced.
    class Estimator:
        calls = 0

        def add(self, **kwargs: object) -> tuple[int, list[int]]:
            self.calls += 1
            return 300_000, [1]

    class Receiver:
        _RTCRtpReceiver__remote_bitrate_estimator = Estimator()

    receiver = Receiver()
    aiortc_patch.throttle_remb(receiver, 60.0)  # type: ignore[arg-type]
    estimator = receiver._RTCRtpReceiver__remote_bitrate_estimator
    sent = [estimator.add(arrival_time_ms=i, abs_send_time=i, payload_size=1000, ssrc=1)
            for i in range(50)]  # fmt: skip
    assert estimator.calls == 50
    assert sent[0] == (300_000, [1]) and sent[1:] == [None] * 49


def test_the_fast_send_path_packetises_vp8_as_aiortc_does() -> None:
    from aiortc.codecs.vpx import Vp8Encoder

    for size in (1, 100, 1295, 1296, 1297, 2592, 9000):
        frame = bytes(range(256)) * (size // 256) + bytes(size % 256)
        assert aiortc_patch._vp8_payloads(frame, 1234) == Vp8Encoder._packetize(frame, 1234)
        assert aiortc_patch._vp8_payloads(frame, 0x7FFF) == Vp8Encoder._packetize(frame, 0x7FFF)


def test_the_faster_bandwidth_estimator_gives_aiortcs_figures() -> None:
    """Same packets, same REMBs: the swapped rate counter and frame-period history change
    the cost, not the estimate."""
    rng = random.Random(7)
    ours, theirs = RemoteBitrateEstimator(), RemoteBitrateEstimator()
    aiortc_patch._speed_up_estimator(ours)
    send_ms, arrival_ms, rembs = 0.0, 1000, 0
    for _ in range(3000):
        send_ms += rng.choice((0.0, 0.5, 40.0, 40.0, 40.0, 80.0))
        arrival_ms += rng.choice((0, 1, 20, 40, 45, 60, 1500 if rng.random() < 0.002 else 40))
        abs_send_time = int(send_ms * 262.144) & 0xFFFFFF
        size = rng.randrange(100, 9000)
        expected = theirs.add(abs_send_time, arrival_ms, size, 1234)
        assert ours.add(abs_send_time, arrival_ms, size, 1234) == expected
        rembs += expected is not None
        assert ours.incoming_bitrate.rate(arrival_ms) == theirs.incoming_bitrate.rate(arrival_ms)
    assert rembs > 10


def test_the_faster_rate_counter_counts_as_aiortcs() -> None:
    rng = random.Random(11)
    ours, theirs = aiortc_patch._RateCounter(100, 8000), RateCounter(100, 8000)
    now = 5000
    for _ in range(5000):
        now += rng.choice((0, 0, 1, 2, 5, 20, 99, 100, 101, 250))
        if rng.random() < 0.7:
            value = rng.randrange(1, 1500)
            ours.add(value, now)
            theirs.add(value, now)
        assert ours.rate(now) == theirs.rate(now)
