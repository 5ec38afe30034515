"""Persisted records of the organisation and of scheduling.

Times are aware UTC datetimes (stored as naive UTC); local time (Asia/Ho_Chi_Minh) is only for
input and display, see :mod:`rooms.localtime`.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rooms.db import Base, UTCDateTime, json_type, str_enum, utcnow

TITLE_MAX = 200
NAME_MAX = 200
TEXT_MAX = 5000


class UnitLevel(enum.StrEnum):
    PROVINCE = "province"
    DISTRICT = "district"
    COMMUNE = "commune"


class RoleName(enum.StrEnum):
    ADMIN = "admin"
    SECRETARIAT = "secretariat"
    CHAIR = "chair"
    ARCHIVIST = "archivist"


class MeetingState(enum.StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


class SeriesState(enum.StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


class Unit(Base):
    """An administrative unit: the province, a district, a commune. Units form a tree."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(NAME_MAX))
    level: Mapped[UnitLevel] = mapped_column(str_enum(UnitLevel))
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("units.id", ondelete="RESTRICT"), index=True
    )
    authority: Mapped[str] = mapped_column(sa.String(NAME_MAX), default="", server_default="")
    """The governing body as documents head it, e.g. "UBND TỈNH QUẢNG BÌNH"."""
    office: Mapped[str] = mapped_column(sa.String(NAME_MAX), default="", server_default="")
    """The issuing body of its minutes, e.g. "VĂN PHÒNG UBND TỈNH"."""
    place: Mapped[str] = mapped_column(sa.String(NAME_MAX), default="", server_default="")
    """The place name of its documents' date line, e.g. "Quảng Bình"."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    halls: Mapped[list[Hall]] = relationship(back_populates="unit", order_by="Hall.id")


class Hall(Base):
    """A meeting room of a unit ("điểm cầu"): the unit of attendance."""

    __tablename__ = "halls"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(sa.String(NAME_MAX))
    address: Mapped[str] = mapped_column(sa.String(NAME_MAX), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    feed_key: Mapped[str | None] = mapped_column(sa.String(64))
    """The key in the hall's calendar-feed URL: random, made on first need, replaced when an
    admin rotates it (the old URL then answers 404)."""
    feed_key_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    unit: Mapped[Unit] = relationship(back_populates="halls")
    terminals: Mapped[list[Terminal]] = relationship(back_populates="hall", order_by="Terminal.id")


class Terminal(Base):
    """The device of a hall that joins meetings, paired by a secret token (its hash is kept)."""

    __tablename__ = "terminals"

    id: Mapped[int] = mapped_column(primary_key=True)
    hall_id: Mapped[int] = mapped_column(sa.ForeignKey("halls.id", ondelete="RESTRICT"), index=True)
    label: Mapped[str] = mapped_column(sa.String(NAME_MAX))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    hall: Mapped[Hall] = relationship(back_populates="terminals")


class User(Base):
    """A person who logs in: admin, secretariat, chair or archivist."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(NAME_MAX))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin", order_by="UserRole.id"
    )


