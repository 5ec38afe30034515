"""Local time of the deployment: input and display in Asia/Ho_Chi_Minh, storage in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
MIN_YEAR = 1900
MAX_YEAR = 2200
"""Dates given to the API lie in these years: far from year 1 and 9999, where converting to
UTC or adding a week would overflow."""


def to_utc(value: datetime) -> datetime:
    """A naive datetime is local (Asia/Ho_Chi_Minh); an aware one is converted."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=LOCAL_TZ)
    return value.astimezone(UTC)


def to_local(value: datetime) -> datetime:
    """An aware datetime shown in Asia/Ho_Chi_Minh (ISO form carries +07:00)."""
    return value.astimezone(LOCAL_TZ)
