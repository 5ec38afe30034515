"""What a participant says each m-line of its offer carries, checked against the offer itself
before anything is answered: a role on an m-line the offer lacks, of the other kind or the
wrong direction, or an m-line named both a source and a slot, is refused with the field it
is in; an offer the SFU cannot answer is refused with the SFU's reason."""

from __future__ import annotations

from collections.abc import Mapping

import media
from rooms.errors import Invalid
from rooms.slots import SlotRole, SourceRole

SOURCE_KINDS = {
    SourceRole.CAMERA: media.MediaKind.VIDEO,
    SourceRole.THUMB: media.MediaKind.VIDEO,
    SourceRole.SCREEN: media.MediaKind.VIDEO,
    SourceRole.MIC: media.MediaKind.AUDIO,
}
SLOT_KINDS = {
    SlotRole.MAIN: media.MediaKind.VIDEO,
    SlotRole.CHAIR: media.MediaKind.VIDEO,
    SlotRole.SCREEN: media.MediaKind.VIDEO,
    SlotRole.THUMB: media.MediaKind.VIDEO,
    SlotRole.AUDIO: media.MediaKind.AUDIO,
}


async def answer(peer: media.Connection, offer_sdp: str) -> str:
    """``peer``'s answer to a checked offer; an offer the SFU still cannot answer closes the
    peer and is :class:`Invalid` (field ``sdp``) with the SFU's reason."""
    try:
        return await peer.answer(offer_sdp)
    except media.MediaError as exc:
        await peer.close()
        raise Invalid(str(exc), field="sdp") from exc


def check_offer(
    offer_sdp: str,
    sources: Mapping[str, SourceRole],
    slots: Mapping[str, SlotRole],
    *,
    video_codec: media.VideoCodec,
    max_bytes: int,
) -> None:
    """Raise :class:`Invalid` (field ``sdp``, ``sources.<mid>`` or ``slots.<mid>``) for an
    offer that cannot work as described.

    A source is an m-line the client sends on (``sendonly``), of its role's kind; a slot one
    it receives on (``recvonly``). M-lines in neither map are answered and carry nothing.
    """
    try:
        _, lines = media.read_offer(offer_sdp, video_codec=video_codec, max_bytes=max_bytes)
    except media.MediaError as exc:
        raise Invalid(str(exc), field="sdp") from exc
    by_mid = {line.mid: line for line in lines}
    both = sorted(sources.keys() & slots.keys())
    if both:
        raise Invalid(
            f"m-line {both[0]} is named both a source and a slot", field=f"slots.{both[0]}"
        )
    named: tuple[tuple[str, Mapping[str, SourceRole | SlotRole], str], ...] = (
        ("sources", sources, "sendonly"),
        ("slots", slots, "recvonly"),
    )
    for what, roles, direction in named:
        table = SOURCE_KINDS if what == "sources" else SLOT_KINDS
        kinds = {str(role): kind for role, kind in table.items()}
        for mid, role in roles.items():
            field = f"{what}.{mid}"
            line = by_mid.get(mid)
            if line is None:
                raise Invalid(f"the offer has no m-line {mid}", field=field)
            if line.kind is not kinds[str(role)]:
                kind = line.kind.value if line.kind else "data"
                raise Invalid(
                    f"{role.value} is {kinds[str(role)].value}, m-line {mid} is {kind}", field=field
                )
            if not (line.sends if what == "sources" else line.receives):
                raise Invalid(
                    f"m-line {mid} is {line.direction}: a {what[:-1]} is offered {direction}",
                    field=field,
                )
