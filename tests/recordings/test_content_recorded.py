"""A presentation in a live meeting, from the Room to the archive's inputs: real aiortc peers,
a person's laptop presenting for a hall, the recorder told by the Room; after the meeting the
composite shows the content while it was presented and the draft minutes list the presenter."""

from __future__ import annotations

import time
from datetime import datetime

import av
import pytest

from recordings.compose import CONTENT_HEIGHT, CONTENT_WIDTH, CONTENT_Y
from tests.media.media_testkit import Yuv
from tests.recordings.content_kit import pixel
from tests.recordings.minutes_kit import pdf_text
from tests.recordings.test_processing import wait_for_job
from tests.server.live_kit import sees
from tests.server.test_content import TERMINAL, YELLOW, presenter

pytestmark = pytest.mark.slow

CONTENT_CENTRE = (CONTENT_WIDTH // 2, CONTENT_Y + CONTENT_HEIGHT // 2)


def near(colour: Yuv, other: Yuv) -> bool:
    return colour.close_to(other, tolerance=24)


async def test_a_presentation_is_recorded_composed_and_minuted(live, org, clients, settings):
    meeting = await live.running()
    chair, b = meeting.chair, meeting.halls["B"]
    b.slot_roles = TERMINAL
    await b.negotiate()
    laptop = await presenter(live, meeting.id, "sec_a", YELLOW, for_hall=org.halls["A"])
    t = time.monotonic()
    await chair.until(lambda: time.monotonic() - t > 1.5, deadline=3)
    assert (await laptop.call("request_content"))["ok"]
    await chair.until(lambda: bool(chair.state["content_requests"]))
    given = await chair.call("give_content", {"participant_id": laptop.joined["participant_id"]})
    assert given["ok"], given
    await sees(b, "screen", YELLOW)
    t = time.monotonic()
    await chair.until(lambda: time.monotonic() - t > 3.0, deadline=5)
    assert (await chair.call("take_content"))["ok"]
    await b.until(lambda: b.state is not None and b.state["content"] is None)
    t = time.monotonic()
    await chair.until(lambda: time.monotonic() - t > 2.0, deadline=4)
    assert (await chair.call("end_meeting", {"meeting_id": meeting.id}))["ok"]

    sec = await clients("sec_p")
    body = await wait_for_job(sec, meeting.id)
    assert body["job"]["state"] == "done", body["job"]["error"]
    content_segments = [s for s in body["segments"] if s["track"] == "content"]
    assert content_segments and {s["hall_id"] for s in content_segments} == {org.halls["A"]}
    assert {s["state"] for s in content_segments} == {"complete"}

    timeline = (await sec.get(f"/api/meetings/{meeting.id}/timeline")).body
    t0 = datetime.fromisoformat(next(e["at"] for e in timeline if e["kind"] == "meeting_started"))

    def at(kind: str) -> float:
        moment = next(e["at"] for e in timeline if e["kind"] == kind)
        return (datetime.fromisoformat(moment) - t0).total_seconds()

    started, stopped = at("content_started"), at("content_stopped")
    assert stopped - started > 2.5

    composite = settings.recordings_dir / str(meeting.id) / "output" / "composite.mp4"
    with av.open(str(composite)) as container:
        titles = [c["metadata"].get("title", "") for c in container.chapters()]
        inside = outside = 0
        for frame in container.decode(video=0):
            if frame.time is None:
                continue
            centre = pixel(frame.reformat(format="yuv420p"), *CONTENT_CENTRE)
            # The content from its first keyframe (asked for when it started) to its stop.
            if started + 1.0 <= frame.time <= stopped - 0.2:
                inside += 1
                assert near(centre, YELLOW), (frame.time, centre)
            elif frame.time < started - 0.1 or frame.time > stopped + 0.1:
                outside += 1
                assert not near(centre, YELLOW), (frame.time, centre)
    assert inside > 25 and outside > 50, (inside, outside)
    assert "Trình bày: Người dùng sec_a" in titles, titles

    # The draft minutes list the presenter, and the PDF says so.
    (draft,) = (await sec.get(f"/api/meetings/{meeting.id}/minutes")).body
    (shown,) = draft["content"]["presentations"]
    assert (shown["presenter"], shown["hall"]) == ("Người dùng sec_a", "Điểm cầu Huyện A")
    assert shown["started"].endswith("+07:00")
    pdf = await sec.get(draft["pdf_url"])
    assert pdf.status == 200
    text = pdf_text(pdf.data)
    assert "Trình bày nội dung:" in text
    assert "Người dùng sec_a (Điểm cầu Huyện A):" in text
