"""Fixtures of the media layer's tests: server peers and client peers closed after each test."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
from media_testkit import Client

from media import Peer, PeerSettings, aiortc_patch

# Before any test patches aiortc (install() checks aiortc's own source).
aiortc_patch.install()


@pytest.fixture
async def make_peer() -> AsyncIterator[Callable[..., Peer]]:
    """Server peers, closed at the end of the test."""
    peers: list[Peer] = []

    def make(settings: PeerSettings | None = None, **kwargs: object) -> Peer:
        peer = Peer(settings, **kwargs)  # type: ignore[arg-type]
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        await peer.close()


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    """Append client peers here; they are closed at the end of the test."""
    opened: list[Client] = []
    yield opened
    for client in opened:
        with contextlib.suppress(Exception):
            await client.close()
