"""The worker's Prometheus metrics and the loop that serves them (with /healthz for liveness)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from reelmill.metrics_http import started_endpoint
from reelmill.v1 import render_pb2

log = logging.getLogger(__name__)

STATUSES = {
    render_pb2.RENDER_STATE_SUCCESS: "Success",
    render_pb2.RENDER_STATE_FAILED: "Failed",
    render_pb2.RENDER_STATE_CANCELLED: "Cancelled",
}

SUB_JOBS_FINISHED = Counter(
    "reelmill_worker_sub_jobs_finished",
    "Final outcomes this worker reported, by status (a redelivered command may be counted twice)",
    ["status"],
)
for _status in STATUSES.values():
    SUB_JOBS_FINISHED.labels(_status)
RENDER_SECONDS = Histogram(
    "reelmill_worker_render_seconds",
    "Wall time of completed renders of one sub-job (fetch, probe, plan, render, move into place)",
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1800, 3600),
)
RENDERS_IN_PROGRESS = Gauge("reelmill_worker_renders_in_progress", "Renders running now")
HANDED_BACK = Counter(
    "reelmill_worker_handed_back", "Render commands handed back unfinished (shutdown past the grace period)"
)


class KeptShots(Collector):
    """The frame cache's lookups and size, read from its stats at each scrape (worker/job.py makes the
    cache; on disk its folder may be shared by the workers of a node, and then so is its size)."""

    def __init__(self) -> None:
        self.stats: Callable[[], dict[str, int]] | None = None

    def collect(self) -> Iterator[Metric]:
        stats = self.stats() if self.stats is not None else {}
        lookups = CounterMetricFamily(
            "reelmill_worker_kept_shots",
            "Shots looked up among those kept for the next variants: found (hit) or made again (miss)",
            labels=["outcome"],
        )
        lookups.add_metric(["hit"], stats.get("hits", 0))
        lookups.add_metric(["miss"], stats.get("misses", 0))
        yield lookups
        yield CounterMetricFamily(
            "reelmill_worker_kept_shot_evictions",
            "Kept shots this worker deleted to make room (least recently used first)",
            value=stats.get("evictions", 0),
        )
        yield GaugeMetricFamily(
            "reelmill_worker_kept_shots_bytes",
            "Bytes of kept shots: in this worker's memory, or in the frames folder (a node's, when shared)",
            value=stats.get("bytes", 0),
        )


KEPT_SHOTS = KeptShots()
REGISTRY.register(KEPT_SHOTS)


def watch_kept_shots(stats: Callable[[], dict[str, int]]) -> None:
    """Where the kept-shot metrics read from: the worker's frame cache's stats."""
    KEPT_SHOTS.stats = stats


def finished(state: render_pb2.RenderState) -> None:
    SUB_JOBS_FINISHED.labels(STATUSES.get(state, "Unknown")).inc()


@dataclass
class RenderTiming:
    completed: bool = False


@contextmanager
def rendering() -> Iterator[RenderTiming]:
    """Around one render: counts it as in progress; times it when marked completed, and counts it as
    handed back when it ends without error and unmarked."""
    timing = RenderTiming()
    started = time.monotonic()
    RENDERS_IN_PROGRESS.inc()
    try:
        yield timing
    finally:
        RENDERS_IN_PROGRESS.dec()
    if timing.completed:
        RENDER_SECONDS.observe(time.monotonic() - started)
    else:
        HANDED_BACK.inc()


async def run(port: int, host: str, stop: asyncio.Event) -> None:
    """Serves /metrics and /healthz on `host`:`port` until `stop`; port 0 turns it off."""
    endpoint = started_endpoint(port, host)
    if endpoint is None:
        return
    try:
        await endpoint.tick(stop)
    finally:
        await asyncio.to_thread(endpoint.close)
