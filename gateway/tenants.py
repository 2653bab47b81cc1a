"""Who is calling: API keys (stored as SHA-256 hashes) mapped to tenants.

The keys file is JSON: {"keys": [{"tenant": "acme", "sha256": "<hex of the key>", "webhook_secret": "..."}]}.
`reelmill keys new --tenant acme` makes a key and prints the entry. Without a keys file the gateway
runs open (every caller is the tenant "default") only when told to, and says so at start.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import KeysFileError, UnauthenticatedError

OPEN_TENANT = "default"
KEY_HEADER = "x-api-key"
TENANT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True)
class Tenant:
    name: str
    webhook_secret: str = ""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return "rmk_" + secrets.token_urlsafe(32)


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: whsec_ and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Authenticator:
    def __init__(self, tenants_by_hash: dict[str, Tenant] | None) -> None:
        self._by_hash = tenants_by_hash  # None: open

    @property
    def is_open(self) -> bool:
        return self._by_hash is None

    @classmethod
    def open(cls) -> Authenticator:
        return cls(None)

    @classmethod
    def from_file(cls, path: str) -> Authenticator:
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
            entries = doc["keys"]
            by_hash = {}
            for e in entries:
                name = str(e["tenant"])
                if not name or not set(name) <= TENANT_CHARS or len(name) > 64:
                    raise KeysFileError(f"{path}: tenant {name!r} must be 1–64 of a-z 0-9 - _")
                digest = str(e["sha256"]).lower()
                if len(digest) != 64:
                    raise KeysFileError(f"{path}: the sha256 of tenant {name!r} is not a SHA-256 hex digest")
                by_hash[digest] = Tenant(name, str(e.get("webhook_secret", "")))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise KeysFileError(f"cannot read the API keys file {path}: {e!r}") from e
        return cls(by_hash)

    def tenant(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> Tenant:
        if self._by_hash is None:
            return Tenant(OPEN_TENANT)
        key = next((str(v) for k, v in metadata or () if k == KEY_HEADER), "")
        if not key:
            raise UnauthenticatedError(f"an API key is required in the {KEY_HEADER} metadata")
        digest = hash_key(key)
        for known, tenant in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                return tenant
        raise UnauthenticatedError("unknown API key")

    def webhook_secret(self, tenant: str) -> str:
        if self._by_hash is None:
            return ""
        return next((t.webhook_secret for t in self._by_hash.values() if t.name == tenant), "")
