"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import recordings.models  # noqa: F401  (registers its tables)
import server.models  # noqa: F401  (registers its tables)
from rooms.db import Base
from server.db import Database, head_revision


async def test_migrated_schema_matches_the_models(db: Database):
    def diff(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata), context.get_current_revision()

    async with db.engine.connect() as conn:
        differences, revision = await conn.run_sync(diff)
    assert differences == []
    assert revision == head_revision()
