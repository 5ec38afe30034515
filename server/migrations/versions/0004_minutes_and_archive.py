"""minutes and archive

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 05:54:29.845716
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        sa.Column("package_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(length=1000), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_at", ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_meeting_id"), ["meeting_id"], unique=False)

    op.create_table(
        "minutes_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum("draft", "approved", name="minutesstate", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column(
            "content",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("replaces_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=False),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_minutes_versions_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["replaces_id"],
            ["minutes_versions.id"],
            name=op.f("fk_minutes_versions_replaces_id_minutes_versions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_minutes_versions")),
        sa.UniqueConstraint("meeting_id", "version", name=op.f("uq_minutes_versions_meeting_id")),
    )
    with op.batch_alter_table("minutes_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_minutes_versions_meeting_id"), ["meeting_id"], unique=False
        )

    op.create_table(
        "archive_packages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("minutes_version_id", sa.Integer(), nullable=True),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column(
            "state",
            sa.Enum("active", "disposed", name="packagestate", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("retention_class", sa.String(length=20), nullable=False),
        sa.Column("dispose_after", sa.DateTime(), nullable=True),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("hold_reason", sa.String(length=500), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("last_verified_at", sa.DateTime(), nullable=True),
        sa.Column("integrity", sa.String(length=20), nullable=False),
        sa.Column(
            "integrity_detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_archive_packages_meeting_id_meetings"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["minutes_version_id"],
            ["minutes_versions.id"],
            name=op.f("fk_archive_packages_minutes_version_id_minutes_versions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_packages")),
        sa.UniqueConstraint("key", name=op.f("uq_archive_packages_key")),
        sa.UniqueConstraint("meeting_id", "version", name=op.f("uq_archive_packages_meeting_id")),
    )
    with op.batch_alter_table("archive_packages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_archive_packages_meeting_id"), ["meeting_id"], unique=False
        )

    op.create_table(
        "archive_tombstones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("disposed_at", sa.DateTime(), nullable=False),
        sa.Column("disposed_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "files",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["archive_packages.id"],
            name=op.f("fk_archive_tombstones_package_id_archive_packages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_tombstones")),
        sa.UniqueConstraint("package_id", name=op.f("uq_archive_tombstones_package_id")),
    )
    with op.batch_alter_table("archive_tombstones", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_archive_tombstones_meeting_id"), ["meeting_id"], unique=False
        )

    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("authority", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("office", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("place", sa.String(length=200), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.drop_column("place")
        batch_op.drop_column("office")
        batch_op.drop_column("authority")

    with op.batch_alter_table("archive_tombstones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_archive_tombstones_meeting_id"))

    op.drop_table("archive_tombstones")
    with op.batch_alter_table("archive_packages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_archive_packages_meeting_id"))

    op.drop_table("archive_packages")
    with op.batch_alter_table("minutes_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_minutes_versions_meeting_id"))

    op.drop_table("minutes_versions")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_meeting_id"))
        batch_op.drop_index("ix_audit_at")

    op.drop_table("audit_log")
