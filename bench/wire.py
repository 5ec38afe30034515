"""The media side of a synthetic hall: tracks that send the pre-encoded clip, and receivers
that count what arrives without decoding it.

- :class:`ClipVideoTrack` / :class:`ClipAudioTrack` return ``av.Packet``s from ``recv()``: aiortc's
  sender packs them without encoding (``encoder.pack``). Video frames are tagged with the hall,
  a sequence number and the wall-clock time they are handed to the sender (``bench.clip.tag``).
  A keyframe request (PLI) from the SFU makes the next frame the clip's next keyframe, as an
  encoder would.
- :func:`count_rtp` replaces a receiver's RTP handler: it counts packets, reassembles each VP8
  frame (by sequence number, up to the marker bit), reads its trailer and records the latency;
  no jitter buffer, no decoder, no NACK (a receiver that decodes nothing has nothing to repair).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.codecs.vpx import VpxPayloadDescriptor
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from bench.clip import AUDIO_TIME_BASE, FPS, OPUS_FRAME, VIDEO_TIME_BASE, Clip, tag, untag
from media import aiortc_patch

FRAME_TICKS = 90_000 // FPS


class ClipVideoTrack(MediaStreamTrack):
    """The clip's VP8 frames at 25 fps from ``start`` (wall clock), tagged, looping."""

    kind = "video"

    def __init__(self, clip: Clip, hall: int, start: float, log: SendLog) -> None:
        super().__init__()
        self._clip = clip
        self._hall = hall
        self._start = start
        self._log = log
        self._n = 0
        self._index = 0
        self._key_wanted = True
        self._last_key_at = 0.0

    def request_keyframe(self) -> None:
        self._key_wanted = True

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        due = self._start + self._n / FPS
        now = time.time()
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due > 1.0:
            # Late by more than a second (the process was starved): skip ahead, as a live
            # camera would, rather than bursting.
            self._n = int((now - self._start) * FPS)
        clip = self._clip
        if self._key_wanted and now - self._last_key_at > 0.3:
            self._index = clip.next_keyframe(self._index)
            self._key_wanted = False
        index = self._index % len(clip.video)
        if clip.keyframes[index]:
            self._last_key_at = now
        sent_at = time.time()
        packet = av.Packet(tag(clip.video[index], self._hall, self._n, sent_at))
        packet.pts = self._n * FRAME_TICKS
        packet.time_base = VIDEO_TIME_BASE
        self._log.video.append(sent_at)
        self._n += 1
        self._index = index + 1
        return packet


class ClipAudioTrack(MediaStreamTrack):
    """The clip's Opus packets every 20 ms from ``start``, looping."""

    kind = "audio"

    def __init__(self, clip: Clip, start: float, log: SendLog) -> None:
        super().__init__()
        self._clip = clip
        self._start = start
        self._log = log
        self._n = 0

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        due = self._start + self._n * OPUS_FRAME / 48_000
        now = time.time()
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due > 1.0:
            self._n = int((now - self._start) * 48_000 / OPUS_FRAME)
        packet = av.Packet(self._clip.audio[self._n % len(self._clip.audio)])
        packet.pts = self._n * OPUS_FRAME
        packet.time_base = AUDIO_TIME_BASE
        self._log.audio.append(time.time())
        self._n += 1
        return packet


@dataclass
class SendLog:
    """When each frame of one hall was handed to its sender (wall clock)."""

    video: list[float] = field(default_factory=list)
    audio: list[float] = field(default_factory=list)


def on_keyframe_request(sender: RTCRtpSender, track: ClipVideoTrack) -> None:
    aiortc_patch.on_keyframe_request(sender, track.request_keyframe)


@dataclass
class ReceiveLog:
    """What one hall received, over all its receivers."""

    first_video_at: float | None = None
    packets: list[float] = field(default_factory=list)
    "Arrival time of every RTP packet (video and audio)."
    audio: list[float] = field(default_factory=list)
    "Arrival time of every audio packet."
    frames: list[tuple[float, int, float]] = field(default_factory=list)
    "Each video frame that arrived intact and tagged: (arrival, sending hall, send time)."
    untagged_frames: list[float] = field(default_factory=list)
    "Arrival of each complete video frame without a valid trailer (a transcoding relay)."
    broken_frames: int = 0
    "Frames with a hole (a lost packet) at their marker."


class _VideoAssembler:
    __slots__ = ("chunks", "first_seq", "log", "timestamp")

    def __init__(self, log: ReceiveLog) -> None:
        self.log = log
        self.timestamp: int | None = None
        self.chunks: list[tuple[int, bytes]] = []
        self.first_seq = -1

    def add(self, packet: Any, now: float) -> None:
        if packet.timestamp != self.timestamp:
            self.timestamp = packet.timestamp
            self.chunks = []
            self.first_seq = -1
        try:
            descriptor, data = VpxPayloadDescriptor.parse(packet.payload)
        except ValueError:
            return
        if descriptor.partition_start and descriptor.partition_id == 0:
            self.first_seq = packet.sequence_number
        self.chunks.append((packet.sequence_number, data))
        if not packet.marker:
            return
        log = self.log
        chunks = self.chunks
        self.timestamp = None
        expected = (packet.sequence_number - self.first_seq) % 65536 + 1
        if self.first_seq < 0 or len(chunks) != expected:
            log.broken_frames += 1
            return
        if any((chunks[i][0] - chunks[0][0]) % 65536 != i for i in range(1, len(chunks))):
            chunks.sort(key=lambda c: (c[0] - self.first_seq) % 65536)
        frame = b"".join(c[1] for c in chunks)
        if log.first_video_at is None:
            log.first_video_at = now
        tagged = untag(frame)
        if tagged is None:
            log.untagged_frames.append(now)
        else:
            log.frames.append((now, tagged[0], tagged[2]))


def count_rtp(receiver: RTCRtpReceiver, kind: str, log: ReceiveLog) -> None:
    """Replace ``receiver``'s RTP handling by counting (call before it receives).

    The receiver's decoder thread ends at once (media's passthrough dispatcher).
    """
    aiortc_patch.install()
    aiortc_patch.enable_passthrough(
        receiver,
        mime_type="video/VP8" if kind == "video" else "audio/opus",
        clock_rate=90_000 if kind == "video" else 48_000,
        on_packet=lambda packet: None,
        on_end=lambda: None,
        capacity=16,
        max_delay=0,
    )
    packets = log.packets
    if kind == "video":
        assembler = _VideoAssembler(log)
        rtx_types: set[int] = set()

        def handle(packet: Any, arrival_time_ms: int) -> None:
            now = time.time()
            packets.append(now)
            if packet.payload_type in rtx_types:
                return
            assembler.add(packet, now)

    else:
        audio = log.audio

        def handle(packet: Any, arrival_time_ms: int) -> None:
            now = time.time()
            packets.append(now)
            audio.append(now)

    async def handle_rtp_packet(packet: Any, arrival_time_ms: int) -> None:
        handle(packet, arrival_time_ms)

    receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]
    # On media's fast receive path (fast_receive below), called from the datagram callback.
    receiver._giaoban_handle_rtp = handle  # type: ignore[attr-defined]


def fast_receive(pc: RTCPeerConnection) -> None:
    """Handle ``pc``'s received RTP in the datagram callback (media's fast receive path, the
    same for every system under test); call once its descriptions are both set."""
    for transport in {t.receiver.transport for t in pc.getTransceivers()}:
        aiortc_patch.enable_fast_receive(transport)
