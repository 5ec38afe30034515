"""Stopping the tasks an object owns without swallowing its caller's own cancellation."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` and wait until it has exited.

    The ``CancelledError`` that ends ``task`` is absorbed; one aimed at the caller (its own
    task is being cancelled meanwhile, say when the event loop shuts down) is raised, so that
    closing an object can never turn a cancellation into a hang.
    """
    if task is None or task is asyncio.current_task():
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
