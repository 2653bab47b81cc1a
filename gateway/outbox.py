"""The outbox relay: publishes messages committed with their changes, at least once, in order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from gateway.bus import GatewayBus
from gateway.errors import BusUnavailableError, DatabaseUnavailableError
from gateway.store.outbox import Outbox
from gateway.waits import first_done

log = logging.getLogger(__name__)

BATCH_SIZE = 100
# After a poke, the relay waits this long before reading the outbox, so that under load one cycle
# (a read, a pipelined publish, a write) carries the messages of many submits instead of one each: at
# 200 submits/s this halves the gateway's CPU per submit. Renders start at most this much later.
GATHER_S = 0.02


class OutboxRelay:
    def __init__(self, outbox: Outbox, bus: GatewayBus, poll_s: float = 1.0, gather_s: float = GATHER_S,
                 limit_of: Callable[[str], int] = lambda tenant: 0) -> None:  # fmt: skip
        self.outbox = outbox
        self.limit_of = limit_of  # a tenant's limit on concurrent renders (0: none), for its queues
        self.bus = bus
        self.poll_s = poll_s
        self.gather_s = gather_s
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """Something was committed: publish now rather than at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        backoff_s = 0.5
        while not stop.is_set():
            await first_done(self.bus.ready.wait(), stop.wait())
            if stop.is_set():
                return
            self._wake.clear()
            try:
                published, complete = await self.relay_once()
                backoff_s = 0.5
            except (DatabaseUnavailableError, BusUnavailableError) as e:
                log.warning("outbox relay: %s; retrying in %.1f s", e, backoff_s)
                await first_done(asyncio.sleep(backoff_s), stop.wait())
                backoff_s = min(backoff_s * 2, 30.0)
                continue
            if published and not complete:
                continue  # a full page: more may be waiting
            await first_done(self._wake.wait(), stop.wait(), asyncio.sleep(self.poll_s))
            if self._wake.is_set() and self.gather_s:
                await first_done(asyncio.sleep(self.gather_s), stop.wait())

    async def relay_once(self) -> tuple[int, bool]:
        """Publishes one page of pending messages; returns (published, whether the page was the last)."""
        rows = await asyncio.to_thread(self.outbox.pending, BATCH_SIZE)
        if not rows:
            return 0, True
        # Each tenant's queues exist before their commands are published (a command that no consumer
        # filters would wait in the stream unseen).
        await self.bus.ensure_queues([r.subject for r in rows], self.limit_of)
        confirmed = await self.bus.publish_many([(r.subject, r.payload, r.msg_id) for r in rows])
        if any(confirmed):
            await self.bus.ring()
        # Only what JetStream confirmed is marked; a crash before this line re-publishes the page later,
        # and Nats-Msg-Id makes that harmless.
        done = [r.id for r, ok in zip(rows, confirmed, strict=True) if ok]
        await asyncio.to_thread(self.outbox.mark_published, done)
        if len(done) < len(rows):
            failed = next(r for r, ok in zip(rows, confirmed, strict=True) if not ok)
            await asyncio.to_thread(self.outbox.mark_publish_failed, failed.id, "not confirmed by JetStream")
            raise BusUnavailableError(f"{len(rows) - len(done)} of {len(rows)} messages not confirmed")
        return len(done), len(rows) < BATCH_SIZE
