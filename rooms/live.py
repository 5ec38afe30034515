"""The live Room: the in-memory session of one meeting while it runs.

A Room keeps who is in the meeting (the halls' presence, the participants and their media)
and applies actions one at a time (one lock per Room), in the order they arrive: it asks the
collaborator the action concerns, writes what changed to the timeline, switches the media
(``media.Peer`` slots, no renegotiation) and tells the clients. It creates and owns them:

- ``floor`` (:class:`rooms.floor.Floor`): the floor holder, the raised hands and the halls'
  microphones;
- ``voice`` (:class:`rooms.voice.VoiceActivation`): when the floor follows the loudest hall;
- ``roll_call`` (:class:`rooms.roll_call.RollCall`) and ``agenda``
  (:class:`rooms.agenda.Agenda`);
- ``slots`` (:class:`rooms.slots.Slots`): which hall each participant's slots show.

Content sharing (one presenter at a time, granted by the chair like the floor) stays with the
Room: a person's browser presents from a hall's side (the hall it joined for, or the chair
hall for the chair's console); its ``screen`` source fills everyone's ``screen`` slot.

Recording (the marks in the timeline, the meeting's :class:`rooms.ports.Recorder`) stays with
the Room.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import media
from media.tasks import cancel_and_wait, log_failure
from rooms.access import Actor, ActorKind
from rooms.agenda import Agenda
from rooms.db import utcnow
from rooms.errors import Forbidden, Invalid, NotFound, StateError
from rooms.floor import Floor, FloorChange, FloorMoved, HandMoved, MicSet
from rooms.localtime import LOCAL_TZ
from rooms.models import TimelineKind
from rooms.offers import SLOT_KINDS, SOURCE_KINDS, answer, check_offer
from rooms.ports import (
    Notifier,
    PeerFactory,
    Recorder,
    RecorderFactory,
    RecordingRefused,
    Timeline,
    TimelineEntry,
)
from rooms.roll_call import RollCall
from rooms.slots import Freezes, OnAir, SlotRole, Slots, SourceRole
from rooms.voice import VoiceActivation

log = logging.getLogger("giaoban.room")

DEFAULT_GRACE = 30.0
"""Seconds a dropped hall stays "reconnecting" (keeping the floor) before it counts as gone."""


class Presence(enum.StrEnum):
    ABSENT = "absent"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    REMOVED = "removed"


@dataclass(frozen=True)
class MeetingInfo:
    """What a Room needs to know of its meeting."""

    id: int
    title: str
    chair_hall_id: int
    chair_user_id: int
    halls: dict[int, str]
    """Every hall taking part (chair hall included), by id, with its name."""
    agenda: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    auto_record: bool = True


@dataclass
class HallState:
    hall_id: int
    name: str
    presence: Presence = Presence.ABSENT
    participant: str | None = None
    ever_joined: bool = False
    grace_task: asyncio.Task[None] | None = None
    link: dict[str, float] | None = None
    """What the hall's terminal last reported of its connection: loss (0..1), rtt_ms."""


@dataclass
class Participant:
    """One connected session: a hall's terminal, or a person's browser."""

    id: str
    actor: Actor
    hall_id: int | None
    can_chair: bool
    peer: media.Connection | None = None
    sources: dict[SourceRole, media.Source] = field(default_factory=dict)
    slots: dict[str, tuple[SlotRole, media.Slot]] = field(default_factory=dict)
    """By m-line mid."""
    slot_labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    side: int | None = None
    """The hall a person's browser presents content from: the hall it joined for, or the
    chair hall for the chair's console; None: it cannot present."""


@dataclass(frozen=True)
class Content:
    """Who presents content now."""

    participant_id: str
    hall_id: int
    """The hall whose side it is presented from."""
    presenter: str
    since: datetime


