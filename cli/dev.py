"""`reelmill dev`: the whole stack on one machine with embedded defaults.

A nats-server from the pip wheel (JetStream in DATA_DIR/nats), the gateway on SQLite, one worker,
outputs in a local folder. Each part runs as its own process, as in production; Ctrl-C stops all.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cli.natsd import NatsServer
from cli.settings import DevSettings, ProcessSettings
from console.settings import ConsoleSettings
from gateway.settings import GatewaySettings
from reelmill import config
from worker.settings import WorkerSettings


def run(args: argparse.Namespace, gateway: GatewaySettings, dev: DevSettings, data_dir_path: str) -> int:
    data_dir = Path(data_dir_path)
    data_dir.mkdir(parents=True, exist_ok=True)
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    nats = NatsServer(data_dir / "nats", port=dev.nats_port).start()
    print(f"nats-server  {nats.url} (JetStream in {nats.store_dir})", flush=True)
    gateway = replace(
        gateway,
        nats_url=nats.url,
        open=gateway.open or not gateway.api_keys_file,
        # /metrics on the interface the stack listens on (127.0.0.1 unless told otherwise)
        metrics_host=gateway.metrics_host or gateway.listen.rpartition(":")[0].strip("[]"),
    )
    # Every setting `reelmill dev` was given reaches the part that reads it, by the environment (the
    # worker's --slots as much as the gateway's --listen); both parts read the one DATA_DIR.
    worker = config.build(WorkerSettings, args)
    process = replace(config.build(ProcessSettings, args), data_dir=str(data_dir))
    env = {**os.environ, **config.environment(process), **config.environment(worker),
           **config.environment(gateway)}  # fmt: skip
    tls = bool(gateway.tls_cert)
    # --metrics-port P: the gateway serves /metrics on P, the worker on P+1; 0 (the default): off.
    port = gateway.metrics_port
    metrics_ports = {"gateway": port, "worker": port + 1 if port else 0}
    children: list[subprocess.Popen[bytes]] = []
    try:
        for part in ("gateway", "worker"):
            part_env = {**env, "REELMILL_METRICS_PORT": str(metrics_ports[part])}
            children.append(subprocess.Popen([sys.executable, "-m", "cli", part], env=part_env))
        wait_healthy(gateway.listen, children, timeout_s=60, tls=tls)
        security = ("mTLS" if gateway.tls_client_ca else "TLS") if tls else "plain TCP"
        print(f"gateway      {gateway.listen} ({security}; database {gateway.database_url})", flush=True)
        if gateway.ice_listen:
            scheme = "https" if tls else "http"
            print(f"ICE door     {scheme}://{gateway.ice_listen} (endpoint for ICE's SDKs; protocol "
                  f"{scheme.upper()})", flush=True)  # fmt: skip
        console = config.build(ConsoleSettings, args)
        if console.console_listen:
            # The console is a client of the gateway like any other: it reaches it at its address (over
            # TLS trusting the stack's own certificate), and streams outputs from the same folder.
            console_env = {**env, "REELMILL_GATEWAY": gateway.listen,
                           "REELMILL_CONSOLE_LISTEN": console.console_listen}  # fmt: skip
            if tls:
                console_env["REELMILL_CA_CERT"] = os.environ.get("REELMILL_CA_CERT") or gateway.tls_cert
            children.append(subprocess.Popen([sys.executable, "-m", "cli", "console"], env=console_env))
            _wait_listening(console.console_listen, children, time.monotonic() + 30, 30)
            print(f"console      http://{console.console_listen}/", flush=True)
        print(f"outputs      {gateway.output_dir}", flush=True)
        print(f"media roots  {os.pathsep.join(gateway.media_roots)}", flush=True)
        if not gateway.api_keys_file:
            print("open: this dev stack has no API keys; anyone who can reach it can use it", flush=True)
        if args.example:
            # Over TLS the example's client trusts the stack's own certificate, unless told otherwise.
            trust = (
                {"REELMILL_CA_CERT": os.environ.get("REELMILL_CA_CERT") or gateway.tls_cert} if tls else {}
            )
            code = _run_example(args.example, gateway.listen, trust)
            if args.once:
                return code
        print("ready; Ctrl-C stops", flush=True)
        while not stopping:
            if any(c.poll() is not None for c in children):
                print("a part of the stack exited; stopping", file=sys.stderr)
                return 1
            time.sleep(0.2)
        return 0
    finally:
        for c in children:
            if c.poll() is None:
                c.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 40
        for c in children:
            try:
                c.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                c.kill()
                c.wait()
        nats.stop()
        print("stopped", flush=True)


def wait_healthy(
    address: str, children: list[subprocess.Popen[bytes]], timeout_s: float, tls: bool = False
) -> None:
    """Until the gateway at `address` serves (grpc.health SERVING); SystemExit if a child exits first."""
    deadline = time.monotonic() + timeout_s
    if tls:  # the dev stack holds no client certificate of its own: the port answering will do
        _wait_listening(address, children, deadline, timeout_s)
        return
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        check = health.Check  # type: ignore[attr-defined]  # the stubs' HealthStub declares no RPCs
        while time.monotonic() < deadline:
            if any(c.poll() is not None for c in children):
                raise SystemExit("the gateway or worker exited during start-up")
            try:
                if check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    raise SystemExit(f"the gateway at {address} was not healthy within {timeout_s:g} s")


def _wait_listening(
    address: str, children: list[subprocess.Popen[bytes]], deadline: float, timeout_s: float
) -> None:
    host, _, port = address.rpartition(":")
    while time.monotonic() < deadline:
        if any(c.poll() is not None for c in children):
            raise SystemExit("the gateway or worker exited during start-up")
        try:
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the gateway at {address} was not listening within {timeout_s:g} s")


def _run_example(job_file: str, address: str, env: dict[str, str] | None = None) -> int:
    from cli import samples

    media = Path(job_file).resolve().parent / "media"
    samples.write_example_media(media)
    print(f"example media in {media}; submitting {job_file}", flush=True)
    result = subprocess.run(
        [sys.executable, "-m", "cli", "submit", job_file, "--wait", "--gateway", address],
        capture_output=True, text=True, env={**os.environ, **(env or {})},
    )  # fmt: skip
    sys.stderr.write(result.stderr)
    try:
        job = json.loads(result.stdout)["EditingBatchJob"]
    except (ValueError, KeyError):
        print(result.stdout)
        return result.returncode or 1
    print(f"job {job['JobId']}: {job['Status']}", flush=True)
    for sub in job.get("SubJobList", []):
        where = sub.get("MediaURL") or f"{sub.get('ErrorCode')}: {sub.get('ErrorMessage')}"
        print(f"  variant {sub.get('Index', 0)}: {sub['Status']} {sub.get('Duration', 0):.2f} s  {where}")
    return result.returncode
