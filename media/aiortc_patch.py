"""The one module of ``media/`` that touches aiortc internals (aiortc 1.16).

Every hook is listed here and checked by ``tests/media/test_media_aiortc_patch.py``, which
fails loudly when an aiortc upgrade moves one of them:

- **Receive side, passthrough.** ``RTCRtpReceiver._handle_rtp_packet`` adds each packet to
  the receiver's private ``__jitter_buffer`` and puts each reassembled ``(codec,
  JitterFrame)`` on its private ``__decoder_queue``, on the event loop, for the decoder
  thread. :func:`enable_passthrough` replaces both, per receiver: a
  :class:`BoundedJitterBuffer` hands every ready frame to a :class:`PassthroughQueue`, which
  wraps it as an ``av.Packet`` and calls back right there: no decoder, no thread hop, and
  receivers that are not switched (a client peer in the same process, a future decoding
  consumer) keep decoding.
- **The decoder thread.** :func:`install` replaces ``aiortc.rtcrtpreceiver.decoder_worker``
  (the module global the receiver starts as a thread in ``receive()``) by a dispatcher: for a
  passthrough receiver the thread ends at once, for any other it runs aiortc's own worker.
- **Jitter buffer.** The :class:`BoundedJitterBuffer` subclasses aiortc's and uses its
  private ``_packets``, ``_origin``, ``_capacity``, ``_remove_frame`` and ``remove``: it skips
  a hole older than a delay (aiortc's never skips one: one lost video packet stalled a
  stream for seconds) and releases every ready frame at once, a frame as soon as it is
  complete (video: up to its marker bit; audio: its one packet), not when the next frame's
  first packet arrives (aiortc's: one frame interval of latency, 40 ms at 25 fps).
- **Bandwidth estimates.** :func:`throttle_remb` wraps the receiver's private
  ``__remote_bitrate_estimator``'s ``add`` so that a REMB leaves at most once per interval
  (aiortc sends one per packet while it sees "overuse", which a busy loop looks like).
- **Send side.** :func:`enable_fast_send` replaces a forwarding sender's ``_run_rtp`` loop
  (started by ``RTCRtpSender.send``): VP8 and Opus frames are packetised here and each packet
  is protected (the DTLS transport's ``_tx_srtp``) and sent on aioice's nominated pair
  (``RTCIceTransport._connection._nominated``) synchronously; it keeps the sender's private
  RTP history (NACK, RTX), sender-report counters and the DTLS transport's byte counts.
- **Keyframe requests to a publisher.** :func:`send_pli` calls the receiver's
  ``_send_rtcp_pli(ssrc)``.
- **Keyframe requests from a subscriber.** A PLI or FIR received by an ``RTCRtpSender`` only
  calls its ``_send_keyframe()``, which sets a flag that forwarding ignores;
  :func:`on_keyframe_request` wraps that method, per sender, to call back.
- **ICE consent.** :func:`install` replaces aioice's ``Connection.query_consent`` (using its
  ``_nominated``, ``build_request``, ``remote_password``, ``_query_consent_task``): each
  consent check is retransmitted, and the connection closes after 30 s without an answer
  rather than after six checks not answered within 0.5 s each.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import inspect
import logging
import queue
import random
import re
import threading
import time
import types
from collections.abc import Callable
from typing import Any

import aioice.ice
import aioice.stun
import aiortc
import aiortc.rate
import aiortc.rtcrtpreceiver
import av
import pylibsrtp
from aiortc import RTCRtpReceiver, RTCRtpSender, clock, rtp
from aiortc.codecs import depayload, is_rtx
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamError
from aiortc.rate import MIN_FRAME_PERIOD_HISTORY_LENGTH, RateCounter, RemoteBitrateEstimator
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTP_HISTORY_SIZE,
    RtcpPsfbPacket,
    RtpPacket,
    pack_remb_fci,
    unwrap_rtx,
)
from aiortc.utils import random16, random32
from av.audio.frame import AudioFrame
from av.frame import Frame

from media.codecs import is_keyframe
from media.errors import AiortcIncompatibleError

logger = logging.getLogger(__name__)

SUPPORTED_AIORTC_VERSIONS = ("1.16.",)
"Version prefixes whose internals this module was checked against."

_RTP_TS_MASK = 0xFFFFFFFF
_RTP_TS_HALF = 0x80000000

_install_lock = threading.Lock()
_original_decoder_worker: Callable[..., None] | None = None


def check_version(version: str | None = None) -> None:
    """Raise :class:`AiortcIncompatibleError` unless aiortc's version is a supported one."""
    version = aiortc.__version__ if version is None else version
    if not version.startswith(SUPPORTED_AIORTC_VERSIONS):
        raise AiortcIncompatibleError(
            f"media.aiortc_patch supports aiortc {', '.join(SUPPORTED_AIORTC_VERSIONS)}x, "
            f"found aiortc {version}: re-check the hooks listed in media/aiortc_patch.py "
            "and run tests/media before widening the supported versions"
        )


def check_hooks() -> None:
    """Raise :class:`AiortcIncompatibleError` if an internal this module uses is missing.

    Checks names and signatures (cheap, at start-up); the tests also check behaviour.
    """
    problems: list[str] = []
    worker = getattr(aiortc.rtcrtpreceiver, "decoder_worker", None)
    if worker is None:
        problems.append("aiortc.rtcrtpreceiver.decoder_worker is gone")
    elif list(inspect.signature(worker).parameters) != [
        "loop",
        "input_q",
        "output_q",
        "decode_error",
    ]:
        problems.append("aiortc.rtcrtpreceiver.decoder_worker changed its parameters")
    for cls, names in (
        (RTCRtpReceiver, ("_handle_rtp_packet", "_send_rtcp_pli", "getSynchronizationSources")),
        (RTCRtpSender, ("_handle_rtcp_packet", "_send_keyframe")),
        (JitterBuffer, ("add", "remove", "_remove_frame")),
    ):
        problems.extend(
            f"{cls.__name__}.{name} is gone" for name in names if not hasattr(cls, name)
        )
    probe = JitterBuffer(capacity=4, is_video=True)
    problems.extend(
        f"JitterBuffer has no {name}"
        for name in ("_packets", "_origin", "_capacity", "_prefetch", "_is_video")
        if not hasattr(probe, name)
    )
    receiver_init = inspect.getsource(RTCRtpReceiver.__init__)
    for attribute in (
        "self.__decoder_queue",
        "self.__jitter_buffer",
        "self.__decoder_thread",
        "self.__remote_bitrate_estimator",
    ):
        if attribute not in receiver_init:
            problems.append(f"RTCRtpReceiver no longer sets {attribute}")
    handle_rtp = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    for needle in (
        "self.__jitter_buffer.add(packet)",
        "self.__decoder_queue.put((codec, encoded_frame))",
    ):
        if needle not in handle_rtp:
            problems.append(f"RTCRtpReceiver._handle_rtp_packet no longer calls {needle}")
    if "self._send_keyframe()" not in inspect.getsource(RTCRtpSender._handle_rtcp_packet):
        problems.append("RTCRtpSender._handle_rtcp_packet no longer calls _send_keyframe()")
    if "self.__encoder.pack(data)" not in inspect.getsource(RTCRtpSender._next_encoded_frame):
        problems.append("RTCRtpSender no longer packs pre-encoded packets without encoding")
    problems.extend(_check_send_hooks())
    problems.extend(_check_receive_hooks())
    problems.extend(_check_consent_hooks())
    if problems:
        raise AiortcIncompatibleError(
            f"aiortc {aiortc.__version__} broke media.aiortc_patch: " + "; ".join(problems)
        )


