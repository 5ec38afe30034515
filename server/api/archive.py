"""The archive for archivists and admins: search, a meeting's page, downloads, integrity,
retention and disposal; every view and download is written to the audit log."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from aiohttp import hdrs, web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from recordings import archive
from recordings.archiving import match_all, search_terms
from recordings.models import (
    ArchivePackage,
    AuditEntry,
    MinutesState,
    MinutesVersion,
    PackageState,
    ProcessingJob,
    Tombstone,
)
from recordings.signing import validate_pdf
from rooms.access import Access
from rooms.errors import DomainError, Forbidden, NotFound
from rooms.localtime import to_local
from rooms.models import Hall, Meeting, RoleName, TimelineKind, User
from rooms.schemas import Id, LocalDateTime
from rooms.text import OneLine
from rooms.timeline import attendance, events_of
from server.api.routing import DOMAIN_STATUS, Auth, Call, Endpoint
from server.api.schemas import Local
from server.ranges import RangedFile

Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=1000), OneLine
]
Words = Annotated[str, StringConstraints(max_length=200), OneLine]


def require_archive(access: Access) -> None:
    """Only archivists and admins reach the archive (terminals never do)."""
    actor = access.actor
    if not actor.is_admin and not any(g.role is RoleName.ARCHIVIST for g in actor.grants):
        raise Forbidden("the archive is for archivists and admins", required_role="archivist")


def archive_units(access: Access) -> set[int] | None:
    """The units whose meetings the actor reads in the archive: those under its archivist
    roles (None: every unit, for admins and archivists of the whole tree)."""
    if access.actor.is_admin:
        return None
    units: set[int] = set()
    for grant in access.actor.grants:
        if grant.role is RoleName.ARCHIVIST:
            if grant.unit_id is None:
                return None
            units |= access.tree.subtree(grant.unit_id)
    return None if units >= set(access.tree.parent) else units


async def _archived_meeting(call: Call, meeting_id: int) -> Meeting:
    """The meeting, if the caller may read it in the archive. One that does not exist and one
    outside the caller's units get the same 404, so the archive does not tell them apart."""
    access = await call.access()
    require_archive(access)
    meeting = await call.session.get(Meeting, meeting_id)
    scope = archive_units(access)
    if meeting is None or (scope is not None and meeting.unit_id not in scope):
        raise NotFound(f"no meeting {meeting_id} in the archive")
    return meeting


class SearchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: Words = Field(
        default="", description="Words of the title, agenda, minutes, halls (accents optional)"
    )
    start: LocalDateTime | None = Field(default=None, alias="from")
    end: LocalDateTime | None = Field(default=None, alias="to")
    unit_id: Id | None = None
    hall_id: Id | None = None
    chair: Words = ""
    title: Words = ""


class SearchHit(BaseModel):
    meeting_id: int
    package_id: int
    version: int
    title: str
    start: Local
    end: Local
    duration_seconds: float
    unit: str
    chair: str
    halls: list[str]
    poster_url: str | None
    integrity: str


class PackageOut(BaseModel):
    id: int
    version: int
    minutes_version: int | None
    created_at: Local
    size: int
    manifest_sha256: str
    retention_class: str
    dispose_after: Local | None
    legal_hold: bool
    hold_reason: str
    integrity: str
    last_verified_at: Local | None
    integrity_detail: list[dict[str, Any]]
    files: list[dict[str, Any]]


class ArchivedMeeting(BaseModel):
    meeting: dict[str, Any]
    package: PackageOut
    versions: list[PackageOut]
    chapters: list[dict[str, Any]]
    turns: dict[str, list[dict[str, Any]]] = Field(
        description="Per hall name: the periods it held the floor (seconds from the start)"
    )
    attendance: list[dict[str, Any]]
    minutes: dict[str, Any] | None
    video_url: str
    chapters_url: str
    poster_url: str


class HoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hold: bool
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), OneLine] = ""


class RetentionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retention_class: str = Field(description="5y, 10y, 20y or permanent")


class DisposeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class VerifyOut(BaseModel):
    package_id: int
    ok: bool
    problems: list[dict[str, Any]]
    minutes_signature: str


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    meeting_id: Id | None = None
    start: LocalDateTime | None = Field(default=None, alias="from")


