"""Slot assignment: which hall each subscriber's slots show, decided apart from the media.

A participant offers slots (receiving m-lines, each with a role) and a hall's terminal
publishes sources (sending m-lines). What each hall receives (see ``docs/protocol.md``):

- ``main``: the floor holder's camera, or the chair hall's when nobody holds the floor or the
  holder sends no camera (it is reconnecting, or its picture has been frozen for 3 s: see
  :class:`Freezes`); the same main screen for every hall, the speaker included;
- ``chair``: the chair hall's camera (nothing for the chair hall itself);
- ``screen``: the content presented now (a shared screen), labelled with the hall it is
  presented from; the presenting hall's own terminal gets it too (the hall's big screen);
- ``audio``: the microphones of the halls heard (``Floor.heard``: the chair hall, then the
  floor holder, then by when they were unmuted), its own left out;
- ``thumb``: the small video of every connected hall, in the meeting's order, its own left out.

Slots of one role take those halls in turn, in the order they were offered; a hall that does
not publish what its slot carries leaves that slot empty (the others keep their halls), and
slots beyond the halls to show stay empty. The Room switches each slot's track to the source
chosen here.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass


class SourceRole(enum.StrEnum):
    """What a hall publishes on an m-line."""

    CAMERA = "camera"
    MIC = "mic"
    THUMB = "thumb"
    SCREEN = "screen"


class SlotRole(enum.StrEnum):
    """What a participant receives on an m-line."""

    MAIN = "main"
    CHAIR = "chair"
    SCREEN = "screen"
    AUDIO = "audio"
    THUMB = "thumb"

    @property
    def source(self) -> SourceRole:
        """What a slot of this role carries of the hall it shows."""
        return _SLOT_SOURCES[self]


_SLOT_SOURCES = {
    SlotRole.MAIN: SourceRole.CAMERA,
    SlotRole.CHAIR: SourceRole.CAMERA,
    SlotRole.SCREEN: SourceRole.SCREEN,
    SlotRole.AUDIO: SourceRole.MIC,
    SlotRole.THUMB: SourceRole.THUMB,
}


@dataclass(frozen=True)
class OnAir:
    """What the halls send now, as slot assignment needs to know it."""

    holder: int | None
    """The floor holder (None: nobody holds the floor)."""
    heard: Sequence[int]
    """The halls whose microphones are open, in the order audio slots take them."""
    connected: Sequence[int]
    """The halls with a connection, in the meeting's order."""
    publishing: Collection[tuple[int, SourceRole]]
    """(hall id, source) for every source a connected hall publishes; (hall id, screen) for
    the content presented from that hall's side."""
    content: int | None = None
    """The hall whose side presents content now (None: nobody presents)."""


FROZEN_AFTER = 3.0
"""Seconds without a frame after which a camera counts as frozen."""


class Freezes:
    """Cameras that stopped sending frames while their hall is still connected (its network
    dropped: the connection is only found dead when ICE consent fails, ~30 s later). A camera
    without a new frame for ``after`` seconds is frozen, and is taken off the air (the main
    screen shows the chair hall instead of a still picture) until its frames come again."""

    def __init__(self, after: float = FROZEN_AFTER) -> None:
        self.after = after
        self._seen: dict[int, tuple[object, int, float]] = {}

    def observe(self, cameras: Mapping[int, tuple[object, int]], now: float) -> set[int]:
        """``cameras``: hall → (its camera source, the frames it has received); the halls
        whose camera is frozen at ``now``. A new source starts afresh."""
        seen: dict[int, tuple[object, int, float]] = {}
        for hall_id, (source, frames) in cameras.items():
            before = self._seen.get(hall_id)
            if before is None or before[0] is not source or before[1] != frames:
                seen[hall_id] = (source, frames, now)
            else:
                seen[hall_id] = before
        self._seen = seen
        return {h for h, (_, _, since) in seen.items() if now - since >= self.after}


class Slots:
    """Slot assignment for the participants of one meeting."""

    def __init__(self, chair_hall_id: int) -> None:
        self.chair_hall_id = chair_hall_id

    def assign(
        self, viewer: int | None, slots: Mapping[str, SlotRole], on_air: OnAir
    ) -> dict[str, int | None]:
        """The hall each of ``slots`` (by mid, in the order offered) shows to a participant,
        or None for an empty slot; ``viewer`` is the participant's hall (None: a person's
        browser, which is shown every hall)."""
        chair = self.chair_hall_id
        holder = on_air.holder
        # The floor holder's picture; the chair hall's while nobody holds the floor, and while
        # the holder sends no camera (reconnecting): never an empty main screen.
        main = (
            holder
            if holder is not None and (holder, SourceRole.CAMERA) in on_air.publishing
            else chair
        )
        wanted: dict[SlotRole, list[int | None]] = {
            SlotRole.MAIN: [main],
            SlotRole.CHAIR: [chair if chair != viewer else None],
            SlotRole.SCREEN: [on_air.content],
            SlotRole.AUDIO: [h for h in on_air.heard if h != viewer],
            SlotRole.THUMB: [h for h in on_air.connected if h != viewer],
        }
        used: dict[SlotRole, int] = {}
        chosen: dict[str, int | None] = {}
        for mid, role in slots.items():
            index = used.get(role, 0)
            used[role] = index + 1
            halls = wanted[role]
            hall_id = halls[index] if index < len(halls) else None
            if hall_id is not None and (hall_id, role.source) not in on_air.publishing:
                hall_id = None
            chosen[mid] = hall_id
        return chosen
