"""Who is calling: API keys (stored as SHA-256 hashes) and ICE AccessKeys, mapped to tenants.

The keys file is JSON: {"keys": [{"tenant": "acme", "sha256": "<hex of the key>", "webhook_secret": "...",
"access_key_id": "RMAK...", "limits": {"concurrent_renders": 4}}]}; limits are optional
(gateway/quotas.py). `reelmill keys new --tenant acme` makes a key and prints the entry.
Without a keys file the gateway runs open (every caller is the tenant "default") only when told to,
and says so at start.

An AccessKeySecret is never stored: ACS3 signatures are HMACs, so the gateway must know the secret, and
it derives it from the AccessKeyId with the AccessKey master key (a file only gateways and `reelmill
keys` read). A keys file that names AccessKeys without a master key does not load: fail closed.
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
from urllib.parse import urlsplit

from gateway.errors import KeysFileError, SignatureError, UnauthenticatedError
from gateway.quotas import Limits

OPEN_TENANT = "default"
KEY_HEADER = "x-api-key"
TENANT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


ACCESS_KEY_PREFIX = "RMAK"


@dataclass(frozen=True)
class Tenant:
    name: str
    webhook_secret: str = ""
    limits: Limits | None = None  # the entry's own limits (gateway/quotas.py); None: the defaults
    s3_prefixes: tuple[str, ...] | None = None  # where its s3:// outputs may go; None: the settings'


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return "rmk_" + secrets.token_urlsafe(32)


def new_access_key_id() -> str:
    return ACCESS_KEY_PREFIX + secrets.token_hex(10).upper()


def new_master_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def read_master_key(path: str) -> bytes:
    try:
        key = base64.b64decode(Path(path).read_text(encoding="utf-8").strip(), validate=True)
    except (OSError, ValueError) as e:
        raise KeysFileError(f"cannot read the AccessKey master key {path}: {e!r}") from e
    if len(key) < 32:
        raise KeysFileError(f"the AccessKey master key {path} must hold at least 32 bytes in base64")
    return key


def access_key_secret(master: bytes, access_key_id: str) -> str:
    """The secret of an AccessKeyId: an HMAC of the id under the master key (so nothing is stored)."""
    digest = hmac.new(master, b"reelmill AccessKeySecret\0" + access_key_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: whsec_ and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Authenticator:
    def __init__(self, tenants_by_hash: dict[str, Tenant] | None,
                 access_keys: dict[str, Tenant] | None = None, master_key: bytes = b"") -> None:  # fmt: skip
        self._by_hash = tenants_by_hash  # None: open
        self._access_keys = access_keys or {}
        self._master_key = master_key

    @property
    def is_open(self) -> bool:
        return self._by_hash is None

    @classmethod
    def open(cls) -> Authenticator:
        return cls(None)

    def open_tenant(self) -> Tenant:
        return Tenant(OPEN_TENANT)

    @classmethod
    def from_file(cls, path: str, master_key_file: str = "") -> Authenticator:
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
            entries = doc["keys"]
            by_hash: dict[str, Tenant] = {}
            access_keys: dict[str, Tenant] = {}
            for e in entries:
                name = str(e["tenant"])
                if not name or not set(name) <= TENANT_CHARS or len(name) > 64:
                    raise KeysFileError(f"{path}: tenant {name!r} must be 1–64 of a-z 0-9 - _")
                digest = str(e["sha256"]).lower()
                if len(digest) != 64:
                    raise KeysFileError(f"{path}: the sha256 of tenant {name!r} is not a SHA-256 hex digest")
                limits = Limits.parse(e["limits"], f"{path}: tenant {name!r}") if "limits" in e else None
                prefixes = (
                    _s3_prefixes(e["output_s3_prefixes"], path, name) if "output_s3_prefixes" in e else None
                )
                tenant = Tenant(name, str(e.get("webhook_secret", "")), limits, prefixes)
                same = next((t for t in by_hash.values() if t.name == name and t.limits != limits), None)
                if same is not None:
                    raise KeysFileError(f"{path}: the entries of tenant {name!r} give different limits")
                by_hash[digest] = tenant
                if e.get("access_key_id"):
                    access_keys[str(e["access_key_id"])] = tenant
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise KeysFileError(f"cannot read the API keys file {path}: {e!r}") from e
        if access_keys and not master_key_file:
            raise KeysFileError(
                f"{path} names AccessKeys: set REELMILL_ACCESS_KEY_MASTER_FILE to verify them"
            )
        master = read_master_key(master_key_file) if master_key_file else b""
        return cls(by_hash, access_keys, master)

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

    def access_key(self, access_key_id: str) -> tuple[Tenant, str]:
        """The tenant of an AccessKeyId and its secret (to check a signature with)."""
        tenant = self._access_keys.get(access_key_id)
        if tenant is None or not self._master_key:
            raise SignatureError("InvalidAccessKeyId.NotFound", "unknown AccessKeyId")
        return tenant, access_key_secret(self._master_key, access_key_id)

    def s3_prefixes(self) -> dict[str, tuple[str, ...]]:
        """The tenants whose entries say where their s3:// outputs may go."""
        return {t.name: t.s3_prefixes for t in (self._by_hash or {}).values() if t.s3_prefixes is not None}

    def limits(self) -> dict[str, Limits]:
        """The tenants whose entries set their own limits."""
        return {t.name: t.limits for t in (self._by_hash or {}).values() if t.limits is not None}

    def webhook_secret(self, tenant: str) -> str:
        if self._by_hash is None:
            return ""
        return next((t.webhook_secret for t in self._by_hash.values() if t.name == tenant), "")


def _s3_prefixes(value: object, path: str, tenant: str) -> tuple[str, ...]:
    """A keys-file entry's output_s3_prefixes: a list of s3://bucket/ or s3://bucket/folder/ URLs."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise KeysFileError(f"{path}: tenant {tenant!r}: output_s3_prefixes must be a list of s3:// URLs")
    for prefix in value:
        parts = urlsplit(prefix)
        if parts.scheme != "s3" or not parts.netloc or ".." in parts.path.split("/"):
            raise KeysFileError(f"{path}: tenant {tenant!r}: {prefix!r} is no s3://bucket/ prefix")
    return tuple(value)
