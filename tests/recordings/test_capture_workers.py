"""Capture with the media in two worker processes: the recorder, in the server's process,
gets one relayed copy of each hall's streams and writes segments that decode."""

from __future__ import annotations

import pytest

from tests.recordings.test_capture import (
    test_a_hall_that_rejoins_gets_new_segments,
    test_each_hall_is_recorded_in_segments_that_decode,
)

__all__ = [
    "test_a_hall_that_rejoins_gets_new_segments",
    "test_each_hall_is_recorded_in_segments_that_decode",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.env(GIAOBAN_MEDIA_WORKERS="2", GIAOBAN_MEDIA_WORKER_CAPACITY="2"),
]
