"""The outbox relay: publishes messages committed with their changes, at least once, in order."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from gateway.bus import GatewayBus
from gateway.errors import BusUnavailableError, DatabaseUnavailableError
from gateway.store.outbox import PRUNE_CHUNK, Outbox, PendingMessage
from gateway.waits import first_done
from reelmill import topology

log = logging.getLogger(__name__)

BATCH_SIZE = 100
MAX_ROW_ATTEMPTS = 5  # failed publications of one row, while others went through, before it is failed
HEADERS_ROOM = 1024  # the Nats-Msg-Id and trace headers travel in the same message
# After a poke, the relay waits this long before reading the outbox, so that under load one cycle
# (a read, a pipelined publish, a write) carries the messages of many submits instead of one each: at
# 200 submits/s this halves the gateway's CPU per submit. Renders start at most this much later.
GATHER_S = 0.02
# While it has nothing to publish, the relay deletes the published rows of settled jobs (store/outbox.py
# says why): one chunk at each idle moment, so that publishing never waits behind more than one small
# transaction, and after reaching the end, again after a pause.
PRUNE_EVERY_S = 60.0


class OutboxRelay:
    def __init__(self, outbox: Outbox, bus: GatewayBus, poll_s: float = 1.0, gather_s: float = GATHER_S,
                 limit_of: Callable[[str], int] = lambda tenant: 0,
                 give_up: Callable[[PendingMessage, str], None] | None = None,
                 prune_every_s: float = PRUNE_EVERY_S) -> None:  # fmt: skip
        self.outbox = outbox
        # Fails a render command's sub-job (and takes the row out of the queue): store.Batches.
        self.give_up = give_up
        self.limit_of = limit_of  # a tenant's limit on concurrent renders (0: none), for its queues
        self.bus = bus
        self.poll_s = poll_s
        self.gather_s = gather_s
        self._wake = asyncio.Event()
        self.prune_every_s = prune_every_s
        self._next_prune = time.monotonic()
        self._pruned_to = 0  # the id the next chunk starts after

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
                if complete and time.monotonic() >= self._next_prune:
                    await self.prune_once()
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

    async def prune_once(self) -> int:
        """Deletes one chunk of the published rows of settled jobs; returns how many. At the end of the
        table, the next chunk waits for prune_every_s and starts from the beginning again."""
        deleted, self._pruned_to = await asyncio.to_thread(self.outbox.prune, PRUNE_CHUNK, self._pruned_to)
        if deleted < PRUNE_CHUNK:
            self._pruned_to = 0
            self._next_prune = time.monotonic() + self.prune_every_s
        if deleted:
            log.info("outbox: deleted %d published rows of settled jobs", deleted)
        return deleted

    async def relay_once(self) -> tuple[int, bool]:
        """Publishes one page of pending messages; returns (published, whether the page was the last).

        One row never holds up the others: a command over the bus's message limit fails its sub-job at
        once, and a row that keeps failing while others of its page go through fails after
        MAX_ROW_ATTEMPTS. When nothing of a page goes through, the bus is the trouble: it is retried."""
        page = await asyncio.to_thread(self.outbox.pending, BATCH_SIZE)
        if not page:
            return 0, True
        rows = []
        for r in page:
            if len(r.payload) > topology.STREAM_MAX_MESSAGE_BYTES - HEADERS_ROOM:
                await self._give_up(r, f"its render command is {len(r.payload)} bytes, over the bus's limit")
            else:
                rows.append(r)
        if not rows:
            return 0, len(page) < BATCH_SIZE
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
        failed = [r for r, ok in zip(rows, confirmed, strict=True) if not ok]
        if not failed:
            return len(done), len(page) < BATCH_SIZE
        if not done and not await self.bus.answers():  # JetStream is away: nothing is the rows' fault
            await asyncio.to_thread(
                self.outbox.mark_publish_failed, failed[0].id, "not confirmed by JetStream"
            )
            raise BusUnavailableError(f"none of {len(rows)} messages was confirmed")
        waiting = 0
        for r in failed:  # JetStream is there and refused them: the trouble is with these rows
            if r.attempts + 1 >= MAX_ROW_ATTEMPTS:
                await self._give_up(r, f"its render command was refused by the bus {r.attempts + 1} times")
            else:
                await asyncio.to_thread(self.outbox.mark_publish_failed, r.id, "refused by JetStream")
                waiting += 1
        if waiting and not done:  # try them again after the relay's backoff, not at once
            raise BusUnavailableError(f"{waiting} messages refused by JetStream")
        return len(done), len(page) < BATCH_SIZE

    async def _give_up(self, row: PendingMessage, why: str) -> None:
        log.error("job %s: %s; its sub-job %s fails", row.batch_id, why, row.sub_job_id)
        if self.give_up is not None and row.subject.startswith("render.cmd."):
            await asyncio.to_thread(self.give_up, row, f"the render command could not be queued: {why}")
        else:  # not a render command (a cancel marker): it only leaves the relay's queue
            await asyncio.to_thread(self.outbox.mark_published, [row.id])
