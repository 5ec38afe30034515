"""A periodic step (the sockets' logins, the halls' readiness) and how it stops."""

from __future__ import annotations

import asyncio
import logging

import pytest

from server import periodic
from server.periodic import Periodic


async def test_a_stop_lets_the_step_under_way_finish() -> None:
    """Stopped in the middle of a step (a database query, say), the step ends as it would
    have; it is not cancelled, and no further step starts."""
    started, release = asyncio.Event(), asyncio.Event()
    steps: list[str] = []

    async def step() -> None:
        steps.append("started")
        started.set()
        try:
            await release.wait()
        except asyncio.CancelledError:
            steps.append("cancelled")
            raise
        steps.append("finished")

    checker = Periodic("test", step, lambda: 0.01)
    checker.start()
    await asyncio.wait_for(started.wait(), 5)
    stopping = asyncio.create_task(checker.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # waits for the step
    release.set()
    await asyncio.wait_for(stopping, 5)
    assert steps == ["started", "finished"]


async def test_a_stop_between_steps_is_at_once_and_a_failed_step_is_not_the_last() -> None:
    calls = 0

    async def step() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("the database is away")

    checker = Periodic("test", step, lambda: 0.01, at_once=True)
    checker.start()
    for _ in range(500):
        if calls >= 3:
            break
        await asyncio.sleep(0.01)
    assert calls >= 3
    slow = Periodic("slow", step, lambda: 3600)
    slow.start()
    await asyncio.wait_for(asyncio.gather(checker.stop(), slow.stop()), 2)


async def test_a_step_that_does_not_end_is_cancelled_after_the_bound(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(periodic, "STOP_TIMEOUT", 0.2)
    started = asyncio.Event()

    async def step() -> None:
        started.set()
        await asyncio.Event().wait()

    checker = Periodic("stuck", step, lambda: 0, at_once=True)
    checker.start()
    await asyncio.wait_for(started.wait(), 5)
    with caplog.at_level(logging.WARNING, logger="giaoban.periodic"):
        await asyncio.wait_for(checker.stop(), 5)
    assert "stuck: its step did not end" in caplog.text
