"""SRTP without pylibsrtp's per-packet overhead.

Hook (pylibsrtp 1.0): ``pylibsrtp.Session`` keeps its libsrtp context (``_srtp``, an
``srtp_t *``) and a 1500-byte work buffer (``_cdata``, ``_buffer``); every ``protect()`` and
``unprotect()`` checks its argument's type and length, allocates an ``int *`` (``ffi.new``),
copies the packet in and out. :class:`Protector` and :class:`Unprotector` keep one ``int *``
per session and call ``srtp_protect`` / ``srtp_unprotect`` on the same buffer; the protector
takes the packet written into the buffer piece by piece (header, payload descriptor, a slice
of the frame), so a forwarded packet is never assembled as bytes before it is protected.
Errors are those of pylibsrtp (``pylibsrtp.Error``; ``ValueError`` for a packet too long).
The compiled forwarding path (``_fastpath``) calls the same ``srtp_protect`` and
``srtp_unprotect`` of pylibsrtp's binding on a session's context: :func:`protect_address`,
:func:`unprotect_address` and :func:`context_address` give it them.
"""

from __future__ import annotations

import logging
from typing import Any

import pylibsrtp
from pylibsrtp._binding import ffi, lib

try:
    from media.aiortc_patch import _fastpath
except ImportError:  # not built (no C compiler at install): Python does its work
    _fastpath = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)


def check() -> list[str]:
    """What :class:`Protector` and :class:`Unprotector` rely on in pylibsrtp."""
    problems: list[str] = []
    for name in ("srtp_protect", "srtp_unprotect"):
        if not hasattr(lib, name):
            problems.append(f"pylibsrtp's binding has no {name}")
    for name in ("SRTP_MAX_TRAILER_LEN", "_srtp_assert"):
        if not hasattr(pylibsrtp, name):
            problems.append(f"pylibsrtp has no {name}")
    policy = pylibsrtp.Policy(key=bytes(30), ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    session = pylibsrtp.Session(policy)
    for name in ("_srtp", "_cdata", "_buffer"):
        if not hasattr(session, name):
            problems.append(f"pylibsrtp's Session has no {name}")
    if protect_address() is None or unprotect_address() is None:
        problems.append(f"pylibsrtp's srtp_protect is a {_protect_type()}, not {PROTECT_TYPE}")
    return problems


PROTECT_TYPE = "srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)"
"libsrtp 2's ``srtp_protect``, as cffi names its type: what ``_fastpath`` calls."


def _protect_type() -> str:
    return str(ffi.typeof(ffi.addressof(lib, "srtp_protect")).cname)


def protect_address() -> int | None:
    """The address of pylibsrtp's ``srtp_protect``; None if its signature is not libsrtp 2's."""
    if _protect_type() != PROTECT_TYPE:
        return None
    return int(ffi.cast("uintptr_t", ffi.addressof(lib, "srtp_protect")))


def unprotect_address() -> int | None:
    """The address of pylibsrtp's ``srtp_unprotect`` (the same signature as ``srtp_protect``);
    None if it is not libsrtp 2's."""
    if str(ffi.typeof(ffi.addressof(lib, "srtp_unprotect")).cname) != PROTECT_TYPE:
        return None
    return int(ffi.cast("uintptr_t", ffi.addressof(lib, "srtp_unprotect")))


def context_address(session: pylibsrtp.Session) -> int:
    """The address of ``session``'s libsrtp context (``srtp_t``), alive as long as it is."""
    return int(ffi.cast("uintptr_t", session._srtp[0]))


class Protector:
    """``session.protect()`` for a packet written at the start of :attr:`buffer`."""

    def __init__(self, session: pylibsrtp.Session) -> None:
        self.session = session
        self._srtp = session._srtp[0]
        self._cdata = session._cdata
        self.buffer = session._buffer
        "Write the packet here (``buffer[a:b] = piece``), then call :meth:`protect`."
        self._length = ffi.new("int *")
        self.room = len(self.buffer) - pylibsrtp.SRTP_MAX_TRAILER_LEN
        "The largest packet (before protection) the buffer takes."

    def protect(self, length: int) -> bytes:
        """The SRTP packet of the ``length`` bytes written at the start of :attr:`buffer`."""
        if length > self.room:
            raise ValueError("packet is too long")
        length_p = self._length
        length_p[0] = length
        status = _protect(self._srtp, self._cdata, length_p)
        if status:
            pylibsrtp._srtp_assert(status)
        return self.buffer[0 : length_p[0]]


class Unprotector:
    """``session.unprotect()``, without its per-call allocation."""

    def __init__(self, session: pylibsrtp.Session) -> None:
        self.session = session
        self._srtp = session._srtp[0]
        self._cdata = session._cdata
        self._buffer = session._buffer
        self._room = len(self._buffer)
        self._length = ffi.new("int *")

    def unprotect(self, data: bytes) -> bytes:
        """The RTP packet inside the SRTP packet ``data`` (``pylibsrtp.Error`` if it does not
        authenticate)."""
        length = len(data)
        if length > self._room:
            raise ValueError("packet is too long")
        buffer = self._buffer
        buffer[0:length] = data
        length_p = self._length
        length_p[0] = length
        status = _unprotect(self._srtp, self._cdata, length_p)
        if status:
            pylibsrtp._srtp_assert(status)
        return buffer[0 : length_p[0]]


_protect = lib.srtp_protect
_unprotect = lib.srtp_unprotect


def _compiled() -> Any:
    """``_fastpath``, set up to call pylibsrtp's ``srtp_protect`` and ``srtp_unprotect``;
    None where it is not built, or pylibsrtp's functions are not libsrtp 2's."""
    if _fastpath is None:
        return None
    protect, unprotect = protect_address(), unprotect_address()
    if protect is None or unprotect is None:
        logger.warning("pylibsrtp's functions are not libsrtp 2's: the compiled path is off")
        return None
    _fastpath.set_protect(protect)
    _fastpath.set_unprotect(unprotect)
    return _fastpath


COMPILED = _compiled()
"The compiled forwarding path (``_fastpath``), or None: send.py and receive.py then use Python."