def _check_send_hooks() -> list[str]:
    """What :func:`enable_fast_send` relies on."""
    import aioice.ice
    from aiortc.rtcdtlstransport import RTCDtlsTransport
    from aiortc.rtcicetransport import RTCIceTransport

    problems: list[str] = []
    sender_source = inspect.getsource(RTCRtpSender)
    for name in ("rtp_history", "rtp_header_extensions_map", "mid", "track", "encoder",
                 "force_keyframe",
                 "ntp_timestamp", "rtp_timestamp", "octet_count", "packet_count",
                 "rtp_started", "rtp_exited"):  # fmt: skip
        if not re.search(rf"self\.__{name}(: [^=]+)? = ", sender_source):
            problems.append(f"RTCRtpSender no longer sets self.__{name}")
    import aiortc.codecs.vpx

    if getattr(aiortc.codecs.vpx, "PACKET_MAX", None) != _VP8_PAYLOAD_MAX + 4:
        problems.append("aiortc's VP8 packet size changed (PACKET_MAX)")
    if "self._run_rtp(" not in inspect.getsource(RTCRtpSender.send):
        problems.append("RTCRtpSender.send no longer starts self._run_rtp")
    dtls_source = inspect.getsource(RTCDtlsTransport)
    for needle in ("self._tx_srtp", "self.__tx_bytes", "self.__tx_packets", "self._state"):
        if needle not in dtls_source:
            problems.append(f"RTCDtlsTransport no longer has {needle}")
    if "self._connection = " not in inspect.getsource(RTCIceTransport.__init__):
        problems.append("RTCIceTransport no longer has _connection")
    if "self._nominated" not in inspect.getsource(aioice.ice.Connection):
        problems.append("aioice's Connection no longer has _nominated")
    if "active_pair.protocol.send_data(data, active_pair.remote_addr)" not in inspect.getsource(
        aioice.ice.Connection.sendto
    ):
        problems.append("aioice's Connection.sendto no longer sends on the nominated pair")
    import asyncio.selector_events

    transport_source = inspect.getsource(
        asyncio.selector_events._SelectorDatagramTransport  # type: ignore[attr-defined]
    )
    for needle in ("self._sock.sendto(data, addr)", "if not self._buffer:", "self._conn_lost"):
        if needle not in transport_source:
            problems.append(f"asyncio's datagram transport no longer has {needle}")
    return problems


def _check_receive_hooks() -> list[str]:
    """What :func:`enable_fast_receive` and :func:`_fast_rtp_handler` rely on."""
    import aioice.ice
    from aiortc.rtcdtlstransport import RTCDtlsTransport

    problems: list[str] = []
    dtls_source = inspect.getsource(RTCDtlsTransport)
    for needle in (
        "self._rx_srtp",
        "self.__rx_bytes",
        "self.__rx_packets",
        "self._rtp_router",
        "self._rtp_header_extensions_map",
        "self._rx_srtp.unprotect(data)",
        "await receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)",
    ):
        if needle not in dtls_source:
            problems.append(f"RTCDtlsTransport no longer has {needle}")
    if "self.receiver.data_received(data, self.local_candidate.component)" not in (
        inspect.getsource(aioice.ice.StunProtocol.datagram_received)
    ):
        problems.append("aioice's StunProtocol no longer hands data to Connection.data_received")
    if "self._protocols" not in inspect.getsource(aioice.ice.Connection.__init__):
        problems.append("aioice's Connection no longer keeps its _protocols")
    if "self._queue.put_nowait((data, component))" not in inspect.getsource(
        aioice.ice.Connection.data_received
    ):
        problems.append("aioice's Connection.data_received no longer queues the datagram")
    receiver_source = inspect.getsource(RTCRtpReceiver)
    for name in ("active_ssrc", "codecs", "remote_streams", "rtx_ssrc", "nack_generator",
                 "kind", "rtcp_ssrc", "remote_bitrate_estimator"):  # fmt: skip
        if not re.search(rf"self\.__{name}(: [^=]+)? = ", receiver_source):
            problems.append(f"RTCRtpReceiver no longer sets self.__{name}")
    if "self.__remote_bitrate_estimator = RemoteBitrateEstimator()" not in receiver_source:
        problems.append("RTCRtpReceiver no longer makes its RemoteBitrateEstimator")
    estimator_source = inspect.getsource(RemoteBitrateEstimator)
    for needle in (
        "self.incoming_bitrate = RateCounter(1000, 8000)",
        "self.estimator = OveruseEstimator()",
    ):
        if needle not in estimator_source:
            problems.append(f"aiortc's RemoteBitrateEstimator no longer does {needle}")
    if "self.ts_delta_hist" not in inspect.getsource(aiortc.rate.OveruseEstimator):
        problems.append("aiortc's OveruseEstimator no longer keeps ts_delta_hist")
    handle_rtp = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    for needle in (
        "self.__remote_bitrate_estimator.add(",
        "self.__active_ssrc[packet.ssrc] = clock.current_datetime()",
        "self.__remote_streams[packet.ssrc].add(packet)",
        "unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)",
        "self.__nack_generator.add(packet)",
        "depayload(codec, packet.payload)",
        "await self._send_rtcp_pli(packet.ssrc)",
    ):
        if needle not in handle_rtp:
            problems.append(f"RTCRtpReceiver._handle_rtp_packet no longer does {needle}")
    return problems


