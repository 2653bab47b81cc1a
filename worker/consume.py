"""The worker loop: take a render command, run it with a lease kept alive, report, then acknowledge.

Order per command (at-least-once delivery, exactly one output): cancelled? → output already there
(a redelivery after a crash)? → render to a temporary name → move into place → publish the outcome →
ack. A crash anywhere before the ack redelivers the command; the next attempt finds the output.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Literal

from google.protobuf.message import DecodeError
from nats.aio.msg import Msg

from reelmill import logs, tracing
from reelmill.v1 import render_pb2
from worker import metrics
from worker.bus import WorkerBus
from worker.dryrun import plan_batch
from worker.errors import BusUnavailableError, RenderCancelledError, RenderTimeoutError, WorkerError
from worker.job import JobState, Rendered, existing_output, run_job
from worker.library import probe_for_library
from worker.settings import WorkerSettings

log = logging.getLogger(__name__)

PROCESSING = render_pb2.RENDER_STATE_PROCESSING
SUCCESS = render_pb2.RENDER_STATE_SUCCESS
FAILED = render_pb2.RENDER_STATE_FAILED
CANCELLED = render_pb2.RENDER_STATE_CANCELLED


class Worker:
    def __init__(self, settings: WorkerSettings, bus: WorkerBus) -> None:
        self.settings = settings
        self.bus = bus
        self.stuck = False  # a render thread that cannot be stopped: exit after reporting

    async def run(self, stop: asyncio.Event) -> None:
        if not await self.bus.connect(stop):
            return
        await self.bus.serve_probes(self._probe)
        await self.bus.serve_plans(self._plan)
        slots = [asyncio.create_task(self._slot(stop), name=f"slot-{i}") for i in range(self.settings.slots)]
        await asyncio.gather(*slots)

    async def _probe(self, data: bytes) -> bytes:
        """A media library probe, in a thread: it fetches and decodes like a render."""
        return await asyncio.to_thread(probe_for_library, data, self.settings)

    async def _plan(self, data: bytes) -> bytes:
        """A dry run, in a thread: it fetches, probes and speaks like a render."""
        return await asyncio.to_thread(plan_batch, data, self.settings)

    async def _slot(self, stop: asyncio.Event) -> None:
        while not stop.is_set() and not self.stuck:
            try:
                msg = await self.bus.next_command(timeout_s=1.0)
            except BusUnavailableError as e:
                log.warning("%s", e)
                await asyncio.sleep(1.0)
                continue
            if msg is None:
                continue
            if stop.is_set():
                await msg.nak()  # arrived while stopping: hand it straight back
                return
            with logs.context():
                await self.handle(msg, stop)
            if self.stuck:
                stop.set()  # a thread we cannot stop holds a core: let the orchestrator restart us

    async def handle(self, msg: Msg, stop: asyncio.Event) -> None:
        try:
            cmd = render_pb2.RenderCommand.FromString(msg.data)
        except DecodeError:
            log.error("dropping an undecodable render command")
            await msg.term()
            return
        logs.bind(job_id=cmd.batch_id, sub_job_id=cmd.sub_job_id)
        attempt = msg.metadata.num_delivered if msg.metadata else 1
        # The variant's trace goes on here, from the Submit that made the command (its traceparent);
        # the render thread's spans and the events' traceparent hang under this one.
        with tracing.span("reelmill.render", parent=cmd.traceparent, job_id=cmd.batch_id,
                          sub_job_id=cmd.sub_job_id, variant=cmd.index, attempt=attempt):  # fmt: skip
            await self._take(msg, cmd, attempt, stop)

    async def _take(self, msg: Msg, cmd: render_pb2.RenderCommand, attempt: int, stop: asyncio.Event) -> None:
        report = _Reporter(self.bus, cmd, attempt, self.settings.worker_id)
        log.info(
            "job %s sub-job %s (variant %d), attempt %d", cmd.batch_id, cmd.sub_job_id, cmd.index, attempt
        )
        try:
            if await self.bus.is_cancelled(cmd.batch_id):
                await report.final(CANCELLED, error_code="Cancelled", error_message="the batch was cancelled")
                await msg.ack_sync()
                return
            done = await asyncio.to_thread(existing_output, cmd, self.settings)
            if done is None:
                with metrics.rendering() as timing:
                    done = await self._render(msg, cmd, report, stop)
                    timing.completed = done is not None
                if done is None:
                    return  # handed back
            await report.final(SUCCESS, rendered=done)
            await msg.ack_sync()
        except RenderCancelledError:
            await report.final(CANCELLED, error_code="Cancelled", error_message="the batch was cancelled")
            await msg.ack_sync()
        except BusUnavailableError as e:
            # The outcome could not be reported: leave the command unacknowledged; it comes back.
            log.warning("job %s sub-job %s: %s", cmd.batch_id, cmd.sub_job_id, e)
        except WorkerError as e:
            await self._failed(msg, report, attempt, e)
        except Exception as e:  # a bug must fail one sub-job, not the worker
            log.exception("job %s sub-job %s: unexpected error", cmd.batch_id, cmd.sub_job_id)
            await self._failed(msg, report, attempt, WorkerError(f"internal error: {e!r}"))

    async def _render(self, msg: Msg, cmd: render_pb2.RenderCommand, report: _Reporter,
                      stop: asyncio.Event) -> Rendered | None:  # fmt: skip
        state = JobState()
        report.job = state  # a failure then reports the plan made so far
        await report.progress(state)
        render = asyncio.create_task(asyncio.to_thread(run_job, cmd, self.settings, state))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            return await self._follow(msg, cmd, report, stop, state, render, stopping)
        finally:
            stopping.cancel()

    async def _follow(self, msg: Msg, cmd: render_pb2.RenderCommand, report: _Reporter, stop: asyncio.Event,
                      state: JobState, render: asyncio.Task[Rendered],
                      stopping: asyncio.Task[Literal[True]]) -> Rendered | None:  # fmt: skip
        """Keeps the lease, reports progress and watches for cancel and shutdown until the render ends."""
        lease_s = max(self.bus.ack_wait_s / 3, 0.5)
        last_lease = time.monotonic()
        give_up_at = last_lease + self.settings.render_timeout_s
        stop_deadline: float | None = None
        while not render.done():
            now = time.monotonic()
            if stop.is_set() and stop_deadline is None:
                stop_deadline = now + self.settings.shutdown_grace_s
            wait_s = self.settings.progress_interval_s
            if stop_deadline is not None:
                wait_s = min(wait_s, max(stop_deadline - now, 0.0))
            waits: set[asyncio.Future[Any]] = {render} if stopping.done() else {render, stopping}
            await asyncio.wait(waits, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
            if render.done():
                break
            now = time.monotonic()
            if stop_deadline is not None and now >= stop_deadline:
                state.cancelled = True  # past the grace period: stop and hand the command back
                await asyncio.wait({render})
                if render.exception() is None:
                    break  # it finished after all
                await msg.nak()
                log.info("job %s sub-job %s handed back at shutdown", cmd.batch_id, cmd.sub_job_id)
                return None
            if now >= give_up_at:
                return await self._timed_out(state, render)
            if now - last_lease >= lease_s:
                await msg.in_progress()  # keep the lease: a long render is not redelivered
                last_lease = now
            if await self.bus.is_cancelled(cmd.batch_id):
                state.cancelled = True
            try:
                await report.progress(state)
            except BusUnavailableError as e:
                log.warning("progress not reported: %s", e)
        return render.result()

    async def _timed_out(self, state: JobState, render: asyncio.Task[Rendered]) -> Rendered | None:
        """A render past its time limit is stopped and fails (not retried: it would hang again). A render
        thread stuck in C cannot be stopped: then the process exits, after reporting, to be restarted."""
        limit = self.settings.render_timeout_s
        state.cancelled = True
        done, _ = await asyncio.wait({render}, timeout=30)
        if not done:
            log.error("a render thread is stuck past its time limit; exiting so the worker is restarted")
            self.stuck = True
        raise RenderTimeoutError(f"the render took longer than its limit of {limit:g} s")

    async def _failed(self, msg: Msg, report: _Reporter, attempt: int, e: WorkerError) -> None:
        last = self.bus.max_deliver > 0 and attempt >= self.bus.max_deliver
        if e.retryable and not last:
            delay = min(2.0 * 2 ** (attempt - 1), 60.0)
            log.warning(
                "job %s attempt %d failed (%s); retry in %.0f s", report.cmd.batch_id, attempt, e, delay
            )
            await msg.nak(delay=delay)
            return
        log.warning("job %s sub-job %s failed: %s: %s", report.cmd.batch_id, report.cmd.sub_job_id, e.code, e)
        try:
            await report.final(FAILED, error_code=e.code, error_message=str(e))
            await msg.term()  # never again: the failure is reported
        except BusUnavailableError as err:
            log.warning("failure not reported: %s", err)


class _Reporter:
    """Publishes one sub-job's events; progress only when it moved, terminal ones deduplicated."""

    def __init__(self, bus: WorkerBus, cmd: render_pb2.RenderCommand, attempt: int, worker_id: str) -> None:
        self.bus = bus
        self.cmd = cmd
        self.attempt = attempt
        self.worker_id = worker_id
        self._sent: tuple[float, str] | None = None
        self.job: JobState | None = None
        self._seq = 0

    def _event(self, state: render_pb2.RenderState) -> render_pb2.RenderEvent:
        ev = render_pb2.RenderEvent(batch_id=self.cmd.batch_id, sub_job_id=self.cmd.sub_job_id,
                                    attempt=self.attempt, state=state, worker_id=self.worker_id,
                                    traceparent=tracing.traceparent())  # fmt: skip
        ev.event_time.GetCurrentTime()
        return ev

    async def progress(self, state: JobState) -> None:
        now = (round(state.progress, 3), state.plan_json)
        if now == self._sent:
            return
        ev = self._event(PROCESSING)
        ev.progress, ev.plan_json = now
        self._seq += 1
        await self.bus.publish_event(ev, f"{self.cmd.sub_job_id}:{self.attempt}:p{self._seq}")
        self._sent = now

    async def final(self, state: render_pb2.RenderState, *, rendered: Rendered | None = None,
                    error_code: str = "", error_message: str = "") -> None:  # fmt: skip
        ev = self._event(state)
        if rendered is not None:
            ev.media_url, ev.duration_s, ev.progress = rendered.media_url, rendered.duration_s, 1.0
            ev.plan_json, ev.qc_json = rendered.plan_json, rendered.qc_json
        elif self.job is not None:
            ev.plan_json = self.job.plan_json
        ev.error_code, ev.error_message = error_code, error_message[:2000]
        name = render_pb2.RenderState.Name(state)
        await self.bus.publish_event(ev, f"{self.cmd.sub_job_id}:{name}")
        metrics.finished(state)
