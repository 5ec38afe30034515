"""Signalling over socket.io (namespace ``/live``): one handler and one model per event.

Every event is validated; its acknowledgement is ``{"ok": true, ...}`` or
``{"ok": false, "error": {"code", "message", "field"?}}``, and a bad event never drops the
connection. The protocol is documented in ``docs/protocol.md``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Annotated, Any

import socketio
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from socketio import packet

import media
from media.tasks import log_failure
from rooms import org
from rooms.access import Access, Actor, ActorKind
from rooms.errors import DomainError, Forbidden, Invalid, NotFound, StateError
from rooms.live import Participant, Room
from rooms.localtime import to_local
from rooms.models import MeetingState, RoleName
from rooms.readiness import SelfTest, require_board
from rooms.scheduling import load_tree
from rooms.slots import SlotRole, SourceRole
from rooms.test_call import Side, TestCall, TestCalls
from server.auth import logins_in_use, person_by_cookie, terminal_by_token, touch_session
from server.cluster import NodeUnreachable
from server.live import (
    NAMESPACE,
    Live,
    SocketNotifier,
    lobby_room,
    meeting_room,
    processing_room,
)
from server.periodic import Periodic
from server.readiness import board_room
from server.security import SESSION_COOKIE
from server.state import Services

log = logging.getLogger("giaoban.signalling")

MAX_SDP = 64 * 1024
Id = Annotated[int, Field(strict=True, ge=1, le=2**31 - 1)]
"""A database id: a whole number (not a boolean, not a string of digits)."""
Flag = Annotated[bool, Field(strict=True)]
"""true or false (not 1, not "yes")."""
Mid = Annotated[str, StringConstraints(min_length=1, max_length=32)]


RESERVED_EVENTS = frozenset({"connect", "disconnect", "connect_error"})
"""socket.io's own events: a client that sends one is answered, and nothing happens."""


MALFORMED = "\x00malformed"
"""The event name a message whose JSON cannot be read is delivered under (see GuardedPacket)."""


class GuardedPacket(packet.Packet):
    """socket.io's packet, but one whose JSON cannot be read (nested deeper than Python's
    recursion limit: 5,000 ``[``; or not JSON) becomes the event ``MALFORMED``, answered
    with an error, instead of an exception that engine.io logs with its traceback and
    leaves unanswered. A connection's malformed auth is no auth."""

    def decode(self, encoded_packet: Any) -> int:
        try:
            count: int = super().decode(encoded_packet)
        except (RecursionError, ValueError) as exc:
            data: Any
            if self.packet_type == packet.CONNECT:
                data = {}
            elif self.packet_type == packet.EVENT:
                deep = isinstance(exc, RecursionError)
                data = [MALFORMED, "nested too deeply" if deep else "not valid JSON"]
            else:
                raise
            self.data = data
            return 0
        return count


