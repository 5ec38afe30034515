"""Post-processing with several nodes on one database: each job runs once, and a node that
starts leaves alone what the other live nodes are doing (recordings/jobs.py)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from recordings.capture import RecordingSettings
from recordings.jobs import Elsewhere, JobRunner
from recordings.models import JobState, ProcessingJob
from server.db import Database
from tests.conftest import Client, meeting_body


async def _jobs(db: Database, clients, org, runners: list[str]) -> list[int]:
    sec: Client = await clients("sec_p")
    created = await sec.post("/api/meetings", meeting_body(org))
    assert created.status == 201, created.text
    async with db.session() as session:
        rows = [
            ProcessingJob(meeting_id=created.body["id"], state=JobState.RUNNING, runner=r)
            for r in runners
        ]
        session.add_all(rows)
        await session.commit()
        return [r.id for r in rows]


async def _job(db: Database, job_id: int) -> ProcessingJob:
    async with db.session() as session:
        job = await session.scalar(sa.select(ProcessingJob).where(ProcessingJob.id == job_id))
        assert job is not None
        return job


async def test_a_starting_node_requeues_only_the_jobs_of_nodes_that_are_gone(
    db, server, clients, org, tmp_path: Path
):
    alive_job, dead_job = await _jobs(db, clients, org, ["n2", "n3"])

    async def elsewhere() -> Elsewhere:
        return Elsewhere(runners=frozenset({"n2"}))

    runner = JobRunner(db.sessions, RecordingSettings(tmp_path), runner="n1", elsewhere=elsewhere)
    await runner.recover()
    assert (await _job(db, alive_job)).state is JobState.RUNNING  # n2 is still at it
    resumed = await _job(db, dead_job)
    assert (resumed.state, resumed.step) == (JobState.QUEUED, "resumed after a restart")


async def test_a_job_another_node_has_claimed_is_not_run_again(
    db, server, clients, org, tmp_path: Path
):
    (job_id,) = await _jobs(db, clients, org, ["n2"])
    runner = JobRunner(db.sessions, RecordingSettings(tmp_path), runner="n1")
    await runner._run(job_id)  # what its loop does with a job it saw queued a moment ago
    job = await _job(db, job_id)
    assert (job.state, job.runner, job.attempts) == (JobState.RUNNING, "n2", 0)
