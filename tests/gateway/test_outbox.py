"""The outbox relay gathers the submits of a busy moment into one publish, and leaves none behind.

The bus here records what it is asked to publish (JetStream's side is covered by the end-to-end and
fault tests); the store is a real SQLite database."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from gateway.outbox import GATHER_S, OutboxRelay
from gateway.store import migrate
from gateway.store.batches import Batches, NewBatch, NewMessage, NewSubJob
from gateway.store.engine import make_engine
from gateway.store.outbox import Outbox
from gateway.store.transactions import Transactions
from reelmill import topology


class RecordingBus:
    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.ready.set()
        self.calls: list[list[str]] = []
        self.expected = 0
        self.all_published = asyncio.Event()
        self.queues: set[str] = set()  # subjects whose queue was declared
        self.rings = 0

    async def ensure_queues(self, subjects: list[str], limit_of: object) -> None:
        self.queues.update(subjects)

    async def ring(self) -> None:
        self.rings += 1

    async def publish_many(self, messages: list[tuple[str, bytes, str]]) -> list[bool]:
        assert {s for s, _, _ in messages} <= self.queues, "a queue must exist before its commands"
        self.calls.append([msg_id for _, _, msg_id in messages])
        if sum(map(len, self.calls)) >= self.expected:
            self.all_published.set()
        return [True] * len(messages)


def batch(count: int) -> NewBatch:
    subs = [NewSubJob(uuid.uuid4().hex, i) for i in range(count)]
    return NewBatch(
        id=uuid.uuid4().hex, tenant="t1", job_type="Script", client_token=None, request_hash="h",
        input_config="{}", editing_config="{}", output_config="{}", user_data="", seed=None, sub_jobs=subs,
        messages=[NewMessage(topology.command_subject("t1", s.id), s.id, b"cmd") for s in subs],
    )  # fmt: skip


def test_submits_in_quick_succession_go_out_in_one_publish(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    tx = Transactions(engine)
    store, outbox = Batches(tx), Outbox(tx)
    bus = RecordingBus()
    # A longer window than the default's, so that a slow machine still gathers all five.
    relay = OutboxRelay(outbox, bus, poll_s=30, gather_s=0.3)  # type: ignore[arg-type]

    async def scenario() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop))
        await asyncio.sleep(0.1)  # the relay has found the outbox empty and waits
        assert bus.calls == []
        batches = [batch(3) for _ in range(5)]
        bus.expected = 15
        for b in batches:  # five submits 2 ms apart, each poking the relay
            await asyncio.to_thread(store.submit, b)
            relay.poke()
            await asyncio.sleep(0.002)
        await asyncio.wait_for(bus.all_published.wait(), 5)
        stop.set()
        await running  # the cycle in flight marks what it published before the relay stops
        assert outbox.backlog().count == 0  # every message published and marked
        published = [m for call in bus.calls for m in call]
        assert published == [s.id for b in batches for s in b.sub_jobs]  # in order, each once
        # Gathered: without the wait after a poke, each submit made a cycle of its own.
        assert len(bus.calls) <= 2, bus.calls
        assert bus.rings == len(bus.calls)  # idle workers told after each publish

    asyncio.run(scenario())
    engine.dispose()
    assert GATHER_S <= 0.05  # renders start at most this much later