class AuditOut(BaseModel):
    at: Local
    actor: str
    actor_name: str
    action: str
    meeting_id: int | None
    package_id: int | None
    detail: str


def _file_url(package_id: int, name: str) -> str:
    return f"/api/archive/packages/{package_id}/files/{name}"


async def _audit(call: Call, action: str, **kw: Any) -> None:
    actor = call.actor
    assert actor is not None
    await call.services.archive.audit(actor.label, actor.name, action, **kw)


async def search(call: Call) -> list[SearchHit]:
    access = await call.access()
    require_archive(access)
    q: SearchQuery = call.query
    query = (
        sa.select(ArchivePackage, Meeting)
        .join(Meeting, Meeting.id == ArchivePackage.meeting_id)
        .where(ArchivePackage.state == PackageState.ACTIVE)
        .order_by(Meeting.start_at.desc(), ArchivePackage.version.desc())
    )
    terms = search_terms(q.q)
    if terms:
        query = query.where(match_all(ArchivePackage.search_text, terms))
    if q.title:
        query = query.where(match_all(ArchivePackage.search_text, search_terms(q.title)))
    if q.chair:
        chairs = sa.select(User.id).where(User.full_name.ilike(f"%{q.chair}%"))
        query = query.where(Meeting.chair_user_id.in_(chairs))
    # When it was held, where it was (the hits show those times), else when it was planned.
    held_from = sa.func.coalesce(Meeting.started_at, Meeting.start_at)
    held_to = sa.func.coalesce(Meeting.ended_at, Meeting.end_at)
    if q.start is not None:
        query = query.where(held_to > q.start)
    if q.end is not None:
        query = query.where(held_from < q.end)
    if q.unit_id is not None:
        query = query.where(Meeting.unit_id == q.unit_id)
    if q.hall_id is not None:
        query = query.where(Meeting.halls.any(Hall.id == q.hall_id))
    scope = archive_units(access)
    if scope is not None:
        query = query.where(Meeting.unit_id.in_(scope))
    hits: list[SearchHit] = []
    seen: set[int] = set()
    for package, meeting in (await call.session.execute(query.limit(500))).all():
        if meeting.id in seen:
            continue  # the latest package of each meeting
        seen.add(meeting.id)
        names = call.services.archive.store.names(package.key)
        start = meeting.started_at or meeting.start_at
        end = meeting.ended_at or meeting.end_at
        hits.append(
            SearchHit(
                meeting_id=meeting.id,
                package_id=package.id,
                version=package.version,
                title=meeting.title,
                start=start,
                end=end,
                duration_seconds=round((end - start).total_seconds(), 1),
                unit=meeting.unit.name,
                chair=meeting.chair_user.full_name,
                halls=[h.name for h in meeting.halls],
                poster_url=_file_url(package.id, "poster.jpg") if "poster.jpg" in names else None,
                integrity=package.integrity,
            )
        )
    await _audit(call, "search", detail=json.dumps(call.request.query_string, ensure_ascii=False))
    return hits


def package_out(call: Call, package: ArchivePackage, minutes_version: int | None) -> PackageOut:
    files: list[dict[str, Any]] = []
    store = call.services.archive.store
    if store.exists(package.key):
        with store.open(package.key, archive.MANIFEST) as f:
            files = [
                {**entry, "url": _file_url(package.id, entry["name"])}
                for entry in json.loads(f.read())["files"]
            ]
    return PackageOut(
        id=package.id, version=package.version, minutes_version=minutes_version,
        created_at=package.created_at, size=package.size,
        manifest_sha256=package.manifest_sha256, retention_class=package.retention_class,
        dispose_after=package.dispose_after, legal_hold=package.legal_hold,
        hold_reason=package.hold_reason, integrity=package.integrity,
        last_verified_at=package.last_verified_at,
        integrity_detail=package.integrity_detail, files=files,
    )  # fmt: skip


async def _packages(call: Call, meeting_id: int) -> list[tuple[ArchivePackage, int | None]]:
    rows = (
        await call.session.execute(
            sa.select(ArchivePackage, MinutesVersion.version)
            .outerjoin(MinutesVersion, MinutesVersion.id == ArchivePackage.minutes_version_id)
            .where(
                ArchivePackage.meeting_id == meeting_id,
                ArchivePackage.state == PackageState.ACTIVE,
            )
            .order_by(ArchivePackage.version)
        )
    ).all()
    return [(p, v) for p, v in rows]


