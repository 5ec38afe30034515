"""A server killed mid-recording loses at most the segments being written; after a restart
they are repaired and the meeting is processed."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
import sqlalchemy as sa

from recordings.models import RecordingSegment, SegmentState
from server.db import Database
from server.settings import Settings
from tests.conftest import PASSWORD
from tests.media.media_testkit import GREEN, RED, centre_colour
from tests.recordings.test_processing import frame_at
from tests.server.live_kit import LiveClient, sees, soon

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``giaoban serve`` in a process of its own, on the test's database and var directory."""

    def __init__(self, settings: Settings, log: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "GIAOBAN_VAR_DIR": str(settings.var_dir),
            "GIAOBAN_DATABASE_URL": settings.database_url,
            "GIAOBAN_HOST": "0.0.0.0",
            "GIAOBAN_PORT": str(self.port),
            "GIAOBAN_SEGMENT_SECONDS": "2",
            "GIAOBAN_RECORDING_MIN_FREE_MB": "1",
        }
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("a") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "server", "serve", env=self.env, stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                assert self.proc.returncode is None, self.log.read_text()
                try:
                    async with http.get(f"{self.url}/api/health") as reply:
                        if reply.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"the server did not start: {self.log.read_text()}")

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.proc.wait(), 10)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
            await asyncio.wait_for(self.proc.wait(), 20)


async def session_for(url: str, username: str) -> aiohttp.ClientSession:
    http = aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=aiohttp.ClientTimeout(total=30)
    )
    async with http.post(
        f"{url}/api/session", json={"username": username, "password": PASSWORD}
    ) as reply:
        assert reply.status == 200
    return http


async def json_of(http: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> Any:
    async with http.request(method, url, **kw) as reply:
        assert reply.status < 300, await reply.text()
        return await reply.json()


async def until_writing_for(settings: Settings, meeting_id: int, seconds: float) -> None:
    db = Database(settings.database_url)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            async with db.session() as session:
                starts = list(await session.scalars(
                    sa.select(RecordingSegment.started_at).where(
                        RecordingSegment.meeting_id == meeting_id,
                        RecordingSegment.state == SegmentState.WRITING,
                    )
                ))  # fmt: skip
            age = (
                min((datetime.now().astimezone() - s).total_seconds() for s in starts)
                if starts
                else 0
            )
            if age >= seconds:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("no segment has been written for long enough")
    finally:
        await db.close()


async def test_killing_the_server_mid_recording_loses_at_most_the_last_segment(
    org, settings, tmp_path
):
    log = tmp_path / "servers.log"
    first = ServerProcess(settings, log)
    await first.start()
    clients: list[LiveClient] = []
    sec = await session_for(first.url, "sec_p")
    try:
        meeting = await json_of(sec, "POST", f"{first.url}/api/meetings", json=soon(org))
        mid = meeting["id"]
        chair_login = await session_for(first.url, "chair_p")
        cookie = next(c.value for c in chair_login.cookie_jar)
        await chair_login.close()
        for key, colour in (("P", RED), ("A", GREEN)):
            hall = LiveClient(first.url, token=org.terminal_tokens[key], colour=colour)
            clients.append(hall)
            await hall.connect()
            assert (await hall.join(mid))["lobby"]
        chair = LiveClient(first.url, cookie=cookie, slots=("main",))
        clients.append(chair)
        await chair.connect()
        await chair.join(mid)
        assert (await chair.call("start_meeting", {"meeting_id": mid}))["ok"]
        await chair.until(lambda: chair.pc is not None and bool(chair.readers))
        assert (await chair.call("give_floor", {"hall_id": org.halls["A"]}))["ok"]
        await sees(clients[0], "main", GREEN)
        recorded = time.monotonic()
        await chair.until(lambda: time.monotonic() - recorded > 6.0, deadline=8)
        # Kill when the segments being written hold more than a second (flushed clusters).
        await until_writing_for(settings, mid, 1.3)
        await first.kill()
        killed_at = datetime.now().astimezone()
    finally:
        for c in clients:
            await c.close()
        await sec.close()

    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            rows = list(await session.scalars(
                sa.select(RecordingSegment).where(RecordingSegment.meeting_id == mid)
            ))  # fmt: skip
    finally:
        await db.close()
    for key in "PA":
        states = [r.state for r in rows if r.hall_id == org.halls[key]]
        assert states.count(SegmentState.COMPLETE) >= 2, states
        assert states.count(SegmentState.WRITING) == 1, states  # the one being written

    second = ServerProcess(settings, log)
    await second.start()
    try:
        chair_http = await session_for(second.url, "chair_p")
        try:
            await json_of(chair_http, "POST", f"{second.url}/api/meetings/{mid}/end")
            deadline = time.monotonic() + 180
            while True:
                body = await json_of(
                    chair_http, "GET", f"{second.url}/api/meetings/{mid}/recording"
                )
                if body["job"] and body["job"]["state"] in ("done", "failed"):
                    break
                assert time.monotonic() < deadline, body
                await asyncio.sleep(0.5)
            timeline = await json_of(chair_http, "GET", f"{second.url}/api/meetings/{mid}/timeline")
        finally:
            await chair_http.close()
    finally:
        await second.stop()

    assert body["job"]["state"] == "done", body["job"]["error"]
    states = [s["state"] for s in body["segments"]]
    assert "writing" not in states
    # The two segments being written were closed from what reached the disk.
    assert states.count("repaired") == 2, [s["note"] for s in body["segments"]]

    t0 = datetime.fromisoformat(next(e["at"] for e in timeline if e["kind"] == "meeting_started"))
    floor_at = datetime.fromisoformat(next(e["at"] for e in timeline if e["kind"] == "floor"))
    composite = settings.recordings_dir / str(mid) / "output" / "composite.mp4"
    # What the repaired segment of the speaker (hall A) holds is in the composite.
    repaired_a = next(
        seg for seg in body["segments"]
        if seg["hall_id"] == org.halls["A"] and seg["state"] == "repaired"
    )  # fmt: skip
    repaired_from = (datetime.fromisoformat(repaired_a["started_at"]) - t0).total_seconds()
    repaired_to = (datetime.fromisoformat(repaired_a["ended_at"]) - t0).total_seconds()
    assert repaired_to - repaired_from > 0.5
    assert repaired_to <= (killed_at - t0).total_seconds()
    assert repaired_from > (floor_at - t0).total_seconds()
    frame = frame_at(composite, repaired_to - 0.2)
    assert centre_colour(frame).close_to(GREEN, tolerance=24)
    with av.open(str(composite)) as container:
        assert container.duration / 1e6 > (killed_at - t0).total_seconds()
