"""The whole path of a recorded meeting into the archive: minutes drafted, edited, approved
and signed; archived, searched (with and without diacritics), downloaded with a Range,
verified; one changed byte named; disposal refused under a legal hold; a correction archived
as a new package version."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import sys
import time
from datetime import timedelta
from typing import Any

import pytest
from pypdf import PdfReader

from recordings.signing import validate_pdf
from server.state import SERVICES
from tests.media.media_testkit import GREEN
from tests.recordings.test_processing import wait_for_job
from tests.server.document_kit import pdf as make_pdf
from tests.server.live_kit import sees, soon

pytestmark = pytest.mark.slow


async def wait_for_package(client: Any, meeting_id: int, version: int, deadline: float = 60):
    started = time.monotonic()
    while time.monotonic() - started < deadline:
        reply = await client.get(f"/api/archive/meetings/{meeting_id}")
        if reply.status == 200 and reply.body["package"]["version"] >= version:
            return reply.body
        await asyncio.sleep(0.3)
    raise AssertionError(f"meeting {meeting_id} was not archived as version {version}")


async def test_a_meeting_goes_from_minutes_to_the_archive_and_can_be_proved(
    live, org, clients, server, settings, clock
):
    body = soon(org, title="Họp giao ban tuần: Tình hình mưa lũ")
    sec = await clients("sec_p")
    created = await sec.post("/api/meetings", body)
    assert created.status == 201, created.text
    report = make_pdf("Báo cáo tình hình mưa lũ")
    attached = await sec.post(
        f"/api/meetings/{created.body['id']}/documents", data=report,
        params={"filename": "Báo cáo mưa lũ.pdf"},
    )  # fmt: skip
    assert attached.status == 201, attached.text
    meeting = await live.running(meeting_id=created.body["id"])
    chair = meeting.chair
    await chair.call("next_agenda_item")
    await chair.call("give_floor", {"hall_id": org.halls["A"]})
    await sees(meeting.halls["B"], "main", GREEN)
    t = time.monotonic()
    await chair.until(lambda: time.monotonic() - t > 2.0, deadline=4)
    await chair.call("end_meeting", {"meeting_id": meeting.id})

    # The draft exists as soon as the meeting ends, from the timeline.
    drafts = (await sec.get(f"/api/meetings/{meeting.id}/minutes")).body
    assert [d["version"] for d in drafts] == [1]
    content = drafts[0]["content"]
    assert content["subject"] == "Họp giao ban tuần: Tình hình mưa lũ"
    assert content["chair"] == "Người dùng chair_p"
    first_section = content["sections"][0]
    assert first_section["title"] == "Báo cáo tình hình"
    assert [t["hall"] for t in first_section["turns"]] == ["Điểm cầu Huyện A"]
    assert {a["hall"] for a in content["attendance"]} == {
        "Hội trường tỉnh P", "Điểm cầu Huyện A", "Điểm cầu Huyện B",
    }  # fmt: skip

    edited = await sec.patch(
        f"/api/meetings/{meeting.id}/minutes/1",
        {"number": "05/BB-VP", "sections": [{"content": "Huyện A báo cáo về lũ.",
                                             "conclusions": "Giao Huyện A khắc phục."}],
         "general_conclusions": "Các đơn vị tập trung khắc phục hậu quả mưa lũ."},
    )  # fmt: skip
    assert edited.status == 200, edited.text
    not_chair = await sec.post(f"/api/meetings/{meeting.id}/minutes/1/approve")
    assert not_chair.status == 403
    chair_http = await clients("chair_p")
    approved = await chair_http.post(f"/api/meetings/{meeting.id}/minutes/1/approve")
    assert approved.status == 200, approved.text
    assert approved.body["state"] == "approved"
    frozen = await sec.patch(f"/api/meetings/{meeting.id}/minutes/1", {"number": "06/BB-VP"})
    assert frozen.status == 409

    await wait_for_job(sec, meeting.id)
    archivist = await clients("arch")
    page = await wait_for_package(archivist, meeting.id, 1)
    assert page["package"]["integrity"] == "ok"
    names = {f["name"] for f in page["package"]["files"]}
    assert {"composite.mp4", "poster.jpg", "chapters.vtt", "minutes.pdf", "minutes.docx",
            "timeline.json", "attendance.json", "meeting.json"} <= names  # fmt: skip
    assert f"hall-{org.halls['A']}.mp4" in names
    # The meeting's documents went in with their SHA-256, and meeting.json names them.
    in_package = {f["name"]: f for f in page["package"]["files"]}
    document = in_package[f"document-{attached.body['id']}.pdf"]
    assert document["sha256"] == hashlib.sha256(report).hexdigest()
    record = await archivist.get(in_package["meeting.json"]["url"])
    assert record.body["documents"] == [
        {"file": document["name"], "filename": "Báo cáo mưa lũ.pdf", "kind": "pdf",
         "size": len(report), "sha256": document["sha256"], "agenda_item_id": None,
         "uploaded_at": attached.body["uploaded_at"]}
    ]  # fmt: skip
    assert page["turns"]["Điểm cầu Huyện A"]
    assert page["minutes"]["content"]["number"] == "05/BB-VP"
    package_id = page["package"]["id"]

    # Only archivists and admins reach the archive; terminals never.
    assert (await sec.get(f"/api/archive/meetings/{meeting.id}")).status == 403
    terminal = await clients(terminal="A")
    assert (await terminal.get(f"/api/archive/meetings/{meeting.id}")).status == 403

    # Search: words of the title, agenda and minutes, with and without diacritics.
    for query in ("giao ban", "Giao Ban", "hop", "họp", "mua lu", "khac phuc", "Huyện A"):
        hits = (await archivist.get("/api/archive/search", params={"q": query})).body
        assert [h["meeting_id"] for h in hits] == [meeting.id], query
    assert (await archivist.get("/api/archive/search", params={"q": "hỏa hoạn"})).body == []
    by_hall = (await archivist.get("/api/archive/search", params={"hall_id": org.halls["B"]})).body
    assert [h["meeting_id"] for h in by_hall] == [meeting.id]
    assert by_hall[0]["poster_url"].endswith("/poster.jpg")

    # The signed PDF, downloaded, validates; its text has every diacritic.
    pdf = await archivist.get(f"/api/archive/packages/{package_id}/files/minutes.pdf")
    assert pdf.status == 200
    cert = server.app[SERVICES].archive.identity.cert
    check = await asyncio.to_thread(validate_pdf, pdf.data, cert)
    assert check.intact and check.valid, check.summary
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    for expected in ("Họp giao ban tuần: Tình hình mưa lũ", "Hội trường tỉnh P",
                     "Điểm cầu Huyện A", "Điểm cầu Huyện B", "BIÊN BẢN"):  # fmt: skip
        assert expected in " ".join(text.split()), expected

    # Range downloads, so players seek and downloads resume.
    video = await archivist.get(
        f"/api/archive/packages/{package_id}/files/composite.mp4",
        headers={"Range": "bytes=1000-1999"},
    )
    assert video.status == 206 and len(video.data) == 1000

    # Every view and download is in the audit log.
    audit = (await archivist.get("/api/archive/audit", params={"meeting_id": meeting.id})).body
    actions = [(e["action"], e["detail"]) for e in audit]
    assert ("view", "") in actions
    assert ("download", f"minutes.pdf: whole file, {len(pdf.data)} bytes") in actions
    assert ("download", f"composite.mp4: {video.headers['Content-Range']}") in actions
    assert all(e["actor"] == f"user:{org.users['arch']}" for e in audit)

    verified = await archivist.post(f"/api/archive/packages/{package_id}/verify")
    assert verified.body["ok"] is True, verified.body

    # One changed byte is found and named.
    archive_dir = settings.archive_dir
    target = next(archive_dir.rglob("attendance.json"))
    os.chmod(target, 0o644)
    data = bytearray(target.read_bytes())
    data[10] ^= 0x01
    target.write_bytes(bytes(data))
    damaged = await archivist.post(f"/api/archive/packages/{package_id}/verify")
    assert damaged.body["ok"] is False
    changed = "content changed (SHA-256 differs from the manifest)"
    assert damaged.body["problems"] == [{"file": "attendance.json", "problem": changed}]
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "archive", "verify", "--meeting", str(meeting.id),
        env={**os.environ, "GIAOBAN_VAR_DIR": str(settings.var_dir),
             "GIAOBAN_DATABASE_URL": settings.database_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output = (await asyncio.wait_for(cli.communicate(), 60))[0].decode()
    assert cli.returncode == 1, output
    assert f"attendance.json: {changed}" in output
    data[10] ^= 0x01
    target.write_bytes(bytes(data))

    # Retention: a legal hold refuses disposal; so does an unexpired retention.
    admin = await clients("admin")
    held = await admin.post(
        f"/api/archive/packages/{package_id}/hold", {"hold": True, "reason": "Thanh tra"}
    )
    assert held.status == 200
    assert held.body["legal_hold"] is True and held.body["minutes_version"] == 1
    clock.offset = timedelta(days=365 * 11)
    refused = await admin.post(
        f"/api/archive/packages/{package_id}/dispose", {"reason": "Hết hạn lưu trữ"}
    )
    assert refused.status == 409
    assert "legal hold" in refused.body["error"]["message"]
    assert (await archivist.post(f"/api/archive/packages/{package_id}/dispose",
                                 {"reason": "thử"})).status == 403  # fmt: skip

    # A correction is a new package version; the first stays as it was.
    correction = await sec.post(f"/api/meetings/{meeting.id}/minutes/1/correct")
    assert correction.status == 201
    assert correction.body["replaces_version"] == 1
    await sec.patch(f"/api/meetings/{meeting.id}/minutes/2", {"number": "05a/BB-VP"})
    assert (await chair_http.post(f"/api/meetings/{meeting.id}/minutes/2/approve")).status == 200
    page = await wait_for_package(archivist, meeting.id, 2)
    assert [v["version"] for v in page["versions"]] == [1, 2]
    assert page["versions"][0]["manifest_sha256"] == page["versions"][0]["manifest_sha256"]
    assert page["package"]["legal_hold"] is True  # the hold carries over
    second = page["package"]["id"]
    pdf2 = await archivist.get(f"/api/archive/packages/{second}/files/minutes.pdf")
    text2 = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf2.data)).pages)
    assert "thay thế phiên bản 1" in " ".join(text2.split())

    # With the hold lifted and the retention run out, disposal leaves a tombstone.
    await admin.post(f"/api/archive/packages/{package_id}/hold", {"hold": False})
    disposed = await admin.post(
        f"/api/archive/packages/{package_id}/dispose", {"reason": "Hết hạn lưu trữ 10 năm"}
    )
    assert disposed.status == 200, disposed.text
    tombstones = (await archivist.get("/api/archive/tombstones")).body
    assert [(t["package_id"], t["reason"]) for t in tombstones] == [
        (package_id, "Hết hạn lưu trữ 10 năm")
    ]
    assert tombstones[0]["files"]
    assert (
        await archivist.get(f"/api/archive/packages/{package_id}/files/minutes.pdf")
    ).status == 404
