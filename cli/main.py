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
from dataclasses import replace
from pathlib import Path
from typing import Any

from cli.settings import SETTINGS_OF, ClientSettings, DevSettings, MigrateSettings, ProcessSettings
from console.settings import ConsoleSettings
from gateway.settings import GatewaySettings
from reelmill import config, logs, tracing
from worker.settings import WorkerSettings

SERVER_COMMANDS = frozenset({"dev", "gateway", "worker", "console"})


def _output_option(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("-o", "--output", choices=["json", "table"], default=default,
                   help="json (ICE-shaped, as the API answers) or table; default: %(default)s")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reelmill", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run the whole stack locally: nats-server, gateway, one worker")
    config.add_options(dev, *SETTINGS_OF["dev"])
    dev.add_argument("--example", help="after start-up, submit this job file and print where its videos are")
    dev.add_argument("--once", action="store_true", help="stop after the example has finished")

    gw = sub.add_parser("gateway", help="run the gRPC gateway")
    config.add_options(gw, *SETTINGS_OF["gateway"])

    cs = sub.add_parser("console", help="serve the web console: jobs live, every variant playable, submit")
    config.add_options(cs, *SETTINGS_OF["console"])

    wk = sub.add_parser("worker", help="run a render worker")
    config.add_options(wk, *SETTINGS_OF["worker"])

    mg = sub.add_parser("migrate", help="bring the database schema up to date and exit")
    config.add_options(mg, *SETTINGS_OF["migrate"])
    mg.add_argument("--check", action="store_true", help="exit 1 unless the schema is current")
    mg.add_argument("--wait", type=float, default=0, help="with --check: wait up to this many seconds")

    sm = sub.add_parser("submit", help="submit a job file in the ICE request shape; prints the JobId")
    config.add_options(sm, *SETTINGS_OF["submit"])
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
    config.add_options(gt, *SETTINGS_OF["get"])
    gt.add_argument("job_id", help="the JobId Submit printed")
    _output_option(gt, "json")

    ls = sub.add_parser("list", help="list jobs")
    config.add_options(ls, *SETTINGS_OF["list"])
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
    config.add_options(tp, *SETTINGS_OF["template"])
    tp.add_argument("action", choices=["add", "get", "list", "delete"], help="what to do")
    tp.add_argument("target", nargs="?", default="", help="the name (add) or the template id (get, delete)")
    tp.add_argument("--name", default="", help="the template's name (add), as the NAME argument")
    tp.add_argument(
        "--file", help="JSON with InputTemplateConfig, EditingTemplateConfig, OutputTemplateConfig"
    )
    tp.add_argument("--id", default="", help="the template id (get, delete), as the TARGET argument")

    cn = sub.add_parser("cancel", help="cancel a job")
    config.add_options(cn, *SETTINGS_OF["cancel"])
    cn.add_argument("job_id", help="the job to cancel; variants already rendered stay")

    ky = sub.add_parser("keys", help="make an API key for a tenant; prints the key and its keys-file entry")
    ky.add_argument("action", choices=["new"], help="new: a key (and AccessKey) for a tenant")
    ky.add_argument("--tenant", required=True, help="the tenant the key acts for (a-z 0-9 - _)")
    ky.add_argument("--file", help="add the entry to this keys file (created if missing)")
    ky.add_argument("--master-file", default=os.environ.get("REELMILL_ACCESS_KEY_MASTER_FILE", ""),
                    help="also make an ICE AccessKey pair, its secret derived with this master key file "
                         "(created if missing) [env REELMILL_ACCESS_KEY_MASTER_FILE]")  # fmt: skip

    wt = sub.add_parser("watch", help="print every change of a job until it ends")
    config.add_options(wt, *SETTINGS_OF["watch"])
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
    try:
        process = (
            config.build(ProcessSettings, args) if args.command in SERVER_COMMANDS else ProcessSettings()
        )
    except config.SettingError as e:
        raise SystemExit(f"error: {e}") from e
    logs.configure(process.log_level, process.log_format)
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "dev": _dev, "gateway": _gateway, "worker": _worker, "migrate": _migrate, "keys": _keys,
        "console": _console,
    }  # fmt: skip
    try:
        if args.command in commands:
            return commands[args.command](args)
        from cli import client

        return client.run(args)
    except config.SettingError as e:  # a flag or variable that is not what its setting accepts
        raise SystemExit(f"error: {e}") from e


