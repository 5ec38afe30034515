"""A source knows how loud its publisher is, from the audio-level header of each packet."""

from __future__ import annotations

from collections.abc import Callable

from aiortc import RTCPeerConnection

from media import MediaKind, Peer
from tests.media.media_testkit import Client, ToneAudioTrack, client_pc, connect, until


def tone_client(loud: bool) -> tuple[Client, ToneAudioTrack]:
    pc: RTCPeerConnection = client_pc()
    track = ToneAudioTrack(loud=loud)
    pc.addTransceiver(track, direction="sendonly")
    return Client(pc=pc), track


async def test_a_loud_publisher_has_a_high_level_and_a_silent_one_none_to_speak_of(
    make_peer: Callable[..., Peer], clients: list[Client]
) -> None:
    (loud_client, _), (quiet_client, _) = tone_client(True), tone_client(False)
    clients += [loud_client, quiet_client]
    loud, quiet = make_peer(), make_peer()
    await connect(loud_client, loud)
    await connect(quiet_client, quiet)
    loud_source, quiet_source = loud.sources[0], quiet.sources[0]
    assert loud_source.kind is MediaKind.AUDIO
    await until(
        lambda: (loud_source.audio_level or 0) > 0.1 and quiet_source.audio_level is not None,
        deadline=5,
    )
    assert quiet_source.audio_level is not None and quiet_source.audio_level < 0.01


async def test_the_level_follows_the_publisher_down(
    make_peer: Callable[..., Peer], clients: list[Client]
) -> None:
    client, track = tone_client(True)
    clients.append(client)
    peer = make_peer()
    await connect(client, peer)
    source = peer.sources[0]
    await until(lambda: (source.audio_level or 0) > 0.1, deadline=5)
    track.loud = False
    await until(lambda: (source.audio_level or 1) < 0.01, deadline=5)
