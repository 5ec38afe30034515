"""The receive side's bandwidth estimator: aiortc's, cheaper, and its REMBs throttled.

Hooks: :func:`install` makes every receiver created from then on use
:class:`_RemoteBitrateEstimator` (``aiortc.rtcrtpreceiver.RemoteBitrateEstimator``): the same
figures with a rate counter that keeps only the milliseconds that saw data and a cheaper
minimum over ``OveruseEstimator.ts_delta_hist`` (aiortc's built 1,000 rate buckets per video
receiver, ~5 ms of every hall's join, and spent ~60 % of its time visiting them).
:func:`throttle_remb` wraps a receiver's private ``__remote_bitrate_estimator``'s ``add`` so
that a REMB leaves at most once per interval (aiortc sends one per packet while it sees
"overuse", which a busy loop looks like).
"""

from __future__ import annotations

import collections
import inspect
import time
from collections.abc import Callable
from typing import Any

import aiortc
import aiortc.rate
import aiortc.rtcrtpreceiver
from aiortc import RTCRtpReceiver
from aiortc.rate import MIN_FRAME_PERIOD_HISTORY_LENGTH, RateCounter, RemoteBitrateEstimator

from media.aiortc_patch._private import (
    receiver_attribute,
)


def check() -> list[str]:
    """What the estimator hooks rely on."""
    problems: list[str] = []
    receiver_source = inspect.getsource(RTCRtpReceiver)
    if "self.__remote_bitrate_estimator = RemoteBitrateEstimator()" not in receiver_source:
        problems.append("RTCRtpReceiver no longer makes its RemoteBitrateEstimator")
    if not hasattr(aiortc.rtcrtpreceiver, "RemoteBitrateEstimator"):
        problems.append("aiortc.rtcrtpreceiver no longer imports RemoteBitrateEstimator")
    estimator_source = inspect.getsource(RemoteBitrateEstimator)
    for needle in (
        "self.incoming_bitrate = RateCounter(1000, 8000)",
        "self.estimator = OveruseEstimator()",
    ):
        if needle not in estimator_source:
            problems.append(f"aiortc's RemoteBitrateEstimator no longer does {needle}")
    if "self.ts_delta_hist" not in inspect.getsource(aiortc.rate.OveruseEstimator):
        problems.append("aiortc's OveruseEstimator no longer keeps ts_delta_hist")
    if "self.__remote_bitrate_estimator.add(" not in inspect.getsource(
        RTCRtpReceiver._handle_rtp_packet
    ):
        problems.append("RTCRtpReceiver._handle_rtp_packet no longer feeds its estimator")
    return problems


def install() -> None:
    """Every receiver made from now on gets the cheaper estimator from the start."""
    aiortc.rtcrtpreceiver.RemoteBitrateEstimator = _RemoteBitrateEstimator  # type: ignore[misc]


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
    """Swap the two slow parts of aiortc's bandwidth estimator for equivalent ones (each
    once: :class:`_RemoteBitrateEstimator` has its rate counter from the start)."""
    if not isinstance(estimator.incoming_bitrate, _RateCounter):
        estimator.incoming_bitrate = _RateCounter(1000, 8000)
    overuse = estimator.estimator
    if "update_min_frame_period" not in vars(overuse):
        overuse.update_min_frame_period = _min_frame_period(  # type: ignore[method-assign,assignment]
            overuse.ts_delta_hist, MIN_FRAME_PERIOD_HISTORY_LENGTH
        )


def throttle_remb(receiver: RTCRtpReceiver, interval: float) -> None:
    """Let ``receiver`` send a REMB (its bandwidth estimate) at most once per ``interval``
    seconds.

    aiortc's receiver sends a REMB for every packet while its estimator sees "overuse". A
    busy event loop delays arrivals, which looks like overuse, so an overloaded server sent
    a REMB (an RTCP packet: build, protect, send) per received video packet and got busier
    still: 30 % of its receive path in a 100-hall meeting. The estimate itself is still
    updated with every packet.
    """
    estimator = receiver_attribute(receiver, "remote_bitrate_estimator")
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
