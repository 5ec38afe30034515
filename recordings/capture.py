"""Capture: a hidden subscriber of the Room writes each hall's forwarded packets, as they are,
into Matroska segment files (PyAV muxing; nothing is decoded or re-encoded).

Each hall gets its own segments, a new one every ``segment_seconds`` (cut on a video
keyframe, so every segment plays on its own) and whenever the hall reconnects. The content
presented (a shared screen) is captured the same way into segments of its own (video only,
``track`` ``content``, under ``<meeting>/content/``), a new one whenever it changes. A segment is
written as ``….mkv.part`` and renamed when closed; the database row that describes it (hall,
wall-clock time of its first frame, state) is written before its first packet, so a crash
leaves at most the segment being written unfinished, and :mod:`recordings.repair` closes it.
Files are written by one thread per meeting, off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import shutil
import struct
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import media
from media.tasks import cancel_and_wait
from recordings.files import fsync_dir, private_dir, private_file
from recordings.models import RecordingSegment, SegmentState, SegmentTrack
from rooms.ports import RecordingRefused

log = logging.getLogger("giaoban.recording")

MS = Fraction(1, 1000)
OPUS_HEAD = b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 312, 48000, 0, 0)
"""Matroska needs Opus's identification header as codec private data (RFC 7845)."""
MUXER_OPTIONS = {
    "cluster_time_limit": "1000",
    "flush_packets": "1",
    "max_interleave_delta": "100000",
}
"""Clusters of at most a second, each on the disk as it closes; and packets of one stream are
held at most 100 ms for another's (FFmpeg's default is 10 s: a muted hall's microphone, which
sends a DTX frame only every few hundred milliseconds, held its video back that long, and a
crash lost it)."""
KEYFRAME_WAIT = 2.0
"""Seconds a capture waits for a video keyframe before it records the hall's audio alone."""


@dataclass(frozen=True)
class RecordingSettings:
    directory: Path
    """Where segments and processed outputs are written (``<directory>/<meeting id>/…``)."""
    segment_seconds: float = 120.0
    min_free_bytes: int = 1024**3
    """Recording refuses to start, and stops, when the disk has less free space than this."""
    check_interval: float = 5.0


