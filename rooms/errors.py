"""Errors a user can cause, each with a code and a message they can read."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of the errors a caller maps to a response; ``code`` is stable, ``message`` readable."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details


class NotFound(DomainError):
    code = "not_found"


class Forbidden(DomainError):
    code = "forbidden"


class Invalid(DomainError):
    """A value is well-formed but not acceptable (unknown hall, end before start…)."""

    code = "invalid"


class Conflict(DomainError):
    """A hall would be double-booked; ``details['conflicts']`` names each meeting and hall."""

    code = "conflict"


class StateError(DomainError):
    """The action does not fit the record's state (starting a cancelled meeting…)."""

    code = "invalid_state"


class TooLarge(DomainError):
    """A body over its size limit."""

    code = "too_large"


class UnsupportedType(DomainError):
    """Content of a type that is not accepted here."""

    code = "unsupported_media_type"
