"""Minutes: read, edit a draft, approve (the chair), correct; PDF and DOCX."""

from __future__ import annotations

import asyncio
import hashlib
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from recordings.archiving import minutes_dir
from recordings.files import PRIVATE_FILE, private_dir
from recordings.minutes import MinutesPatch, apply_patch, versions_of
from recordings.minutes_content import (
    AgendaSection,
    AttendanceLine,
    MinutesDocument,
    Presentation,
    SpeakerTurn,
    content_of,
)
from recordings.minutes_docx import render_docx
from recordings.minutes_pdf import render_pdf
from recordings.models import MinutesState, MinutesVersion
from recordings.signing import sign_pdf
from rooms.errors import NotFound, StateError
from rooms.models import Meeting, RoleName
from server.api.routing import Auth, Call, Endpoint
from server.api.schemas import Local
from server.ranges import RangedFile


class MinutesOut(BaseModel):
    version: int
    state: MinutesState
    replaces_version: int | None
    created_by: str
    created_at: Local
    updated_at: Local
    approved_by: str
    approved_at: Local | None
    pdf_sha256: str
    content: dict[str, Any]
    pdf_url: str
    docx_url: str


def minutes_out(meeting_id: int, row: MinutesVersion, rows: list[MinutesVersion]) -> MinutesOut:
    replaced = next((r.version for r in rows if r.id == row.replaces_id), None)
    base = f"/api/meetings/{meeting_id}/minutes/{row.version}"
    return MinutesOut(
        version=row.version, state=row.state, replaces_version=replaced,
        created_by=row.created_by, created_at=row.created_at, updated_at=row.updated_at,
        approved_by=row.approved_by, approved_at=row.approved_at, pdf_sha256=row.pdf_sha256,
        content=row.content, pdf_url=f"{base}/minutes.pdf", docx_url=f"{base}/minutes.docx",
    )  # fmt: skip


async def _meeting(call: Call) -> Meeting:
    return await call.services.scheduler.get(
        call.session, await call.access(), call.path_id("meeting_id")
    )


async def _version(call: Call, meeting: Meeting) -> tuple[MinutesVersion, list[MinutesVersion]]:
    rows = await versions_of(call.session, meeting.id)
    number = call.path_id("version")
    row = next((r for r in rows if r.version == number), None)
    if row is None:
        raise NotFound(f"no version {number} of the minutes of meeting {meeting.id}")
    return row, rows


def to_document(content: dict[str, Any], version: int, replaces: int | None) -> MinutesDocument:
    """The stored content as a :class:`recordings.minutes_content.MinutesDocument`."""

    def moment(value: str | None) -> datetime:
        return datetime.fromisoformat(value) if value else datetime.now().astimezone()

    def hhmm(value: str | None) -> str:
        return datetime.fromisoformat(value).strftime("%H:%M") if value else ""

    return MinutesDocument(
        governing_body=content.get("governing_body", ""),
        issuing_body=content.get("issuing_body", ""),
        number=content.get("number", ""),
        place=content.get("place", ""),
        date=datetime.fromisoformat(content["date"]).date(),
        subject=content.get("subject", ""),
        started=moment(content.get("started")),
        ended=moment(content.get("ended")),
        location=content.get("location", ""),
        attendance=tuple(
            AttendanceLine(
                hall=a["hall"],
                joined=hhmm(a.get("joined")),
                left=hhmm(a.get("left")),
                delegates=a.get("delegates"),
                present=a.get("present"),
            )
            for a in content.get("attendance", [])
        ),
        chair=content.get("chair", ""),
        secretary=content.get("secretary", ""),
        sections=tuple(
            AgendaSection(
                title=s.get("title", ""),
                presenter=s.get("presenter", ""),
                turns=tuple(
                    SpeakerTurn(hall=t["hall"], minutes=float(t["minutes"]))
                    for t in s.get("turns", [])
                ),
                content=s.get("content", ""),
                conclusions=s.get("conclusions", ""),
            )
            for s in content.get("sections", [])
        ),
        general_conclusions=content.get("general_conclusions", ""),
        recording_links=tuple(content.get("recording_links", [])),
        recipients=tuple(content.get("recipients", [])),
        presentations=tuple(
            Presentation(
                presenter=p.get("presenter", ""),
                hall=p.get("hall", ""),
                started=moment(p.get("started")),
                ended=moment(p.get("ended")),
            )
            for p in content.get("presentations", [])
        ),
        version=version,
        replaces_version=replaces,
    )


async def list_minutes(call: Call) -> list[MinutesOut]:
    meeting = await _meeting(call)
    rows = await versions_of(call.session, meeting.id)
    return [minutes_out(meeting.id, r, rows) for r in rows]


async def edit_minutes(call: Call) -> MinutesOut:
    meeting = await _meeting(call)
    access = await call.access()
    access.require(RoleName.SECRETARIAT, meeting.unit_id, "Editing the minutes")
    row, rows = await _version(call, meeting)
    if row.state is not MinutesState.DRAFT:
        raise StateError("an approved version is frozen; make a correction instead")
    patch: MinutesPatch = call.body
    row.content = apply_patch(row.content, patch)
    await call.session.commit()
    return minutes_out(meeting.id, row, rows)


