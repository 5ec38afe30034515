"""Recording under pressure: a disk running short, a failed job, a restart mid-job."""

from __future__ import annotations

import asyncio
import shutil
from collections import namedtuple
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from recordings import archive
from recordings.archiving import Archive
from recordings.jobs import JobRunner
from recordings.models import JobState, ProcessingJob
from server.app import create_app, runner_options
from server.security import Passwords
from server.state import SERVICES
from tests.conftest import FAST_HASHER, PASSWORD, Client
from tests.recordings.test_archive import wait_for_package
from tests.recordings.test_processing import wait_for_job

pytestmark = pytest.mark.slow

Usage = namedtuple("Usage", "total used free")


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """The free space the recorder sees (``disk["free"]``, bytes)."""
    state = {"free": 10 * 2**30}
    monkeypatch.setattr(
        "recordings.capture.shutil.disk_usage", lambda _: Usage(2**40, 0, state["free"])
    )
    return state


async def test_a_disk_running_short_stops_the_recording_cleanly_and_tells_the_chair(
    live, org, clients, disk
):
    meeting = await live.running(("P", "A"))
    chair = meeting.chair
    await chair.until(lambda: chair.state["recording"] is True)
    await chair.until(lambda: chair.slot("main").frames > 20)
    disk["free"] = 100 * 2**10
    await chair.until(lambda: any(n == "alert" for n, _ in chair.events), deadline=5)
    alert = next(d for n, d in chair.events if n == "alert")
    assert alert["code"] == "recording_stopped"
    assert "disk" in alert["message"]
    await chair.until(lambda: chair.state["recording"] is False)
    refused = await chair.call("start_recording")
    assert refused["error"]["code"] == "invalid_state"
    assert "MiB free" in refused["error"]["message"]

    sec = await clients("sec_p")
    timeline = (await sec.get(f"/api/meetings/{meeting.id}/timeline")).body
    stopped = [e for e in timeline if e["kind"] == "recording_stopped"]
    assert stopped and "disk" in stopped[0]["data"]["reason"]
    recording = (await sec.get(f"/api/meetings/{meeting.id}/recording")).body
    assert recording["segments"]
    assert {s["state"] for s in recording["segments"]} == {"complete"}


async def test_a_meeting_is_not_recorded_when_the_disk_is_already_short(live, org, disk):
    disk["free"] = 0
    meeting = await live.running(("P",))
    chair = meeting.chair
    # The chair's console joins after the refusal: the room's state says why.
    assert chair.state["recording"] is False
    assert "MiB free" in chair.state["recording_problem"]


async def test_a_failed_job_keeps_its_inputs_says_why_and_is_resumed_after_a_restart(
    live, org, clients, server, settings, clock, throttle
):
    meeting = await live.running(("P", "A"))
    chair = meeting.chair
    await chair.until(lambda: chair.slot("main").frames > 60, deadline=10)
    await chair.call("end_meeting", {"meeting_id": meeting.id})
    sec = await clients("sec_p")
    body = await wait_for_job(sec, meeting.id)
    assert body["job"]["state"] == "done"

    # Break every segment of hall A: the job fails, says why, and keeps its inputs.
    directory = settings.recordings_dir / str(meeting.id) / f"hall-{org.halls['A']}"
    backup = settings.var_dir / "backup"
    shutil.copytree(directory, backup)
    for path in directory.iterdir():
        path.write_bytes(b"not a matroska file")
    again = await sec.post(f"/api/meetings/{meeting.id}/recording/process")
    assert again.status == 202, again.text
    body = await wait_for_job(sec, meeting.id)
    assert body["job"]["state"] == "failed"
    assert "ffmpeg" in body["job"]["error"]
    assert sorted(p.name for p in directory.iterdir()) == sorted(p.name for p in backup.iterdir())

    # The inputs come back; the server stops in the middle of the job and starts again.
    shutil.rmtree(directory)
    shutil.copytree(backup, directory)
    db = server.app[SERVICES].db
    async with db.session() as session:
        interrupted = ProcessingJob(
            meeting_id=meeting.id, state=JobState.RUNNING, progress=40, attempts=1
        )
        session.add(interrupted)
        await session.commit()
    await server.close()
    app = create_app(settings, passwords=Passwords(FAST_HASHER), clock=clock, throttle=throttle)
    restarted = TestServer(app)
    await restarted.start_server(**runner_options())
    client = Client(restarted)
    try:
        assert (
            await client.post(
                "/api/session", {"username": "sec_p", "password": "correct horse battery"}
            )
        ).status == 200
        body = await wait_for_job(client, meeting.id)
        assert body["job"]["state"] == "done", body["job"]
        assert body["job"]["attempts"] == 2  # counted from the interrupted run
        assert "composite.mp4" in body["files"]
    finally:
        await client.close()
        await restarted.close()