def install() -> None:
    """Check aiortc and install the decoder-thread dispatcher; safe to call more than once."""
    global _original_decoder_worker
    with _install_lock:
        if _original_decoder_worker is not None:
            return
        check_version()
        check_hooks()
        _original_decoder_worker = aiortc.rtcrtpreceiver.decoder_worker
        aiortc.rtcrtpreceiver.decoder_worker = _dispatching_decoder_worker
        # Every receiver made from now on gets the cheaper estimator from the start (aiortc's
        # builds 1,000 rate buckets per video receiver: ~5 ms of every hall's join).
        aiortc.rtcrtpreceiver.RemoteBitrateEstimator = _RemoteBitrateEstimator  # type: ignore[misc]
        # Every ICE connection checks consent as RFC 7675 says, tolerating slow answers.
        aioice.ice.Connection.query_consent = _query_consent  # type: ignore[method-assign]


CONSENT_INTERVAL = 5.0
"Mean seconds between two consent checks (each waits 0.8 to 1.2 times this), as aioice's."
CONSENT_EXPIRY = 30.0
"Seconds without an answer to a consent check after which the connection closes (RFC 7675)."
CONSENT_RETRANSMISSIONS = 3
"Times a consent check is sent again (after 0.5, 1, 2 s…, STUN's timers) while unanswered."


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


def _check_consent_hooks() -> list[str]:
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


def installed() -> bool:
    """Whether :func:`install` has run."""
    return _original_decoder_worker is not None


def _dispatching_decoder_worker(
    loop: asyncio.AbstractEventLoop,
    input_q: queue.Queue[Any],
    output_q: asyncio.Queue[Any],
    decode_error: threading.Event,
) -> None:
    """aiortc's decoder thread: ends at once for a passthrough receiver, else decodes."""
    if isinstance(input_q, PassthroughQueue):
        return
    assert _original_decoder_worker is not None
    _original_decoder_worker(loop, input_q, output_q, decode_error)


PacketCallback = Callable[[av.Packet], None]


class PassthroughQueue(queue.Queue[Any]):
    """Stands in for a receiver's decoder queue: encoded frames become ``av.Packet``s.

    Frames normally come straight from the receiver's :class:`BoundedJitterBuffer`
    (:meth:`deliver`, every frame that is ready, with its raw RTP timestamp); aiortc then puts
    nothing here but ``None`` when the receiver stops. A ``(codec, JitterFrame)`` aiortc puts
    anyway (its timestamp already unwrapped) is handled too. Each frame is handed to
    ``on_packet`` at once, as an ``av.Packet`` with ``pts`` the unwrapped RTP timestamp
    (0 for the first frame), ``time_base`` 1/clock rate, ``is_keyframe`` from the payload,
    and ``is_corrupt`` set on a non-key frame that follows a skipped hole (its references are
    lost). Nothing here raises into aiortc: an exception in the receive path would end the
    whole DTLS transport.
    """

    def __init__(
        self,
        on_packet: PacketCallback,
        on_end: Callable[[], None],
        *,
        mime_type: str,
        clock_rate: int,
    ) -> None:
        super().__init__()
        self._on_packet: PacketCallback | None = on_packet
        self._on_end: Callable[[], None] | None = on_end
        self._mime_type = mime_type
        self._time_base = fractions.Fraction(1, clock_rate)
        self._last_timestamp: int | None = None
        self._pts = 0

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            self._end()
            # Ends aiortc's own worker too, should install() not have run.
            super().put(None)
            return
        codec, frame = item
        self._hand_over(frame, frame.timestamp, codec.mimeType)

    def deliver(self, frame: JitterFrame) -> None:
        """Take a frame from the jitter buffer (raw RTP timestamp)."""
        last, self._last_timestamp = self._last_timestamp, frame.timestamp
        if last is not None:
            delta = (frame.timestamp - last) & _RTP_TS_MASK
            self._pts += delta - (1 << 32) if delta >= _RTP_TS_HALF else delta
        self._hand_over(frame, self._pts, self._mime_type)

    def _hand_over(self, frame: JitterFrame, pts: int, mime_type: str) -> None:
        on_packet = self._on_packet
        if on_packet is None:
            return
        try:
            packet = av.Packet(frame.data)
            packet.pts = pts
            packet.dts = pts
            packet.time_base = self._time_base
            key = is_keyframe(mime_type, frame.data)
            packet.is_keyframe = key
            if not key and getattr(frame, "discontinuity", False):
                packet.is_corrupt = True
            on_packet(packet)
        except Exception:
            logger.exception("passthrough of a received frame failed")

    def _end(self) -> None:
        on_end = self._on_end
        self._on_packet = None
        self._on_end = None
        if on_end is not None:
            try:
                on_end()
            except Exception:
                logger.exception("end of a passthrough receiver failed")


def _receiver_attribute(receiver: RTCRtpReceiver, name: str) -> Any:
    mangled = f"_RTCRtpReceiver__{name}"
    if not hasattr(receiver, mangled):
        raise AiortcIncompatibleError(f"RTCRtpReceiver has no {mangled}: aiortc changed")
    return getattr(receiver, mangled)


