"""Meeting documents: what secretariats attach to a meeting or an agenda item, checked by
content (PDF, DOCX, XLSX), kept on disk under a root of their own and listed in the archive
package with their SHA-256."""

from __future__ import annotations

import hashlib
import io
import os
import re
import unicodedata
import uuid
import zipfile
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from rooms import text
from rooms.access import Access
from rooms.errors import Invalid, NotFound, StateError, TooLarge, UnsupportedType
from rooms.models import Meeting, MeetingDocument, MeetingState

MEDIA_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
"The kinds accepted, with the type they are served as."
FILENAME_MAX = 200
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def sniff(data: bytes) -> str | None:
    """The document's kind from its bytes (``pdf``, ``docx``, ``xlsx``), None for others.

    An Office file is a ZIP whose ``[Content_Types].xml`` and main part say what it is; only
    its central directory is read.
    """
    if data.startswith(b"%PDF-"):
        return "pdf"
    if not data.startswith(b"PK\x03\x04"):
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    return None


def clean_filename(name: str, kind: str) -> str:
    """The name to keep: NFC, no path, no control or direction characters, the kind's
    extension (added when missing; a name claiming another kind is refused)."""
    name = unicodedata.normalize("NFC", name).strip()
    if not name or len(name) > FILENAME_MAX:
        raise Invalid(f"filename: 1 to {FILENAME_MAX} characters", field="filename")
    try:
        text.check(name)  # the rule of every name people type (C1 controls, invisible only)
    except ValueError as exc:
        raise Invalid(f"filename: {exc}", field="filename") from None
    if _UNSAFE.search(name) or name in (".", ".."):
        raise Invalid("filename: no path, control or direction characters", field="filename")
    _, dot, extension = name.rpartition(".")
    if dot and extension.lower() in MEDIA_TYPES and extension.lower() != kind:
        raise Invalid(
            f"filename: the content is a {kind.upper()} file, the name says {extension.upper()}",
            field="filename",
        )
    if not dot or extension.lower() != kind:
        name = f"{name}.{kind}"
        if len(name) > FILENAME_MAX:
            raise Invalid(f"filename: 1 to {FILENAME_MAX} characters", field="filename")
    return name


def check_size(size: int, limit: int) -> None:
    """Refuse a document of ``size`` bytes over ``limit``."""
    if size > limit:
        raise TooLarge(f"a document is at most {limit // 2**20} MB", field="body", limit=limit)


class DocumentFiles:
    """The documents' bytes: ``root/<meeting id>/<document id>.<kind>``, 0600 in 0700
    directories, each written whole (temporary file, fsync, rename) before it is listed."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, document: MeetingDocument) -> Path:
        return self.root / str(document.meeting_id) / f"{document.id}.{document.kind}"

    def write(self, document: MeetingDocument, data: bytes) -> None:
        final = self.path(document)
        final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        incoming = final.parent / f".{uuid.uuid4().hex}.part"
        fd = os.open(incoming, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(incoming, final)
        finally:
            incoming.unlink(missing_ok=True)
        directory = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def remove(self, document: MeetingDocument) -> None:
        self.path(document).unlink(missing_ok=True)


async def attach(
    session: AsyncSession,
    access: Access,
    files: DocumentFiles,
    meeting: Meeting,
    data: bytes,
    filename: str,
    agenda_item_id: int | None = None,
    *,
    max_bytes: int,
) -> MeetingDocument:
    """Attach a document to a meeting the actor manages, before the meeting ends."""
    access.require_manage_meeting(meeting, "attach a document")
    if meeting.state in (MeetingState.ENDED, MeetingState.CANCELLED):
        raise StateError(f"the meeting is {meeting.state.value}: its documents are closed")
    check_size(len(data), max_bytes)
    kind = sniff(data)
    if kind is None:
        raise UnsupportedType("the body is not a PDF, DOCX or XLSX file", field="body")
    name = clean_filename(filename, kind)
    if agenda_item_id is not None and not any(a.id == agenda_item_id for a in meeting.agenda):
        raise Invalid(f"agenda_item_id: no item {agenda_item_id} in this meeting's agenda",
                      field="agenda_item_id")  # fmt: skip
    document = MeetingDocument(
        meeting_id=meeting.id, agenda_item_id=agenda_item_id, filename=name, kind=kind,
        size=len(data), sha256=hashlib.sha256(data).hexdigest(), uploaded_by=access.actor.user_id,
    )  # fmt: skip
    session.add(document)
    await session.flush()
    files.write(document, data)  # on disk before the row is committed: a listed file exists
    await session.commit()
    return document


async def documents_of(session: AsyncSession, meeting_id: int) -> Sequence[MeetingDocument]:
    return (
        await session.scalars(
            sa.select(MeetingDocument)
            .where(MeetingDocument.meeting_id == meeting_id)
            .order_by(MeetingDocument.id)
        )
    ).all()


async def get_document(session: AsyncSession, document_id: int) -> MeetingDocument:
    document = await session.get(MeetingDocument, document_id)
    if document is None:
        raise NotFound(f"no document {document_id}")
    return document


async def remove(
    session: AsyncSession, access: Access, files: DocumentFiles, meeting: Meeting,
    document: MeetingDocument,
) -> None:  # fmt: skip
    """Take a document back, before the meeting ends (afterwards it belongs to the record)."""
    access.require_manage_meeting(meeting, "remove a document")
    if meeting.state in (MeetingState.ENDED, MeetingState.CANCELLED):
        raise StateError(f"the meeting is {meeting.state.value}: its documents are kept")
    await session.delete(document)
    await session.commit()
    files.remove(document)