class SignallingServer(socketio.AsyncServer):
    """python-socketio's server, but a client's event named like socket.io's own
    (``disconnect``, ``connect``) is refused instead of being taken for the real thing (it
    tore the participant down, or made the socket another terminal's), and a message whose
    JSON cannot be read is answered (``GuardedPacket``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(serializer=GuardedPacket, **kwargs)

    async def _handle_event_internal(  # type: ignore[no-untyped-def]
        self, server, sid, eio_sid, data, namespace, id
    ):
        name = data[0] if data else None
        if name == MALFORMED:
            log.info("socket %s sent a message that is %s: refused", sid, data[1])
            refusal = error("validation", f"the message is {data[1]}", "data")
        elif name in RESERVED_EVENTS:
            log.info("socket %s sent the reserved event %r: refused", sid, name)
            refusal = error("invalid", f"{name!r} is socket.io's own event, not one to send",
                            "event")  # fmt: skip
        else:
            return await super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)
        if id is not None:
            await server._send_packet(
                eio_sid, self.packet_class(packet.ACK, namespace=namespace, id=id, data=[refusal])
            )
        return None


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Empty(In):
    pass


class MeetingIn(In):
    meeting_id: Id


class JoinIn(In):
    meeting_id: Id
    hall_id: Id | None = None
    """A person's browser joining for a hall (a presenter's laptop there); not a terminal."""


class ParticipantIn(In):
    participant_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class OfferIn(In):
    sdp: Annotated[str, StringConstraints(min_length=1, max_length=MAX_SDP)]
    sources: Annotated[dict[Mid, SourceRole], Field(max_length=8)]
    """What the client sends on each m-line (by mid): camera, mic, thumb, screen."""
    slots: Annotated[dict[Mid, SlotRole], Field(max_length=64)]
    """What the client receives on each m-line: main, chair, screen, audio, thumb."""


class HallIn(In):
    hall_id: Id


class MuteIn(In):
    hall_id: Id
    muted: Flag
    lock: Flag = False


class MutedIn(In):
    muted: Flag


class RollCallAnswerIn(In):
    present: Flag
    delegates: int = Field(default=0, strict=True, ge=0, le=10_000)


class LinkIn(In):
    loss: float = Field(ge=0, le=1, description="Fraction of packets lost, 0..1")
    rtt_ms: float = Field(ge=0, le=60_000)


class EnabledIn(In):
    enabled: Flag


CallId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


class TestCallOfferIn(In):
    call_id: CallId
    sdp: Annotated[str, StringConstraints(min_length=1, max_length=MAX_SDP)]
    sources: Annotated[dict[Mid, SourceRole], Field(max_length=8)]
    slots: Annotated[dict[Mid, SlotRole], Field(max_length=8)]


@dataclass
class Bucket:
    """A token bucket: ``rate`` events a second, bursts of ``burst``."""

    rate: float = 10.0
    burst: float = 40.0
    tokens: float = 40.0
    at: float = field(default_factory=time.monotonic)

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def wait(self) -> float:
        """Seconds until the next event is let through (after ``take`` refused one)."""
        return math.ceil(max(0.0, 1 - self.tokens) / self.rate * 100) / 100 or 0.01


@dataclass
class Client:
    """What the server keeps per socket."""

    actor: Actor
    bucket: Bucket = field(default_factory=Bucket)
    meeting_id: int | None = None
    participant_id: str | None = None
    test_call: str | None = None
    """The test call this socket is a side of (issue 13)."""
    login: str | None = None
    """A person's session cookie: the login stays in use while the socket is open."""
    token: str | None = None
    """A terminal's token: the socket stays only while the token still lets it in."""


def ok(**data: Any) -> dict[str, Any]:
    return {"ok": True, **data}


def error(code: str, message: str, field: str | None = None, **details: Any) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message, **details}
    if field is not None:
        err["field"] = field
    return {"ok": False, "error": err}


Handler = Callable[[str, Client, Any], Awaitable[dict[str, Any]]]


_ENDED = {
    "deactivated": "the account was deactivated",
    "logged_out": "the login has ended: log in again",
    "revoked": "the terminal's pairing has ended: pair it again",
}
"""Why a socket is sent away when its login or token is found to have ended."""