async def approve_minutes(call: Call) -> MinutesOut:
    """The chair approves: the PDF is rendered, signed, frozen, and archived when ready."""
    meeting = await _meeting(call)
    access = await call.access()
    access.require_chair(meeting, "Approving the minutes")
    row, rows = await _version(call, meeting)
    if row.state is not MinutesState.DRAFT:
        raise StateError("this version is approved already")
    replaced = next((r.version for r in rows if r.id == row.replaces_id), None)
    content = content_of(to_document(row.content, row.version, replaced))
    identity = call.services.archive.identity
    directory = minutes_dir(call.services.recording, meeting.id)

    def render() -> str:
        pdf = render_pdf(content)
        signed = sign_pdf(
            pdf, identity.cert, identity.key, reason="Phê duyệt biên bản",
            location=row.content.get("place", ""), signer_name=meeting.chair_user.full_name,
        )  # fmt: skip
        private_dir(directory)
        _write(directory / f"v{row.version}.pdf", signed)
        _write(directory / f"v{row.version}.docx", render_docx(content))
        return hashlib.sha256(signed).hexdigest()

    row.pdf_sha256 = await asyncio.to_thread(render)
    row.state = MinutesState.APPROVED
    row.approved_by = access.actor.name
    row.approved_at = call.services.scheduler.clock()
    await call.session.commit()
    await call.services.archive.package_if_ready(meeting.id)
    return minutes_out(meeting.id, row, rows)


async def correct_minutes(call: Call) -> MinutesOut:
    """A correction of an approved version: a new draft that names the one it replaces."""
    meeting = await _meeting(call)
    access = await call.access()
    access.require(RoleName.SECRETARIAT, meeting.unit_id, "Correcting the minutes")
    row, rows = await _version(call, meeting)
    if row.state is not MinutesState.APPROVED:
        raise StateError("only an approved version is corrected; edit the draft instead")
    if rows[-1].id != row.id:
        raise StateError(f"version {rows[-1].version} is the latest; correct that one")
    new = MinutesVersion(
        meeting_id=meeting.id, version=row.version + 1, state=MinutesState.DRAFT,
        content=dict(row.content), replaces_id=row.id, created_by=access.actor.label,
    )  # fmt: skip
    call.session.add(new)
    await call.session.commit()
    return minutes_out(meeting.id, new, [*rows, new])


async def minutes_file(call: Call) -> web.StreamResponse:
    """The approved, signed PDF (or its DOCX); a draft is rendered as an unsigned preview."""
    meeting = await _meeting(call)
    row, rows = await _version(call, meeting)
    kind = call.request.match_info["name"]
    if kind not in ("minutes.pdf", "minutes.docx"):
        raise NotFound("ask for minutes.pdf or minutes.docx")
    suffix = kind.rsplit(".", 1)[1]
    media_type = {
        "pdf": "application/pdf",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }[suffix]
    filename = f"bien-ban-{meeting.id}-v{row.version}.{suffix}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if row.state is MinutesState.APPROVED:
        path = minutes_dir(call.services.recording, meeting.id) / f"v{row.version}.{suffix}"
        return RangedFile(path, headers={**headers, "Content-Type": media_type})
    replaced = next((r.version for r in rows if r.id == row.replaces_id), None)
    content = content_of(to_document(row.content, row.version, replaced))
    render = render_pdf if suffix == "pdf" else render_docx
    body = await asyncio.to_thread(render, content)
    return web.Response(body=body, content_type=media_type, headers=headers)


def _write(path: Path, data: bytes) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), PRIVATE_FILE)
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    temporary.replace(path)


ENDPOINTS = (
    Endpoint("GET", "/api/meetings/{meeting_id}/minutes", list_minutes,
             "Every version of the meeting's minutes", auth=Auth.USER,
             response=list[MinutesOut], tag="minutes"),
    Endpoint("PATCH", "/api/meetings/{meeting_id}/minutes/{version}", edit_minutes,
             "Edit a draft (the secretariat)", auth=Auth.USER, body=MinutesPatch,
             response=MinutesOut, tag="minutes"),
    Endpoint("POST", "/api/meetings/{meeting_id}/minutes/{version}/approve", approve_minutes,
             "Approve a draft (the chair): signed PDF, frozen, archived", auth=Auth.USER,
             response=MinutesOut, tag="minutes"),
    Endpoint("POST", "/api/meetings/{meeting_id}/minutes/{version}/correct", correct_minutes,
             "Start a correction of an approved version (a new draft)", auth=Auth.USER,
             response=MinutesOut, status=201, tag="minutes"),
    Endpoint("GET", "/api/meetings/{meeting_id}/minutes/{version}/{name}", minutes_file,
             "The minutes as minutes.pdf (signed once approved) or minutes.docx",
             auth=Auth.USER, media_type="application/pdf", tag="minutes"),
)  # fmt: skip