def _sqlite_url(data_dir: str) -> str:
    """The database when DATABASE_URL says none: SQLite in DATA_DIR."""
    return f"sqlite:///{os.path.join(os.path.abspath(data_dir), 'reelmill.db')}"


def _paths(args: argparse.Namespace) -> dict[str, Any]:
    """DATA_DIR and the defaults that live under it, and media roots as absolute paths."""
    data_dir = os.path.abspath(config.build(ProcessSettings, args).data_dir)
    given = config.values(GatewaySettings, args)
    return {
        "data_dir": data_dir,
        "database_url": _sqlite_url(data_dir),
        "output_dir": os.path.abspath(given.get("output_dir") or os.path.join(data_dir, "outputs")),
        "cache_dir": os.path.join(data_dir, "cache"),
        "media_roots": tuple(os.path.abspath(r) for r in given.get("media_roots", ())),
    }


def gateway_settings(args: argparse.Namespace) -> GatewaySettings:
    paths = _paths(args)
    settings: GatewaySettings = config.build(
        GatewaySettings, args, fill={"database_url": paths["database_url"]}
    )
    return replace(settings, output_dir=paths["output_dir"], media_roots=paths["media_roots"])


def worker_settings(args: argparse.Namespace) -> WorkerSettings:
    paths = _paths(args)
    settings: WorkerSettings = config.build(WorkerSettings, args)
    return replace(settings, output_dir=paths["output_dir"], media_roots=paths["media_roots"],
                   cache_dir=paths["cache_dir"])  # fmt: skip


def _gateway(args: argparse.Namespace) -> int:
    import ssl

    from gateway.server import serve
    from gateway.tls import TlsFiles, TlsSettingError

    settings = gateway_settings(args)
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
    from worker.job import frame_cache

    settings = worker_settings(args)
    tracing.configure("reelmill-worker")
    metrics.watch_kept_shots(lambda: frame_cache(settings).stats())  # the cache the renders use

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


def console_settings(args: argparse.Namespace) -> ConsoleSettings:
    settings: ConsoleSettings = config.build(ConsoleSettings, args)
    return replace(settings, output_dir=_paths(args)["output_dir"])


def _console(args: argparse.Namespace) -> int:
    from aiohttp import web

    from cli.client import TlsClient
    from console.gateway_client import Gateway
    from console.pages import Console

    settings = console_settings(args)
    if not settings.console_listen:
        raise SystemExit("error: REELMILL_CONSOLE_LISTEN (--console-listen HOST:PORT) is required")
    client: ClientSettings = config.build(ClientSettings, args)
    tls = TlsClient.of(client)
    host, _, port = settings.console_listen.rpartition(":")

    async def run(stop: asyncio.Event) -> None:
        gateway = Gateway(client.gateway, tls.credentials() if tls else None)
        runner = web.AppRunner(Console(settings, gateway).app(), access_log=None, shutdown_timeout=2)
        await runner.setup()
        await web.TCPSite(runner, host.strip("[]") or "127.0.0.1", int(port)).start()
        log = logging.getLogger(__name__)
        log.info("console on http://%s (gateway %s)", settings.console_listen, client.gateway)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
            await gateway.close()

    return _run_until_signal(run)


def _migrate(args: argparse.Namespace) -> int:
    from gateway.store import migrate

    settings = config.build(MigrateSettings, args)
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    url = settings.database_url or _sqlite_url(settings.data_dir)
    if args.check:
        from gateway.store import schema_state

        return 0 if schema_state.wait_current(url, args.wait) else 1
    migrate.upgrade(url)
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

    gateway = gateway_settings(args)
    if not gateway.media_roots:
        gateway = replace(gateway, media_roots=(os.getcwd(),))
    return dev.run(args, gateway, config.build(DevSettings, args), _paths(args)["data_dir"])


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser of each `reelmill` command (argparse keeps them in a private action)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}
