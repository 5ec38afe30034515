"""Parameter objects of the media layer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class IceServer:
    """A STUN or TURN server a peer may use to find candidates (none by default)."""

    urls: Sequence[str]
    "``stun:host:port`` or ``turn:host:port?transport=udp`` URLs."
    username: str | None = None
    "The TURN user name."
    credential: str | None = None
    "The TURN password."


@dataclass(frozen=True)
class JitterSettings:
    """How long the receive side waits for a missing packet before it gives up on it.

    aiortc's video jitter buffer never skips a hole; here a hole older than ``*_max_delay``
    (in media time) is skipped, the frames that depended on it are dropped and the publisher
    is asked for a keyframe.
    """

    video_capacity: int = 256
    "Video packets held (a power of 2); must exceed the packets of the largest keyframe."
    video_max_delay: float = 0.2
    "Seconds a video frame waits for a lost packet (NACK and retransmission) before skipping."
    audio_capacity: int = 16
    "Audio packets held (a power of 2)."
    audio_max_delay: float = 0.06
    "Seconds an audio frame waits for a lost packet (audio is not retransmitted)."
    remb_interval: float = 0.25
    "Seconds between two bandwidth estimates (REMB) sent to a publisher, at least."
    idle_remb_interval: float = 1.0
    "Seconds between two REMBs to a publisher whose track nobody takes (no estimator runs)."
    idle_remb_bitrate: int = 1_000_000
    """Bits per second such a publisher is told (REMB) before any estimate was made for it;
    after one, it is told the last estimate it was sent."""


@dataclass(frozen=True)
class KeyframeSettings:
    """How often a source asks its publisher for a keyframe (RTCP PLI)."""

    min_interval: float = 0.3
    "Seconds between two PLIs at least, however many subscribers ask."
    retry_interval: float = 1.0
    "Seconds after which an unanswered PLI is sent again."


@dataclass(frozen=True)
class ForwardingSettings:
    """Queues of a forwarded track."""

    video_queue: int = 60
    "Video frames queued for a slow subscriber before the queue is dropped."
    audio_queue: int = 25
    "Audio frames queued for a slow subscriber before the oldest are dropped."


@dataclass(frozen=True)
class PeerSettings:
    """Everything a :class:`media.Peer` is configured with."""

    ice_servers: Sequence[IceServer] = ()
    "STUN/TURN servers; empty by default (host candidates only, no public STUN)."
    max_sdp_bytes: int = 64 * 1024
    "Larger offers are refused."
    jitter: JitterSettings = field(default_factory=JitterSettings)
    keyframes: KeyframeSettings = field(default_factory=KeyframeSettings)
    forwarding: ForwardingSettings = field(default_factory=ForwardingSettings)
