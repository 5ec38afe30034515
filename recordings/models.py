"""What the recorder and the post-processing keep in the database."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from rooms.db import Base, UTCDateTime, json_type, str_enum, utcnow


class SegmentState(enum.StrEnum):
    WRITING = "writing"
    COMPLETE = "complete"
    REPAIRED = "repaired"
    """Left unfinished by a crash, remuxed on restart."""
    BROKEN = "broken"
    """Unfinished and unreadable; kept, not used."""


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class RecordingSegment(Base):
    """One file of one hall's encoded audio and video, as forwarded (never re-encoded)."""

    __tablename__ = "recording_segments"
    __table_args__ = (sa.Index("ix_segments_meeting_hall", "meeting_id", "hall_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meetings.id", ondelete="CASCADE"))
    hall_id: Mapped[int] = mapped_column(sa.ForeignKey("halls.id", ondelete="RESTRICT"))
    path: Mapped[str] = mapped_column(sa.String(500))
    """Relative to the recordings directory; ``.part`` while being written."""
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    """Wall-clock time of the segment's first frame."""
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[SegmentState] = mapped_column(str_enum(SegmentState))
    has_video: Mapped[bool] = mapped_column(default=False)
    has_audio: Mapped[bool] = mapped_column(default=False)
    video_codec: Mapped[str] = mapped_column(sa.String(16), default="")
    width: Mapped[int] = mapped_column(default=0)
    height: Mapped[int] = mapped_column(default=0)
    size: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    note: Mapped[str] = mapped_column(sa.String(500), default="")


class ProcessingJob(Base):
    """Building a meeting's composite video, per-hall files, poster and chapters."""

    __tablename__ = "processing_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(
        sa.ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[JobState] = mapped_column(str_enum(JobState), default=JobState.QUEUED)
    progress: Mapped[float] = mapped_column(default=0.0)
    """0 to 100."""
    step: Mapped[str] = mapped_column(sa.String(100), default="")
    error: Mapped[str] = mapped_column(sa.Text, default="")
    attempts: Mapped[int] = mapped_column(default=0)
    outputs: Mapped[dict[str, Any]] = mapped_column(json_type(), default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
