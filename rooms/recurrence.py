"""RFC 5545 recurrence rules, expanded in local time (08:00 stays 08:00 every week)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dateutil.rrule import rrulestr

from rooms.errors import Invalid
from rooms.localtime import LOCAL_TZ, MAX_YEAR, MIN_YEAR, to_utc

MAX_OCCURRENCES = 500
ALLOWED_FREQ = {"DAILY", "WEEKLY", "MONTHLY", "YEARLY"}
ALLOWED_PARTS = {
    "FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS",
    "BYYEARDAY", "BYWEEKNO", "WKST",
}  # fmt: skip


@dataclass(frozen=True)
class Rule:
    """A parsed rule: the text without UNTIL, and its end (local, naive) or count."""

    text: str
    until_local: datetime | None
    count: int | None

    @property
    def bounded(self) -> bool:
        return self.until_local is not None or self.count is not None


def parse_rule(text: str, field: str = "rrule") -> Rule:
    """Parse ``FREQ=WEEKLY;BYDAY=MO`` (an optional ``RRULE:`` prefix is accepted).

    UNTIL may be a date, a local date-time, or a UTC date-time ending in ``Z``.
    """
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    parts: dict[str, str] = {}
    for piece in filter(None, body.split(";")):
        key, sep, value = piece.partition("=")
        key = key.strip().upper()
        if not sep or not value.strip():
            raise Invalid(f"'{piece}' is not NAME=VALUE", field=field)
        if key not in ALLOWED_PARTS:
            raise Invalid(f"{key} is not supported in a meeting series", field=field)
        if key in parts:
            raise Invalid(f"{key} is given twice", field=field)
        parts[key] = value.strip().upper()
    if parts.get("FREQ") not in ALLOWED_FREQ:
        raise Invalid("FREQ must be one of DAILY, WEEKLY, MONTHLY, YEARLY", field=field)
    if "COUNT" in parts and "UNTIL" in parts:
        raise Invalid("COUNT and UNTIL cannot both be given", field=field)

    count: int | None = None
    if "COUNT" in parts:
        try:
            count = int(parts["COUNT"])
        except ValueError:
            raise Invalid("COUNT must be a number", field=field) from None
        if not 1 <= count <= MAX_OCCURRENCES:
            raise Invalid(f"COUNT must be between 1 and {MAX_OCCURRENCES}", field=field)
    interval = parts.get("INTERVAL", "1")
    if not interval.isdigit() or not 1 <= int(interval) <= 1000:
        raise Invalid("INTERVAL must be a whole number from 1 to 1000", field=field)
    until_local = _parse_until(parts.pop("UNTIL"), field) if "UNTIL" in parts else None

    rule_text = ";".join(f"{k}={v}" for k, v in parts.items())
    try:
        rrulestr(rule_text, dtstart=datetime(2026, 1, 1))
    except (ValueError, TypeError) as exc:
        raise Invalid(f"not a valid recurrence rule: {exc}", field=field) from None
    return Rule(rule_text, until_local, count)


def _parse_until(value: str, field: str) -> datetime:
    for fmt in ("%Y%m%dT%H%M%SZ", "%Y%m%dT%H%M%S", "%Y%m%d"):
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            continue
        if not MIN_YEAR <= parsed.year <= MAX_YEAR:
            raise Invalid(
                f"UNTIL={value}: a date from the year {MIN_YEAR} to {MAX_YEAR}", field=field
            )
        if fmt.endswith("Z"):
            return parsed.replace(tzinfo=UTC).astimezone(LOCAL_TZ).replace(tzinfo=None)
        if fmt == "%Y%m%d":
            return parsed.replace(hour=23, minute=59, second=59)
        return parsed
    raise Invalid(f"UNTIL={value} is not a date (YYYYMMDD or YYYYMMDDTHHMMSS[Z])", field=field)


def occurrences(
    rule: Rule, first_start: datetime, horizon_days: int, field: str = "rrule"
) -> tuple[list[datetime], datetime]:
    """The UTC starts of every occurrence, and the last instant one may start.

    An open rule ends at ``first_start + horizon_days``; a bounded one must end within it.
    """
    first_local = first_start.astimezone(LOCAL_TZ).replace(tzinfo=None)
    horizon_local = first_local + timedelta(days=horizon_days)
    if rule.until_local is not None and rule.until_local < first_local:
        raise Invalid("UNTIL is before the first occurrence", field=field)
    # Only an open rule is cut at the horizon; a bounded one is expanded whole, then judged.
    until_local = rule.until_local or (horizon_local if rule.count is None else None)
    try:
        starts = list(
            rrulestr(rule.text, dtstart=first_local).xafter(
                first_local, count=MAX_OCCURRENCES + 1, inc=True
            )
        )
    except (ValueError, OverflowError) as exc:
        raise Invalid(f"the rule cannot be expanded: {exc}", field=field) from None
    if until_local is not None:
        starts = [s for s in starts if s <= until_local]
    if rule.count is not None:
        starts = starts[: rule.count]
    if len(starts) > MAX_OCCURRENCES:
        raise Invalid(f"a series may have at most {MAX_OCCURRENCES} occurrences", field=field)
    if starts and starts[-1] > horizon_local:
        raise Invalid(
            f"a series may span at most {horizon_days} days; end it earlier "
            "and create the next series later",
            field=field,
        )
    if not starts:
        raise Invalid("the rule gives no occurrence", field=field)
    end_local = rule.until_local or (starts[-1] if rule.count is not None else horizon_local)
    return [to_utc(s) for s in starts], to_utc(end_local)
