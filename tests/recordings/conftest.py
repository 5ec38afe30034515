"""Recording tests: SQLite only (the database layer is tested on both elsewhere), short
segments so that a few seconds of meeting make several of them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from server.settings import Settings
from tests.server.live_kit import live

__all__ = ["live"]

SEGMENT_SECONDS = 2.0


@pytest.fixture
def db_url(migrated: Callable[[str], str]) -> str:
    return migrated("sqlite")


@pytest.fixture
def settings(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Short segments; ``@pytest.mark.env(GIAOBAN_X="…")`` adds variables."""
    marker = request.node.get_closest_marker("env")
    return Settings.from_env(
        {
            "GIAOBAN_VAR_DIR": str(tmp_path / "var"),
            "GIAOBAN_DATABASE_URL": db_url,
            "GIAOBAN_SEGMENT_SECONDS": str(SEGMENT_SECONDS),
            "GIAOBAN_RECORDING_MIN_FREE_MB": "1",
            "GIAOBAN_DISK_CHECK_SECONDS": "0.2",
            **(marker.kwargs if marker else {}),
        }
    )
