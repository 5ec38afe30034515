"""Reading a client's offer before answering it: what each m-line is, and whether the SFU can
answer it at all (one bundled transport, the codecs it forwards), with the real reason when
it cannot."""

from __future__ import annotations

from dataclasses import dataclass

from aiortc import sdp

from media.codecs import AUDIO_CODEC, MediaKind, VideoCodec, same_codec
from media.errors import NegotiationError, SdpTooLargeError

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


@dataclass(frozen=True)
class OfferedLine:
    """One m-line of an offer, as the client sees it (``sends``: the client sends on it)."""

    mid: str
    kind: MediaKind | None
    "None for an m-line that is neither audio nor video (a data channel)."
    direction: str

    @property
    def sends(self) -> bool:
        return self.direction in ("sendrecv", "sendonly")

    @property
    def receives(self) -> bool:
        return self.direction in ("sendrecv", "recvonly")


def parse_offer(text: str, *, max_bytes: int) -> sdp.SessionDescription:
    """Parse an offer's SDP; :class:`NegotiationError` names what is wrong with it."""
    size = len(text.encode("utf-8"))
    if len(text) > max_bytes or size > max_bytes:
        raise SdpTooLargeError(size, max_bytes)
    if not text.lstrip().startswith("v=0"):
        raise NegotiationError("the offer is not a session description (SDP begins with v=0)")
    try:
        description = sdp.SessionDescription.parse(text)
    except Exception as exc:
        raise NegotiationError(f"the offer's SDP cannot be parsed: {exc}") from exc
    if not description.media:
        raise NegotiationError("the offer has no m-line: nothing to send or receive")
    return description


def read_offer(
    text: str, *, video_codec: VideoCodec, max_bytes: int
) -> tuple[sdp.SessionDescription, list[OfferedLine]]:
    """The offer and its m-lines, once it is known the SFU can answer it.

    Refused, with the reason: an SDP that is not one; an m-line without a mid or with an
    unknown direction; m-lines not all in one BUNDLE group, or on more than one transport
    (different ICE credentials: a ``balanced`` bundle policy, whose extra transports the SFU
    never connects); an audio or video m-line that does not offer the codec forwarded for its
    kind (media is never transcoded).
    """
    description = parse_offer(text, max_bytes=max_bytes)
    lines: list[OfferedLine] = []
    for index, media in enumerate(description.media):
        if media.rtp.muxId is None or str(media.rtp.muxId) == "":
            raise NegotiationError(f"m-line {index} has no a=mid")
        mid = str(media.rtp.muxId)
        direction = media.direction or "sendrecv"
        if direction not in DIRECTIONS:
            raise NegotiationError(f"m-line {mid} has an unknown direction {direction!r}")
        kind = MediaKind(media.kind) if media.kind in ("audio", "video") else None
        lines.append(OfferedLine(mid, kind, direction))
    mids = [line.mid for line in lines]
    if len(set(mids)) != len(mids):
        raise NegotiationError("two m-lines of the offer have the same mid")

    bundle = next((group for group in description.group if group.semantic == "BUNDLE"), None)
    if bundle is None or not set(mids).issubset({str(item) for item in bundle.items}):
        raise NegotiationError(
            "the offer must bundle all its m-lines on one transport (a=group:BUNDLE)"
        )
    # One transport: one pair of ICE credentials and one set of candidates for every m-line.
    credentials = {
        (media.ice.usernameFragment, media.ice.password)
        for media in description.media
        if media.ice is not None and media.ice.usernameFragment
    }
    candidates = {
        frozenset((c.ip, c.port) for c in media.ice_candidates)
        for media in description.media
        if media.ice_candidates
    }
    count = max(len(credentials), len(candidates))
    if count > 1:
        raise NegotiationError(
            f"the offer's m-lines are on {count} transports (their ICE credentials or "
            "candidates differ): offer every m-line on one transport (bundlePolicy "
            "'max-bundle'); the server answers with one bundle, so media offered on another "
            "transport would never arrive"
        )

    for media, line in zip(description.media, lines, strict=True):
        if line.kind is None or line.direction == "inactive":
            continue
        wanted = video_codec.value if line.kind is MediaKind.VIDEO else AUDIO_CODEC
        offered = [codec.mimeType for codec in media.rtp.codecs]
        if not any(same_codec(name, wanted) for name in offered):
            names = ", ".join(dict.fromkeys(n.split("/", 1)[-1] for n in offered)) or "no codec"
            raise NegotiationError(
                f"m-line {line.mid} ({line.kind.value}) offers {names}: {line.kind.value} "
                f"must offer {wanted.split('/', 1)[1]} (media is forwarded without "
                "transcoding)"
            )
    return description, lines


OPUS_ASKED = {"useinbandfec": 1, "usedtx": 1}
"""What the answer asks of a client's Opus encoder (RFC 7587 section 6.1): in-band FEC, so a
lost packet can be rebuilt from the next one, and DTX, so a silent microphone (a muted hall's
is silent) sends a packet every 200-400 ms instead of every 20 ms."""


def ask_opus_senders(answer: str) -> str:
    """``answer`` with :data:`OPUS_ASKED` in the ``a=fmtp`` of every Opus codec.

    A browser configures its Opus encoder from the parameters of the description it
    receives; aiortc's answer has none, so Chromium sent 50 packets a second from every hall,
    muted or silent.
    """
    description = sdp.SessionDescription.parse(answer)
    for media in description.media:
        for codec in media.rtp.codecs:
            if same_codec(codec.mimeType, AUDIO_CODEC):
                codec.parameters = {**codec.parameters, **OPUS_ASKED}
    return str(description)
