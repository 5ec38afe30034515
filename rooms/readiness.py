"""Hall readiness (issue 13): is every invited hall's terminal online, its camera and microphone
working and its link good, before the meeting starts?

Terminals report a self-test (:class:`SelfTest`); the server layer calls :func:`connected`,
:func:`disconnected` and :func:`reported` as their sockets come and go, and the readiness board
(:func:`board`) and the offline alert (:func:`offline_alerts`) read the rows back. One row per
hall (``hall_status``), in the database, so every node sees the same board: a node marks the
halls whose sockets it holds online under its node id, clears its own rows at start-up
(:func:`clear_node`) and the board counts the rows of a node that is no longer alive as
offline. No aiohttp, no socket.io here.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.access import Access
from rooms.errors import Forbidden
from rooms.models import Hall, HallStatus, Meeting, MeetingState, RoleName
from rooms.text import OneLine

ALERT_BEFORE = timedelta(minutes=15)
"""How long before a meeting's start an offline hall raises an alert."""


class DeviceResult(enum.StrEnum):
    """What opening a device gave (the terminal's ``getUserMedia``)."""

    OK = "ok"
    MISSING = "missing"
    """No such device (NotFoundError, OverconstrainedError)."""
    REFUSED = "refused"
    """The browser or the user refused it (NotAllowedError, SecurityError)."""
    BUSY = "busy"
    """Another program holds it (NotReadableError)."""
    FAILED = "failed"
    """Anything else (no secure context, a driver error)."""


class Quality(enum.StrEnum):
    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"


Label = Annotated[str, StringConstraints(max_length=200), OneLine]


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    loss: float = Field(ge=0, le=1, description="Fraction of packets (or probes) lost, 0..1")
    rtt_ms: float = Field(ge=0, le=60_000)


class SelfTest(BaseModel):
    """A terminal's self-test, as its page sends it (``terminal_status``)."""

    model_config = ConfigDict(extra="forbid")

    camera: DeviceResult
    microphone: DeviceResult
    camera_label: Label | None = None
    mic_label: Label | None = None
    mic_level: int | None = Field(default=None, ge=0, le=100)
    version: Annotated[str, StringConstraints(min_length=1, max_length=64), OneLine]
    user_agent: Label | None = None
    link: LinkIn | None = None


def quality(loss: float | None, rtt_ms: float | None) -> Quality | None:
    """One word for a link: good (< 2 % lost, < 150 ms), fair (< 8 %, < 400 ms), else poor."""
    if loss is None or rtt_ms is None:
        return None
    if loss < 0.02 and rtt_ms < 150:
        return Quality.GOOD
    if loss < 0.08 and rtt_ms < 400:
        return Quality.FAIR
    return Quality.POOR


async def _row(session: AsyncSession, hall_id: int) -> HallStatus:
    row = await session.get(HallStatus, hall_id, with_for_update=True)
    if row is None:
        row = HallStatus(hall_id=hall_id, online=False)
        session.add(row)
    return row


async def connected(session: AsyncSession, hall_id: int, node_id: str, at: datetime) -> None:
    """A socket of the hall's terminal connected to ``node_id``."""
    row = await _row(session, hall_id)
    row.online = True
    row.node_id = node_id
    row.last_seen_at = at
    await session.commit()


async def disconnected(session: AsyncSession, hall_id: int, node_id: str, at: datetime) -> None:
    """The hall's last socket on ``node_id`` closed (a socket on another node keeps it online)."""
    row = await _row(session, hall_id)
    if row.node_id in (None, node_id):
        row.online = False
        row.node_id = None
    row.last_seen_at = at
    await session.commit()


async def reported(
    session: AsyncSession, hall_id: int, node_id: str, at: datetime, test: SelfTest
) -> None:
    """The terminal sent its self-test (it is online: the report came over its socket)."""
    row = await _row(session, hall_id)
    row.online = True
    row.node_id = node_id
    row.last_seen_at = at
    row.reported_at = at
    row.camera = test.camera.value
    row.microphone = test.microphone.value
    row.camera_label = test.camera_label
    row.mic_label = test.mic_label
    row.mic_level = test.mic_level
    row.version = test.version
    row.user_agent = test.user_agent
    row.loss = round(test.link.loss, 4) if test.link else None
    row.rtt_ms = round(test.link.rtt_ms, 1) if test.link else None
    await session.commit()


