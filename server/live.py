"""Wires live meetings: scheduling's start and end, the Rooms, and socket.io notifications."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import socketio
import sqlalchemy as sa

from recordings.jobs import JobRunner
from recordings.minutes import ensure_draft
from recordings.models import MinutesVersion
from rooms.live import LiveRooms, MeetingInfo, Room
from rooms.models import Meeting, MeetingState
from rooms.ports import TimelineEntry
from rooms.timeline import events_of
from server.cluster import Cluster, Node, NodeUnreachable
from server.db import Database

log = logging.getLogger("giaoban.live")

NAMESPACE = "/live"
STATE_COALESCE = 0.05
"""Seconds a room's state waits for the next change before it is broadcast."""


def meeting_room(meeting_id: int) -> str:
    """The socket.io room of a meeting's participants."""
    return f"meeting:{meeting_id}"


def processing_room(meeting_id: int) -> str:
    """The socket.io room of the people following a meeting's post-processing."""
    return f"processing:{meeting_id}"


def lobby_room(meeting_id: int) -> str:
    """The socket.io room of the terminals waiting for a meeting to start."""
    return f"lobby:{meeting_id}"


def meeting_info(meeting: Meeting) -> MeetingInfo:
    return MeetingInfo(
        id=meeting.id,
        title=meeting.title,
        chair_hall_id=meeting.chair_hall_id,
        chair_user_id=meeting.chair_user_id,
        halls={h.id: h.name for h in meeting.halls},
        agenda=tuple(a.title for a in meeting.agenda),
        start=meeting.start_at,
        end=meeting.end_at,
        auto_record=meeting.auto_record,
    )


