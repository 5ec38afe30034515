"""Post-processing jobs: state in the database, one at a time, resumed after a restart.

When a meeting ends, a job is queued; :class:`JobRunner` builds the plan from the segments
and the timeline (:func:`load_plan`) and runs :func:`recordings.compose.compose`, storing the
progress as it goes. A failed job keeps its inputs and says why; it can be queued again. At
start-up (:meth:`JobRunner.recover`) segments left unfinished by a crash are repaired, jobs
that were running are queued again, and ended meetings never processed are queued.

Several nodes on one database (scale-out) each run a :class:`JobRunner`: a job is claimed by
one of them in one conditional update, and a node that starts leaves alone what the other
live nodes are doing (their running jobs, the segments of the meetings they host), as
:class:`Elsewhere` tells it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import av
import ffmpeg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from media.tasks import cancel_and_wait, finish_or_cancel
from recordings.capture import RecordingSettings
from recordings.compose import ComposeError, Event, Plan, Segment, compose, ffmpeg_exe, plan
from recordings.models import JobState, ProcessingJob, RecordingSegment, SegmentState
from rooms.db import utcnow
from rooms.models import Meeting, MeetingState, TimelineKind
from rooms.timeline import events_of

log = logging.getLogger("giaoban.jobs")

USABLE = (SegmentState.COMPLETE, SegmentState.REPAIRED)
Notify = Callable[[int, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Elsewhere:
    """What the other live nodes are doing (scale-out), which a starting node leaves alone."""

    runners: frozenset[str] = frozenset()
    """The other live nodes: the jobs they run are theirs."""
    meetings: frozenset[int] = frozenset()
    """The meetings they host: the segments being written are theirs."""


async def _alone() -> Elsewhere:
    return Elsewhere()


def job_view(job: ProcessingJob) -> dict[str, Any]:
    return {
        "meeting_id": job.meeting_id,
        "state": job.state.value,
        "progress": round(job.progress, 1),
        "step": job.step,
        "error": job.error,
        "attempts": job.attempts,
        "outputs": job.outputs,
    }


def output_dir(settings: RecordingSettings, meeting_id: int) -> Path:
    return settings.directory / str(meeting_id) / "output"


async def load_plan(
    session: AsyncSession, settings: RecordingSettings, meeting_id: int
) -> tuple[Plan, str]:
    """The composite's plan for a meeting, and its title."""
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        raise ComposeError(f"no meeting {meeting_id}")
    events = list(await events_of(session, meeting_id))
    rows = (
        await session.scalars(
            sa.select(RecordingSegment)
            .where(RecordingSegment.meeting_id == meeting_id, RecordingSegment.state.in_(USABLE))
            .order_by(RecordingSegment.started_at)
        )
    ).all()
    if not rows:
        raise ComposeError("nothing was recorded")
    starts = [e.at for e in events if e.kind is TimelineKind.MEETING_STARTED]
    ends = [e.at for e in events if e.kind is TimelineKind.MEETING_ENDED]
    t0 = starts[0] if starts else (meeting.started_at or rows[0].started_at)
    last_segment = max((r.ended_at or r.started_at) for r in rows)
    t1 = ends[-1] if ends else (meeting.ended_at or last_segment)
    duration = (t1 - t0).total_seconds()
    if duration <= 0:
        raise ComposeError("the meeting has no duration")
    names = {h.id: h.name for h in meeting.halls}
    segments = [
        Segment(
            hall_id=r.hall_id,
            path=settings.directory / r.path,
            start=(r.started_at - t0).total_seconds(),
            has_video=r.has_video,
            has_audio=r.has_audio,
            track=r.track.value,
            end=(r.ended_at - t0).total_seconds() if r.ended_at is not None else None,
        )
        for r in rows
        if r.hall_id in names and (r.ended_at is None or r.ended_at > t0) and r.started_at < t1
    ]
    timeline = [
        Event((e.at - t0).total_seconds(), e.kind, e.hall_id, dict(e.data))
        for e in events
        if e.at <= t1
    ]
    composite = plan(
        duration=duration,
        chair_hall_id=meeting.chair_hall_id,
        names=names,
        segments=segments,
        events=timeline,
    )
    return composite, meeting.title


TELL_WAIT = 8.0
"""Seconds a stop waits for what a job's news set off (within the server's own bound for
closing the jobs, ``server.app.SHUTDOWN_TIMEOUT``)."""


