"""The voice-activated floor: when the chair turns it on, the floor follows the loudest hall.

The policy only: it hears the audio levels it is given and says when a hall should take the
floor. The Room reads the levels from the halls' microphones and gives the floor.
"""

from __future__ import annotations

from collections.abc import Mapping

VOICE_MARGIN = 0.1
"""How much louder (audio level, 0..1) a hall must be than the floor holder to take it."""

VOICE_HOLD = 1.5
"""Seconds a hall must stay the loudest, by the margin, to take the floor."""


class VoiceActivation:
    """The floor follows the loudest unmuted hall but the chair hall (always seen on its own
    slot), once it has been louder than the floor holder by ``margin`` for ``hold`` seconds."""

    def __init__(
        self, chair_hall_id: int, *, margin: float = VOICE_MARGIN, hold: float = VOICE_HOLD
    ) -> None:
        self.chair_hall_id = chair_hall_id
        self.margin = margin
        self.hold = hold
        self.enabled = False
        self._leader: int | None = None
        self._since = 0.0

    def start(self) -> None:
        """Turn it on, with no hall leading yet."""
        self.enabled = True
        self._leader = None

    def stop(self) -> None:
        self.enabled = False

    def hear(self, levels: Mapping[int, float], holder: int | None, now: float) -> int | None:
        """Take the halls' audio levels at ``now`` (seconds, monotonic); answer the hall that
        should take the floor from ``holder`` now, if one should.

        ``levels`` are those of the unmuted halls that report one, in the order they are heard
        (the first of equally loud halls leads). Without levels, the lead is kept; a holder
        that is loudest, or loud enough, ends it.
        """
        heard = {h: level for h, level in levels.items() if h != self.chair_hall_id}
        if not heard:
            return None
        loudest = max(heard, key=lambda h: heard[h])
        current = heard.get(holder, -1.0) if holder is not None else -1.0
        if loudest == holder or heard[loudest] < current + self.margin:
            self._leader = None
            return None
        if loudest != self._leader:
            self._leader, self._since = loudest, now
            return None
        if now - self._since >= self.hold:
            self._leader = None
            return loudest
        return None
