"""How loaded this node is, and whether it takes one more participant (admission control).

Media is forwarded on the event loop, so the loop's lag (how late a timer fires) is the
figure that says when a node has taken more than it carries: past that point a node does not
degrade, it collapses (frames arrive seconds late and most are lost, for every hall; see
``bench/discussion.md``). Refusing the newcomer costs one hall, which retries; taking it
costs every hall already in.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

from media.tasks import cancel_and_wait
from rooms.errors import DomainError

SAMPLE_INTERVAL = 0.1
"""Seconds between two measurements of the loop's lag."""
WINDOW = 10.0
"""Seconds of measurements kept (health reports and admission read this window)."""
RETRY_AFTER = 10.0
"""Seconds a refused hall is told to wait before it tries again."""


class Busy(DomainError):
    """This node carries all it can: try again later (``details['retry_after']`` seconds)."""

    code = "busy"


class LoopMonitor:
    """Samples the event loop's lag every ``interval`` seconds, keeps ``window`` seconds."""

    def __init__(self, interval: float = SAMPLE_INTERVAL, window: float = WINDOW) -> None:
        self.interval = interval
        self._samples: deque[tuple[float, float]] = deque(maxlen=max(1, round(window / interval)))
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="loop monitor")

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.interval)
            now = time.monotonic()
            self._samples.append((now, max(0.0, now - before - self.interval)))

    def lag_ms(self, quantile: float = 0.95, within: float = WINDOW) -> float:
        """The ``quantile`` of the lags measured in the last ``within`` seconds, in ms."""
        since = time.monotonic() - within
        lags = sorted(lag for at, lag in self._samples if at >= since)
        if not lags:
            return 0.0
        index = min(len(lags) - 1, int(quantile * len(lags)))
        return round(lags[index] * 1000, 1)


@dataclass(frozen=True)
class Admission:
    """Whether a node takes one more participant.

    ``max_participants`` caps the participants of all meetings on the node (0: no cap; set
    it to what ``bench/`` finds the machine carries); ``max_lag_ms`` refuses newcomers while
    the loop's p95 lag over the last ``lag_window`` seconds is above it (0: off).
    """

    max_participants: int = 0
    max_lag_ms: float = 0.0
    lag_window: float = 5.0

    def check(self, participants: int, monitor: LoopMonitor) -> None:
        """Raise :class:`Busy` when the node should refuse a new participant."""
        if self.max_participants and participants >= self.max_participants:
            raise Busy(
                f"this server carries {self.max_participants} participants at most; "
                f"try again in {RETRY_AFTER:.0f} s",
                retry_after=RETRY_AFTER,
            )
        if self.max_lag_ms and (lag := monitor.lag_ms(within=self.lag_window)) > self.max_lag_ms:
            raise Busy(
                f"this server is overloaded (event loop {lag:.0f} ms late); "
                f"try again in {RETRY_AFTER:.0f} s",
                retry_after=RETRY_AFTER,
            )
