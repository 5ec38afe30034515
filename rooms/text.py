"""Human-entered text: what a name, a title or a note may hold, checked once for every field.

A value is NFC-normalised (a Vietnamese letter typed as a base and combining marks and the
same letter precomposed compare equal), then refused when it holds a control character (C0,
DEL, C1; a multi-line text keeps its line feeds and tabs, a CR LF is read as a line feed),
a line or paragraph separator in a one-line value, a bidi override, embedding or isolate
(U+202A–U+202E, U+2066–U+2069: they make a name read differently from what it is), or
nothing but invisible characters (zero-width spaces, joiners, fillers).

Rows stored before these checks (or by hand) may still hold such characters: :func:`printable`
cleans a value on its way out, where a control character would break a file format.
"""

from __future__ import annotations

import re
import unicodedata

from pydantic import AfterValidator, BeforeValidator

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
LINE_SEPARATORS = frozenset("\u2028\u2029")
# Characters that draw nothing although Unicode does not class them as format or space.
FILLERS = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u180e\u2800\u3164\uffa0")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _invisible(ch: str) -> bool:
    return ch.isspace() or ch in FILLERS or unicodedata.category(ch) in ("Cf", "Zs", "Mn", "Me")


def check(value: str, *, multiline: bool = False) -> str:
    """``value`` NFC-normalised, or ValueError saying what it may not hold."""
    if multiline:
        value = value.replace("\r\n", "\n")
    value = unicodedata.normalize("NFC", value)
    control = (_CONTROL_MULTILINE if multiline else _CONTROL).search(value)
    if control:
        raise ValueError(
            f"control characters are not allowed (U+{ord(control.group()):04X})"
            + ("; only line feeds and tabs" if multiline else "")
        )
    for ch in value:
        if ch in BIDI_CONTROLS:
            raise ValueError(f"bidi control characters are not allowed (U+{ord(ch):04X})")
        if ch in LINE_SEPARATORS and not multiline:
            raise ValueError(f"line breaks are not allowed (U+{ord(ch):04X})")
    if value and all(_invisible(ch) for ch in value):
        raise ValueError("the value is only invisible characters")
    return value


def printable(value: str, *, multiline: bool = False) -> str:
    """``value`` with what :func:`check` refuses taken out (each run of it becomes a space).

    For output (calendars, files) of rows that may predate the checks."""
    if multiline:
        value = value.replace("\r\n", "\n")
    bad = _CONTROL_MULTILINE if multiline else _CONTROL
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", value):
        if bad.fullmatch(ch) or ch in BIDI_CONTROLS or (ch in LINE_SEPARATORS and not multiline):
            if out and out[-1] != " ":
                out.append(" ")
            continue
        out.append(ch)
    return "".join(out).strip(" ")


def _line(value: str) -> str:
    return check(value)


def _multiline(value: str) -> str:
    return check(value, multiline=True)


def _crlf(value: object) -> object:
    return value.replace("\r\n", "\n") if isinstance(value, str) else value


OneLine = AfterValidator(_line)
"""Put after a ``StringConstraints`` of a one-line human value (a name, a title, a reason)."""
MultiLine = AfterValidator(_multiline)
"""Put after a ``StringConstraints`` of a multi-line human text (a description, notes)."""
CRLF = BeforeValidator(_crlf)
"""Put first in a multi-line text: a CR LF counts as one character, as a line feed."""
