"""recordings

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 05:38:31.743887
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "processing_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "queued", "running", "done", "failed", name="jobstate", native_enum=False, length=24
            ),
            nullable=False,
        ),
        sa.Column("progress", sa.Double(), nullable=False),
        sa.Column("step", sa.String(length=100), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "outputs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_processing_jobs_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processing_jobs")),
    )
    with op.batch_alter_table("processing_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_processing_jobs_meeting_id"), ["meeting_id"], unique=False
        )

    op.create_table(
        "recording_segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("hall_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "writing",
                "complete",
                "repaired",
                "broken",
                name="segmentstate",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("has_video", sa.Boolean(), nullable=False),
        sa.Column("has_audio", sa.Boolean(), nullable=False),
        sa.Column("video_codec", sa.String(length=16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["hall_id"],
            ["halls.id"],
            name=op.f("fk_recording_segments_hall_id_halls"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_recording_segments_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_segments")),
    )
    with op.batch_alter_table("recording_segments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_segments_meeting_hall", ["meeting_id", "hall_id", "started_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("recording_segments", schema=None) as batch_op:
        batch_op.drop_index("ix_segments_meeting_hall")

    op.drop_table("recording_segments")
    with op.batch_alter_table("processing_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_processing_jobs_meeting_id"))

    op.drop_table("processing_jobs")
