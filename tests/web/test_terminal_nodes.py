"""Scaled out, the hall terminal's page on its own: opened at its home node, it is sent to the
node hosting the meeting, and when that node is killed it finds the other one, where the
meeting is taken over, with nobody at the terminal (docs/protocol.md, "Several nodes").

Two real server processes on one Redis and one PostgreSQL (tests/server/cluster_kit.py), over
plain HTTP on 127.0.0.1 (a secure context for Chromium, so the camera works)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.server.cluster_kit import (
    Deployment,
    FollowingClient,
    cookie,
    create_meeting,
    deployment,
)
from tests.server.live_kit import COLOURS
from tests.web.conftest import CHROMIUM_FLAGS, TERMINAL_VIEWPORT, Browsers, chromium_path
from tests.web.pages import picture_decodes

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Deployment]:
    async with deployment(tmp_path) as deploy:
        await deploy.start("n1", "n2")
        yield deploy


@pytest.fixture
async def chromium(cluster: Deployment) -> AsyncIterator[Browsers]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(), args=list(CHROMIUM_FLAGS)
        )
        made = Browsers(browser, cluster.nodes["n1"].url)
        try:
            yield made
        finally:
            await made.close()
    assert not made.errors, "errors in the pages:\n" + "\n".join(made.errors)


async def node_of(page: Page) -> str:
    """The origin the page's socket talks to now."""
    uri: str = await page.evaluate("new URL(window.giaoban.socket.io.uri).origin")
    return uri


async def test_terminal_pages_follow_the_meeting_to_its_host_and_to_the_node_that_takes_it_over(
    cluster: Deployment, chromium: Browsers
) -> None:
    org = cluster.org
    assert org is not None
    n1, n2 = cluster.nodes["n1"], cluster.nodes["n2"]
    meeting_id = await create_meeting(cluster, n1.url)
    # The chair hall and the chair's console are aiortc clients that follow like the pages.
    chair_hall = FollowingClient(n1.url, token=org.terminal_tokens["P"], colour=COLOURS["P"])
    console = FollowingClient(
        n1.url, cookie=await cookie(n1.url, "chair_p"), slots=("main", "chair")
    )
    try:
        for client in (chair_hall, console):
            await client.connect()
            assert (await client.join(meeting_id))["lobby"]

        # Two district terminals, each opened at its own node.
        homes = {"A": n2, "B": n1}
        pages: dict[str, Page] = {}
        for key, home in homes.items():
            pages[key] = await chromium.page(
                f"{home.url}/terminal#token={org.terminal_tokens[key]}", viewport=TERMINAL_VIEWPORT
            )
            await expect(pages[key].locator("#next")).to_have_text("Giao ban trực tuyến")

        assert (await console.call("start_meeting", {"meeting_id": meeting_id}))["ok"]
        host = await cluster.host_of(meeting_id)
        assert host is not None
        host_url = cluster.nodes[host].url
        for key, page in pages.items():
            await expect(page.locator("body")).to_have_attribute(
                "data-mode", "meeting", timeout=30_000
            )
            await picture_decodes(page, "#large", org.halls["P"], within=30_000)
            assert await node_of(page) == host_url, f"{key}'s page is not on the host"
        moved = [key for key, home in homes.items() if home.url != host_url]
        assert len(moved) == 1  # one of the two pages was sent there from its own node

        # The host dies. Nobody touches the terminals: both find the survivor, which takes
        # the meeting over, and show the chair hall again; one of the two pages was served by
        # the dead node (its origin is the dead node's, which the survivor still accepts).
        survivor = next(name for name in cluster.nodes if name != host)
        killed_at = time.monotonic()
        cluster.nodes[host].kill()
        for page in pages.values():
            await expect(page.locator("#reconnecting")).to_be_visible(timeout=20_000)
        for key, page in pages.items():
            await expect(page.locator("#reconnecting")).to_be_hidden(timeout=45_000)
            await expect(page.locator("body")).to_have_attribute("data-mode", "meeting")
            await picture_decodes(page, "#large", org.halls["P"], within=30_000)
            assert await node_of(page) == cluster.nodes[survivor].url, key
        back = time.monotonic() - killed_at
        assert await cluster.host_of(meeting_id) == survivor
        print(f"both terminal pages showed the chair hall again {back:.1f} s after kill -9")
    finally:
        for client in (chair_hall, console):
            await client.close()
    for name, node in cluster.nodes.items():
        if name != host:
            assert "Traceback" not in node.output(), node.output()