class JobRunner:
    """Runs the queued post-processing jobs of this server, one at a time."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: RecordingSettings,
        notify: Notify | None = None,
        *,
        runner: str = "",
        elsewhere: Callable[[], Awaitable[Elsewhere]] = _alone,
    ) -> None:
        self._sessions = sessions
        self.settings = settings
        self._notify = notify
        self.runner = runner
        """This node's name on the jobs it runs."""
        self._elsewhere = elsewhere
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._telling: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.recover()
        self._task = asyncio.create_task(self._loop())

    async def close(self) -> None:
        """Stop; a job cut short is queued again (ffmpeg is killed, its inputs are kept).
        What a job's news set off (the archive's packaging after a job is done) is let
        finish, for ``TELL_WAIT`` at most, rather than cancelled in its database work."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if await finish_or_cancel(set(self._telling), TELL_WAIT):
            log.warning("a job's news was still being handled at the stop; cancelled")

    async def enqueue(self, meeting_id: int) -> ProcessingJob | None:
        """Queue the meeting's processing (once); None when nothing was recorded."""
        async with self._sessions() as session:
            recorded = await session.scalar(
                sa.select(sa.func.count())
                .select_from(RecordingSegment)
                .where(RecordingSegment.meeting_id == meeting_id)
            )
            if not recorded:
                return None
            job = await session.scalar(
                sa.select(ProcessingJob)
                .where(
                    ProcessingJob.meeting_id == meeting_id,
                    ProcessingJob.state.in_((JobState.QUEUED, JobState.RUNNING)),
                )
                .limit(1)
            )
            if job is None:
                job = ProcessingJob(meeting_id=meeting_id, state=JobState.QUEUED)
                session.add(job)
                await session.commit()
                log.info("meeting %s: post-processing queued (job %s)", meeting_id, job.id)
        self._wake.set()
        return job

    async def recover(self) -> None:
        """After a (re)start: repair segments, queue interrupted and missing jobs (leaving
        alone those of the other live nodes)."""
        elsewhere = await self._elsewhere()
        async with self._sessions() as session:
            live = set(
                (await session.scalars(
                    sa.select(Meeting.id).where(Meeting.state == MeetingState.LIVE)
                )).all()
            )  # fmt: skip
            unfinished = await self._repair(
                session, ~RecordingSegment.meeting_id.in_(elsewhere.meetings)
            )
            await session.execute(
                sa.update(ProcessingJob)
                .where(ProcessingJob.state == JobState.RUNNING)
                .where(ProcessingJob.runner.not_in(elsewhere.runners))
                .values(state=JobState.QUEUED, step="resumed after a restart")
            )
            await session.commit()
            ended_recorded = (
                await session.scalars(
                    sa.select(RecordingSegment.meeting_id)
                    .join(Meeting, Meeting.id == RecordingSegment.meeting_id)
                    .where(Meeting.state == MeetingState.ENDED)
                    .where(~RecordingSegment.meeting_id.in_(sa.select(ProcessingJob.meeting_id)))
                    .distinct()
                )
            ).all()
        if unfinished:
            log.info("repaired %d unfinished segment(s)", unfinished)
        for meeting_id in ended_recorded:
            if meeting_id not in live:
                await self.enqueue(meeting_id)
        self._wake.set()

    async def repair(self, meeting_id: int) -> int:
        """Close the segments of a live meeting that its previous host left being written
        (the host died; this node takes the meeting over). Returns how many."""
        async with self._sessions() as session:
            count = await self._repair(session, RecordingSegment.meeting_id == meeting_id)
            await session.commit()
        if count:
            log.info("meeting %s: repaired %d segment(s) left by its last host", meeting_id, count)
        return count

    async def _repair(self, session: AsyncSession, which: sa.ColumnElement[bool]) -> int:
        unfinished = (
            await session.scalars(
                sa.select(RecordingSegment).where(
                    RecordingSegment.state == SegmentState.WRITING, which
                )
            )
        ).all()
        for row in unfinished:
            await asyncio.to_thread(repair, row, self.settings.directory)
        return len(unfinished)

    async def _loop(self) -> None:
        while True:
            async with self._sessions() as session:
                job = await session.scalar(
                    sa.select(ProcessingJob)
                    .where(ProcessingJob.state == JobState.QUEUED)
                    .order_by(ProcessingJob.id)
                    .limit(1)
                )
            if job is None:
                self._wake.clear()
                # asyncio.timeout, not wait_for: Python 3.11's wait_for loses a cancel that
                # comes as the wait ends, and a stop then waited for its bound.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(10):
                        await self._wake.wait()
                continue
            await self._run(job.id)

    async def _run(self, job_id: int) -> None:
        async with self._sessions() as session:
            claimed = await session.execute(
                sa.update(ProcessingJob)
                .where(ProcessingJob.id == job_id, ProcessingJob.state == JobState.QUEUED)
                .values(state=JobState.RUNNING, progress=0.0, error="", runner=self.runner,
                        attempts=ProcessingJob.attempts + 1, started_at=utcnow())
            )  # fmt: skip
            await session.commit()
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return  # another node took it first
            job = await session.get(ProcessingJob, job_id)
            assert job is not None
            meeting_id = job.meeting_id
            await self._tell(job)
        last = [0.0]

        async def progress(percent: float, step: str) -> None:
            now = time.monotonic()
            if now - last[0] < 0.5 and percent < 100:
                return
            last[0] = now
            async with self._sessions() as session:
                row = await session.get(ProcessingJob, job_id)
                if row is not None:
                    row.progress, row.step = percent, step
                    await session.commit()
                    await self._tell(row)

        try:
            async with self._sessions() as session:
                composite, title = await load_plan(session, self.settings, meeting_id)
            out = output_dir(self.settings, meeting_id)
            work = self.settings.directory / str(meeting_id) / "work"
            made = await compose(composite, title, out, work, progress)
        except asyncio.CancelledError:
            async with self._sessions() as session:
                await session.execute(
                    sa.update(ProcessingJob)
                    .where(ProcessingJob.id == job_id)
                    .values(state=JobState.QUEUED, step="interrupted")
                )
                await session.commit()
            raise
        except Exception as exc:
            log.exception("meeting %s: post-processing failed", meeting_id)
            await self._finish(job_id, JobState.FAILED, error=str(exc) or type(exc).__name__)
            return
        made["duration"] = round(composite.duration, 3)
        made["chapter_list"] = [
            {"start": c.start, "end": c.end, "title": c.title, "kind": c.kind}
            for c in composite.chapters
        ]
        await self._finish(job_id, JobState.DONE, outputs=made)
        log.info("meeting %s: post-processing done", meeting_id)

    async def _finish(
        self,
        job_id: int,
        state: JobState,
        *,
        error: str = "",
        outputs: dict[str, Any] | None = None,
    ) -> None:
        async with self._sessions() as session:
            job = await session.get(ProcessingJob, job_id)
            assert job is not None
            job.state = state
            job.error = error
            job.finished_at = utcnow()
            if outputs is not None:
                job.outputs = outputs
                job.progress = 100.0
                job.step = "done"
            await session.commit()
            await self._tell(job)

    async def _tell(self, job: ProcessingJob) -> None:
        if self._notify is None:
            return
        # A task of its own, which a stop waits for instead of cancelling (see close()).
        telling = asyncio.create_task(self._told(self._notify, job.meeting_id, job_view(job)))
        self._telling.add(telling)
        telling.add_done_callback(self._telling.discard)
        await asyncio.shield(telling)

    @staticmethod
    async def _told(notify: Notify, meeting_id: int, view: dict[str, Any]) -> None:
        try:
            await notify(meeting_id, view)
        except Exception:
            log.exception("meeting %s: could not push the job's progress", meeting_id)


