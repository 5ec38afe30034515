"""What the server writes is its own (issue 17): after a demo start, and after a recorded
meeting goes through minutes into the archive, nothing under the var, recordings, documents
or archive trees is readable by group or others; a finished archive package is sealed (files
0400, directory 0500) and still verifies."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.recordings.test_archive import wait_for_package
from tests.recordings.test_processing import wait_for_job
from tests.server.cluster_kit import ROOT, free_port
from tests.server.live_kit import live, soon

__all__ = ["live"]  # the fixture
pytestmark = pytest.mark.slow


def open_to_others(root: Path) -> list[str]:
    """Every file or directory under ``root`` (itself included) that group or others may use."""
    found = []
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(f"{oct(mode)} {path.relative_to(root.parent)}")
    return found


@pytest.fixture
def open_umask():
    """The test runs under a umask that would leave files readable by all (022)."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


async def test_a_demo_start_leaves_nothing_readable_by_others(tmp_path: Path, open_umask):
    var = tmp_path / "var"
    port = free_port()
    env = {**os.environ, "GIAOBAN_VAR_DIR": str(var), "GIAOBAN_HOST": "127.0.0.1",
           "GIAOBAN_PORT": str(port), "GIAOBAN_RECORDING_MIN_FREE_MB": "1"}  # fmt: skip
    for command in ("migrate", "seed-demo"):
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "server", command], env=env, cwd=ROOT,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "serve", env=env, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        started = time.monotonic()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            while True:
                assert server.returncode is None, "giaoban serve stopped"
                assert time.monotonic() - started < 60, "giaoban serve did not answer in 60 s"
                try:
                    async with http.get(f"http://127.0.0.1:{port}/api/health") as reply:
                        if reply.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.wait(), 30)
    names = {p.name for p in var.iterdir()}
    assert {"giaoban.db", "demo-credentials.txt", "signing", "recordings",
            "archive", "documents"} <= names, names  # fmt: skip
    assert open_to_others(var) == []


async def test_an_older_var_tree_is_closed_at_start(tmp_path: Path, open_umask):
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    (var / "giaoban.db").touch(mode=0o644)
    env = {**os.environ, "GIAOBAN_VAR_DIR": str(var)}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "server", "migrate"], env=env, cwd=ROOT,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert open_to_others(var) == []


@pytest.mark.env(GIAOBAN_SEGMENT_SECONDS="2", GIAOBAN_RECORDING_MIN_FREE_MB="1")
async def test_a_recorded_and_archived_meeting_is_readable_by_the_server_only(
    live, org, clients, settings, open_umask
):
    sec = await clients("sec_p")
    created = await sec.post("/api/meetings", soon(org, title="Họp về quyền tệp"))
    assert created.status == 201, created.text
    meeting = await live.running(meeting_id=created.body["id"])
    chair = meeting.chair
    await chair.call("next_agenda_item")
    started = time.monotonic()
    await chair.until(lambda: time.monotonic() - started > 2.0, deadline=20)
    await chair.call("end_meeting", {"meeting_id": meeting.id})
    chair_http = await clients("chair_p")
    approved = await chair_http.post(f"/api/meetings/{meeting.id}/minutes/1/approve")
    assert approved.status == 200, approved.text
    assert (await wait_for_job(sec, meeting.id))["job"]["state"] == "done"
    archivist = await clients("arch")
    page = await wait_for_package(archivist, meeting.id, 1)

    for tree in (settings.var_dir, settings.recordings_dir, settings.archive_dir):
        assert open_to_others(tree) == [], tree
    packages = [p for p in settings.archive_dir.rglob("v001") if p.is_dir()]
    assert len(packages) == 1
    assert stat.S_IMODE(packages[0].stat().st_mode) == 0o500
    files = list(packages[0].iterdir())
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o400 for f in files)
    recorded = list(settings.recordings_dir.rglob("*.mkv")) + list(
        settings.recordings_dir.rglob("*.mp4")
    )
    assert recorded and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in recorded)

    package_id = page["package"]["id"]
    verified = await archivist.post(f"/api/archive/packages/{package_id}/verify")
    assert verified.status == 200, verified.text
    assert verified.body["ok"] is True, verified.body