async def clear_node(session: AsyncSession, node_id: str) -> int:
    """At start-up: the halls this node had online (before a crash) are offline now."""
    result = await session.execute(
        sa.update(HallStatus)
        .where(HallStatus.node_id == node_id)
        .values(online=False, node_id=None)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class HallReadiness:
    hall_id: int
    name: str
    chair: bool
    online: bool
    last_seen: datetime | None
    reported_at: datetime | None
    camera: str | None
    microphone: str | None
    camera_label: str | None
    mic_label: str | None
    mic_level: int | None
    version: str | None
    link: dict[str, float] | None
    quality: Quality | None
    ready: bool
    alert: bool
    """Offline within :data:`ALERT_BEFORE` of the start (the secretariat must act)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "hall_id": self.hall_id,
            "name": self.name,
            "chair": self.chair,
            "online": self.online,
            "last_seen": self.last_seen,
            "reported_at": self.reported_at,
            "camera": self.camera,
            "microphone": self.microphone,
            "camera_label": self.camera_label,
            "mic_label": self.mic_label,
            "mic_level": self.mic_level,
            "version": self.version,
            "link": self.link,
            "quality": self.quality.value if self.quality else None,
            "ready": self.ready,
            "alert": self.alert,
        }


def alerting(meeting_start: datetime, state: MeetingState, now: datetime) -> bool:
    """Whether offline halls raise alerts now: from 15 minutes before the start until it starts
    (a meeting the chair started, ended or cancelled raises none)."""
    return state is MeetingState.SCHEDULED and meeting_start - ALERT_BEFORE <= now


def minutes_left(meeting_start: datetime, now: datetime) -> int:
    """Whole minutes until the start, rounded up (0 once it is due)."""
    seconds = (meeting_start - now).total_seconds()
    return max(0, int(-(-seconds // 60)))


def require_board(access: Access, meeting: Meeting) -> None:
    """The board is for a secretariat of the meeting's unit, the meeting's chair, an admin."""
    actor = access.actor
    if actor.is_admin or actor.user_id == meeting.chair_user_id:
        return
    if access.manages_meeting(meeting):
        return
    raise Forbidden(
        "the readiness board is for the meeting's secretariat, its chair or an admin",
        required_role=RoleName.SECRETARIAT.value,
    )


async def board(
    session: AsyncSession, meeting: Meeting, now: datetime, live_nodes: Collection[str]
) -> list[HallReadiness]:
    """Every hall of the meeting (the chair hall first, then by name's order in the meeting),
    as its terminal was last seen. ``live_nodes``: the nodes alive now."""
    halls: Sequence[Hall] = meeting.halls
    ids = [h.id for h in halls]
    rows = {
        r.hall_id: r
        for r in (
            await session.scalars(sa.select(HallStatus).where(HallStatus.hall_id.in_(ids)))
        ).all()
    } if ids else {}  # fmt: skip
    alert_now = alerting(meeting.start_at, meeting.state, now)
    out: list[HallReadiness] = []
    ordered = sorted(halls, key=lambda h: (h.id != meeting.chair_hall_id, ids.index(h.id)))
    for hall in ordered:
        row = rows.get(hall.id)
        online = bool(row and row.online and row.node_id in live_nodes)
        link = (
            {"loss": row.loss, "rtt_ms": row.rtt_ms}
            if row is not None and row.loss is not None and row.rtt_ms is not None
            else None
        )
        camera = row.camera if row else None
        microphone = row.microphone if row else None
        out.append(
            HallReadiness(
                hall_id=hall.id,
                name=hall.name,
                chair=hall.id == meeting.chair_hall_id,
                online=online,
                last_seen=row.last_seen_at if row else None,
                reported_at=row.reported_at if row else None,
                camera=camera,
                microphone=microphone,
                camera_label=row.camera_label if row else None,
                mic_label=row.mic_label if row else None,
                mic_level=row.mic_level if row else None,
                version=row.version if row else None,
                link=link,
                quality=quality(link["loss"], link["rtt_ms"]) if link else None,
                ready=online and camera == DeviceResult.OK and microphone == DeviceResult.OK,
                alert=alert_now and not online,
            )
        )
    return out


async def upcoming(session: AsyncSession, now: datetime) -> Sequence[Meeting]:
    """Scheduled meetings whose alert window is open now (starting within 15 minutes, or due
    and not started yet, up to their end)."""
    return (
        await session.scalars(
            sa.select(Meeting).where(
                Meeting.state == MeetingState.SCHEDULED,
                Meeting.start_at <= now + ALERT_BEFORE,
                Meeting.end_at > now,
            )
        )
    ).all()


def offline_alerts(
    meeting: Meeting, rows: Sequence[HallReadiness], now: datetime
) -> list[dict[str, Any]]:
    """The alerts of one meeting now: one per invited hall whose terminal is offline."""
    if not alerting(meeting.start_at, meeting.state, now):
        return []
    left = minutes_left(meeting.start_at, now)
    return [
        {
            "meeting_id": meeting.id,
            "hall_id": r.hall_id,
            "hall_name": r.name,
            "minutes_left": left,
            "start": meeting.start_at,
        }
        for r in rows
        if not r.online
    ]