def enable_passthrough(
    receiver: RTCRtpReceiver,
    *,
    mime_type: str,
    clock_rate: int,
    on_packet: PacketCallback,
    on_end: Callable[[], None],
    capacity: int,
    max_delay: int,
    on_audio_level: Callable[[int], None] | None = None,
    idle: Callable[[], bool] | None = None,
    on_skipped: Callable[[int, bool], None] | None = None,
) -> BoundedJitterBuffer:
    """Make ``receiver`` hand its encoded frames to ``on_packet`` instead of decoding them.

    Installs a :class:`PassthroughQueue` as its decoder queue and a
    :class:`BoundedJitterBuffer` (``capacity`` packets, holes skipped after ``max_delay`` RTP
    ticks) that delivers to it. Call before the receiver starts (after the transceiver
    exists, before the connection is up); ``on_end`` is called once when the receiver stops.
    ``mime_type`` and ``clock_rate`` are those of the one codec negotiated for the m-line.
    ``on_audio_level`` gets the level (RFC 6464: 0 loudest to 127 silent, in -dBov) each
    packet carries in its ``ssrc-audio-level`` header extension. While ``idle()`` is true
    the fast receive path (:func:`enable_fast_receive`) assembles no frames and calls
    ``on_skipped(payload bytes, ends a frame)`` per packet instead.
    """
    if _receiver_attribute(receiver, "decoder_thread") is not None:
        raise RuntimeError("the receiver has already started: enable passthrough before")
    _receiver_attribute(receiver, "decoder_queue")
    _receiver_attribute(receiver, "jitter_buffer")
    passthrough = PassthroughQueue(on_packet, on_end, mime_type=mime_type, clock_rate=clock_rate)
    buffer = BoundedJitterBuffer(
        capacity=capacity,
        max_delay=max_delay,
        is_video=mime_type.lower().startswith("video/"),
        on_frame=passthrough.deliver,
        on_audio_level=on_audio_level,
    )
    receiver._RTCRtpReceiver__decoder_queue = passthrough  # type: ignore[attr-defined]
    receiver._RTCRtpReceiver__jitter_buffer = buffer  # type: ignore[attr-defined]
    receiver._giaoban_handle_rtp = _fast_rtp_handler(  # type: ignore[attr-defined]
        receiver, buffer, idle, on_skipped, on_audio_level
    )
    return buffer


_NTP_OFFSET_S = 2_208_988_800
_NTP_ONE = 1 << 32
_NTP_OFFSET_MS = _NTP_OFFSET_S * 1000
"""Milliseconds from the NTP epoch (1900) to the Unix epoch: aiortc's ``clock.current_ms()``
without its ``datetime`` arithmetic."""


def enable_fast_receive(dtls: RTCDtlsTransport) -> None:
    """Handle ``dtls``'s incoming SRTP media in aioice's datagram callback, synchronously.

    aiortc puts every datagram on aioice's connection queue; the DTLS transport's task wakes
    up for it, and unprotects, parses and routes the packet down two more coroutines to the
    receiver. Here, once DTLS is up, an RTP datagram is unprotected, parsed and routed at
    once, and a receiver prepared by :func:`enable_passthrough` handles it synchronously
    (:func:`_fast_rtp_handler`): no queue, no task wake-up per packet. Anything else (STUN
    was already answered by aioice; DTLS, RTCP, media before the handshake) takes aiortc's
    path as before. Call once the transports are final (after ``setLocalDescription``).
    """
    if getattr(dtls, "_giaoban_fast_receive", False):
        return
    connection = dtls.transport._connection
    enqueue = connection.data_received
    router = dtls._rtp_router
    extensions = dtls._rtp_header_extensions_map
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    now = time.time

    def data_received(data: bytes, component: int) -> None:
        srtp = dtls._rx_srtp
        if (
            srtp is None
            or len(data) < 12
            or not 127 < data[0] < 192
            or 192 <= data[1] <= 208  # RTCP
            or dtls._state != DtlsState.CONNECTED
        ):
            enqueue(data, component)
            return
        arrival_time_ms = int(now() * 1000) + _NTP_OFFSET_MS
        dtls._RTCDtlsTransport__rx_bytes += len(data)  # type: ignore[attr-defined]
        dtls._RTCDtlsTransport__rx_packets += 1  # type: ignore[attr-defined]
        try:
            packet = RtpPacket.parse(srtp.unprotect(data), extensions)
        except (pylibsrtp.Error, ValueError):
            return  # as aiortc: a packet that does not authenticate or parse is dropped
        receiver = router.route_rtp(packet)
        if receiver is None:
            return
        handle = getattr(receiver, "_giaoban_handle_rtp", None)
        try:
            if handle is not None:
                handle(packet, arrival_time_ms)
            else:  # a receiver left on aiortc's path
                task = loop.create_task(receiver._handle_rtp_packet(packet, arrival_time_ms))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except Exception:
            logger.exception("fast receive of an RTP packet failed")

    connection.data_received = data_received  # type: ignore[method-assign]
    # aioice tries to parse every datagram as STUN first; RTP and RTCP (first byte 128-191;
    # STUN's is 0-3, DTLS's 20-63) go straight on.
    for protocol in connection._protocols:
        stun_received = protocol.datagram_received
        component = protocol.local_candidate.component

        def datagram_received(
            data: bytes, addr: Any, stun_received: Any = stun_received, component: int = component
        ) -> None:
            if data and data[0] > 127:
                data_received(data, component)
            else:
                stun_received(data, addr)

        protocol.datagram_received = datagram_received  # type: ignore[method-assign,assignment]
    dtls._giaoban_fast_receive = True  # type: ignore[attr-defined]


_ACTIVE_SSRC_RESOLUTION_MS = 100


class _RateCounter(RateCounter):
    """aiortc's ``RateCounter`` (what arrived per millisecond over a window) with the same
    figures, keeping only the milliseconds that saw data: aiortc's visits every millisecond
    of the window at every call (~60 % of its bandwidth estimator's time)."""

    def __init__(self, window_size: int, scale: int = 8000) -> None:
        self._entries: collections.deque[list[int]] = collections.deque()
        self._count = 0
        self._value = 0
        super().__init__(window_size, scale)

    def reset(self) -> None:
        self._entries = collections.deque()
        self._count = self._value = 0
        self._origin_ms = None

    def add(self, value: int, now_ms: int) -> None:
        if self._origin_ms is None:
            self._origin_ms = now_ms
        else:
            self._erase_old(now_ms)
        entries = self._entries
        if entries and entries[-1][0] == now_ms:
            entries[-1][1] += 1
            entries[-1][2] += value
        else:
            entries.append([now_ms, 1, value])
        self._count += 1
        self._value += value

    def rate(self, now_ms: int) -> int | None:
        if self._origin_ms is not None:
            self._erase_old(now_ms)
            active_window_size = now_ms - self._origin_ms + 1
            if self._count > 0 and active_window_size > 1:
                return round(self._scale * self._value / active_window_size)
        return None

    def _erase_old(self, now_ms: int) -> None:
        new_origin_ms = now_ms - self._window_size + 1
        assert self._origin_ms is not None
        if self._origin_ms >= new_origin_ms:
            return
        self._origin_ms = new_origin_ms
        entries = self._entries
        while entries and entries[0][0] < new_origin_ms:
            _, count, value = entries.popleft()
            self._count -= count
            self._value -= value


