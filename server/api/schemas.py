"""What the API answers: response shapes (times in Asia/Ho_Chi_Minh, with their offset)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from rooms.localtime import to_local
from rooms.models import (
    AgendaItem,
    Hall,
    Meeting,
    MeetingState,
    RoleName,
    Series,
    SeriesState,
    Terminal,
    Unit,
    UnitLevel,
    User,
)

Local = Annotated[datetime, PlainSerializer(lambda v: to_local(v).isoformat(), return_type=str)]


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class UnitOut(Out):
    id: int
    code: str
    name: str
    level: UnitLevel
    parent_id: int | None

    @classmethod
    def of(cls, unit: Unit) -> UnitOut:
        return cls.model_validate(unit)


class HallRef(Out):
    id: int
    name: str
    unit_id: int


class HallOut(HallRef):
    address: str
    active: bool

    @classmethod
    def of(cls, hall: Hall) -> HallOut:
        return cls.model_validate(hall)


class UserRef(Out):
    id: int
    full_name: str


class GrantOut(Out):
    role: RoleName
    unit_id: int | None


class UserOut(UserRef):
    username: str
    active: bool
    roles: list[GrantOut]

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls.model_validate(user)


class TerminalOut(Out):
    id: int
    hall_id: int
    label: str
    state: Literal["active", "revoked"]
    created_at: Local
    rotated_at: Local | None
    revoked_at: Local | None
    last_seen_at: Local | None

    @classmethod
    def of(cls, t: Terminal) -> TerminalOut:
        return cls(
            id=t.id,
            hall_id=t.hall_id,
            label=t.label,
            state="revoked" if t.revoked_at else "active",
            created_at=t.created_at,
            rotated_at=t.rotated_at,
            revoked_at=t.revoked_at,
            last_seen_at=t.last_seen_at,
        )


class TerminalPaired(BaseModel):
    """Shown once: the token is not kept by the server, only its hash."""

    terminal: TerminalOut
    token: str
    pairing_url: str = Field(description="Open once on the terminal; the token is in the fragment")


class AgendaItemOut(Out):
    id: int = Field(description="Documents attach to an item by it (a changed agenda has new ids)")
    position: int
    title: str
    presenter: str
    planned_minutes: int

    @classmethod
    def of(cls, item: AgendaItem) -> AgendaItemOut:
        return cls.model_validate(item)


class MeetingOut(BaseModel):
    id: int
    title: str
    description: str
    state: MeetingState
    start: Local
    end: Local
    unit: UnitOut
    chair_hall: HallRef
    chair_user: UserRef
    halls: list[HallRef] = Field(description="Every hall taking part, the chair hall included")
    agenda: list[AgendaItemOut]
    auto_record: bool
    series_id: int | None
    occurrence_start: Local | None = Field(description="For an occurrence: the start its rule gave")
    is_exception: bool
    cancel_reason: str
    sequence: int
    started_at: Local | None
    ended_at: Local | None
    created_at: Local
    updated_at: Local
    ics_url: str

    @classmethod
    def of(cls, m: Meeting) -> MeetingOut:
        return cls(
            id=m.id,
            title=m.title,
            description=m.description,
            state=m.state,
            start=m.start_at,
            end=m.end_at,
            unit=UnitOut.of(m.unit),
            chair_hall=HallRef.model_validate(m.chair_hall),
            chair_user=UserRef.model_validate(m.chair_user),
            halls=[HallRef.model_validate(h) for h in m.halls],
            agenda=[AgendaItemOut.of(a) for a in m.agenda],
            auto_record=m.auto_record,
            series_id=m.series_id,
            occurrence_start=m.occurrence_key,
            is_exception=m.is_exception,
            cancel_reason=m.cancel_reason,
            sequence=m.sequence,
            started_at=m.started_at,
            ended_at=m.ended_at,
            created_at=m.created_at,
            updated_at=m.updated_at,
            ics_url=f"/api/meetings/{m.id}/calendar.ics",
        )


class OccurrenceOut(BaseModel):
    meeting_id: int
    start: Local
    end: Local
    state: MeetingState
    is_exception: bool

    @classmethod
    def of(cls, m: Meeting) -> OccurrenceOut:
        return cls(
            meeting_id=m.id,
            start=m.start_at,
            end=m.end_at,
            state=m.state,
            is_exception=m.is_exception,
        )


class SeriesOut(BaseModel):
    id: int
    title: str
    description: str
    state: SeriesState
    rrule: str
    first_start: Local
    duration_minutes: int
    until: Local = Field(
        description="No occurrence starts after this (the rule's end or the horizon)"
    )
    unit_id: int
    chair_hall_id: int
    chair_user_id: int
    hall_ids: list[int]
    agenda: list[dict[str, object]]
    auto_record: bool
    occurrences: list[OccurrenceOut]

    @classmethod
    def of(cls, s: Series, occurrences: list[Meeting]) -> SeriesOut:
        return cls(
            id=s.id,
            title=s.title,
            description=s.description,
            state=s.state,
            rrule=s.rrule,
            first_start=s.first_start_at,
            duration_minutes=s.duration_minutes,
            until=s.until_at,
            unit_id=s.unit_id,
            chair_hall_id=s.chair_hall_id,
            chair_user_id=s.chair_user_id,
            hall_ids=[h.id for h in s.halls],
            agenda=list(s.agenda),
            auto_record=s.auto_record,
            occurrences=[OccurrenceOut.of(m) for m in occurrences],
        )


class WhoAmI(BaseModel):
    kind: Literal["user", "terminal"]
    name: str
    user: UserOut | None = None
    terminal_id: int | None = None
    hall: HallOut | None = None


class TerminalHome(BaseModel):
    """What a terminal needs to wait for its next meeting."""

    terminal_id: int
    hall: HallOut
    now: Local
    meetings: list[MeetingOut] = Field(description="Live and upcoming meetings of the hall")
    assets: str = Field(
        description="The pages' fingerprint: when it changes (an upgrade), the kiosk reloads"
    )


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    database: Literal["ok", "unreachable"]
    time: Local
    meetings_live: int = Field(description="Meetings under way on this node")
    participants: int = Field(description="Halls and people connected to them on this node")
    event_loop_lag_ms: float = Field(
        description="How late the event loop ran its timers (p95 over the last 10 s); media "
        "is forwarded on it, so a lag of 100 ms or more means this node carries too much"
    )
    event_loop_cpu_percent: float = Field(
        description="The share of one core the event loop's thread used over the last 10 s; "
        "past about 85 % a node forwarding media is close to its limit"
    )
    event_loop: Literal["asyncio", "uvloop"] = Field(
        description="The event loop this node runs on (GIAOBAN_EVENT_LOOP)"
    )
    media_workers: list[MediaWorkerOut] = Field(
        default_factory=list,
        description="The media worker processes (GIAOBAN_MEDIA_WORKERS); empty: media in the "
        "server's own process. A worker that dies is replaced",
    )


class MediaWorkerOut(BaseModel):
    name: str = Field(
        description="The worker's name on this node (w1, w2, …), or a media node's unit code"
    )
    alive: bool
    peers: int = Field(description="Connections it carries")
    node: bool = Field(False, description="A media node on another machine (a district's)")


class FeedOut(BaseModel):
    url: str = Field(description="Subscribe to this in a calendar client (it holds a secret key)")
    rotated_at: Local | None = Field(
        default=None, description="When an admin last gave the feed a new key (null: never)"
    )


class TimelineEventOut(BaseModel):
    at: Local
    kind: str
    hall_id: int | None
    actor: str
    data: dict[str, object]


class RollCallAnswerOut(BaseModel):
    at: Local
    present: bool | None
    delegates: int | None


class AttendanceOut(BaseModel):
    hall_id: int
    hall_name: str
    status: Literal["attended", "absent"]
    first_join: Local | None
    last_leave: Local | None
    connected_seconds: float
    joins: int
    drops: int
    present: bool | None = Field(description="The last roll-call answer (null: none)")
    delegates: int | None
    roll_call_answers: list[RollCallAnswerOut]
