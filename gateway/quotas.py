"""Each tenant's limits: concurrent renders, variants queued or rendering, submits per minute.

Defaults come from the gateway's settings (REELMILL_TENANT_*), and a tenant's entry in the keys file
may set its own ({"tenant": "acme", ..., "limits": {"concurrent_renders": 4}}). Submit checks the two
that are about requests (gateway/store/batches.py, in the same transaction as the insert); the limit
on concurrent renders is held by JetStream, as the max_ack_pending of the tenant's queues.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from gateway.errors import KeysFileError

NAMES = ("concurrent_renders", "queued_variants", "submits_per_minute")


@dataclass(frozen=True)
class Limits:
    """0 means no limit; None (a tenant's entry only) means the gateway's default."""

    concurrent_renders: int | None = 0
    queued_variants: int | None = 0
    submits_per_minute: int | None = 0

    @classmethod
    def parse(cls, doc: Any, where: str) -> Limits:
        """A keys-file entry's "limits" object: each field a whole number ≥ 0, no unknown fields."""
        if not isinstance(doc, dict):
            raise KeysFileError(f"{where}: limits must be an object with {', '.join(NAMES)}")
        unknown = set(doc) - set(NAMES)
        if unknown:
            raise KeysFileError(
                f"{where}: limits has unknown fields {sorted(unknown)}; known: {', '.join(NAMES)}"
            )
        for name, value in doc.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise KeysFileError(f"{where}: limits.{name} must be a whole number ≥ 0 (0: no limit)")
        return cls(**{f.name: doc.get(f.name) for f in fields(cls)})

    def over(self, defaults: Limits) -> Limits:
        """These limits, with the defaults where they say nothing."""
        return replace(
            defaults, **{f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}
        )


@dataclass(frozen=True)
class Quotas:
    defaults: Limits
    tenants: dict[str, Limits]

    def of(self, tenant: str) -> Limits:
        own = self.tenants.get(tenant)
        return own.over(self.defaults) if own is not None else self.defaults

    def concurrent_renders(self, tenant: str) -> int:
        return self.of(tenant).concurrent_renders or 0
