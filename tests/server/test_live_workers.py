"""The live meeting's contracts again, with the media in two worker processes and a meeting
spread over both (two peers per worker: the halls' streams cross by the cascade link)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from server.state import SERVICES
from tests.media.media_testkit import GREEN, RED
from tests.server.live_kit import live, sees
from tests.server.test_content import (
    test_a_presenter_in_a_hall_asks_and_the_chair_switches_presenters,
)
from tests.server.test_live import (
    test_a_speaker_whose_picture_freezes_gives_the_main_screen_to_the_chair_hall,
    test_each_hall_receives_the_chair_and_the_speaker_and_decodes_them,
    test_muting_a_hall_stops_its_audio_reaching_the_others,
    test_the_floor_moves_and_the_halls_see_the_new_speaker_within_a_second,
    test_voice_activated_floor_follows_the_loudest_hall,
)

__all__ = [
    "live",
    "test_a_presenter_in_a_hall_asks_and_the_chair_switches_presenters",
    "test_a_speaker_whose_picture_freezes_gives_the_main_screen_to_the_chair_hall",
    "test_each_hall_receives_the_chair_and_the_speaker_and_decodes_them",
    "test_muting_a_hall_stops_its_audio_reaching_the_others",
    "test_the_floor_moves_and_the_halls_see_the_new_speaker_within_a_second",
    "test_voice_activated_floor_follows_the_loudest_hall",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.env(GIAOBAN_MEDIA_WORKERS="2", GIAOBAN_MEDIA_WORKER_CAPACITY="2"),
]


@pytest.fixture
def db_url(migrated: Callable[[str], str]) -> str:
    """SQLite only: the media, not the database, is what differs here."""
    return migrated("sqlite")


async def test_a_meeting_larger_than_a_worker_is_cascaded_and_leaves_nothing_behind(
    live: Any, org: Any, server: Any
) -> None:
    workers = server.app[SERVICES].media_workers
    assert workers is not None and len(workers.workers) == 2
    meeting = await live.running()
    # Four participants, two per worker: the meeting spans both.
    stats = await workers.stats()
    assert [s["peers"] for s in stats] == [2, 2], stats
    async with aiohttp.ClientSession() as http, http.get(server.make_url("/api/health")) as r:
        health = await r.json()
    assert health["media_workers"] == [
        {"name": "w1", "alive": True, "peers": 2, "node": False},
        {"name": "w2", "alive": True, "peers": 2, "node": False},
    ]
    assert (await meeting.chair.call("give_floor", {"hall_id": org.halls["A"]}))["ok"]
    for key in ("P", "B"):
        await sees(meeting.halls[key], "main", GREEN)
    await sees(meeting.halls["B"], "chair", RED)
    assert sum(s["relayed"] for s in await workers.stats()) >= 1  # something crossed

    ended = await meeting.chair.call("end_meeting", {"meeting_id": meeting.id})
    assert ended["ok"], ended
    deadline = time.monotonic() + 10
    while True:
        stats = await workers.stats()
        if all(s["peers"] == s["sources"] == s["tracks"] == s["relayed"] == 0 for s in stats):
            break
        assert time.monotonic() < deadline, f"left in the workers: {stats}"
        await asyncio.sleep(0.1)
    assert all(s["alive"] for s in stats)


def test_media_stays_in_process_embedded_and_goes_to_one_worker_per_core_scaled_out() -> None:
    import os

    from server.settings import Settings, SettingsError

    base: dict[str, str] = {}
    assert Settings.from_env(base, create_dirs=False).media_workers == 0
    scaled = base | {"GIAOBAN_REDIS_URL": "redis://r:6379/0", "GIAOBAN_PUBLIC_URL": "https://a"}
    assert Settings.from_env(scaled, create_dirs=False).media_workers == (os.cpu_count() or 1)
    assert Settings.from_env(scaled | {"GIAOBAN_MEDIA_WORKERS": "0"},
                             create_dirs=False).media_workers == 0  # fmt: skip
    auto = base | {"GIAOBAN_MEDIA_WORKERS": "auto"}
    assert Settings.from_env(auto, create_dirs=False).media_workers == (os.cpu_count() or 1)
    for wrong in ("two", "-1", "1000"):
        with pytest.raises(SettingsError, match="GIAOBAN_MEDIA_WORKERS"):
            Settings.from_env(base | {"GIAOBAN_MEDIA_WORKERS": wrong}, create_dirs=False)
