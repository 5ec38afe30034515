"""The media side of a synthetic hall: tracks that send the pre-encoded clip, and receivers
that count what arrives without decoding it.

- :class:`ClipVideoTrack` / :class:`ClipAudioTrack` push the clip's frames to their senders
  (media's direct path: packetised without encoding, protected, sent), all the tracks of a
  process from one clock (:class:`Ticker`). Video frames are tagged with the hall,
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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.codecs.vpx import VpxPayloadDescriptor
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from bench.clip import DTX_EVERY, FPS, OPUS_FRAME, Clip, dtx_frame, tag, untag
from media import aiortc_patch

FRAME_TICKS = 90_000 // FPS


TICK = 0.005
"Seconds between two rounds of the process's clock: a frame leaves at most this late."


class Ticker:
    """One clock for every track of a load-generator process: every ``TICK`` it sends each
    track's due frames through the track's fast sender, instead of a task per track waking up
    for each frame (75 times a second per hall): the load generator ~18 % cheaper at 100 halls
    (two alternating pairs of runs)."""

    def __init__(self) -> None:
        self.tracks: list[_ClipTrack] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, track: _ClipTrack) -> None:
        self.tracks.append(track)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            now = time.time()
            self.tracks = [t for t in self.tracks if t.readyState == "live"]
            for track in self.tracks:
                track.tick(now)
            await asyncio.sleep(TICK)


TICKER = Ticker()
"This process's clock (each load-generator process has its own)."


class _ClipTrack(MediaStreamTrack, aiortc_patch.send.DirectTrack):
    """Frames every ``period`` seconds from ``start`` (wall clock), pushed to the sender by
    :data:`TICKER` (media's direct path: the frame is packetised, protected and sent at once)."""

    def __init__(self, start: float, period: float) -> None:
        super().__init__()
        self._start = start
        self._period = period
        self._n = 0
        self._send: aiortc_patch.send.DirectFrameSender | None = None
        TICKER.add(self)

    def attach_direct(
        self,
        send: aiortc_patch.send.DirectFrameSender,
        on_stop: Callable[[BaseException | None], None],
    ) -> None:
        self._send = send

    def detach_direct(self) -> None:
        self._send = None

    async def recv(self) -> av.Packet:
        raise MediaStreamError("sent by the process's ticker through media's direct path")

    def tick(self, now: float) -> None:
        send = self._send
        if send is None:
            return
        due = self._start + self._n * self._period
        if now - due > 1.0:
            # Late by more than a second (the process was starved, or the sender has just
            # started): skip ahead, as a live camera would, rather than bursting.
            self._n = int((now - self._start) / self._period)
            due = self._start + self._n * self._period
        while due <= now:
            self._send_next(send, now)
            self._n += 1
            due += self._period

    def _send_next(self, send: aiortc_patch.send.DirectFrameSender, now: float) -> None:
        raise NotImplementedError


class ClipVideoTrack(_ClipTrack):
    """The clip's VP8 frames at 25 fps, tagged, looping."""

    kind = "video"

    def __init__(self, clip: Clip, hall: int, start: float, log: SendLog) -> None:
        super().__init__(start, 1 / FPS)
        self._clip = clip
        self._hall = hall
        self._log = log
        self._index = 0
        self._key_wanted = True
        self._last_key_at = 0.0

    def request_keyframe(self) -> None:
        self._key_wanted = True

    def _send_next(self, send: aiortc_patch.send.DirectFrameSender, now: float) -> None:
        clip = self._clip
        if self._key_wanted and now - self._last_key_at > 0.3:
            self._index = clip.next_keyframe(self._index)
            self._key_wanted = False
        index = self._index % len(clip.video)
        if clip.keyframes[index]:
            self._last_key_at = now
        sent_at = time.time()
        self._log.video.append(sent_at)
        self._index = index + 1
        send(tag(clip.video[index], self._hall, self._n, sent_at), self._n * FRAME_TICKS)


class ClipAudioTrack(_ClipTrack):
    """The clip's Opus packets every 20 ms, looping; or, for a ``silent`` hall's microphone
    (a muted hall's), a DTX frame every :data:`~bench.clip.DTX_EVERY` frames, as a terminal's
    Chromium sends."""

    kind = "audio"

    def __init__(self, clip: Clip, start: float, log: SendLog, silent: bool = False) -> None:
        super().__init__(start, OPUS_FRAME / 48_000)
        self._clip = clip
        self._log = log
        self._silent = dtx_frame() if silent else None

    def _send_next(self, send: aiortc_patch.send.DirectFrameSender, now: float) -> None:
        if self._silent is not None and self._n % DTX_EVERY:
            return
        self._log.audio.append(time.time())
        frame = self._silent or self._clip.audio[self._n % len(self._clip.audio)]
        send(frame, self._n * OPUS_FRAME)


@dataclass
class SendLog:
    """When each frame of one hall was handed to its sender (wall clock)."""

    video: list[float] = field(default_factory=list)
    audio: list[float] = field(default_factory=list)


def on_keyframe_request(sender: RTCRtpSender, track: ClipVideoTrack) -> None:
    aiortc_patch.send.on_keyframe_request(sender, track.request_keyframe)


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
    aiortc_patch.receive.enable_passthrough(
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

        def count() -> None:
            now = time.time()
            packets.append(now)
            audio.append(now)

        def handle(packet: Any, arrival_time_ms: int) -> None:
            count()
            # The stream is known now: its next packets are counted from their header.
            by_header = getattr(receiver.transport, "_bench_count_by_header", None)
            if by_header is not None:
                by_header[packet.ssrc] = count

    async def handle_rtp_packet(packet: Any, arrival_time_ms: int) -> None:
        handle(packet, arrival_time_ms)

    receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]
    # On media's fast receive path (fast_receive below), called from the datagram callback.
    receiver._giaoban_handle_rtp = handle  # type: ignore[attr-defined]


def fast_receive(pc: RTCPeerConnection) -> None:
    """Handle ``pc``'s received RTP in the datagram callback (media's fast receive path, the
    same for every system under test); call once its descriptions are both set.

    Audio is counted from the RTP header once its stream is known (first packet on the full
    path): a counter need not decrypt and parse the half of what the halls receive that it
    only counts, and the load generator's cost is what limits the meeting sizes it can load
    on two shared cores. Video is decrypted, reassembled and checked as before.
    """
    for transport in {t.receiver.transport for t in pc.getTransceivers()}:
        aiortc_patch.receive.enable_fast_receive(transport)
        by_header: dict[int, Callable[[], None]] = {}
        transport._bench_count_by_header = by_header  # type: ignore[attr-defined]
        for protocol in transport.transport._connection._protocols:
            protocol.datagram_received = _counting_by_header(  # type: ignore[method-assign,assignment]
                protocol.datagram_received, by_header
            )


def _counting_by_header(
    received: Callable[[bytes, Any], None], by_header: dict[int, Callable[[], None]]
) -> Callable[[bytes, Any], None]:
    def datagram_received(data: bytes, addr: Any) -> None:
        # RTP (first byte 128-191), not RTCP (payload type 192-208), of a counted stream.
        if len(data) >= 12 and 127 < data[0] < 192 and not 191 < data[1] < 209:
            count = by_header.get(int.from_bytes(data[8:12], "big"))
            if count is not None:
                count()
                return
        received(data, addr)

    return datagram_received
