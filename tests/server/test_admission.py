"""Admission control: past what a node carries, a newcomer is told "busy" (and retries)
instead of every connected hall's media collapsing; the health report shows the load."""

from __future__ import annotations

import asyncio
import time

import pytest

from server.load import Admission
from server.state import SERVICES
from tests.server.live_kit import live, refused

__all__ = ["live"]  # the fixture

pytestmark = pytest.mark.slow


@pytest.mark.env(GIAOBAN_MAX_PARTICIPANTS="3")
async def test_past_the_cap_a_hall_is_told_busy_and_gets_in_once_there_is_room(live, org):
    meeting = await live.running(("P", "A"))  # P, A and the chair's console: 3
    b = await live(hall="B")
    reply = await b.enter(meeting.id)
    refused(reply, "busy", "3 participants")
    assert reply["error"]["retry_after"] > 0
    # A hall's new connection replaces its old one: not a newcomer, never refused.
    again = await live(hall="A")
    assert (await again.enter(meeting.id))["ok"]
    # The halls in the meeting are untouched; once one leaves, B gets in.
    await meeting.halls["P"].close()
    await meeting.chair.until(
        lambda: meeting.chair.hall(org.halls["P"])["presence"] == "reconnecting"
    )
    assert (await b.enter(meeting.id))["ok"]


async def test_a_node_whose_event_loop_runs_late_refuses_newcomers(live, org, monkeypatch):
    meeting = await live.running(("P", "A"))
    services = live.server.app[SERVICES]
    monkeypatch.setattr(services, "admission", Admission(max_lag_ms=100))
    for _ in range(8):  # the loop is held up again and again (the node carries too much)
        time.sleep(0.25)  # noqa: ASYNC251 - blocking the loop is the point
        await asyncio.sleep(0.05)
    b = await live(hall="B")
    refused(await b.enter(meeting.id), "busy", "overloaded")


async def test_a_node_whose_event_loop_is_busy_refuses_newcomers(live, org, monkeypatch):
    meeting = await live.running(("P", "A"))
    services = live.server.app[SERVICES]
    monkeypatch.setattr(services, "admission", Admission(max_cpu_percent=50, window=1.0))
    b = await live(hall="B")  # connected before, so that its join comes right after the work
    # The loop works without a pause for 1.5 s, in 20 ms turns: its timers stay nearly on
    # time (what a loop reading one datagram per socket per turn does while its sockets'
    # buffers fill up), its thread uses all of a core.
    until = time.monotonic() + 1.5
    while time.monotonic() < until:
        turn = time.monotonic() + 0.02
        while time.monotonic() < turn:
            pass
        await asyncio.sleep(0)
    refused(await b.enter(meeting.id), "busy", "% of a core")
    # Idle again: the hall gets in.
    async with asyncio.timeout(10):
        while services.loop_monitor.cpu_percent(within=1.0) > 50:  # noqa: ASYNC110 (a poll)
            await asyncio.sleep(0.1)
    assert (await b.enter(meeting.id))["ok"]


async def test_health_reports_the_nodes_load(live, org, clients):
    anonymous = await clients()
    idle = (await anonymous.get("/api/health")).body
    assert idle["meetings_live"] == 0
    assert idle["participants"] == 0
    assert idle["event_loop_lag_ms"] >= 0
    assert 0 <= idle["event_loop_cpu_percent"] <= 100
    await live.running(("P", "A"))
    busy = (await anonymous.get("/api/health")).body
    assert busy["meetings_live"] == 1
    assert busy["participants"] == 3  # two halls and the chair's console
