"""Runs the gateway: gRPC server (API, health, reflection), outbox relay, event consumer."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import ssl
from pathlib import Path

import grpc
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from gateway import acs3, metrics
from gateway.api import BatchService
from gateway.app import Application
from gateway.bus import GatewayBus
from gateway.changes import BatchChanges
from gateway.events import EventConsumer
from gateway.ice import IceDoor
from gateway.interceptor import ObservingInterceptor
from gateway.notify import Notifier
from gateway.outbox import OutboxRelay
from gateway.quotas import Limits, Quotas
from gateway.settings import GatewaySettings
from gateway.store import migrate
from gateway.store.batches import Batches
from gateway.store.engine import make_engine
from gateway.store.media import MediaLibrary
from gateway.store.nonces import Nonces
from gateway.store.outbox import Outbox, PendingMessage
from gateway.store.templates import Templates
from gateway.store.transactions import Transactions
from gateway.store.webhooks import Webhooks
from gateway.sweeper import Sweeper
from gateway.tenants import OPEN_TENANT, Authenticator
from gateway.tls import TlsFiles
from reelmill import topology
from reelmill.urlguard import parse_networks
from reelmill.v1 import batch_service_pb2, batch_service_pb2_grpc

log = logging.getLogger(__name__)
SERVICE_NAME = batch_service_pb2.DESCRIPTOR.services_by_name["BatchMediaProducingService"].full_name


async def serve(settings: GatewaySettings, stop: asyncio.Event) -> None:
    auth = authenticator(settings)
    # Store calls run in threads (asyncio.to_thread) and spend most of their time waiting on the
    # database; the default pool (cores + 4 threads) queues them under load.
    asyncio.get_running_loop().set_default_executor(
        concurrent.futures.ThreadPoolExecutor(max_workers=settings.db_threads, thread_name_prefix="store")
    )
    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if not settings.no_migrate:
        await asyncio.to_thread(migrate.upgrade, settings.database_url)
    engine = make_engine(settings.database_url)
    tx = Transactions(engine)
    batches, outbox = Batches(tx), Outbox(tx)
    policy = topology.WorkerConsumerPolicy(ack_wait_s=settings.ack_wait_s, max_deliver=settings.max_deliver)
    bus = GatewayBus(settings.nats_url, policy, replicas=settings.nats_replicas)
    changes = BatchChanges()
    defaults = Limits(settings.tenant_concurrent_renders, settings.tenant_queued_variants,
                      settings.tenant_submits_per_minute)  # fmt: skip
    quotas = Quotas(defaults, auth.limits())

    def give_up(row: PendingMessage, why: str) -> None:
        batches.give_up_command(row.id, row.batch_id, row.sub_job_id, why)

    relay = OutboxRelay(outbox, bus, limit_of=quotas.concurrent_renders, give_up=give_up)
    consumer = EventConsumer(batches, bus, changes)
    sweeper = Sweeper(batches, bus, changes, interval_s=settings.sweep_interval_s,
                      stall_after_s=settings.stall_after_s)  # fmt: skip

    app = Application(settings, batches, Templates(tx), relay, changes, MediaLibrary(tx), bus.probe_media,
                      bus.plan_batch, quotas, auth.s3_prefixes())  # fmt: skip
    server = grpc.aio.server(
        interceptors=[ObservingInterceptor()],
        options=[("grpc.max_receive_message_length", settings.max_request_bytes)],
    )
    batch_service_pb2_grpc.add_BatchMediaProducingServiceServicer_to_server(BatchService(app, auth), server)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        [SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
        server,
    )
    tls = TlsFiles.of(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
    if tls is None:
        port = server.add_insecure_port(settings.listen)
    else:
        port = server.add_secure_port(settings.listen, tls.grpc_credentials())
    await server.start()
    # the ICE door's (clients show certificates with mTLS) and /metrics' (probes and scrapers show none)
    contexts: list[ssl.SSLContext | None] = [None, None]
    if tls is not None:
        contexts = [tls.context(client_auth=True), tls.context(client_auth=False)]
    ice = await _start_ice_door(settings, app, auth, Nonces(tx, keep=2 * acs3.MAX_SKEW), contexts[0])
    await health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    log.info("gateway listening on %s (port %d, %s)", settings.listen, port,
             "plain TCP" if tls is None else "mTLS" if tls.client_ca else "TLS")  # fmt: skip
    # Everything made so far (modules, protobuf descriptors, SQLAlchemy's tables) lives as long as the
    # process: kept out of the collector's sight, a full collection no longer scans it. Before, each one
    # stalled every call in flight for 50-60 ms, which alone put Submit's p99 at 200/s above 40 ms.
    gc.freeze()

    if auth.is_open:
        log.warning("open: no API keys are configured, so anyone who reaches %s acts as tenant %r",
                    settings.listen, OPEN_TENANT)  # fmt: skip
    notifier = Notifier(Webhooks(tx), batches, auth, open_secret=settings.webhook_secret,
                        allowed=parse_networks(settings.allowed_networks),
                        retry_base_s=settings.webhook_retry_base_s)  # fmt: skip
    tasks = [
        asyncio.create_task(notifier.run(stop), name="notifier"),
        asyncio.create_task(bus.connect(stop), name="nats-connect"),
        asyncio.create_task(relay.run(stop), name="outbox-relay"),
        asyncio.create_task(consumer.run(stop), name="event-consumer"),
        asyncio.create_task(sweeper.run(stop), name="sweeper"),
        asyncio.create_task(
            metrics.run(settings.metrics_port, metrics_host(settings), outbox, bus, stop, contexts[1]),
            name="metrics",
        ),
    ]
    if tls is not None:
        fresh = [c for c in contexts if c is not None]
        tasks.append(asyncio.create_task(tls.keep_fresh(fresh, stop), name="tls-reload"))
    await stop.wait()

    log.info("gateway stopping")
    await health.enter_graceful_shutdown()
    changes.closing.set()  # Watch streams end with UNAVAILABLE so clients reconnect elsewhere
    await server.stop(grace=settings.shutdown_grace_s)
    if ice is not None:
        await ice.cleanup()
    _, pending = await asyncio.wait(tasks, timeout=settings.shutdown_grace_s)
    for task in pending:
        task.cancel()
    await bus.close()
    engine.dispose()
    log.info("gateway stopped")


async def _start_ice_door(
    settings: GatewaySettings,
    app: Application,
    auth: Authenticator,
    nonces: Nonces,
    context: ssl.SSLContext | None,
) -> web.AppRunner | None:
    """ICE's OpenAPI over HTTP, or HTTPS with `context` (ice.py), when an address is set."""
    if not settings.ice_listen:
        return None
    host, _, port = settings.ice_listen.rpartition(":")
    runner = web.AppRunner(IceDoor(app, auth, nonces, settings.max_request_bytes).web_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host or "0.0.0.0", int(port), shutdown_timeout=settings.shutdown_grace_s,
                       ssl_context=context)  # fmt: skip
    await site.start()
    log.info("ICE OpenAPI door listening on %s://%s", "https" if context else "http", settings.ice_listen)
    if auth.is_open:
        log.warning("open: the ICE door accepts any AccessKey as tenant %r, without checking signatures",
                    OPEN_TENANT)  # fmt: skip
    return runner


def metrics_host(settings: GatewaySettings) -> str:
    """Where /metrics listens: the configured host, else the gRPC listen address's (a gateway on
    127.0.0.1 does not show its metrics to the network); "" (all interfaces) for a wildcard."""
    if settings.metrics_host:
        return settings.metrics_host
    host = settings.listen.rpartition(":")[0].strip("[]")
    return "" if host in ("", "0.0.0.0", "::") else host


def authenticator(settings: GatewaySettings) -> Authenticator:
    if settings.api_keys_file:
        return Authenticator.from_file(settings.api_keys_file, settings.access_key_master_file)
    if settings.open:
        return Authenticator.open()
    raise SystemExit("no API keys: set REELMILL_API_KEYS_FILE (see `reelmill keys new`), "
                     "or REELMILL_OPEN=1 to accept every caller")  # fmt: skip
