"""The bounded jitter buffer: aiortc's, with stale holes skipped and ready frames released at
once.

Hook: :class:`BoundedJitterBuffer` subclasses ``aiortc.jitterbuffer.JitterBuffer`` and uses
its private ``_packets``, ``_origin``, ``_capacity``, ``_prefetch``, ``_is_video``,
``_remove_frame`` and ``remove``. aiortc's never skips a hole (one lost video packet stalled a
stream for seconds) and releases a frame only when the next frame's first packet arrives
(one frame interval of latency, 40 ms at 25 fps); this one skips a hole older than a delay
and releases a frame as soon as it is complete (video: up to its marker bit; audio: its one
packet). The receive path (:mod:`media.aiortc_patch.receive`) installs it per receiver.
"""

from __future__ import annotations

from collections.abc import Callable

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import (
    RtpPacket,
)

from media.aiortc_patch._private import (
    RTP_TS_HALF,
    RTP_TS_MASK,
    receiver_attribute,
)


def check() -> list[str]:
    """What :class:`BoundedJitterBuffer` relies on in aiortc's jitter buffer."""
    problems = [
        f"JitterBuffer.{name} is gone"
        for name in ("add", "remove", "_remove_frame")
        if not hasattr(JitterBuffer, name)
    ]
    probe = JitterBuffer(capacity=4, is_video=True)
    problems.extend(
        f"JitterBuffer has no {name}"
        for name in ("_packets", "_origin", "_capacity", "_prefetch", "_is_video")
        if not hasattr(probe, name)
    )
    return problems


