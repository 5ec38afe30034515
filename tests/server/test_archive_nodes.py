"""Several nodes package one meeting at once (its job's end on one, the minutes' approval or a
start's catch-up on another): one package, whole and intact (recordings/archiving.py, the
advisory lock of packaging). Several nodes share PostgreSQL; SQLite is one process."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from recordings.archive import DirectoryStore
from recordings.archiving import Archive, SigningIdentity, minutes_dir
from recordings.capture import RecordingSettings
from recordings.jobs import output_dir
from recordings.models import ArchivePackage, JobState, MinutesState, MinutesVersion, ProcessingJob
from recordings.signing import ensure_signing_identity
from server.db import Database
from tests.conftest import Org, meeting_body

pytestmark = pytest.mark.db


async def test_two_nodes_packaging_one_meeting_at_once_make_one_intact_package(
    db_url: str, db: Database, server: Any, clients: Any, org: Org, tmp_path: Path
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several nodes share PostgreSQL; SQLite serves one process")
    sec = await clients("sec_p")
    created = await sec.post("/api/meetings", meeting_body(org, title="Giao ban hai nút"))
    assert created.status == 201, created.text
    meeting_id = created.body["id"]
    recording = RecordingSettings(tmp_path / "recordings")
    outputs = output_dir(recording, meeting_id)
    outputs.mkdir(parents=True)
    (outputs / "composite.mp4").write_bytes(bytes(range(256)) * 4000)  # ~1 MB to hash and copy
    minutes = minutes_dir(recording, meeting_id)
    minutes.mkdir(parents=True)
    (minutes / "v1.pdf").write_bytes(b"%PDF-1.7 minutes")
    (minutes / "v1.docx").write_bytes(b"PK minutes")
    async with db.session() as session:
        session.add(MinutesVersion(meeting_id=meeting_id, version=1, state=MinutesState.APPROVED,
                                   content={"subject": "Giao ban hai nút"}))  # fmt: skip
        session.add(ProcessingJob(meeting_id=meeting_id, state=JobState.DONE))
        await session.commit()
    cert, key = await asyncio.to_thread(ensure_signing_identity, tmp_path / "signing", "Tỉnh")

    def node() -> Archive:
        return Archive(db.sessions, DirectoryStore(tmp_path / "archive"), recording,
                       SigningIdentity(cert, key))  # fmt: skip

    one, other, third = node(), node(), node()
    await asyncio.wait_for(
        asyncio.gather(
            one.package_if_ready(meeting_id),
            other.package_if_ready(meeting_id),
            third.package_pending(),
        ),
        60,
    )
    async with db.session() as session:
        rows = list(
            await session.scalars(
                sa.select(ArchivePackage).where(ArchivePackage.meeting_id == meeting_id)
            )
        )
    assert [r.version for r in rows] == [1]
    assert not (tmp_path / "archive" / ".orphaned").exists()  # nothing taken for a leftover
    assert await one.verify(rows[0].id) == []  # the files are the ones the row describes
