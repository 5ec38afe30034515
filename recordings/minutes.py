"""The minutes ("biên bản") of a meeting: drafted from the timeline when it ends, edited by the
secretariat, approved (frozen) by the chair; a correction is a new version naming the one it
replaces."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from recordings.models import MinutesState, MinutesVersion
from rooms.errors import Invalid
from rooms.localtime import to_local
from rooms.models import Meeting, TimelineEvent, TimelineKind, Unit, User
from rooms.text import CRLF, MultiLine, OneLine
from rooms.timeline import attendance, events_of

log = logging.getLogger("giaoban.minutes")

Line = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), OneLine]
Text = Annotated[str, CRLF, StringConstraints(max_length=20_000), MultiLine]


class SectionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: Text | None = None
    conclusions: Text | None = None


class MinutesPatch(BaseModel):
    """What the secretariat edits in a draft; only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    number: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=40), OneLine] | None
    ) = None
    secretary: Line | None = None
    chair: Line | None = None
    location: Text | None = None
    general_conclusions: Text | None = None
    sections: Annotated[list[SectionPatch], Field(max_length=100)] | None = Field(
        default=None, description="One entry per agenda section, in order"
    )
    recipients: Annotated[list[Line], Field(max_length=50)] | None = None


def _local(value: datetime | None) -> str | None:
    return to_local(value).isoformat() if value is not None else None


def speaker_turns(
    events: Sequence[TimelineEvent], names: dict[int, str], end: datetime
) -> list[dict[str, Any]]:
    """Per agenda section (from ``agenda_item`` events): who held the floor, for how long."""
    sections: list[dict[str, Any]] = []
    floor: tuple[int, datetime] | None = None
    current: dict[str, Any] | None = None

    def close_turn(at: datetime) -> None:
        nonlocal floor
        if floor is None:
            return
        hall_id, since = floor
        target = current if current is not None else opening()
        turns: dict[int, float] = target["_turns"]
        turns[hall_id] = turns.get(hall_id, 0.0) + (at - since).total_seconds()
        floor = None

    def opening() -> dict[str, Any]:
        nonlocal current
        current = {"index": -1, "_turns": {}}
        sections.append(current)
        return current

    for e in events:
        if e.kind is TimelineKind.AGENDA_ITEM:
            held = floor
            close_turn(e.at)
            current = {"index": int(e.data.get("index", 0)), "_turns": {}}
            sections.append(current)
            if held is not None:
                floor = (held[0], e.at)
        elif e.kind is TimelineKind.FLOOR:
            close_turn(e.at)
            if e.hall_id is not None:
                floor = (e.hall_id, e.at)
        elif e.kind is TimelineKind.MEETING_ENDED:
            close_turn(e.at)
    close_turn(end)
    for section in sections:
        turns = section.pop("_turns")
        section["turns"] = [
            {"hall": names.get(h, f"#{h}"), "hall_id": h, "minutes": round(s / 60, 1)}
            for h, s in turns.items()
            if s > 0
        ]
    return sections


def presentations(
    events: Sequence[TimelineEvent], names: dict[int, str], end: datetime
) -> list[dict[str, Any]]:
    """Who presented content (a shared screen), from which hall, from when to when: from each
    ``content_started`` to its ``content_stopped`` (the meeting's end when content was still on,
    the next start when a stop is missing)."""
    shown: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None

    def close(at: datetime) -> None:
        nonlocal current
        if current is not None:
            current["ended"] = _local(at)
            shown.append(current)
            current = None

    for e in events:
        if e.kind is TimelineKind.CONTENT_STARTED:
            close(e.at)
            hall = names.get(e.hall_id, f"#{e.hall_id}") if e.hall_id is not None else ""
            current = {
                "presenter": str(e.data.get("presenter", "")).strip() or hall,
                "hall": hall,
                "hall_id": e.hall_id,
                "started": _local(e.at),
            }
        elif e.kind in (TimelineKind.CONTENT_STOPPED, TimelineKind.MEETING_ENDED):
            close(e.at)
    close(end)
    return shown


