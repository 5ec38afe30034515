"""The floor of a live meeting: who speaks, the raised hands waiting for it, and the halls'
microphones, which follow the floor.

The chair gives the floor to a hall and takes it back; giving it opens the hall's microphone
and lowers its hand, and the previous holder's microphone closes (the chair hall's stays open:
it is heard throughout). Halls join muted, except the chair hall.

Every action answers the changes it made, in the order they happened (the Room writes each to
the timeline); an action that changes nothing answers none. ``replay`` applies a change read
back from the timeline, without the rules, to rebuild the floor after a restart.
"""

from __future__ import annotations

import itertools
from collections.abc import Container, Iterable
from dataclasses import dataclass

from rooms.errors import Forbidden


@dataclass(frozen=True)
class FloorMoved:
    """``holder`` holds the floor now (None: nobody does); ``previous`` held it before."""

    holder: int | None
    previous: int | None


@dataclass(frozen=True)
class HandMoved:
    """A hall raised or lowered its hand (or had it lowered by getting the floor)."""

    hall_id: int
    raised: bool


@dataclass(frozen=True)
class MicSet:
    """A hall's microphone was muted or opened; ``locked``: the hall cannot open it itself."""

    hall_id: int
    muted: bool
    locked: bool


FloorChange = FloorMoved | HandMoved | MicSet


@dataclass(frozen=True)
class Mic:
    """A hall's microphone as the meeting sees it."""

    muted: bool
    locked: bool = False
    """Muted by the chair with a lock: the hall cannot unmute itself."""


class Floor:
    """The floor holder, the raised hands in the order they were raised, and every hall's
    microphone, for the halls of one meeting."""

    def __init__(self, hall_ids: Iterable[int], chair_hall_id: int) -> None:
        self.chair_hall_id = chair_hall_id
        self.holder: int | None = None
        """The hall that holds the floor (None: nobody does)."""
        self._hands: list[int] = []
        self._mics = {h: Mic(muted=h != chair_hall_id) for h in hall_ids}
        self._opened: dict[int, int] = {}
        """Hall id → when (a count) its microphone was last opened; orders who is heard."""
        self._openings = itertools.count(1)

    # -- what it shows --------------------------------------------------------------------

    @property
    def hands(self) -> list[int]:
        """The halls with a raised hand, the first raised first."""
        return list(self._hands)

    def hand_raised(self, hall_id: int) -> bool:
        return hall_id in self._hands

    def mic(self, hall_id: int) -> Mic:
        return self._mics[hall_id]

    def heard(self, connected: Container[int]) -> list[int]:
        """The unmuted halls among ``connected``, in the order their audio is given out: the
        chair hall, then the floor holder, then the others by when they were unmuted."""

        def rank(hall_id: int) -> tuple[int, int]:
            first = 0 if hall_id == self.chair_hall_id else 1 if hall_id == self.holder else 2
            return first, self._opened.get(hall_id, 0)

        unmuted = [h for h, mic in self._mics.items() if not mic.muted and h in connected]
        return sorted(unmuted, key=rank)

    # -- the chair ------------------------------------------------------------------------

    def give(self, hall_id: int) -> list[FloorChange]:
        """``hall_id`` takes the floor: its hand goes down and its microphone opens (unlocked);
        the previous holder, unless it is the chair hall, is muted. Nothing if it holds it."""
        return self._move(hall_id)

    def take(self) -> list[FloorChange]:
        """Nobody holds the floor; the holder, unless it is the chair hall, is muted."""
        return self._move(None)

    def mute(self, hall_id: int, muted: bool, *, lock: bool = False) -> list[FloorChange]:
        """Mute or open one hall's microphone; ``lock`` (muting only) keeps the hall from
        opening it itself."""
        return self._set_mic(hall_id, muted, locked=lock and muted)

    def mute_all(self, muted: bool) -> list[FloorChange]:
        """Mute or open, unlocked, every hall's microphone but the chair hall's."""
        changes: list[FloorChange] = []
        for hall_id in self._mics:
            if hall_id != self.chair_hall_id:
                changes += self._set_mic(hall_id, muted, locked=False)
        return changes

    def remove(self, hall_id: int) -> list[FloorChange]:
        """The hall was sent out of the meeting: its hand is dropped (no change of its own: the
        removal says it) and, if it holds the floor, the floor is taken back."""
        self.replay_removal(hall_id)
        return self.take() if self.holder == hall_id else []

    # -- the halls ------------------------------------------------------------------------

    def raise_hand(self, hall_id: int) -> list[FloorChange]:
        """The hall asks for the floor and joins the end of the queue (once)."""
        if hall_id in self._hands:
            return []
        self._hands.append(hall_id)
        return [HandMoved(hall_id, raised=True)]

    def lower_hand(self, hall_id: int) -> list[FloorChange]:
        """The hall leaves the queue."""
        if hall_id not in self._hands:
            return []
        self._hands.remove(hall_id)
        return [HandMoved(hall_id, raised=False)]

    def mute_own(self, hall_id: int, muted: bool) -> list[FloorChange]:
        """The hall mutes or opens its own microphone, which leaves it unlocked; opening a
        microphone the chair locked is forbidden."""
        if not muted and self._mics[hall_id].locked:
            raise Forbidden("the chair has locked this hall's microphone")
        return self._set_mic(hall_id, muted, locked=False)

    # -- the timeline ---------------------------------------------------------------------

    def replay(self, change: FloorChange) -> None:
        """Apply a change as the timeline recorded it, without the rules that followed from it
        (they were recorded too); changes of halls not in the meeting are ignored."""
        if isinstance(change, FloorMoved):
            self.holder = change.holder
        elif change.hall_id not in self._mics:
            return
        elif isinstance(change, MicSet):
            self._mics[change.hall_id] = Mic(change.muted, change.locked)
        elif change.raised and change.hall_id not in self._hands:
            self._hands.append(change.hall_id)
        elif not change.raised and change.hall_id in self._hands:
            self._hands.remove(change.hall_id)

    def replay_removal(self, hall_id: int) -> None:
        """A removal as the timeline recorded it: the hall's hand goes (a move of the floor
        that followed was recorded on its own)."""
        if hall_id in self._hands:
            self._hands.remove(hall_id)

    # -- internals ------------------------------------------------------------------------

    def _move(self, holder: int | None) -> list[FloorChange]:
        previous = self.holder
        if previous == holder:
            return []
        self.holder = holder
        changes: list[FloorChange] = [FloorMoved(holder, previous)]
        if previous is not None and previous != self.chair_hall_id:
            changes += self._set_mic(previous, True, locked=False)
        if holder is not None:
            changes += self.lower_hand(holder)
            changes += self._set_mic(holder, False, locked=False)
        return changes

    def _set_mic(self, hall_id: int, muted: bool, *, locked: bool) -> list[FloorChange]:
        if self._mics[hall_id] == Mic(muted, locked):
            return []
        self._mics[hall_id] = Mic(muted, locked)
        if not muted:
            self._opened[hall_id] = next(self._openings)
        return [MicSet(hall_id, muted, locked)]
