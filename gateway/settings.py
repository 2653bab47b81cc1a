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
    tenant: str = "default"
    ack_wait_s: float = 60.0
    max_deliver: int = 5
    nats_replicas: int = 1
    shutdown_grace_s: float = 10.0
    metrics_port: int = 0  # /metrics and /healthz over HTTP; 0: off