class BoundedJitterBuffer(JitterBuffer):
    """aiortc's jitter buffer, plus: a hole older than ``max_delay`` RTP ticks is skipped,
    and every frame that is ready leaves at once.

    aiortc's buffer releases a frame only when every packet from its origin is there, and
    drops packets only when ``capacity`` is exceeded, so one lost packet holds a stream for as
    long as ``capacity`` packets take to arrive (seconds for a small or low-rate video). Here,
    once the newest packet is ``max_delay`` newer than the oldest one held behind a hole, the
    buffer jumps to the next frame start after the hole (a packet following a marker packet or
    a packet of another timestamp), marks the next frame it releases as a discontinuity
    (``frame.discontinuity = True``), and asks for a PLI (video).

    aiortc also releases at most one frame per packet added, so the frames held behind a hole
    that is filled (or skipped) would add their duration to the latency for good; with
    ``on_frame``, every ready frame goes to ``on_frame`` and ``add`` returns no frame.

    The capacity must stay larger than the largest keyframe in packets: a frame that does not
    fit is destroyed by aiortc's overflow handling, and so is the next keyframe asked for.
    """

    def __init__(
        self,
        capacity: int,
        max_delay: int,
        is_video: bool,
        prefetch: int = 0,
        on_frame: Callable[[JitterFrame], None] | None = None,
        on_audio_level: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(capacity=capacity, prefetch=prefetch, is_video=is_video)
        self._on_audio_level = on_audio_level
        self.max_delay = max_delay
        self.holes_skipped = 0
        self._on_frame = on_frame
        self._newest_timestamp: int | None = None
        self._discontinuity = False
        self._last_sequence = -2
        self._empty = True
        "Nothing is held but the ``_run`` packets from the origin on (see :meth:`add`)."
        self._run = 0
        self._run_timestamp = 0

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        """aiortc's ``add``, then holes skipped and ready frames released (see the class).

        The common case takes a short way with the same result: packets in order, from a
        buffer that held nothing (or only the current frame's first packets) when the
        frame began. Anything else (a loss, a late or repeated packet, a frame without its
        marker) takes the whole way, after which the short one resumes once nothing is
        held. ``tests/media/test_media_hooks_jitter.py`` holds both ways to the same
        frames on random streams."""
        if self._on_audio_level is not None and packet.extensions.audio_level is not None:
            self._on_audio_level(packet.extensions.audio_level[1])
        timestamp = packet.timestamp
        newest = self._newest_timestamp
        if newest is None or (timestamp - newest) & RTP_TS_MASK < RTP_TS_HALF:
            self._newest_timestamp = timestamp
        origin = self._origin
        on_frame = self._on_frame
        if self._empty and origin is not None and on_frame is not None and not self._prefetch:
            run = self._run
            seq = packet.sequence_number
            if seq == (origin + run) & 0xFFFF and run < self._capacity - 1:
                if not self._is_video:  # a frame per packet: out at once
                    self._last_sequence = seq
                    self._origin = (origin + 1) & 0xFFFF
                    frame = JitterFrame(data=packet._data, timestamp=timestamp)  # type: ignore[attr-defined]
                    self._mark(frame)
                    on_frame(frame)
                    return False, None
                if not run or timestamp == self._run_timestamp:
                    self._last_sequence = seq
                    capacity = self._capacity
                    packets = self._packets
                    if not packet.marker:
                        packets[seq % capacity] = packet
                        self._run = run + 1
                        self._run_timestamp = timestamp
                        return False, None
                    parts = []
                    for i in range(run):
                        position = (origin + i) % capacity
                        parts.append(packets[position]._data)  # type: ignore[union-attr]
                        packets[position] = None
                    parts.append(packet._data)  # type: ignore[attr-defined]
                    self._origin = (origin + run + 1) & 0xFFFF
                    self._run = 0
                    frame = JitterFrame(data=b"".join(parts), timestamp=timestamp)
                    self._mark(frame)
                    on_frame(frame)
                    return False, None
        result = self._add(packet)
        self._run = 0
        self._empty = not any(self._packets)
        return result

    def _add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        pli_flag, frame = super().add(packet)
        if pli_flag:
            # aiortc dropped packets (overflow or a large misorder).
            self._discontinuity = True
        if frame is None and self._skip_stale_hole():
            pli_flag = pli_flag or self._is_video
            frame = self._remove_frame(packet.sequence_number)
        # aiortc releases a frame only when a packet of the next one arrives (a frame
        # interval later: +40 ms at 25 fps, +20 ms for audio); a frame whose packets are
        # all here (video: up to the marker bit; audio: one packet) can leave now.
        in_order = packet.sequence_number == (self._last_sequence + 1) & 0xFFFF
        self._last_sequence = packet.sequence_number
        early = self._prefetch == 0 and (not self._is_video or packet.marker or not in_order)
        if frame is None and early:
            frame = self._remove_complete_frame()
        if frame is None:
            return pli_flag, None
        self._mark(frame)
        if self._on_frame is None:
            return pli_flag, frame
        while frame is not None:
            self._on_frame(frame)
            frame = self._remove_frame(packet.sequence_number)
            if frame is None and early:
                frame = self._remove_complete_frame()
            if frame is not None:
                self._mark(frame)
        return pli_flag, None

    def restart(self) -> None:
        """Drop every packet held and start again from the next one, whose frame is marked
        as a discontinuity (what came before it is lost)."""
        self._packets = [None] * self._capacity
        self._origin = None
        self._newest_timestamp = None
        self._last_sequence = -2
        self._discontinuity = True
        self._empty = True
        self._run = 0

    def _remove_complete_frame(self) -> JitterFrame | None:
        """The frame at the origin if all its packets are here (video: from the origin to a
        packet with the marker bit, one timestamp; audio: one packet), removed."""
        origin = self._origin
        if origin is None:
            return None
        capacity = self._capacity
        packets = self._packets
        first = packets[origin % capacity]
        if first is None:
            return None
        if not self._is_video:
            self.remove(1)
            return JitterFrame(data=first._data, timestamp=first.timestamp)  # type: ignore[attr-defined]
        timestamp = first.timestamp
        for count in range(capacity):
            current = packets[(origin + count) % capacity]
            if current is None or current.timestamp != timestamp:
                return None
            if current.marker:
                held = [packets[(origin + i) % capacity] for i in range(count + 1)]
                data = b"".join(p._data for p in held)  # type: ignore[union-attr]
                self.remove(count + 1)
                return JitterFrame(data=data, timestamp=timestamp)
        return None

    def _mark(self, frame: JitterFrame) -> None:
        if self._discontinuity:
            self._discontinuity = False
            frame.discontinuity = True  # type: ignore[attr-defined]

    def _skip_stale_hole(self) -> bool:
        origin = self._origin
        newest = self._newest_timestamp
        if origin is None or newest is None:
            return False
        capacity = self._capacity
        packets = self._packets
        head = packets[origin % capacity]
        if head is not None and not self._is_stale(head.timestamp, newest):
            return False
        oldest: int | None = None
        hole = False
        previous: RtpPacket | None = None
        for index in range(capacity):
            current = packets[(origin + index) % capacity]
            if current is None:
                hole = True
                previous = None
                continue
            if oldest is None:
                oldest = current.timestamp
                if not self._is_stale(oldest, newest):
                    return False
            if (
                hole
                and previous is not None
                and (previous.marker or previous.timestamp != current.timestamp)
            ):
                self.remove(index)
                self.holes_skipped += 1
                self._discontinuity = True
                return True
            previous = current
        return False

    def _is_stale(self, timestamp: int, newest: int) -> bool:
        age = (newest - timestamp) & RTP_TS_MASK
        return self.max_delay < age < RTP_TS_HALF


def jitter_buffer(receiver: RTCRtpReceiver) -> JitterBuffer:
    """The receiver's jitter buffer (for statistics and tests)."""
    buffer: JitterBuffer = receiver_attribute(receiver, "jitter_buffer")
    return buffer
