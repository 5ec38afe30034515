"""A microphone's silences in the recording: a terminal's Opus encoder sends DTX (a packet
every 200-400 ms while the hall is silent or muted, or none for a while), so a recorded
stream has gaps. What is said after a silence must be heard in the composite when it was
said, not as soon as the silence's few packets are over; and a silent microphone must not
hold the hall's video back from the disk, where a crash would lose it."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

from media import MediaKind, Source
from recordings.capture import MeetingRecorder, RecordingSettings
from recordings.compose import compose
from recordings.jobs import load_plan
from rooms.models import TimelineKind
from server.db import Database
from tests.conftest import Org
from tests.media.media_testkit import RED
from tests.recordings.content_kit import Feeder, add_event, make_meeting, until

pytestmark = pytest.mark.slow

FRAME = 960
"Samples of one 20 ms Opus frame at 48 kHz."

SPOKEN = ((0.0, 2.0), (4.0, 6.0))
"Seconds of the stream when the hall speaks (a tone); silent in between, then again after."


def dtx_stream(seconds: float) -> list[tuple[int, bytes]]:
    """(timestamp, packet) of an Opus stream with DTX as Chromium sends it: every 20 ms frame
    while :data:`SPOKEN`, one frame in ten (200 ms, as measured from Chromium) while silent."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = 48_000
    codec.layout = "stereo"
    codec.format = "s16"
    codec.bit_rate = 32_000
    codec.time_base = fractions.Fraction(1, 48_000)
    codec.options = {"dtx": "1", "application": "voip"}
    out: list[tuple[int, bytes]] = []
    for index in range(round(seconds * 50)):
        at = index * 0.02
        spoken = any(a <= at < b for a, b in SPOKEN)
        t = (np.arange(FRAME) + index * FRAME) / 48_000
        tone = (np.sin(2 * np.pi * 440 * t) * (8000 if spoken else 0)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(np.repeat(tone, 2).reshape(1, -1)), format="s16", layout="stereo"
        )
        frame.sample_rate = 48_000
        frame.pts = index * FRAME
        for packet in codec.encode(frame):
            if spoken or index % 10 == 0:
                assert packet.pts is not None
                out.append((packet.pts, bytes(packet)))
    return out


async def feed(source: Source, stream: list[tuple[int, bytes]]) -> None:
    """The stream into ``source`` at its pace, as the receive path hands packets over."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    for ticks, data in stream:
        # Packets at their time (a microphone's), not a wait on a condition.
        await asyncio.sleep(max(0.0, began + ticks / 48_000 - loop.time()))
        packet = av.Packet(data)
        packet.pts = packet.dts = 1_000_000 + ticks
        packet.time_base = fractions.Fraction(1, 48_000)
        packet.is_keyframe = True
        source.feed(packet)


@dataclass
class Recorded:
    """A meeting of hall P alone, recorded in one segment of 60 s: P's camera (a
    :class:`Feeder`, not started) and microphone (a source fed by the test)."""

    hall_id: int
    meeting_id: int
    settings: RecordingSettings
    recorder: MeetingRecorder
    camera: Feeder
    mic: Source


@contextlib.asynccontextmanager
async def recorded(db: Database, org: Org, tmp_path: Path) -> AsyncIterator[Recorded]:
    p = org.halls["P"]
    meeting_id = await make_meeting(db, org, halls=("P",))

    async def failed(reason: str) -> None:
        raise AssertionError(reason)

    # One segment for all of it: a silence inside a segment is what shifted the sound.
    settings = RecordingSettings(tmp_path, segment_seconds=60.0, min_free_bytes=1)
    recorder = MeetingRecorder(meeting_id, settings, db.sessions, failed)
    camera = Feeder(RED, 320, 240)
    mic = Source(kind=MediaKind.AUDIO, codec="audio/opus")
    recorder.attach(p, camera.source, mic)
    try:
        yield Recorded(p, meeting_id, settings, recorder, camera, mic)
    finally:
        await recorder.close()
        await camera.stop()


async def test_a_silent_microphone_does_not_hold_the_video_back_from_the_disk(
    db: Database, org: Org, tmp_path: Path
):
    """FFmpeg's muxer holds a stream's packets until the others have theirs, 10 s by default:
    a muted hall's video stayed in memory while its microphone sent nothing, and a crash then
    lost it (the kill -9 test found an empty segment of the muted hall)."""
    async with recorded(db, org, tmp_path) as r:
        part = tmp_path / str(r.meeting_id) / f"hall-{r.hall_id}"

        def on_disk() -> int:
            """Bytes of the open segment's file."""
            return sum(f.stat().st_size for f in part.glob("*.mkv.part")) if part.exists() else 0

        await r.recorder.start()
        r.camera.start()
        await until(lambda: r.camera.fed > 0, deadline=5)
        await feed(r.mic, dtx_stream(0.02))  # one frame, then the microphone is silent
        await until(lambda: on_disk() > 0, deadline=5, what="the segment's file")
        header = on_disk()
        # The first second of video reaches the disk as its cluster closes (1 s, 25 frames).
        await until(lambda: on_disk() > header + 2_000, deadline=5, what="video on the disk")
        assert r.camera.fed < 5 * 25  # (not the 10 s FFmpeg would have held it)


def loudness(samples: np.ndarray, start: float, end: float) -> float:
    """Root mean square of the samples between two times of the composite."""
    window = samples[round(start * 48_000) : round(end * 48_000)]
    return float(np.sqrt(np.mean(window.astype(np.float64) ** 2)))


async def test_the_composite_plays_what_a_hall_said_after_a_silence_when_it_was_said(
    db: Database, org: Org, tmp_path: Path
):
    stream = dtx_stream(6.5)
    assert len(stream) < 0.8 * 6.5 * 50  # the silence sent few packets
    async with recorded(db, org, tmp_path) as r:
        await add_event(db, r.meeting_id, TimelineKind.MEETING_STARTED, r.hall_id)
        began = time.monotonic()
        r.camera.start()
        await r.recorder.start()
        await asyncio.wait_for(feed(r.mic, stream), 20)
        await until(lambda: time.monotonic() - began >= 7.0, deadline=20)
        await add_event(db, r.meeting_id, TimelineKind.MEETING_ENDED, r.hall_id)

    async with db.session() as session:
        plan, title = await load_plan(session, r.settings, r.meeting_id)
    assert len(plan.segments) == 1
    offset = plan.segments[0].start  # where the stream's first packet is in the meeting

    async def progress(percent: float, step: str) -> None:
        pass

    out = tmp_path / "output"
    await asyncio.wait_for(compose(plan, title, out, tmp_path / "work", progress), 240)
    mono = av.AudioResampler(format="s16", layout="mono", rate=48_000)
    with av.open(str(out / "composite.mp4")) as container:
        chunks = [
            plain.to_ndarray().reshape(-1)
            for frame in container.decode(audio=0)
            for plain in mono.resample(frame)
        ]
    samples = np.concatenate(chunks)

    def heard(start: float, end: float) -> float:
        return loudness(samples, offset + start, offset + end)

    loud = heard(0.3, 1.7)
    assert loud > 1000, loud
    assert heard(4.3, 5.7) > loud / 2, "what was said after the silence is not where it was said"
    assert heard(2.3, 3.7) < loud / 10, "the silence is not silent: a later sound moved into it"