class UserRole(Base):
    """One role of a user, scoped to a unit (and the units below it); admin has no unit."""

    __tablename__ = "user_roles"
    __table_args__ = (sa.UniqueConstraint("user_id", "role", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[RoleName] = mapped_column(str_enum(RoleName))
    unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id", ondelete="RESTRICT"))

    user: Mapped[User] = relationship(back_populates="roles")


series_halls = sa.Table(
    "series_halls",
    Base.metadata,
    sa.Column("series_id", sa.ForeignKey("series.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("hall_id", sa.ForeignKey("halls.id", ondelete="RESTRICT"), primary_key=True),
)

meeting_halls = sa.Table(
    "meeting_halls",
    Base.metadata,
    sa.Column("meeting_id", sa.ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "hall_id", sa.ForeignKey("halls.id", ondelete="RESTRICT"), primary_key=True, index=True
    ),
)


class Series(Base):
    """A recurring meeting from an RFC 5545 rule; its occurrences are materialised as Meetings."""

    __tablename__ = "series"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(sa.String(TITLE_MAX))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    rrule: Mapped[str] = mapped_column(sa.String(500))
    first_start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_minutes: Mapped[int]
    until_at: Mapped[datetime] = mapped_column(UTCDateTime)
    """The last instant an occurrence may start: the rule's own end, or the horizon."""
    chair_hall_id: Mapped[int] = mapped_column(sa.ForeignKey("halls.id", ondelete="RESTRICT"))
    chair_user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"))
    agenda: Mapped[list[dict[str, Any]]] = mapped_column(json_type(), default=list)
    auto_record: Mapped[bool] = mapped_column(default=True)
    state: Mapped[SeriesState] = mapped_column(str_enum(SeriesState), default=SeriesState.ACTIVE)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    halls: Mapped[list[Hall]] = relationship(
        secondary=series_halls, order_by="Hall.id", lazy="selectin"
    )


class Meeting(Base):
    """The scheduled, persisted record of a meeting (one occurrence, when part of a series)."""

    __tablename__ = "meetings"
    __table_args__ = (
        sa.Index("ix_meetings_start_end", "start_at", "end_at"),
        sa.UniqueConstraint("series_id", "occurrence_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(sa.String(TITLE_MAX))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    chair_hall_id: Mapped[int] = mapped_column(sa.ForeignKey("halls.id", ondelete="RESTRICT"))
    chair_user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"))
    state: Mapped[MeetingState] = mapped_column(
        str_enum(MeetingState), default=MeetingState.SCHEDULED, index=True
    )
    auto_record: Mapped[bool] = mapped_column(default=True)
    series_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("series.id", ondelete="SET NULL"), index=True
    )
    occurrence_key: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """For an occurrence of a series: the start the rule gave it (kept when it is moved)."""
    is_exception: Mapped[bool] = mapped_column(default=False)
    """An occurrence moved, edited or cancelled on its own; series edits leave it alone."""
    cancel_reason: Mapped[str] = mapped_column(sa.String(500), default="")
    sequence: Mapped[int] = mapped_column(default=0)
    """iCalendar SEQUENCE: bumped on every change a calendar client should see."""
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    unit: Mapped[Unit] = relationship(lazy="joined")
    chair_hall: Mapped[Hall] = relationship(lazy="joined")
    chair_user: Mapped[User] = relationship(lazy="joined", foreign_keys=[chair_user_id])
    halls: Mapped[list[Hall]] = relationship(
        secondary=meeting_halls, order_by="Hall.id", lazy="selectin"
    )
    agenda: Mapped[list[AgendaItem]] = relationship(
        back_populates="meeting",
        cascade="all, delete-orphan",
        order_by="AgendaItem.position",
        lazy="selectin",
    )

    @property
    def hall_ids(self) -> set[int]:
        """Every hall taking part: the invited halls and the chair hall."""
        return {h.id for h in self.halls} | {self.chair_hall_id}


class AgendaItem(Base):
    """One ordered item of a meeting's agenda."""

    __tablename__ = "agenda_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(
        sa.ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]
    title: Mapped[str] = mapped_column(sa.String(TITLE_MAX))
    presenter: Mapped[str] = mapped_column(sa.String(NAME_MAX), default="")
    planned_minutes: Mapped[int] = mapped_column(default=0)

    meeting: Mapped[Meeting] = relationship(back_populates="agenda")


class TimelineKind(enum.StrEnum):
    """What happened in a meeting; the timeline drives layout, chapters, minutes, attendance."""

    MEETING_STARTED = "meeting_started"
    MEETING_ENDED = "meeting_ended"
    JOIN = "join"
    LEAVE = "leave"
    RECONNECT = "reconnect"
    REMOVED = "removed"
    READMITTED = "readmitted"
    """The chair let a removed hall join again."""
    FLOOR = "floor"
    """``hall_id`` holds the floor now (None: the floor was taken back)."""
    MUTE = "mute"
    """``data``: muted, locked, by."""
    HAND = "hand"
    """``data``: raised."""
    ROLL_CALL_STARTED = "roll_call_started"
    ROLL_CALL_ANSWER = "roll_call_answer"
    ROLL_CALL_ENDED = "roll_call_ended"
    AGENDA_ITEM = "agenda_item"
    VOICE_ACTIVATED = "voice_activated"
    RECORDING_STARTED = "recording_started"
    RECORDING_STOPPED = "recording_stopped"
    CONTENT_STARTED = "content_started"
    """Content (a shared screen) is presented from ``hall_id``'s side; ``data``: presenter
    (the name shown: a person's full name, or the hall's name), participant (its id)."""
    CONTENT_STOPPED = "content_stopped"
    """Nobody presents content now; ``data``: reason (stopped, taken, left)."""


class TimelineEvent(Base):
    """One event of a meeting's timeline, stored as it happens."""

    __tablename__ = "timeline_events"
    __table_args__ = (sa.Index("ix_timeline_meeting_at", "meeting_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meetings.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[TimelineKind] = mapped_column(str_enum(TimelineKind))
    hall_id: Mapped[int | None] = mapped_column(sa.ForeignKey("halls.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(sa.String(64), default="")
    """Who caused it: ``user:ID``, ``terminal:ID``, ``hall:ID``, or ``system``."""
    data: Mapped[dict[str, Any]] = mapped_column(json_type(), default=dict)


class MeetingDocument(Base):
    """A document that goes out with a meeting (or one agenda item): PDF, DOCX or XLSX."""

    __tablename__ = "meeting_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(
        sa.ForeignKey("meetings.id", ondelete="RESTRICT"), index=True
    )
    agenda_item_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("agenda_items.id", ondelete="SET NULL")
    )
    filename: Mapped[str] = mapped_column(sa.String(NAME_MAX))
    """As the secretariat named it (NFC), with the extension of its ``kind``."""
    kind: Mapped[str] = mapped_column(sa.String(8))
    """``pdf``, ``docx`` or ``xlsx``, found from the content, not the name."""
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    uploaded_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HallStatus(Base):
    """A hall's terminal as last seen (issue 13, readiness): online on which node, its self-test
    (camera, microphone), its link and its page's version. One row per hall, shared by nodes."""

    __tablename__ = "hall_status"

    hall_id: Mapped[int] = mapped_column(
        sa.ForeignKey("halls.id", ondelete="CASCADE"), primary_key=True
    )
    online: Mapped[bool] = mapped_column(default=False)
    node_id: Mapped[str | None] = mapped_column(sa.String(64))
    """The node whose socket made it online (rows of a dead node count as offline)."""
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When the terminal last sent its self-test (``terminal_status``)."""
    camera: Mapped[str | None] = mapped_column(sa.String(16))
    microphone: Mapped[str | None] = mapped_column(sa.String(16))
    camera_label: Mapped[str | None] = mapped_column(sa.String(NAME_MAX))
    mic_label: Mapped[str | None] = mapped_column(sa.String(NAME_MAX))
    mic_level: Mapped[int | None]
    version: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(NAME_MAX))
    loss: Mapped[float | None] = mapped_column(sa.Float())
    rtt_ms: Mapped[float | None] = mapped_column(sa.Float())
