"""Consumes render events from the workers and applies them to sub-jobs and batches."""

from __future__ import annotations

import asyncio
import logging

from google.protobuf.message import DecodeError
from nats.aio.msg import Msg

from gateway import metrics
from gateway import status as st
from gateway.bus import GatewayBus
from gateway.changes import BatchChanges
from gateway.errors import BusUnavailableError, DatabaseUnavailableError
from gateway.status import EventUpdate
from gateway.store.batches import Batches
from gateway.waits import first_done
from reelmill import logs, tracing
from reelmill.v1 import render_pb2

log = logging.getLogger(__name__)

STATES = {
    render_pb2.RENDER_STATE_PROCESSING: st.PROCESSING,
    render_pb2.RENDER_STATE_SUCCESS: st.SUCCESS,
    render_pb2.RENDER_STATE_FAILED: st.FAILED,
    render_pb2.RENDER_STATE_CANCELLED: st.CANCELLED,
}


def to_update(ev: render_pb2.RenderEvent) -> EventUpdate | None:
    state = STATES.get(ev.state)
    if state is None:
        return None
    return EventUpdate(
        batch_id=ev.batch_id, sub_job_id=ev.sub_job_id, attempt=ev.attempt, state=state,
        progress=min(max(ev.progress, 0.0), 1.0), media_url=ev.media_url, duration_s=ev.duration_s,
        error_code=ev.error_code, error_message=ev.error_message, plan=ev.plan_json, qc=ev.qc_json,
    )  # fmt: skip


class EventConsumer:
    def __init__(self, batches: Batches, bus: GatewayBus, changes: BatchChanges) -> None:
        self.batches = batches
        self.bus = bus
        self.changes = changes

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await first_done(self.bus.ready.wait(), stop.wait())
            if stop.is_set():
                return
            try:
                msgs = await self.bus.fetch_events(batch=64, timeout_s=1.0)
            except BusUnavailableError as e:
                log.warning("event consumer: %s", e)
                await first_done(asyncio.sleep(1.0), stop.wait())
                continue
            for msg in msgs:
                with logs.context():
                    await self._handle(msg)

    async def _handle(self, msg: Msg) -> None:
        try:
            ev = render_pb2.RenderEvent.FromString(msg.data)
        except DecodeError:
            log.error("dropping an undecodable render event")
            await msg.term()
            return
        logs.bind(job_id=ev.batch_id, sub_job_id=ev.sub_job_id)
        state = render_pb2.RenderState.Name(ev.state) if ev.state in render_pb2.RenderState.values() else ""
        # Part of the variant's trace: the worker's render span is the parent.
        with tracing.span("reelmill.event", parent=ev.traceparent, state=state):
            await self._apply(msg, ev)

    async def _apply(self, msg: Msg, ev: render_pb2.RenderEvent) -> None:
        update = to_update(ev)
        if update is None:
            await msg.term()
            return
        try:
            changed = await asyncio.to_thread(self.batches.apply_event, update)
        except DatabaseUnavailableError as e:
            log.warning("event for %s kept for later: %s", ev.sub_job_id, e)
            await msg.nak(delay=2.0)
            return
        await msg.ack()
        if changed and update.state in st.SUB_JOB_TERMINAL:
            metrics.SUB_JOBS_FINISHED.labels(update.state).inc()
        if changed:
            self.changes.notify(ev.batch_id)
