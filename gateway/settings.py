"""The gateway's settings: one object, built once from flags and REELMILL_* variables."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GatewaySettings:
    listen: str = "127.0.0.1:50051"
    database_url: str = "sqlite:///.reelmill/reelmill.db"
    nats_url: str = "nats://127.0.0.1:4222"
    media_roots: tuple[str, ...] = ()
    output_dir: str = ".reelmill/outputs"
    auto_migrate: bool = True
    api_keys_file: str = ""  # empty: open, only when `open` is set
    open: bool = False
    webhook_secret: str = ""  # signs callbacks in open mode (with keys, each tenant has its own)
    webhook_retry_base_s: float = 5.0  # first retry delay; doubles up to 10 min
    allowed_networks: str = ""  # e.g. "10.0.0.0/8": reachable for callbacks although not public
    ack_wait_s: float = 60.0
    max_deliver: int = 5
    nats_replicas: int = 1
    shutdown_grace_s: float = 10.0
    db_threads: int = 24  # concurrent store calls; keep within the database pool (pool_size + max_overflow)
    max_count: int = 100
    max_request_bytes: int = 4 << 20
    sweep_interval_s: float = 30.0
    stall_after_s: float = 300.0  # a sub-job unchanged this long, with idle queues, is stuck
    metrics_port: int = 0  # /metrics and /healthz over HTTP; 0: off
    metrics_host: str = ""  # the interface they listen on; empty: the host of `listen`
    ice_listen: str = ""  # host:port of the ICE OpenAPI door (HTTP); empty: off
    # TLS for gRPC, the ICE door and /metrics (gateway/tls.py): PEM files; all empty: plain TCP.
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""  # clients must present a certificate signed by it (mTLS)
    access_key_master_file: str = ""  # derives AccessKeySecrets (tenants.py); needed for keys with AccessKeys
