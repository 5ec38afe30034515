"""hall feed keys: a random, rotatable key per hall for its calendar feed

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-06 23:30:00.000000

The feed key was derived from the server's secret and the hall id, so it could never be
changed. Keys are now made at random on first need: feed URLs given out before this revision
stop working (subscribe again from ``GET /api/halls/{id}/feed``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("halls") as batch:
        batch.add_column(sa.Column("feed_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("feed_key_rotated_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("halls") as batch:
        batch.drop_column("feed_key_rotated_at")
        batch.drop_column("feed_key")
