"""The bandwidth estimator (``media.aiortc_patch.estimator``): aiortc's figures, cheaper, REMBs
spaced."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import aiortc
import aiortc.rtcrtpreceiver
import pytest
from aiortc.rate import RateCounter, RemoteBitrateEstimator
from aiortc.rtp import RTCP_PSFB_APP, AnyRtcpPacket, RtcpPsfbPacket, unpack_remb_fci
from media_testkit import (
    GREEN,
    RED,
    Client,
    ColourVideoTrack,
    connect,
    publisher_client,
    until,
)

from media import AiortcIncompatibleError, JitterSettings, Peer, PeerSettings, aiortc_patch


def test_remb_is_sent_at_most_once_per_interval() -> None:
    # aiortc's receiver sends a REMB for every packet while its estimator sees "overuse" (a
    # busy server's own loop delay looks like it): the estimate goes on, the REMBs are spaced.
    class Estimator:
        calls = 0

        def add(self, **kwargs: object) -> tuple[int, list[int]]:
            self.calls += 1
            return 300_000, [1]

    class Receiver:
        _RTCRtpReceiver__remote_bitrate_estimator = Estimator()

    receiver = Receiver()
    aiortc_patch.estimator.throttle_remb(receiver, 60.0)  # type: ignore[arg-type]
    estimator = receiver._RTCRtpReceiver__remote_bitrate_estimator
    sent = [estimator.add(arrival_time_ms=i, abs_send_time=i, payload_size=1000, ssrc=1)
            for i in range(50)]  # fmt: skip
    assert estimator.calls == 50
    assert sent[0] == (300_000, [1]) and sent[1:] == [None] * 49


def _sped_up() -> RemoteBitrateEstimator:
    estimator = RemoteBitrateEstimator()
    aiortc_patch.estimator._speed_up_estimator(estimator)
    return estimator


@pytest.mark.parametrize(
    "make", [aiortc_patch.estimator._RemoteBitrateEstimator, _sped_up], ids=["receivers", "swapped"]
)
def test_the_faster_bandwidth_estimator_gives_aiortcs_figures(
    make: Callable[[], RemoteBitrateEstimator],
) -> None:
    """Same packets, same REMBs: the swapped rate counter and frame-period history change
    the cost, not the estimate; both are swapped in the estimator a receiver gets."""
    rng = random.Random(7)
    ours, theirs = make(), RemoteBitrateEstimator()
    assert isinstance(ours.incoming_bitrate, aiortc_patch.estimator._RateCounter)
    assert "update_min_frame_period" in vars(ours.estimator)
    send_ms, arrival_ms, rembs = 0.0, 1000, 0
    for _ in range(3000):
        send_ms += rng.choice((0.0, 0.5, 40.0, 40.0, 40.0, 80.0))
        arrival_ms += rng.choice((0, 1, 20, 40, 45, 60, 1500 if rng.random() < 0.002 else 40))
        abs_send_time = int(send_ms * 262.144) & 0xFFFFFF
        size = rng.randrange(100, 9000)
        expected = theirs.add(abs_send_time, arrival_ms, size, 1234)
        assert ours.add(abs_send_time, arrival_ms, size, 1234) == expected
        rembs += expected is not None
        assert ours.incoming_bitrate.rate(arrival_ms) == theirs.incoming_bitrate.rate(arrival_ms)
    assert rembs > 10


def test_the_faster_rate_counter_counts_as_aiortcs() -> None:
    rng = random.Random(11)
    ours, theirs = aiortc_patch.estimator._RateCounter(100, 8000), RateCounter(100, 8000)
    now = 5000
    for _ in range(5000):
        now += rng.choice((0, 0, 1, 2, 5, 20, 99, 100, 101, 250))
        if rng.random() < 0.7:
            value = rng.randrange(1, 1500)
            ours.add(value, now)
            theirs.add(value, now)
        assert ours.rate(now) == theirs.rate(now)


def test_the_guard_names_what_an_upgrade_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    assert aiortc_patch.estimator.check() == []
    monkeypatch.delattr(aiortc.rtcrtpreceiver, "RemoteBitrateEstimator")
    problems = aiortc_patch.estimator.check()
    assert any("RemoteBitrateEstimator" in problem for problem in problems), problems
    with pytest.raises(AiortcIncompatibleError, match="RemoteBitrateEstimator"):
        aiortc_patch.check_hooks()


async def test_only_a_watched_publisher_costs_estimator_calls_and_each_gets_rembs(
    make_peer: Callable[..., Peer], clients: list[Client]
) -> None:
    """A camera nobody takes frames from (no subscriber, no recorder) runs no bandwidth
    estimator and is told the cap (before any estimate) or the last estimate it was sent, once
    per ``idle_remb_interval``; watched, its REMBs follow the estimator's figures again."""
    cap = 777_000
    settings = PeerSettings(jitter=JitterSettings(idle_remb_interval=0.3, idle_remb_bitrate=cap))
    publisher = publisher_client(RED, audio=False)
    clients.append(publisher)
    peer = make_peer(settings)
    rembs: list[int] = []
    (sender,) = publisher.pc.getSenders()
    handle_rtcp = sender._handle_rtcp_packet

    async def spy_rtcp(packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            rembs.append(unpack_remb_fci(packet.fci)[0])
        await handle_rtcp(packet)

    sender._handle_rtcp_packet = spy_rtcp  # type: ignore[method-assign]
    await connect(publisher, peer)
    (video,) = peer.sources
    (receiver,) = [t.receiver for t in peer._pc.getTransceivers()]
    estimator = receiver._RTCRtpReceiver__remote_bitrate_estimator  # type: ignore[attr-defined]
    add = estimator.add
    estimates: list[int] = []
    calls = 0

    def spy_add(**kwargs: int) -> tuple[int, list[int]] | None:
        nonlocal calls
        calls += 1
        remb = add(**kwargs)
        if remb is not None:
            estimates.append(remb[0])
        return remb

    estimator.add = spy_add

    # Unwatched: the cap, about every 0.3 s, and not one estimator call.
    started = time.monotonic()
    await until(lambda: len(rembs) >= 3 and video.packets_received >= 20, deadline=5)
    assert video.idle
    assert calls == 0
    assert set(rembs) == {cap}
    assert len(rembs) <= (time.monotonic() - started) / 0.3 + 2

    # Watched: the estimator runs, and the publisher is told what it estimates.
    class Sink:
        def on_packet(self, source: object, packet: object) -> None:
            pass

        def on_source_ended(self, source: object) -> None:
            pass

    sink = Sink()
    video.subscribe(sink)
    await until(lambda: bool(estimates) and estimates[0] in rembs, deadline=10)
    assert calls > 0
    watched_rembs = rembs[rembs.index(estimates[0]) :]
    assert set(watched_rembs) <= set(estimates)

    # Unwatched again: the estimator stops where it was; the last estimate is repeated.
    video.unsubscribe(sink)
    frozen, told = calls, len(rembs)
    last = estimates[-1]
    await until(lambda: len(rembs) >= told + 2, deadline=5)
    assert calls == frozen
    assert rembs[-1] == last and rembs[-2] == last


def test_a_connections_remb_is_the_sum_of_its_receivers_estimates() -> None:
    remb = aiortc_patch.receive.ConnectionRemb()
    camera, thumbnail = object(), object()
    assert remb.update(camera, 1_200_000, [11], 0) == (1_200_000, [11])
    assert remb.update(thumbnail, 250_000, [22], 100) == (1_450_000, [11, 22])
    assert remb.update(camera, 1_000_000, [11], 200) == (1_250_000, [11, 22])
    # The thumbnail gets nothing any more: its estimate drops out after REMB_KEPT_MS.
    later = 100 + aiortc_patch.receive.REMB_KEPT_MS + 1
    assert remb.update(camera, 1_100_000, [11], later) == (1_100_000, [11])


async def test_a_hall_publishing_two_videos_is_told_one_estimate_for_both(
    make_peer: Callable[..., Peer], clients: list[Client]
) -> None:
    """A terminal sends its camera and its thumbnail on one connection; a browser takes each
    REMB as the whole connection's estimate. Each REMB it gets names both streams and carries
    both estimates together (here both unwatched: the cap each), never one alone."""
    cap = 600_000
    settings = PeerSettings(jitter=JitterSettings(idle_remb_interval=0.3, idle_remb_bitrate=cap))
    publisher = publisher_client(RED, audio=False)
    publisher.pc.addTransceiver(ColourVideoTrack(GREEN), direction="sendonly")
    clients.append(publisher)
    peer = make_peer(settings)
    rembs: list[tuple[int, frozenset[int]]] = []
    for sender in publisher.pc.getSenders():
        handle_rtcp = sender._handle_rtcp_packet

        async def spy_rtcp(packet: AnyRtcpPacket, handle_rtcp: Any = handle_rtcp) -> None:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
                rembs.append((bitrate, frozenset(ssrcs)))
            await handle_rtcp(packet)

        sender._handle_rtcp_packet = spy_rtcp  # type: ignore[method-assign]
    await connect(publisher, peer)
    ssrcs = frozenset(sender._ssrc for sender in publisher.pc.getSenders())
    assert len(peer.sources) == 2
    # The first REMB may come before the other stream's first packet; then both, always.
    await until(lambda: len(rembs) >= 6, deadline=10)
    both = [remb for remb in rembs if remb[1] == ssrcs]
    assert both and rembs[rembs.index(both[0]) :] == [(2 * cap, ssrcs)] * (
        len(rembs) - rembs.index(both[0])
    )
    assert rembs.index(both[0]) <= 2  # a REMB names both, each sender gets it: 2 at most