def _min_frame_period(history: list[float], length: int) -> Callable[[float], float]:
    """aiortc's ``OveruseEstimator.update_min_frame_period`` with ``min()`` over the list
    rather than a ``min()`` call per element."""

    def update_min_frame_period(ts_delta: float) -> float:
        if len(history) >= length:
            history.pop(0)
        result = min(ts_delta, *history) if history else ts_delta
        history.append(ts_delta)
        return result

    return update_min_frame_period


class _RemoteBitrateEstimator(RemoteBitrateEstimator):
    """aiortc's estimator with :func:`_speed_up_estimator` applied from the start."""

    def __init__(self) -> None:
        rate_counter = aiortc.rate.RateCounter
        aiortc.rate.RateCounter = _RateCounter  # type: ignore[misc]
        try:
            super().__init__()
        finally:
            aiortc.rate.RateCounter = rate_counter  # type: ignore[misc]
        _speed_up_estimator(self)


def _speed_up_estimator(estimator: RemoteBitrateEstimator) -> None:
    """Swap the two slow parts of aiortc's bandwidth estimator for equivalent ones."""
    if isinstance(estimator.incoming_bitrate, _RateCounter):
        return
    estimator.incoming_bitrate = _RateCounter(1000, 8000)
    overuse = estimator.estimator
    overuse.update_min_frame_period = _min_frame_period(  # type: ignore[method-assign,assignment]
        overuse.ts_delta_hist, MIN_FRAME_PERIOD_HISTORY_LENGTH
    )


def _fast_rtp_handler(
    receiver: RTCRtpReceiver,
    buffer: BoundedJitterBuffer,
    idle: Callable[[], bool] | None = None,
    on_skipped: Callable[[int, bool], None] | None = None,
    on_audio_level: Callable[[int], None] | None = None,
) -> Callable[[RtpPacket, int], None]:
    """A synchronous ``receiver._handle_rtp_packet`` for a passthrough receiver.

    Does what aiortc's does (bandwidth estimate and REMB, the sources seen, RTCP statistics,
    RTX unwrapping, NACKs, depayloading, the jitter buffer, PLI after a loss) with the RTCP it
    sends (rare: REMB is throttled, NACK and PLI follow losses) as tasks of their own.

    While ``idle()`` (nobody takes the frames: a hall's camera that no other hall is shown),
    a packet is only counted (``on_skipped(payload bytes, ends a frame)``), its audio level
    read, and kept in the RTCP statistics and the bandwidth estimate: no NACK, no
    reassembly. When frames are wanted again, skipping goes on to the end of the current
    frame (a frame assembled from its middle could pass for a keyframe); from the next
    packet the jitter buffer and the NACK state start afresh and the first frame is marked
    as following a loss (a video source then waits for a keyframe and asks for one).
    """
    loop = asyncio.get_running_loop()
    estimator = _receiver_attribute(receiver, "remote_bitrate_estimator")
    active_ssrc: dict[int, Any] = _receiver_attribute(receiver, "active_ssrc")
    codecs: dict[int, RTCRtpCodecParameters] = _receiver_attribute(receiver, "codecs")
    remote_streams: dict[int, StreamStatistics] = _receiver_attribute(receiver, "remote_streams")
    rtx_ssrc: dict[int, int] = _receiver_attribute(receiver, "rtx_ssrc")
    nack = _receiver_attribute(receiver, "nack_generator")
    is_video = _receiver_attribute(receiver, "kind") == "video"
    tasks: set[asyncio.Task[None]] = set()
    active_at: dict[int, int] = {}
    rtx_types: dict[int, bool] = {}
    frame_bytes = 0
    skipping = False
    after_frame_end = False

    def spawn(coroutine: Any) -> None:
        task = loop.create_task(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
        nonlocal frame_bytes, skipping, after_frame_end
        if not receiver._enabled:
            return
        if estimator is not None and packet.extensions.abs_send_time is not None:
            # Once per frame (its last packet, all its bytes): the estimator groups a frame's
            # packets by send time anyway, and this halves its cost.
            frame_bytes += len(packet.payload) + packet.padding_size
            remb = None
            if packet.marker:
                remb = estimator.add(
                    abs_send_time=packet.extensions.abs_send_time,
                    arrival_time_ms=arrival_time_ms,
                    payload_size=frame_bytes,
                    ssrc=packet.ssrc,
                )
                frame_bytes = 0
            rtcp_ssrc = receiver._RTCRtpReceiver__rtcp_ssrc  # type: ignore[attr-defined]
            if rtcp_ssrc is not None and remb is not None:
                spawn(
                    receiver._send_rtcp(
                        RtcpPsfbPacket(
                            fmt=RTCP_PSFB_APP,
                            ssrc=rtcp_ssrc,
                            media_ssrc=0,
                            fci=pack_remb_fci(*remb),
                        )
                    )
                )
        if arrival_time_ms - active_at.get(packet.ssrc, 0) >= _ACTIVE_SSRC_RESOLUTION_MS:
            # The sources seen (getSynchronizationSources: the PLI's target), to 0.1 s.
            active_at[packet.ssrc] = arrival_time_ms
            active_ssrc[packet.ssrc] = clock.current_datetime()
        codec = codecs.get(packet.payload_type)
        if codec is None:
            return
        stream = remote_streams.get(packet.ssrc)
        if stream is None:
            stream = remote_streams[packet.ssrc] = StreamStatistics(codec.clockRate)
        stream.add(packet)
        rtx = rtx_types.get(packet.payload_type)
        if rtx is None:
            rtx = rtx_types[packet.payload_type] = is_rtx(codec)
        idle_now = idle is not None and idle()
        if skipping or idle_now:
            if rtx:
                return
            if skipping and after_frame_end and not idle_now:
                # Wanted again, and this packet starts a frame: resume with it.
                skipping = False
                buffer.restart()
                if nack is not None:
                    nack.max_seq = None
                    nack.missing.clear()
            else:
                skipping = True
                after_frame_end = bool(packet.marker) or not is_video
                if on_audio_level is not None and packet.extensions.audio_level is not None:
                    on_audio_level(packet.extensions.audio_level[1])
                if on_skipped is not None:
                    on_skipped(len(packet.payload), after_frame_end)
                return
        if rtx:
            original_ssrc = rtx_ssrc.get(packet.ssrc)
            apt = codec.parameters.get("apt")
            if (
                original_ssrc is None
                or len(packet.payload) < 2
                or not isinstance(apt, int)
                or apt not in codecs
            ):
                return
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)
            codec = codecs[apt]
        if nack is not None and nack.add(packet):
            spawn(receiver._send_rtcp_nack(packet.ssrc, sorted(nack.missing)))
        try:
            packet._data = depayload(codec, packet.payload) if packet.payload else b""  # type: ignore[attr-defined]
        except ValueError:
            return
        pli_flag, _ = buffer.add(packet)
        if pli_flag and is_video:
            spawn(receiver._send_rtcp_pli(packet.ssrc))

    return handle


