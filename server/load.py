"""How loaded this node is, and whether it takes one more participant (admission control).

Media is forwarded on the event loop: past what the loop's thread can do, a node does not
degrade, it collapses (frames arrive seconds late and most are lost, for every hall; see
``bench/discussion.md``). Refusing the newcomer costs one hall, which retries; taking it
costs every hall already in.

Two figures say how close the loop is to that point: its *lag* (how late a timer fires) and
its *CPU* (the share of one core its thread used). The benchmark showed that the lag comes
too late: a loop that reads one datagram per socket per turn keeps its timers on time while
the datagrams queue in the sockets' buffers (200 halls: frames 1.4 s late at a p95 lag of
25 ms). The CPU share rises before that (the server used 0.79 cores at 150 halls, 0.94 at
175, where the p95 latency passed a second).
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
    """Samples the event loop's lag and its thread's CPU time every ``interval`` seconds,
    keeps ``window`` seconds."""

    def __init__(self, interval: float = SAMPLE_INTERVAL, window: float = WINDOW) -> None:
        self.interval = interval
        self._samples: deque[tuple[float, float]] = deque(maxlen=max(1, round(window / interval)))
        "(when, lag) in seconds"
        self._cpu: deque[tuple[float, float]] = deque(maxlen=max(2, round(window / interval) + 1))
        "(when, the loop thread's CPU time) in seconds"
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="loop monitor")

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        self._cpu.append((time.monotonic(), time.thread_time()))
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.interval)
            now = time.monotonic()
            self._samples.append((now, max(0.0, now - before - self.interval)))
            self._cpu.append((now, time.thread_time()))  # runs on the loop's thread

    def cpu_percent(self, within: float = WINDOW) -> float:
        """The share of one core the event loop's thread used in the last ``within`` seconds
        (to the last sample), in percent."""
        if len(self._cpu) < 2:
            return 0.0
        end, cpu_end = self._cpu[-1]
        since = end - within
        start, cpu_start = next(((t, c) for t, c in self._cpu if t >= since), self._cpu[0])
        if end - start <= 0:
            return 0.0
        return round(100 * (cpu_end - cpu_start) / (end - start), 1)

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
    the loop's p95 lag over the last ``window`` seconds is above it, ``max_cpu_percent``
    while its thread used more than that share of a core over the same window (0: off).
    """

    max_participants: int = 0
    max_lag_ms: float = 0.0
    window: float = 5.0
    max_cpu_percent: float = 0.0

    def check(self, participants: int, monitor: LoopMonitor) -> None:
        """Raise :class:`Busy` when the node should refuse a new participant."""
        if self.max_participants and participants >= self.max_participants:
            raise Busy(
                f"this server carries {self.max_participants} participants at most; "
                f"try again in {RETRY_AFTER:.0f} s",
                retry_after=RETRY_AFTER,
            )
        if self.max_cpu_percent and (
            (cpu := monitor.cpu_percent(within=self.window)) > self.max_cpu_percent
        ):
            raise Busy(
                f"this server is overloaded (its event loop used {cpu:.0f} % of a core); "
                f"try again in {RETRY_AFTER:.0f} s",
                retry_after=RETRY_AFTER,
            )
        if self.max_lag_ms and (lag := monitor.lag_ms(within=self.window)) > self.max_lag_ms:
            raise Busy(
                f"this server is overloaded (event loop {lag:.0f} ms late); "
                f"try again in {RETRY_AFTER:.0f} s",
                retry_after=RETRY_AFTER,
            )
