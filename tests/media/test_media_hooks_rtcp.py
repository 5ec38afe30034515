"""RTCP reports (``media.aiortc_patch.rtcp``): one compound packet per connection and
interval, no sender report or BYE from a slot that has sent nothing, aiortc's figures."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiortc import RTCRtpSender
from aiortc.rtp import AnyRtcpPacket, RtcpByePacket, RtcpPacket, RtcpSdesPacket, RtcpSrPacket
from media_testkit import RED, Client, connect, publisher_client, subscriber_client, until

from media import AiortcIncompatibleError, Peer, aiortc_patch


async def test_one_compound_report_per_connection_and_none_from_an_empty_slot(
    make_peer: Callable[..., Peer], clients: list[Client]
) -> None:
    publisher, subscriber = publisher_client(RED), subscriber_client(2, 1)
    clients += [publisher, subscriber]
    source_peer, slot_peer = make_peer(), make_peer()
    await connect(publisher, source_peer)
    await connect(subscriber, slot_peer)
    video, audio = source_peer.sources
    fed_video, empty_video, fed_audio = slot_peer.outgoing
    ssrc = {t.mid: t.sender._ssrc for t in slot_peer._pc.getTransceivers()}
    fed = {ssrc[fed_video.mid], ssrc[fed_audio.mid]}
    empty = ssrc[empty_video.mid]

    (dtls,) = {t.receiver.transport for t in subscriber.pc.getTransceivers()}
    datagrams: list[list[AnyRtcpPacket]] = []
    handle_rtcp_data = dtls._handle_rtcp_data

    async def spy(data: bytes) -> None:
        datagrams.append(RtcpPacket.parse(data))
        await handle_rtcp_data(data)

    dtls._handle_rtcp_data = spy  # type: ignore[method-assign]
    fed_video.switch_source(video)
    fed_audio.switch_source(audio)

    def reported(packets: list[AnyRtcpPacket]) -> set[int]:
        return {p.ssrc for p in packets if isinstance(p, RtcpSrPacket)}

    # Both fed slots report in one datagram, with their CNAMEs; the empty slot never does.
    await until(lambda: sum(reported(d) == fed for d in datagrams) >= 2, deadline=10)
    for packets in datagrams:
        assert empty not in reported(packets)
        assert isinstance(packets[0], RtcpSrPacket)
        (sdes,) = [p for p in packets if isinstance(p, RtcpSdesPacket)]
        assert {chunk.ssrc for chunk in sdes.chunks} == reported(packets)
    # The subscriber's statistics have the fed slots' sender reports.
    stats = await subscriber.pc.getStats()
    remote_outbound = {s.ssrc for s in stats.values() if s.type == "remote-outbound-rtp"}
    assert remote_outbound == fed

    # The receivers' RRs go out too (one datagram with the publisher's connection's SRs):
    # the publisher's sender measures its round-trip time from them, as with aiortc's.
    (publisher_video,) = [s for s in publisher.pc.getSenders() if s.kind == "video"]
    await _until_round_trip_time(publisher_video)

    # A BYE at the end, from the slots that sent only.
    await slot_peer.close()
    await until(lambda: any(isinstance(p, RtcpByePacket) for d in datagrams for p in d), deadline=5)
    byes = {s for d in datagrams for p in d if isinstance(p, RtcpByePacket) for s in p.sources}
    assert byes and byes <= fed


def test_the_guard_names_what_an_upgrade_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    assert aiortc_patch.rtcp.check() == []
    monkeypatch.setattr(
        "aiortc.rtcdtlstransport.RTCDtlsTransport._send_rtp", lambda self, data: None
    )
    problems = aiortc_patch.rtcp.check()
    assert any("_send_rtp" in problem for problem in problems), problems
    with pytest.raises(AiortcIncompatibleError, match="_send_rtp"):
        aiortc_patch.check_hooks()


async def test_a_subscribers_rtcp_is_handled_as_it_arrives(
    make_peer: Callable[..., Peer], clients: list[Client]
) -> None:
    """A subscriber's receiver reports, keyframe requests and NACKs reach the server's
    senders from the datagram callback (not through aiortc's queue and transport task), with
    aiortc's effects: a round-trip time, a keyframe asked of the source, a retransmission."""
    publisher, subscriber = publisher_client(RED, audio=False), subscriber_client(1, 0)
    clients += [publisher, subscriber]
    source_peer, slot_peer = make_peer(), make_peer()
    await connect(publisher, source_peer)
    await connect(subscriber, slot_peer)
    (video,) = source_peer.sources
    (slot,) = slot_peer.outgoing
    (sender,) = slot_peer._pc.getSenders()
    queued: list[tuple[Any, ...]] = []
    retransmitted: list[tuple[Any, ...]] = []
    keyframes_asked: list[tuple[Any, ...]] = []
    _spy_on(sender.transport, "_handle_rtcp_data", queued)  # aiortc's way
    _spy_on(sender, "_retransmit", retransmitted)
    _spy_on(sender, "_send_keyframe", keyframes_asked)  # the forwarding's: asks the source
    slot.switch_source(video)
    (receiver,) = subscriber.pc.getReceivers()
    await until(lambda: bool(receiver.getSynchronizationSources()), deadline=10)
    await _until_round_trip_time(sender)  # from the subscriber's receiver reports

    ssrc = receiver.getSynchronizationSources()[0].source
    await receiver._send_rtcp_pli(ssrc)
    await until(lambda: bool(keyframes_asked), deadline=5)

    sent = sender._RTCRtpSender__rtp_history  # type: ignore[attr-defined]
    seq = next(iter(dict(sent).values()))[0]
    await receiver._send_rtcp_nack(ssrc, [seq])
    await until(lambda: (seq,) in retransmitted, deadline=5)
    assert queued == []  # none of it went aiortc's way


def _spy_on(target: Any, name: str, calls: list[tuple[Any, ...]]) -> None:
    """Record each call of ``target.name`` in ``calls``, then make it."""
    original = getattr(target, name)
    if asyncio.iscoroutinefunction(original):

        async def spy(*args: Any) -> None:
            calls.append(args)
            await original(*args)

        setattr(target, name, spy)
    else:

        def spy_sync(*args: Any) -> None:
            calls.append(args)
            original(*args)

        setattr(target, name, spy_sync)


async def _until_round_trip_time(sender: RTCRtpSender) -> None:
    """Wait (10 s at most) until ``sender`` has measured a round-trip time from the receiver
    reports it got."""

    async def round_trip_time() -> float | None:
        report = await sender.getStats()
        times = [s.roundTripTime for s in report.values() if s.type == "remote-inbound-rtp"]
        return times[0] if times else None

    async with asyncio.timeout(10):
        while await round_trip_time() is None:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
