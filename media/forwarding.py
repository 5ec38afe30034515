"""A forwarded track: what a subscriber's sender reads, fed by a switchable source.

``recv()`` returns ``av.Packet``s, so aiortc's ``RTCRtpSender`` packetises them with
``encoder.pack()`` and never encodes. A sender on :func:`media.aiortc_patch.send.enable_fast_send`'s
path does not read at all: it attaches itself (``attach_direct``) and every frame a source
hands the track is sent there and then, in the receive path's callback (no queue, no task
wake-up per subscriber and frame). The track keeps its own monotonic timestamps across
switches of source, and a video track forwards nothing after a switch, a subscriber join or a
dropped frame until a keyframe arrives (it asks the source for one).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import time
import weakref
from collections.abc import Callable
from fractions import Fraction
from typing import Any, cast

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.aiortc_patch.send import DirectFrameSender, DirectTrack
from media.codecs import MediaKind, frame_seconds, same_codec
from media.errors import IncompatibleSourceError
from media.settings import ForwardingSettings
from media.source import Source

_track_ids = itertools.count(1)
_live_tracks: weakref.WeakSet[ForwardedTrack] = weakref.WeakSet()
_forwarded_by_stopped = 0


def forwarded_total() -> int:
    """Frames forwarded by every track of this process since it started (read when asked:
    the forwarding path only counts its own track's)."""
    return _forwarded_by_stopped + sum(t.packets_forwarded for t in list(_live_tracks))


class ForwardedTrack(MediaStreamTrack, DirectTrack):
    """An outgoing track whose source can be switched without renegotiation.

    A :class:`media.Peer` makes one per m-line its remote peer receives on (``mid``); the
    caller switches it with :meth:`switch_source`. It is also a :class:`media.PacketSink`.
    """

    def __init__(
        self,
        kind: MediaKind,
        *,
        codec: str | None = None,
        mid: str | None = None,
        settings: ForwardingSettings | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind.value
        self.media_kind = kind
        self.codec = codec
        "The negotiated MIME type; a source of another codec is refused. ``None``: any."
        self.mid = mid
        "The media id of the m-line the track is sent on."
        self.label = f"forwarded-{kind.value}-{next(_track_ids)}"
        settings = settings or ForwardingSettings()
        self._max_queue = settings.video_queue if kind is MediaKind.VIDEO else settings.audio_queue
        self._queue: collections.deque[av.Packet] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._source: Source | None = None
        self._is_video = kind is MediaKind.VIDEO
        self._waiting_for_keyframe = self._is_video
        self._started = False
        self._switched = False
        self._frame_seconds = frame_seconds(kind)
        self._ticks = 1
        "A frame's duration in the source's time base."
        # output timeline
        self._last_in: int | None = None
        self._last_out = 0
        self._last_out_wall = 0.0
        self._direct: DirectFrameSender | None = None
        self._direct_stop: Callable[[BaseException | None], None] | None = None

        self.packets_forwarded = 0
        "Frames returned by recv()."
        self.frames_dropped = 0
        "Frames not forwarded: waiting for a keyframe, or dropped from a full queue."
        self.overflows = 0
        "Times the queue was full (the subscriber did not keep up)."
        _live_tracks.add(self)
        self.switches = 0

    def __repr__(self) -> str:
        source = self._source.id if self._source else None
        return f"<ForwardedTrack {self.label} mid={self.mid} source={source}>"

    @property
    def source(self) -> Source | None:
        """The source being forwarded, if any."""
        return self._source

    def switch_source(self, source: Source | None) -> None:
        """Forward ``source`` from now on (``None``: nothing; the subscriber sees a freeze).

        Queued frames of the previous source are dropped; a video track then forwards nothing
        until the new source's next keyframe, which it asks for.
        """
        if source is self._source:
            return
        if source is not None:
            self._check_compatible(source)
        if self.readyState != "live":
            return
        previous, self._source = self._source, source
        if previous is not None:
            previous.unsubscribe(self)
        self.switches += 1
        self._switched = True
        self._drop_queue()
        if source is not None:
            source.subscribe(self)
            if self._is_video:
                self._waiting_for_keyframe = True
                if self._started:
                    source.request_keyframe()

    def request_keyframe(self) -> None:
        """Route a keyframe request (a subscriber's PLI) to the source."""
        if self._source is not None:
            self._source.request_keyframe()

    async def recv(self) -> av.Packet:
        """The next encoded frame, with this track's own timestamps."""
        return self._retime(await self._next())

    def attach_direct(
        self, send: DirectFrameSender, on_stop: Callable[[BaseException | None], None]
    ) -> None:
        """Send every frame with ``send(frame, rtp_timestamp)`` from now on, not through
        ``recv()``; ``on_stop`` is called when the track ends."""
        self._start()
        self._direct, self._direct_stop = send, on_stop
        while self._queue and self._direct is not None:
            packet = self._queue.popleft()
            send(bytes(packet), self._retime_pts(packet))

    def detach_direct(self) -> None:
        self._direct = self._direct_stop = None

    def _start(self) -> None:
        if not self._started:
            # The subscriber's sender starts reading: it has joined. Whatever was queued
            # while it connected is stale; start from a fresh keyframe.
            self._started = True
            self._drop_queue()
            if self._is_video:
                self._waiting_for_keyframe = True
                self.request_keyframe()

    async def _next(self) -> av.Packet:
        self._start()
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self.readyState != "live":
            raise MediaStreamError
        return self._queue.popleft()

    def stop(self) -> None:
        """End the track (aiortc calls this when the sender stops); detaches the source."""
        global _forwarded_by_stopped
        if self in _live_tracks:
            _live_tracks.discard(self)
            _forwarded_by_stopped += self.packets_forwarded
        source, self._source = self._source, None
        if source is not None:
            source.unsubscribe(self)
        self._queue.clear()
        self._wake()
        stop, self._direct_stop = self._direct_stop, None
        self._direct = None
        super().stop()
        if stop is not None:
            stop(MediaStreamError())

    # PacketSink

    def on_packet(self, source: Source, packet: av.Packet) -> None:
        if source is not self._source or not self._started:
            # Before its sender reads, the subscriber is still connecting: nothing to keep.
            return
        if self._waiting_for_keyframe:
            if not packet.is_keyframe:
                self.frames_dropped += 1
                source.request_keyframe()
                return
            self._waiting_for_keyframe = False
        direct = self._direct
        if direct is not None:
            direct(_frame_bytes(packet), self._retime_pts(packet))
            return
        if len(self._queue) >= self._max_queue:
            self.overflows += 1
            if self._is_video:
                # Every queued frame depends on the one before: drop them all and restart
                # from a keyframe.
                self.frames_dropped += len(self._queue)
                self._queue.clear()
                if not packet.is_keyframe:
                    self.frames_dropped += 1
                    self._waiting_for_keyframe = True
                    source.request_keyframe()
                    return
            else:
                self.frames_dropped += 1
                self._queue.popleft()
        self._queue.append(packet)
        self._wake()

    def on_source_ended(self, source: Source) -> None:
        if source is self._source:
            self._source = None
            self._drop_queue()

    # internals

    def _check_compatible(self, source: Source) -> None:
        check_compatible(source, self.media_kind, self.codec, self.label)

    def _drop_queue(self) -> None:
        self.frames_dropped += len(self._queue)
        self._queue.clear()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _retime(self, packet: av.Packet) -> av.Packet:
        """A copy of ``packet`` on this track's own monotonic timeline.

        Same source: ``out += in - last_in``. After a switch: ``out`` advances by the wall
        clock time since the last forwarded frame, one frame at least, so the subscriber's
        jitter buffer sees timestamps that match arrival times.
        """
        out = self._retime_pts(packet)
        # One copy per subscriber: the source's packet is shared, and its pts is not ours.
        # (PyAV accepts any buffer; the stubs before PyAV 18.1.1 say bytes.)
        copy = av.Packet(cast(Any, packet))
        copy.pts = out
        copy.dts = out
        copy.time_base = packet.time_base
        copy.is_keyframe = packet.is_keyframe
        return copy

    def _retime_pts(self, packet: av.Packet) -> int:
        """``packet``'s timestamp on this track's timeline (see :meth:`_retime`)."""
        in_pts = packet.pts
        assert in_pts is not None
        now = time.monotonic()
        last_in = self._last_in
        if not self._switched and last_in is not None:  # the same source: its own steps
            delta = in_pts - last_in
            out = self._last_out + (delta if delta > 0 else self._ticks)
        else:
            # Once per source: PyAV makes a new Fraction at every read of time_base, and a
            # Fraction's numerator and denominator are Python properties.
            time_base = packet.time_base
            assert time_base is not None
            numerator, denominator = time_base.numerator, time_base.denominator
            self._ticks = max(1, round(self._frame_seconds / Fraction(numerator, denominator)))
            if last_in is None:
                out = self._last_out
            else:
                elapsed = round((now - self._last_out_wall) * denominator / numerator)
                out = self._last_out + max(self._ticks, elapsed)
            self._switched = False
        self._last_in = in_pts
        self._last_out = out
        self._last_out_wall = now
        self.packets_forwarded += 1
        return out


_last_frame: list[tuple[av.Packet, bytes] | None] = [None]


def _frame_bytes(packet: av.Packet) -> bytes:
    """``bytes(packet)``, made once for all the tracks a source hands the same packet to
    (one after the other, in :meth:`media.Source.feed`)."""
    last = _last_frame[0]
    if last is not None and last[0] is packet:
        return last[1]
    data = bytes(packet)
    _last_frame[0] = (packet, data)
    return data


def check_compatible(source: Source, kind: MediaKind, codec: str | None, track: str) -> None:
    """Raise :class:`IncompatibleSourceError` unless ``source`` can feed a track of ``kind``
    negotiated for ``codec`` (``None``: any): forwarding never transcodes."""
    if source.kind is not kind:
        raise IncompatibleSourceError(
            f"a {source.kind} source cannot feed the {kind.value} track {track}"
        )
    if codec is not None and not same_codec(source.codec, codec):
        raise IncompatibleSourceError(
            f"source {source.id} sends {source.codec} but track {track} was negotiated for "
            f"{codec}; media is forwarded without transcoding"
        )
