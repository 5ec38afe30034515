"""Sources fed with real encoded frames (VP8 from libvpx) without a network, a meeting in the
database, and the pixels of decoded frames: shared by the content recording tests."""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import av
import sqlalchemy as sa

from media import MediaKind, Source
from rooms.models import Hall, Meeting, MeetingState, TimelineEvent, TimelineKind
from server.db import Database
from tests.conftest import Org
from tests.media.media_testkit import Yuv

FPS = 25
TICKS = 90_000 // FPS
"""RTP ticks (90 kHz) between frames."""


def vp8_gop(colour: Yuv, width: int, height: int, frames: int = 10) -> list[bytes]:
    """One group of pictures of a solid colour: a keyframe and ``frames - 1`` delta frames.
    Played again and again it is a valid stream (each round starts on its keyframe)."""
    context = av.CodecContext.create("libvpx", "w")
    context.width, context.height = width, height
    context.pix_fmt = "yuv420p"
    context.time_base = fractions.Fraction(1, FPS)
    context.framerate = fractions.Fraction(FPS, 1)
    context.gop_size = 1000
    context.options = {"deadline": "realtime", "lag-in-frames": "0"}
    out: list[bytes] = []
    for index in range(frames):
        frame = av.VideoFrame(width=width, height=height, format="yuv420p")
        for plane, value in zip(frame.planes, (colour.y, colour.u, colour.v), strict=True):
            plane.update(bytes([value]) * plane.buffer_size)
        frame.pts = index
        frame.pict_type = (
            av.video.frame.PictureType.I if index == 0 else av.video.frame.PictureType.NONE
        )
        out += [bytes(packet) for packet in context.encode(frame)]
    out += [bytes(packet) for packet in context.encode(None)]
    assert len(out) == frames
    return out


class Feeder:
    """A VP8 video :class:`Source` fed in real time (25 fps) with a looped GOP; a keyframe
    request makes the next frame a keyframe (the GOP starts again)."""

    def __init__(self, colour: Yuv, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.gop = vp8_gop(colour, width, height)
        self.source = Source(
            kind=MediaKind.VIDEO, codec="video/VP8", send_keyframe_request=self._request
        )
        self.fed = 0
        self._index = 0
        self._task: asyncio.Task[None] | None = None

    async def _request(self) -> bool:
        self._index = 0
        return True

    def start(self) -> Feeder:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        ticks = 1_000_000
        while True:
            packet = av.Packet(self.gop[self._index])
            packet.pts = packet.dts = ticks
            packet.time_base = fractions.Fraction(1, 90_000)
            packet.is_keyframe = self._index == 0
            self.source.feed(packet)
            self.fed += 1
            self._index = (self._index + 1) % len(self.gop)
            ticks += TICKS
            # Frames at their pace (a camera's), not a wait on a condition.
            await asyncio.sleep(max(0.0, began + self.fed / FPS - loop.time()))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


async def until(
    condition: Callable[[], Any], *, deadline: float, what: str = "the condition"
) -> None:
    """Wait until ``condition()`` holds (awaited when it returns an awaitable)."""
    limit = time.monotonic() + deadline
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > limit:
            raise AssertionError(f"{what} did not happen in {deadline} s")
        await asyncio.sleep(0.02)


async def make_meeting(db: Database, org: Org, halls: tuple[str, ...] = ("P", "A")) -> int:
    """A live meeting of hall P (the chair hall) and the others, in the database."""
    now = datetime.now(UTC)
    async with db.session() as session:
        chosen = list(
            await session.scalars(sa.select(Hall).where(Hall.id.in_([org.halls[h] for h in halls])))
        )
        meeting = Meeting(
            unit_id=org.units["P"], title="Giao ban trình chiếu", start_at=now,
            end_at=now + timedelta(hours=1), chair_hall_id=org.halls["P"],
            chair_user_id=org.users["chair_p"], state=MeetingState.LIVE, started_at=now,
            halls=chosen,
        )  # fmt: skip
        session.add(meeting)
        await session.commit()
        return meeting.id


async def add_event(
    db: Database,
    meeting_id: int,
    kind: TimelineKind,
    hall_id: int | None = None,
    at: datetime | None = None,
    **data: Any,
) -> datetime:
    moment = at or datetime.now(UTC)
    async with db.session() as session:
        session.add(
            TimelineEvent(meeting_id=meeting_id, at=moment, kind=kind, hall_id=hall_id, data=data)
        )
        await session.commit()
    return moment


def pixel(frame: av.VideoFrame, x: int, y: int) -> Yuv:
    """The colour at (x, y) of a decoded frame."""
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    values = []
    for index, plane in enumerate(frame.planes):
        shift = 0 if index == 0 else 1
        values.append(bytes(plane)[(y >> shift) * plane.line_size + (x >> shift)])
    return Yuv(*values)
