"""Monitoring: is the database reachable, which version runs."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from media.workers import MediaNode
from rooms.db import utcnow
from server.api.routing import Auth, Call, Endpoint, json_response
from server.api.schemas import HealthOut, MediaWorkerOut

log = logging.getLogger("giaoban.health")


async def health(call: Call) -> web.Response:
    try:
        await call.services.db.ping()
        database = "ok"
    except Exception as exc:  # any failure to answer is "unreachable", the reason is logged
        log.warning("health: database unreachable: %s", exc)
        database = "unreachable"
    rooms = call.services.live.rooms
    workers = call.services.media_workers
    body = HealthOut(
        status="ok" if database == "ok" else "degraded",
        version=call.services.version,
        database=database,
        time=utcnow(),
        meetings_live=len(rooms),
        participants=rooms.participants(),
        event_loop_lag_ms=call.services.loop_monitor.lag_ms(),
        event_loop_cpu_percent=call.services.loop_monitor.cpu_percent(),
        event_loop="uvloop"
        if type(asyncio.get_running_loop()).__module__.startswith("uvloop")
        else "asyncio",
        media_workers=[
            MediaWorkerOut(name=w.name, alive=w.alive, peers=w.load, node=isinstance(w, MediaNode))
            for w in ([*workers.workers, *workers.nodes] if workers is not None else [])
        ],
    )
    return json_response(body.model_dump(mode="json"), 200 if database == "ok" else 503)


ENDPOINTS = (
    Endpoint("GET", "/api/health", health, "Health for monitoring (503 when the database is down)",
             auth=Auth.PUBLIC, response=HealthOut, tag="health"),
)  # fmt: skip
