"""Capture of the content presented: its packets land, not re-encoded, in content segments of
their own (video only), cut like a hall's, new when the content changes, repaired after a
crash. Sources are fed real VP8 frames directly (no network)."""

from __future__ import annotations

import fractions
import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import pytest
import sqlalchemy as sa

from media import MediaKind, Source
from recordings.capture import MeetingRecorder, RecordingSettings
from recordings.jobs import JobRunner
from recordings.models import RecordingSegment, SegmentState, SegmentTrack
from server.db import Database
from tests.conftest import Org
from tests.media.media_testkit import BLUE, GREEN, RED, Yuv, centre_colour
from tests.recordings.content_kit import TICKS, Feeder, make_meeting, until, vp8_gop

pytestmark = pytest.mark.slow


@pytest.fixture
async def feeders() -> AsyncIterator[list[Feeder]]:
    made: list[Feeder] = []
    yield made
    for feeder in made:
        await feeder.stop()


def feeder(made: list[Feeder], colour: Yuv, width: int, height: int) -> Feeder:
    made.append(Feeder(colour, width, height).start())
    return made[-1]


def recorder(db: Database, directory: Path, meeting_id: int, seconds: float) -> MeetingRecorder:
    async def failed(reason: str) -> None:
        raise AssertionError(reason)

    settings = RecordingSettings(directory, segment_seconds=seconds, min_free_bytes=1)
    return MeetingRecorder(meeting_id, settings, db.sessions, failed)


async def rows_of(db: Database, meeting_id: int) -> list[RecordingSegment]:
    async with db.session() as session:
        return list(
            await session.scalars(
                sa.select(RecordingSegment)
                .where(RecordingSegment.meeting_id == meeting_id)
                .order_by(RecordingSegment.started_at)
            )
        )


def decoded(path: Path) -> tuple[dict[str, str], list[av.VideoFrame]]:
    with av.open(str(path)) as container:
        kinds = {s.type: s.codec_context.name for s in container.streams}
        return kinds, list(container.decode(video=0))


