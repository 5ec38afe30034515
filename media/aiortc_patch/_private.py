"""Helpers the hook modules share: aiortc's name-mangled private attributes, RTP and NTP
arithmetic."""

from __future__ import annotations

import inspect
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.rtcdtlstransport import State as DtlsState

from media.errors import AiortcIncompatibleError

RTP_TS_MASK = 0xFFFFFFFF
RTP_TS_HALF = 0x80000000

NTP_OFFSET_S = 2_208_988_800
NTP_ONE = 1 << 32
NTP_OFFSET_MS = NTP_OFFSET_S * 1000
"""Milliseconds from the NTP epoch (1900) to the Unix epoch: aiortc's ``clock.current_ms()``
without its ``datetime`` arithmetic."""

DTLS_CONNECTED = DtlsState.CONNECTED
"""For the per-packet paths: before Python 3.12 every read of an enum member from its class
goes through ``EnumMeta.__getattr__`` (a method wrapper made and called: 1.7 % of a ten-hall
meeting's CPU, measured with perf)."""


def lacking(code: Any, says: str, *needles: str) -> list[str]:
    """For the guards' ``check()``: ``says`` and each of ``needles`` (lines of aiortc's or
    aioice's code a hook relies on) that the source of ``code`` no longer holds."""
    source = inspect.getsource(code)
    return [f"{says} {needle}" for needle in needles if needle not in source]


def receiver_attribute(receiver: RTCRtpReceiver, name: str) -> Any:
    mangled = f"_RTCRtpReceiver__{name}"
    if not hasattr(receiver, mangled):
        raise AiortcIncompatibleError(f"RTCRtpReceiver has no {mangled}: aiortc changed")
    return getattr(receiver, mangled)


def sender_attribute(sender: RTCRtpSender, name: str) -> Any:
    return getattr(sender, f"_RTCRtpSender__{name}")
