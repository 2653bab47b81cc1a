"""The worker's settings: one object, built once from flags and REELMILL_* variables."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class WorkerSettings:
    nats_url: str = "nats://127.0.0.1:4222"
    media_roots: tuple[str, ...] = ()
    output_dir: str = ".reelmill/outputs"
    slots: int = 1  # concurrent renders; x264 already keeps about two cores busy
    progress_interval_s: float = 1.0
    shutdown_grace_s: float = 30.0  # a render still running after this is handed back (nak)
    worker_id: str = field(default_factory=_default_worker_id)
    metrics_port: int = 0  # /metrics and /healthz over HTTP; 0: off
