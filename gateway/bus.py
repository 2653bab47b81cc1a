"""The gateway's side of NATS: connection, the stream topology it owns, publishing, event fetching.

The gateway declares every stream, consumer and bucket (idempotently, at each connect) so that a
JetStream that lost its storage is rebuilt; workers only bind to what exists.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DiscardPolicy,
    PubAck,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from gateway.errors import BusUnavailableError
from reelmill import jetstream, topology
from reelmill.v1 import render_pb2

log = logging.getLogger(__name__)
NO_WORKER_WAIT_S = 5.0


@dataclass(frozen=True)
class QueueState:
    """The render queues as JetStream reports them."""

    pending: int  # not yet delivered
    ack_pending: int  # delivered, not yet acknowledged
    redelivered: int  # delivered more than once, not yet acknowledged
    by_tenant: dict[str, QueueState] = field(default_factory=dict)  # "": the legacy queue

    def __add__(self, other: QueueState) -> QueueState:
        return QueueState(self.pending + other.pending, self.ack_pending + other.ack_pending,
                          self.redelivered + other.redelivered)  # fmt: skip


class GatewayBus:
    def __init__(self, url: str, consumer_policy: topology.WorkerConsumerPolicy, replicas: int = 1) -> None:
        self.url = url
        self.policy = consumer_policy
        self.replicas = replicas
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.ready = asyncio.Event()
        self._events_sub: JetStreamContext.PullSubscription | None = None
        self._queues: dict[topology.Queue, int] = {}  # declared on this connection, with their limit
        self.closing = False

    async def connect(self, stop: asyncio.Event) -> None:
        """Connects, retrying until it works or `stop` is set (nats-py does not retry a first connect)."""
        delay = 0.2
        while not stop.is_set():
            try:
                self.nc = await nats.connect(
                    servers=[self.url],
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
                    ping_interval=10,
                    max_outstanding_pings=3,
                    connect_timeout=2,
                    allow_reconnect=True,
                    reconnected_cb=self._on_reconnect,
                    disconnected_cb=self._on_disconnect,
                    error_cb=self._on_error,
                )
                self.js = self.nc.jetstream(timeout=5)
                await self.declare()
                self.ready.set()
                log.info("connected to NATS at %s", self.url)
                return
            except (TimeoutError, OSError, nats.errors.Error) as e:
                log.warning("NATS not reachable at %s (%s); retrying in %.1f s", self.url, e, delay)
                if self.nc is not None:
                    await _close_quietly(self.nc)
                    self.nc = None
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass
                delay = min(delay * 2, 5.0)

    async def declare(self) -> None:
        js = self._js()
        await _ensure_stream(js, StreamConfig(
            name=topology.COMMAND_STREAM, subjects=list(topology.COMMAND_SUBJECTS),
            retention=RetentionPolicy.WORK_QUEUE, storage=StorageType.FILE, num_replicas=self.replicas,
            duplicate_window=topology.DUPLICATE_WINDOW_S, max_msg_size=topology.STREAM_MAX_MESSAGE_BYTES,
            discard=DiscardPolicy.NEW,
        ))  # fmt: skip
        await _ensure_stream(js, StreamConfig(
            name=topology.EVENT_STREAM, subjects=list(topology.EVENT_SUBJECTS),
            retention=RetentionPolicy.LIMITS, storage=StorageType.FILE, num_replicas=self.replicas,
            duplicate_window=120, max_age=7 * 24 * 3600,
        ))  # fmt: skip
        try:  # the one consumer of before fair sharing overlaps every tenant's: a work queue refuses that
            await js.delete_consumer(topology.COMMAND_STREAM, topology.OLD_WORKER_CONSUMER)
            log.info(
                "removed the consumer %s: commands are now taken per tenant", topology.OLD_WORKER_CONSUMER
            )
        except nats.js.errors.NotFoundError:
            pass
        await _ensure_consumer(js, topology.COMMAND_STREAM, self._consumer_config(
            topology.LEGACY_CONSUMER, topology.LEGACY_FILTER, limit=0
        ))  # fmt: skip
        self._queues.clear()
        await _ensure_consumer(js, topology.EVENT_STREAM, ConsumerConfig(
            durable_name=topology.GATEWAY_CONSUMER, ack_policy=AckPolicy.EXPLICIT, ack_wait=30,
            max_deliver=-1, filter_subject=topology.EVENT_SUBJECTS[0],
        ))  # fmt: skip
        await js.create_key_value(bucket=topology.CANCEL_BUCKET, ttl=7 * 24 * 3600)
        self._events_sub = None

    def _consumer_config(self, name: str, filter_subject: str, limit: int) -> ConsumerConfig:
        """A render queue's consumer; `limit` (0: none) caps its unacknowledged commands, that is its
        tenant's concurrent renders, enforced by JetStream."""
        return ConsumerConfig(
            durable_name=name, ack_policy=AckPolicy.EXPLICIT, ack_wait=self.policy.ack_wait_s,
            max_deliver=self.policy.max_deliver, filter_subject=filter_subject,
            max_ack_pending=limit if limit > 0 else -1,
        )  # fmt: skip

    async def ensure_queues(self, subjects: list[str], limit_of: Callable[[str], int]) -> None:
        """Declares the consumer of every (tenant, priority) queue these command subjects go to, with
        the tenant's current limit, unless this connection already did (a changed limit is applied)."""
        js = self._js()
        for queue in {q for q in map(topology.queue_of_subject, subjects) if q is not None}:
            limit = limit_of(queue.tenant)
            if self._queues.get(queue) == limit:
                continue
            try:
                config = self._consumer_config(queue.consumer, queue.filter, limit)
                await _ensure_consumer(js, topology.COMMAND_STREAM, config)
            except (TimeoutError, nats.errors.Error, OSError) as e:
                raise BusUnavailableError(f"declaring the queue {queue.consumer} failed: {e!r}") from e
            self._queues[queue] = limit

    async def answers(self) -> bool:
        """JetStream answers an API call now (so a refused publication was about the message)."""
        try:
            await self._js().account_info()
            return True
        except (TimeoutError, OSError, nats.errors.Error, BusUnavailableError):
            return False

    async def ring(self) -> None:
        """Tells idle workers that commands were published (core NATS; a lost ring costs a second)."""
        try:
            await self._nc().publish(topology.DOORBELL_SUBJECT, b"")
        except (nats.errors.Error, OSError):
            pass

    async def publish(self, subject: str, payload: bytes, msg_id: str) -> None:
        """Publishes and waits for JetStream's ack; a repeat with the same msg_id is deduplicated."""
        try:
            await self._js().publish(subject, payload, headers={"Nats-Msg-Id": msg_id})
        except (TimeoutError, nats.errors.Error, OSError) as e:
            raise BusUnavailableError(f"publish to {subject} failed: {e!r}") from e

    async def probe_media(self, tenant: str, url: str, timeout_s: float) -> render_pb2.MediaProbeReply:
        """A worker's probe of a media for the library (request–reply: workers can reach media, gateways
        need not). BusUnavailableError when no worker answers in time."""
        request = render_pb2.MediaProbeRequest(tenant=tenant, url=url).SerializeToString()
        data = await self._ask(topology.MEDIA_PROBE_SUBJECT, request, timeout_s, "probe the media")
        return render_pb2.MediaProbeReply.FromString(data)

    async def plan_batch(self, request: render_pb2.PlanRequest, timeout_s: float) -> render_pb2.PlanReply:
        """A worker's dry run of a batch: its plans. BusUnavailableError when no worker answers in time."""
        data = await self._ask(
            topology.PLAN_SUBJECT, request.SerializeToString(), timeout_s, "plan the batch"
        )
        return render_pb2.PlanReply.FromString(data)

    async def _ask(self, subject: str, request: bytes, timeout_s: float, what: str) -> bytes:
        if self.nc is None:
            raise BusUnavailableError("not connected to NATS")
        loop = asyncio.get_running_loop()
        patience = loop.time() + NO_WORKER_WAIT_S  # a worker starting or restarting subscribes in a moment
        while True:
            try:
                reply = await self.nc.request(subject, request, timeout=timeout_s)
                return bytes(reply.data)
            except nats.errors.NoRespondersError as e:
                if loop.time() >= patience:
                    raise BusUnavailableError(f"no worker is running to {what}") from e
                await asyncio.sleep(0.25)
            except (TimeoutError, nats.errors.Error, OSError) as e:
                raise BusUnavailableError(f"no worker could {what} within {timeout_s:g} s: {e!r}") from e

    async def publish_many(self, messages: list[tuple[str, bytes, str]]) -> list[bool]:
        """Publishes (subject, payload, msg_id) messages pipelined: all sent, then all acks awaited.
        True for each one JetStream confirmed (stored or a duplicate)."""
        js = self._js()
        futures: list[asyncio.Future[PubAck] | None] = []
        for subject, payload, msg_id in messages:
            try:
                futures.append(await js.publish_async(subject, payload, headers={"Nats-Msg-Id": msg_id}))
            except (TimeoutError, nats.errors.Error, OSError):
                futures.append(None)
        results = []
        for future in futures:
            try:
                results.append(future is not None and await asyncio.wait_for(future, 5) is not None)
            except (TimeoutError, nats.errors.Error, OSError, nats.js.errors.Error):
                results.append(False)
        return results

    async def fetch_events(self, batch: int, timeout_s: float) -> list[Msg]:
        """The next render events for the gateway's durable consumer ([] when none arrived in time)."""
        try:
            if self._events_sub is None:
                self._events_sub = await self._js().pull_subscribe_bind(
                    durable=topology.GATEWAY_CONSUMER, stream=topology.EVENT_STREAM
                )
            return await self._events_sub.fetch(batch=batch, timeout=timeout_s)
        except nats.errors.TimeoutError:
            return []
        except TimeoutError as e:
            # An idle fetch on a live connection: nats-py raises asyncio's TimeoutError for it at times,
            # not its own. Nothing is wrong, so nothing is logged (it was a WARNING every few seconds).
            if self.nc is not None and self.nc.is_connected:
                return []
            self._events_sub = None
            raise BusUnavailableError(f"fetching events failed: {e!r}") from e
        except (nats.errors.Error, OSError) as e:
            self._events_sub = None
            raise BusUnavailableError(f"fetching events failed: {e!r}") from e

    async def on_max_deliveries(self, handler: Callable[[int, int], Awaitable[None]]) -> None:
        """Calls handler(stream_seq, deliveries) for each render command that ran out of deliveries,
        whichever tenant's queue it was in.

        The advisory is a core NATS message: lost if nobody listens, hence also the sweeper."""
        subject = f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{topology.COMMAND_STREAM}.*"

        async def on_advisory(msg: Msg) -> None:
            try:
                doc = json.loads(msg.data)
                await handler(int(doc["stream_seq"]), int(doc.get("deliveries", 0)))
            except (ValueError, KeyError, TypeError):
                log.error("unreadable max-deliveries advisory: %r", msg.data[:200])

        await self._nc().subscribe(subject, cb=on_advisory)

    async def command(self, seq: int | None = None, subject: str | None = None) -> tuple[int, bytes] | None:
        """A render command still in the queue, by stream sequence or by its subject."""
        try:
            raw = await self._js().get_msg(topology.COMMAND_STREAM, seq=seq, subject=subject)
        except nats.js.errors.NotFoundError:
            return None
        except (TimeoutError, OSError, nats.errors.Error) as e:
            raise BusUnavailableError(f"reading the command queue failed: {e!r}") from e
        return int(raw.seq or 0), raw.data or b""

    async def delete_command(self, seq: int) -> None:
        try:
            await self._js().delete_msg(topology.COMMAND_STREAM, seq)
        except nats.js.errors.NotFoundError:
            pass
        except (TimeoutError, OSError, nats.errors.Error) as e:
            raise BusUnavailableError(f"deleting command {seq} failed: {e!r}") from e

    async def queues_idle(self) -> bool:
        """No render command waiting or in flight, and no render event waiting for the gateway."""
        state = await self.queue_state()
        try:
            events = await self._js().consumer_info(topology.EVENT_STREAM, topology.GATEWAY_CONSUMER)
        except (TimeoutError, OSError, nats.errors.Error) as e:
            raise BusUnavailableError(f"reading consumer state failed: {e!r}") from e
        return not (state.pending or state.ack_pending or events.num_pending or events.num_ack_pending)

    async def queue_state(self) -> QueueState:
        """The render queues together, and each tenant's."""
        total, tenants = QueueState(0, 0, 0), dict[str, QueueState]()
        try:
            consumers = await jetstream.all_consumers(self._js(), topology.COMMAND_STREAM)
        except (TimeoutError, nats.errors.Error, OSError) as e:
            raise BusUnavailableError(f"reading the render queues failed: {e!r}") from e
        for info in consumers:
            queue = topology.queue_of_consumer(info.name or "")
            one = QueueState(int(info.num_pending or 0), int(info.num_ack_pending or 0),
                             int(info.num_redelivered or 0))  # fmt: skip
            total = total + one
            tenant = queue.tenant if queue else ""
            tenants[tenant] = tenants.get(tenant, QueueState(0, 0, 0)) + one
        return QueueState(total.pending, total.ack_pending, total.redelivered, tenants)

    async def close(self) -> None:
        """Flushes and closes. Not drain(): a pull subscription's drain waits out its fetch."""
        if self.nc is None:
            return
        self.closing = True
        try:
            await self.nc.flush(timeout=2)
        except (TimeoutError, OSError, nats.errors.Error):
            pass
        await _close_quietly(self.nc)

    def _nc(self) -> Client:
        if self.nc is None:
            raise BusUnavailableError("not connected to NATS")
        return self.nc

    def _js(self) -> JetStreamContext:
        if self.js is None:
            raise BusUnavailableError("not connected to NATS")
        return self.js

    async def _on_reconnect(self) -> None:
        log.info("reconnected to NATS")
        try:
            await self.declare()  # the server may have come back without its storage
        except (TimeoutError, nats.errors.Error) as e:
            log.warning("re-declaring streams after reconnect failed: %r", e)

    async def _on_disconnect(self) -> None:
        if not self.closing:
            log.warning("disconnected from NATS")

    async def _on_error(self, e: Exception) -> None:
        log.debug("NATS client error: %r", e)


async def _ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    try:
        await js.add_stream(config)
    except nats.js.errors.BadRequestError:
        await js.update_stream(config)  # exists with other settings: bring it to ours


async def _ensure_consumer(js: JetStreamContext, stream: str, config: ConsumerConfig) -> None:
    await js.add_consumer(stream, config)  # create-or-update for a durable with an allowed change


async def _close_quietly(nc: Client) -> None:
    try:
        await nc.close()
    except (nats.errors.Error, OSError):
        pass
