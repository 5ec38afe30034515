"""What a server that died left undone at a meeting's end is done when a server starts: the
minutes' first draft (the package: tests/recordings/test_jobs.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from rooms.models import Meeting, MeetingState, TimelineEvent, TimelineKind
from server.app import create_app, runner_options
from server.db import Database
from server.security import LoginThrottle, Passwords
from server.settings import Settings
from tests.conftest import FAST_HASHER, Clock, Org, meeting_body

pytestmark = pytest.mark.db


async def test_a_meeting_that_ended_without_its_minutes_draft_gets_it_at_the_next_start(
    server: TestServer, db: Database, clients: Any, org: Org, settings: Settings, clock: Clock,
    throttle: LoginThrottle,
) -> None:  # fmt: skip
    sec = await clients("sec_p")
    created = await sec.post("/api/meetings", meeting_body(org, title="Giao ban quý IV"))
    assert created.status == 201, created.text
    meeting_id = created.body["id"]
    # The meeting ran and ended; the server died before the draft (its end is in the database,
    # the minutes are not).
    async with db.session() as session:
        meeting = await session.get(Meeting, meeting_id)
        assert meeting is not None
        started = meeting.start_at
        meeting.state, meeting.started_at = MeetingState.ENDED, started
        meeting.ended_at = started + timedelta(minutes=40)
        session.add_all([
            TimelineEvent(meeting_id=meeting_id, at=started, kind=TimelineKind.MEETING_STARTED,
                          hall_id=org.halls["P"], actor="user:chair_p"),
            TimelineEvent(meeting_id=meeting_id, at=started + timedelta(minutes=1),
                          kind=TimelineKind.JOIN, hall_id=org.halls["A"], actor="terminal:A"),
            TimelineEvent(meeting_id=meeting_id, at=meeting.ended_at,
                          kind=TimelineKind.MEETING_ENDED, hall_id=org.halls["P"],
                          actor="user:chair_p"),
        ])  # fmt: skip
        await session.commit()
    assert (await sec.get(f"/api/meetings/{meeting_id}/minutes")).body == []

    app = create_app(settings, passwords=Passwords(FAST_HASHER), clock=clock, throttle=throttle)
    restarted = TestServer(app)
    await restarted.start_server(**runner_options())
    await restarted.close()

    drafts = (await sec.get(f"/api/meetings/{meeting_id}/minutes")).body
    assert [(d["version"], d["state"]) for d in drafts] == [(1, "draft")]
    content = drafts[0]["content"]
    assert content["subject"] == "Giao ban quý IV"
    assert "Điểm cầu Huyện A" in {a["hall"] for a in content["attendance"]}
    assert content["recording_links"][0].endswith(f"/archive?meeting={meeting_id}")
