"""A presentation recorded with the media in two worker processes: the recorder, in the
server's process, gets a relayed copy of the presenter's screen and records it as content."""

from __future__ import annotations

import pytest

from tests.recordings.test_content_recorded import (
    test_a_presentation_is_recorded_composed_and_minuted,
)

__all__ = ["test_a_presentation_is_recorded_composed_and_minuted"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.env(GIAOBAN_MEDIA_WORKERS="2", GIAOBAN_MEDIA_WORKER_CAPACITY="2"),
]
