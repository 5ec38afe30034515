"""A peer: one WebRTC connection with a remote client, answered by the forwarding unit.

Negotiation model: **the client offers, the server answers, once.** Every m-line the client
sends on becomes a :class:`media.Source`; every m-line it receives on becomes a
:class:`media.ForwardedTrack` (a pre-allocated slot) whose source the caller switches at will,
without renegotiation. A client that wants, say, the chair's video, the floor's video and
four audio slots offers two ``recvonly`` video and four ``recvonly`` audio m-lines; one that
may share its screen later offers a ``sendonly`` video m-line with no track yet.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
from collections.abc import Callable

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
    sdp,
)
from aiortc.exceptions import InvalidAccessError, InvalidStateError, OperationError
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcrtpparameters import RTCRtpCodecCapability

from media import aiortc_patch
from media.codecs import (
    AUDIO_CODEC,
    OPUS_CLOCK_RATE,
    VIDEO_CLOCK_RATE,
    MediaKind,
    VideoCodec,
    same_codec,
)
from media.errors import NegotiationError, PeerClosedError
from media.forwarding import ForwardedTrack
from media.offer import ask_opus_senders, read_offer
from media.settings import PeerSettings
from media.source import Source

logger = logging.getLogger(__name__)

_peer_ids = itertools.count(1)
_REVERSE_DIRECTION = {
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "sendrecv": "sendrecv",
    "inactive": "inactive",
}


class ConnectionState(enum.StrEnum):
    """The state of a peer's connection (aiortc's ``connectionState``)."""

    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    FAILED = "failed"
    CLOSED = "closed"


class Peer:
    """A remote client's connection: its received tracks as sources, its slots as tracks.

    ::

        peer = Peer(settings, on_source=publish)
        answer_sdp = await peer.answer(offer_sdp)     # on_source(source) for each sent track
        peer.outgoing[0].switch_source(other_peer.sources[0])
        ...
        await peer.close()
    """

    def __init__(
        self,
        settings: PeerSettings | None = None,
        *,
        video_codec: VideoCodec = VideoCodec.VP8,
        on_source: Callable[[Source], None] | None = None,
        on_state_change: Callable[[ConnectionState], None] | None = None,
    ) -> None:
        aiortc_patch.install()
        self.id = f"peer-{next(_peer_ids)}"
        "Unique in this process."
        self.settings = settings or PeerSettings()
        self.video_codec = video_codec
        self._on_source = on_source
        self._on_state_change = on_state_change
        self._sources: list[Source] = []
        self._outgoing: list[ForwardedTrack] = []
        self._answered = False
        self._closing = False
        self._closed = asyncio.Event()
        "Set when close() has finished."
        self._down = asyncio.Event()
        "Set when the connection failed or closed."
        self._connected = asyncio.Event()
        self._state = ConnectionState.NEW
        configuration = RTCConfiguration(
            iceServers=[
                RTCIceServer(
                    urls=list(server.urls),
                    username=server.username,
                    credential=server.credential,
                )
                for server in self.settings.ice_servers
            ],
            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
        )
        self._pc = RTCPeerConnection(configuration)
        self._pc.on("connectionstatechange", self._connection_state_changed)

    def __repr__(self) -> str:
        return f"<Peer {self.id} {self._state}>"

    @property
    def sources(self) -> tuple[Source, ...]:
        """The tracks the remote client sends, in m-line order."""
        return tuple(self._sources)

    @property
    def outgoing(self) -> tuple[ForwardedTrack, ...]:
        """The slots the remote client receives on, in m-line order."""
        return tuple(self._outgoing)

    def outgoing_by_mid(self, mid: str) -> ForwardedTrack | None:
        """The slot sent on the m-line ``mid``, if any."""
        return next((track for track in self._outgoing if track.mid == mid), None)

    @property
    def connection_state(self) -> ConnectionState:
        return self._state

    @property
    def closed(self) -> bool:
        return self._closing

    async def answer(self, offer_sdp: str) -> str:
        """Answer the client's offer; return the answer SDP (all candidates included).

        Raises :class:`SdpTooLargeError` for an offer over ``settings.max_sdp_bytes`` and
        :class:`NegotiationError` for one that cannot be answered (unparseable, no BUNDLE,
        no common codec, a second offer). After an error, close the peer.
        """
        if self._closing:
            raise PeerClosedError(f"{self.id} is closed")
        if self._answered:
            raise NegotiationError(
                f"{self.id} has answered an offer already; renegotiation is not supported"
            )
        self._answered = True
        description, _ = read_offer(
            offer_sdp, video_codec=self.video_codec, max_bytes=self.settings.max_sdp_bytes
        )

        # Transceivers are made before setRemoteDescription, in m-line order, so that aiortc
        # matches them to the m-lines (first unassigned one of the kind) and negotiates the
        # codecs with our preferences.
        for media in description.media:
            if media.kind not in ("audio", "video"):
                continue
            self._prepare_media(MediaKind(media.kind), media, description)

        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            answer = await self._pc.createAnswer()
            await self._pc.setLocalDescription(
                RTCSessionDescription(sdp=ask_opus_senders(answer.sdp), type="answer")
            )
        except OperationError as exc:
            raise NegotiationError(
                f"the offer has no codec in common: video must offer {self.video_codec.value} "
                f"and audio {AUDIO_CODEC} (media is forwarded without transcoding)"
            ) from exc
        except (ValueError, InvalidStateError, InvalidAccessError) as exc:
            raise NegotiationError(f"the offer cannot be answered: {exc}") from exc

        # BUNDLE: every transceiver now shares one DTLS transport.
        for transport in {t.receiver.transport for t in self._pc.getTransceivers()}:
            aiortc_patch.receive.enable_fast_receive(transport)
        if self._on_source is not None:
            for source in self._sources:
                self._on_source(source)
        local = self._pc.localDescription
        assert local is not None
        return local.sdp

    async def wait_connected(self) -> None:
        """Return once the connection is up; raise :class:`PeerClosedError` if it never is.

        Give it a deadline (``asyncio.timeout``): ICE may take seconds to fail.
        """
        closed = asyncio.ensure_future(self._down.wait())
        connected = asyncio.ensure_future(self._connected.wait())
        try:
            await asyncio.wait({closed, connected}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            connected.cancel()
            await asyncio.gather(closed, connected, return_exceptions=True)
        if not self._connected.is_set() or self._state is not ConnectionState.CONNECTED:
            raise PeerClosedError(f"{self.id} did not connect ({self._state})")

    async def close(self) -> None:
        """Close the connection, end the sources and slots; safe to call twice.

        Returns when aiortc has stopped every sender, receiver and transport (no UDP socket
        of this peer stays open) and every task this peer owns has exited.
        """
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        try:
            for track in self._outgoing:
                track.stop()
            await self._pc.close()
            for source in self._sources:
                await source.close()
        finally:
            self._set_state(ConnectionState.CLOSED)
            self._closed.set()

    async def stats(self) -> dict[str, object]:
        """Counters of the sources and slots (packets, keyframes, drops)."""
        return {
            "id": self.id,
            "state": self._state.value,
            "sources": [
                {
                    "id": source.id,
                    "kind": source.kind.value,
                    "mid": source.mid,
                    "packets": source.packets_received,
                    "keyframes": source.keyframes_received,
                    "keyframe_requests": source.keyframe_requests_sent,
                    "dropped": source.frames_dropped,
                }
                for source in self._sources
            ],
            "outgoing": [
                {
                    "mid": track.mid,
                    "kind": track.kind,
                    "source": track.source.id if track.source else None,
                    "forwarded": track.packets_forwarded,
                    "dropped": track.frames_dropped,
                }
                for track in self._outgoing
            ],
        }

    # internals

    def _prepare_media(
        self, kind: MediaKind, media: sdp.MediaDescription, description: sdp.SessionDescription
    ) -> None:
        remote_direction = media.direction or "sendrecv"
        direction = _REVERSE_DIRECTION.get(remote_direction)
        if direction is None:
            raise NegotiationError(f"the offer has an unknown direction {remote_direction!r}")
        codec = self.video_codec.value if kind is MediaKind.VIDEO else AUDIO_CODEC
        mid = str(media.rtp.muxId) if media.rtp.muxId is not None else None
        track: ForwardedTrack | None = None
        if direction in ("sendonly", "sendrecv"):
            track = ForwardedTrack(kind, codec=codec, mid=mid, settings=self.settings.forwarding)
        transceiver = self._pc.addTransceiver(track or kind.value, direction=direction)
        transceiver.setCodecPreferences(self._codec_preferences(kind))
        aiortc_patch.rtcp.enable_shared_rtcp(transceiver.sender)
        aiortc_patch.rtcp.enable_shared_rtcp(transceiver.receiver)
        if track is not None:
            aiortc_patch.send.on_keyframe_request(transceiver.sender, track.request_keyframe)
            aiortc_patch.send.enable_fast_send(transceiver.sender)
            self._outgoing.append(track)
        if direction in ("recvonly", "sendrecv"):
            self._sources.append(self._make_source(kind, codec, mid, media, transceiver))

    def _make_source(
        self,
        kind: MediaKind,
        codec: str,
        mid: str | None,
        media: sdp.MediaDescription,
        transceiver: RTCRtpTransceiver,
    ) -> Source:
        stream_id, track_id = None, None
        if media.msid:
            stream_id, _, track_id = media.msid.partition(" ")
        receiver = transceiver.receiver

        async def send_keyframe_request() -> bool:
            return await aiortc_patch.receive.send_pli(receiver)

        source = Source(
            kind=kind,
            codec=codec,
            mid=mid,
            stream_id=stream_id or None,
            track_id=track_id or None,
            send_keyframe_request=send_keyframe_request,
            keyframes=self.settings.keyframes,
        )
        jitter = self.settings.jitter
        if kind is MediaKind.VIDEO:
            capacity, max_delay, clock_rate = (
                jitter.video_capacity,
                jitter.video_max_delay,
                VIDEO_CLOCK_RATE,
            )
        else:
            capacity, max_delay, clock_rate = (
                jitter.audio_capacity,
                jitter.audio_max_delay,
                OPUS_CLOCK_RATE,
            )
        aiortc_patch.receive.enable_passthrough(
            receiver,
            mime_type=codec,
            clock_rate=clock_rate,
            on_packet=source.feed,
            on_end=source.end,
            capacity=capacity,
            max_delay=round(max_delay * clock_rate),
            on_audio_level=source.note_audio_level if kind is MediaKind.AUDIO else None,
            idle=lambda: source.idle,
            on_skipped=source.note_skipped,
            idle_remb=(jitter.idle_remb_interval, jitter.idle_remb_bitrate),
        )
        aiortc_patch.estimator.throttle_remb(receiver, jitter.remb_interval)
        return source

    def _codec_preferences(self, kind: MediaKind) -> list[RTCRtpCodecCapability]:
        wanted = self.video_codec.value if kind is MediaKind.VIDEO else AUDIO_CODEC
        capabilities = RTCRtpSender.getCapabilities(kind.value).codecs
        preferred = [codec for codec in capabilities if same_codec(codec.mimeType, wanted)]
        if kind is MediaKind.VIDEO:
            preferred += [codec for codec in capabilities if codec.name.lower() == "rtx"]
        return preferred

    def _connection_state_changed(self) -> None:
        try:
            state = ConnectionState(self._pc.connectionState)
        except ValueError:
            return
        self._set_state(state)

    def _set_state(self, state: ConnectionState) -> None:
        if state is self._state:
            return
        self._state = state
        if state is ConnectionState.CONNECTED:
            self._connected.set()
        if state in (ConnectionState.FAILED, ConnectionState.CLOSED):
            # Wakes wait_connected(); close() still has to be called to release everything.
            self._down.set()
        if self._on_state_change is not None:
            try:
                self._on_state_change(state)
            except Exception:
                logger.exception("%r: state change callback failed", self)
