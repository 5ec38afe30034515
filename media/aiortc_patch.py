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
"""

from __future__ import annotations

import asyncio
import fractions
import inspect
import logging
import queue
import re
import threading
import time
import types
from collections.abc import Callable
from typing import Any

import aiortc
import aiortc.rtcrtpreceiver
import av
from aiortc import RTCRtpReceiver, RTCRtpSender, clock, rtp
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RTP_HISTORY_SIZE, RtpPacket
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
) -> BoundedJitterBuffer:
    """Make ``receiver`` hand its encoded frames to ``on_packet`` instead of decoding them.

    Installs a :class:`PassthroughQueue` as its decoder queue and a
    :class:`BoundedJitterBuffer` (``capacity`` packets, holes skipped after ``max_delay`` RTP
    ticks) that delivers to it. Call before the receiver starts (after the transceiver
    exists, before the connection is up); ``on_end`` is called once when the receiver stops.
    ``mime_type`` and ``clock_rate`` are those of the one codec negotiated for the m-line.
    ``on_audio_level`` gets the level (RFC 6464: 0 loudest to 127 silent, in -dBov) each
    packet carries in its ``ssrc-audio-level`` header extension.
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
    return buffer


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


async def _fast_run_rtp(self: RTCRtpSender, codec: RTCRtpCodecParameters) -> None:
    _sender_attr(self, "rtp_started").set()
    sequence_number = random16() % 32768  # as aiortc's random_sequence_number()
    timestamp_origin = random32()
    history: dict[int, RtpPacket] = _sender_attr(self, "rtp_history")
    extensions_map = _sender_attr(self, "rtp_header_extensions_map")
    mid = _sender_attr(self, "mid")
    payload_type: int = codec.payloadType or 0
    ssrc = self._ssrc
    dtls: Any = self.transport
    mime = codec.mimeType.lower()
    is_vp8 = mime == "video/vp8"
    packs_itself = is_vp8 or mime == "audio/opus"
    picture_id = random16() % 32768
    clock_base = fractions.Fraction(1, codec.clockRate)
    mangled = "_RTCRtpSender__"
    dtls_tx = "_RTCDtlsTransport__tx_"
    try:
        while True:
            if not _sender_attr(self, "track"):
                await asyncio.sleep(0.02)
                continue
            audio_level = None
            if not packs_itself:
                # H.264 and the rest: aiortc's own path (Annex-B parsing, STAP-A/FU-A).
                encoded = await self._next_encoded_frame(codec)
                if encoded is None:
                    continue
                payloads, frame_timestamp = encoded.payloads, encoded.timestamp
                audio_level = encoded.audio_level
                data = None
            else:
                data = await _sender_attr(self, "track").recv()
                if not self._enabled:
                    continue
            if data is None:
                pass
            elif (
                isinstance(data, av.Packet)
                and data.pts is not None
                and data.time_base == clock_base
            ):
                # A pre-encoded frame (a forwarded track's): packetised here, VP8 with
                # this sender's picture ids as aiortc's Vp8Encoder.pack would, Opus as it
                # is; no encoder object, no time-base arithmetic.
                frame_timestamp = data.pts
                if is_vp8:
                    payloads = _vp8_payloads(bytes(data), picture_id)
                    picture_id = (picture_id + 1) & 0x7FFF
                else:
                    payloads = [bytes(data)]
            else:
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
                    payloads, frame_timestamp = await asyncio.get_running_loop().run_in_executor(
                        None, encoder.encode, data, force_keyframe
                    )
                else:
                    payloads, frame_timestamp = encoder.pack(data)
                if not payloads:
                    continue
            if dtls._state != DtlsState.CONNECTED:
                raise ConnectionError("Cannot send encrypted RTP, not connected")
            # aioice's Connection.sendto: the selected pair of component 1.
            pair = dtls.transport._connection._nominated.get(1)
            udp = pair.protocol.transport if pair is not None else None
            if udp is None:
                raise ConnectionError("Cannot send data, not connected")
            sendto, address = udp.sendto, pair.remote_addr
            protect = dtls._tx_srtp.protect
            timestamp = (timestamp_origin + frame_timestamp) & 0xFFFFFFFF
            ntp = clock.current_ntp_time()
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
                    ssrc=ssrc,
                    payload=payload,
                )
                packet.extensions.abs_send_time = (ntp >> 14) & 0x00FFFFFF
                packet.extensions.mid = mid
                if audio_level is not None:
                    packet.extensions.audio_level = (False, -audio_level)
                history[sequence_number % RTP_HISTORY_SIZE] = packet
                if not header:
                    data = packet.serialize(extensions_map)
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
                sendto(data, address)
                sent_bytes += len(data)
                octets += len(payload)
                sequence_number = (sequence_number + 1) & 0xFFFF
            count = last + 1
            setattr(dtls, dtls_tx + "bytes", getattr(dtls, dtls_tx + "bytes") + sent_bytes)
            setattr(dtls, dtls_tx + "packets", getattr(dtls, dtls_tx + "packets") + count)
            setattr(self, mangled + "ntp_timestamp", ntp)
            setattr(self, mangled + "rtp_timestamp", timestamp)
            setattr(self, mangled + "octet_count", getattr(self, mangled + "octet_count") + octets)
            setattr(self, mangled + "packet_count", getattr(self, mangled + "packet_count") + count)
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