class Room:
    """The live session of one meeting. Build it with :class:`LiveRooms`."""

    def __init__(
        self,
        info: MeetingInfo,
        *,
        timeline: Timeline,
        notifier: Notifier,
        peer_settings: media.PeerSettings | None = None,
        video_codec: media.VideoCodec = media.VideoCodec.VP8,
        peers: PeerFactory | None = None,
        grace: float = DEFAULT_GRACE,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.info = info
        self._video_codec = video_codec
        self._timeline = timeline
        self._notifier = notifier
        self._peer_settings = peer_settings or media.PeerSettings()
        self._peers = peers
        self._grace = grace
        self._clock = clock
        self._lock = asyncio.Lock()
        self.halls = {hall_id: HallState(hall_id, name) for hall_id, name in info.halls.items()}
        self.participants: dict[str, Participant] = {}
        self.floor = Floor(info.halls, info.chair_hall_id)
        self.voice = VoiceActivation(info.chair_hall_id)
        self.slots = Slots(info.chair_hall_id)
        self.roll_call = RollCall(len(self.halls))
        self.agenda = Agenda(info.agenda)
        self.recording = False
        self.content: Content | None = None
        self.content_requests: list[str] = []
        """Participants asking to present, in the order they asked."""
        self._restored_content: int | None = None
        self.closed = False
        self._va_task: asyncio.Task[None] | None = None
        self.frozen: set[int] = set()
        """Halls whose camera has sent nothing for a while (:class:`rooms.slots.Freezes`)."""
        self._freezes = Freezes()
        self._pictures_task: asyncio.Task[None] | None = None
        self._links_sent = 0.0
        self.recorder: Recorder | None = None
        """The meeting's hidden subscriber; set by :class:`LiveRooms`."""
        self.recording_problem: str | None = None
        """Why recording stopped or could not start (shown to the chair until it records)."""

    # -- joining ------------------------------------------------------------------------

    async def join(self, actor: Actor, *, can_chair: bool, side: int | None = None) -> Participant:
        """Add a participant; a hall's second connection replaces its first.

        ``side``: the hall a person's browser joins for (a presenter's laptop in that hall);
        it presents from there. The chair's console presents from the chair hall's side.
        """
        async with self._lock:
            self._require_open()
            hall_id = actor.hall_id if actor.kind is ActorKind.TERMINAL else None
            if side is not None and (hall_id is not None or side not in self.halls):
                raise Invalid("a person's browser joins for a hall of the meeting", field="hall_id")
            replaced: Participant | None = None
            saved: Awaitable[None] | None = None
            if hall_id is not None:
                hall = self.halls.get(hall_id)
                if hall is None:
                    raise Forbidden("this hall is not invited to the meeting")
                if hall.presence is Presence.REMOVED:
                    raise Forbidden("the chair removed this hall from the meeting")
                if hall.participant is not None:
                    replaced = self.participants.pop(hall.participant, None)
                    if self.recorder is not None:
                        self.recorder.detach(hall_id)
            participant = Participant(str(uuid.uuid4()), actor, hall_id, can_chair)
            if hall_id is None:
                participant.side = (
                    side if side is not None else (self.info.chair_hall_id if can_chair else None)
                )
            self.participants[participant.id] = participant
            if hall_id is not None:
                hall = self.halls[hall_id]
                self._cancel_grace(hall)
                back = hall.ever_joined
                hall.presence = Presence.CONNECTED
                hall.participant = participant.id
                kind = TimelineKind.RECONNECT if back else TimelineKind.JOIN
                hall.ever_joined = True
                # In the timeline's order now, committed with the events of the halls
                # joining at the same time; the hall is in without waiting for that commit
                # (~0.1 s of a 30-hall burst, measured). A failed commit is logged.
                saved = self._submit(kind, hall_id, actor.label)
            log.info("meeting %s: %s joined", self.info.id, actor.label)
        if saved is not None:
            asyncio.ensure_future(saved).add_done_callback(
                log_failure(log, "a timeline event could not be stored")
            )
        if replaced is not None:
            await self._dispose(replaced)
            await self._notifier.removed(
                replaced.id, "replaced", "replaced by a new connection of the hall"
            )
        await self._changed()
        return participant

    async def negotiate(
        self,
        participant_id: str,
        offer_sdp: str,
        sources: dict[str, SourceRole],
        slots: dict[str, SlotRole],
    ) -> str:
        """Answer the participant's offer; a new offer replaces its previous connection.

        ``sources`` and ``slots`` say what each m-line (by mid) carries. A hall's terminal
        publishes its camera, microphone and thumbnail; a person's browser that may present
        publishes only its ``screen``, forwarded while the chair lets it present.
        """
        participant = self._participant(participant_id)
        check_offer(
            offer_sdp,
            sources,
            slots,
            video_codec=self._video_codec,
            max_bytes=self._peer_settings.max_sdp_bytes,
        )
        old_peer = participant.peer
        if old_peer is not None:
            participant.peer = None
            await old_peer.close()
        peer: media.Connection = (
            await self._peers(self.info.id, participant.hall_id, self._video_codec)
            if self._peers is not None
            else media.Peer(self._peer_settings, video_codec=self._video_codec)
        )
        answered = await answer(peer, offer_sdp)
        async with self._lock:
            if self.closed or participant.id not in self.participants:
                await peer.close()
                raise StateError("the participant left while connecting")
            participant.peer = peer
            participant.sources = {}
            for source in peer.sources:
                role = sources.get(source.mid or "")
                if role is None or SOURCE_KINDS[role] is not source.kind:
                    continue
                if (role is SourceRole.SCREEN) == (participant.hall_id is None):
                    participant.sources[role] = source
            if self.content is not None and self.content.participant_id == participant.id:
                self._record_content()
            if participant.hall_id is not None and self.recorder is not None:
                self.recorder.attach(
                    participant.hall_id,
                    participant.sources.get(SourceRole.CAMERA),
                    participant.sources.get(SourceRole.MIC),
                )
            participant.slots = {}
            participant.slot_labels = {}
            for track in peer.outgoing:
                slot = slots.get(track.mid or "")
                if slot is not None and SLOT_KINDS[slot] is track.media_kind:
                    participant.slots[track.mid or ""] = (slot, track)
            await self._rewire()
            self._watch_pictures()
        return answered

    async def leave(self, participant_id: str, *, dropped: bool) -> None:
        """The participant's connection ended: ``dropped`` (network) or left on purpose."""
        async with self._lock:
            participant = self.participants.pop(participant_id, None)
            if participant is None:
                return
            hall = self.halls.get(participant.hall_id) if participant.hall_id else None
            if hall is not None and hall.participant == participant_id:
                hall.participant = None
                if self.recorder is not None:
                    self.recorder.detach(hall.hall_id)
                if not self.closed:
                    reason = "dropped" if dropped else "left"
                    await self._submit(
                        TimelineKind.LEAVE,
                        hall.hall_id,
                        participant.actor.label,
                        {"reason": reason},
                    )
                    if dropped:
                        hall.presence = Presence.RECONNECTING
                        hall.grace_task = asyncio.create_task(self._expire(hall))
                    else:
                        self._gone(hall)
            log.info("meeting %s: %s left (%s)", self.info.id, participant.actor.label,
                     "dropped" if dropped else "left")  # fmt: skip
            if participant_id in self.content_requests:
                self.content_requests.remove(participant_id)
            if self.content is not None and self.content.participant_id == participant_id:
                await self._stop_content(participant.actor.label, "left")
            await self._dispose(participant)
            await self._rewire()
        await self._changed()

    # -- the chair ----------------------------------------------------------------------

    async def give_floor(self, participant_id: str, hall_id: int) -> None:
        async with self._chair(participant_id) as by:
            hall = self._hall(hall_id)
            if hall.presence is Presence.REMOVED:
                raise StateError("the hall was removed from the meeting", field="hall_id")
            await self._record_floor(self.floor.give(hall_id), by)

    async def take_floor(self, participant_id: str) -> None:
        async with self._chair(participant_id) as by:
            await self._record_floor(self.floor.take(), by)

    async def mute(self, participant_id: str, hall_id: int, muted: bool, lock: bool) -> None:
        """Mute or unmute one hall; ``lock`` keeps it from unmuting itself."""
        async with self._chair(participant_id) as by:
            self._hall(hall_id)
            await self._record_floor(self.floor.mute(hall_id, muted, lock=lock), by)

    async def mute_all(self, participant_id: str, muted: bool) -> None:
        """Mute (or unmute) every hall but the chair hall."""
        async with self._chair(participant_id) as by:
            await self._record_floor(self.floor.mute_all(muted), by)

    async def remove_hall(self, participant_id: str, hall_id: int) -> None:
        async with self._chair(participant_id) as by:
            hall = self._hall(hall_id)
            if hall_id == self.info.chair_hall_id:
                raise Invalid("the chair hall cannot be removed", field="hall_id")
            removed = self.participants.pop(hall.participant, None) if hall.participant else None
            hall.participant = None
            if self.recorder is not None:
                self.recorder.detach(hall_id)
            self._cancel_grace(hall)
            hall.presence = Presence.REMOVED
            await self._record_floor(self.floor.remove(hall_id), by)
            await self._submit(TimelineKind.REMOVED, hall_id, by)
            if removed is not None:
                await self._dispose(removed)
                await self._notifier.removed(removed.id, "removed", "the chair removed this hall")
            await self._rewire()

    async def readmit_hall(self, participant_id: str, hall_id: int) -> None:
        """Let a removed hall join again."""
        async with self._chair(participant_id) as by:
            hall = self._hall(hall_id)
            if hall.presence is Presence.REMOVED:
                hall.presence = Presence.ABSENT
                await self._submit(TimelineKind.READMITTED, hall_id, by)

    async def give_content(self, participant_id: str, presenter_id: str) -> None:
        """Let a participant present (it asked, or the chair chose it); whoever presented
        before stops."""
        async with self._chair(participant_id) as by:
            presenter = self.participants.get(presenter_id)
            if presenter is None:
                raise NotFound("no such participant in the meeting", field="participant_id")
            if presenter.side is None:
                raise Invalid(
                    "this participant cannot present: a person's browser joined for a hall",
                    field="participant_id",
                )
            await self._start_content(presenter, by)

    async def take_content(self, participant_id: str) -> None:
        """Nobody presents any more."""
        async with self._chair(participant_id) as by:
            await self._stop_content(by, "taken")

    async def start_roll_call(self, participant_id: str) -> None:
        async with self._chair(participant_id) as by:
            self.roll_call.start(self._clock())
            await self._submit(TimelineKind.ROLL_CALL_STARTED, None, by)

    async def end_roll_call(self, participant_id: str) -> None:
        async with self._chair(participant_id) as by:
            tally = self.roll_call.end()
            await self._submit(TimelineKind.ROLL_CALL_ENDED, None, by, dict(tally))

    async def next_agenda_item(self, participant_id: str) -> None:
        async with self._chair(participant_id) as by:
            title = self.agenda.next()
            await self._submit(
                TimelineKind.AGENDA_ITEM, None, by, {"index": self.agenda.index, "title": title}
            )

    async def set_voice_activated(self, participant_id: str, enabled: bool) -> None:
        async with self._chair(participant_id) as by:
            if enabled == self.voice.enabled:
                return
            if enabled:
                self.voice.start()
            else:
                self.voice.stop()
            await self._submit(TimelineKind.VOICE_ACTIVATED, None, by, {"enabled": enabled})
            if enabled:
                self._va_task = asyncio.create_task(self._follow_voice())
            else:
                await self._stop_voice()

    async def set_recording(self, participant_id: str, on: bool) -> None:
        async with self._chair(participant_id) as by:
            if on:
                await self._start_recording(by)
            else:
                await self._stop_recording(by, "stopped by the chair")

    async def _start_recording(self, by: str) -> None:
        if self.recording:
            return
        if self.recorder is None:
            raise StateError("recording is not available on this server")
        try:
            await self.recorder.start()
        except RecordingRefused as exc:
            self.recording_problem = f"recording cannot start: {exc}"
            raise StateError(self.recording_problem) from None
        self.recording = True
        self.recording_problem = None
        await self._submit(TimelineKind.RECORDING_STARTED, None, by)

    async def _stop_recording(self, by: str, reason: str) -> None:
        if not self.recording:
            return
        self.recording = False
        if self.recorder is not None:
            await self.recorder.stop(reason)
        await self._submit(TimelineKind.RECORDING_STOPPED, None, by, {"reason": reason})

    async def recording_failed(self, reason: str) -> None:
        """The recorder stopped by itself (disk running short): tell the chair."""
        async with self._lock:
            if not self.recording:
                return
            self.recording = False
            self.recording_problem = f"recording stopped: {reason}"
            await self._submit(TimelineKind.RECORDING_STOPPED, None, "system", {"reason": reason})
        await self._notifier.alert(self.info.id, "recording_stopped", reason)
        await self._changed()

    async def resume_recording(self) -> None:
        """After a restart: a meeting that was being recorded carries on being recorded."""
        async with self._lock:
            if not self.recording or self.recorder is None or self.recorder.active:
                return
            try:
                await self.recorder.start()
            except RecordingRefused as exc:
                self.recording = False
                await self._submit(
                    TimelineKind.RECORDING_STOPPED, None, "system", {"reason": str(exc)}
                )

    # -- the halls ----------------------------------------------------------------------

    async def raise_hand(self, participant_id: str, raised: bool) -> None:
        async with self._as_hall(participant_id) as hall:
            floor = self.floor
            changes = floor.raise_hand(hall.hall_id) if raised else floor.lower_hand(hall.hall_id)
            await self._record_floor(changes, f"hall:{hall.hall_id}")

    async def set_own_mute(self, participant_id: str, muted: bool) -> None:
        async with self._as_hall(participant_id) as hall:
            await self._record_floor(
                self.floor.mute_own(hall.hall_id, muted), f"hall:{hall.hall_id}"
            )

    async def report_link(self, participant_id: str, loss: float, rtt_ms: float) -> None:
        """A terminal's view of its connection (from WebRTC stats), shown on the chair console.

        Not a change of state: sent to the clients at most every ``LINK_INTERVAL`` seconds.
        """
        participant = self._participant(participant_id)
        if participant.hall_id is None:
            raise Forbidden("only a hall's terminal reports its link")
        self.halls[participant.hall_id].link = {"loss": round(loss, 4), "rtt_ms": round(rtt_ms, 1)}
        now = time.monotonic()
        if now - self._links_sent >= LINK_INTERVAL:
            self._links_sent = now
            links = {str(h.hall_id): h.link for h in self.halls.values() if h.link is not None}
            await self._notifier.links(self.info.id, links)

    async def request_content(self, participant_id: str) -> bool:
        """A person's browser asks to present; the chair's console presents at once.

        Returns whether it presents now (else it waits for the chair's ``give_content``).
        """
        async with self._lock:
            self._require_open()
            participant = self._participant(participant_id)
            if participant.side is None:
                raise Forbidden(
                    "only a person's browser joined for a hall (or the chair's console) presents"
                )
            if self.content is not None and self.content.participant_id == participant_id:
                return True
            if participant.can_chair:
                await self._start_content(participant, participant.actor.label)
                granted = True
            else:
                if participant_id not in self.content_requests:
                    self.content_requests.append(participant_id)
                granted = False
            await self._rewire()
        await self._changed()
        return granted

    async def stop_content(self, participant_id: str) -> None:
        """The presenter stops presenting, or a participant withdraws its request."""
        async with self._lock:
            self._require_open()
            participant = self._participant(participant_id)
            if participant_id in self.content_requests:
                self.content_requests.remove(participant_id)
            if self.content is not None and self.content.participant_id == participant_id:
                await self._stop_content(participant.actor.label, "stopped")
            await self._rewire()
        await self._changed()

    async def answer_roll_call(self, participant_id: str, present: bool, delegates: int) -> None:
        async with self._as_hall(participant_id) as hall:
            self.roll_call.answer(hall.hall_id, present, delegates)
            await self._submit(
                TimelineKind.ROLL_CALL_ANSWER,
                hall.hall_id,
                f"hall:{hall.hall_id}",
                {"present": present, "delegates": delegates},
            )

    # -- the whole room -----------------------------------------------------------------

    async def start(self, by: str) -> None:
        """The meeting starts; it is recorded at once when the meeting says so."""
        async with self._lock:
            await self._submit(TimelineKind.MEETING_STARTED, None, by)
            if not self.info.auto_record:
                return
            try:
                await self._start_recording("system")
            except StateError as exc:
                refused = exc.message
            else:
                return
        await self._notifier.alert(self.info.id, "recording_refused", refused)

    async def close(self, by: str = "system") -> list[str]:
        """End the meeting: every participant is let go; returns their ids. Safe twice."""
        return await self._release(ended_by=by)

    async def shutdown(self) -> list[str]:
        """The server is stopping: let everyone go without ending the meeting (it resumes)."""
        return await self._release(ended_by=None)

    async def _release(self, *, ended_by: str | None) -> list[str]:
        """Let every participant go; ``ended_by`` None keeps the meeting live (a restart)."""
        async with self._lock:
            if self.closed:
                return []
            self.closed = True
            await self._stop_voice()
            pictures, self._pictures_task = self._pictures_task, None
            await cancel_and_wait(pictures)
            for hall in self.halls.values():
                self._cancel_grace(hall)
            participants = list(self.participants.values())
            self.participants.clear()
            if ended_by is not None:
                await self._stop_content("system", "ended")
                await self._stop_recording("system", "meeting ended")
            if self.recorder is not None:
                await self.recorder.close()  # segments closed; a live meeting resumes recording
            now = self._clock()
            why = (
                {"reason": "ended"}
                if ended_by
                else {"reason": "dropped", "cause": "server stopped"}
            )
            for p in participants:
                if p.hall_id is not None:
                    await self._submit(TimelineKind.LEAVE, p.hall_id, p.actor.label, why, at=now)
            if ended_by is not None:
                await self._submit(TimelineKind.MEETING_ENDED, None, ended_by, at=now)
        await asyncio.gather(*(self._dispose(p) for p in participants))
        return [p.id for p in participants]

    def restore(self, events: Sequence[TimelineEntry]) -> None:
        """Rebuild the state of a meeting that was live before a restart from its timeline."""
        for e in events:
            hall = self.halls.get(e.hall_id) if e.hall_id is not None else None
            change = _floor_change(e)
            if change is not None:
                self.floor.replay(change)
            elif e.kind is TimelineKind.AGENDA_ITEM:
                self.agenda.replay(int(e.data.get("index", -1)))
            elif e.kind is TimelineKind.ROLL_CALL_STARTED:
                self.roll_call.start(e.at)
            elif e.kind is TimelineKind.ROLL_CALL_ANSWER and hall is not None:
                if self.roll_call.running:
                    delegates = e.data.get("delegates")
                    self.roll_call.answer(
                        hall.hall_id,
                        bool(e.data.get("present")),
                        delegates if isinstance(delegates, int) else 0,
                    )
            elif e.kind is TimelineKind.ROLL_CALL_ENDED and self.roll_call.running:
                self.roll_call.end()
            elif e.kind is TimelineKind.RECORDING_STARTED:
                self.recording = True
            elif e.kind is TimelineKind.RECORDING_STOPPED:
                self.recording = False
            elif e.kind is TimelineKind.VOICE_ACTIVATED:
                if e.data.get("enabled"):
                    self.voice.start()
                else:
                    self.voice.stop()
            elif e.kind is TimelineKind.REMOVED and hall is not None:
                hall.presence = Presence.REMOVED
                self.floor.replay_removal(hall.hall_id)
            elif e.kind is TimelineKind.READMITTED and hall is not None:
                hall.presence = Presence.ABSENT
            elif e.kind is TimelineKind.CONTENT_STARTED:
                self._restored_content = e.hall_id
            elif e.kind is TimelineKind.CONTENT_STOPPED:
                self._restored_content = None
            elif e.kind in (TimelineKind.JOIN, TimelineKind.RECONNECT) and hall is not None:
                hall.ever_joined = True
                if hall.presence is not Presence.REMOVED:
                    hall.presence = Presence.RECONNECTING
        for hall in self.halls.values():
            if hall.presence is Presence.RECONNECTING:
                hall.grace_task = asyncio.create_task(self._expire(hall))
        if self.voice.enabled:
            self._va_task = asyncio.create_task(self._follow_voice())
        if self._restored_content is not None:
            # The presenter's connection did not survive the restart: its content ended.
            asyncio.ensure_future(
                self._submit(
                    TimelineKind.CONTENT_STOPPED,
                    self._restored_content,
                    "system",
                    {"reason": "left"},
                )
            ).add_done_callback(log_failure(log, "a timeline event could not be stored"))
            self._restored_content = None

    def connected(self, hall_id: int | None) -> bool:
        """Whether the hall has a connection in the meeting now."""
        hall = self.halls.get(hall_id) if hall_id is not None else None
        return hall is not None and hall.participant is not None

    def state(self) -> dict[str, Any]:
        """The room as every participant may see it."""
        return {
            "meeting_id": self.info.id,
            "title": self.info.title,
            "chair_hall_id": self.info.chair_hall_id,
            "floor_hall_id": self.floor.holder,
            "voice_activated": self.voice.enabled,
            "recording": self.recording,
            "recording_problem": self.recording_problem,
            "hands": self.floor.hands,
            "agenda": self.agenda.state(),
            "roll_call": self.roll_call.state(),
            "content": self._content_view(),
            "content_requests": [
                self._presenter_view(p)
                for pid in self.content_requests
                if (p := self.participants.get(pid)) is not None
            ],
            "halls": [
                {
                    "hall_id": h.hall_id,
                    "name": h.name,
                    "presence": h.presence.value,
                    "muted": self.floor.mic(h.hall_id).muted,
                    "mic_locked": self.floor.mic(h.hall_id).locked,
                    "hand_raised": self.floor.hand_raised(h.hall_id),
                    "link": h.link if h.participant is not None else None,
                }
                for h in self.halls.values()
            ],
            "closed": self.closed,
        }

    def participant(self, participant_id: str) -> Participant:
        return self._participant(participant_id)

    # -- internals ----------------------------------------------------------------------

    def _require_open(self) -> None:
        if self.closed:
            raise StateError("the meeting has ended")

    def _participant(self, participant_id: str) -> Participant:
        participant = self.participants.get(participant_id)
        if participant is None:
            raise StateError("not in the meeting: join first")
        return participant

    def _hall(self, hall_id: int) -> HallState:
        hall = self.halls.get(hall_id)
        if hall is None:
            raise NotFound(f"hall {hall_id} is not in this meeting", field="hall_id")
        return hall

    @contextlib.asynccontextmanager
    async def _chair(self, participant_id: str) -> Any:
        async with self._lock:
            self._require_open()
            participant = self._participant(participant_id)
            if not participant.can_chair:
                raise Forbidden("only the chair of the meeting (or its operator) can do this")
            yield participant.actor.label
            await self._rewire()
        await self._changed()

    @contextlib.asynccontextmanager
    async def _as_hall(self, participant_id: str) -> Any:
        async with self._lock:
            self._require_open()
            participant = self._participant(participant_id)
            if participant.hall_id is None:
                raise Forbidden("only a hall's terminal can do this")
            yield self.halls[participant.hall_id]
            await self._rewire()
        await self._changed()

    def _submit(
        self,
        kind: TimelineKind,
        hall_id: int | None,
        actor: str,
        data: dict[str, Any] | None = None,
        *,
        at: datetime | None = None,
    ) -> Awaitable[None]:
        """Put an event in the timeline now; await the result for it to be stored."""
        entry = TimelineEntry(self.info.id, at or self._clock(), kind, hall_id, actor, data or {})
        saved = self._timeline.submit(entry)
        log.info("meeting %s: %s hall=%s by %s %s", self.info.id, kind.value, hall_id, actor,
                 data or "")  # fmt: skip
        return saved

    async def _record_floor(self, changes: Sequence[FloorChange], by: str) -> None:
        """Write the floor's changes to the timeline, in the order they were made."""
        for change in changes:
            if isinstance(change, FloorMoved):
                data: dict[str, Any] = {"previous": change.previous}
                await self._submit(TimelineKind.FLOOR, change.holder, by, data)
            elif isinstance(change, HandMoved):
                data = {"raised": change.raised}
                await self._submit(TimelineKind.HAND, change.hall_id, by, data)
            else:
                data = {"muted": change.muted, "locked": change.locked}
                await self._submit(TimelineKind.MUTE, change.hall_id, by, data)

    def _gone(self, hall: HallState) -> None:
        hall.presence = Presence.ABSENT

    async def _expire(self, hall: HallState) -> None:
        await asyncio.sleep(self._grace)
        async with self._lock:
            if hall.presence is Presence.RECONNECTING:
                hall.grace_task = None
                self._gone(hall)
                if self.floor.holder == hall.hall_id:
                    await self._record_floor(self.floor.take(), "system")
                await self._rewire()
        await self._changed()

    def _cancel_grace(self, hall: HallState) -> None:
        task, hall.grace_task = hall.grace_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _dispose(self, participant: Participant) -> None:
        peer, participant.peer = participant.peer, None
        if peer is not None:
            await peer.close()

    def _source(self, hall_id: int | None, role: SourceRole) -> media.Source | None:
        """What the hall's connected terminal publishes as ``role``, if it does; for
        ``screen``, the content presented from the hall's side."""
        if role is SourceRole.SCREEN:
            content = self.content
            if content is None or content.hall_id != hall_id:
                return None
            presenter = self.participants.get(content.participant_id)
            return presenter.sources.get(SourceRole.SCREEN) if presenter else None
        hall = self.halls.get(hall_id) if hall_id is not None else None
        if hall is None or hall.participant is None:
            return None
        participant = self.participants.get(hall.participant)
        return participant.sources.get(role) if participant else None

    def _connected(self) -> list[int]:
        """The halls with a connection, in the meeting's order."""
        return [h.hall_id for h in self.halls.values() if h.participant is not None]

    def _on_air(self) -> OnAir:
        """What the halls send now, for slot assignment."""
        connected = self._connected()
        publishing = {
            (h, role) for h in connected for role in SourceRole if self._source(h, role) is not None
        }
        content = self.content.hall_id if self.content is not None else None
        publishing -= {(h, SourceRole.CAMERA) for h in self.frozen}
        if content is not None and self._source(content, SourceRole.SCREEN) is not None:
            publishing.add((content, SourceRole.SCREEN))
        heard = self.floor.heard(set(connected))
        return OnAir(self.floor.holder, heard, connected, publishing, content)

    async def _rewire(self) -> None:
        """Point every participant's slots at the sources slot assignment chooses now."""
        on_air = self._on_air()
        changed: list[Participant] = []
        for participant in self.participants.values():
            roles = {mid: role for mid, (role, _) in participant.slots.items()}
            chosen = self.slots.assign(participant.hall_id, roles, on_air)
            labels: dict[str, dict[str, Any]] = {}
            for mid, (role, track) in participant.slots.items():
                hall_id = chosen[mid]
                source = self._source(hall_id, role.source)
                if track.source is not source:
                    try:
                        track.switch_source(source)
                    except media.IncompatibleSourceError:
                        log.warning("meeting %s: %s cannot carry %s", self.info.id, track, source)
                        track.switch_source(None)
                        hall_id = None
                labels[mid] = {
                    "role": role.value,
                    "hall_id": hall_id,
                    "name": self.halls[hall_id].name if hall_id is not None else None,
                }
                if role is SlotRole.SCREEN and hall_id is not None and self.content is not None:
                    labels[mid]["presenter"] = self.content.presenter
            if labels != participant.slot_labels:
                participant.slot_labels = labels
                changed.append(participant)
        for participant in changed:
            await self._notifier.slots(participant.id, participant.slot_labels)

    async def _changed(self) -> None:
        await self._notifier.room_state(self.info.id, self.state())

    # -- content ----------------------------------------------------------------------------

    async def _start_content(self, presenter: Participant, by: str) -> None:
        """``presenter`` presents now (under the lock); whoever presented before stops."""
        assert presenter.side is not None
        if self.content is not None:
            if self.content.participant_id == presenter.id:
                return
            await self._stop_content(by, "taken")
        if presenter.id in self.content_requests:
            self.content_requests.remove(presenter.id)
        name = presenter.actor.name
        self.content = Content(presenter.id, presenter.side, name, self._clock())
        await self._submit(
            TimelineKind.CONTENT_STARTED,
            presenter.side,
            presenter.actor.label,
            {"presenter": name, "participant": presenter.id},
        )
        self._record_content()

    async def _stop_content(self, by: str, reason: str) -> None:
        """Nobody presents (under the lock)."""
        content, self.content = self.content, None
        if content is None:
            return
        await self._submit(TimelineKind.CONTENT_STOPPED, content.hall_id, by, {"reason": reason})
        self._record_content()

    def _record_content(self) -> None:
        """Tell the recorder what is presented now."""
        if self.recorder is None:
            return
        content = self.content
        if content is None:
            self.recorder.attach_content(None, None)
        else:
            self.recorder.attach_content(
                content.hall_id, self._source(content.hall_id, SourceRole.SCREEN)
            )

    def _content_view(self) -> dict[str, Any] | None:
        content = self.content
        if content is None:
            return None
        return {
            "participant_id": content.participant_id,
            "presenter": content.presenter,
            "hall_id": content.hall_id,
            "hall_name": self.halls[content.hall_id].name,
            "since": content.since.astimezone(LOCAL_TZ).isoformat(),
        }

    def _presenter_view(self, participant: Participant) -> dict[str, Any]:
        side = participant.side
        return {
            "participant_id": participant.id,
            "presenter": participant.actor.name,
            "hall_id": side,
            "hall_name": self.halls[side].name if side is not None else None,
        }

    # -- voice-activated floor ------------------------------------------------------------

    async def _follow_voice(self, interval: float = 0.2) -> None:
        """Give the floor to the hall the voice activation names, from the audio levels of the
        halls heard (``rooms.voice``)."""
        while True:
            await asyncio.sleep(interval)
            levels = {
                h: level
                for h in self.floor.heard(set(self._connected()))
                if (source := self._source(h, SourceRole.MIC)) is not None
                and (level := source.audio_level) is not None
            }
            loudest = self.voice.hear(levels, self.floor.holder, time.monotonic())
            if loudest is not None:
                async with self._lock:
                    if self.voice.enabled and not self.closed:
                        await self._record_floor(self.floor.give(loudest), "voice")
                        await self._rewire()
                await self._changed()

    async def _stop_voice(self) -> None:
        task, self._va_task = self._va_task, None
        await cancel_and_wait(task)

    # -- frozen pictures --------------------------------------------------------------------

    def _watch_pictures(self) -> None:
        if self._pictures_task is None and not self.closed:
            self._pictures_task = asyncio.create_task(
                self._follow_pictures(), name=f"meeting {self.info.id} pictures"
            )
            self._pictures_task.add_done_callback(log_failure(log, "watching pictures failed"))

    async def _follow_pictures(self, interval: float = 0.5) -> None:
        """Take frozen cameras off the air, and put them back when their frames come again."""
        while True:
            await asyncio.sleep(interval)
            cameras = {
                h: (source, source.packets_received)
                for h in self._connected()
                if (source := self._source(h, SourceRole.CAMERA)) is not None
            }
            frozen = self._freezes.observe(cameras, time.monotonic())
            if frozen == self.frozen:
                continue
            async with self._lock:
                if self.closed:
                    return
                for hall_id in frozen - self.frozen:
                    log.info("meeting %s: hall %s's camera is frozen", self.info.id, hall_id)
                self.frozen = frozen
                await self._rewire()


LINK_INTERVAL = 1.0
"""Seconds between two broadcasts of the halls' link reports."""


class LiveRooms:
    """The Rooms of the meetings running in this process, by meeting id."""

    def __init__(
        self,
        *,
        timeline: Timeline,
        notifier: Notifier,
        peer_settings: media.PeerSettings | None = None,
        video_codec: media.VideoCodec = media.VideoCodec.VP8,
        peers: PeerFactory | None = None,
        recorders: RecorderFactory | None = None,
        grace: float = DEFAULT_GRACE,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._video_codec = video_codec
        self._recorders = recorders
        self._timeline = timeline
        self._notifier = notifier
        self._peer_settings = peer_settings
        self._peers = peers
        self._grace = grace
        self._clock = clock
        self._rooms: dict[int, Room] = {}

    def get(self, meeting_id: int) -> Room | None:
        return self._rooms.get(meeting_id)

    def open(self, info: MeetingInfo) -> Room:
        """The meeting's Room, made when first asked for."""
        room = self._rooms.get(info.id)
        if room is None or room.closed:
            room = Room(
                info, timeline=self._timeline, notifier=self._notifier,
                peer_settings=self._peer_settings, video_codec=self._video_codec,
                peers=self._peers, grace=self._grace, clock=self._clock,
            )  # fmt: skip
            if self._recorders is not None:
                room.recorder = self._recorders(info.id, room.recording_failed)
            self._rooms[info.id] = room
        return room

    async def close(self, meeting_id: int, by: str = "system") -> list[str]:
        """End a meeting's Room; returns the ids of the participants it let go."""
        room = self._rooms.pop(meeting_id, None)
        return await room.close(by) if room is not None else []

    async def close_all(self) -> None:
        """Server shutdown: let every participant go (the meetings stay live, to be resumed)."""
        rooms, self._rooms = list(self._rooms.values()), {}
        for room in rooms:
            await room.shutdown()

    def __len__(self) -> int:
        return len(self._rooms)

    def participants(self) -> int:
        """The participants (halls and people) of every meeting under way here."""
        return sum(len(room.participants) for room in self._rooms.values())

    def rooms(self) -> Sequence[Room]:
        return list(self._rooms.values())


def _floor_change(e: TimelineEntry) -> FloorChange | None:
    """The change of the floor a timeline event records, if it records one."""
    if e.kind is TimelineKind.FLOOR:
        previous = e.data.get("previous")
        return FloorMoved(e.hall_id, previous if isinstance(previous, int) else None)
    if e.hall_id is None:
        return None
    if e.kind is TimelineKind.MUTE:
        return MicSet(e.hall_id, bool(e.data.get("muted")), bool(e.data.get("locked")))
    if e.kind is TimelineKind.HAND:
        return HandMoved(e.hall_id, bool(e.data.get("raised")))
    return None