async def test_a_stop_lets_the_archive_packaging_of_a_finished_job_finish(
    live, org, server, monkeypatch
):
    """The server stops while it packages a meeting whose processing just ended (here slow):
    the packaging ends rather than being cancelled in its database work (which SQLAlchemy
    logged as errors at the stop, and on SQLite failed on a closed database)."""
    packaging, stopping, outcome = asyncio.Event(), asyncio.Event(), []
    package, close = Archive.package_if_ready, JobRunner.close

    async def slow_package(self: Archive, meeting_id: int) -> Any:
        packaging.set()
        try:
            async with asyncio.timeout(60):  # still packaging when the stop comes
                await stopping.wait()
            await asyncio.sleep(0.5)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise
        result = await package(self, meeting_id)
        outcome.append("finished")
        return result

    async def closing(self: JobRunner) -> None:
        stopping.set()
        await close(self)

    monkeypatch.setattr(JobRunner, "close", closing)
    monkeypatch.setattr(Archive, "package_if_ready", slow_package)
    meeting = await live.running(("P",))
    chair = meeting.chair
    await chair.until(lambda: chair.slot("main").frames > 30, deadline=10)
    await chair.call("end_meeting", {"meeting_id": meeting.id})
    await asyncio.wait_for(packaging.wait(), 180)
    await asyncio.wait_for(server.close(), 60)
    assert outcome == ["finished"]


async def test_a_package_a_crash_left_unmade_is_made_when_the_server_starts_again(
    live, org, clients, server, settings, clock, throttle, monkeypatch
):
    """The recording was processed and the minutes approved, but the server died before it
    recorded the meeting's package (here packaging does nothing, and a package stands in the
    store with no row, as when the server dies between writing it and committing it): the
    next start packages the meeting, and the unrecorded package is kept aside, not used."""
    package = Archive.package_if_ready

    async def dies_first(self: Archive, meeting_id: int) -> None:
        return None

    monkeypatch.setattr(Archive, "package_if_ready", dies_first)
    meeting = await live.running(("P",))
    chair = meeting.chair
    await chair.until(lambda: chair.slot("main").frames > 30, deadline=10)
    await chair.call("end_meeting", {"meeting_id": meeting.id})
    sec = await clients("sec_p")
    assert (await wait_for_job(sec, meeting.id))["job"]["state"] == "done"
    chair_http = await clients("chair_p")
    approved = await chair_http.post(f"/api/meetings/{meeting.id}/minutes/1/approve")
    assert approved.status == 200, approved.text
    archivist = await clients("arch")
    assert (await archivist.get(f"/api/archive/meetings/{meeting.id}")).status == 404
    unrecorded = settings.var_dir / "unrecorded.pdf"
    unrecorded.write_bytes(b"%PDF-1.7 written before the crash")
    store = server.app[SERVICES].archive.store
    store.put(archive.package_key(meeting.id, 1), {"minutes.pdf": unrecorded})

    await server.close()
    monkeypatch.setattr(Archive, "package_if_ready", package)
    app = create_app(settings, passwords=Passwords(FAST_HASHER), clock=clock, throttle=throttle)
    restarted = TestServer(app)
    await restarted.start_server(**runner_options())
    client = Client(restarted)
    try:
        login = await client.post("/api/session", {"username": "arch", "password": PASSWORD})
        assert login.status == 200, login.text
        page = await wait_for_package(client, meeting.id, 1)
        assert page["package"]["integrity"] == "ok"
        names = {f["name"] for f in page["package"]["files"]}
        assert {"composite.mp4", "minutes.pdf", "minutes.docx", "meeting.json"} <= names
        package_id = page["package"]["id"]
        minutes = await client.get(f"/api/archive/packages/{package_id}/files/minutes.pdf")
        assert minutes.status == 200 and minutes.data != unrecorded.read_bytes()
        aside = sorted((settings.archive_dir / ".orphaned").iterdir())
        assert [p.name.startswith(f"meetings-{meeting.id:06d}-v001-") for p in aside] == [True]
        assert (aside[0] / "minutes.pdf").read_bytes() == unrecorded.read_bytes()
    finally:
        await client.close()
        await restarted.close()
