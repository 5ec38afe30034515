"""A district's media on the district's machine: a media node (``giaoban media-node``, a
process of its own here) carries district A's hall; the province node carries the others;
each stream crosses once, and the halls see each other as in one process."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.settings import Settings
from server.state import SERVICES
from tests.media.media_testkit import BLUE, GREEN, RED
from tests.server.live_kit import live, sees

__all__ = ["live"]

pytestmark = pytest.mark.slow

SECRET = "district-and-province-share-this"


@pytest.fixture
def db_url(migrated: Callable[[str], str]) -> str:
    return migrated("sqlite")


@pytest.fixture
async def media_node(tmp_path: Path) -> AsyncIterator[int]:
    """``giaoban media-node`` on a port of its choosing; yields the port."""
    env = {**os.environ, "GIAOBAN_MEDIA_SECRET": SECRET, "GIAOBAN_VAR_DIR": str(tmp_path / "node")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "media-node", "--listen", "127.0.0.1:0",
        env=env, stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        async with asyncio.timeout(30):
            line = (await process.stdout.readline()).decode()
        found = re.search(r"listening on [^ ]+:(\d+)", line)
        assert found, line
        yield int(found.group(1))
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


@pytest.fixture
def settings(db_url: str, tmp_path: Path, media_node: int) -> Settings:
    return Settings.from_env(
        {
            "GIAOBAN_VAR_DIR": str(tmp_path / "var"),
            "GIAOBAN_DATABASE_URL": db_url,
            "GIAOBAN_MEDIA_NODES": f"A=127.0.0.1:{media_node}",
            "GIAOBAN_MEDIA_SECRET": SECRET,
            "GIAOBAN_MEDIA_WORKERS": "1",
        }
    )


async def test_a_districts_hall_has_its_media_on_the_district_node_and_the_meeting_is_whole(
    live: Any, org: Any, server: Any
) -> None:
    workers = server.app[SERVICES].media_workers
    deadline = time.monotonic() + 15
    while not workers.nodes[0].alive:
        assert time.monotonic() < deadline, "the media node did not come up"
        await asyncio.sleep(0.1)
    meeting = await live.running()
    stats = {s["worker"]: s for s in await workers.stats()}
    assert stats["A"]["peers"] == 1, stats  # hall A, on its district's machine
    assert stats["w1"]["peers"] == 3, stats  # P, B and the chair's console
    async with aiohttp.ClientSession() as http, http.get(server.make_url("/api/health")) as r:
        health = await r.json()
    assert {"name": "A", "alive": True, "peers": 1, "node": True} in health["media_workers"]

    assert (await meeting.chair.call("give_floor", {"hall_id": org.halls["A"]}))["ok"]
    for key in ("P", "B"):
        await sees(meeting.halls[key], "main", GREEN)
    await sees(meeting.halls["A"], "chair", RED)
    stats = {s["worker"]: s for s in await workers.stats()}
    assert stats["w1"]["relayed"] >= 1  # A's streams came up to the province, once
    assert (await meeting.chair.call("give_floor", {"hall_id": org.halls["B"]}))["ok"]
    await sees(meeting.halls["A"], "main", BLUE)
    stats = {s["worker"]: s for s in await workers.stats()}
    assert stats["A"]["relayed"] >= 1  # and the province's went down

    ended = await meeting.chair.call("end_meeting", {"meeting_id": meeting.id})
    assert ended["ok"], ended
    deadline = time.monotonic() + 10
    while True:
        stats = {s["worker"]: s for s in await workers.stats()}
        if all(s["peers"] == s["sources"] == s["tracks"] == 0 for s in stats.values()):
            break
        assert time.monotonic() < deadline, f"left behind: {stats}"
        await asyncio.sleep(0.1)


def test_media_nodes_are_unit_code_equals_address_and_need_the_secret_and_workers() -> None:
    from server.settings import SettingsError

    base: dict[str, str] = {}
    nodes = base | {"GIAOBAN_MEDIA_NODES": "A=10.1.0.5:7700, A1=[fd00::5]:7701",
                    "GIAOBAN_MEDIA_SECRET": SECRET}  # fmt: skip
    read = Settings.from_env(nodes, create_dirs=False)
    assert read.media_nodes == {"A": ("10.1.0.5", 7700), "A1": ("fd00::5", 7701)}
    assert read.media_workers == (os.cpu_count() or 1)  # media nodes need workers here
    for wrong in ("A", "A=10.1.0.5", "=10.1.0.5:7700", "A=10.1.0.5:99999", "A=:7700"):
        with pytest.raises(SettingsError, match="GIAOBAN_MEDIA_NODES"):
            Settings.from_env(nodes | {"GIAOBAN_MEDIA_NODES": wrong}, create_dirs=False)
    with pytest.raises(SettingsError, match="GIAOBAN_MEDIA_SECRET"):
        Settings.from_env(nodes | {"GIAOBAN_MEDIA_SECRET": "short"}, create_dirs=False)
    with pytest.raises(SettingsError, match="GIAOBAN_MEDIA_WORKERS"):
        Settings.from_env(nodes | {"GIAOBAN_MEDIA_WORKERS": "0"}, create_dirs=False)
    assert Settings.from_env(base, create_dirs=False).media_nodes == {}
