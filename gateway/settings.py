"""The gateway's settings: each defined once, with its flag and variable (reelmill/config.py)."""

from __future__ import annotations

from dataclasses import dataclass

from reelmill.config import MEDIA_ROOTS, METRICS_HOST, METRICS_PORT, NATS_URL, OUTPUT_DIR, Setting, setting

# What --help and docs/operations.md say of each setting, one place for all of them.
_ICE = "HOST:PORT of the ICE OpenAPI door for ICE's SDKs (empty: off)"
_TLS_CERT = "PEM certificate chain: gRPC, the ICE door and /metrics over TLS"
_TLS_CLIENT_CA = "PEM CA bundle: gRPC and ICE clients must present a certificate it signed (mTLS)"
_MASTER = "the key AccessKeySecrets are derived from (reelmill keys new --master-file makes one)"
_RENDERS = "renders one tenant may have under way at once (0: no limit)"
_QUEUED = "variants one tenant may have queued or rendering (0: no limit)"
_SUBMITS = "jobs one tenant may submit per minute (0: no limit)"
_S3_OUT = "comma-separated s3://bucket/prefix/ a tenant's s3:// outputs may go under; {tenant} is its name"
_CALLBACK_NETS = "networks callbacks may reach although not public, e.g. 10.0.0.0/8,127.0.0.1/32"


@dataclass(frozen=True)
class GatewaySettings:
    listen: str = setting(Setting("LISTEN", "gRPC listen address", "127.0.0.1:50051"))
    ice_listen: str = setting(Setting("ICE_LISTEN", _ICE, ""))
    # TLS for gRPC, the ICE door and /metrics (gateway/tls.py): PEM files; all empty: plain TCP.
    tls_cert: str = setting(Setting("TLS_CERT", _TLS_CERT, ""))
    tls_key: str = setting(Setting("TLS_KEY", "PEM private key of --tls-cert", ""))
    tls_client_ca: str = setting(Setting("TLS_CLIENT_CA", _TLS_CLIENT_CA, ""))
    # Derives AccessKeySecrets (tenants.py); needed for keys with AccessKeys.
    access_key_master_file: str = setting(Setting("ACCESS_KEY_MASTER_FILE", _MASTER, ""))
    database_url: str = setting(
        Setting("DATABASE_URL", "SQLAlchemy URL", shown="sqlite:///DATA_DIR/reelmill.db"),
        "sqlite:///.reelmill/reelmill.db",
    )
    nats_url: str = setting(NATS_URL)
    media_roots: tuple[str, ...] = setting(MEDIA_ROOTS)
    output_dir: str = setting(OUTPUT_DIR)
    ack_wait_s: float = setting(
        Setting("ACK_WAIT_S", "seconds before an unacknowledged render is redelivered", 60.0, "--ack-wait", 1)
    )
    max_deliver: int = setting(
        Setting("MAX_DELIVER", "deliveries of a render command before it fails", 5, minimum=1)
    )
    sweep_interval_s: float = setting(
        Setting(
            "SWEEP_INTERVAL_S", "seconds between sweeps for stuck sub-jobs", 30.0, "--sweep-interval", 0.1
        )
    )
    # A sub-job unchanged this long, with idle queues, is stuck.
    stall_after_s: float = setting(
        Setting("STALL_AFTER_S", "seconds unchanged before a sub-job is stuck", 300.0, "--stall-after", 1)
    )
    api_keys_file: str = setting(  # empty: open, only when `open` is set
        Setting("API_KEYS_FILE", "JSON file of API keys (SHA-256) and their tenants", "")
    )
    open: bool = setting(
        Setting("OPEN", "accept every caller as tenant 'default' when there is no keys file", False)
    )
    webhook_secret: str = setting(  # signs callbacks in open mode (with keys, each tenant has its own)
        Setting("WEBHOOK_SECRET", "signs completion callbacks when running open", "", secret=True)
    )
    webhook_retry_base_s: float = setting(  # first retry delay; doubles up to 10 min
        Setting(
            "WEBHOOK_RETRY_BASE_S", "seconds before the first callback retry", 5.0, "--webhook-retry-base", 0
        )
    )
    allowed_networks: str = setting(Setting("ALLOWED_NETWORKS", _CALLBACK_NETS, ""))
    # Concurrent store calls; keep within the database pool (pool_size + max_overflow).
    db_threads: int = setting(
        Setting("DB_THREADS", "threads for database calls (keep within the pool of 24)", 24, minimum=1)
    )
    max_count: int = setting(
        Setting("MAX_COUNT", "most variants one batch may ask for", 100, minimum=1, maximum=100)
    )
    max_request_bytes: int = setting(
        Setting("MAX_REQUEST_BYTES", "largest gRPC request accepted", 4 << 20, minimum=1024)
    )
    # Each tenant's limits (gateway/quotas.py); a tenant's entry in the keys file may set its own.
    tenant_concurrent_renders: int = setting(Setting("TENANT_CONCURRENT_RENDERS", _RENDERS, 0, minimum=0))
    tenant_queued_variants: int = setting(Setting("TENANT_QUEUED_VARIANTS", _QUEUED, 2000, minimum=0))
    tenant_submits_per_minute: int = setting(Setting("TENANT_SUBMITS_PER_MINUTE", _SUBMITS, 600, minimum=0))
    # Where s3:// outputs may go, per tenant ({tenant}: its name); a keys-file entry may set its own.
    output_s3_prefixes: str = setting(Setting("OUTPUT_S3_PREFIXES", _S3_OUT, ""))
    no_migrate: bool = setting(Setting("NO_MIGRATE", "do not run database migrations at start", False))
    metrics_port: int = setting(METRICS_PORT)
    metrics_host: str = setting(METRICS_HOST)  # empty: the host of `listen`
    nats_replicas: int = 1
    shutdown_grace_s: float = 10.0
