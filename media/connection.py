"""What a caller holds of a client's connection, wherever it lives: in this process
(:class:`media.Peer`) or in a media worker (:class:`media.workers.RemotePeer`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from media.codecs import MediaKind
from media.source import Source


class Slot(Protocol):
    """One m-line the client receives on, fed by a switchable source."""

    mid: str | None
    media_kind: MediaKind

    @property
    def source(self) -> Source | None: ...

    def switch_source(self, source: Source | None) -> None:
        """Forward ``source`` from now on (``None``: nothing); raises
        :class:`media.IncompatibleSourceError` for another kind or codec."""


class Connection(Protocol):
    """A client's connection: what it sends as sources, what it receives on as slots."""

    @property
    def sources(self) -> Sequence[Source]: ...

    @property
    def outgoing(self) -> Sequence[Slot]: ...

    async def answer(self, offer_sdp: str) -> str:
        """Answer the client's offer (:class:`media.MediaError` when it cannot be)."""

    async def close(self) -> None:
        """Close the connection; its sources end. Safe twice."""
