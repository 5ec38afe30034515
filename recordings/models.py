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


class SegmentTrack(enum.StrEnum):
    CAMERA = "camera"
    """A hall's own camera and microphone."""
    CONTENT = "content"
    """The content (a shared screen) presented from the hall's side: video only."""


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class RecordingSegment(Base):
    """One file of one hall's encoded audio and video, or of the content presented from the
    hall's side, as forwarded (never re-encoded)."""

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
    track: Mapped[SegmentTrack] = mapped_column(
        str_enum(SegmentTrack), default=SegmentTrack.CAMERA, server_default="camera"
    )
    """``camera`` (the hall's camera and microphone) or ``content`` (a shared screen)."""
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
    runner: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    """The node running it (scale-out: a node that starts resumes only dead nodes' jobs)."""
    outputs: Mapped[dict[str, Any]] = mapped_column(json_type(), default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MinutesState(enum.StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"


class MinutesVersion(Base):
    """One version of a meeting's minutes ("biên bản"): a draft, then approved and frozen.

    A correction of an approved version is a new version that names the one it replaces.
    """

    __tablename__ = "minutes_versions"
    __table_args__ = (sa.UniqueConstraint("meeting_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(
        sa.ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int]
    state: Mapped[MinutesState] = mapped_column(str_enum(MinutesState), default=MinutesState.DRAFT)
    content: Mapped[dict[str, Any]] = mapped_column(json_type(), default=dict)
    """Everything the document shows, drafted from the timeline and edited by the secretariat."""
    replaces_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("minutes_versions.id", ondelete="SET NULL")
    )
    created_by: Mapped[str] = mapped_column(sa.String(64), default="system")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    approved_by: Mapped[str] = mapped_column(sa.String(64), default="")
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pdf_sha256: Mapped[str] = mapped_column(sa.String(64), default="")


class PackageState(enum.StrEnum):
    ACTIVE = "active"
    DISPOSED = "disposed"


class ArchivePackage(Base):
    """One immutable package of a meeting in the archive store (a new one per minutes version)."""

    __tablename__ = "archive_packages"
    __table_args__ = (sa.UniqueConstraint("meeting_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(
        sa.ForeignKey("meetings.id", ondelete="RESTRICT"), index=True
    )
    version: Mapped[int]
    minutes_version_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("minutes_versions.id", ondelete="SET NULL")
    )
    key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    """Where the store keeps it (a directory, or an object-key prefix)."""
    state: Mapped[PackageState] = mapped_column(str_enum(PackageState), default=PackageState.ACTIVE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    manifest_sha256: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    retention_class: Mapped[str] = mapped_column(sa.String(20))
    dispose_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """The earliest disposal date (None: kept permanently)."""
    legal_hold: Mapped[bool] = mapped_column(default=False)
    hold_reason: Mapped[str] = mapped_column(sa.String(500), default="")
    search_text: Mapped[str] = mapped_column(sa.Text, default="")
    """Title, halls, agenda and minutes, lower case without diacritics (for search)."""
    last_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    integrity: Mapped[str] = mapped_column(sa.String(20), default="unverified")
    """``ok``, ``damaged`` or ``unverified``."""
    integrity_detail: Mapped[list[dict[str, Any]]] = mapped_column(json_type(), default=list)


class Tombstone(Base):
    """What was disposed of, when, by whom and why (kept for good)."""

    __tablename__ = "archive_tombstones"

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(sa.ForeignKey("archive_packages.id"), unique=True)
    meeting_id: Mapped[int] = mapped_column(index=True)
    version: Mapped[int]
    title: Mapped[str] = mapped_column(sa.String(200))
    disposed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    disposed_by: Mapped[str] = mapped_column(sa.String(64))
    reason: Mapped[str] = mapped_column(sa.String(1000))
    manifest_sha256: Mapped[str] = mapped_column(sa.String(64))
    files: Mapped[list[dict[str, Any]]] = mapped_column(json_type(), default=list)


class AuditEntry(Base):
    """Every view, download and change in the archive: who, what, when."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(sa.String(64))
    actor_name: Mapped[str] = mapped_column(sa.String(200), default="")
    action: Mapped[str] = mapped_column(sa.String(40))
    meeting_id: Mapped[int | None] = mapped_column(index=True)
    package_id: Mapped[int | None]
    detail: Mapped[str] = mapped_column(sa.String(1000), default="")
