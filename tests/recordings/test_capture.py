"""Capture: each hall's forwarded packets land, not re-encoded, in segment files that decode."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime
from typing import Any

import av
import pytest
import sqlalchemy as sa

from recordings.capture import MeetingRecorder
from recordings.models import RecordingSegment, SegmentState
from server.state import SERVICES
from tests.media.media_testkit import BLUE, GREEN, RED, centre_colour
from tests.server.live_kit import sees

pytestmark = pytest.mark.slow

COLOURS = {"P": RED, "A": GREEN, "B": BLUE}


async def segments(server, meeting_id: int) -> list[RecordingSegment]:
    db = server.app[SERVICES].db
    async with db.session() as session:
        rows = await session.scalars(
            sa.select(RecordingSegment)
            .where(RecordingSegment.meeting_id == meeting_id)
            .order_by(RecordingSegment.hall_id, RecordingSegment.started_at)
        )
        return list(rows)


async def test_each_hall_is_recorded_in_segments_that_decode(live, org, server, settings):
    began = datetime.now(UTC)
    meeting = await live.running()
    await meeting.chair.call("give_floor", {"hall_id": org.halls["A"]})
    await sees(meeting.halls["B"], "main", GREEN)
    started = time.monotonic()
    await meeting.chair.until(lambda: time.monotonic() - started > 5.0, deadline=20)
    assert (await meeting.chair.call("end_meeting", {"meeting_id": meeting.id}))["ok"]

    rows = await segments(server, meeting.id)
    by_hall: dict[int, list[RecordingSegment]] = {}
    for row in rows:
        by_hall.setdefault(row.hall_id, []).append(row)
    assert set(by_hall) == {org.halls[k] for k in "PAB"}
    for key, colour in COLOURS.items():
        hall_rows = by_hall[org.halls[key]]
        assert len(hall_rows) >= 2, f"hall {key}: {len(hall_rows)} segment(s) in 5 s"
        for row in hall_rows:
            assert row.state is SegmentState.COMPLETE
            assert row.path.endswith(".mkv")
            assert began <= row.started_at <= datetime.now(UTC)
            assert row.ended_at is not None and row.ended_at > row.started_at
            assert (row.width, row.height, row.video_codec) == (320, 240, "vp8")
            path = settings.recordings_dir / row.path
            with av.open(str(path)) as container:
                kinds = {s.type: s.codec_context.name for s in container.streams}
                assert kinds == {"video": "vp8", "audio": "opus"}
                frames = list(container.decode(video=0))
            # Every frame decodes, at 10 fps at least (the last segment, cut by the end of
            # the meeting, may be a fraction of a second long).
            seconds = (row.ended_at - row.started_at).total_seconds()
            assert len(frames) >= max(1, 10 * seconds), (key, seconds, len(frames))
            assert frames[0].key_frame, "a segment must start on a keyframe"
            assert all(
                centre_colour(f).close_to(colour) for f in frames[:: max(1, len(frames) // 5)]
            )
            with av.open(str(path)) as container:
                audio = list(container.decode(audio=0))
            # Sound all along: half a second at least, or half of a last segment shorter
            # than a second (the meeting's end cuts it).
            heard = sum(f.samples for f in audio) / 48_000
            assert heard >= min(0.5, seconds / 2), (key, seconds, heard)
        # Consecutive segments follow each other without a gap.
        for a, b in itertools.pairwise(hall_rows):
            assert abs((b.started_at - a.ended_at).total_seconds()) < 0.5


async def test_a_hall_that_rejoins_gets_new_segments(live, org, server):
    meeting = await live.running()
    await asyncio.sleep(0.5)
    a = meeting.halls["A"]
    await a.close()
    await meeting.chair.until(
        lambda: meeting.chair.hall(org.halls["A"])["presence"] == "reconnecting"
    )
    back = await live(hall="A")
    assert (await back.enter(meeting.id))["ok"]
    await back.until(lambda: back.slot("main").frames > 15)
    await meeting.chair.call("end_meeting", {"meeting_id": meeting.id})
    rows = [r for r in await segments(server, meeting.id) if r.hall_id == org.halls["A"]]
    assert len(rows) >= 2
    assert all(r.state is SegmentState.COMPLETE for r in rows), [(r.path, r.state) for r in rows]
    assert len({r.path for r in rows}) == len(rows)


async def test_a_hall_that_rejoins_while_its_last_segment_is_still_closing_keeps_both(
    live, org, server, monkeypatch
):
    """The writer is slow to close the segment of A's dropped connection (a busy disk's
    fsync): A's new segment opens meanwhile, and each row still ends complete, naming its
    own file (both were once keyed "hall/1": the old one's close marked the new row)."""
    finish = MeetingRecorder._finish

    def slow_finish(self: MeetingRecorder, key: str, containers: dict[str, Any]) -> None:
        time.sleep(1.5)  # the writer thread's own pace, not the test's
        finish(self, key, containers)

    monkeypatch.setattr(MeetingRecorder, "_finish", slow_finish)
    await test_a_hall_that_rejoins_gets_new_segments(live, org, server)