async def archived_meeting(call: Call) -> ArchivedMeeting:
    """A meeting's page: the player's sources, chapters, hall turns, minutes, attendance."""
    meeting_id = call.path_id("meeting_id")
    meeting = await _archived_meeting(call, meeting_id)
    packages = await _packages(call, meeting.id)
    if not packages:
        raise NotFound(f"no meeting {meeting_id} in the archive")
    latest, minutes_version = packages[-1]
    events = list(await events_of(call.session, meeting.id))
    t0 = next((e.at for e in events if e.kind is TimelineKind.MEETING_STARTED), meeting.start_at)
    end = meeting.ended_at or meeting.end_at
    names = {h.id: h.name for h in meeting.halls}
    turns: dict[str, list[dict[str, Any]]] = {}
    holder: tuple[int, datetime] | None = None
    for e in [*events, None]:
        if e is not None and e.kind is not TimelineKind.FLOOR:
            continue
        at = e.at if e is not None else end
        if holder is not None:
            turns.setdefault(names.get(holder[0], str(holder[0])), []).append(
                {"start": round((holder[1] - t0).total_seconds(), 2),
                 "end": round((at - t0).total_seconds(), 2)}
            )  # fmt: skip
        holder = (e.hall_id, e.at) if e is not None and e.hall_id is not None else None
    job = await call.session.scalar(
        sa.select(ProcessingJob)
        .where(ProcessingJob.meeting_id == meeting.id)
        .order_by(ProcessingJob.id.desc())
        .limit(1)
    )
    minutes = await call.session.scalar(
        sa.select(MinutesVersion)
        .where(
            MinutesVersion.meeting_id == meeting.id,
            MinutesVersion.state == MinutesState.APPROVED,
        )
        .order_by(MinutesVersion.version.desc())
        .limit(1)
    )
    rows = attendance(events, names, end)
    await _audit(call, "view", meeting_id=meeting.id, package_id=latest.id)
    return ArchivedMeeting(
        meeting={
            "id": meeting.id,
            "title": meeting.title,
            "description": meeting.description,
            "unit": meeting.unit.name,
            "chair": meeting.chair_user.full_name,
            "chair_hall": meeting.chair_hall.name,
            "start": to_local(meeting.started_at or meeting.start_at).isoformat(),
            "end": to_local(end).isoformat(),
            "halls": list(names.values()),
            "agenda": [a.title for a in meeting.agenda],
        },
        package=package_out(call, latest, minutes_version),
        versions=[package_out(call, p, v) for p, v in packages],
        chapters=(job.outputs.get("chapter_list", []) if job else []),
        turns=turns,
        attendance=[
            {
                "hall": names[r.hall_id],
                "first_join": r.first_join and to_local(r.first_join).isoformat(),
                "last_leave": r.last_leave and to_local(r.last_leave).isoformat(),
                "connected_minutes": round(r.connected_seconds / 60, 1),
                "present": r.present,
                "delegates": r.delegates,
            }
            for r in rows
        ],
        minutes={
            "version": minutes.version,
            "content": minutes.content,
            "pdf_url": _file_url(latest.id, "minutes.pdf"),
            "docx_url": _file_url(latest.id, "minutes.docx"),
        }
        if minutes
        else None,
        video_url=_file_url(latest.id, "composite.mp4"),
        chapters_url=_file_url(latest.id, "chapters.vtt"),
        poster_url=_file_url(latest.id, "poster.jpg"),
    )


async def _package(call: Call) -> ArchivePackage:
    """The package, if the caller may read it: the same 404 for one that does not exist (or
    was disposed of) and one of a meeting outside the caller's units."""
    access = await call.access()
    require_archive(access)
    package = await call.session.get(ArchivePackage, call.path_id("package_id"))
    if package is not None and package.state is PackageState.ACTIVE:
        meeting = await call.session.get(Meeting, package.meeting_id)
        scope = archive_units(access)
        if meeting is not None and (scope is None or meeting.unit_id in scope):
            return package
    raise NotFound("no such package in the archive")


