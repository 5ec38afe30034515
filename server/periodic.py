"""A step run every so often (a check of the open sockets, of the halls' readiness) that a stop
lets finish rather than cancels."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from media.tasks import finish_or_cancel

log = logging.getLogger("giaoban.periodic")

STOP_TIMEOUT = 10.0
"Seconds a stop waits for a step under way before it cancels it."


class Periodic:
    """Runs ``step`` every ``interval`` seconds (first at once, or after one interval) until
    :meth:`stop`. A step that fails is logged and the next one runs as planned.

    A stop while a step is under way waits for it (at most ``STOP_TIMEOUT``) instead of
    cancelling it: a step cancelled inside a database session leaves SQLAlchemy resetting
    its connection under the cancellation, which it logs as an error with a traceback (and on
    SQLite, a query still running when the database closes next fails the same way)."""

    def __init__(
        self,
        name: str,
        step: Callable[[], Awaitable[object]],
        interval: Callable[[], float],
        *,
        at_once: bool = False,
    ) -> None:
        self.name = name
        self._step = step
        self._interval = interval
        self._at_once = at_once
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Stop after the step under way, if any (cancelled after ``STOP_TIMEOUT``)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        if await finish_or_cancel({task}, STOP_TIMEOUT):
            log.warning("%s: its step did not end within %.0f s; cancelled", self.name,
                        STOP_TIMEOUT)  # fmt: skip

    async def _run(self) -> None:
        wait = not self._at_once
        while True:
            if wait:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._interval())
            wait = True
            if self._stopping.is_set():
                return
            try:
                await self._step()
            except Exception:
                log.exception("%s failed; trying again", self.name)
