"""The composite of a meeting with a presentation: recorded from sources fed real VP8 frames,
planned from the timeline (load_plan) and composed by ffmpeg, then decoded: the content is
large, with the speaker and the chair hall beside it, exactly while it was presented."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import av
import pytest

from recordings.capture import MeetingRecorder, RecordingSettings
from recordings.compose import (
    COLUMN_CHAIR_Y,
    COLUMN_HEIGHT,
    COLUMN_WIDTH,
    COLUMN_X,
    CONTENT_HEIGHT,
    CONTENT_WIDTH,
    CONTENT_Y,
    compose,
)
from recordings.jobs import load_plan
from rooms.models import TimelineKind
from server.db import Database
from tests.conftest import Org
from tests.media.media_testkit import BLUE, GREEN, RED, Yuv
from tests.recordings.content_kit import Feeder, add_event, make_meeting, pixel, until

pytestmark = pytest.mark.slow

CONTENT_CENTRE = (CONTENT_WIDTH // 2, CONTENT_Y + CONTENT_HEIGHT // 2)
SPEAKER = (COLUMN_X + COLUMN_WIDTH // 2, CONTENT_Y + COLUMN_HEIGHT // 2)
COLUMN_CHAIR = (COLUMN_X + COLUMN_WIDTH // 2, COLUMN_CHAIR_Y + COLUMN_HEIGHT // 2)


@pytest.fixture
async def feeders() -> AsyncIterator[list[Feeder]]:
    made: list[Feeder] = []
    yield made
    for feeder in made:
        await feeder.stop()


def near(colour: Yuv, other: Yuv) -> bool:
    return colour.close_to(other, tolerance=24)


async def test_the_composite_shows_the_content_beside_the_speaker_while_it_is_presented(
    db: Database, org: Org, tmp_path: Path, feeders: list[Feeder]
):
    p, a = org.halls["P"], org.halls["A"]
    meeting_id = await make_meeting(db, org)

    async def failed(reason: str) -> None:
        raise AssertionError(reason)

    settings = RecordingSettings(tmp_path, segment_seconds=2.0, min_free_bytes=1)
    rec = MeetingRecorder(meeting_id, settings, db.sessions, failed)
    chair_camera, a_camera, screen = (
        Feeder(RED, 320, 240).start(), Feeder(GREEN, 320, 240).start(),
        Feeder(BLUE, 640, 360).start(),
    )  # fmt: skip
    feeders += [chair_camera, a_camera, screen]
    rec.attach(p, chair_camera.source, None)
    rec.attach(a, a_camera.source, None)

    def after(seconds: float) -> bool:
        return time.monotonic() - began >= seconds

    try:
        await add_event(db, meeting_id, TimelineKind.MEETING_STARTED, p)
        began = time.monotonic()
        await rec.start()
        await until(lambda: after(0.8), deadline=2)
        await add_event(db, meeting_id, TimelineKind.FLOOR, a)
        await until(lambda: after(2.0), deadline=3)
        await add_event(db, meeting_id, TimelineKind.CONTENT_STARTED, a,
                        presenter="Nguyễn Văn An", participant="u-17")  # fmt: skip
        rec.attach_content(a, screen.source)
        await until(lambda: after(5.0), deadline=5)
        await add_event(db, meeting_id, TimelineKind.CONTENT_STOPPED, a, reason="stopped")
        rec.attach_content(None, None)
        await until(lambda: after(7.0), deadline=4)
        await add_event(db, meeting_id, TimelineKind.MEETING_ENDED, p)
    finally:
        await rec.close()

    async with db.session() as session:
        plan, title = await load_plan(session, settings, meeting_id)
    # The content is shown from its first recorded frame to its stop.
    (shown,) = plan.content
    assert (shown.hall_id, shown.presenter) == (a, "Nguyễn Văn An")
    assert 2.0 <= shown.start < 2.6 and 4.9 < shown.end < 5.2, shown
    assert plan.halls == [p, a]
    floor_at = plan.main[1].start
    assert [i.hall_id for i in plan.main] == [p, a] and 0.7 < floor_at < 1.5

    async def progress(percent: float, step: str) -> None:
        pass

    out = tmp_path / "output"
    made = await asyncio.wait_for(compose(plan, title, out, tmp_path / "work", progress), 240)
    assert set(made["halls"]) == {str(p), str(a)}  # the content has no file of its own

    composite = out / "composite.mp4"
    with av.open(str(composite)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.name, video.codec_context.width) == ("h264", 1280)
        titles = [c["metadata"].get("title", "") for c in container.chapters()]
        frames = [
            (float(f.time), f.reformat(format="yuv420p"))
            for f in container.decode(video)
            if f.time is not None
        ]
    assert titles == [
        "Khai mạc: Hội trường tỉnh P",
        "Phát biểu: Điểm cầu Huyện A",
        "Trình bày: Nguyễn Văn An",
        "Phát biểu: Điểm cầu Huyện A",
    ]
    assert "Trình bày: Nguyễn Văn An" in (out / "chapters.vtt").read_text(encoding="utf-8")

    # Every frame: the content where it was presented, and nowhere else.
    inside = outside = 0
    for at, frame in frames:
        centre = pixel(frame, *CONTENT_CENTRE)
        if shown.start + 0.1 <= at <= shown.end - 0.1:
            inside += 1
            assert near(centre, BLUE), (at, centre)
            assert near(pixel(frame, *SPEAKER), GREEN), at  # the speaker beside it
            assert near(pixel(frame, *COLUMN_CHAIR), RED), at  # the chair hall under it
            assert near(pixel(frame, 640, 20), Yuv(16, 128, 128)), at  # black above it
        elif at < shown.start - 0.1 or at > shown.end + 0.1:
            outside += 1
            assert not near(centre, BLUE), (at, centre)
            # The usual main picture: the chair hall (from its first frame, recorded just
            # after the start), then hall A from the floor on.
            if at > 0.3 and abs(at - floor_at) > 0.1:
                expected = GREEN if at > floor_at else RED
                assert near(pixel(frame, 640, 360), expected), (at, floor_at)
    assert inside >= 2.5 * 25 and outside >= 3.5 * 25, (inside, outside)
    # Outside the presentation, the layout is the usual one: the speaker full, the chair in
    # the corner.
    late = next(f for at, f in frames if at >= 6.0)
    assert near(pixel(late, 640, 360), GREEN) and near(pixel(late, 1280 - 24 - 160, 24 + 90), RED)

    # The hall's own file shows its camera, never the content.
    with av.open(str(out / made["halls"][str(a)])) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and shown.start + 0.1 <= frame.time <= shown.end - 0.1:
                assert near(pixel(frame.reformat(format="yuv420p"), 320, 180), GREEN)
