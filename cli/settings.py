"""The settings of the `reelmill` command itself: the process's, a client's and `reelmill dev`'s.

The gateway's and the worker's own live beside their code (gateway/settings.py, worker/settings.py);
all are declared the same way (reelmill/config.py), and SETTINGS_OF says which command reads which.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.settings import ConsoleSettings
from gateway.settings import GatewaySettings
from reelmill.config import Setting, setting
from worker.settings import WorkerSettings

DATA_DIR = Setting("DATA_DIR", "folder for the database and local state", ".reelmill")


@dataclass(frozen=True)
class ProcessSettings:
    data_dir: str = setting(DATA_DIR)
    log_level: str = setting(
        Setting("LOG_LEVEL", "log level", "INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
    )
    log_format: str = setting(
        Setting("LOG_FORMAT", "log lines as text or JSON", "text", choices=("text", "json"))
    )


@dataclass(frozen=True)
class MigrateSettings:
    data_dir: str = setting(DATA_DIR)
    database_url: str = setting(
        Setting("DATABASE_URL", "SQLAlchemy URL", shown="sqlite:///DATA_DIR/reelmill.db"), ""
    )


@dataclass(frozen=True)
class DevSettings:
    nats_port: int = setting(Setting(
        "DEV_NATS_PORT", "port of the local nats-server (0: any free port)", 0, "--nats-port", minimum=0,
        maximum=65535,
    ))  # fmt: skip


@dataclass(frozen=True)
class ClientSettings:
    gateway: str = setting(Setting("GATEWAY", "gateway address", "127.0.0.1:50051"))
    api_key: str = setting(Setting("API_KEY", "API key, sent as x-api-key metadata", "", secret=True))
    tls: bool = setting(Setting("TLS", "connect with TLS, trusting the system's CAs", False))
    ca_cert: str = setting(
        Setting("CA_CERT", "PEM CA bundle to trust instead of the system's (implies --tls)", "")
    )
    client_cert: str = setting(
        Setting("CLIENT_CERT", "PEM certificate to present to a gateway asking for one (mTLS)", "")
    )
    client_key: str = setting(Setting("CLIENT_KEY", "PEM private key of --client-cert", ""))


CLIENT_COMMANDS = ("submit", "get", "list", "cancel", "watch", "template")
SETTINGS_OF: dict[str, tuple[type, ...]] = {
    "dev": (ProcessSettings, GatewaySettings, WorkerSettings, DevSettings, ConsoleSettings),
    "console": (ProcessSettings, ConsoleSettings, ClientSettings),
    "gateway": (ProcessSettings, GatewaySettings),
    "worker": (ProcessSettings, WorkerSettings),
    "migrate": (MigrateSettings,),
    **{command: (ClientSettings,) for command in CLIENT_COMMANDS},
}
