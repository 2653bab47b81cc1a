"""The worker's side of NATS: the render command queues, status events, and cancel markers.

The gateway declares the streams and the consumers; a worker waits until they exist, then takes
commands from the tenants' queues in turn (worker/fairness.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from reelmill import jetstream, topology
from reelmill.v1 import render_pb2
from worker import fairness
from worker.errors import BusUnavailableError

log = logging.getLogger(__name__)


class WorkerBus:
    def __init__(self, url: str) -> None:
        self.url = url
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self._doorbell = asyncio.Event()
        self._last_tenant: str | None = None
        self.cancelled: KeyValue | None = None
        self.ack_wait_s = 60.0
        self.max_deliver = 5
        self.closing = False

    async def connect(self, stop: asyncio.Event) -> bool:
        """Connects and waits for the command stream, retrying until it works; False if stopped first."""
        delay = 0.2
        while not stop.is_set():
            try:
                if self.nc is None:
                    self.nc = await nats.connect(
                        servers=[self.url], max_reconnect_attempts=-1, reconnect_time_wait=1,
                        ping_interval=10, max_outstanding_pings=3, connect_timeout=2,
                        disconnected_cb=self._on_disconnect, reconnected_cb=self._on_reconnect,
                        error_cb=self._on_error,
                    )  # fmt: skip
                    self.js = self.nc.jetstream(timeout=5)
                    await self.nc.subscribe(topology.DOORBELL_SUBJECT, cb=self._on_doorbell)
                assert self.js is not None
                info = await self.js.consumer_info(topology.COMMAND_STREAM, topology.LEGACY_CONSUMER)
                self.ack_wait_s = float(info.config.ack_wait or 30.0)
                self.max_deliver = int(info.config.max_deliver or -1)
                self.cancelled = await self.js.key_value(topology.CANCEL_BUCKET)
                log.info("taking render commands from %s at %s", topology.COMMAND_STREAM, self.url)
                return True
            except (TimeoutError, OSError, nats.errors.Error) as e:
                log.warning("render queue not ready at %s (%r); retrying in %.1f s", self.url, e, delay)
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass
                delay = min(delay * 2, 5.0)
        return False

    async def serve_probes(self, probe: Callable[[bytes], Awaitable[bytes]]) -> None:
        """Answers the media library's probe requests (one worker of the group each), with `probe`."""
        await self._serve(topology.MEDIA_PROBE_SUBJECT, topology.MEDIA_PROBE_GROUP, probe, "a media probe")

    async def serve_plans(self, plan: Callable[[bytes], Awaitable[bytes]]) -> None:
        """Answers dry runs (one worker of the group each), with `plan`."""
        await self._serve(topology.PLAN_SUBJECT, topology.PLAN_GROUP, plan, "a dry run")

    async def _serve(self, subject: str, group: str, handler: Callable[[bytes], Awaitable[bytes]],
                     what: str) -> None:  # fmt: skip
        assert self.nc is not None

        async def answer(msg: Msg) -> None:
            try:
                await msg.respond(await handler(msg.data))
            except (TimeoutError, OSError, nats.errors.Error) as e:
                log.warning("could not answer %s: %r", what, e)

        await self.nc.subscribe(subject, queue=group, cb=answer)

    async def next_command(self, timeout_s: float) -> Msg | None:
        """The next render command, taken fairly (worker/fairness.py), or None when none came in
        `timeout_s`. Each pull asks for one command without waiting, so no pull is left lingering at
        the server to catch a command after this worker stopped listening."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            self._doorbell.clear()
            for consumer in fairness.order(await self._queues(), self._last_tenant):
                msg = await self._pull(consumer)
                if msg is not None:
                    queue = topology.queue_of_consumer(consumer)
                    self._last_tenant = queue.tenant if queue else ""
                    return msg
            left = deadline - loop.time()
            if left <= 0:
                return None
            try:
                await asyncio.wait_for(self._doorbell.wait(), left)
            except TimeoutError:
                return None

    async def _queues(self) -> list[fairness.QueueState]:
        assert self.js is not None
        try:
            consumers = await jetstream.all_consumers(self.js, topology.COMMAND_STREAM)
        except (TimeoutError, OSError, nats.errors.Error) as e:
            raise BusUnavailableError(f"reading the render queues failed: {e!r}") from e
        return [
            fairness.QueueState(
                c.name,
                int(c.num_pending or 0),
                int(c.num_ack_pending or 0),
                int(c.config.max_ack_pending or -1),
            )  # fmt: skip
            for c in consumers
            if c.name
        ]

    async def _pull(self, consumer: str) -> Msg | None:
        """One command of `consumer`, or None at once when it has none (or none it may deliver now)."""
        assert self.nc is not None
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{topology.COMMAND_STREAM}.{consumer}"
        request = json.dumps({"batch": 1, "no_wait": True}).encode()
        # Not nc.request(): JetStream delivers a command under its own subject to the reply inbox's
        # subscription, which nats-py's shared request inbox cannot route; an inbox of its own can.
        inbox = self.nc.new_inbox()
        try:
            answers = await self.nc.subscribe(inbox, max_msgs=1)
            try:
                await self.nc.publish(subject, request, reply=inbox)
                msg = await answers.next_msg(timeout=5)
            finally:
                with contextlib.suppress(nats.errors.Error):
                    await answers.unsubscribe()
        except (TimeoutError, OSError, nats.errors.Error) as e:
            raise BusUnavailableError(f"taking a command from {consumer} failed: {e!r}") from e
        if msg.headers and msg.headers.get("Status"):
            return None  # 404 no messages, 408 request expired, 409 max ack pending reached
        return msg

    async def _on_doorbell(self, _msg: Msg) -> None:
        self._doorbell.set()

    async def publish_event(self, event: render_pb2.RenderEvent, msg_id: str) -> None:
        assert self.js is not None
        subject = topology.event_subject(event.batch_id, event.sub_job_id)
        try:
            await self.js.publish(subject, event.SerializeToString(), headers={"Nats-Msg-Id": msg_id})
        except (TimeoutError, OSError, nats.errors.Error) as e:
            raise BusUnavailableError(f"publishing an event failed: {e!r}") from e

    async def is_cancelled(self, batch_id: str) -> bool:
        assert self.cancelled is not None
        try:
            await self.cancelled.get(batch_id)
            return True
        except nats.js.errors.KeyNotFoundError:
            return False
        except (TimeoutError, OSError, nats.errors.Error) as e:
            log.debug("cannot read the cancel marker of %s: %r", batch_id, e)
            return False

    async def close(self) -> None:
        """Flushes what was published and closes; acks were already confirmed (ack_sync)."""
        if self.nc is None:
            return
        self.closing = True
        try:
            await self.nc.flush(timeout=2)
        except (TimeoutError, OSError, nats.errors.Error):
            pass
        try:
            await self.nc.close()
        except (OSError, nats.errors.Error):
            pass

    async def _on_disconnect(self) -> None:
        if not self.closing:
            log.warning("disconnected from NATS")

    async def _on_reconnect(self) -> None:
        log.info("reconnected to NATS")

    async def _on_error(self, e: Exception) -> None:
        log.debug("NATS client error: %r", e)
