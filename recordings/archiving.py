"""The archive as a service: packaging finished meetings, integrity checks, retention and
disposal, search, and the audit log (the database side of :mod:`recordings.archive`)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from media.tasks import finish_or_cancel
from recordings import archive
from recordings.archive import ArchiveStore, Problem
from recordings.capture import RecordingSettings
from recordings.jobs import output_dir
from recordings.models import (
    ArchivePackage,
    AuditEntry,
    JobState,
    MinutesState,
    MinutesVersion,
    PackageState,
    ProcessingJob,
    Tombstone,
)
from recordings.signing import sign_detached, verify_detached
from rooms.db import utcnow
from rooms.documents import DocumentFiles, documents_of
from rooms.errors import Invalid, NotFound, StateError
from rooms.localtime import to_local
from rooms.models import Meeting
from rooms.timeline import attendance, events_of

log = logging.getLogger("giaoban.archive")


@dataclass(frozen=True)
class SigningIdentity:
    """The deployment's X.509 certificate and key (PEM): signs minutes and manifests."""

    cert: Path
    key: Path


def minutes_dir(settings: RecordingSettings, meeting_id: int) -> Path:
    return settings.directory / str(meeting_id) / "minutes"


ARCHIVE_LOCK_KEY = 0x6172_6368  # "arch": with the meeting's id, the advisory lock of packaging
CLOSE_WAIT = 8.0
"""Seconds a stop waits for a package under way (within ``server.app.SHUTDOWN_TIMEOUT``)."""


