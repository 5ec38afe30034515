"""A meeting's recording: its segments, the post-processing job, and the files it made."""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from aiohttp import web
from pydantic import BaseModel

from recordings.jobs import job_view, output_dir
from recordings.models import JobState, ProcessingJob, RecordingSegment
from rooms.errors import NotFound, StateError
from rooms.models import Meeting, MeetingState, RoleName
from server.api.routing import Auth, Call, Endpoint
from server.api.schemas import Local
from server.ranges import RangedFile


class SegmentOut(BaseModel):
    hall_id: int
    track: Literal["camera", "content"]
    """The hall's camera and microphone, or the content presented from the hall's side."""
    started_at: Local
    ended_at: Local | None
    state: str
    size: int
    note: str


class JobOut(BaseModel):
    state: Literal["queued", "running", "done", "failed"]
    progress: float
    step: str
    error: str
    attempts: int
    outputs: dict[str, Any]


class RecordingOut(BaseModel):
    meeting_id: int
    segments: list[SegmentOut]
    job: JobOut | None
    files: list[str]


async def _meeting(call: Call) -> Meeting:
    return await call.services.scheduler.get(
        call.session, await call.access(), call.path_id("meeting_id")
    )


async def _job(call: Call, meeting_id: int) -> ProcessingJob | None:
    return await call.session.scalar(
        sa.select(ProcessingJob)
        .where(ProcessingJob.meeting_id == meeting_id)
        .order_by(ProcessingJob.id.desc())
        .limit(1)
    )


async def recording(call: Call) -> RecordingOut:
    meeting = await _meeting(call)
    rows = (
        await call.session.scalars(
            sa.select(RecordingSegment)
            .where(RecordingSegment.meeting_id == meeting.id)
            .order_by(RecordingSegment.hall_id, RecordingSegment.started_at)
        )
    ).all()
    job = await _job(call, meeting.id)
    out = output_dir(call.services.recording, meeting.id)
    files = sorted(p.name for p in out.iterdir() if p.is_file()) if out.is_dir() else []
    return RecordingOut(
        meeting_id=meeting.id,
        segments=[
            SegmentOut(
                hall_id=r.hall_id,
                track=r.track.value,
                started_at=r.started_at,
                ended_at=r.ended_at,
                state=r.state.value,
                size=r.size,
                note=r.note,
            )
            for r in rows
        ],
        job=JobOut.model_validate({k: v for k, v in job_view(job).items() if k != "meeting_id"})
        if job
        else None,
        files=files,
    )


async def recording_file(call: Call) -> web.StreamResponse:
    """A processed file; HTTP Range is honoured, so players seek and downloads resume."""
    meeting = await _meeting(call)
    name = call.request.match_info["name"]
    path = output_dir(call.services.recording, meeting.id) / name
    if not path.is_file():
        raise NotFound(f"no file {name} for meeting {meeting.id}")
    return RangedFile(path, headers={"Cache-Control": "private, max-age=3600"})


async def process_again(call: Call) -> JobOut:
    """Queue the post-processing again (after a failure, say)."""
    meeting = await _meeting(call)
    access = await call.access()
    access.require(RoleName.SECRETARIAT, meeting.unit_id, "Processing a recording")
    if meeting.state is not MeetingState.ENDED:
        raise StateError("the meeting has not ended")
    previous = await _job(call, meeting.id)
    if previous is not None and previous.state in (JobState.QUEUED, JobState.RUNNING):
        raise StateError("the recording is being processed already")
    job = await call.services.live.jobs.enqueue(meeting.id)
    if job is None:
        raise StateError("nothing was recorded")
    return JobOut.model_validate({k: v for k, v in job_view(job).items() if k != "meeting_id"})


ENDPOINTS = (
    Endpoint("GET", "/api/meetings/{meeting_id}/recording", recording,
             "The recording: segments per hall, post-processing state, files",
             auth=Auth.USER, response=RecordingOut, tag="recordings"),
    Endpoint("GET", "/api/meetings/{meeting_id}/recording/files/{name}", recording_file,
             "A processed file (composite.mp4, hall-N.mp4, poster.jpg, chapters.vtt); "
             "supports HTTP Range", auth=Auth.USER, media_type="application/octet-stream",
             tag="recordings"),
    Endpoint("POST", "/api/meetings/{meeting_id}/recording/process", process_again,
             "Queue the post-processing again", auth=Auth.USER, response=JobOut,
             status=202, tag="recordings"),
)  # fmt: skip
