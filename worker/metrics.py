"""The worker's Prometheus metrics and the loop that serves them (with /healthz for liveness)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

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