class Archive:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: ArchiveStore,
        recording: RecordingSettings,
        identity: SigningIdentity,
        *,
        default_retention: str = "10y",
        clock: Callable[[], datetime] = utcnow,
        documents: DocumentFiles | None = None,
    ) -> None:
        self._sessions = sessions
        self.documents = documents
        self.store = store
        self.recording = recording
        self.identity = identity
        self.default_retention = default_retention
        self.clock = clock
        self._lock = asyncio.Lock()
        self._catching_up: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Finish, in the background, what a crash or a stop cut short: the disposals' files
        to delete, the packages to make."""
        self._catching_up = asyncio.create_task(self._catch_up())

    async def _catch_up(self) -> None:
        for step in (self.sweep_incoming, self.sweep_disposed, self.package_pending):
            try:
                await step()
            except Exception:
                log.exception("the archive's catch-up at the start failed (%s)", step.__name__)

    async def close(self) -> None:
        """Stop: the catch-up is let finish (``CLOSE_WAIT`` at most) rather than cancelled in
        its database work."""
        task, self._catching_up = self._catching_up, None
        if task is not None and await finish_or_cancel({task}, CLOSE_WAIT):
            log.warning("the archive's catch-up: cut short by the stop")

    def verify_signature(self, data: bytes, signature: bytes) -> bool:
        return verify_detached(data, signature, self.identity.cert)

    # -- packaging -----------------------------------------------------------------------

    async def package_if_ready(self, meeting_id: int) -> ArchivePackage | None:
        """Archive the meeting's latest approved minutes once its recording is processed.

        Called when minutes are approved and when post-processing ends; does nothing until
        both have happened, and nothing twice for one minutes version.
        """
        async with self._lock, self._sessions() as session:
            if session.get_bind().dialect.name == "postgresql":
                # One node at a time packages a meeting (its job's end on one, the minutes'
                # approval or a start's catch-up on another); held until the commit.
                await session.execute(
                    sa.select(sa.func.pg_advisory_xact_lock(ARCHIVE_LOCK_KEY, meeting_id))
                )
            minutes = await session.scalar(
                sa.select(MinutesVersion)
                .where(
                    MinutesVersion.meeting_id == meeting_id,
                    MinutesVersion.state == MinutesState.APPROVED,
                )
                .order_by(MinutesVersion.version.desc())
                .limit(1)
            )
            if minutes is None:
                return None
            done = await session.scalar(
                sa.select(ProcessingJob.id).where(
                    ProcessingJob.meeting_id == meeting_id, ProcessingJob.state == JobState.DONE
                )
            )
            if done is None:
                return None
            existing = await session.scalar(
                sa.select(ArchivePackage).where(ArchivePackage.minutes_version_id == minutes.id)
            )
            if existing is not None:
                return existing
            return await self._package(session, meeting_id, minutes)

    async def package_pending(self) -> list[int]:
        """Make the packages that a crash or a stop cut short: meetings whose latest approved
        minutes and processed recording have no package yet (both events package a meeting,
        and nothing else comes back to it). Run when the server starts; returns the meetings
        that have their package now (made here, or by another node meanwhile)."""
        async with self._sessions() as session:
            latest = (
                sa.select(
                    MinutesVersion.meeting_id,
                    sa.func.max(MinutesVersion.version).label("version"),
                )
                .where(MinutesVersion.state == MinutesState.APPROVED)
                .group_by(MinutesVersion.meeting_id)
                .subquery()
            )
            pending = list(
                await session.scalars(
                    sa.select(MinutesVersion.meeting_id)
                    .join(
                        latest,
                        sa.and_(
                            MinutesVersion.meeting_id == latest.c.meeting_id,
                            MinutesVersion.version == latest.c.version,
                        ),
                    )
                    .where(
                        ~sa.exists().where(ArchivePackage.minutes_version_id == MinutesVersion.id),
                        sa.exists().where(
                            ProcessingJob.meeting_id == MinutesVersion.meeting_id,
                            ProcessingJob.state == JobState.DONE,
                        ),
                    )
                    .order_by(MinutesVersion.meeting_id)
                )
            )
        made = []
        for meeting_id in pending:
            try:
                if await self.package_if_ready(meeting_id) is not None:
                    made.append(meeting_id)
            except Exception:
                log.exception("meeting %s: its package could not be made", meeting_id)
        if made:
            log.info("meetings left unpackaged have their package now: %s", made)
        return made

    async def _package(
        self, session: AsyncSession, meeting_id: int, minutes: MinutesVersion
    ) -> ArchivePackage:
        meeting = await session.get(Meeting, meeting_id)
        assert meeting is not None
        previous = await session.scalar(
            sa.select(ArchivePackage)
            .where(ArchivePackage.meeting_id == meeting_id)
            .order_by(ArchivePackage.version.desc())
            .limit(1)
        )
        version = previous.version + 1 if previous else 1
        key = archive.package_key(meeting_id, version)
        if await asyncio.to_thread(self.store.exists, key):
            # Written whole, then the server died before its row was committed: no record
            # names it and nobody was handed it. Kept aside; this package replaces it.
            aside = await asyncio.to_thread(self.store.set_aside, key)
            log.warning("meeting %s: package %s had no record; set aside as %s",
                        meeting_id, key, aside)  # fmt: skip
        retention = previous.retention_class if previous else self.default_retention
        created = self.clock()
        disposal = archive.dispose_after(created, retention)
        events = list(await events_of(session, meeting_id))
        attached = list(await documents_of(session, meeting_id)) if self.documents else []
        document_files = {
            f"document-{d.id}.{d.kind}": self.documents.path(d)
            for d in attached
            if self.documents is not None
        }
        names = {h.id: h.name for h in meeting.halls}
        until = meeting.ended_at or created
        rows = attendance(events, names, until)
        record = {
            "id": meeting.id,
            "title": meeting.title,
            "description": meeting.description,
            "unit": meeting.unit.name,
            "start": to_local(meeting.started_at or meeting.start_at).isoformat(),
            "end": to_local(until).isoformat(),
            "chair": meeting.chair_user.full_name,
            "chair_hall": {"id": meeting.chair_hall_id, "name": meeting.chair_hall.name},
            "halls": [{"id": h, "name": n} for h, n in names.items()],
            "agenda": [{"title": a.title, "presenter": a.presenter} for a in meeting.agenda],
            "documents": [
                {"file": f"document-{d.id}.{d.kind}", "filename": d.filename, "kind": d.kind,
                 "size": d.size, "sha256": d.sha256, "agenda_item_id": d.agenda_item_id,
                 "uploaded_at": to_local(d.uploaded_at).isoformat()}
                for d in attached
            ],
        }  # fmt: skip
        outputs = output_dir(self.recording, meeting_id)
        minutes_files = minutes_dir(self.recording, meeting_id)

        def build() -> tuple[bytes, int]:
            with tempfile.TemporaryDirectory(prefix="package-") as scratch:
                work = Path(scratch)
                files = {p.name: p for p in sorted(outputs.iterdir()) if p.is_file()}
                files["minutes.pdf"] = minutes_files / f"v{minutes.version}.pdf"
                files["minutes.docx"] = minutes_files / f"v{minutes.version}.docx"
                files.update(document_files)
                files["meeting.json"] = archive.json_file(work, "meeting.json", record)
                files["timeline.json"] = archive.json_file(
                    work, "timeline.json",
                    [{"at": to_local(e.at).isoformat(), "kind": e.kind.value,
                      "hall_id": e.hall_id, "hall": names.get(e.hall_id or 0),
                      "actor": e.actor, "data": e.data} for e in events],
                )  # fmt: skip
                files["attendance.json"] = archive.json_file(
                    work, "attendance.json",
                    [{"hall_id": r.hall_id, "hall": names[r.hall_id],
                      "first_join": r.first_join and to_local(r.first_join).isoformat(),
                      "last_leave": r.last_leave and to_local(r.last_leave).isoformat(),
                      "connected_seconds": round(r.connected_seconds, 1), "joins": r.joins,
                      "drops": r.drops, "present": r.present, "delegates": r.delegates}
                     for r in rows],
                )  # fmt: skip
                manifest, entries = archive.manifest_bytes(
                    meeting_id=meeting_id, version=version, title=meeting.title,
                    created_at=created, files=files, retention_class=retention,
                    dispose_after=disposal, minutes_version=minutes.version,
                    previous={"version": previous.version,
                              "manifest_sha256": previous.manifest_sha256} if previous else None,
                )  # fmt: skip
                manifest_path = work / archive.MANIFEST
                manifest_path.write_bytes(manifest)
                signature_path = work / archive.SIGNATURE
                signature_path.write_bytes(
                    sign_detached(manifest, self.identity.cert, self.identity.key)
                )
                files[archive.MANIFEST] = manifest_path
                files[archive.SIGNATURE] = signature_path
                self.store.put(key, files)
                return manifest, sum(e["size"] for e in entries)

        manifest, size = await asyncio.to_thread(build)
        minutes_text = _minutes_text(minutes.content)
        package = ArchivePackage(
            meeting_id=meeting_id,
            version=version,
            minutes_version_id=minutes.id,
            key=key,
            created_at=created,
            manifest_sha256=hashlib.sha256(manifest).hexdigest(),
            size=size,
            retention_class=retention,
            dispose_after=disposal,
            legal_hold=previous.legal_hold if previous else False,
            hold_reason=previous.hold_reason if previous else "",
            search_text=archive.fold(
                " ".join(
                    [
                        meeting.title,
                        meeting.description,
                        meeting.unit.name,
                        meeting.chair_user.full_name,
                        *names.values(),
                        *(a.title for a in meeting.agenda),
                        minutes_text,
                    ]
                )
            ),
            integrity="ok",
            last_verified_at=created,
        )
        session.add(package)
        await session.commit()
        log.info("meeting %s: archived as package %s (%s)", meeting_id, package.id, key)
        return package

    # -- integrity -----------------------------------------------------------------------

    async def verify(self, package_id: int) -> list[Problem]:
        """Re-hash every file and check the signature; the result is stored on the package."""
        async with self._sessions() as session:
            package = await self._active(session, package_id)
            problems = await asyncio.to_thread(
                archive.verify_package, self.store, package.key, self.verify_signature,
                package.manifest_sha256,
            )  # fmt: skip
            package.last_verified_at = self.clock()
            package.integrity = "damaged" if problems else "ok"
            package.integrity_detail = [p.as_dict() for p in problems]
            await session.commit()
        if problems:
            log.error("package %s is damaged: %s", package_id, [p.as_dict() for p in problems])
        return problems

    async def verify_all(self) -> dict[int, list[Problem]]:
        async with self._sessions() as session:
            ids = list(
                await session.scalars(
                    sa.select(ArchivePackage.id).where(ArchivePackage.state == PackageState.ACTIVE)
                )
            )
        return {package_id: await self.verify(package_id) for package_id in ids}

    async def verify_daily(self, interval: float = 24 * 3600) -> None:
        """The scheduled check: every package, once a day (the first after ``interval``)."""
        while True:
            await asyncio.sleep(interval)
            try:
                results = await self.verify_all()
                damaged = [i for i, p in results.items() if p]
                log.info("daily verification: %d packages, %d damaged", len(results), len(damaged))
            except Exception:
                log.exception("daily verification failed")

    # -- retention -----------------------------------------------------------------------

    async def set_hold(self, package_id: int, hold: bool, reason: str) -> ArchivePackage:
        async with self._sessions() as session:
            package = await self._active(session, package_id)
            if hold and not reason:
                raise Invalid("a legal hold needs a reason", field="reason")
            package.legal_hold, package.hold_reason = hold, reason if hold else ""
            await session.commit()
            return package

    async def set_retention(self, package_id: int, retention_class: str) -> ArchivePackage:
        if retention_class not in archive.RETENTION_YEARS:
            raise Invalid(
                f"retention class must be one of {', '.join(archive.RETENTION_YEARS)}",
                field="retention_class",
            )
        async with self._sessions() as session:
            package = await self._active(session, package_id)
            package.retention_class = retention_class
            package.dispose_after = archive.dispose_after(package.created_at, retention_class)
            await session.commit()
            return package

    async def dispose(self, package_id: int, by: str, reason: str) -> Tombstone:
        """Delete a package whose retention has run out; leaves a tombstone."""
        if not reason.strip():
            raise Invalid("disposal needs a reason", field="reason")
        async with self._sessions() as session:
            package = await self._active(session, package_id)
            if package.legal_hold:
                raise StateError(f"the package is under a legal hold: {package.hold_reason}")
            now = self.clock()
            if package.dispose_after is None:
                raise StateError("the package is kept permanently")
            if now < package.dispose_after:
                raise StateError(
                    "the package may not be disposed of before "
                    f"{to_local(package.dispose_after).date().isoformat()}"
                )
            meeting = await session.get(Meeting, package.meeting_id)
            # (The store is the data centre's NAS mount: off the event loop.)
            files = await asyncio.to_thread(self._manifest_files, package.key)
            # The tombstone first, the files after: a crash between the two leaves files of a
            # disposed package, which the next start deletes (sweep_disposed), rather than a
            # package deleted with no record of what it held.
            tombstone = Tombstone(
                package_id=package.id, meeting_id=package.meeting_id, version=package.version,
                title=meeting.title if meeting else "", disposed_at=now, disposed_by=by,
                reason=reason.strip(), manifest_sha256=package.manifest_sha256, files=files,
            )  # fmt: skip
            package.state = PackageState.DISPOSED
            session.add(tombstone)
            await session.commit()
            log.warning("package %s disposed of by %s: %s", package.id, by, reason)
            try:
                await asyncio.to_thread(self._delete_files, package.key)
            except OSError:
                log.exception("package %s: its files are left for the next start to delete",
                              package.id)  # fmt: skip
            return tombstone

    def _manifest_files(self, key: str) -> list[dict[str, Any]]:
        """The files a package's manifest lists; none if the store no longer has it."""
        if not self.store.exists(key):
            return []
        with self.store.open(key, archive.MANIFEST) as f:
            files: list[dict[str, Any]] = json.loads(f.read())["files"]
        return files

    def _delete_files(self, key: str) -> bool:
        """Delete a package's files if the store still has them; whether it had."""
        if not self.store.exists(key):
            return False
        self.store.delete(key)
        return True

    async def sweep_incoming(self) -> list[str]:
        """Delete what packages cut short by a crash left half-written in the store."""
        swept = await asyncio.to_thread(self.store.sweep_incoming)
        if swept:
            log.warning("deleted %d package(s) left half-written: %s", len(swept), swept)
        return swept

    async def sweep_disposed(self) -> list[int]:
        """Delete the files of disposed packages that are still in the store (the server died
        after recording the disposal). Run when the server starts; returns their ids."""
        async with self._sessions() as session:
            disposed = list(
                await session.execute(
                    sa.select(ArchivePackage.id, ArchivePackage.key).where(
                        ArchivePackage.state == PackageState.DISPOSED
                    )
                )
            )
        swept = []
        for package_id, key in disposed:
            try:
                deleted = await asyncio.to_thread(self._delete_files, key)
            except OSError:
                log.exception("package %s: its files could not be deleted", package_id)
                continue
            if deleted:
                log.warning("package %s: the files of its disposal deleted", package_id)
                swept.append(package_id)
        return swept

    async def _active(self, session: AsyncSession, package_id: int) -> ArchivePackage:
        package = await session.get(ArchivePackage, package_id)
        if package is None or package.state is not PackageState.ACTIVE:
            raise NotFound(f"no archived package {package_id}")
        return package

    # -- audit ---------------------------------------------------------------------------

    async def audit(
        self,
        actor: str,
        actor_name: str,
        action: str,
        *,
        meeting_id: int | None = None,
        package_id: int | None = None,
        detail: str = "",
    ) -> None:
        async with self._sessions() as session:
            session.add(
                AuditEntry(actor=actor, actor_name=actor_name, action=action, at=self.clock(),
                           meeting_id=meeting_id, package_id=package_id, detail=detail[:1000])
            )  # fmt: skip
            await session.commit()


def _minutes_text(content: dict[str, Any]) -> str:
    parts = [str(content.get("subject", "")), str(content.get("general_conclusions", ""))]
    for section in content.get("sections", []):
        parts += [str(section.get(k, "")) for k in ("title", "presenter", "content", "conclusions")]
    return " ".join(p for p in parts if p)


def search_terms(query: str) -> list[str]:
    return [t for t in archive.fold(query).split() if t]


def match_all(column: Any, terms: Sequence[str]) -> Any:
    """Every term appears in the folded text (the text and the terms are both folded)."""
    return sa.and_(*(column.contains(term, autoescape=True) for term in terms))
