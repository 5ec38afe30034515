"""``GET /metrics``: this node's figures in Prometheus's text format (``prometheus_client``).

Read when scraped, from what the node keeps anyway: nothing is counted on the forwarding path
for it but each track's own frame count (``media.forwarding.forwarded_total``). Public, like
``/api/health``: counts only, no names. A media worker that is replaced starts its count
again (Prometheus's ``rate()`` takes a counter's reset in its stride).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

import sqlalchemy as sa
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from media.errors import MediaError
from media.forwarding import forwarded_total
from recordings.models import JobState, ProcessingJob
from server.state import SERVICES, Services

log = logging.getLogger(__name__)


class _Figures(Collector):
    """The metrics of one scrape, gathered beforehand (collectors are not async)."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics


async def gather(services: Services) -> list[Metric]:
    rooms = services.live.rooms.rooms()
    out: list[Metric] = []

    def gauge(name: str, doc: str, value: float) -> None:
        family = GaugeMetricFamily(name, doc)
        family.add_metric([], value)
        out.append(family)

    gauge("giaoban_meetings_live", "Meetings under way on this node", len(rooms))
    participants = GaugeMetricFamily(
        "giaoban_participants", "Participants connected to this node's meetings", labels=["kind"]
    )
    halls = sum(1 for r in rooms for p in r.participants.values() if p.hall_id is not None)
    people = sum(len(r.participants) for r in rooms) - halls
    participants.add_metric(["terminal"], halls)
    participants.add_metric(["person"], people)
    out.append(participants)
    gauge("giaoban_recordings_active", "Meetings being recorded on this node",
          sum(1 for r in rooms if r.recording))  # fmt: skip
    gauge("giaoban_event_loop_lag_seconds", "The signalling loop's p95 lag over the last 5 s",
          services.loop_monitor.lag_ms() / 1000)  # fmt: skip
    gauge("giaoban_event_loop_cpu_ratio", "The signalling loop's share of one core, last 5 s",
          services.loop_monitor.cpu_percent() / 100)  # fmt: skip

    forwarded = forwarded_total()
    workers = services.media_workers
    if workers is not None:
        alive = GaugeMetricFamily(
            "giaoban_media_workers_alive", "Media workers (and media nodes) up", labels=["worker"]
        )
        for entry in await workers.stats():
            alive.add_metric([entry["worker"]], 1 if entry["alive"] else 0)
            forwarded += int(entry.get("forwarded", 0))
        out.append(alive)
    counter = CounterMetricFamily(
        "giaoban_forwarded_packets", "Media frames forwarded to participants (never re-encoded)"
    )
    counter.add_metric([], forwarded)
    out.append(counter)

    jobs = GaugeMetricFamily("giaoban_jobs", "Post-processing jobs by state (every node's)",
                             labels=["state"])  # fmt: skip
    counts = {state.value: 0 for state in JobState}
    with contextlib.suppress(Exception):  # a database that is down shows in /api/health
        async with services.db.sessions() as session:
            rows = await session.execute(
                sa.select(ProcessingJob.state, sa.func.count()).group_by(ProcessingJob.state)
            )
            for stored, count in rows:
                counts[JobState(stored).value] = int(count)
    for name, count in counts.items():
        jobs.add_metric([name], count)
    out.append(jobs)
    return out


async def metrics(request: web.Request) -> web.Response:
    registry = CollectorRegistry(auto_describe=False)
    try:
        figures = await gather(request.app[SERVICES])
    except MediaError as exc:
        log.warning("metrics: %s", exc)
        figures = []
    registry.register(_Figures(figures))
    # The format the scraper asks for (its Accept header): the text format by default.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encode(registry), headers={"Content-Type": content_type})