def vp8_size(payload: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 keyframe (RFC 6386 §9.1), or None."""
    if len(payload) < 10 or payload[0] & 1 or payload[3:6] != b"\x9d\x01\x2a":
        return None
    width, height = struct.unpack("<HH", payload[6:10])
    return width & 0x3FFF, height & 0x3FFF


def h264_size(payload: bytes) -> tuple[int, int] | None:
    """Width and height of an H.264 keyframe, read by parsing (not decoding) its SPS."""
    context = av.CodecContext.create("h264", "r")
    try:
        for packet in context.parse(payload):
            context.decode(packet)
        context.decode(None)
    except av.FFmpegError:
        pass
    return (context.width, context.height) if context.width and context.height else None


@dataclass
class _Stream:
    base_ticks: int | None = None
    base_ms: int = 0
    last_ticks: int = 0
    last_ms: int = -1


@dataclass
class _Segment:
    key: str
    path: Path
    row_id: asyncio.Future[int]
    started_wall: float
    streams: dict[str, _Stream] = field(default_factory=dict)


class _HallCapture:
    """Receives one hall's camera and microphone packets (a :class:`media.PacketSink`), or,
    with ``track`` content, the content presented from the hall's side (``camera`` is the
    content's video source, ``mic`` None)."""

    def __init__(
        self,
        recorder: MeetingRecorder,
        hall_id: int,
        camera: media.Source | None,
        mic: media.Source | None,
        track: SegmentTrack = SegmentTrack.CAMERA,
    ) -> None:
        self.recorder = recorder
        self.hall_id = hall_id
        self.camera = camera
        self.mic = mic
        self.track = track
        self.segment: _Segment | None = None
        self.kinds: set[str] = set()
        """What the open segment holds: ``video`` (when it began on a keyframe), ``audio``."""
        self.seq = 0
        self.started = time.monotonic()
        self.keyframe_asked = 0.0
        for source in (camera, mic):
            if source is not None:
                source.subscribe(self)
        if camera is not None:
            camera.request_keyframe()

    # PacketSink
    def on_packet(self, source: media.Source, packet: av.Packet) -> None:
        try:
            self._take(source, packet)
        except Exception:
            log.exception("hall %s: a packet could not be recorded", self.hall_id)

    def on_source_ended(self, source: media.Source) -> None:
        if source is self.camera:
            self.camera = None
        elif source is self.mic:
            self.mic = None

    def close(self) -> None:
        for source in (self.camera, self.mic):
            if source is not None:
                source.unsubscribe(self)
        self._close_segment()

    def _take(self, source: media.Source, packet: av.Packet) -> None:
        video = source is self.camera
        now = time.time()
        segment = self.segment
        if (
            segment is not None
            and now - segment.started_wall >= self.recorder.settings.segment_seconds
        ):
            if self.camera is not None and time.monotonic() - self.keyframe_asked > 1:
                self.keyframe_asked = time.monotonic()
                self.camera.request_keyframe()
            if (video and packet.is_keyframe) or self.camera is None:
                self._close_segment()
                segment = None
        if segment is None:
            if video and packet.is_keyframe:
                segment = self._open(bytes(packet), now)
            elif not video and (
                self.camera is None or time.monotonic() - self.started > KEYFRAME_WAIT
            ):  # (content has no audio: it always waits for its keyframe)
                segment = self._open(None, now)
            if segment is None:
                return
        self.segment = segment
        kind = "video" if video else "audio"
        if kind not in self.kinds:
            return  # an audio-only segment: video waits for the next one
        if kind not in segment.streams:
            segment.streams[kind] = _Stream()
        stream = segment.streams[kind]
        ticks = int(packet.pts or 0)
        clock = 90_000 if video else 48_000
        if stream.base_ticks is None:
            stream.base_ticks = stream.last_ticks = ticks
            stream.base_ms = int((now - segment.started_wall) * 1000)
        else:
            # RTP timestamps wrap at 2^32: unwrap relative to the last one.
            delta = (ticks - stream.last_ticks + 2**31) % 2**32 - 2**31
            stream.last_ticks += delta
        pts = stream.base_ms + (stream.last_ticks - stream.base_ticks) * 1000 // clock
        pts = max(pts, stream.last_ms + 1)
        stream.last_ms = pts
        self.recorder._write(("packet", segment.key, kind, bytes(packet), pts, packet.is_keyframe))

    def _open(self, keyframe: bytes | None, now: float) -> _Segment | None:
        """A new segment beginning with ``keyframe`` (None: audio alone); None when the
        keyframe's size cannot be read and there is no sound to record instead."""
        video: dict[str, Any] | None = None
        if keyframe is not None and self.camera is not None:
            codec = "h264" if self.camera.codec.lower().endswith("h264") else "vp8"
            size = vp8_size(keyframe) if codec == "vp8" else h264_size(keyframe)
            if size is not None:
                video = {"codec": codec, "width": size[0], "height": size[1]}
        if video is None and self.mic is None:
            return None  # nothing to write (content waits for a keyframe it can read)
        stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%S%fZ")
        if self.track is SegmentTrack.CONTENT:
            # One numbering for all the meeting's content, in a directory of its own: never
            # the name of a hall's segment, whoever presents.
            self.recorder._content_seq += 1
            self.seq = self.recorder._content_seq
            relative = Path(str(self.recorder.meeting_id), "content",
                            f"{self.seq:04d}-hall-{self.hall_id}-{stamp}.mkv.part")  # fmt: skip
            key = f"content/{self.seq}"
        else:
            # Numbered per hall for the recorder's life, not per connection: a hall that
            # rejoins gets new keys, never those of its earlier segments (the writer and the
            # rows find a segment by its key, and the earlier one may still be closing).
            seq = self.recorder._hall_seq.get(self.hall_id, 0) + 1
            self.recorder._hall_seq[self.hall_id] = self.seq = seq
            relative = Path(str(self.recorder.meeting_id), f"hall-{self.hall_id}",
                            f"{self.seq:04d}-{stamp}.mkv.part")  # fmt: skip
            key = f"{self.hall_id}/{self.seq}"
        self.kinds = {"audio"} | ({"video"} if video else set())
        segment = _Segment(
            key=key,
            path=self.recorder.settings.directory / relative,
            row_id=asyncio.get_running_loop().create_future(),
            started_wall=now,
        )
        self.recorder._segment_opened(
            segment, self.hall_id, relative, video, self.mic is not None, self.track
        )
        self.recorder._write(("open", segment.key, segment.path, video, self.mic is not None))
        return segment

    def _close_segment(self) -> None:
        segment, self.segment = self.segment, None
        if segment is not None:
            self.recorder._write(("close", segment.key))


class MeetingRecorder:
    """Records one meeting: knows every hall's sources, captures them while active.

    Implements :class:`rooms.ports.Recorder`. ``on_failure`` is awaited when recording stops
    by itself (disk running short).
    """

    def __init__(
        self,
        meeting_id: int,
        settings: RecordingSettings,
        sessions: async_sessionmaker[AsyncSession],
        on_failure: Callable[[str], Awaitable[None]],
    ) -> None:
        self.meeting_id = meeting_id
        self.settings = settings
        self._sessions = sessions
        self._on_failure = on_failure
        self._halls: dict[int, tuple[media.Source | None, media.Source | None]] = {}
        self._captures: dict[int, _HallCapture] = {}
        self._content: tuple[int, media.Source] | None = None
        """The content presented now (its hall, its video source), recorded while active."""
        self._content_capture: _HallCapture | None = None
        self._content_seq = 0
        self._hall_seq: dict[int, int] = {}
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._db: asyncio.Queue[Callable[[], Awaitable[None]] | None] = asyncio.Queue()
        self._db_task: asyncio.Task[None] | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._row_ids: dict[str, asyncio.Future[int]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.active = False

    # -- what the Room tells ------------------------------------------------------------

    def attach(self, hall_id: int, camera: media.Source | None, mic: media.Source | None) -> None:
        """The hall (re)connected with these sources; while recording, a new segment starts."""
        self.detach(hall_id)
        self._halls[hall_id] = (camera, mic)
        if self.active:
            self._captures[hall_id] = _HallCapture(self, hall_id, camera, mic)

    def detach(self, hall_id: int) -> None:
        """The hall left: its segment is closed."""
        self._halls.pop(hall_id, None)
        capture = self._captures.pop(hall_id, None)
        if capture is not None:
            capture.close()

    def attach_content(self, hall_id: int | None, source: media.Source | None) -> None:
        """The content presented now from ``hall_id``'s side (source None: nobody presents).
        While recording, the segment of the previous content is closed and, when there is a
        source, a new content segment starts on its next keyframe."""
        if self._content == (hall_id, source) and (self._content_capture or not self.active):
            return  # the same content told again: it carries on in its segment
        capture, self._content_capture = self._content_capture, None
        if capture is not None:
            capture.close()
        if source is None or hall_id is None:
            if source is not None:
                log.warning("meeting %s: content without a hall is not recorded", self.meeting_id)
            self._content = None
            return
        self._content = (hall_id, source)
        if self.active:
            self._content_capture = self._capture_content()

    def _capture_content(self) -> _HallCapture | None:
        if self._content is None:
            return None
        hall_id, source = self._content
        return _HallCapture(self, hall_id, source, None, SegmentTrack.CONTENT)

    async def start(self) -> None:
        """Start capturing every hall; raises :class:`RecordingRefused` when it cannot."""
        if self.active:
            return
        private_dir(self.settings.directory)
        free = shutil.disk_usage(self.settings.directory).free
        if free < self.settings.min_free_bytes:
            raise RecordingRefused(
                f"only {free // 2**20} MiB free on the recording disk "
                f"(at least {self.settings.min_free_bytes // 2**20} MiB needed)"
            )
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            self._thread = threading.Thread(
                target=self._write_loop, name=f"recorder-{self.meeting_id}", daemon=True
            )
            self._thread.start()
            self._db_task = asyncio.create_task(self._db_loop())
        self.active = True
        for hall_id, (camera, mic) in self._halls.items():
            self._captures[hall_id] = _HallCapture(self, hall_id, camera, mic)
        self._content_capture = self._capture_content()
        self._monitor = asyncio.create_task(self._watch_disk())
        log.info("meeting %s: recording started", self.meeting_id)

    async def stop(self, reason: str) -> None:
        """Stop capturing; every open segment is closed and described before this returns."""
        if not self.active:
            return
        self.active = False
        monitor, self._monitor = self._monitor, None
        await cancel_and_wait(monitor)
        for capture in self._captures.values():
            capture.close()
        self._captures.clear()
        content, self._content_capture = self._content_capture, None
        if content is not None:
            content.close()
        await self._drain()
        log.info("meeting %s: recording stopped (%s)", self.meeting_id, reason)

    async def close(self) -> None:
        """Stop, and end the writer thread. Safe to call twice."""
        await self.stop("closed")
        if self._thread is not None:
            self._queue.put(None)
            await asyncio.to_thread(self._thread.join, 30)
            self._thread = None
        if self._db_task is not None:
            self._db.put_nowait(None)
            await self._db_task
            self._db_task = None

    # -- internals ----------------------------------------------------------------------

    def _write(self, command: tuple[Any, ...]) -> None:
        self._queue.put(command)

    async def _drain(self) -> None:
        """Wait until the writer has done everything asked so far, and the rows are written."""
        if self._thread is None:
            return
        done = asyncio.get_running_loop().create_future()
        self._queue.put(("flush", done))
        await done
        finished = asyncio.get_running_loop().create_future()

        async def mark() -> None:
            finished.set_result(None)

        self._db.put_nowait(mark)
        await finished

    def _segment_opened(
        self,
        segment: _Segment,
        hall_id: int,
        relative: Path,
        video: dict[str, Any] | None,
        audio: bool,
        track: SegmentTrack,
    ) -> None:
        started = datetime.fromtimestamp(segment.started_wall, UTC)
        self._row_ids[segment.key] = segment.row_id

        async def insert() -> None:
            async with self._sessions() as session:
                row = RecordingSegment(
                    meeting_id=self.meeting_id,
                    hall_id=hall_id,
                    path=str(relative),
                    started_at=started,
                    state=SegmentState.WRITING,
                    track=track,
                    has_video=video is not None,
                    has_audio=audio,
                    video_codec=video["codec"] if video else "",
                    width=video["width"] if video else 0,
                    height=video["height"] if video else 0,
                )
                session.add(row)
                await session.commit()
                segment.row_id.set_result(row.id)

        self._db.put_nowait(insert)

    def _segment_closed(self, segment_key: str, final: Path, size: int, ended: float) -> None:
        """Called on the loop when the writer has closed and renamed a segment's file."""
        future = self._row_ids.pop(segment_key, None)

        async def update() -> None:
            if future is None:
                return
            row_id = await future
            async with self._sessions() as session:
                await session.execute(
                    sa.update(RecordingSegment)
                    .where(RecordingSegment.id == row_id)
                    .values(
                        path=str(final.relative_to(self.settings.directory)),
                        state=SegmentState.COMPLETE,
                        ended_at=datetime.fromtimestamp(ended, UTC),
                        size=size,
                    )
                )
                await session.commit()

        self._db.put_nowait(update)

    async def _db_loop(self) -> None:
        while (job := await self._db.get()) is not None:
            try:
                await job()
            except Exception:
                log.exception("meeting %s: a segment row could not be written", self.meeting_id)

    async def _watch_disk(self) -> None:
        while True:
            await asyncio.sleep(self.settings.check_interval)
            free = shutil.disk_usage(self.settings.directory).free
            if free < self.settings.min_free_bytes:
                reason = f"disk space low: {free // 2**20} MiB free"
                log.error("meeting %s: recording stopped, %s", self.meeting_id, reason)
                self._monitor = None
                await self.stop(reason)
                await self._on_failure(reason)
                return

    # -- the writer thread --------------------------------------------------------------

    def _write_loop(self) -> None:
        containers: dict[str, _Open] = {}
        while (command := self._queue.get()) is not None:
            try:
                self._handle(command, containers)
            except Exception:
                log.exception("meeting %s: recorder command %s failed", self.meeting_id,
                              command[0])  # fmt: skip
        for key in list(containers):
            self._finish(key, containers)

    def _handle(self, command: tuple[Any, ...], containers: dict[str, _Open]) -> None:
        kind = command[0]
        if kind == "open":
            _, key, path, video, audio = command
            private_dir(path.parent)
            private_file(path)  # FFmpeg keeps the mode of a file that exists
            # Clusters of at most a second, flushed to the file as each closes: a crash
            # leaves a segment that remuxes up to its last second.
            container = av.open(str(path), "w", format="matroska", options=MUXER_OPTIONS)
            streams: dict[str, Any] = {}
            if video is not None:
                stream = container.add_stream(video["codec"], rate=30)
                stream.width, stream.height = video["width"], video["height"]
                stream.time_base = MS
                streams["video"] = stream
            if audio:
                stream = container.add_stream("opus", rate=48000)
                stream.codec_context.extradata = OPUS_HEAD
                stream.time_base = MS
                streams["audio"] = stream
            containers[key] = _Open(container, path, streams, time.time())
        elif kind == "packet":
            _, key, stream_kind, data, pts, keyframe = command
            entry = containers.get(key)
            if entry is None or stream_kind not in entry.streams:
                return
            packet = av.Packet(data)
            packet.pts = packet.dts = pts
            packet.time_base = MS
            packet.stream = entry.streams[stream_kind]
            packet.is_keyframe = keyframe
            entry.container.mux(packet)
            entry.last_write = time.time()
        elif kind == "close":
            self._finish(command[1], containers)
        elif kind == "flush":
            future: asyncio.Future[None] = command[1]
            future.get_loop().call_soon_threadsafe(_resolve, future)

    def _finish(self, key: str, containers: dict[str, _Open]) -> None:
        entry = containers.pop(key, None)
        if entry is None:
            return
        entry.container.close()
        with open(entry.path, "rb+") as f:
            os.fsync(f.fileno())
        final = entry.path.with_suffix("")  # drop ".part"
        os.replace(entry.path, final)
        fsync_dir(final.parent)
        size = final.stat().st_size
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._segment_closed, key, final, size, entry.last_write)


@dataclass
class _Open:
    """A segment file the writer thread has open."""

    container: Any
    path: Path
    streams: dict[str, Any]
    last_write: float


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
