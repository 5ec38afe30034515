"""What a secretariat submits when scheduling: validated shapes shared by REST and socket layers.

A naive date-time is local (Asia/Ho_Chi_Minh); one with an offset is converted. Unknown
fields are refused so that a typo never silently drops a value.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from rooms.localtime import MAX_YEAR, MIN_YEAR, to_utc
from rooms.models import NAME_MAX, TEXT_MAX, TITLE_MAX, RoleName
from rooms.passwords import MAX_LENGTH, MIN_LENGTH, check_new_password
from rooms.text import CRLF, MultiLine, OneLine

MAX_MEETING = timedelta(hours=24)
MAX_HALLS = 500
MAX_AGENDA = 100

Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX), OneLine
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=NAME_MAX), OneLine]
Text = Annotated[str, CRLF, StringConstraints(max_length=TEXT_MAX), MultiLine]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), OneLine]


def _in_years(value: datetime) -> datetime:
    """Far enough from year 1 and 9999 that converting and adding days cannot overflow."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"a date from the year {MIN_YEAR} to {MAX_YEAR}")
    return value


LocalDateTime = Annotated[datetime, AfterValidator(_in_years), AfterValidator(to_utc)]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgendaItemIn(Strict):
    """One agenda item, in the order given."""

    title: Title
    presenter: Name = ""
    planned_minutes: int = Field(default=0, ge=0, le=24 * 60)


HallIds = Annotated[list[Id], Field(max_length=MAX_HALLS)]
Agenda = Annotated[list[AgendaItemIn], Field(max_length=MAX_AGENDA)]


def _check_end(end: datetime | None, info: ValidationInfo) -> datetime | None:
    """``end`` is validated after ``start``, so a bad pair is reported on ``end``."""
    start = info.data.get("start")
    if start is not None and end is not None:
        if end <= start:
            raise ValueError("end must be after start")
        if end - start > MAX_MEETING:
            raise ValueError("a meeting lasts at most 24 hours")
    return end


class MeetingIn(Strict):
    """A new meeting."""

    title: Title
    description: Text = ""
    start: LocalDateTime
    end: LocalDateTime
    chair_hall_id: Id
    chair_user_id: Id
    invited_hall_ids: HallIds = []
    agenda: Agenda = []
    unit_id: Id | None = Field(default=None, description="Owning unit; default the chair hall's")
    auto_record: bool = True

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: datetime | None, info: ValidationInfo) -> datetime | None:
        return _check_end(end, info)


class MeetingPatch(Strict):
    """A change to a meeting: only the fields given change."""

    title: Title | None = None
    description: Text | None = None
    start: LocalDateTime | None = None
    end: LocalDateTime | None = None
    chair_hall_id: Id | None = None
    chair_user_id: Id | None = None
    invited_hall_ids: HallIds | None = None
    agenda: Agenda | None = None
    auto_record: bool | None = None

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: datetime | None, info: ValidationInfo) -> datetime | None:
        return _check_end(end, info)


class CancelIn(Strict):
    reason: Reason = ""


class SeriesIn(MeetingIn):
    """A recurring meeting: ``start``/``end`` give the first occurrence's time and length."""

    rrule: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=6, max_length=500), OneLine
    ]


class SeriesPatch(MeetingPatch):
    """A change to a series: applied to future occurrences not changed on their own."""

    rrule: (
        Annotated[
            str, StringConstraints(strip_whitespace=True, min_length=6, max_length=500), OneLine
        ]
        | None
    ) = None


# -- the organisation ---------------------------------------------------------------------

RequiredName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX), OneLine
]


class UnitIn(Strict):
    name: RequiredName
    code: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$"
        ),
    ]
    parent_id: Id


class HallIn(Strict):
    unit_id: Id
    name: RequiredName
    address: Name = ""


class HallPatch(Strict):
    name: RequiredName | None = None
    address: Name | None = None
    active: bool | None = None


class TerminalIn(Strict):
    label: RequiredName = "Terminal"


NewPassword = Annotated[
    str,
    StringConstraints(max_length=MAX_LENGTH),
    AfterValidator(check_new_password),
    Field(description=f"{MIN_LENGTH} characters or more, not one of the most common passwords"),
]


class PasswordIn(Strict):
    password: NewPassword


class GrantIn(Strict):
    role: RoleName
    unit_id: Id | None = Field(default=None, description="None only for admin")


class UserIn(Strict):
    username: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=2, max_length=64, pattern=r"^[a-z0-9_.-]+$"
        ),
    ]
    full_name: RequiredName
    password: NewPassword
    roles: Annotated[list[GrantIn], Field(min_length=1, max_length=20)]
