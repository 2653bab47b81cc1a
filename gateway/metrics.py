"""The gateway's Prometheus metrics, and the loop that serves them and samples the queue gauges.

Counters count what this process did (sum them over replicas). The queue and outbox gauges describe
shared state, the same in every replica (take max, not sum).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from datetime import UTC, datetime

from prometheus_client import Counter, Gauge, Histogram

from gateway.bus import GatewayBus
from gateway.errors import BusUnavailableError, DatabaseUnavailableError
from gateway.store.outbox import Outbox
from gateway.waits import first_done
from reelmill.metrics_http import started_endpoint

log = logging.getLogger(__name__)

SAMPLE_S = 10.0

JOBS_SUBMITTED = Counter(
    "reelmill_jobs_submitted", "Submit calls accepted (a repeat with the same ClientToken counts again)"
)
SUB_JOBS_FINISHED = Counter(
    "reelmill_sub_jobs_finished", "Sub-jobs that reached a final status, by status", ["status"]
)
for _status in ("Success", "Failed", "Cancelled"):
    SUB_JOBS_FINISHED.labels(_status)

QUEUE_PENDING = Gauge(
    "reelmill_queue_pending", "Render commands waiting for a worker (JetStream num_pending, all queues)"
)
QUEUE_ACK_PENDING = Gauge(
    "reelmill_queue_ack_pending", "Render commands delivered and not yet acknowledged (renders running)"
)
QUEUE_REDELIVERED = Gauge(
    "reelmill_queue_redelivered", "Render commands delivered more than once and not yet acknowledged"
)
TENANT_QUEUE_PENDING = Gauge(
    "reelmill_tenant_queue_pending", "A tenant's render commands waiting for a worker", ["tenant"]
)
TENANT_QUEUE_ACK_PENDING = Gauge(
    "reelmill_tenant_queue_ack_pending", "A tenant's render commands delivered, not acknowledged", ["tenant"]
)
LAST_QUEUE: dict[str, dict[str, int]] = {}  # the last sample of the render queues, served as /queue
OUTBOX_BACKLOG = Gauge("reelmill_outbox_backlog", "Outbox messages committed and not yet published to NATS")
OUTBOX_OLDEST_AGE = Gauge(
    "reelmill_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox message (0 when none)"
)
SAMPLE_ERRORS = Counter(
    "reelmill_gauge_sample_errors", "Failed samples of the queue or outbox gauges, by source", ["source"]
)

# Counted by the notifier (gateway/notify.py): the documented WebhooksFailing alert reads them.
WEBHOOK_DELIVERIES = Counter("reelmill_webhook_deliveries", "Webhook deliveries acknowledged by the receiver")
WEBHOOK_FAILURES = Counter("reelmill_webhook_failures", "Webhook delivery attempts that failed")

GRPC_HANDLED = Counter(
    "reelmill_grpc_server_handled",
    "RPCs completed on the server, by service, method and status code",
    ["grpc_service", "grpc_method", "grpc_code"],
)
ICE_HANDLED = Counter(
    "reelmill_ice_requests",
    "ICE door requests by action and ICE code (OK when answered)",
    ["action", "code"],
)
ICE_SECONDS = Histogram(
    "reelmill_ice_request_seconds",
    "Time to answer an ICE door request",
    ["action"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
GRPC_SECONDS = Histogram(
    "reelmill_grpc_server_handling_seconds",
    "Time to answer a unary RPC",
    ["grpc_service", "grpc_method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


async def run(port: int, host: str, outbox: Outbox, bus: GatewayBus, stop: asyncio.Event,
              context: ssl.SSLContext | None = None) -> None:  # fmt: skip
    """Serves /metrics and /healthz on `host`:`port` (over TLS with `context`) and samples the gauges
    until `stop`; port 0 turns it off."""
    endpoint = started_endpoint(port, host, context, documents={"/queue": lambda: LAST_QUEUE.get("doc")})
    if endpoint is None:
        return
    watchdog = asyncio.create_task(endpoint.tick(stop), name="metrics-watchdog")
    try:
        while not stop.is_set():
            try:
                await sample(outbox, bus)
            except Exception:  # a bug here must not take /metrics and /healthz down with it
                log.exception("sampling the gauges failed")
            await first_done(asyncio.sleep(SAMPLE_S), stop.wait())
    finally:
        await watchdog
        await asyncio.to_thread(endpoint.close)


async def sample(outbox: Outbox, bus: GatewayBus) -> None:
    try:
        found = await asyncio.to_thread(outbox.backlog)
        OUTBOX_BACKLOG.set(found.count)
        oldest = found.oldest_created_at
        OUTBOX_OLDEST_AGE.set((datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0)
    except DatabaseUnavailableError as e:
        SAMPLE_ERRORS.labels("database").inc()
        log.debug("outbox gauges not sampled: %s", e)
    if not bus.ready.is_set():
        return
    try:
        queue = await bus.queue_state()
        QUEUE_PENDING.set(queue.pending)
        QUEUE_ACK_PENDING.set(queue.ack_pending)
        QUEUE_REDELIVERED.set(queue.redelivered)
        # For KEDA's metrics-api scaler (deploy/k8s/base/worker-scaling.yaml): the lag it scales on,
        # running renders included, so that busy workers are not scaled away.
        LAST_QUEUE["doc"] = {"pending": queue.pending, "ack_pending": queue.ack_pending,
                             "lag": queue.pending + queue.ack_pending}  # fmt: skip
        for tenant, state in queue.by_tenant.items():
            TENANT_QUEUE_PENDING.labels(tenant or "(legacy)").set(state.pending)
            TENANT_QUEUE_ACK_PENDING.labels(tenant or "(legacy)").set(state.ack_pending)
    except BusUnavailableError as e:
        SAMPLE_ERRORS.labels("nats").inc()
        log.debug("queue gauges not sampled: %s", e)
