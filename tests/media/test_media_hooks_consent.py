"""ICE consent freshness (RFC 7675): a peer that answers late keeps its connection, a peer
that stops answering loses it (``media.aiortc_patch.consent``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aioice
import aioice.ice
import pytest
from media_testkit import until, within

from media import AiortcIncompatibleError, aiortc_patch


@pytest.fixture
def quick_consent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Consent checks every 0.1 s on average; a connection expires after 1 s unanswered."""
    aiortc_patch.install()
    monkeypatch.setattr(aiortc_patch.consent, "CONSENT_INTERVAL", 0.1)
    monkeypatch.setattr(aiortc_patch.consent, "CONSENT_EXPIRY", 1.0)
    monkeypatch.setattr(aiortc_patch.consent, "CONSENT_RETRANSMISSIONS", 1)
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.1)  # aioice's own, had it run


@pytest.fixture
async def ice_pair(quick_consent: None) -> AsyncIterator[tuple[Any, Any]]:
    """Two aioice connections (a controlling one and its peer), connected."""
    a = aioice.Connection(ice_controlling=True)
    b = aioice.Connection(ice_controlling=False)
    await within(asyncio.gather(a.gather_candidates(), b.gather_candidates()), 10)
    for here, there in ((a, b), (b, a)):
        for candidate in there.local_candidates:
            await here.add_remote_candidate(candidate)
        await here.add_remote_candidate(None)
        here.remote_username = there.local_username
        here.remote_password = there.local_password
    await within(asyncio.gather(a.connect(), b.connect()), 10)
    yield a, b
    await within(asyncio.gather(a.close(), b.close()), 10)


def answer_stun(connection: Any, handle: Callable[[Callable[..., None], bytes, Any], None]) -> None:
    """Route the STUN ``connection`` receives (consent checks) through ``handle``."""
    for protocol in connection._protocols:
        received = protocol.datagram_received

        def datagram_received(data: bytes, addr: Any, received: Any = received) -> None:
            if data and data[0] < 4:  # STUN
                handle(received, data, addr)
            else:
                received(data, addr)

        protocol.datagram_received = datagram_received


async def test_a_peer_that_answers_consent_checks_late_keeps_its_connection(
    ice_pair: tuple[Any, Any],
) -> None:
    a, b = ice_pair
    loop = asyncio.get_running_loop()
    late: list[float] = []

    def slowly(received: Callable[..., None], data: bytes, addr: Any) -> None:
        # A busy peer: every check is read 0.8 s late, after STUN's first timeout (0.5 s).
        if data[:2] == b"\x00\x01":  # a binding request: one of a's checks
            late.append(loop.time())
        loop.call_later(0.8, received, data, addr)

    answer_stun(b, slowly)
    # aioice alone closes after its sixth check (3.6 s): the checks would stop coming.
    await until(lambda: len(late) >= 12, deadline=20)
    assert not a._closed
    await a.send(b"still here")
    assert await within(b.recv(), 5) == b"still here"


async def test_a_peer_that_stops_answering_loses_its_connection(
    ice_pair: tuple[Any, Any],
) -> None:
    a, b = ice_pair
    answer_stun(b, lambda received, data, addr: None)  # gone: nothing is answered
    await until(lambda: a._closed, deadline=10)
    with pytest.raises(ConnectionError):
        await a.send(b"anyone?")


def test_the_guard_names_what_an_upgrade_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    assert aiortc_patch.consent.check() == []
    monkeypatch.delattr(aioice.ice.Connection, "build_request")
    problems = aiortc_patch.consent.check()
    assert any("build_request" in problem for problem in problems), problems
    with pytest.raises(AiortcIncompatibleError, match="build_request"):
        aiortc_patch.check_hooks()