async def test_the_content_is_recorded_in_segments_of_its_own_that_decode(
    db: Database, org: Org, tmp_path: Path, feeders: list[Feeder]
):
    meeting_id = await make_meeting(db, org)
    rec = recorder(db, tmp_path, meeting_id, seconds=1.0)
    chair_camera = feeder(feeders, RED, 320, 240)
    first = feeder(feeders, BLUE, 640, 360)
    rec.attach(org.halls["P"], chair_camera.source, None)
    rec.attach_content(org.halls["A"], first.source)  # before the start: captured at start
    try:
        await rec.start()
        began = first.fed
        await until(lambda: first.fed - began >= 2.6 * 25, deadline=6, what="2.6 s of content")
        # Another presenter: the content changes, from another hall, in another size.
        second = feeder(feeders, GREEN, 480, 272)
        rec.attach_content(org.halls["P"], second.source)
        began = second.fed
        await until(lambda: second.fed - began >= 0.8 * 25, deadline=3, what="0.8 s of content")
        rec.attach_content(None, None)  # nobody presents: the content's segment is closed
        await until(
            lambda: any(p.name.endswith(".mkv") for p in (tmp_path / str(meeting_id) / "content")
                        .glob(f"*-hall-{org.halls['P']}-*")),
            deadline=5, what="the second content's segment closed",
        )  # fmt: skip
        stopped_at = chair_camera.fed
        await until(lambda: chair_camera.fed - stopped_at >= 10, deadline=2)
    finally:
        await rec.close()

    rows = await rows_of(db, meeting_id)
    contents = [r for r in rows if r.track is SegmentTrack.CONTENT]
    cameras = [r for r in rows if r.track is SegmentTrack.CAMERA]
    assert cameras and all(r.hall_id == org.halls["P"] for r in cameras)
    assert all(r.path.startswith(f"{meeting_id}/hall-{org.halls['P']}/") for r in cameras)
    # 2.6 s in 1 s segments from A, then one segment from P; never a hall's file name.
    from_a = [r for r in contents if r.hall_id == org.halls["A"]]
    from_p = [r for r in contents if r.hall_id == org.halls["P"]]
    assert len(from_a) >= 2, [r.path for r in from_a]
    assert len(from_p) == 1
    assert len({r.path for r in rows}) == len(rows)
    expected = {org.halls["A"]: (BLUE, 640, 360), org.halls["P"]: (GREEN, 480, 272)}
    for row in contents:
        colour, width, height = expected[row.hall_id]
        assert row.state is SegmentState.COMPLETE
        assert row.path.startswith(f"{meeting_id}/content/") and row.path.endswith(".mkv")
        assert (row.has_video, row.has_audio) == (True, False)
        assert (row.video_codec, row.width, row.height) == ("vp8", width, height)
        assert row.ended_at is not None and row.ended_at > row.started_at
        kinds, frames = decoded(tmp_path / row.path)
        assert kinds == {"video": "vp8"}  # video only, as it came: not re-encoded
        seconds = (row.ended_at - row.started_at).total_seconds()
        assert len(frames) >= max(1, 15 * seconds), (row.path, seconds, len(frames))
        assert frames[0].key_frame, "a segment must start on a keyframe"
        assert {(f.width, f.height) for f in frames} == {(width, height)}
        assert all(centre_colour(f).close_to(colour) for f in frames[:: max(1, len(frames) // 5)])
    # The first content's segments follow each other (cut on keyframes, no gap).
    for a, b in itertools.pairwise(from_a):
        assert a.ended_at is not None
        assert abs((b.started_at - a.ended_at).total_seconds()) < 0.5
    # The hall's own camera is recorded as before, apart from the content.
    kinds, frames = decoded(tmp_path / cameras[0].path)
    assert kinds == {"video": "vp8"} and (frames[0].width, frames[0].height) == (320, 240)
    assert centre_colour(frames[0]).close_to(RED)


async def test_stopping_the_recording_closes_the_content_segment_and_starting_opens_one(
    db: Database, org: Org, tmp_path: Path, feeders: list[Feeder]
):
    meeting_id = await make_meeting(db, org)
    rec = recorder(db, tmp_path, meeting_id, seconds=120)
    content = feeder(feeders, BLUE, 640, 360)
    try:
        await rec.start()
        rec.attach_content(org.halls["A"], content.source)
        rec.attach_content(org.halls["A"], content.source)  # told again: the same segment
        began = content.fed
        await until(lambda: content.fed - began >= 15, deadline=3)
        await rec.stop("stop_recording")
        rows = await rows_of(db, meeting_id)
        assert [(r.track, r.state) for r in rows] == [(SegmentTrack.CONTENT, SegmentState.COMPLETE)]
        await rec.start()  # still presented: a new segment
        began = content.fed
        await until(lambda: content.fed - began >= 15, deadline=3)
    finally:
        await rec.close()
    rows = await rows_of(db, meeting_id)
    assert [(r.track, r.state) for r in rows] == [(SegmentTrack.CONTENT, SegmentState.COMPLETE)] * 2
    assert all(decoded(tmp_path / r.path)[1] for r in rows)


async def test_a_content_segment_left_unfinished_by_a_crash_is_repaired(
    db: Database, org: Org, tmp_path: Path, feeders: list[Feeder]
):
    meeting_id = await make_meeting(db, org)
    rec = recorder(db, tmp_path, meeting_id, seconds=120)
    content = feeder(feeders, BLUE, 640, 360)
    rec.attach_content(org.halls["A"], content.source)
    snapshot: dict[str, Any] = {}
    try:
        await rec.start()
        began = content.fed
        # More than a second written: the first cluster is flushed to the file.
        await until(lambda: content.fed - began >= 1.6 * 25, deadline=4)
        (part,) = (tmp_path / str(meeting_id) / "content").glob("*.mkv.part")
        # What a crash now would leave on the disk.
        snapshot = {"name": part.name, "data": part.read_bytes()}
    finally:
        await rec.close()

    # The crash: the row still says writing, the file is the .part as it was.
    (row,) = await rows_of(db, meeting_id)
    relative = f"{meeting_id}/content/{snapshot['name']}"
    assert row.path == relative.removesuffix(".part")
    os.remove(tmp_path / row.path)
    (tmp_path / relative).write_bytes(snapshot["data"])
    async with db.session() as session:
        await session.execute(
            sa.update(RecordingSegment)
            .where(RecordingSegment.id == row.id)
            .values(state=SegmentState.WRITING, path=relative, ended_at=None, size=0)
        )
        await session.commit()

    runner = JobRunner(db.sessions, RecordingSettings(tmp_path, min_free_bytes=1))
    assert await runner.repair(meeting_id) == 1
    (row,) = await rows_of(db, meeting_id)
    assert row.state is SegmentState.REPAIRED, row.note
    assert row.track is SegmentTrack.CONTENT
    assert row.path == relative.removesuffix(".part")
    assert not (tmp_path / relative).exists()
    assert row.ended_at is not None
    assert 0.8 < (row.ended_at - row.started_at).total_seconds() < 2.5
    kinds, frames = decoded(tmp_path / row.path)
    assert kinds == {"video": "vp8"}
    assert len(frames) >= 20
    assert {(f.width, f.height) for f in frames} == {(640, 360)}
    assert centre_colour(frames[-1]).close_to(BLUE)


async def test_content_is_not_recorded_while_recording_is_off(
    db: Database, org: Org, tmp_path: Path, feeders: list[Feeder]
):
    meeting_id = await make_meeting(db, org)
    rec = recorder(db, tmp_path, meeting_id, seconds=120)
    content = feeder(feeders, BLUE, 640, 360)
    try:
        rec.attach_content(org.halls["A"], content.source)
        began = content.fed
        await until(lambda: content.fed - began >= 10, deadline=2)
        assert content.source.sinks == ()
    finally:
        await rec.close()
    assert await rows_of(db, meeting_id) == []


async def test_a_keyframe_whose_size_cannot_be_read_opens_no_content_segment(
    db: Database, org: Org, tmp_path: Path
):
    meeting_id = await make_meeting(db, org)
    rec = recorder(db, tmp_path, meeting_id, seconds=120)
    source = Source(kind=MediaKind.VIDEO, codec="video/VP8")
    gop = vp8_gop(BLUE, 640, 360)

    def feed(data: bytes, index: int, key: bool) -> None:
        packet = av.Packet(data)
        packet.pts = packet.dts = index * TICKS
        packet.time_base = fractions.Fraction(1, 90_000)
        packet.is_keyframe = key
        source.feed(packet)

    try:
        await rec.start()
        rec.attach_content(org.halls["A"], source)
        feed(b"\x00" * 40, 0, key=True)  # not a VP8 keyframe: nothing to write yet
        await rec._drain()
        assert await rows_of(db, meeting_id) == []
        for index, data in enumerate(gop, start=1):
            feed(data, index, key=index == 1)
    finally:
        await rec.close()
    (row,) = await rows_of(db, meeting_id)
    assert (row.track, row.state, row.width, row.height) == (
        SegmentTrack.CONTENT, SegmentState.COMPLETE, 640, 360,
    )  # fmt: skip
    kinds, frames = decoded(tmp_path / row.path)
    assert kinds == {"video": "vp8"} and len(frames) == len(gop)
