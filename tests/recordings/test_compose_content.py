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

WHITE, BLACK = Yuv(235, 128, 128), Yuv(16, 128, 128)

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
    chair_camera, a_camera, screen, console = (
        Feeder(RED, 320, 240).start(), Feeder(GREEN, 320, 240).start(),
        Feeder(BLUE, 640, 360).start(), Feeder(WHITE, 800, 600).start(),
    )  # fmt: skip
    feeders += [chair_camera, a_camera, screen, console]
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
        await until(lambda: after(4.0), deadline=4)
        # The chair's console takes over: a stop and a start together.
        await add_event(db, meeting_id, TimelineKind.CONTENT_STOPPED, a, reason="taken")
        await add_event(db, meeting_id, TimelineKind.CONTENT_STARTED, p,
                        presenter="Hội trường tỉnh P", participant="chair")  # fmt: skip
        rec.attach_content(p, console.source)
        await until(lambda: after(5.5), deadline=3)
        await add_event(db, meeting_id, TimelineKind.CONTENT_STOPPED, p, reason="stopped")
        rec.attach_content(None, None)
        await until(lambda: after(7.0), deadline=4)
        await add_event(db, meeting_id, TimelineKind.MEETING_ENDED, p)
    finally:
        await rec.close()

    async with db.session() as session:
        plan, title = await load_plan(session, settings, meeting_id)
    # Each content is shown from its first recorded frame; the first until the second's.
    first, second = plan.content
    assert (first.hall_id, first.presenter) == (a, "Nguyễn Văn An")
    assert (second.hall_id, second.presenter) == (p, "Hội trường tỉnh P")
    assert 2.0 <= first.start < 2.6 and first.end == second.start, plan.content
    assert 4.0 <= second.start < 4.5 and 5.4 < second.end < 5.7, plan.content
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
        "Trình bày: Hội trường tỉnh P",
        "Phát biểu: Điểm cầu Huyện A",
    ]
    assert "Trình bày: Nguyễn Văn An" in (out / "chapters.vtt").read_text(encoding="utf-8")

    # Every frame: each content while it was presented (at the switch, one or the other, never
    # the usual layout), and no content outside.
    shown = {"first": 0, "second": 0, "outside": 0}
    for at, frame in frames:
        centre = pixel(frame, *CONTENT_CENTRE)
        if first.start + 0.1 <= at <= second.end - 0.1:
            assert near(centre, BLUE) or near(centre, WHITE), (at, centre)
            if at <= first.end - 0.1:
                shown["first"] += 1
                assert near(centre, BLUE), (at, centre)
            elif at >= second.start + 0.1:
                shown["second"] += 1
                assert near(centre, WHITE), (at, centre)
            assert near(pixel(frame, *SPEAKER), GREEN), at  # the speaker beside it
            assert near(pixel(frame, *COLUMN_CHAIR), RED), at  # the chair hall under it
            assert near(pixel(frame, 640, 20), BLACK), at  # black above it
        elif at < first.start - 0.1 or at > second.end + 0.1:
            shown["outside"] += 1
            assert not near(centre, BLUE) and not near(centre, WHITE), (at, centre)
            # The usual main picture: the chair hall (from its first frame, recorded just
            # after the start), then hall A from the floor on.
            if at > 0.3 and abs(at - floor_at) > 0.1:
                expected = GREEN if at > floor_at else RED
                assert near(pixel(frame, 640, 360), expected), (at, floor_at)
    assert shown["first"] >= 1.4 * 25 and shown["second"] >= 0.9 * 25, shown
    assert shown["outside"] >= 3.0 * 25, shown
    # Outside the presentation, the layout is the usual one: the speaker full, the chair in
    # the corner.
    late = next(f for at, f in frames if at >= 6.0)
    assert near(pixel(late, 640, 360), GREEN) and near(pixel(late, 1280 - 24 - 160, 24 + 90), RED)

    # The hall's own file shows its camera, never the content.
    with av.open(str(out / made["halls"][str(a)])) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and first.start + 0.1 <= frame.time <= second.end - 0.1:
                assert near(pixel(frame.reformat(format="yuv420p"), 320, 180), GREEN)
