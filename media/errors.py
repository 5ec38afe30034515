"""Errors of the media layer: each carries a stable ``code`` and a readable message."""

from __future__ import annotations


class MediaError(Exception):
    """Base class of the errors the media layer raises on purpose."""

    code = "media_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SdpTooLargeError(MediaError):
    """A session description is larger than the media layer accepts."""

    code = "sdp_too_large"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"the session description is {size} bytes, more than the {limit} bytes accepted"
        )
        self.size = size
        self.limit = limit


class NegotiationError(MediaError):
    """An offer cannot be answered (no common codec, no BUNDLE, bad SDP, wrong state)."""

    code = "negotiation_failed"


class IncompatibleSourceError(MediaError):
    """A source cannot feed a forwarded track: other kind or other codec (no transcoding)."""

    code = "incompatible_source"


class PeerClosedError(MediaError):
    """The peer is closed."""

    code = "peer_closed"


class AiortcIncompatibleError(RuntimeError):
    """The installed aiortc is not a version whose internals ``media.aiortc_patch`` knows.

    Not a user error: a deployment or upgrade error, raised at start-up.
    """
