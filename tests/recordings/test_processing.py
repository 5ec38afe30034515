"""Post-processing of a recorded synthetic meeting, checked by decoding what it made."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import av
import pytest

from tests.media.media_testkit import BLUE, GREEN, RED, centre_colour
from tests.server.live_kit import sees

pytestmark = pytest.mark.slow


async def wait_for_job(client: Any, meeting_id: int, deadline: float = 180) -> dict[str, Any]:
    started = time.monotonic()
    while time.monotonic() - started < deadline:
        reply = await client.get(f"/api/meetings/{meeting_id}/recording")
        job = reply.body["job"]
        if job and job["state"] in ("done", "failed"):
            return reply.body
        await asyncio.sleep(0.5)
    raise AssertionError(f"the job did not finish in {deadline} s: {reply.body}")


async def test_a_recorded_meeting_becomes_a_composite_with_chapters(live, org, clients, settings):
    meeting = await live.running()
    chair = meeting.chair
    t = time.monotonic()
    await chair.until(lambda: time.monotonic() - t > 1.5, deadline=3)
    await chair.call("next_agenda_item")
    await chair.call("give_floor", {"hall_id": org.halls["A"]})
    await sees(meeting.halls["B"], "main", GREEN)
    t = time.monotonic()
    await chair.until(lambda: time.monotonic() - t > 2.5, deadline=4)
    await chair.call("give_floor", {"hall_id": org.halls["B"]})
    await sees(meeting.halls["A"], "main", BLUE)
    t = time.monotonic()
    await chair.until(lambda: time.monotonic() - t > 2.5, deadline=4)
    assert (await chair.call("end_meeting", {"meeting_id": meeting.id}))["ok"]

    sec = await clients("sec_p")
    body = await wait_for_job(sec, meeting.id)
    job = body["job"]
    assert job["state"] == "done", job["error"]
    # The chair's console was told as the job went.
    await chair.until(
        lambda: any(n == "processing" and d["state"] == "done" for n, d in chair.events)
    )
    pushed = [d["progress"] for n, d in chair.events if n == "processing"]
    assert pushed == sorted(pushed) and pushed[-1] == 100
    assert {"composite.mp4", "poster.jpg", "chapters.vtt"} <= set(body["files"])
    assert {f"hall-{org.halls[k]}.mp4" for k in "PAB"} <= set(body["files"])

    timeline = (await sec.get(f"/api/meetings/{meeting.id}/timeline")).body
    at = {e["kind"]: e["at"] for e in reversed(timeline)}  # the first of each kind
    t0 = datetime.fromisoformat(at["meeting_started"])
    t1 = datetime.fromisoformat(next(e["at"] for e in timeline if e["kind"] == "meeting_ended"))
    meeting_seconds = (t1 - t0).total_seconds()
    floors = [
        ((datetime.fromisoformat(e["at"]) - t0).total_seconds(), e["hall_id"])
        for e in timeline
        if e["kind"] == "floor"
    ]
    assert [h for _, h in floors] == [org.halls["A"], org.halls["B"]]

    out = settings.recordings_dir / str(meeting.id) / "output"
    composite = out / "composite.mp4"
    with av.open(str(composite)) as container:
        assert abs(container.duration / 1e6 - meeting_seconds) < 0.5
        codecs = {s.type: s.codec_context.name for s in container.streams if s.type != "data"}
        assert codecs == {"video": "h264", "audio": "aac"}
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (1280, 720)
        chapters = container.chapters()
    titles = [c["metadata"].get("title", "") for c in chapters]
    # The agenda item and its first speaker come together: one chapter names both.
    assert titles == [
        "Khai mạc: Hội trường tỉnh P",
        "Mục 1: Báo cáo tình hình · Phát biểu: Điểm cầu Huyện A",
        "Phát biểu: Điểm cầu Huyện B",
    ]
    # It starts at the first of the two (the agenda item; the floor follows as fast as the
    # chair's next call: 0.27 s apart once under the whole suite's load).
    item_at = (datetime.fromisoformat(at["agenda_item"]) - t0).total_seconds()
    speaker_a = chapters[1]
    start_a = float(speaker_a["start"] * speaker_a["time_base"])
    assert abs(start_a - min(item_at, floors[0][0])) < 0.1
    vtt = (out / "chapters.vtt").read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT") and "Phát biểu: Điểm cầu Huyện B" in vtt

    # Frames sampled in each period show the hall that held the floor (the chair before).
    expected = [
        (floors[0][0] / 2, RED),
        ((floors[0][0] + floors[1][0]) / 2, GREEN),
        ((floors[1][0] + meeting_seconds) / 2, BLUE),
    ]
    for moment, colour in expected:
        frame = frame_at(composite, moment)
        assert centre_colour(frame).close_to(colour, tolerance=24), (moment, centre_colour(frame))

    for key, colour in (("P", RED), ("A", GREEN), ("B", BLUE)):
        hall_file = out / f"hall-{org.halls[key]}.mp4"
        with av.open(str(hall_file)) as container:
            assert abs(container.duration / 1e6 - meeting_seconds) < 0.5
        frame = frame_at(hall_file, meeting_seconds / 2)
        assert centre_colour(frame).close_to(colour, tolerance=24)

    with av.open(str(out / "poster.jpg")) as container:
        poster = next(container.decode(video=0))
    assert poster.width == 1280
    assert centre_colour(poster.reformat(format="yuv420p")).close_to(GREEN, tolerance=24)

    # Files download with HTTP Range (players seek, downloads resume).
    part = await sec.get(
        f"/api/meetings/{meeting.id}/recording/files/composite.mp4",
        headers={"Range": "bytes=100-199"},
    )
    assert part.status == 206
    assert part.headers["Content-Range"].startswith("bytes 100-199/")
    assert part.data == composite.read_bytes()[100:200]
    # As RFC 9110 says (server/ranges.py): what cannot be satisfied is 416, a stale If-Range
    # or a range that does not parse gets the whole file.
    url = f"/api/meetings/{meeting.id}/recording/files/composite.mp4"
    assert (await sec.get(url, headers={"Range": "bytes=-0"})).status == 416
    stale = await sec.get(url, headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert stale.status == 200 and stale.data == composite.read_bytes()
    assert (await sec.get(url, headers={"Range": "bytes=0-1,5-9"})).status == 200


def frame_at(path: Path, seconds: float) -> av.VideoFrame:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= seconds:
                return frame.reformat(format="yuv420p")
    raise AssertionError(f"no frame at {seconds} s in {path}")