class ArchiveFile(RangedFile):
    """A package's file on its way out; :func:`audit_served_file` writes its audit row."""

    def __init__(self, path: Path, call: Call, package: ArchivePackage, name: str) -> None:
        super().__init__(path, headers={"Cache-Control": "private, no-transform"})
        actor = call.actor
        assert actor is not None
        self.audit_row = (call.services.archive, actor.label, actor.name, package, name)


async def audit_served_file(request: web.Request, response: web.StreamResponse) -> None:
    """One audit row per request for a package's file, written when its status and range are
    final and before any byte goes out (the app's ``on_response_prepare`` signal): what was
    sent (the whole file, or which bytes), or why nothing was (304, 412, 416). A failure to
    write it fails the request: no file leaves the archive unaudited."""
    if not isinstance(response, ArchiveFile):
        return
    service, actor, actor_name, package, name = response.audit_row
    status = response.status
    if status == 200:
        what = f"whole file, {response.content_length} bytes"
    elif status == 206:
        what = response.headers.get(hdrs.CONTENT_RANGE, "")
    elif status == 304:
        what = "not modified (304): the client's copy is current"
    elif status == 416:
        asked = response.range_asked[:200]
        what = f"range not satisfiable (416): {asked!r}, {response.headers.get(hdrs.CONTENT_RANGE)}"
    else:
        what = f"{status} {response.reason}"
    await service.audit(
        actor, actor_name, "download" if status in (200, 206, 304) else "download_refused",
        meeting_id=package.meeting_id, package_id=package.id, detail=f"{name}: {what}",
    )  # fmt: skip


async def package_file(call: Call) -> web.StreamResponse:
    """A file of a package; HTTP Range honoured (players seek, downloads resume). Every
    request is audited: served (:func:`audit_served_file`) or refused (here)."""
    name = call.request.match_info["name"]
    try:
        package = await _package(call)
        path = call.services.archive.store.local_path(package.key, name)
        if path is None:
            raise NotFound(f"no file {name} in the package")
    except DomainError as exc:
        found = await call.session.get(ArchivePackage, call.path_id("package_id"))
        status = DOMAIN_STATUS.get(exc.code, 400)
        await _audit(call, "download_refused", meeting_id=found.meeting_id if found else None,
                     package_id=call.path_id("package_id"),
                     detail=f"{name}: {status} {exc.code}")  # fmt: skip
        raise
    return ArchiveFile(path, call, package, name)


async def verify(call: Call) -> VerifyOut:
    package = await _package(call)
    problems = await call.services.archive.verify(package.id)
    signature = "missing"
    path = call.services.archive.store.local_path(package.key, "minutes.pdf")
    if path is not None:
        cert = call.services.archive.identity.cert
        check = await asyncio.to_thread(validate_pdf, path.read_bytes(), cert)
        signature = check.summary
    await _audit(call, "verify", meeting_id=package.meeting_id, package_id=package.id,
                 detail="ok" if not problems else f"{len(problems)} problem(s)")  # fmt: skip
    return VerifyOut(
        package_id=package.id, ok=not problems, problems=[p.as_dict() for p in problems],
        minutes_signature=signature,
    )  # fmt: skip


async def _minutes_version(call: Call, package: ArchivePackage) -> int | None:
    """The minutes version a package was made from."""
    if package.minutes_version_id is None:
        return None
    row = await call.session.get(MinutesVersion, package.minutes_version_id)
    return row.version if row is not None else None


async def _admin(call: Call) -> ArchivePackage:
    package = await _package(call)
    (await call.access()).require_admin("Changing an archived package's retention")
    return package


async def set_hold(call: Call) -> PackageOut:
    package = await _admin(call)
    body: HoldIn = call.body
    updated = await call.services.archive.set_hold(package.id, body.hold, body.reason)
    await _audit(call, "hold" if body.hold else "release", meeting_id=package.meeting_id,
                 package_id=package.id, detail=body.reason)  # fmt: skip
    return package_out(call, updated, await _minutes_version(call, updated))


async def set_retention(call: Call) -> PackageOut:
    package = await _admin(call)
    body: RetentionIn = call.body
    updated = await call.services.archive.set_retention(package.id, body.retention_class)
    await _audit(call, "retention", meeting_id=package.meeting_id, package_id=package.id,
                 detail=body.retention_class)  # fmt: skip
    return package_out(call, updated, await _minutes_version(call, updated))


