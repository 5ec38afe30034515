"""The only package of ``media/`` that touches aiortc internals (aiortc 1.16): one module per
hook, each with a guard (``check()``) that names what an aiortc upgrade moved.

- :mod:`media.aiortc_patch.receive`: the passthrough receive path (no decoder, no decoder
  thread), the fast RTP handler, PLIs to a publisher;
- :mod:`media.aiortc_patch.send`: the direct send path of forwarded frames, keyframe requests
  from a subscriber;
- :mod:`media.aiortc_patch.srtp`: SRTP protect and unprotect without pylibsrtp's per-packet
  allocation and copies (pylibsrtp's internals), and the compiled per-packet work
  (``_fastpath.c``: a frame's packets written, protected and sent, a received packet
  unprotected and parsed) where it is built;
- :mod:`media.aiortc_patch.jitter`: the bounded jitter buffer;
- :mod:`media.aiortc_patch.estimator`: the cheaper bandwidth estimator, REMBs throttled;
- :mod:`media.aiortc_patch.consent`: ICE consent checks as RFC 7675 says;
- :mod:`media.aiortc_patch.rtcp`: one compound RTCP report per connection and interval, no
  sender report from a sender that has sent nothing.

:func:`install` is the one call: it checks aiortc's version and every module's guard, then
installs the process-wide hooks (the decoder-thread dispatcher, the estimator, the consent
checks). The per-peer hooks are applied by :class:`media.Peer`. Tests:
``tests/media/test_media_hooks_*.py``, one per module, fail loudly when an upgrade moves one.
"""

from __future__ import annotations

import logging
import threading

import aiortc

from media.aiortc_patch import consent, estimator, jitter, receive, rtcp, send, srtp
from media.errors import AiortcIncompatibleError

__all__ = [
    "SUPPORTED_AIORTC_VERSIONS",
    "check_hooks",
    "check_version",
    "consent",
    "estimator",
    "install",
    "installed",
    "jitter",
    "receive",
    "rtcp",
    "send",
    "srtp",
]

SUPPORTED_AIORTC_VERSIONS = ("1.16.",)
"Version prefixes whose internals these modules were checked against."

GUARDS = (receive, send, srtp, jitter, estimator, consent, rtcp)
"The hook modules, each with its ``check()``."

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_installed = False


def check_version(version: str | None = None) -> None:
    """Raise :class:`AiortcIncompatibleError` unless aiortc's version is a supported one."""
    version = aiortc.__version__ if version is None else version
    if not version.startswith(SUPPORTED_AIORTC_VERSIONS):
        raise AiortcIncompatibleError(
            f"media.aiortc_patch supports aiortc {', '.join(SUPPORTED_AIORTC_VERSIONS)}x, "
            f"found aiortc {version}: re-check the hooks in media/aiortc_patch/ "
            "and run tests/media before widening the supported versions"
        )


def check_hooks() -> None:
    """Raise :class:`AiortcIncompatibleError` if an internal a hook module uses is missing.

    Checks names and sources (cheap, at start-up); the tests also check behaviour.
    """
    problems = [problem for module in GUARDS for problem in module.check()]
    if problems:
        raise AiortcIncompatibleError(
            f"aiortc {aiortc.__version__} broke media.aiortc_patch: " + "; ".join(problems)
        )


def install() -> None:
    """Check aiortc and install the process-wide hooks; safe to call more than once."""
    global _installed
    with _lock:
        if _installed:
            return
        check_version()
        check_hooks()
        receive.install()
        estimator.install()
        consent.install()
        if send.compiled_loop() is None:
            logger.warning(
                "the compiled forwarding path (media/aiortc_patch/_fastpath.c) is not "
                "built: packets are received and sent by the Python path, at about twice "
                "its CPU per packet; install gcc and Python's headers, then reinstall "
                "(make install)"
            )
        _installed = True


def installed() -> bool:
    """Whether :func:`install` has run."""
    return _installed