async def draft(session: AsyncSession, meeting: Meeting, links: list[str]) -> dict[str, Any]:
    """The content of a first draft: everything the timeline and the schedule already know."""
    unit = await session.get(Unit, meeting.unit_id)
    assert unit is not None
    events = list(await events_of(session, meeting.id))
    names = {h.id: h.name for h in meeting.halls}
    end = meeting.ended_at or meeting.end_at
    start = meeting.started_at or meeting.start_at
    rows = attendance(events, names, end)
    connected = [r for r in rows if r.joins]
    by_index = {s["index"]: s for s in speaker_turns(events, names, end)}
    sections = []

    def section(title: str, presenter: str, index: int) -> dict[str, Any]:
        turns = by_index.get(index, {"turns": []})["turns"]
        return {"title": title, "presenter": presenter, "turns": turns, "content": "",
                "conclusions": ""}  # fmt: skip

    if -1 in by_index and by_index[-1]["turns"]:
        sections.append(section("Khai mạc", meeting.chair_user.full_name, -1))
    for i, item in enumerate(meeting.agenda):
        sections.append(section(item.title, item.presenter, i))
    secretary = ""
    if meeting.created_by_id is not None:
        creator = await session.get(User, meeting.created_by_id)
        secretary = creator.full_name if creator else ""
    others = [names[r.hall_id] for r in connected if r.hall_id != meeting.chair_hall_id]
    return {
        "governing_body": unit.authority or f"UBND {unit.name}".upper(),
        "issuing_body": unit.office or "VĂN PHÒNG",
        "number": "",
        "place": unit.place or unit.name,
        "date": to_local(start).date().isoformat(),
        "subject": meeting.title,
        "started": _local(start),
        "ended": _local(end),
        "location": f"Điểm cầu chính: {meeting.chair_hall.name}"
        + (f"; các điểm cầu: {', '.join(others)}" if others else ""),
        "attendance": [
            {
                "hall_id": r.hall_id,
                "hall": names[r.hall_id],
                "joined": _local(r.first_join),
                "left": _local(r.last_leave),
                "connected_minutes": round(r.connected_seconds / 60, 1),
                "present": r.present,
                "delegates": r.delegates,
            }
            for r in rows
        ],
        "chair": meeting.chair_user.full_name,
        "secretary": secretary,
        "sections": sections,
        "general_conclusions": "",
        "presentations": presentations(events, names, end),
        "recording_links": links,
        "recipients": ["Như thành phần tham dự;", "Lưu: VT, Hồ sơ."],
    }


def apply_patch(content: dict[str, Any], patch: MinutesPatch) -> dict[str, Any]:
    """The content with the patch's fields applied (a new dict; the old one is not changed)."""
    updated = dict(content)
    for name in ("number", "secretary", "chair", "location", "general_conclusions"):
        value = getattr(patch, name)
        if value is not None:
            updated[name] = value
    if patch.recipients is not None:
        recipients = [r for r in patch.recipients if r]
        if not recipients or not recipients[-1].startswith("Lưu"):
            recipients.append("Lưu: VT, Hồ sơ.")
        updated["recipients"] = recipients
    if patch.sections is not None:
        sections = [dict(s) for s in content.get("sections", [])]
        if len(patch.sections) > len(sections):
            raise Invalid(f"the minutes have {len(sections)} sections", field="sections")
        for section, change in zip(sections, patch.sections, strict=False):
            if change.content is not None:
                section["content"] = change.content
            if change.conclusions is not None:
                section["conclusions"] = change.conclusions
        updated["sections"] = sections
    return updated


async def versions_of(session: AsyncSession, meeting_id: int) -> list[MinutesVersion]:
    return list(
        await session.scalars(
            sa.select(MinutesVersion)
            .where(MinutesVersion.meeting_id == meeting_id)
            .order_by(MinutesVersion.version)
        )
    )


async def ensure_draft(session: AsyncSession, meeting: Meeting, links: list[str]) -> MinutesVersion:
    """The meeting's first draft, made when it ends (once)."""
    existing = await versions_of(session, meeting.id)
    if existing:
        return existing[0]
    row = MinutesVersion(
        meeting_id=meeting.id, version=1, state=MinutesState.DRAFT,
        content=await draft(session, meeting, links),
    )  # fmt: skip
    session.add(row)
    await session.commit()
    log.info("meeting %s: minutes drafted", meeting.id)
    return row
