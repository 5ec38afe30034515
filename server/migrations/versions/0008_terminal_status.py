"""hall readiness: each hall terminal's online state, self-test and link

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 20:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hall_status",
        sa.Column(
            "hall_id",
            sa.Integer(),
            sa.ForeignKey("halls.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(), nullable=True),
        sa.Column("reported_at", sa.DateTime(), nullable=True),
        sa.Column("camera", sa.String(length=16), nullable=True),
        sa.Column("microphone", sa.String(length=16), nullable=True),
        sa.Column("camera_label", sa.String(length=200), nullable=True),
        sa.Column("mic_label", sa.String(length=200), nullable=True),
        sa.Column("mic_level", sa.Integer(), nullable=True),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.Column("loss", sa.Float(), nullable=True),
        sa.Column("rtt_ms", sa.Float(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("hall_status")
