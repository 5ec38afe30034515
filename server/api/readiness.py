"""The readiness board of a meeting (issue 13): every invited hall's terminal before it starts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from rooms.readiness import ALERT_BEFORE, alerting, minutes_left, require_board
from server.api.routing import Auth, Call, Endpoint
from server.api.schemas import Local


class LinkOut(BaseModel):
    loss: float = Field(description="Fraction of packets (or probes) lost, 0..1")
    rtt_ms: float


class HallReadinessOut(BaseModel):
    hall_id: int
    name: str
    chair: bool = Field(description="The chair hall")
    online: bool = Field(description="A socket of the hall's terminal is connected, on any node")
    last_seen: Local | None = Field(description="Last connect, disconnect or self-test")
    reported_at: Local | None = Field(description="When the terminal last sent its self-test")
    camera: Literal["ok", "missing", "refused", "busy", "failed"] | None
    microphone: Literal["ok", "missing", "refused", "busy", "failed"] | None
    camera_label: str | None
    mic_label: str | None
    mic_level: int | None
    version: str | None = Field(description="The terminal page's version")
    link: LinkOut | None
    quality: Literal["good", "fair", "poor"] | None
    ready: bool = Field(description="Online, camera and microphone ok")
    alert: bool = Field(description="Offline less than 15 minutes before the start")


class ReadinessOut(BaseModel):
    meeting_id: int
    title: str
    state: str
    start: Local
    now: Local
    server_version: str
    alerting: bool = Field(description="The 15 minutes before the start: offline halls alert")
    minutes_left: int
    alert_minutes: int
    halls: list[HallReadinessOut]


async def meeting_readiness(call: Call) -> ReadinessOut:
    access = await call.access()
    scheduler = call.services.scheduler
    meeting = await scheduler.get(call.session, access, call.path_id("meeting_id"))
    require_board(access, meeting)
    readiness = call.services.readiness
    assert readiness is not None
    rows = await readiness.board(call.session, meeting)
    now = scheduler.clock()
    return ReadinessOut(
        meeting_id=meeting.id,
        title=meeting.title,
        state=meeting.state.value,
        start=meeting.start_at,
        now=now,
        server_version=call.services.version,
        alerting=alerting(meeting.start_at, meeting.state, now),
        minutes_left=minutes_left(meeting.start_at, now),
        alert_minutes=int(ALERT_BEFORE.total_seconds() // 60),
        halls=[HallReadinessOut.model_validate(r.as_dict()) for r in rows],
    )


ENDPOINTS = (
    Endpoint("GET", "/api/meetings/{meeting_id}/readiness", meeting_readiness,
             "Every invited hall's terminal: online, self-test, link, ready (secretariat, chair, "
             "admin)", auth=Auth.USER, response=ReadinessOut, tag="meetings"),
)  # fmt: skip
