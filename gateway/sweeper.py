"""Sub-jobs that no worker will finish: commands out of deliveries, and commands the queue lost.

JetStream stops redelivering a command after max_deliver attempts and announces it once, with an
advisory that is lost if no gateway listens; the command then stays in the work queue for ever. A
worker that crashes on every attempt never reports a failure itself. So: the advisory fails the
sub-job at once, and a periodic sweep catches what the advisories missed (and re-queues commands a
queue that lost its storage no longer has), only while the queues are idle, so that a command merely
waiting for a free worker is never taken for a stuck one.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from gateway import status as st
from gateway.bus import GatewayBus
from gateway.changes import BatchChanges
from gateway.errors import BusUnavailableError, DatabaseUnavailableError
from gateway.status import EventUpdate
from gateway.store.batches import Batches
from gateway.store.transactions import utcnow
from gateway.waits import first_done
from reelmill.v1 import render_pb2

log = logging.getLogger(__name__)

EXHAUSTED_CODE = "Internal"


class Sweeper:
    def __init__(self, batches: Batches, bus: GatewayBus, changes: BatchChanges, *, interval_s: float,
                 stall_after_s: float) -> None:  # fmt: skip
        self.batches = batches
        self.bus = bus
        self.changes = changes
        self.interval_s = interval_s
        self.stall_after_s = stall_after_s

    async def run(self, stop: asyncio.Event) -> None:
        await first_done(self.bus.ready.wait(), stop.wait())
        if stop.is_set():
            return
        await self.bus.on_max_deliveries(self.exhausted)
        while not stop.is_set():
            await first_done(asyncio.sleep(self.interval_s), stop.wait())
            if stop.is_set():
                return
            try:
                await self.sweep_once()
            except (BusUnavailableError, DatabaseUnavailableError) as e:
                log.warning("sweep skipped: %s", e)

    async def exhausted(self, seq: int, deliveries: int) -> None:
        """A command ran out of deliveries: its sub-job fails, and the command leaves the queue."""
        try:
            found = await self.bus.command(seq=seq)
            if found is not None:
                await self._fail(found[0], found[1], deliveries)
        except (BusUnavailableError, DatabaseUnavailableError) as e:
            log.warning("command %d out of deliveries, left for the sweeper: %s", seq, e)

    async def sweep_once(self) -> int:
        """Handles stalled sub-jobs; returns how many it failed or re-queued."""
        if not await self.bus.queues_idle():
            return 0
        since = utcnow() - timedelta(seconds=self.stall_after_s)
        handled = 0
        for stalled in await asyncio.to_thread(self.batches.stalled_sub_jobs, since):
            # The subject as it was published: it names the job's priority (and old commands' form).
            found = await self.bus.command(subject=stalled.subject)
            if found is not None:
                await self._fail(found[0], found[1], deliveries=0)
            else:
                log.warning("job %s sub-job %s: its command is gone from the queue; publishing it again",
                            stalled.batch_id, stalled.id)  # fmt: skip
                await asyncio.to_thread(self.batches.republish, stalled.id)
            handled += 1
        return handled

    async def _fail(self, seq: int, data: bytes, deliveries: int) -> None:
        cmd = render_pb2.RenderCommand.FromString(data)
        tries = f"{deliveries} attempts" if deliveries else "its attempts"
        update = EventUpdate(
            batch_id=cmd.batch_id, sub_job_id=cmd.sub_job_id, attempt=deliveries, state=st.FAILED,
            error_code=EXHAUSTED_CODE,
            error_message=f"the render did not finish in {tries}: the worker stopped or crashed each time",
        )  # fmt: skip
        changed = await asyncio.to_thread(self.batches.apply_event, update)
        await self.bus.delete_command(seq)  # only once the failure is recorded
        log.warning("job %s sub-job %s failed: out of deliveries", cmd.batch_id, cmd.sub_job_id)
        if changed:
            self.changes.notify(cmd.batch_id)
