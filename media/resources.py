"""What this process holds open: asyncio tasks, UDP sockets, threads, peer connections.

For leak checks (tests: a snapshot before, one after ``close()``) and for health reports.
Linux only for sockets (``/proc``); elsewhere the socket set is empty.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
from dataclasses import dataclass

from aiortc import RTCPeerConnection

_PROC_UDP_TABLES = ("/proc/net/udp", "/proc/net/udp6")


def open_udp_sockets() -> frozenset[int]:
    """The inodes of the UDP sockets this process has open."""
    mine: set[int] = set()
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return frozenset()
    for fd in fds:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile, or the directory's own fd
        if target.startswith("socket:["):
            mine.add(int(target[8:-1]))
    udp: set[int] = set()
    for table in _PROC_UDP_TABLES:
        try:
            with open(table, encoding="ascii") as lines:
                next(lines, None)
                for line in lines:
                    fields = line.split()
                    if len(fields) > 9:
                        udp.add(int(fields[9]))
        except OSError:
            continue
    return frozenset(mine & udp)


def running_tasks() -> frozenset[asyncio.Task[object]]:
    """The unfinished tasks of the running loop, except the caller's own."""
    current = asyncio.current_task()
    return frozenset(task for task in asyncio.all_tasks() if task is not current)


def live_peer_connections() -> int:
    """How many ``RTCPeerConnection`` objects are alive (after a garbage collection)."""
    gc.collect()
    return sum(1 for obj in gc.get_objects() if isinstance(obj, RTCPeerConnection))


@dataclass(frozen=True)
class ResourceSnapshot:
    """What was open at one moment."""

    tasks: frozenset[asyncio.Task[object]]
    udp_sockets: frozenset[int]
    threads: frozenset[threading.Thread]

    @classmethod
    def take(cls) -> ResourceSnapshot:
        """Snapshot now; call from a coroutine (tasks are those of the running loop)."""
        return cls(
            tasks=running_tasks(),
            udp_sockets=open_udp_sockets(),
            threads=frozenset(threading.enumerate()),
        )

    def opened_since(self, before: ResourceSnapshot) -> ResourceSnapshot:
        """What is open now that was not open in ``before``."""
        return ResourceSnapshot(
            tasks=self.tasks - before.tasks,
            udp_sockets=self.udp_sockets - before.udp_sockets,
            threads=self.threads - before.threads,
        )

    def is_empty(self) -> bool:
        return not (self.tasks or self.udp_sockets or self.threads)

    def describe(self) -> str:
        """A readable list, for assertion messages."""
        tasks = sorted(task.get_name() + " " + repr(task.get_coro()) for task in self.tasks)
        threads = sorted(thread.name for thread in self.threads)
        return f"tasks={tasks} udp_sockets={sorted(self.udp_sockets)} threads={threads}"
