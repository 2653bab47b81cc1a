"""The worker's settings: each defined once, with its flag and variable (reelmill/config.py)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from reelmill.config import (
    MEDIA_ROOTS,
    METRICS_HOST,
    METRICS_PORT,
    NATS_URL,
    OUTPUT_DIR,
    S3_ACCESS_KEY_ID,
    S3_ENDPOINT_URL,
    S3_REGION,
    S3_SECRET_ACCESS_KEY,
    Setting,
    setting,
)

_MEDIA_NETS = "networks http(s) media may come from although not public, e.g. 10.0.0.0/8"
_FRAME_CACHE = "MB of framed shots kept for the next variants that use them (0: off)"
_FRAME_SPILL = "MB of disk for framed shots kept for the next variants, when FRAME_CACHE_MB is 0 (0: off)"


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class WorkerSettings:
    nats_url: str = setting(NATS_URL)
    media_roots: tuple[str, ...] = setting(MEDIA_ROOTS)
    output_dir: str = setting(OUTPUT_DIR)
    # x264 already keeps about two cores busy.
    slots: int = setting(Setting("SLOTS", "concurrent renders", 1, minimum=1))
    # The cores the renders share (worker/cpus.py): each render sizes its decoder, encoder and filter
    # threads to its share (worker/render/threads.py). 0: the container's CPU limit, else the cores the
    # worker may run on; never the node's core count, which libav would use.
    cpus: float = setting(
        Setting(
            "CPUS", "cores the renders share (0: the container's CPU limit)", 0.0, minimum=0, maximum=1024
        )
    )
    # A render still running after this fails (a hung decoder, say).
    render_timeout_s: float = setting(
        Setting(
            "RENDER_TIMEOUT_S", "seconds a render may take before it fails", 1800.0, "--render-timeout", 1
        )
    )
    # Limits on media, each a clear failure (InvalidMaterial.TooLarge) rather than a worker at risk.
    max_media_bytes: int = setting(
        Setting("MAX_MEDIA_BYTES", "largest media file accepted", 2 << 30, minimum=1)
    )
    max_media_duration_s: float = setting(
        Setting("MAX_MEDIA_DURATION_S", "longest media accepted, seconds", 3600.0, "--max-media-duration", 1)
    )
    # One output's length: narration sets a Script video's, and texts can be long (issue 13: 929 s).
    max_output_duration_s: float = setting(
        Setting(
            "MAX_OUTPUT_DURATION_S",
            "longest video one variant may be, seconds",
            600.0,
            "--max-output-duration",
            1,
        )
    )
    max_media_pixels: int = setting(
        Setting("MAX_MEDIA_PIXELS", "largest picture accepted, pixels", 8192 * 8192, minimum=1)
    )
    download_timeout_s: float = setting(
        Setting("DOWNLOAD_TIMEOUT_S", "seconds a media download may take", 120.0, "--download-timeout", 1)
    )
    allowed_networks: str = setting(Setting("MEDIA_NETWORKS", _MEDIA_NETS, ""))
    # Downloaded media, least recently used first out past this (files a render may still open stay).
    media_cache_mb: int = setting(
        Setting(
            "MEDIA_CACHE_MB",
            "MB of downloaded media kept for the next renders that use them",
            5120,
            minimum=1,
        )
    )
    # Framed shots kept in memory for the next variants that use them (worker/render/frame_cache.py):
    # 466 MB per distinct 5 s shot at 1080x1920. Off by default: keeping frames costs memory and about 5 %
    # more CPU on a shot's first use, which only pays when shots recur (batches sharing shots).
    frame_cache_mb: int = setting(Setting("FRAME_CACHE_MB", _FRAME_CACHE, 0, minimum=0))
    # The same shots kept on disk instead (worker/render/frame_spill.py), under CACHE_DIR/frames, shared
    # by every worker process that names the same folder: the worker's memory stays one frame per shot
    # however many shots are kept. Used when FRAME_CACHE_MB is 0.
    # On by default: it halves a batch from 4K phone footage and costs nothing measurable on cheap
    # 1080p sources (docs/benchmarks.md); 4 GiB hold about 45 s of distinct 1080x1920 shots.
    frame_spill_mb: int = setting(Setting("FRAME_SPILL_MB", _FRAME_SPILL, 4096, minimum=0))
    font_dirs: tuple[str, ...] = setting(
        Setting("FONT_DIR", f"extra font folders for TextStyle.Font, '{os.pathsep}'-separated", ())
    )
    default_font: str = setting(  # "" = Noto Sans CJK SC
        Setting("DEFAULT_FONT", "font of texts without TextStyle.Font (Noto Sans CJK SC)", "")
    )
    # s3:// outputs; empty values fall back to boto3's own configuration (AWS_* variables, profiles).
    s3_endpoint_url: str = setting(S3_ENDPOINT_URL)
    s3_region: str = setting(S3_REGION)
    s3_access_key_id: str = setting(S3_ACCESS_KEY_ID)
    s3_secret_access_key: str = setting(S3_SECRET_ACCESS_KEY)
    # A render still running after this is handed back (nak).
    shutdown_grace_s: float = setting(
        Setting("SHUTDOWN_GRACE_S", "seconds a render may finish after SIGTERM", 30.0, "--shutdown-grace", 0)
    )
    metrics_port: int = setting(METRICS_PORT)
    metrics_host: str = setting(METRICS_HOST)  # empty: all interfaces
    cache_dir: str = ".reelmill/cache"  # downloaded media and synthesised speech: DATA_DIR/cache
    speech_cache_bytes: int = 256 << 20
    progress_interval_s: float = 1.0
    worker_id: str = field(default_factory=_default_worker_id)

    @property
    def frame_cache_bytes(self) -> int:
        return self.frame_cache_mb << 20
