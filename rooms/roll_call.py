"""The roll call of a live meeting: the chair opens it, each hall answers, the chair ends it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rooms.errors import StateError
from rooms.localtime import to_local


class RollCall:
    """The meeting's roll call: at most one at a time; a new one starts afresh."""

    def __init__(self, halls: int) -> None:
        self.halls = halls
        """How many halls take part in the meeting (the tally counts them all)."""
        self.started_at: datetime | None = None
        """When the last roll call started (None: there has been none)."""
        self.running = False
        self.answers: dict[int, tuple[bool, int]] = {}
        """hall id → (present, delegates), for the last roll call."""

    def start(self, at: datetime) -> None:
        """Open a roll call, forgetting the answers to the one before."""
        self.started_at = at
        self.running = True
        self.answers = {}

    def answer(self, hall_id: int, present: bool, delegates: int) -> None:
        """A hall answers (again: its last answer counts); refused when no roll call runs."""
        if not self.running:
            raise StateError("no roll call is running")
        self.answers[hall_id] = (present, delegates)

    def end(self) -> dict[str, int]:
        """Close the roll call and return its tally; refused when none runs."""
        if not self.running:
            raise StateError("no roll call is running")
        self.running = False
        return self.tally()

    def tally(self) -> dict[str, int]:
        """The halls taking part, those that answered, those present and their delegates."""
        present = [d for p, d in self.answers.values() if p]
        return {
            "halls": self.halls,
            "answered": len(self.answers),
            "present": len(present),
            "delegates": sum(present),
        }

    def state(self) -> dict[str, Any] | None:
        """The roll call as every participant sees it (None before the first)."""
        if self.started_at is None:
            return None
        return {
            "active": self.running,
            "started_at": to_local(self.started_at).isoformat(),
            "answers": {
                str(h): {"present": p, "delegates": d} for h, (p, d) in self.answers.items()
            },
            "tally": self.tally(),
        }
