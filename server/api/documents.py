"""Meeting documents: attached by the secretariat, downloaded by the halls and participants."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from rooms import documents
from rooms.models import MeetingDocument
from server.api.routing import Auth, Call, Endpoint
from server.api.schemas import Local
from server.ranges import RangedFile

CHUNK = 64 * 1024


class DocumentOut(BaseModel):
    id: int
    meeting_id: int
    agenda_item_id: int | None
    filename: str
    kind: str = Field(description="pdf, docx or xlsx (found from the content)")
    size: int
    sha256: str
    uploaded_at: Local
    url: str = Field(description="Where to download it")

    @classmethod
    def of(cls, d: MeetingDocument) -> DocumentOut:
        return cls(id=d.id, meeting_id=d.meeting_id, agenda_item_id=d.agenda_item_id,
                   filename=d.filename, kind=d.kind, size=d.size, sha256=d.sha256,
                   uploaded_at=d.uploaded_at, url=f"/api/documents/{d.id}")  # fmt: skip


class AttachQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=documents.FILENAME_MAX)
    agenda_item_id: int | None = Field(None, ge=1, le=10**9)


def _files(call: Call) -> documents.DocumentFiles:
    files = call.services.documents
    assert files is not None
    return files


async def _read_limited(request: web.Request, limit: int) -> bytes:
    """The body, refused as soon as it passes ``limit`` bytes (nothing more is read)."""
    documents.check_size(request.content_length or 0, limit)
    chunks, total = [], 0
    while chunk := await request.content.read(CHUNK):
        total += len(chunk)
        documents.check_size(total, limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def attach(call: Call) -> DocumentOut:
    access = await call.access()
    meeting = await call.services.scheduler.get(call.session, access, call.path_id("meeting_id"))
    access.require_manage_meeting(meeting, "attach a document")  # before reading the body
    limit = call.services.settings.document_max_mb * 2**20
    data = await _read_limited(call.request, limit)
    document = await documents.attach(
        call.session, access, _files(call), meeting, data, call.query.filename,
        call.query.agenda_item_id, max_bytes=limit,
    )  # fmt: skip
    return DocumentOut.of(document)


async def list_documents(call: Call) -> list[DocumentOut]:
    access = await call.access()
    meeting = await call.services.scheduler.get(call.session, access, call.path_id("meeting_id"))
    return [DocumentOut.of(d) for d in await documents.documents_of(call.session, meeting.id)]


async def download(call: Call) -> web.StreamResponse:
    document = await documents.get_document(call.session, call.path_id("document_id"))
    # Not visible and missing answer alike (404): the meeting's visibility decides.
    await call.services.scheduler.get(call.session, await call.access(), document.meeting_id)
    name = quote(document.filename, safe="")
    return RangedFile(
        _files(call).path(document),
        headers={
            "Content-Type": documents.MEDIA_TYPES[document.kind],
            "Content-Disposition": f'attachment; filename="document-{document.id}.'
            f"{document.kind}\"; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-transform",
            "X-Content-SHA256": document.sha256,
        },
    )


async def remove(call: Call) -> None:
    document = await documents.get_document(call.session, call.path_id("document_id"))
    access = await call.access()
    meeting = await call.services.scheduler.get(call.session, access, document.meeting_id)
    await documents.remove(call.session, access, _files(call), meeting, document)


ENDPOINTS = (
    Endpoint("POST", "/api/meetings/{meeting_id}/documents", attach,
             "Attach a document (the body: a PDF, DOCX or XLSX file; secretariat)",
             auth=Auth.USER, query=AttachQuery, response=DocumentOut, status=201,
             tag="documents"),
    Endpoint("GET", "/api/meetings/{meeting_id}/documents", list_documents,
             "The meeting's documents", response=list[DocumentOut], tag="documents"),
    Endpoint("GET", "/api/documents/{document_id}", download, "Download a document",
             media_type="application/octet-stream", tag="documents"),
    Endpoint("DELETE", "/api/documents/{document_id}", remove,
             "Take a document back before the meeting ends (secretariat)", auth=Auth.USER,
             status=204, tag="documents"),
)  # fmt: skip
