"""Files served with HTTP Range as RFC 9110 (sections 13.1.5 and 14) says, on top of aiohttp's
``FileResponse``.

``FileResponse`` serves a file with ``Range``, ``ETag``, ``Last-Modified`` and the ``If-Match``
/ ``If-None-Match`` / ``If-(Un)Modified-Since`` preconditions, but its reading of ``Range``
departs from RFC 9110 where a client notices (aiohttp 3.14): ``bytes=-0`` is served whole as a
206 (it cannot be satisfied: 416); ``If-Range`` with an entity tag is not evaluated (a stale
tag gets a part of the new file: it must get the whole file, 200); a multi-range, another unit
(``items=0-5``) or a header that does not parse is answered 416 (they must be ignored: 200,
the whole file).

:class:`RangedFile` decides what to send from ``Range`` and ``If-Range`` itself
(:func:`select`) and hands ``FileResponse`` a copy of the request whose ``Range`` says exactly
that: none (the whole file), one explicit ``first-last``, or one past the end (416 with
``Content-Range: bytes */size``). ``FileResponse`` still does the sending, the headers and the
other preconditions, in RFC 9110's order (section 13.2.2: ``If-Range`` comes last).
"""

from __future__ import annotations

import asyncio
import math
import os
import re
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from aiohttp import hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy


@dataclass(frozen=True)
class Whole:
    """Send the whole file (200)."""


@dataclass(frozen=True)
class Part:
    """Send bytes ``first`` to ``last``, both included (206)."""

    first: int
    last: int


@dataclass(frozen=True)
class Unsatisfiable:
    """The range starts at or past the end of the file (416)."""


Selection = Whole | Part | Unsatisfiable

_RANGE_SPEC = re.compile(r"([0-9]*)-([0-9]*)", re.ASCII)
_HUGE = 10**30
"""Stands for any position with more digits than a file can have (``int`` refuses 4300+)."""


def _position(digits: str) -> int:
    significant = digits.lstrip("0")
    return int(significant) if 0 < len(significant) <= 30 else (_HUGE if significant else 0)


def etag_of(st: os.stat_result) -> str:
    """The strong ``ETag`` that ``FileResponse`` sends for a file (quoted)."""
    return f'"{st.st_mtime_ns:x}-{st.st_size:x}"'


def _if_range_holds(value: str, st: os.stat_result) -> bool:
    """RFC 9110 13.1.5: an entity tag must match the file's strongly; a date must be exactly
    its ``Last-Modified``. A weak tag or anything unreadable does not hold."""
    value = value.strip()
    if value.startswith('"'):
        return value == etag_of(st)
    if value.startswith("W/"):
        return False
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # FileResponse sends Last-Modified as the modification time rounded up to the second.
    return moment.timestamp() == math.ceil(st.st_mtime)


def select(
    method: str, headers: CIMultiDictProxy[str] | CIMultiDict[str], st: os.stat_result
) -> Selection:
    """What a request asks of a file of ``st.st_size`` bytes, per RFC 9110 section 14.

    Ranges apply to GET only. A ``Range`` that does not parse, names another unit than bytes,
    asks for several ranges (allowed to be ignored: no multipart answers here), or whose
    ``If-Range`` does not hold, is ignored: the whole file. ``first-last`` with ``last`` before
    ``first`` is invalid, so ignored too. A range that starts at or past the end, and a suffix
    of zero bytes, cannot be satisfied.
    """
    ranges = headers.getall(hdrs.RANGE, [])
    if method != "GET" or len(ranges) != 1:
        return Whole()
    unit, equals, range_set = ranges[0].partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return Whole()
    specs = [s.strip() for s in range_set.split(",") if s.strip()]
    if len(specs) != 1:
        return Whole()
    match = _RANGE_SPEC.fullmatch(specs[0])
    if match is None or not any(match.groups()):
        return Whole()
    if_range = headers.getall(hdrs.IF_RANGE, [])
    if if_range and (len(if_range) != 1 or not _if_range_holds(if_range[0], st)):
        return Whole()
    size = st.st_size
    first_digits, last_digits = match.groups()
    if first_digits:
        first = _position(first_digits)
        last = _position(last_digits) if last_digits else None
        if last is not None and last < first:
            return Whole()
        if first >= size:
            return Unsatisfiable()
        return Part(first, size - 1 if last is None else min(last, size - 1))
    suffix = _position(last_digits)
    if suffix == 0 or size == 0:
        return Unsatisfiable()
    return Part(max(0, size - suffix), size - 1)


class RangedFile(web.FileResponse):
    """A file answered with RFC 9110's ``Range`` and ``If-Range``; the rest is FileResponse's."""

    def __init__(self, path: Path, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.file = path
        self.range_asked = ""
        """The request's own Range header (the request prepared carries the one decided)."""

    async def prepare(self, request: web.BaseRequest) -> Any:
        if self.prepared:
            return await super().prepare(request)
        self.range_asked = ", ".join(request.headers.getall(hdrs.RANGE, []))
        headers = CIMultiDict(request.headers)
        headers.popall(hdrs.RANGE, None)
        headers.popall(hdrs.IF_RANGE, None)
        try:
            st = await asyncio.to_thread(self.file.stat)
        except OSError:
            selection: Selection = Whole()  # FileResponse answers the missing file (404)
        else:
            selection = select(request.method, request.headers, st)
            if isinstance(selection, Part):
                headers[hdrs.RANGE] = f"bytes={selection.first}-{selection.last}"
            elif isinstance(selection, Unsatisfiable):
                # A start at the end is what FileResponse itself answers 416 with
                # "Content-Range: bytes */size", after the other preconditions.
                headers[hdrs.RANGE] = f"bytes={st.st_size}-"
        return await super().prepare(request.clone(headers=headers))
