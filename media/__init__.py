"""The forwarding unit (SFU): peer connections, sources, forwarded tracks, keyframes.

Media is forwarded without transcoding: the encoded frames a peer sends become
``av.Packet``s that other peers' senders packetise as they are. This package knows aiortc and
PyAV, nothing of the rest of the project; see ``docs/media.md``.

Wiring, for a caller::

    publisher = Peer(settings)
    await publisher.answer(offer_from_a)            # publisher.sources: what A sends
    subscriber = Peer(settings)
    await subscriber.answer(offer_from_b)           # subscriber.outgoing: B's receive slots
    subscriber.outgoing[0].switch_source(publisher.sources[0])
"""

from media.codecs import MediaKind, VideoCodec
from media.connection import Connection, Slot
from media.errors import (
    AiortcIncompatibleError,
    IncompatibleSourceError,
    MediaError,
    NegotiationError,
    PeerClosedError,
    SdpTooLargeError,
)
from media.forwarding import ForwardedTrack
from media.offer import OfferedLine, read_offer
from media.peer import ConnectionState, Peer
from media.settings import (
    ForwardingSettings,
    IceServer,
    JitterSettings,
    KeyframeSettings,
    PeerSettings,
)
from media.source import PacketSink, Source

__all__ = [
    "AiortcIncompatibleError",
    "Connection",
    "ConnectionState",
    "ForwardedTrack",
    "ForwardingSettings",
    "IceServer",
    "IncompatibleSourceError",
    "JitterSettings",
    "KeyframeSettings",
    "MediaError",
    "MediaKind",
    "NegotiationError",
    "OfferedLine",
    "PacketSink",
    "Peer",
    "PeerClosedError",
    "PeerSettings",
    "SdpTooLargeError",
    "Slot",
    "Source",
    "VideoCodec",
    "read_offer",
]