class Signalling:
    """The ``/live`` namespace's handlers, bound to the app's services."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        services: Services,
        live: Live,
        notifier: SocketNotifier,
        ice_servers: list[dict[str, Any]],
        make_peer: Callable[[], media.Connection] | None = None,
        video_codec: media.VideoCodec = media.VideoCodec.VP8,
    ) -> None:
        self.sio = sio
        self.services = services
        self.live = live
        self.notifier = notifier
        self.ice_servers = ice_servers
        self.clients: dict[str, Client] = {}
        self._leaving: set[asyncio.Task[None]] = set()
        self._checking = Periodic(
            "checking the open sockets' logins",
            self.check_credentials,
            lambda: self.services.settings.credentials_check_seconds,
        )
        live.cluster.handle("drop_terminal", self._drop_terminal_here)
        live.cluster.handle("drop_user", self._drop_user_here)
        assert services.readiness is not None
        self.readiness = services.readiness
        self.test_calls = TestCalls(
            self._test_call_ended,
            make_peer=make_peer,
            video_codec=video_codec,
            limit=services.settings.test_call_seconds,
        )
        sio.on("connect", namespace=NAMESPACE)(self.connect)
        sio.on("disconnect", namespace=NAMESPACE)(self.disconnect)
        events: dict[str, tuple[type[BaseModel], Handler]] = {
            "join": (JoinIn, self.join),
            "offer": (OfferIn, self.offer),
            "leave": (Empty, self.leave),
            "start_meeting": (MeetingIn, self.start_meeting),
            "end_meeting": (MeetingIn, self.end_meeting),
            "give_floor": (HallIn, self.give_floor),
            "take_floor": (Empty, self.take_floor),
            "mute_hall": (MuteIn, self.mute_hall),
            "mute_all": (MutedIn, self.mute_all),
            "remove_hall": (HallIn, self.remove_hall),
            "readmit_hall": (HallIn, self.readmit_hall),
            "start_roll_call": (Empty, self.start_roll_call),
            "end_roll_call": (Empty, self.end_roll_call),
            "next_agenda_item": (Empty, self.next_agenda_item),
            "set_voice_activated": (EnabledIn, self.set_voice_activated),
            "start_recording": (Empty, self.start_recording),
            "stop_recording": (Empty, self.stop_recording),
            "raise_hand": (Empty, self.raise_hand),
            "lower_hand": (Empty, self.lower_hand),
            "set_muted": (MutedIn, self.set_muted),
            "answer_roll_call": (RollCallAnswerIn, self.answer_roll_call),
            "link_stats": (LinkIn, self.link_stats),
            "request_content": (Empty, self.request_content),
            "stop_content": (Empty, self.stop_content),
            "give_content": (ParticipantIn, self.give_content),
            "take_content": (Empty, self.take_content),
            "terminal_status": (SelfTest, self.terminal_status),
            "probe": (Empty, self.probe),
            "watch_readiness": (MeetingIn, self.watch_readiness),
            "start_test_call": (HallIn, self.start_test_call),
            "test_call_offer": (TestCallOfferIn, self.test_call_offer),
            "end_test_call": (Empty, self.end_test_call),
        }
        for name, (model, handler) in events.items():
            sio.on(name, namespace=NAMESPACE)(self._wrap(name, model, handler))
        sio.on("*", namespace=NAMESPACE)(self.unknown)

    async def unknown(self, event: Any, sid: str, *args: Any) -> dict[str, Any]:
        """Any event the protocol does not name is answered, never left without an ack."""
        shown = str(event)[:64]
        return error("not_found", f"no such event {shown!r}: see docs/protocol.md", "event")

    # -- connection -----------------------------------------------------------------------

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        cookies = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        morsel = cookies.get(SESSION_COOKIE)
        async with self.services.db.session() as session:
            if isinstance(token, str):
                actor = await terminal_by_token(session, token)
            else:
                actor = await person_by_cookie(
                    session, morsel.value if morsel else None, self.services.settings.session_idle
                )
        if actor is None:
            raise socketio.exceptions.ConnectionRefusedError(
                {"code": "unauthenticated", "message": "log in, or pair the terminal again"}
            )
        self.clients[sid] = (
            Client(actor, token=token)
            if isinstance(token, str)
            else Client(actor, login=morsel.value if morsel else None)
        )
        log.info("socket %s connected: %s", sid, actor.label)
        if actor.hall_id is not None:
            await self._guarded(self.readiness.connected(actor.hall_id, sid), "online")

    async def start(self) -> None:
        self._checking.start()

    async def drop_terminal(self, terminal_id: int, reason: str) -> None:
        """A terminal's token was revoked or replaced: its open sockets on every node are sent
        away now."""
        await self._everywhere("drop_terminal", terminal_id=terminal_id, reason=reason)

    async def drop_user(self, user_id: int, reason: str) -> None:
        """A person was deactivated: their open sockets on every node are sent away now."""
        await self._everywhere("drop_user", user_id=user_id, reason=reason)

    async def _everywhere(self, method: str, **args: Any) -> None:
        """Run a drop here and on the other nodes; a node that does not answer finds out at its
        next check of the credentials (``GIAOBAN_CREDENTIALS_CHECK_SECONDS``)."""
        cluster = self.live.cluster
        nodes = await cluster.nodes()
        answers = await asyncio.gather(
            *(cluster.call(node, method, **args) for node in nodes), return_exceptions=True
        )
        for node, answer in zip(nodes, answers, strict=True):
            if isinstance(answer, NodeUnreachable | RuntimeError):
                log.warning("node %s: %s: %s; its next check will", node.id, method, answer)
            elif isinstance(answer, BaseException):
                raise answer

    async def _drop_terminal_here(self, terminal_id: int, reason: str) -> dict[str, Any]:
        whose = [sid for sid, c in self.clients.items() if c.actor.terminal_id == terminal_id]
        await self._send_away(whose, "revoked", reason)
        return {}

    async def _drop_user_here(self, user_id: int, reason: str) -> dict[str, Any]:
        whose = [
            sid
            for sid, c in self.clients.items()
            if c.actor.user_id == user_id and c.actor.terminal_id is None
        ]
        await self._send_away(whose, "deactivated", reason)
        return {}

    async def check_credentials(self) -> None:
        """Every open socket's login or token still lets it in: a login with a socket open is
        in use (kept from the idle timeout however long the meeting); a socket whose login or
        token has ended meanwhile (logged out, deactivated or revoked from the command line or
        on another node, its hall deactivated) is sent away."""
        logins = {
            c.login: c.actor.user_id
            for c in self.clients.values()
            if c.login is not None and c.actor.user_id is not None
        }
        tokens = {
            (c.actor.terminal_id, c.token)
            for c in self.clients.values()
            if c.token is not None and c.actor.terminal_id is not None
        }
        async with self.services.db.session() as session:
            ended = await logins_in_use(session, logins)
            gone = await org.terminals_gone(session, tokens)
        for code in ("deactivated", "logged_out"):
            whose = [sid for sid, c in self.clients.items() if ended.get(c.login or "") == code]
            await self._send_away(whose, code, _ENDED[code])
        whose = [sid for sid, c in self.clients.items() if (c.actor.terminal_id, c.token) in gone]
        await self._send_away(whose, "revoked", _ENDED["revoked"])

    async def _send_away(self, sids: list[str], code: str, reason: str) -> None:
        """Every socket of ``sids`` gets ``removed {code, reason}``, leaves and is closed."""
        for sid in sids:
            client = self.clients.get(sid)
            if client is None:
                continue
            await self.sio.emit(
                "removed", {"code": code, "reason": reason}, to=sid, namespace=NAMESPACE
            )
            self.clients.pop(sid, None)
            await self._leave(client, dropped=False)
            await self._gone(sid, client)
            await self.sio.disconnect(sid, namespace=NAMESPACE)
            log.info("socket %s of %s closed: %s", sid, client.actor.label, reason)

    async def _touch(self, login: str) -> None:
        async with self.services.db.session() as session:
            await touch_session(session, login)

    async def disconnect(self, sid: str, reason: Any = None) -> None:
        self.notifier.replaced.discard(sid)
        client = self.clients.pop(sid, None)
        if client is None:
            return
        log.info("socket %s disconnected: %s (%s)", sid, client.actor.label, reason)
        # socket.io calls this inside whatever sent to the socket when it found it dead, and
        # that can be the Room's own message to the hall, sent under the Room's lock: the
        # hall leaves in a task of its own, which waits for the lock instead of for itself.
        task = asyncio.create_task(self._leave(client, dropped=True), name=f"leave {sid}")
        self._leaving.add(task)
        task.add_done_callback(self._leaving.discard)
        task.add_done_callback(log_failure(log, "a dropped hall's leaving failed"))
        gone = asyncio.create_task(self._gone(sid, client), name=f"gone {sid}")
        self._leaving.add(gone)
        gone.add_done_callback(self._leaving.discard)
        gone.add_done_callback(log_failure(log, "a closed socket's readiness update failed"))
        if client.login is not None:  # the idle time of a person's login starts now
            touch = asyncio.create_task(self._touch(client.login), name=f"touch {sid}")
            self._leaving.add(touch)
            touch.add_done_callback(self._leaving.discard)
            touch.add_done_callback(log_failure(log, "marking a login as used failed"))

    async def _gone(self, sid: str, client: Client) -> None:
        """A socket is closed: its test call ends, its hall may be offline now."""
        if client.test_call is not None:
            await self.test_calls.end(client.test_call, "hung up (connection closed)")
        if client.actor.hall_id is not None:
            await self._guarded(self.readiness.disconnected(client.actor.hall_id, sid), "offline")

    @staticmethod
    async def _guarded(step: Awaitable[None], what: str) -> None:
        """A readiness write that fails (the database away) never refuses a terminal."""
        try:
            await step
        except Exception:
            log.exception("marking a hall %s failed", what)

    async def close(self) -> None:
        """The server stops: every socket is closed (its page connects again, to the next
        server), and the halls whose sockets dropped have left their Rooms."""
        await self._checking.stop()
        await self.test_calls.close()
        for sid in list(self.clients):
            await self.sio.disconnect(sid, namespace=NAMESPACE)
        # And every engine.io connection: its clients close their WebSockets at once (a
        # namespace's disconnect alone left them to find out 10 s later). Not with engine.io's
        # disconnect(), which waits for each socket's queue to drain: a socket whose client
        # went away (a hall's network dropped) never drains, and the stop hung.
        eio = self.sio.eio
        for eio_sid, socket in list(eio.sockets.items()):
            await socket.close(wait=False, reason=eio.reason.SERVER_DISCONNECT)
            eio.sockets.pop(eio_sid, None)
        # A disconnect handled meanwhile adds its tasks (leaving, readiness, a login's last
        # use): wait for those too, so that none is left holding a database connection.
        while self._leaving:
            await asyncio.gather(*self._leaving, return_exceptions=True)

    def _wrap(self, name: str, model: type[BaseModel], handler: Handler) -> Callable[..., Any]:
        async def handle(sid: str, *args: Any) -> dict[str, Any]:
            client = self.clients.get(sid)
            if client is None:
                return error("unauthenticated", "connect again")
            if not client.bucket.take():
                wait = client.bucket.wait()
                return error("rate_limited", f"too many events; wait {wait} s", retry_after=wait)
            if len(args) > 1:
                return error("validation", f"{name}: send one argument, an object {{…}}", "data")
            payload = args[0] if args else None
            if payload is not None and not isinstance(payload, dict):
                return error("validation", f"{name}: the data must be an object {{…}}", "data")
            try:
                data = model.model_validate(payload if payload is not None else {})
            except ValidationError as exc:
                first = exc.errors(include_url=False, include_input=False)[0]
                # The value at fault; "data" for the whole (an extra key without a name).
                where = ".".join(str(p) for p in first["loc"]) or "data"
                return error("validation", f"{name}: {where}: {first['msg']}", where)
            try:
                return await handler(sid, client, data)
            except DomainError as exc:
                return error(exc.code, exc.message, exc.field, **exc.details)
            except Exception:
                log.exception("event %s from %s failed", name, client.actor.label)
                return error("internal", "internal error; it has been logged")

        return handle

    # -- joining ------------------------------------------------------------------------

    async def join(self, sid: str, client: Client, data: JoinIn) -> dict[str, Any]:
        if sid in self.notifier.replaced:
            # Joining back would send the newer connection away in turn, and so on.
            raise StateError(
                "a newer connection of this hall took this one's place: connect again to "
                "take it back"
            )
        if client.actor.kind is ActorKind.TERMINAL and data.hall_id is not None:
            raise Invalid("a terminal joins for its own hall: leave hall_id out", field="hall_id")
        if client.test_call is not None:  # a meeting comes before a test call
            await self.test_calls.end(client.test_call, "the hall joins a meeting")
        live_room = self.live.rooms.get(data.meeting_id)
        if (
            live_room is not None
            and client.actor.kind is ActorKind.TERMINAL
            and await self.live.host(data.meeting_id) is None  # still hosted here
        ):
            # A hall joining a meeting under way here: its Room knows the invited halls, so
            # no database read (with 30 halls joining at once, each waited for two).
            if client.actor.hall_id not in live_room.info.halls:
                raise Forbidden("this hall is not invited to the meeting")
            return await self._enter(sid, client, live_room, can_chair=False)
        scheduler = self.services.scheduler
        async with self.services.db.session() as session:
            access = Access(client.actor, await load_tree(session))
            meeting = await scheduler.get(session, access, data.meeting_id)
            can_chair = self._can_chair(access, meeting.chair_user_id, meeting.unit_id)
        if data.hall_id is not None:
            hall = next(
                (h for h in [meeting.chair_hall, *meeting.halls] if h.id == data.hall_id), None
            )
            if hall is None:
                raise NotFound("this hall is not in the meeting", field="hall_id")
            if not (can_chair or access.sees_unit(hall.unit_id)):
                raise Forbidden("presenting for this hall needs a role over its unit")
        if client.actor.kind is ActorKind.TERMINAL and client.actor.hall_id not in meeting.hall_ids:
            raise Forbidden("this hall is not invited to the meeting")
        if client.meeting_id not in (None, meeting.id):
            await self._leave(client, dropped=False)
        if client.actor.kind is ActorKind.USER:
            await self.sio.enter_room(sid, processing_room(meeting.id), namespace=NAMESPACE)
        if meeting.state is MeetingState.SCHEDULED:
            await self.sio.enter_room(sid, lobby_room(meeting.id), namespace=NAMESPACE)
            client.meeting_id = meeting.id
            return ok(
                lobby=True,
                meeting_id=meeting.id,
                title=meeting.title,
                start=to_local(meeting.start_at).isoformat(),
                can_chair=can_chair,
            )
        if meeting.state is not MeetingState.LIVE:
            raise StateError(f"the meeting is {meeting.state.value}")
        host = await self.live.host(meeting.id)
        if host is not None:  # scaled out: the meeting's Room is on another node
            if client.meeting_id == meeting.id:
                await self.sio.leave_room(sid, lobby_room(meeting.id), namespace=NAMESPACE)
                client.meeting_id = None
            return error("moved", f"the meeting is hosted by node {host.id}: connect to "
                         f"{host.url} and join again", url=host.url, node=host.id)  # fmt: skip
        room = await self.live.room_for(meeting)
        return await self._enter(sid, client, room, can_chair, side=data.hall_id)

    async def _enter(
        self, sid: str, client: Client, room: Room, can_chair: bool, side: int | None = None
    ) -> dict[str, Any]:
        """Join the live meeting's Room (leaving the one the socket was in, if another)."""
        meeting_id = room.info.id
        if (
            client.meeting_id == meeting_id
            and client.participant_id is not None
            and client.participant_id in room.participants
            and room.participants[client.participant_id].side == side
        ):
            # Joined already: the same answer again, nothing stored, no new connection.
            return self._joined(room, room.participants[client.participant_id], can_chair)
        if client.meeting_id not in (None, meeting_id) or client.participant_id is not None:
            await self._leave(client, dropped=False)
        participants = self.live.rooms.participants()
        if room.connected(client.actor.hall_id):
            participants -= 1  # a hall's new connection replaces its old one
        self.services.admission.check(participants, self.services.loop_monitor)
        participant = await room.join(client.actor, can_chair=can_chair, side=side)
        client.meeting_id = meeting_id
        client.participant_id = participant.id
        self.notifier.sids[participant.id] = sid
        await self.sio.leave_room(sid, lobby_room(meeting_id), namespace=NAMESPACE)
        await self.sio.enter_room(sid, meeting_room(meeting_id), namespace=NAMESPACE)
        return self._joined(room, participant, can_chair)

    def _joined(self, room: Room, participant: Participant, can_chair: bool) -> dict[str, Any]:
        """A live join's answer."""
        return ok(
            lobby=False,
            meeting_id=room.info.id,
            participant_id=participant.id,
            hall_id=participant.hall_id,
            side=participant.side,
            can_chair=can_chair,
            ice_servers=self.ice_servers,
            state=room.state(),
            **({"nodes": urls} if (urls := self.live.cluster.urls()) else {}),
        )

    async def offer(self, sid: str, client: Client, data: OfferIn) -> dict[str, Any]:
        room, pid = self._room(client)
        answer = await room.negotiate(pid, data.sdp, dict(data.sources), dict(data.slots))
        return ok(sdp=answer, type="answer", slots=room.participant(pid).slot_labels)

    async def leave(self, sid: str, client: Client, data: Empty) -> dict[str, Any]:
        await self._leave(client, dropped=False)
        return ok()

    async def _leave(self, client: Client, *, dropped: bool) -> None:
        pid, client.participant_id = client.participant_id, None
        meeting_id, client.meeting_id = client.meeting_id, None
        if pid is None or meeting_id is None:
            return
        self.notifier.sids.pop(pid, None)
        room = self.live.rooms.get(meeting_id)
        if room is not None:
            await room.leave(pid, dropped=dropped)

    # -- start and end ------------------------------------------------------------------

    async def start_meeting(self, sid: str, client: Client, data: MeetingIn) -> dict[str, Any]:
        async with self.services.db.session() as session:
            access = Access(client.actor, await load_tree(session))
            meeting = await self.services.scheduler.start(session, access, data.meeting_id)
        await self.live.started(meeting, client.actor.label)
        return ok(meeting_id=meeting.id, state=meeting.state.value)

    async def end_meeting(self, sid: str, client: Client, data: MeetingIn) -> dict[str, Any]:
        async with self.services.db.session() as session:
            access = Access(client.actor, await load_tree(session))
            meeting = await self.services.scheduler.end(session, access, data.meeting_id)
        await self.live.ended(meeting.id, client.actor.label)
        return ok(meeting_id=meeting.id, state=meeting.state.value)

    # -- chair and hall actions ---------------------------------------------------------

    async def give_floor(self, sid: str, client: Client, data: HallIn) -> dict[str, Any]:
        room, pid = self._room(client)
        await room.give_floor(pid, data.hall_id)
        return ok()

    async def take_floor(self, sid: str, client: Client, data: Empty) -> dict[str, Any]:
        room, pid = self._room(client)
        await room.take_floor(pid)
        return ok()

    async def mute_hall(self, sid: str, client: Client, data: MuteIn) -> dict[str, Any]:
        room, pid = self._room(client)
        await room.mute(pid, data.hall_id, data.muted, data.lock)
        return ok()

    async def mute_all(self, sid: str, client: Client, data: MutedIn) -> dict[str, Any]:
        room, pid = self._room(client)
        await room.mute_all(pid, data.muted)
        return ok()

    async def remove_hall(self, sid: str, client: Client, data: HallIn) -> dict[str, Any]:
        room, pid = self._room(client)
        await room.remove_hall(pid, data.hall_id)
        return ok()

    async def readmit_hall(self, sid: str, client: Client, data: HallIn) -> dict[str, Any]:
        room, pid = self._room(client)
        await room.readmit_hall(pid, data.hall_id)
        return ok()

    async def start_roll_call(self, sid: str, client: Client, data: Empty) -> dict[str, Any]:
        room, pid = self._room(client)
        await room.start_roll_call(pid)
        return ok()

    async def end_roll_call(self, sid: str, client: Client, data: Empty) -> dict[str, Any]:
        room, pid = self._room(client)
        await room.end_roll_call(pid)
        return ok(tally=room.state()["roll_call"]["tally"])

    async def next_agenda_item(self, sid: str, client: Client, data: Empty) -> dict[str, Any]:
        room, pid = self._room(client)
        await room.next_agenda_item(pid)
        return ok(index=room.agenda.index)

    async def set_voice_activated(
        self, sid: str, client: Client, data: EnabledIn
    ) -> dict[str, Any]:
        room, pid = self._room(client)
        await room.set_voice_activated(pid, data.enabled)
        return ok()

    async def start_recording(self, sid: str, client: Client, data: Empty) -> dict[str, Any]:
        room, pid = self._room(client)
        await room.set_recording(pid, True)
        return ok()

    async def stop_recording(self, sid: str, client: Client, data: Empty) -> dict[str, Any]:
        room, pid = self._room(client)
        await room.set_recording(pid, False)
        return ok()

    async def raise_hand(self, sid: str, client: Client, data: Empty) -> dict[str, Any]:
        room, pid = self._room(client)
        await room.raise_hand(pid, True)
        return ok()

    async def lower_hand(self, sid: str, client: Client, data: Empty) -> dict[str, Any]:
        room, pid = self._room(client)
        await room.raise_hand(pid, False)
        return ok()

    async def set_muted(self, sid: str, client: Client, data: MutedIn) -> dict[str, Any]:
        room, pid = self._room(client)
        await room.set_own_mute(pid, data.muted)
        return ok()

    async def answer_roll_call(
        self, sid: str, client: Client, data: RollCallAnswerIn
    ) -> dict[str, Any]:
        room, pid = self._room(client)
        await room.answer_roll_call(pid, data.present, data.delegates)
        return ok()

    async def link_stats(self, sid: str, client: Client, data: LinkIn) -> dict[str, Any]:
        room, pid = self._room(client)
        await room.report_link(pid, data.loss, data.rtt_ms)
        return ok()

    async def request_content(self, sid: str, client: Client, data: Empty) -> dict[str, Any]:
        room, pid = self._room(client)
        return ok(granted=await room.request_content(pid))

    async def stop_content(self, sid: str, client: Client, data: Empty) -> dict[str, Any]:
        room, pid = self._room(client)
        await room.stop_content(pid)
        return ok()

    async def give_content(self, sid: str, client: Client, data: ParticipantIn) -> dict[str, Any]:
        room, pid = self._room(client)
        await room.give_content(pid, data.participant_id)
        return ok()

    async def take_content(self, sid: str, client: Client, data: Empty) -> dict[str, Any]:
        room, pid = self._room(client)
        await room.take_content(pid)
        return ok()

    # -- readiness and test calls (issue 13) -----------------------------------------------

    async def terminal_status(self, sid: str, client: Client, data: SelfTest) -> dict[str, Any]:
        hall_id = client.actor.hall_id
        if client.actor.kind is not ActorKind.TERMINAL or hall_id is None:
            raise Forbidden("only a hall's terminal reports its self-test")
        await self.readiness.reported(hall_id, data)
        return ok()

    async def probe(self, sid: str, client: Client, data: Empty) -> dict[str, Any]:
        """Answered at once: the terminal times it (its link before a meeting)."""
        return ok()

    async def watch_readiness(self, sid: str, client: Client, data: MeetingIn) -> dict[str, Any]:
        async with self.services.db.session() as session:
            access = Access(client.actor, await load_tree(session))
            meeting = await self.services.scheduler.get(session, access, data.meeting_id)
            require_board(access, meeting)
        for room in self.sio.rooms(sid, namespace=NAMESPACE):
            if room.startswith("readiness:") and room != board_room(meeting.id):
                await self.sio.leave_room(sid, room, namespace=NAMESPACE)
        await self.sio.enter_room(sid, board_room(meeting.id), namespace=NAMESPACE)
        return ok(meeting_id=meeting.id)

    async def start_test_call(self, sid: str, client: Client, data: HallIn) -> dict[str, Any]:
        async with self.services.db.session() as session:
            access = Access(client.actor, await load_tree(session))
            access.require_user("a test call")
            hall = await org.get_hall(session, access, data.hall_id)
            access.require(RoleName.SECRETARIAT, hall.unit_id, "a test call with a hall")
            hall_name = hall.name
        if client.test_call is not None:
            await self.test_calls.end(client.test_call, "replaced by another test call")
        terminal = self._terminal_socket(data.hall_id)
        if terminal is None:
            raise StateError("the hall's terminal is not online (on this server)", field="hall_id")
        terminal_sid, hall_client = terminal
        if hall_client.participant_id is not None:
            raise StateError("the hall is in a live meeting", field="hall_id")
        if hall_client.test_call is not None:
            raise StateError("the hall is already in a test call", field="hall_id")
        call = self.test_calls.start(data.hall_id, hall_name, client.actor.label)
        client.test_call = call.id
        hall_client.test_call = call.id
        await self.sio.emit(
            "test_call", {"call_id": call.id, "limit_seconds": self.test_calls.limit},
            to=terminal_sid, namespace=NAMESPACE,
        )  # fmt: skip
        return ok(
            call_id=call.id,
            hall_id=data.hall_id,
            hall_name=hall_name,
            limit_seconds=self.test_calls.limit,
            ice_servers=self.ice_servers,
        )

    async def test_call_offer(
        self, sid: str, client: Client, data: TestCallOfferIn
    ) -> dict[str, Any]:
        call, side = self._test_call(client, data.call_id)
        answer = await call.negotiate(side, data.sdp, dict(data.sources), dict(data.slots))
        return ok(type="answer", sdp=answer, slots=call.labels(side),
                  ice_servers=self.ice_servers)  # fmt: skip

    async def end_test_call(self, sid: str, client: Client, data: Empty) -> dict[str, Any]:
        if client.test_call is not None:
            await self.test_calls.end(client.test_call, f"hung up by {client.actor.label}")
        return ok()

    async def _test_call_ended(self, call: TestCall, reason: str) -> None:
        for sid, client in list(self.clients.items()):
            if client.test_call == call.id:
                client.test_call = None
                await self.sio.emit(
                    "test_call_ended", {"call_id": call.id, "reason": reason}, to=sid,
                    namespace=NAMESPACE,
                )  # fmt: skip

    def _test_call(self, client: Client, call_id: str) -> tuple[TestCall, Side]:
        call = self.test_calls.get(call_id)
        if call is None or client.test_call != call_id:
            raise NotFound("no such test call (it has ended?)", field="call_id")
        side = Side.HALL if client.actor.kind is ActorKind.TERMINAL else Side.OFFICE
        return call, side

    def _terminal_socket(self, hall_id: int) -> tuple[str, Client] | None:
        """The hall's newest terminal socket on this node."""
        found = [
            (sid, c) for sid, c in self.clients.items()
            if c.actor.kind is ActorKind.TERMINAL and c.actor.hall_id == hall_id
        ]  # fmt: skip
        return found[-1] if found else None

    # -- helpers ------------------------------------------------------------------------

    def _room(self, client: Client) -> tuple[Room, str]:
        if client.meeting_id is None or client.participant_id is None:
            raise StateError("join a live meeting first")
        room = self.live.rooms.get(client.meeting_id)
        if room is None or room.closed:
            raise StateError("the meeting has ended")
        return room, client.participant_id

    @staticmethod
    def _can_chair(access: Access, chair_user_id: int, unit_id: int) -> bool:
        """The chair, an admin, or the operator (a secretariat of the meeting's unit)."""
        actor = access.actor
        if actor.kind is not ActorKind.USER:
            return False
        return (
            actor.is_admin
            or actor.user_id == chair_user_id
            or access.has(RoleName.SECRETARIAT, unit_id)
        )
