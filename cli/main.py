"""The `reelmill` command: run the stack or its parts, and talk to a gateway.

Every setting comes from a flag or a REELMILL_* environment variable (shown by --help).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cli.switches import boolean
from reelmill import logs, tracing

DEFAULT_DATA_DIR = ".reelmill"


def _env(name: str, default: str) -> str:
    return os.environ.get(f"REELMILL_{name}", default)


def _opt(p: argparse.ArgumentParser, flag: str, env: str, default: str, help: str, **kw: Any) -> None:
    p.add_argument(
        flag, default=_env(env, default), help=f"{help} [env REELMILL_{env}; default: %(default)s]", **kw
    )


def _common_server_options(p: argparse.ArgumentParser) -> None:
    _opt(p, "--nats-url", "NATS_URL", "nats://127.0.0.1:4222", "NATS server URL")
    _opt(p, "--data-dir", "DATA_DIR", DEFAULT_DATA_DIR, "folder for the database and local state")
    _opt(p, "--output-dir", "OUTPUT_DIR", "", "folder for outputs (default: DATA_DIR/outputs)")
    _opt(
        p,
        "--media-roots",
        "MEDIA_ROOTS",
        "",
        f"folders file:// media may come from, '{os.pathsep}'-separated",
    )
    _opt(p, "--log-level", "LOG_LEVEL", "INFO", "log level")
    _opt(p, "--log-format", "LOG_FORMAT", "text", "log lines as text or JSON", choices=["text", "json"])
    _opt(p, "--metrics-port", "METRICS_PORT", "0", "HTTP port of /metrics and /healthz (0: off)", type=int)
    _opt(p, "--metrics-host", "METRICS_HOST", "",
         "interface of /metrics and /healthz (empty: a gateway's --listen host, a worker's all)")  # fmt: skip


def _gateway_options(p: argparse.ArgumentParser) -> None:
    _opt(p, "--listen", "LISTEN", "127.0.0.1:50051", "gRPC listen address")
    _opt(p, "--ice-listen", "ICE_LISTEN", "", "HOST:PORT of the ICE OpenAPI door for ICE's SDKs (empty: off)")
    _tls_options(p)
    _opt(p, "--access-key-master-file", "ACCESS_KEY_MASTER_FILE", "",
         "the key AccessKeySecrets are derived from (reelmill keys new --master-file makes one)")  # fmt: skip
    _opt(p, "--database-url", "DATABASE_URL", "", "SQLAlchemy URL (default: sqlite:///DATA_DIR/reelmill.db)")
    _opt(
        p,
        "--ack-wait",
        "ACK_WAIT_S",
        "60",
        "seconds before an unacknowledged render is redelivered",
        type=float,
    )
    _opt(p, "--max-deliver", "MAX_DELIVER", "5", "deliveries of a render command before it fails", type=int)
    _opt(
        p,
        "--sweep-interval",
        "SWEEP_INTERVAL_S",
        "30",
        "seconds between sweeps for stuck sub-jobs",
        type=float,
    )
    _opt(p, "--stall-after", "STALL_AFTER_S", "300", "seconds unchanged before a sub-job counts as stuck",
         type=float)  # fmt: skip
    _opt(p, "--api-keys-file", "API_KEYS_FILE", "", "JSON file of API keys (SHA-256) and their tenants")
    _opt(p, "--open", "OPEN", "", "accept every caller as tenant 'default' when there is no keys file "
         "(true/false/1/0/yes/no)", action="store_const", const="1")  # fmt: skip
    _opt(p, "--webhook-secret", "WEBHOOK_SECRET", "", "signs completion callbacks when running open")
    _opt(p, "--webhook-retry-base", "WEBHOOK_RETRY_BASE_S", "5", "seconds before the first callback retry",
         type=float)  # fmt: skip
    _opt(p, "--allowed-networks", "ALLOWED_NETWORKS", "",
         "networks callbacks may reach although not public, e.g. 10.0.0.0/8,127.0.0.1/32")  # fmt: skip
    _opt(p, "--db-threads", "DB_THREADS", "24", "threads for database calls (keep within the pool of 24)",
         type=int)  # fmt: skip
    _opt(p, "--max-count", "MAX_COUNT", "100", "most variants one batch may ask for (at most 100)", type=int)
    _opt(p, "--max-request-bytes", "MAX_REQUEST_BYTES", str(4 << 20), "largest gRPC request accepted",
         type=int)  # fmt: skip
    _opt(p, "--no-migrate", "NO_MIGRATE", "", "do not run database migrations at start "
         "(true/false/1/0/yes/no)", action="store_const", const="1")  # fmt: skip


def _tls_options(p: argparse.ArgumentParser) -> None:
    _opt(p, "--tls-cert", "TLS_CERT", "", "PEM certificate chain: gRPC, the ICE door and /metrics over TLS")
    _opt(p, "--tls-key", "TLS_KEY", "", "PEM private key of --tls-cert")
    _opt(p, "--tls-client-ca", "TLS_CLIENT_CA", "",
         "PEM CA bundle: gRPC and ICE clients must present a certificate it signed (mTLS)")  # fmt: skip


def _worker_options(p: argparse.ArgumentParser) -> None:
    _opt(p, "--slots", "SLOTS", "1", "concurrent renders", type=int)
    _opt(p, "--render-timeout", "RENDER_TIMEOUT_S", "1800", "seconds a render may take before it fails",
         type=float)  # fmt: skip
    _opt(p, "--max-media-bytes", "MAX_MEDIA_BYTES", str(2 << 30), "largest media file accepted", type=int)
    _opt(p, "--max-media-duration", "MAX_MEDIA_DURATION_S", "3600", "longest media accepted, seconds",
         type=float)  # fmt: skip
    _opt(p, "--max-media-pixels", "MAX_MEDIA_PIXELS", str(8192 * 8192), "largest picture accepted, pixels",
         type=int)  # fmt: skip
    _opt(p, "--download-timeout", "DOWNLOAD_TIMEOUT_S", "120", "seconds a media download may take",
         type=float)  # fmt: skip
    _opt(p, "--media-networks", "MEDIA_NETWORKS", "",
         "networks http(s) media may come from although not public, e.g. 10.0.0.0/8")  # fmt: skip
    _opt(p, "--frame-cache-mb", "FRAME_CACHE_MB", "0",
         "MB of framed shots kept for the next variants that use them (0: off)", type=int)  # fmt: skip
    _opt(p, "--font-dir", "FONT_DIR", "", f"extra font folders for TextStyle.Font, '{os.pathsep}'-separated")
    _opt(p, "--default-font", "DEFAULT_FONT", "", "font of texts without TextStyle.Font (Noto Sans CJK SC)")
    _opt(p, "--s3-endpoint-url", "S3_ENDPOINT_URL", "", "S3 endpoint for s3:// outputs (default: AWS)")
    _opt(p, "--s3-region", "S3_REGION", "", "S3 region for s3:// outputs")
    _opt(
        p,
        "--shutdown-grace",
        "SHUTDOWN_GRACE_S",
        "30",
        "seconds a render may finish after SIGTERM",
        type=float,
    )


def _output_option(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("-o", "--output", choices=["json", "table"], default=default,
                   help="json (ICE-shaped, as the API answers) or table; default: %(default)s")  # fmt: skip


def _client_options(p: argparse.ArgumentParser) -> None:
    _opt(p, "--gateway", "GATEWAY", "127.0.0.1:50051", "gateway address")
    _opt(p, "--api-key", "API_KEY", "", "API key, sent as x-api-key metadata")
    _opt(p, "--tls", "TLS", "", "connect with TLS, trusting the system's CAs (true/false/1/0/yes/no)",
         action="store_const", const="1")  # fmt: skip
    _opt(p, "--ca-cert", "CA_CERT", "", "PEM CA bundle to trust instead of the system's (implies --tls)")
    _opt(
        p, "--client-cert", "CLIENT_CERT", "", "PEM certificate to present to a gateway asking for one (mTLS)"
    )
    _opt(p, "--client-key", "CLIENT_KEY", "", "PEM private key of --client-cert")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reelmill", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run the whole stack locally: nats-server, gateway, one worker")
    _common_server_options(dev)
    _gateway_options(dev)
    _worker_options(dev)
    _opt(
        dev, "--nats-port", "DEV_NATS_PORT", "0", "port of the local nats-server (0: any free port)", type=int
    )
    dev.add_argument("--example", help="after start-up, submit this job file and print where its videos are")
    dev.add_argument("--once", action="store_true", help="stop after the example has finished")

    gw = sub.add_parser("gateway", help="run the gRPC gateway")
    _common_server_options(gw)
    _gateway_options(gw)

    wk = sub.add_parser("worker", help="run a render worker")
    _common_server_options(wk)
    _worker_options(wk)

    mg = sub.add_parser("migrate", help="bring the database schema up to date and exit")
    _opt(mg, "--database-url", "DATABASE_URL", "", "SQLAlchemy URL (default: sqlite:///DATA_DIR/reelmill.db)")
    _opt(mg, "--data-dir", "DATA_DIR", DEFAULT_DATA_DIR, "folder for the database and local state")
    mg.add_argument("--check", action="store_true", help="exit 1 unless the schema is current")
    mg.add_argument("--wait", type=float, default=0, help="with --check: wait up to this many seconds")

    sm = sub.add_parser("submit", help="submit a job file in the ICE request shape; prints the JobId")
    _client_options(sm)
    sm.add_argument(
        "job_file", help="JSON with InputConfig, EditingConfig, OutputConfig, UserData, ClientToken"
    )
    mode = sm.add_mutually_exclusive_group()
    mode.add_argument(
        "--wait", action="store_true", help="wait for the end; print the job; fail unless Finished"
    )
    mode.add_argument("--watch", action="store_true", help="print every change until the end")
    mode.add_argument(
        "--dry-run",
        action="store_true",
        help="submit nothing: print every variant's plan and a render-time estimate (JSON)",
    )
    sm.add_argument(
        "--timeout", type=float, default=3600, help="seconds to wait at most (default: %(default)s)"
    )

    gt = sub.add_parser("get", help="print a job as ICE-shaped JSON (-o table: one row per variant)")
    _client_options(gt)
    gt.add_argument("job_id", help="the JobId Submit printed")
    _output_option(gt, "json")

    ls = sub.add_parser("list", help="list jobs")
    _client_options(ls)
    ls.add_argument("--status", default="", help="only jobs in this status (Init, Processing, Finished, …)")
    ls.add_argument("--job-type", default="", help="only Script or Smart_Mix jobs")
    ls.add_argument("--start-time", default="", help="created at or after, RFC 3339 (2026-11-25T00:00:00Z)")
    ls.add_argument("--end-time", default="", help="created before, RFC 3339")
    ls.add_argument(
        "--sort-by", default="", choices=["", "desc", "asc"], help="by creation time (default desc)"
    )
    ls.add_argument("--max-results", type=int, default=0, help="jobs per page, 1–100 (default 10)")
    ls.add_argument("--next-token", default="", help="the page after the one that printed this token")
    ls.add_argument("--json", action="store_true", help="the same as -o json")
    _output_option(ls, "table")

    tp = sub.add_parser(
        "template", help="batch-editing templates: add NAME --file CONFIG.json, get, list, delete"
    )
    _client_options(tp)
    tp.add_argument("action", choices=["add", "get", "list", "delete"], help="what to do")
    tp.add_argument("target", nargs="?", default="", help="the name (add) or the template id (get, delete)")
    tp.add_argument("--name", default="", help="the template's name (add), as the NAME argument")
    tp.add_argument(
        "--file", help="JSON with InputTemplateConfig, EditingTemplateConfig, OutputTemplateConfig"
    )
    tp.add_argument("--id", default="", help="the template id (get, delete), as the TARGET argument")

    cn = sub.add_parser("cancel", help="cancel a job")
    _client_options(cn)
    cn.add_argument("job_id", help="the job to cancel; variants already rendered stay")

    ky = sub.add_parser("keys", help="make an API key for a tenant; prints the key and its keys-file entry")
    ky.add_argument("action", choices=["new"], help="new: a key (and AccessKey) for a tenant")
    ky.add_argument("--tenant", required=True, help="the tenant the key acts for (a-z 0-9 - _)")
    ky.add_argument("--file", help="add the entry to this keys file (created if missing)")
    ky.add_argument("--master-file", default=os.environ.get("REELMILL_ACCESS_KEY_MASTER_FILE", ""),
                    help="also make an ICE AccessKey pair, its secret derived with this master key file "
                         "(created if missing) [env REELMILL_ACCESS_KEY_MASTER_FILE]")  # fmt: skip

    wt = sub.add_parser("watch", help="print every change of a job until it ends")
    _client_options(wt)
    wt.add_argument("job_id", help="the job to follow until it ends")
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version("reelmill")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # `reelmill list --json | head`: the reader left; say nothing more (and nothing at exit either).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = getattr(args, "log_level", "INFO").upper()
    logs.configure(level, getattr(args, "log_format", "text"))
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "dev": _dev, "gateway": _gateway, "worker": _worker, "migrate": _migrate, "keys": _keys,
    }  # fmt: skip
    if args.command in commands:
        return commands[args.command](args)
    from cli import client

    return client.run(args)


def _media_roots(args: argparse.Namespace) -> tuple[str, ...]:
    return tuple(os.path.abspath(r) for r in args.media_roots.split(os.pathsep) if r)


def _output_dir(args: argparse.Namespace) -> str:
    return os.path.abspath(args.output_dir or os.path.join(args.data_dir, "outputs"))


def _database_url(args: argparse.Namespace) -> str:
    return args.database_url or f"sqlite:///{os.path.abspath(os.path.join(args.data_dir, 'reelmill.db'))}"


def _gateway(args: argparse.Namespace) -> int:
    import ssl

    from gateway.server import serve
    from gateway.settings import GatewaySettings
    from gateway.tls import TlsFiles, TlsSettingError

    settings = GatewaySettings(
        listen=args.listen, database_url=_database_url(args), nats_url=args.nats_url,
        media_roots=_media_roots(args), output_dir=_output_dir(args),
        auto_migrate=not boolean(args.no_migrate, "NO_MIGRATE"),
        api_keys_file=args.api_keys_file, open=boolean(args.open, "OPEN"), ack_wait_s=args.ack_wait,
        max_deliver=args.max_deliver, sweep_interval_s=args.sweep_interval,
        webhook_secret=args.webhook_secret, allowed_networks=args.allowed_networks,
        webhook_retry_base_s=args.webhook_retry_base, max_count=args.max_count,
        max_request_bytes=args.max_request_bytes,
        stall_after_s=args.stall_after, metrics_port=args.metrics_port, db_threads=args.db_threads,
        metrics_host=args.metrics_host,
        ice_listen=args.ice_listen, access_key_master_file=args.access_key_master_file,
        tls_cert=args.tls_cert, tls_key=args.tls_key, tls_client_ca=args.tls_client_ca,
    )  # fmt: skip
    try:
        TlsFiles.of(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
    except (TlsSettingError, ssl.SSLError) as e:
        raise SystemExit(f"error: {e}") from e
    tracing.configure("reelmill-gateway")  # OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set
    return _run_until_signal(lambda stop: serve(settings, stop))


def _worker(args: argparse.Namespace) -> int:
    from worker import metrics
    from worker.bus import WorkerBus
    from worker.consume import Worker
    from worker.settings import WorkerSettings

    settings = WorkerSettings(
        nats_url=args.nats_url, media_roots=_media_roots(args), output_dir=_output_dir(args),
        slots=args.slots, shutdown_grace_s=args.shutdown_grace,
        cache_dir=os.path.abspath(os.path.join(args.data_dir, "cache")), max_media_bytes=args.max_media_bytes,
        max_media_duration_s=args.max_media_duration, max_media_pixels=args.max_media_pixels,
        download_timeout_s=args.download_timeout, allowed_networks=args.media_networks,
        metrics_port=args.metrics_port, metrics_host=args.metrics_host or "0.0.0.0",
        frame_cache_bytes=args.frame_cache_mb << 20,
        render_timeout_s=args.render_timeout,
        font_dirs=tuple(d for d in args.font_dir.split(os.pathsep) if d), default_font=args.default_font,
        s3_endpoint_url=args.s3_endpoint_url, s3_region=args.s3_region,
        # Credentials only from the environment, never from flags (they would show in `ps`).
        s3_access_key_id=_env("S3_ACCESS_KEY_ID", ""), s3_secret_access_key=_env("S3_SECRET_ACCESS_KEY", ""),
    )  # fmt: skip

    tracing.configure("reelmill-worker")

    async def run(stop: asyncio.Event) -> None:
        bus = WorkerBus(settings.nats_url)
        observing = asyncio.create_task(metrics.run(settings.metrics_port, settings.metrics_host, stop))
        worker = Worker(settings, bus)
        try:
            await worker.run(stop)
        finally:
            await bus.close()
            stop.set()
            await observing
        if worker.stuck:  # a render thread stuck in C would keep the interpreter from exiting
            os._exit(70)

    return _run_until_signal(run)


def _migrate(args: argparse.Namespace) -> int:
    from gateway.store import migrate

    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    if args.check:
        from gateway.store import schema_state

        return 0 if schema_state.wait_current(_database_url(args), args.wait) else 1
    migrate.upgrade(_database_url(args))
    return 0


def _keys(args: argparse.Namespace) -> int:
    from gateway.tenants import (
        TENANT_CHARS,
        access_key_secret,
        hash_key,
        new_access_key_id,
        new_key,
        new_master_key,
        new_webhook_secret,
        read_master_key,
    )

    if not args.tenant or not set(args.tenant) <= TENANT_CHARS:
        print("error: --tenant must be made of a-z 0-9 - _", file=sys.stderr)
        return 2
    key = new_key()
    entry = {"tenant": args.tenant, "sha256": hash_key(key), "webhook_secret": new_webhook_secret()}
    secret = ""
    if args.master_file:
        master = Path(args.master_file)
        if not master.exists():
            master.write_text(new_master_key() + "\n")
            master.chmod(0o600)
            print(f"made the AccessKey master key {master}: keep it secret, give it to every gateway")
        entry["access_key_id"] = new_access_key_id()
        secret = access_key_secret(read_master_key(str(master)), entry["access_key_id"])
    if args.file:
        path = Path(args.file)
        doc = json.loads(path.read_text()) if path.exists() else {"keys": []}
        doc["keys"].append(entry)
        path.write_text(json.dumps(doc, indent=2) + "\n")
        path.chmod(0o600)
    print(f"API key for {args.tenant} (shown once; only its hash is kept): {key}")
    if secret:
        print(f"ICE AccessKeyId for {args.tenant}: {entry['access_key_id']}")
        print(f"ICE AccessKeySecret (shown once; derived from the master key, never stored): {secret}")
    print(json.dumps(entry))
    return 0


def _run_until_signal(main: Callable[[asyncio.Event], Any]) -> int:
    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())
    return 0


def _dev(args: argparse.Namespace) -> int:
    from cli import dev

    return dev.run(args, database_url=_database_url(args), output_dir=_output_dir(args),
                   media_roots=_media_roots(args) or (os.getcwd(),))  # fmt: skip
