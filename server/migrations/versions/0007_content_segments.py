"""recording segments say which track they hold: a hall's camera or the content presented

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 20:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recording_segments") as batch:
        batch.add_column(
            sa.Column(
                "track",
                sa.Enum("camera", "content", name="segmenttrack", native_enum=False, length=24),
                nullable=False,
                server_default="camera",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("recording_segments") as batch:
        batch.drop_column("track")
