"""ICE consent freshness (RFC 7675), tolerant of slow answers.

Hook: :func:`install` replaces aioice's ``Connection.query_consent`` (using its
``_nominated``, ``build_request``, ``remote_password``, ``_query_consent_task``): each
consent check is retransmitted, and the connection closes after 30 s without an answer
rather than after six checks not answered within 0.5 s each.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random

import aioice.ice
import aioice.stun

logger = logging.getLogger(__name__)


CONSENT_INTERVAL = 5.0
"Mean seconds between two consent checks (each waits 0.8 to 1.2 times this), as aioice's."
CONSENT_EXPIRY = 30.0
"Seconds without an answer to a consent check after which the connection closes (RFC 7675)."
CONSENT_RETRANSMISSIONS = 3
"Times a consent check is sent again (after 0.5, 1, 2 s…, STUN's timers) while unanswered."


def check() -> list[str]:
    """What :func:`_query_consent` relies on in aioice."""
    problems = []
    for name in ("query_consent", "build_request", "close"):
        if not hasattr(aioice.ice.Connection, name):
            problems.append(f"aioice's Connection.{name} is gone")
    source = inspect.getsource(aioice.ice.Connection)
    for needle in ("self._nominated", "self._query_consent_task", "self.remote_password"):
        if needle not in source:
            problems.append(f"aioice's Connection no longer has {needle[5:]}")
    if "retransmissions" not in inspect.signature(aioice.ice.StunProtocol.request).parameters:
        problems.append("aioice's StunProtocol.request no longer takes retransmissions")
    return problems


def install() -> None:
    """Every ICE connection checks consent as RFC 7675 says, tolerating slow answers."""
    aioice.ice.Connection.query_consent = _query_consent  # type: ignore[method-assign]


async def _query_consent(self: aioice.ice.Connection) -> None:
    """Consent freshness (RFC 7675) for aioice's ``Connection.query_consent``.

    aioice sends each check once and counts it failed after 0.5 s; six failures in a row
    close the connection. A loaded peer (a server catching up after a burst, a terminal PC
    busy for a few seconds) answers late, not never: every hall's media stopped although
    every peer was there. Here a check is retransmitted as STUN transactions are and any
    answer to it counts; the connection closes when no check has been answered for
    :data:`CONSENT_EXPIRY` seconds, the RFC's figure.
    """
    assert self.remote_password is not None
    loop = asyncio.get_running_loop()
    answered_at = loop.time()
    while True:
        await asyncio.sleep(CONSENT_INTERVAL * (0.8 + 0.4 * random.random()))
        for pair in list(self._nominated.values()):
            request = self.build_request(pair, nominate=False)
            try:
                await pair.protocol.request(
                    request,
                    pair.remote_addr,
                    integrity_key=self.remote_password.encode("utf8"),
                    retransmissions=CONSENT_RETRANSMISSIONS,
                )
                answered_at = loop.time()
            except aioice.stun.TransactionError:
                pass
        if loop.time() - answered_at > CONSENT_EXPIRY:
            logger.info(
                "ICE consent expired: no answer to a consent check for %.0f s",
                loop.time() - answered_at,
            )
            self._query_consent_task = None
            await self.close()
            return
