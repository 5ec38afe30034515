"""Hall readiness on this node: the terminals' sockets marking halls online, their self-tests,
and the offline alert before a meeting (see :mod:`rooms.readiness`, docs/protocol.md).

The alert is a periodic check owned by the app (started with the services, cancelled on
shutdown): every ``interval`` seconds it looks at the scheduled meetings whose start is 15
minutes away or less (and not started yet) and, for every invited hall whose terminal is
offline, pushes ``readiness_alert`` to the sockets watching that meeting's board
(``readiness:{meeting_id}``) and logs it once per meeting and hall. Scaled out, every node
runs the check against the same table: the boards may hear an alert once per node, which
they take as the same alert (keyed by meeting and hall).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import socketio

from rooms import readiness
from rooms.localtime import to_local
from rooms.models import Meeting
from server.cluster import Cluster
from server.db import Database
from server.live import NAMESPACE
from server.periodic import Periodic

log = logging.getLogger("giaoban.readiness")

CHECK_INTERVAL = 30.0
"""Seconds between two offline checks."""


def board_room(meeting_id: int) -> str:
    """The socket.io room of the people watching a meeting's readiness board."""
    return f"readiness:{meeting_id}"


class Readiness:
    """This node's share of the halls' readiness."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        db: Database,
        cluster: Cluster,
        clock: Callable[[], datetime],
        interval: float = CHECK_INTERVAL,
    ) -> None:
        self.sio = sio
        self.db = db
        self.cluster = cluster
        self.clock = clock
        self.interval = interval
        self.sockets: dict[int, set[str]] = {}
        """hall id → the terminal sockets of that hall on this node."""
        self._alerted: set[tuple[int, int]] = set()
        self._watching = Periodic(
            "the readiness check", self.check, lambda: self.interval, at_once=True
        )

    @property
    def node_id(self) -> str:
        return self.cluster.node_id

    async def start(self) -> None:
        async with self.db.session() as session:
            cleared = await readiness.clear_node(session, self.node_id)
        if cleared:
            log.info("%d halls this node had online before it stopped are offline now", cleared)
        self._watching.start()

    async def close(self) -> None:
        await self._watching.stop()

    # -- the terminals' sockets -------------------------------------------------------------

    async def connected(self, hall_id: int, sid: str) -> None:
        self.sockets.setdefault(hall_id, set()).add(sid)
        async with self.db.session() as session:
            await readiness.connected(session, hall_id, self.node_id, self.clock())

    async def disconnected(self, hall_id: int, sid: str) -> None:
        sids = self.sockets.get(hall_id, set())
        sids.discard(sid)
        if sids:
            return  # another socket of the hall (a reloaded page) is still here
        self.sockets.pop(hall_id, None)
        async with self.db.session() as session:
            await readiness.disconnected(session, hall_id, self.node_id, self.clock())

    async def reported(self, hall_id: int, test: readiness.SelfTest) -> None:
        async with self.db.session() as session:
            await readiness.reported(session, hall_id, self.node_id, self.clock(), test)

    async def close_node(self) -> None:
        """The server stops: its halls are offline (their pages go to another node)."""
        async with self.db.session() as session:
            await readiness.clear_node(session, self.node_id)
        self.sockets.clear()

    # -- the board --------------------------------------------------------------------------

    async def live_nodes(self) -> set[str]:
        return {n.id for n in await self.cluster.nodes()}

    async def board(self, session: Any, meeting: Meeting) -> list[readiness.HallReadiness]:
        return await readiness.board(session, meeting, self.clock(), await self.live_nodes())

    # -- the offline alert ------------------------------------------------------------------

    async def check(self) -> list[dict[str, Any]]:
        """One pass: every offline hall of every meeting in its alert window; returns them."""
        now = self.clock()
        nodes = await self.live_nodes()
        sent: list[dict[str, Any]] = []
        async with self.db.session() as session:
            meetings = await readiness.upcoming(session, now)
            for meeting in meetings:
                rows = await readiness.board(session, meeting, now, nodes)
                for alert in readiness.offline_alerts(meeting, rows, now):
                    key = (meeting.id, alert["hall_id"])
                    if key not in self._alerted:
                        self._alerted.add(key)
                        log.warning(
                            "meeting %s starts in %s min and hall %s (%s) is offline",
                            meeting.id, alert["minutes_left"], alert["hall_id"],
                            alert["hall_name"],
                        )  # fmt: skip
                    payload = {**alert, "start": to_local(alert["start"]).isoformat()}
                    await self.sio.emit(
                        "readiness_alert", payload, room=board_room(meeting.id),
                        namespace=NAMESPACE,
                    )  # fmt: skip
                    sent.append(payload)
        live = {m.id for m in meetings}
        self._alerted = {k for k in self._alerted if k[0] in live}
        return sent
