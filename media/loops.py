"""Which asyncio event loop a process of ours runs on: the standard library's, or uvloop's
(libuv; its transports and callbacks are in C). Named by the caller (``"asyncio"`` or
``"uvloop"``); the benchmark measures both (docs/benchmarks.md, "Event loop")."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

LOOPS = ("asyncio", "uvloop")


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A new event loop of ``kind``."""
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    if kind == "asyncio":
        return asyncio.new_event_loop()
    raise ValueError(f"no event loop {kind!r}: one of {', '.join(LOOPS)}")


def run(main: Coroutine[Any, Any, T], kind: str) -> T:
    """``asyncio.run(main)`` on a new loop of ``kind``."""
    with asyncio.Runner(loop_factory=lambda: new_event_loop(kind)) as runner:
        return runner.run(main)
