"""Distinct id types for distinct things."""

from typing import NewType

UnitId = NewType("UnitId", int)
HallId = NewType("HallId", int)
TerminalId = NewType("TerminalId", int)
UserId = NewType("UserId", int)
MeetingId = NewType("MeetingId", int)
SeriesId = NewType("SeriesId", int)
