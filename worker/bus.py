"""The worker's side of NATS: the render command queue, status events, and cancel markers.

The gateway declares the streams and the consumer; a worker binds to them and waits until they exist.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from reelmill import topology
from reelmill.v1 import render_pb2
from worker.errors import BusUnavailableError

log = logging.getLogger(__name__)


class WorkerBus:
    def __init__(self, url: str) -> None:
        self.url = url
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.sub: JetStreamContext.PullSubscription | None = None
        self.cancelled: KeyValue | None = None
        self.ack_wait_s = 60.0
        self.max_deliver = 5
        self.closing = False

    async def connect(self, stop: asyncio.Event) -> bool:
        """Connects and binds to the command queue, retrying until it works; False if stopped first."""
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
                assert self.js is not None
                info = await self.js.consumer_info(topology.COMMAND_STREAM, topology.WORKER_CONSUMER)
                self.ack_wait_s = float(info.config.ack_wait or 30.0)
                self.max_deliver = int(info.config.max_deliver or -1)
                self.sub = await self.js.pull_subscribe_bind(
                    durable=topology.WORKER_CONSUMER, stream=topology.COMMAND_STREAM
                )
                self.cancelled = await self.js.key_value(topology.CANCEL_BUCKET)
                log.info("bound to %s/%s at %s", topology.COMMAND_STREAM, topology.WORKER_CONSUMER, self.url)
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
        assert self.sub is not None
        try:
            msgs = await self.sub.fetch(batch=1, timeout=timeout_s)
        except nats.errors.TimeoutError:
            return None
        except (TimeoutError, OSError, nats.errors.Error) as e:
            raise BusUnavailableError(f"fetching a command failed: {e!r}") from e
        return msgs[0] if msgs else None

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
