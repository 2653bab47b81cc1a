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
    render_timeout_s: float = 1800.0  # a render still running after this fails (a hung decoder, say)
    worker_id: str = field(default_factory=_default_worker_id)
    cache_dir: str = ".reelmill/cache"  # downloaded media and synthesised speech
    speech_cache_bytes: int = 256 << 20
    # Framed shots kept in memory for the next variants that use them (worker/render/frame_cache.py):
    # 466 MB per distinct 5 s shot at 1080x1920. Off by default: keeping frames costs memory and about 5 %
    # more CPU on a shot's first use, which only pays when shots recur (batches sharing shots).
    frame_cache_bytes: int = 0
    # Limits on media, each a clear failure (InvalidMaterial.TooLarge) rather than a worker at risk.
    max_media_bytes: int = 2 << 30
    max_media_duration_s: float = 3600.0
    max_media_pixels: int = 8192 * 8192
    download_timeout_s: float = 120.0
    allowed_networks: str = ""  # reachable for http(s) media although not public, e.g. 10.0.0.0/8
    metrics_port: int = 0  # /metrics and /healthz over HTTP; 0: off
    metrics_host: str = "0.0.0.0"  # the interface they listen on
    font_dirs: tuple[str, ...] = ()  # more fonts for TextStyle.Font (REELMILL_FONT_DIR)
    default_font: str = ""  # the font of texts without TextStyle.Font ("" = Noto Sans CJK SC)
    # s3:// outputs; empty values fall back to boto3's own configuration (AWS_* variables, profiles).
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_access_key_id: str = field(default="", repr=False)
    s3_secret_access_key: str = field(default="", repr=False)
