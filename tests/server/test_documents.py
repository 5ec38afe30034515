"""Meeting documents as the secretariat and the halls use them: attached (type checked by
content, size-limited), listed and downloaded by invited halls and participants, refused
with the reason, kept on disk 0600."""

from __future__ import annotations

import hashlib
import os
import stat
import unicodedata
from typing import Any
from urllib.parse import quote

import pytest

from tests.server.document_kit import docx, pdf, xlsx
from tests.server.live_kit import soon

pytestmark = [pytest.mark.db, pytest.mark.env(GIAOBAN_DOCUMENT_MAX_MB="1")]


async def attach(client: Any, meeting_id: int, data: bytes, filename: str, **query: Any) -> Any:
    return await client.post(
        f"/api/meetings/{meeting_id}/documents", data=data,
        params={"filename": filename, **query},
        headers={"Content-Type": "application/octet-stream"},
    )  # fmt: skip


async def test_documents_go_out_with_the_agenda_to_the_invited_halls(
    clients: Any, org: Any, settings: Any
) -> None:
    sec = await clients("sec_p")
    meeting = (await sec.post("/api/meetings", soon(org))).body
    item = meeting["agenda"][0]["id"]
    name = unicodedata.normalize("NFD", "Báo cáo quý IV.pdf")  # as a Mac names it
    report = pdf()
    sent = await attach(sec, meeting["id"], report, name, agenda_item_id=item)
    assert sent.status == 201, sent.text
    assert sent.body["filename"] == unicodedata.normalize("NFC", name)
    assert sent.body["kind"] == "pdf" and sent.body["agenda_item_id"] == item
    assert sent.body["sha256"] == hashlib.sha256(report).hexdigest()
    plan = docx()
    assert (await attach(sec, meeting["id"], plan, "Kế hoạch")).body["filename"] == "Kế hoạch.docx"
    figures = xlsx()
    assert (await attach(sec, meeting["id"], figures, "Số liệu.xlsx")).body["kind"] == "xlsx"

    hall = await clients(terminal="A")  # an invited hall's terminal
    listed = await hall.get(f"/api/meetings/{meeting['id']}/documents")
    assert listed.status == 200
    assert [d["kind"] for d in listed.body] == ["pdf", "docx", "xlsx"]
    got = await hall.get(listed.body[0]["url"])
    assert got.status == 200 and got.data == report
    assert got.headers["Content-Type"] == "application/pdf"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert quote("Báo cáo quý IV.pdf") in got.headers["Content-Disposition"]
    assert got.headers["X-Content-SHA256"] == hashlib.sha256(report).hexdigest()
    person = await clients("chair_p")
    assert (await person.get(listed.body[1]["url"])).data == plan
    # A download resumes (HTTP Range, RFC 9110: server/ranges.py).
    rest = await hall.get(listed.body[0]["url"], headers={"Range": "bytes=100-"})
    assert rest.status == 206 and rest.data == report[100:]
    assert rest.headers["Content-Range"] == f"bytes 100-{len(report) - 1}/{len(report)}"
    assert (await hall.get(listed.body[0]["url"], headers={"Range": "bytes=-0"})).status == 416

    # A hall not invited, and a district that does not take part, see nothing of them.
    stranger = await clients(terminal="A1")
    assert (await stranger.get(f"/api/meetings/{meeting['id']}/documents")).status == 404
    assert (await stranger.get(listed.body[0]["url"])).status == 404
    assert (await stranger.get("/api/documents/999999")).status == 404

    kept = settings.documents_dir / str(meeting["id"])
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in kept.iterdir())

    # Taken back before the meeting: gone from the list and from the disk.
    assert (await sec.delete(listed.body[2]["url"])).status == 204
    assert len((await hall.get(f"/api/meetings/{meeting['id']}/documents")).body) == 2
    assert len(list(kept.iterdir())) == 2


async def test_what_is_not_a_document_or_not_theirs_to_attach_is_refused_with_the_reason(
    clients: Any, org: Any
) -> None:
    sec = await clients("sec_p")
    meeting = (await sec.post("/api/meetings", soon(org))).body
    mid = meeting["id"]

    def says(reply: Any, status: int, code: str, field: str) -> None:
        assert reply.status == status, reply.text
        assert reply.body["error"]["code"] == code, reply.body
        assert reply.body["error"]["field"] == field, reply.body

    says(await attach(sec, mid, b"just text, named as a PDF", "x.pdf"), 415,
         "unsupported_media_type", "body")  # fmt: skip
    says(await attach(sec, mid, b"PK\x03\x04 not a zip at all", "x.docx"), 415,
         "unsupported_media_type", "body")  # fmt: skip
    says(await attach(sec, mid, pdf(), "bảng.xlsx"), 422, "invalid", "filename")
    says(await attach(sec, mid, pdf(), "../../etc/passwd"), 422, "invalid", "filename")
    says(await attach(sec, mid, pdf(), "a\u202egpj.pdf"), 422, "invalid", "filename")
    says(await attach(sec, mid, pdf(pad=1_200_000), "big.pdf"), 413, "too_large", "body")
    says(await attach(sec, mid, pdf(), "x.pdf", agenda_item_id=999), 422, "invalid",
         "agenda_item_id")  # fmt: skip
    missing = await sec.post(f"/api/meetings/{mid}/documents", data=pdf())
    says(missing, 422, "validation", "filename")
    other = await clients("sec_b")  # another district's secretariat: sees it, does not manage
    assert (await attach(other, mid, pdf(), "x.pdf")).status in (403, 404)
    terminal = await clients(terminal="A")
    assert (await attach(terminal, mid, pdf(), "x.pdf")).status == 403
    assert (await sec.get(f"/api/meetings/{mid}/documents")).body == []  # nothing was kept