def repair(row: RecordingSegment, directory: Path) -> None:
    """Close a segment a crash left unfinished: remux what it holds (no re-encoding).

    Updates ``row`` in place (the caller commits): ``repaired`` with its real end, or
    ``broken`` with the reason.
    """
    part = directory / row.path
    final = part.with_suffix("") if part.suffix == ".part" else part
    if not part.exists():
        row.state, row.note = SegmentState.BROKEN, "the file is missing"
        return
    try:
        (
            ffmpeg.input(str(part), f="matroska")
            .output(str(final), c="copy", f="matroska")
            .global_args("-hide_banner", "-loglevel", "error", "-y")
            .run(cmd=ffmpeg_exe(), capture_stdout=True, capture_stderr=True)
        )
        with av.open(str(final)) as container:
            seconds = max(
                (
                    float(p.pts * p.time_base)
                    for p in container.demux()
                    if p.pts is not None and p.time_base is not None
                ),
                default=0.0,
            )
    except (ffmpeg.Error, av.FFmpegError, OSError) as exc:
        detail = (
            exc.stderr.decode(errors="replace")[-300:] if isinstance(exc, ffmpeg.Error) else exc
        )
        row.state, row.note = SegmentState.BROKEN, f"cannot be read: {detail}"
        return
    if seconds <= 0:
        row.state, row.note = SegmentState.BROKEN, "holds no frame"
        return
    if final != part:
        part.unlink(missing_ok=True)
    row.path = str(final.relative_to(directory))
    row.ended_at = row.started_at + timedelta(seconds=seconds)
    row.size = final.stat().st_size
    row.state = SegmentState.REPAIRED
    row.note = "closed after a crash"
