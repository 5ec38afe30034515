"""The bounded jitter buffer (``media.aiortc_patch.jitter``)."""

from __future__ import annotations

import random

import pytest
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket

from media import AiortcIncompatibleError, aiortc_patch
from media.aiortc_patch.jitter import BoundedJitterBuffer


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


def test_the_guard_names_what_an_upgrade_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    assert aiortc_patch.jitter.check() == []
    monkeypatch.delattr(JitterBuffer, "_remove_frame")
    problems = aiortc_patch.jitter.check()
    assert any("_remove_frame" in problem for problem in problems), problems
    with pytest.raises(AiortcIncompatibleError, match="_remove_frame"):
        aiortc_patch.check_hooks()


class _WholeWay(BoundedJitterBuffer):
    """The buffer without its short way (every packet takes the whole one)."""

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        self._empty = False
        return super().add(packet)


def _network(rng: random.Random, video: bool, count: int) -> list[RtpPacket | None]:
    """A stream as a bad network delivers it: losses, swapped, late and repeated packets,
    frames without their marker, jumps of sequence number and timestamp; None: a restart."""
    sent: list[RtpPacket] = []
    seq, timestamp = rng.randrange(0x10000), rng.randrange(1 << 32)
    while len(sent) < count:
        size = rng.choice((1, 1, 2, 3, 5, 9)) if video else 1
        for i in range(size):
            marker = i == size - 1 and rng.random() > 0.01
            packet = RtpPacket(payload_type=97, sequence_number=seq, timestamp=timestamp,
                               marker=marker)  # fmt: skip
            packet._data = rng.randbytes(rng.randrange(1, 40))  # type: ignore[attr-defined]
            sent.append(packet)
            seq = (seq + (rng.choice((2, 300, 40000)) if rng.random() < 0.003 else 1)) & 0xFFFF
        step = rng.choice((3000, 3000, 3000, 6000, 960, 90000 * 5)) if video else 960
        timestamp = (timestamp + step) & 0xFFFFFFFF
    arrived: list[RtpPacket | None] = []
    for packet in sent:
        roll = rng.random()
        if roll < 0.04:
            continue  # lost
        if roll < 0.06 and arrived:
            arrived.insert(len(arrived) - rng.randrange(1, min(6, len(arrived)) + 1), packet)
            continue  # late
        arrived.append(packet)
        if roll > 0.985:
            arrived.append(packet)  # repeated
        if roll > 0.998:
            arrived.append(None)
    return arrived


@pytest.mark.parametrize("video", [True, False], ids=["video", "audio"])
def test_the_short_way_gives_the_frames_of_the_whole_way(video: bool) -> None:
    """In order from an empty buffer, a packet takes the short way; whatever the network
    does, the frames, their marks, the PLIs and what stays held are the same as the whole
    way gives."""
    rng = random.Random(3 if video else 4)
    short_frames: list[JitterFrame] = []
    whole_frames: list[JitterFrame] = []
    short = BoundedJitterBuffer(capacity=128, max_delay=9000, is_video=video,
                                on_frame=short_frames.append)  # fmt: skip
    whole = _WholeWay(capacity=128, max_delay=9000, is_video=video, on_frame=whole_frames.append)
    for packet in _network(rng, video, 30_000):
        if packet is None:
            short.restart()
            whole.restart()
            continue
        assert short.add(packet) == whole.add(packet)
        assert short._origin == whole._origin
        assert [p is None for p in short._packets] == [p is None for p in whole._packets]
        assert short.holes_skipped == whole.holes_skipped

    def seen(frames: list[JitterFrame]) -> list[tuple[bytes, int, bool]]:
        return [(f.data, f.timestamp, getattr(f, "discontinuity", False)) for f in frames]

    assert seen(short_frames) == seen(whole_frames)
    assert len(short_frames) > 5_000
