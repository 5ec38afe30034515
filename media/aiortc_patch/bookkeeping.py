"""A received packet's bookkeeping, as aiortc does it, in fewer Python steps.

The fast receive path (:func:`media.aiortc_patch.receive._fast_rtp_handler`) does for every
packet what aiortc's receiver does: RTCP statistics (``StreamStatistics.add``), missing
packets for NACKs (``NackGenerator.add``) and the VP8 payload descriptor stripped
(``depayload``). aiortc's make a function call per sequence number comparison, a list of the
missing set per packet, a descriptor object and a ``str.split`` of the codec's MIME type per
packet. These give the same figures, the same missing set and the same payloads (and
``ValueError`` for the same bad descriptors); ``tests/media/test_media_hooks_receive.py``
holds them to aiortc's.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiortc.codecs import h264_depayload
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtp import RTP_HISTORY_SIZE, RtpPacket


def _newer(a: int, b: int) -> bool:
    """aiortc's ``uint16_gt(a, b)``: ``a`` is after ``b`` in sequence number order."""
    return a != b and (a - b) & 0xFFFF < 0x8000


class Statistics(StreamStatistics):
    """aiortc's ``StreamStatistics`` (what the receiver reports in RTCP) with ``add`` inline."""

    def add(self, packet: RtpPacket) -> None:
        seq = packet.sequence_number
        max_seq = self.max_seq
        self.packets_received += 1
        if self.base_seq is None:
            self.base_seq = seq
        if max_seq is None or (seq != max_seq and (seq - max_seq) & 0xFFFF < 0x8000):
            arrival = int(time.time() * self._clockrate)
            if max_seq is not None and seq < max_seq:
                self.cycles += 1 << 16
            self.max_seq = seq
            timestamp = packet.timestamp
            if timestamp != self._last_timestamp and self.packets_received > 1:
                # (set by the first packet, always in order)
                diff = abs((arrival - self._last_arrival) - (timestamp - self._last_timestamp))  # type: ignore[operator]
                self._jitter_q4 += diff - ((self._jitter_q4 + 8) >> 4)
            self._last_arrival = arrival
            self._last_timestamp = timestamp


class Nacks(NackGenerator):
    """aiortc's ``NackGenerator`` with ``add`` inline: the missing set is trimmed only when
    it holds anything."""

    def add(self, packet: RtpPacket) -> bool:
        seq = packet.sequence_number
        max_seq = self.max_seq
        if max_seq is None:
            self.max_seq = seq
            return False
        missing = self.missing
        missed = False
        if seq != max_seq and (seq - max_seq) & 0xFFFF < 0x8000:
            gap = (seq - max_seq) & 0xFFFF
            if gap > 1:
                missing.update((max_seq + i) & 0xFFFF for i in range(1, gap))
                missed = True
            self.max_seq = max_seq = seq
        else:
            missing.discard(seq)
        if missing:
            oldest = (max_seq - RTP_HISTORY_SIZE) & 0xFFFF
            for old in [s for s in missing if _newer(oldest, s)]:
                missing.discard(old)
        return missed


def vp8_payload(payload: bytes) -> bytes:
    """aiortc's ``vp8_depayload``: the payload after its VP8 descriptor (RFC 7741 4.2), and
    ``ValueError`` for a truncated descriptor, without making the descriptor."""
    length = len(payload)
    if length < 1:
        raise ValueError("VPX descriptor is too short")
    if not payload[0] & 0x80:
        return payload[1:]
    if length < 2:
        raise ValueError("VPX descriptor has truncated extended bits")
    bits = payload[1]
    position = 2
    if bits & 0x80:  # picture id
        if length < 3:
            raise ValueError("VPX descriptor has truncated PictureID")
        if payload[2] & 0x80:
            if length < 4:
                raise ValueError("VPX descriptor has truncated long PictureID")
            position = 4
        else:
            position = 3
    if bits & 0x40:  # TL0PICIDX
        if length < position + 1:
            raise ValueError("VPX descriptor has truncated TL0PICIDX")
        position += 1
    if bits & 0x30:  # TID/Y/KEYIDX
        if length < position + 1:
            raise ValueError("VPX descriptor has truncated T/K")
        position += 1
    return payload[position:]


def depayloader(codec: RTCRtpCodecParameters) -> Callable[[bytes], bytes] | None:
    """aiortc's ``depayload(codec, …)`` for one codec, chosen once: None where the payload
    is the frame's data as it is."""
    name = codec.name
    if name == "VP8":
        return vp8_payload
    if name == "H264":
        return h264_depayload
    return None
