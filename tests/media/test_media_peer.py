"""Contracts of media.Peer: negotiation, refusals, and a close that leaves nothing behind."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable

import pytest
from aiortc import RTCRtpSender, sdp
from media_testkit import (
    GREEN,
    RED,
    Client,
    ColourVideoTrack,
    FrameLog,
    connect,
    negotiate,
    offer,
    publisher_client,
    subscriber_client,
    until,
)

from media import (
    ConnectionState,
    IncompatibleSourceError,
    MediaKind,
    NegotiationError,
    Peer,
    PeerClosedError,
    PeerSettings,
    SdpTooLargeError,
)
from media.resources import ResourceSnapshot


async def test_an_offer_over_64_kib_is_refused_with_a_clear_error(
    make_peer: Callable[..., Peer],
) -> None:
    peer = make_peer()
    huge = "v=0\r\n" + "a=x-padding:" + "x" * (64 * 1024) + "\r\n"
    with pytest.raises(SdpTooLargeError) as refused:
        await peer.answer(huge)
    assert refused.value.code == "sdp_too_large"
    assert "65536" in str(refused.value)


async def test_an_offer_without_the_peers_video_codec_is_refused(
    make_peer: Callable[..., Peer], clients: list[Client]
) -> None:
    client = publisher_client(RED, audio=False)
    clients.append(client)
    (transceiver,) = client.pc.getTransceivers()
    transceiver.setCodecPreferences(
        [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/H264"]
    )
    with pytest.raises(
        NegotiationError, match=r"m-line 0 \(video\) offers H264: .* VP8"
    ) as refused:
        await make_peer().answer(await offer(client))
    assert refused.value.code == "negotiation_failed"


async def test_a_second_offer_is_refused(
    make_peer: Callable[..., Peer], clients: list[Client]
) -> None:
    client = publisher_client(RED)
    clients.append(client)
    peer = make_peer()
    await negotiate(client, peer)
    with pytest.raises(NegotiationError, match="renegotiation"):
        await peer.answer(client.pc.localDescription.sdp)


async def test_an_offer_without_bundle_is_refused(make_peer: Callable[..., Peer]) -> None:
    unbundled = "\r\n".join(
        [
            "v=0",
            "o=- 1 1 IN IP4 0.0.0.0",
            "s=-",
            "t=0 0",
            "m=audio 9 UDP/TLS/RTP/SAVPF 96",
            "c=IN IP4 0.0.0.0",
            "a=mid:0",
            "a=sendonly",
            "a=rtcp-mux",
            "a=rtpmap:96 opus/48000/2",
            "a=ice-ufrag:abcd",
            "a=ice-pwd:abcdefghijklmnopqrstuvwx",
            "a=fingerprint:sha-256 " + ":".join(["00"] * 32),
            "a=setup:actpass",
            "",
        ]
    )
    with pytest.raises(NegotiationError, match="BUNDLE"):
        await make_peer().answer(unbundled)


async def test_the_answer_has_host_candidates_only_without_ice_servers(
    make_peer: Callable[..., Peer], clients: list[Client]
) -> None:
    client = publisher_client(RED)
    clients.append(client)
    answer = await make_peer().answer(await offer(client))
    candidates = [
        candidate
        for media in sdp.SessionDescription.parse(answer).media
        for candidate in media.ice_candidates
    ]
    assert candidates
    assert {candidate.type for candidate in candidates} == {"host"}


async def test_the_answer_asks_opus_senders_for_dtx_and_in_band_fec(
    make_peer: Callable[..., Peer], clients: list[Client]
) -> None:
    """A browser's Opus encoder takes DTX and FEC from the answer: without them, a muted hall
    sent 50 packets a second of silence."""
    client = subscriber_client(video_slots=1, audio_slots=2)
    clients.append(client)
    answer = sdp.SessionDescription.parse(await make_peer().answer(await offer(client)))
    audio = [media for media in answer.media if media.kind == "audio"]
    assert len(audio) == 2
    for media in audio:
        assert [
            (c.mimeType, {k: str(v) for k, v in c.parameters.items()}) for c in media.rtp.codecs
        ] == [("audio/opus", {"useinbandfec": "1", "usedtx": "1"})]
    video = next(media for media in answer.media if media.kind == "video")
    assert all("usedtx" not in codec.parameters for codec in video.rtp.codecs)


async def test_sources_and_slots_follow_the_offers_m_lines(
    make_peer: Callable[..., Peer], clients: list[Client]
) -> None:
    client = subscriber_client(video_slots=2, audio_slots=3)
    clients.append(client)
    client.pc.addTransceiver(ColourVideoTrack(RED), direction="sendonly")
    seen = []
    peer = make_peer(on_source=seen.append)
    await connect(client, peer)
    assert [track.kind for track in peer.outgoing] == ["video"] * 2 + ["audio"] * 3
    assert [track.mid for track in peer.outgoing] == ["0", "1", "2", "3", "4"]
    assert [(source.kind, source.mid) for source in peer.sources] == [(MediaKind.VIDEO, "5")]
    assert seen == list(peer.sources)
    assert peer.sources[0].track_id == client.pc.getTransceivers()[5].sender.track.id
    assert peer.outgoing_by_mid("3") is peer.outgoing[3]
    assert peer.connection_state is ConnectionState.CONNECTED


async def test_a_slot_refuses_a_source_of_another_kind(
    make_peer: Callable[..., Peer], clients: list[Client]
) -> None:
    publisher = publisher_client(RED)
    subscriber = subscriber_client(1, 1)
    clients += [publisher, subscriber]
    source_peer, slot_peer = make_peer(), make_peer()
    await negotiate(publisher, source_peer)
    await negotiate(subscriber, slot_peer)
    audio_source = source_peer.sources[1]
    with pytest.raises(IncompatibleSourceError) as refused:
        slot_peer.outgoing[0].switch_source(audio_source)
    assert refused.value.code == "incompatible_source"


async def test_close_twice_is_safe_and_a_closed_peer_refuses_offers(
    make_peer: Callable[..., Peer], clients: list[Client]
) -> None:
    client = publisher_client(RED)
    clients.append(client)
    peer = make_peer()
    await connect(client, peer)
    await peer.close()
    await peer.close()
    assert peer.connection_state is ConnectionState.CLOSED
    assert all(source.ended for source in peer.sources)
    late = publisher_client(GREEN)
    clients.append(late)
    with pytest.raises(PeerClosedError):
        await peer.answer(await offer(late))


async def test_close_leaves_no_task_socket_thread_or_peer_connection(
    clients: list[Client],
) -> None:
    before = ResourceSnapshot.take()
    publisher, subscriber = publisher_client(RED), subscriber_client(1, 1)
    clients += [publisher, subscriber]
    for client in clients:
        await offer(client)  # the clients gather their own sockets first
    with_clients = ResourceSnapshot.take()

    source_peer = Peer(PeerSettings())
    slot_peer = Peer(PeerSettings())
    await connect(publisher, source_peer)
    await connect(subscriber, slot_peer)
    server_sockets = ResourceSnapshot.take().opened_since(with_clients).udp_sockets
    assert server_sockets, "the server peers opened no UDP socket"
    slot_peer.outgoing[0].switch_source(source_peer.sources[0])
    slot_peer.outgoing[1].switch_source(source_peer.sources[1])
    log = FrameLog(subscriber.received_track(0))
    await until(lambda: log.count() >= 10, deadline=5)
    await log.stop()
    server_pcs = [weakref.ref(source_peer._pc), weakref.ref(slot_peer._pc)]

    await source_peer.close()
    await slot_peer.close()
    # The server's own sockets are closed when close() returns, clients still running.
    assert not (ResourceSnapshot.take().udp_sockets & server_sockets)

    for client in clients:
        await client.close()

    # The clients see the server go and wind down on their own; give them a deadline.
    def leftovers() -> str:
        left = ResourceSnapshot.take().opened_since(before)
        threads = [t for t in left.threads if not t.name.startswith("asyncio_")]
        # (asyncio_N: the loop's default executor, where the clients encode)
        return left.describe() if left.tasks or left.udp_sockets or threads else ""

    try:
        await until(lambda: not leftovers(), deadline=5)
    except TimeoutError:
        pytest.fail(f"left open after close: {leftovers()}")
    del source_peer, slot_peer
    gc.collect()
    assert all(pc() is None for pc in server_pcs), "a server peer connection is still referenced"
