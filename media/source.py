"""A source: one received track of a peer, fanned out to any number of sinks.

A source is fed encoded frames (``av.Packet``s) by the receive path, remembers whether it has
seen a keyframe, drops video frames that cannot be decoded (before the first keyframe and
after a lost packet) until the next keyframe, and asks its publisher for keyframes: rate
limited, retried while unanswered.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import av

from media.codecs import MediaKind
from media.settings import KeyframeSettings
from media.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

_source_ids = itertools.count(1)

LEVEL_SMOOTHING = 0.07
"Weight of each new audio level (one packet per 20 ms: about 0.3 s of memory)."
LEVEL_STALE = 1.0
"Seconds after the last level when a source counts as having none."


class PacketSink(Protocol):
    """What a source hands its packets to: a forwarded track, a recorder, a relay.

    Both methods are called on the event loop, synchronously from the receive path: they must
    return quickly, must not raise, and must not modify the packet (it is shared by all sinks).
    """

    def on_packet(self, source: Source, packet: av.Packet) -> None:
        """Take one encoded frame."""

    def on_source_ended(self, source: Source) -> None:
        """The source will send nothing more."""


KeyframeRequester = Callable[[], Awaitable[bool]]
"Sends one keyframe request to the publisher; ``False`` if it could not (no stream yet)."


class Source:
    """One received track: ``kind``, ``codec`` and where it came from (``mid``, msid ids).

    Created by :class:`media.Peer` for every track its remote peer sends; can also be made
    directly and fed with :meth:`feed` (a relay from another worker, a test).
    """

    def __init__(
        self,
        *,
        kind: MediaKind,
        codec: str,
        mid: str | None = None,
        stream_id: str | None = None,
        track_id: str | None = None,
        send_keyframe_request: KeyframeRequester | None = None,
        keyframes: KeyframeSettings | None = None,
    ) -> None:
        self.id = f"source-{next(_source_ids)}"
        "Unique in this process."
        self.kind = kind
        self._is_video = kind is MediaKind.VIDEO
        self.codec = codec
        "MIME type, e.g. ``video/VP8``."
        self.mid = mid
        "The media id of the m-line the track came in (tells camera, thumbnail, screen apart)."
        self.stream_id = stream_id
        "The msid stream id the remote peer gave the track."
        self.track_id = track_id
        "The msid track id the remote peer gave the track."

        self.packets_received = 0
        self.bytes_received = 0
        self.keyframes_received = 0
        self.frames_dropped = 0
        "Video frames not forwarded because they could not be decoded."
        self.discontinuities = 0
        "Frames that followed a lost packet."
        self.keyframe_requests_sent = 0

        self._sinks: dict[PacketSink, None] = {}
        self._ended_callbacks: list[Callable[[Source], None]] = []
        self._ended = False
        self._waiting_for_keyframe = self._is_video
        self._send_keyframe_request = send_keyframe_request
        self._keyframe_settings = keyframes or KeyframeSettings()
        self._keyframe_wanted = asyncio.Event()
        self._keyframe_poke = asyncio.Event()
        self._keyframe_task: asyncio.Task[None] | None = None
        self._last_request = -1e9
        self._keyframe_since_request = True
        self._level = 0.0
        self._level_at = -1e9

    def __repr__(self) -> str:
        return f"<Source {self.id} {self.kind} {self.codec} mid={self.mid}>"

    @property
    def has_keyframe(self) -> bool:
        """Whether a keyframe has arrived (so the frames forwarded now can be decoded)."""
        return self.keyframes_received > 0 and not self._waiting_for_keyframe

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def sinks(self) -> tuple[PacketSink, ...]:
        return tuple(self._sinks)

    @property
    def audio_level(self) -> float | None:
        """How loud the publisher is now, 0 (silent) to 1 (full scale), smoothed over about
        0.3 s; None without a recent level (not audio, or no ``ssrc-audio-level`` header)."""
        if time.monotonic() - self._level_at > LEVEL_STALE:
            return None
        return self._level

    def note_audio_level(self, dbov: int) -> None:
        """Take one packet's level (RFC 6464: 0 loudest .. 127 silent, in -dBov)."""
        amplitude = 10 ** (-min(max(dbov, 0), 127) / 20)
        now = time.monotonic()
        weight = LEVEL_SMOOTHING if now - self._level_at < LEVEL_STALE else 1.0
        self._level += weight * (amplitude - self._level)
        self._level_at = now

    @property
    def idle(self) -> bool:
        """Whether no sink takes the frames: the receive path need not assemble them."""
        return not self._sinks

    def note_skipped(self, size: int, frame_end: bool) -> None:
        """Count a packet the receive path did not assemble (the source was idle)."""
        self.bytes_received += size
        if frame_end:
            self.packets_received += 1

    def subscribe(self, sink: PacketSink) -> None:
        """Hand every following packet to ``sink`` (it asks for a keyframe itself if needed)."""
        if self._ended:
            sink.on_source_ended(self)
            return
        if not self._sinks and self._is_video:
            # Idle until now, the receive path may have skipped frames: start from a keyframe.
            self._waiting_for_keyframe = True
        self._sinks[sink] = None

    def unsubscribe(self, sink: PacketSink) -> None:
        """Stop handing packets to ``sink``; nothing if it was not subscribed."""
        self._sinks.pop(sink, None)

    def add_ended_callback(self, callback: Callable[[Source], None]) -> None:
        """Call ``callback(source)`` once the source has ended (at once if it has)."""
        if self._ended:
            callback(self)
        else:
            self._ended_callbacks.append(callback)

    def feed(self, packet: av.Packet) -> None:
        """Take one encoded frame from the receive path and hand it to every sink."""
        if self._ended:
            return
        self.packets_received += 1
        self.bytes_received += packet.size
        if packet.is_keyframe:
            if self._is_video:
                self.keyframes_received += 1
                self._keyframe_arrived()
            elif not self.keyframes_received:
                self.keyframes_received = 1
        elif self._is_video:
            if packet.is_corrupt:
                self.discontinuities += 1
                self._waiting_for_keyframe = True
            if self._waiting_for_keyframe:
                self.frames_dropped += 1
                self.request_keyframe()
                return
        for sink in tuple(self._sinks):
            try:
                sink.on_packet(self, packet)
            except Exception:
                logger.exception("%r: sink %r failed", self, sink)

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe (RTCP PLI), rate limited; for video only."""
        if self._ended or not self._is_video:
            return
        if self._send_keyframe_request is None:
            return
        if not self._keyframe_wanted.is_set():
            self._keyframe_wanted.set()
            self._keyframe_poke.set()
        if self._keyframe_task is None:
            self._keyframe_task = asyncio.get_running_loop().create_task(
                self._run_keyframe_requests(), name=f"{self.id}-keyframes"
            )

    def end(self) -> None:
        """Mark the source ended and tell its sinks; idempotent, safe from any callback."""
        if self._ended:
            return
        self._ended = True
        self._keyframe_wanted.clear()
        if self._keyframe_task is not None:
            self._keyframe_task.cancel()
        sinks = tuple(self._sinks)
        self._sinks.clear()
        for sink in sinks:
            try:
                sink.on_source_ended(self)
            except Exception:
                logger.exception("%r: sink %r failed on end", self, sink)
        callbacks, self._ended_callbacks = self._ended_callbacks, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                logger.exception("%r: ended callback failed", self)

    async def close(self) -> None:
        """End the source and wait for its keyframe task to have exited; idempotent."""
        self.end()
        task, self._keyframe_task = self._keyframe_task, None
        await cancel_and_wait(task)

    def _keyframe_arrived(self) -> None:
        self._waiting_for_keyframe = False
        self._keyframe_since_request = True
        if self._keyframe_wanted.is_set():
            self._keyframe_wanted.clear()
            self._keyframe_poke.set()

    async def _run_keyframe_requests(self) -> None:
        loop = asyncio.get_running_loop()
        settings = self._keyframe_settings
        assert self._send_keyframe_request is not None
        while True:
            await self._keyframe_wanted.wait()
            # A new request waits min_interval after the last PLI; an unanswered one is
            # repeated after retry_interval.
            interval = (
                settings.min_interval if self._keyframe_since_request else settings.retry_interval
            )
            delay = self._last_request + interval - loop.time()
            if delay > 0:
                # Woken early when a keyframe arrives or a new request comes. (Not
                # asyncio.wait_for: on Python 3.11 it can swallow a cancellation.)
                self._keyframe_poke.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._keyframe_poke.wait()
                continue
            try:
                sent = await self._send_keyframe_request()
            except Exception:
                logger.exception("%r: keyframe request failed", self)
                sent = False
            self._last_request = loop.time()
            if sent:
                self.keyframe_requests_sent += 1
                self._keyframe_since_request = False