def throttle_remb(receiver: RTCRtpReceiver, interval: float) -> None:
    """Let ``receiver`` send a REMB (its bandwidth estimate) at most once per ``interval``
    seconds.

    aiortc's receiver sends a REMB for every packet while its estimator sees "overuse". A
    busy event loop delays arrivals, which looks like overuse, so an overloaded server sent
    a REMB (an RTCP packet: build, protect, send) per received video packet and got busier
    still: 30 % of its receive path in a 100-hall meeting. The estimate itself is still
    updated with every packet.
    """
    estimator = _receiver_attribute(receiver, "remote_bitrate_estimator")
    if estimator is None:
        return
    original = estimator.add
    last = -1e9

    def add(*args: Any, **kwargs: Any) -> Any:
        nonlocal last
        remb = original(*args, **kwargs)
        if remb is None:
            return None
        now = time.monotonic()
        if now - last < interval:
            return None
        last = now
        return remb

    estimator.add = add


def is_passthrough(receiver: RTCRtpReceiver) -> bool:
    """Whether :func:`enable_passthrough` was applied to ``receiver``."""
    return isinstance(_receiver_attribute(receiver, "decoder_queue"), PassthroughQueue)


class BoundedJitterBuffer(JitterBuffer):
    """aiortc's jitter buffer, plus: a hole older than ``max_delay`` RTP ticks is skipped,
    and every frame that is ready leaves at once.

    aiortc's buffer releases a frame only when every packet from its origin is there, and
    drops packets only when ``capacity`` is exceeded, so one lost packet holds a stream for as
    long as ``capacity`` packets take to arrive (seconds for a small or low-rate video). Here,
    once the newest packet is ``max_delay`` newer than the oldest one held behind a hole, the
    buffer jumps to the next frame start after the hole (a packet following a marker packet or
    a packet of another timestamp), marks the next frame it releases as a discontinuity
    (``frame.discontinuity = True``), and asks for a PLI (video).

    aiortc also releases at most one frame per packet added, so the frames held behind a hole
    that is filled (or skipped) would add their duration to the latency for good; with
    ``on_frame``, every ready frame goes to ``on_frame`` and ``add`` returns no frame.

    The capacity must stay larger than the largest keyframe in packets: a frame that does not
    fit is destroyed by aiortc's overflow handling, and so is the next keyframe asked for.
    """

    def __init__(
        self,
        capacity: int,
        max_delay: int,
        is_video: bool,
        prefetch: int = 0,
        on_frame: Callable[[JitterFrame], None] | None = None,
        on_audio_level: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(capacity=capacity, prefetch=prefetch, is_video=is_video)
        self._on_audio_level = on_audio_level
        self.max_delay = max_delay
        self.holes_skipped = 0
        self._on_frame = on_frame
        self._newest_timestamp: int | None = None
        self._discontinuity = False
        self._last_sequence = -2

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        if self._on_audio_level is not None and packet.extensions.audio_level is not None:
            self._on_audio_level(packet.extensions.audio_level[1])
        newest = self._newest_timestamp
        if newest is None or (packet.timestamp - newest) & _RTP_TS_MASK < _RTP_TS_HALF:
            self._newest_timestamp = packet.timestamp
        pli_flag, frame = super().add(packet)
        if pli_flag:
            # aiortc dropped packets (overflow or a large misorder).
            self._discontinuity = True
        if frame is None and self._skip_stale_hole():
            pli_flag = pli_flag or self._is_video
            frame = self._remove_frame(packet.sequence_number)
        # aiortc releases a frame only when a packet of the next one arrives (a frame
        # interval later: +40 ms at 25 fps, +20 ms for audio); a frame whose packets are
        # all here (video: up to the marker bit; audio: one packet) can leave now.
        in_order = packet.sequence_number == (self._last_sequence + 1) & 0xFFFF
        self._last_sequence = packet.sequence_number
        early = self._prefetch == 0 and (not self._is_video or packet.marker or not in_order)
        if frame is None and early:
            frame = self._remove_complete_frame()
        if frame is None:
            return pli_flag, None
        self._mark(frame)
        if self._on_frame is None:
            return pli_flag, frame
        while frame is not None:
            self._on_frame(frame)
            frame = self._remove_frame(packet.sequence_number)
            if frame is None and early:
                frame = self._remove_complete_frame()
            if frame is not None:
                self._mark(frame)
        return pli_flag, None

    def restart(self) -> None:
        """Drop every packet held and start again from the next one, whose frame is marked
        as a discontinuity (what came before it is lost)."""
        self._packets = [None] * self._capacity
        self._origin = None
        self._newest_timestamp = None
        self._last_sequence = -2
        self._discontinuity = True

    def _remove_complete_frame(self) -> JitterFrame | None:
        """The frame at the origin if all its packets are here (video: from the origin to a
        packet with the marker bit, one timestamp; audio: one packet), removed."""
        origin = self._origin
        if origin is None:
            return None
        capacity = self._capacity
        packets = self._packets
        first = packets[origin % capacity]
        if first is None:
            return None
        if not self._is_video:
            self.remove(1)
            return JitterFrame(data=first._data, timestamp=first.timestamp)  # type: ignore[attr-defined]
        timestamp = first.timestamp
        for count in range(capacity):
            current = packets[(origin + count) % capacity]
            if current is None or current.timestamp != timestamp:
                return None
            if current.marker:
                held = [packets[(origin + i) % capacity] for i in range(count + 1)]
                data = b"".join(p._data for p in held)  # type: ignore[union-attr]
                self.remove(count + 1)
                return JitterFrame(data=data, timestamp=timestamp)
        return None

    def _mark(self, frame: JitterFrame) -> None:
        if self._discontinuity:
            self._discontinuity = False
            frame.discontinuity = True  # type: ignore[attr-defined]

    def _skip_stale_hole(self) -> bool:
        origin = self._origin
        newest = self._newest_timestamp
        if origin is None or newest is None:
            return False
        capacity = self._capacity
        packets = self._packets
        head = packets[origin % capacity]
        if head is not None and not self._is_stale(head.timestamp, newest):
            return False
        oldest: int | None = None
        hole = False
        previous: RtpPacket | None = None
        for index in range(capacity):
            current = packets[(origin + index) % capacity]
            if current is None:
                hole = True
                previous = None
                continue
            if oldest is None:
                oldest = current.timestamp
                if not self._is_stale(oldest, newest):
                    return False
            if (
                hole
                and previous is not None
                and (previous.marker or previous.timestamp != current.timestamp)
            ):
                self.remove(index)
                self.holes_skipped += 1
                self._discontinuity = True
                return True
            previous = current
        return False

    def _is_stale(self, timestamp: int, newest: int) -> bool:
        age = (newest - timestamp) & _RTP_TS_MASK
        return self.max_delay < age < _RTP_TS_HALF


def jitter_buffer(receiver: RTCRtpReceiver) -> JitterBuffer:
    """The receiver's jitter buffer (for statistics and tests)."""
    buffer: JitterBuffer = _receiver_attribute(receiver, "jitter_buffer")
    return buffer


async def send_pli(receiver: RTCRtpReceiver) -> bool:
    """Send an RTCP PLI for the stream ``receiver`` gets; ``False`` if none arrived yet."""
    sources = receiver.getSynchronizationSources()
    if not sources:
        return False
    ssrc = max(sources, key=lambda source: source.timestamp).source
    await receiver._send_rtcp_pli(ssrc)
    return True


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` whenever ``sender`` receives a PLI or FIR from its remote peer."""
    original = sender._send_keyframe

    def send_keyframe() -> None:
        original()
        try:
            callback()
        except Exception:
            logger.exception("keyframe request callback failed")

    sender._send_keyframe = send_keyframe  # type: ignore[method-assign]


# -- the send path -------------------------------------------------------------------------


def enable_fast_send(sender: RTCRtpSender) -> None:
    """Replace ``sender``'s RTP loop by :func:`_fast_run_rtp` (call before it starts).

    aiortc's ``RTCRtpSender._run_rtp`` does, for every packet, two NTP clock reads (through
    ``datetime``), a full header serialisation with its extension map, and five nested
    coroutine calls down to ``transport.sendto`` (``RTCDtlsTransport._send_rtp``,
    ``RTCIceTransport._send``, aioice's ``Connection.send``, ``sendto``, ``send_data``). For a
    forwarded (pre-encoded) track this loop reads the clock once per frame, serialises one
    header per frame and patches the sequence number and marker bit for the frame's other
    packets, and protects and sends each packet synchronously on the selected candidate
    pair's socket. What the sender's RTCP side reads is kept as aiortc keeps it: the
    retransmission history (NACK, RTX), the sender-report counters and timestamps, and the
    DTLS transport's byte and packet counts.
    """
    sender._run_rtp = types.MethodType(_fast_run_rtp, sender)  # type: ignore[method-assign]


def _sender_attr(sender: RTCRtpSender, name: str) -> Any:
    return getattr(sender, f"_RTCRtpSender__{name}")


_VP8_PAYLOAD_MAX = 1300 - 4
"aiortc's PACKET_MAX less the 4-byte descriptor (X, I bits, 15-bit picture id)."


def _vp8_payloads(frame: bytes, picture_id: int) -> list[bytes]:
    """``frame`` as aiortc's ``Vp8Encoder._packetize`` splits it, descriptors included."""
    picture = (0x8000 | picture_id).to_bytes(2, "big")
    first = b"\x90\x80" + picture
    rest = b"\x80\x80" + picture
    return [
        (rest if start else first) + frame[start : start + _VP8_PAYLOAD_MAX]
        for start in range(0, len(frame), _VP8_PAYLOAD_MAX)
    ]


class _RtpWriter:
    """Packetises, protects and sends one sender's frames synchronously (see
    :func:`enable_fast_send`); raises ``ConnectionError`` or ``OSError`` when it cannot."""

    def __init__(self, sender: RTCRtpSender, codec: RTCRtpCodecParameters) -> None:
        self.sender = sender
        self.sequence_number = random16() % 32768  # as aiortc's random_sequence_number()
        self.timestamp_origin = random32()
        self.history: dict[int, RtpPacket] = _sender_attr(sender, "rtp_history")
        self.extensions_map = _sender_attr(sender, "rtp_header_extensions_map")
        self.mid = _sender_attr(sender, "mid")
        self.payload_type: int = codec.payloadType or 0
        self.ssrc = sender._ssrc
        self.dtls: Any = sender.transport
        mime = codec.mimeType.lower()
        self.is_vp8 = mime == "video/vp8"
        self.packs_itself = self.is_vp8 or mime == "audio/opus"
        "VP8 and Opus are packetised here; H.264 and the rest by aiortc's encoder objects."
        self.picture_id = random16() % 32768
        self.clock_base = fractions.Fraction(1, codec.clockRate)

    def send_frame(self, frame: bytes, frame_timestamp: int) -> None:
        """Send one VP8 or Opus frame whose RTP timestamp (before the random origin) is
        ``frame_timestamp``."""
        if self.is_vp8:
            payloads = _vp8_payloads(frame, self.picture_id)
            self.picture_id = (self.picture_id + 1) & 0x7FFF
        else:
            payloads = [frame]
        self.send(payloads, frame_timestamp, None)

    def send(self, payloads: list[bytes], frame_timestamp: int, audio_level: int | None) -> None:
        """Send one frame's payloads as RTP packets (the last one with the marker bit)."""
        dtls = self.dtls
        if dtls._state != DtlsState.CONNECTED:
            raise ConnectionError("Cannot send encrypted RTP, not connected")
        # aioice's Connection.sendto: the selected pair of component 1.
        pair = dtls.transport._connection._nominated.get(1)
        udp = pair.protocol.transport if pair is not None else None
        if udp is None:
            raise ConnectionError("Cannot send data, not connected")
        address = pair.remote_addr
        # The socket itself while asyncio's transport has nothing buffered (its sendto adds
        # checks and a call per packet); the transport when the socket would block or fails.
        sock = udp._sock if not udp._buffer and not udp._conn_lost else None
        protect = dtls._tx_srtp.protect
        timestamp = (self.timestamp_origin + frame_timestamp) & 0xFFFFFFFF
        ntp = int((time.time() + _NTP_OFFSET_S) * _NTP_ONE)  # clock.current_ntp_time()
        history = self.history
        payload_type = self.payload_type
        sequence_number = self.sequence_number
        last = len(payloads) - 1
        header = b""
        header_length = 0
        sent_bytes = 0
        octets = 0
        for index, payload in enumerate(payloads):
            packet = RtpPacket(
                payload_type=payload_type,
                marker=1 if index == last else 0,
                sequence_number=sequence_number,
                timestamp=timestamp,
                ssrc=self.ssrc,
                payload=payload,
            )
            packet.extensions.abs_send_time = (ntp >> 14) & 0x00FFFFFF
            packet.extensions.mid = self.mid
            if audio_level is not None:
                packet.extensions.audio_level = (False, -audio_level)
            history[sequence_number % RTP_HISTORY_SIZE] = packet
            if not header:
                data = packet.serialize(self.extensions_map)
                header_length = len(data) - len(payload)
                header = data[:header_length]
            else:
                # Same header but for the marker bit and the sequence number.
                data = b"".join(
                    (
                        header[:1],
                        bytes(((packet.marker << 7) | payload_type,)),
                        sequence_number.to_bytes(2, "big"),
                        header[4:header_length],
                        payload,
                    )
                )
            data = protect(data)
            if sock is not None:
                try:
                    sock.sendto(data, address)
                except OSError:
                    sock = None
                    udp.sendto(data, address)
            else:
                udp.sendto(data, address)
            sent_bytes += len(data)
            octets += len(payload)
            sequence_number = (sequence_number + 1) & 0xFFFF
        self.sequence_number = sequence_number
        count = last + 1
        dtls._RTCDtlsTransport__tx_bytes += sent_bytes
        dtls._RTCDtlsTransport__tx_packets += count
        sender: Any = self.sender
        sender._RTCRtpSender__ntp_timestamp = ntp
        sender._RTCRtpSender__rtp_timestamp = timestamp
        sender._RTCRtpSender__octet_count += octets
        sender._RTCRtpSender__packet_count += count


DirectFrameSender = Callable[[bytes, int], None]
"Sends one encoded frame (its bytes, its RTP timestamp) at once; see :class:`DirectTrack`."


class DirectTrack:
    """What a track offers to be pushed to its fast sender rather than read with ``recv()``.

    :meth:`attach_direct` hands the track a function that sends a frame synchronously (raising
    ``ConnectionError`` or ``OSError`` when it cannot) and a function to call once, with the
    error, when the track must stop being sent that way; :meth:`detach_direct` takes them back.
    A track that has them calls the first for every frame instead of queueing it: no queue,
    no task wake-up, no copy per subscriber and frame.
    """

    def attach_direct(
        self, send: DirectFrameSender, on_stop: Callable[[BaseException | None], None]
    ) -> None:
        raise NotImplementedError

    def detach_direct(self) -> None:
        raise NotImplementedError


async def _fast_run_rtp(self: RTCRtpSender, codec: RTCRtpCodecParameters) -> None:
    _sender_attr(self, "rtp_started").set()
    writer = _RtpWriter(self, codec)
    mangled = "_RTCRtpSender__"
    loop = asyncio.get_running_loop()
    try:
        while True:
            track = _sender_attr(self, "track")
            if not track:
                await asyncio.sleep(0.02)
                continue
            if writer.packs_itself and isinstance(track, DirectTrack):
                await _run_direct(self, track, writer, loop)
                continue
            audio_level = None
            if not writer.packs_itself:
                # H.264 and the rest: aiortc's own path (Annex-B parsing, STAP-A/FU-A).
                encoded = await self._next_encoded_frame(codec)
                if encoded is None:
                    continue
                writer.send(encoded.payloads, encoded.timestamp, encoded.audio_level)
                continue
            data = await track.recv()
            if not self._enabled:
                continue
            if (
                isinstance(data, av.Packet)
                and data.pts is not None
                and data.time_base == writer.clock_base
            ):
                # A pre-encoded frame: packetised here, VP8 with this sender's picture ids as
                # aiortc's Vp8Encoder.pack would, Opus as it is; no encoder object, no
                # time-base arithmetic.
                writer.send_frame(bytes(data), data.pts)
                continue
            # Anything else as aiortc's _next_encoded_frame does it.
            encoder = _sender_attr(self, "encoder")
            if encoder is None:
                encoder = aiortc.rtcrtpsender.get_encoder(codec)
                setattr(self, mangled + "encoder", encoder)
            if isinstance(data, Frame):
                if isinstance(data, AudioFrame):
                    audio_level = rtp.compute_audio_level_dbov(data)
                force_keyframe = _sender_attr(self, "force_keyframe")
                setattr(self, mangled + "force_keyframe", False)
                payloads, frame_timestamp = await loop.run_in_executor(
                    None, encoder.encode, data, force_keyframe
                )
            else:
                payloads, frame_timestamp = encoder.pack(data)
            if payloads:
                writer.send(payloads, frame_timestamp, audio_level)
    except (asyncio.CancelledError, ConnectionError, MediaStreamError, OSError):
        pass
    except Exception:
        logger.exception("forwarding RTP loop failed")
    track = _sender_attr(self, "track")
    if track:
        track.stop()
        setattr(self, mangled + "track", None)
    setattr(self, mangled + "encoder", None)
    _sender_attr(self, "rtp_exited").set()


async def _run_direct(
    sender: RTCRtpSender,
    track: DirectTrack,
    writer: _RtpWriter,
    loop: asyncio.AbstractEventLoop,
) -> None:
    """Let ``track`` push its frames through ``writer`` until it stops, the connection fails
    (raised here) or the sender's track is replaced (returns)."""
    stopped: asyncio.Future[BaseException | None] = loop.create_future()

    def send(frame: bytes, frame_timestamp: int) -> None:
        if sender._RTCRtpSender__track is not track:  # type: ignore[attr-defined]
            stop(None)  # replaceTrack(): the loop picks the new track up
            return
        if not sender._enabled:
            return
        try:
            writer.send_frame(frame, frame_timestamp)
        except (ConnectionError, OSError) as exc:
            stop(exc)

    def stop(error: BaseException | None) -> None:
        if not stopped.done():
            stopped.set_result(error)

    track.attach_direct(send, stop)
    try:
        error = await stopped
    finally:
        track.detach_direct()
    if error is not None:
        raise error