async def dispose(call: Call) -> dict[str, Any]:
    package = await _admin(call)
    body: DisposeIn = call.body
    actor = call.actor
    assert actor is not None
    tombstone = await call.services.archive.dispose(package.id, actor.label, body.reason)
    await _audit(call, "dispose", meeting_id=package.meeting_id, package_id=package.id,
                 detail=body.reason)  # fmt: skip
    return tombstone_view(tombstone)


def tombstone_view(t: Tombstone) -> dict[str, Any]:
    return {
        "package_id": t.package_id, "meeting_id": t.meeting_id, "version": t.version,
        "title": t.title, "disposed_at": to_local(t.disposed_at).isoformat(),
        "disposed_by": t.disposed_by, "reason": t.reason, "manifest_sha256": t.manifest_sha256,
        "files": t.files,
    }  # fmt: skip


async def tombstones(call: Call) -> list[dict[str, Any]]:
    access = await call.access()
    require_archive(access)
    query = sa.select(Tombstone).order_by(Tombstone.disposed_at)
    scope = archive_units(access)
    if scope is not None:
        query = query.where(
            Tombstone.meeting_id.in_(sa.select(Meeting.id).where(Meeting.unit_id.in_(scope)))
        )
    rows = await call.session.scalars(query)
    return [tombstone_view(t) for t in rows]


async def audit_log(call: Call) -> list[AuditOut]:
    """The rows of the meetings the caller reads in the archive; rows of no meeting (searches,
    attempts at packages that do not exist) only for readers of the whole archive."""
    access = await call.access()
    require_archive(access)
    q: AuditQuery = call.query
    query = sa.select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(1000)
    scope = archive_units(access)
    if scope is not None:
        query = query.where(
            AuditEntry.meeting_id.in_(sa.select(Meeting.id).where(Meeting.unit_id.in_(scope)))
        )
    if q.meeting_id is not None:
        await _archived_meeting(call, q.meeting_id)
        query = query.where(AuditEntry.meeting_id == q.meeting_id)
    if q.start is not None:
        query = query.where(AuditEntry.at >= q.start)
    return [
        AuditOut(
            at=e.at,
            actor=e.actor,
            actor_name=e.actor_name,
            action=e.action,
            meeting_id=e.meeting_id,
            package_id=e.package_id,
            detail=e.detail,
        )
        for e in await call.session.scalars(query)
    ]


ENDPOINTS = (
    Endpoint("GET", "/api/archive/search", search,
             "Search archived meetings (date, unit, hall, chair, title, full text; accents "
             "optional)", auth=Auth.USER, query=SearchQuery, response=list[SearchHit],
             tag="archive"),
    Endpoint("GET", "/api/archive/meetings/{meeting_id}", archived_meeting,
             "An archived meeting: player sources, chapters, turns, minutes, attendance",
             auth=Auth.USER, response=ArchivedMeeting, tag="archive"),
    Endpoint("GET", "/api/archive/packages/{package_id}/files/{name}", package_file,
             "A file of a package (HTTP Range supported)", auth=Auth.USER,
             media_type="application/octet-stream", tag="archive"),
    Endpoint("POST", "/api/archive/packages/{package_id}/verify", verify,
             "Re-hash every file and check the signatures", auth=Auth.USER,
             response=VerifyOut, tag="archive"),
    Endpoint("POST", "/api/archive/packages/{package_id}/hold", set_hold,
             "Place or lift a legal hold (admin)", auth=Auth.USER, body=HoldIn,
             response=PackageOut, tag="archive"),
    Endpoint("POST", "/api/archive/packages/{package_id}/retention", set_retention,
             "Change the retention class (admin)", auth=Auth.USER, body=RetentionIn,
             response=PackageOut, tag="archive"),
    Endpoint("POST", "/api/archive/packages/{package_id}/dispose", dispose,
             "Dispose of a package past its retention (admin; refused under a legal hold)",
             auth=Auth.USER, body=DisposeIn, response=dict[str, Any], tag="archive"),
    Endpoint("GET", "/api/archive/tombstones", tombstones, "What was disposed of",
             auth=Auth.USER, response=list[dict[str, Any]], tag="archive"),
    Endpoint("GET", "/api/archive/audit", audit_log, "The archive's audit log", auth=Auth.USER,
             query=AuditQuery, response=list[AuditOut], tag="archive"),
)  # fmt: skip
