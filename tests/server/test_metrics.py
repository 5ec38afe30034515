"""``/metrics`` as Prometheus reads it (parsed with prometheus_client's own parser)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.server.live_kit import live

__all__ = ["live"]


async def scrape(server: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as http, http.get(server.make_url("/metrics")) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=")
        text = await r.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.slow
async def test_metrics_count_the_meeting_its_participants_and_the_frames_forwarded(
    live: Any, server: Any
) -> None:
    idle = await scrape(server)
    assert idle[("giaoban_meetings_live", ())] == 0
    assert idle[("giaoban_participants", (("kind", "terminal"),))] == 0
    assert ("giaoban_jobs", (("state", "queued"),)) in idle
    assert ("giaoban_event_loop_lag_seconds", ()) in idle

    await live.running()
    first = await scrape(server)
    assert first[("giaoban_meetings_live", ())] == 1
    assert first[("giaoban_participants", (("kind", "terminal"),))] == 3
    assert first[("giaoban_participants", (("kind", "person"),))] == 1  # the chair's console
    assert first[("giaoban_recordings_active", ())] == 1  # auto_record
    deadline = time.monotonic() + 10
    while True:  # media keeps flowing: the counter goes up
        later = await scrape(server)
        total = ("giaoban_forwarded_packets_total", ())
        if later[total] > first[total] > 0:
            break
        assert time.monotonic() < deadline, (first[total], later[total])
        await asyncio.sleep(0.2)
