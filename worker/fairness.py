"""Which render queue a free slot takes from next: tenants in turn, a tenant's highest priority first.

Pure: it orders a snapshot of the consumers' state as JetStream reported it. The worker's bus then
pulls from the first queue that still has a command (another worker may have taken it meanwhile).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reelmill import topology


@dataclass(frozen=True)
class QueueState:
    """One consumer of the command stream, as consumers_info reported it."""

    consumer: str
    pending: int  # not yet delivered
    ack_pending: int  # delivered and not yet acknowledged: renders under way, or waiting to be redelivered
    max_ack_pending: int  # the tenant's limit on concurrent renders (-1 or 0: none)

    @property
    def queue(self) -> topology.Queue | None:
        return topology.queue_of_consumer(self.consumer)

    @property
    def tenant(self) -> str:
        q = self.queue
        return q.tenant if q is not None else ""  # the legacy queue takes its turn as a tenant of its own


def order(states: Iterable[QueueState], after_tenant: str | None) -> list[str]:
    """The consumers to try, in order: one round over the tenants that have work and room, starting
    after `after_tenant` (the one this worker served last), each tenant's queues by priority, highest
    first. A tenant at its limit of concurrent renders is left out."""
    by_tenant: dict[str, list[QueueState]] = {}
    for s in states:
        if s.consumer == topology.LEGACY_CONSUMER or s.queue is not None:
            by_tenant.setdefault(s.tenant, []).append(s)
    tenants = sorted(t for t, qs in by_tenant.items() if _has_work(qs) and _has_room(qs))
    if after_tenant is not None:
        later = [t for t in tenants if t > after_tenant]
        tenants = later + [t for t in tenants if t <= after_tenant]
    out = []
    for tenant in tenants:
        queues = sorted(by_tenant[tenant], key=lambda s: -(s.queue.priority if s.queue else 0))
        # A queue with unacknowledged commands and none pending may hold one waiting to be redelivered
        # (a retry's delay): it is tried too, after the queues with pending commands.
        out += [s.consumer for s in queues if s.pending > 0]
        out += [s.consumer for s in queues if s.pending == 0 and s.ack_pending > 0]
    return out


def _has_work(queues: list[QueueState]) -> bool:
    return any(q.pending > 0 or q.ack_pending > 0 for q in queues)


def _has_room(queues: list[QueueState]) -> bool:
    """Below the tenant's limit of concurrent renders, counted over all its priorities. Each consumer's
    max_ack_pending holds the limit for itself (JetStream enforces that); this adds the tenant's sum."""
    limits = [q.max_ack_pending for q in queues if q.max_ack_pending > 0]
    if not limits:
        return True
    return sum(q.ack_pending for q in queues) < min(limits)
