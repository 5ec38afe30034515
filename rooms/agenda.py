"""The agenda of a live meeting: its items and the one under way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rooms.errors import StateError


class Agenda:
    """The meeting's items, taken in their order; none is under way until the first ``next()``."""

    def __init__(self, items: Sequence[str]) -> None:
        self.items = tuple(items)
        self.index = -1
        """The item under way (-1: none yet)."""

    def next(self) -> str:
        """Move on to the next item and return its title; after the last, refuse."""
        if self.index + 1 >= len(self.items):
            raise StateError("this is the last agenda item")
        self.index += 1
        return self.items[self.index]

    def replay(self, index: int) -> None:
        """Be at ``index`` again, as the timeline says (rebuilding a Room after a restart)."""
        self.index = index

    def state(self) -> dict[str, Any]:
        """The agenda as every participant sees it."""
        return {"index": self.index, "items": list(self.items)}
