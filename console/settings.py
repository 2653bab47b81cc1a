"""The console's settings, each defined once (reelmill/config.py). How it reaches the gateway is a
client's settings (cli/settings.py ClientSettings: --gateway, --ca-cert, --client-cert, ...)."""

from __future__ import annotations

from dataclasses import dataclass

from reelmill.config import (
    OUTPUT_DIR,
    S3_ACCESS_KEY_ID,
    S3_ENDPOINT_URL,
    S3_REGION,
    S3_SECRET_ACCESS_KEY,
    Setting,
    setting,
)

_LISTEN = "HOST:PORT the web console serves on (empty: off)"
_SECRET = "signs the console's media links; give every console replica the same (empty: one per process)"
_LINK = "seconds a media link of the console stays valid"
_COOKIE = "mark the session cookie Secure (only sent over HTTPS; browsers count http://localhost as secure)"


@dataclass(frozen=True)
class ConsoleSettings:
    console_listen: str = setting(Setting("CONSOLE_LISTEN", _LISTEN, ""))
    # Local outputs are streamed from here (the folder the workers write to); s3:// ones are presigned.
    output_dir: str = setting(OUTPUT_DIR)
    console_secret: str = setting(Setting("CONSOLE_SECRET", _SECRET, "", flag=None, secret=True))
    link_seconds: float = setting(Setting("CONSOLE_LINK_S", _LINK, 900.0, "--console-link-seconds", 10))
    secure_cookie: bool = setting(Setting("CONSOLE_SECURE_COOKIE", _COOKIE, True))
    s3_endpoint_url: str = setting(S3_ENDPOINT_URL)
    s3_region: str = setting(S3_REGION)
    s3_access_key_id: str = setting(S3_ACCESS_KEY_ID)
    s3_secret_access_key: str = setting(S3_SECRET_ACCESS_KEY)
    session_hours: float = 12.0