class SocketNotifier:
    """The Rooms' :class:`rooms.ports.Notifier`, over socket.io."""

    def __init__(self, sio: socketio.AsyncServer, coalesce: float = STATE_COALESCE) -> None:
        self.sio = sio
        self.sids: dict[str, str] = {}
        """participant id → socket id."""
        self.replaced: set[str] = set()
        """Sockets whose hall connected again from elsewhere: they may not join back."""
        self._coalesce = coalesce
        self._pending: dict[int, dict[str, Any]] = {}
        self._flushers: dict[int, asyncio.Task[None]] = {}

    async def room_state(self, meeting_id: int, state: dict[str, Any]) -> None:
        """Sent to everyone in the meeting, at most once per ``coalesce`` seconds: when 100
        halls join at once, each gets the latest state, not 100 states (which is O(N²))."""
        self._pending[meeting_id] = state
        if meeting_id not in self._flushers:
            self._flushers[meeting_id] = asyncio.create_task(self._flush(meeting_id))

    async def _flush(self, meeting_id: int) -> None:
        try:
            await asyncio.sleep(self._coalesce)
        finally:
            self._flushers.pop(meeting_id, None)
            state = self._pending.pop(meeting_id, None)
        if state is not None:
            room = meeting_room(meeting_id)
            await self.sio.emit("room_state", state, room=room, namespace=NAMESPACE)

    async def close(self) -> None:
        """Drop the states not sent yet (the server stops)."""
        tasks = list(self._flushers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def slots(self, participant_id: str, slots: dict[str, Any]) -> None:
        sid = self.sids.get(participant_id)
        if sid is not None:
            await self.sio.emit("slots", slots, to=sid, namespace=NAMESPACE)

    async def links(self, meeting_id: int, links: dict[str, Any]) -> None:
        await self.sio.emit("links", links, room=meeting_room(meeting_id), namespace=NAMESPACE)

    async def alert(self, meeting_id: int, code: str, message: str) -> None:
        await self.sio.emit(
            "alert", {"code": code, "message": message}, room=meeting_room(meeting_id),
            namespace=NAMESPACE,
        )  # fmt: skip

    async def removed(self, participant_id: str, code: str, reason: str) -> None:
        sid = self.sids.pop(participant_id, None)
        if sid is not None:
            if code == "replaced":
                self.replaced.add(sid)
            await self.sio.emit(
                "removed", {"code": code, "reason": reason}, to=sid, namespace=NAMESPACE
            )
            for room in self.sio.rooms(sid, namespace=NAMESPACE):
                if room.startswith("meeting:"):
                    await self.sio.leave_room(sid, room, namespace=NAMESPACE)


class Live:
    """What happens when a meeting starts, ends, or is joined after a restart."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        rooms: LiveRooms,
        db: Database,
        jobs: JobRunner,
        public_url: str = "",
        cluster: Cluster | None = None,
    ) -> None:
        self.sio = sio
        self.rooms = rooms
        self.db = db
        self.jobs = jobs
        self.public_url = public_url
        self.cluster = cluster or Cluster("embedded", public_url)
        self.cluster.handle("started", self._started_call)
        self.cluster.handle("ended", self._ended_call)

    async def host(self, meeting_id: int) -> Node | None:
        """The other node that hosts the live meeting, or None when this node does (placed
        by load when it had no host, taken over when its host died)."""
        if not self.cluster.scaled_out:
            return None
        node = await self.cluster.host(meeting_id)
        return None if node.id == self.cluster.node_id else node

    async def room_for(self, meeting: Meeting) -> Room:
        """The live meeting's Room; after a restart, or on the node that takes it over from
        one that died, it is rebuilt from the timeline."""
        room = self.rooms.get(meeting.id)
        if room is None or room.closed:
            room = self.rooms.open(meeting_info(meeting))
            async with self.db.session() as session:
                events = await events_of(session, meeting.id)
            room.restore(
                [
                    TimelineEntry(e.meeting_id, e.at, e.kind, e.hall_id, e.actor, e.data)
                    for e in events
                ]
            )
            if events:
                log.info(
                    "meeting %s: room rebuilt from %d timeline events", meeting.id, len(events)
                )
                # Segments its last host was writing when it died: closed before recording
                # resumes here (after a restart of this node they were closed at start-up).
                await self.jobs.repair(meeting.id)
                # A meeting that was being recorded goes on being recorded (the timeline says
                # so; the recorder of the new Room starts, and records the halls as they join).
                await room.resume_recording()
        return room

    async def started(self, meeting: Meeting, by: str) -> None:
        """The chair started the meeting: open its Room on the node chosen to host it, call
        the waiting terminals in (on every node)."""
        node = await self.host(meeting.id)
        if node is not None:
            try:
                await self.cluster.call(node, "started", meeting_id=meeting.id, by=by)
                return
            except NodeUnreachable as exc:
                log.warning("meeting %s: %s; started here instead", meeting.id, exc)
                await self.cluster.claim(meeting.id, node)
        room = await self.room_for(meeting)
        await room.start(by)
        await self.sio.emit(
            "meeting_started",
            {"meeting_id": meeting.id},
            room=lobby_room(meeting.id),
            namespace=NAMESPACE,
        )

    async def _started_call(self, meeting_id: int, by: str) -> dict[str, Any]:
        async with self.db.session() as session:
            meeting = await session.get(Meeting, meeting_id)
        if meeting is None:
            raise LookupError(f"no meeting {meeting_id}")
        await self.started(meeting, by)
        return {}

    async def ended(self, meeting_id: int, by: str) -> None:
        """The chair ended the meeting: let everyone go, back to waiting; process the recording
        and draft the minutes (on the node that hosted it)."""
        node = await self.cluster.holder(meeting_id)
        if node is not None and node.id != self.cluster.node_id:
            try:
                await self.cluster.call(node, "ended", meeting_id=meeting_id, by=by)
                return
            except NodeUnreachable as exc:
                log.warning("meeting %s: %s; ended here instead", meeting_id, exc)
        await self.cluster.release(meeting_id)
        await self.rooms.close(meeting_id, by)
        await self.jobs.enqueue(meeting_id)
        await self._draft(meeting_id)
        payload = {"meeting_id": meeting_id}
        for room in (meeting_room(meeting_id), lobby_room(meeting_id)):
            await self.sio.emit("meeting_ended", payload, room=room, namespace=NAMESPACE)
            await self.sio.close_room(room, namespace=NAMESPACE)

    async def draft_missing(self) -> list[int]:
        """The first draft of the minutes of the meetings that ended without one (the server
        died between the end and the draft; nothing else comes back to it). Run when the
        server starts; returns the meetings drafted."""
        async with self.db.session() as session:
            missing = list(
                await session.scalars(
                    sa.select(Meeting.id)
                    .where(
                        Meeting.state == MeetingState.ENDED,
                        ~sa.exists().where(MinutesVersion.meeting_id == Meeting.id),
                    )
                    .order_by(Meeting.id)
                )
            )
        drafted = []
        for meeting_id in missing:
            try:
                await self._draft(meeting_id)
                drafted.append(meeting_id)
            except sa.exc.IntegrityError:
                log.info("meeting %s: its minutes were drafted by another node", meeting_id)
            except Exception:
                log.exception("meeting %s: its minutes could not be drafted", meeting_id)
        return drafted

    async def _draft(self, meeting_id: int) -> None:
        """The ended meeting's first draft of the minutes (once), linking its recording."""
        async with self.db.session() as session:
            meeting = await session.get(Meeting, meeting_id)
            if meeting is not None:
                link = f"{self.public_url}/archive?meeting={meeting_id}"
                await ensure_draft(session, meeting, [link])

    async def _ended_call(self, meeting_id: int, by: str) -> dict[str, Any]:
        await self.ended(meeting_id, by)
        return {}

    async def processing(self, meeting_id: int, job: dict[str, Any]) -> None:
        """Post-processing moved on: tell whoever follows the meeting (the chair's console)."""
        await self.sio.emit(
            "processing", job, room=processing_room(meeting_id), namespace=NAMESPACE
        )

    async def shutdown(self) -> None:
        """Server stopping: tell clients, release every peer; live meetings resume on restart."""
        await self.sio.emit("going_away", {"reason": "server restarting"}, namespace=NAMESPACE)
        await self.rooms.close_all()
