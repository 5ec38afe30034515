"""Stopping the tasks an object owns without swallowing its caller's own cancellation, and
logging the failure of work left to run on its own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
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


async def finish_or_cancel(tasks: set[asyncio.Task[Any]], seconds: float) -> int:
    """Let ``tasks`` finish for ``seconds`` at most, then cancel those still running
    (work a stop should not cut inside a database session unless it must). Returns how many
    were cancelled."""
    if not tasks:
        return 0
    _, pending = await asyncio.wait(tasks, timeout=seconds)
    for task in pending:
        await cancel_and_wait(task)
    return len(pending)


def log_failure(logger: logging.Logger, message: str) -> Callable[[asyncio.Future[Any]], None]:
    """A done-callback that logs ``message`` with the exception of a future that failed (not
    one cancelled): for work nobody awaits."""

    def done(future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and (exc := future.exception()) is not None:
            logger.error(message, exc_info=exc)

    return done
