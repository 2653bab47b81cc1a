"""The outbox relay gathers the submits of a busy moment into one publish, and leaves none behind.

The bus here records what it is asked to publish (JetStream's side is covered by the end-to-end and
fault tests); the store is a real SQLite database."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway import outbox as outbox_relay
from gateway import status as st
from gateway.errors import BusUnavailableError
from gateway.outbox import GATHER_S, OutboxRelay
from gateway.status import EventUpdate
from gateway.store import migrate
from gateway.store.batches import Batches, NewBatch, NewMessage, NewSubJob
from gateway.store.engine import make_engine
from gateway.store.outbox import Outbox, PendingMessage
from gateway.store.schema import OutboxRow
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


def sqlite_tx(tmp_path: Path) -> Transactions:
    """Transactions on a migrated SQLite store in tmp_path."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate.upgrade(url)
    return Transactions(make_engine(url))


def test_submits_in_quick_succession_go_out_in_one_publish(tmp_path: Path) -> None:
    tx = sqlite_tx(tmp_path)
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
    tx.engine.dispose()
    assert GATHER_S <= 0.05  # renders start at most this much later


class RefusingBus(RecordingBus):
    """JetStream refusing some messages (or all of them, as when it is away)."""

    def __init__(self, refused: set[str] | None = None) -> None:
        super().__init__()
        self.refused = refused  # None: every message

    async def publish_many(self, messages: list[tuple[str, bytes, str]]) -> list[bool]:
        await super().publish_many(messages)
        return [self.refused is not None and m not in self.refused for _, _, m in messages]

    async def answers(self) -> bool:
        return self.refused is not None  # refusing everything: it is away


def relay_store(tmp_path: Path) -> tuple[Batches, Outbox]:
    tx = sqlite_tx(tmp_path)
    return Batches(tx), Outbox(tx)


def test_one_row_never_blocks_the_others(tmp_path: Path) -> None:
    """Issue 13: a row the bus keeps refusing while others go through fails its sub-job after
    MAX_ROW_ATTEMPTS; an oversized one fails at once; the rest are published on the first cycle."""
    from gateway.outbox import MAX_ROW_ATTEMPTS

    store, outbox = relay_store(tmp_path)
    good, stubborn, huge = batch(2), batch(1), batch(1)
    huge = replace(huge, messages=[replace(huge.messages[0], payload=b"x" * (2 << 20))])
    for b in (good, stubborn, huge):
        store.submit(b)
    bus = RefusingBus(refused={stubborn.sub_jobs[0].id})

    def give_up(r: PendingMessage, why: str) -> None:
        store.give_up_command(r.id, r.batch_id, r.sub_job_id, why)

    relay = OutboxRelay(outbox, bus, give_up=give_up)  # type: ignore[arg-type]

    published, _ = asyncio.run(relay.relay_once())
    assert published == 2 and bus.calls[0] == [s.id for s in good.sub_jobs] + [stubborn.sub_jobs[0].id]
    failed = store.get("t1", huge.id)
    assert failed.batch.status == st.FAILED and "over the bus's limit" in failed.sub_jobs[0].error_message
    for _ in range(MAX_ROW_ATTEMPTS - 2):
        assert store.get("t1", stubborn.id).sub_jobs[0].status == st.INIT
        with pytest.raises(BusUnavailableError, match="refused"):  # alone now: retried after a backoff
            asyncio.run(relay.relay_once())
    assert asyncio.run(relay.relay_once()) == (0, True)  # the 5th refusal: given up
    stuck = store.get("t1", stubborn.id)
    assert stuck.batch.status == st.FAILED and stuck.sub_jobs[0].error_code == "Internal"
    assert "refused by the bus 5 times" in stuck.sub_jobs[0].error_message
    assert outbox.backlog().count == 0
    assert store.get("t1", good.id).batch.status == st.INIT  # published, waiting for a worker


def test_a_bus_that_takes_nothing_fails_no_row(tmp_path: Path) -> None:
    """When nothing of a page goes through, the bus is away: rows wait, however long it takes."""
    store, outbox = relay_store(tmp_path)
    b = batch(2)
    store.submit(b)

    def give_up(r: PendingMessage, why: str) -> None:
        pytest.fail(why)

    relay = OutboxRelay(outbox, RefusingBus(refused=None), give_up=give_up)  # type: ignore[arg-type]
    for _ in range(10):
        with pytest.raises(BusUnavailableError):
            asyncio.run(relay.relay_once())
    assert outbox.backlog().count == 2 and store.get("t1", b.id).batch.status == st.INIT


def test_the_relay_deletes_what_settled_jobs_no_longer_need_while_idle(tmp_path: Path) -> None:
    tx = sqlite_tx(tmp_path)
    store, outbox = Batches(tx), Outbox(tx)
    finished, running = batch(2), batch(1)
    for b in (finished, running):
        store.submit(b)
    bus = RecordingBus()
    bus.expected = 3
    relay = OutboxRelay(outbox, bus, poll_s=0.05, prune_every_s=0.05)  # type: ignore[arg-type]

    def commands() -> list[str]:
        return tx.read(lambda s: list(s.scalars(select(OutboxRow.msg_id).order_by(OutboxRow.id))))

    async def scenario() -> None:
        stop = asyncio.Event()
        relaying = asyncio.create_task(relay.run(stop))
        await asyncio.wait_for(bus.all_published.wait(), 5)
        await asyncio.sleep(0.3)  # the relay has marked them, pruned once (nothing) and waits
        assert len(commands()) == 3  # published, kept while their jobs run
        for s in finished.sub_jobs:
            done = EventUpdate(batch_id=finished.id, sub_job_id=s.id, attempt=1, state=st.SUCCESS,
                               media_url="file:///o.mp4", duration_s=1.0)  # fmt: skip
            await asyncio.to_thread(store.apply_event, done)
        for _ in range(100):  # the relay prunes at its next idle moment
            if await asyncio.to_thread(commands) == [running.sub_jobs[0].id]:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await relaying

    asyncio.run(scenario())
    assert commands() == [running.sub_jobs[0].id]  # the running job's command stays
    tx.engine.dispose()


def test_the_relay_prunes_a_backlog_one_small_chunk_per_idle_moment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five settled rows in chunks of two: three idle moments, without the pause the end of the table
    brings (the relay publishes between chunks instead of waiting behind a long delete)."""
    monkeypatch.setattr(outbox_relay, "PRUNE_CHUNK", 2)
    tx = sqlite_tx(tmp_path)
    store, outbox = Batches(tx), Outbox(tx)
    settled = batch(5)
    store.submit(settled)
    outbox.mark_published([m.id for m in outbox.pending()])
    for s in settled.sub_jobs:
        store.apply_event(EventUpdate(batch_id=settled.id, sub_job_id=s.id, attempt=1, state=st.FAILED,
                                      error_code="InvalidMaterial.Unreadable"))  # fmt: skip
    relay = OutboxRelay(outbox, RecordingBus(), poll_s=0.05, prune_every_s=1000)  # type: ignore[arg-type]

    async def scenario() -> None:
        stop = asyncio.Event()
        relaying = asyncio.create_task(relay.run(stop))
        for _ in range(100):
            if not tx.read(lambda s: s.scalar(select(func.count()).select_from(OutboxRow))):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await relaying

    asyncio.run(scenario())
    assert tx.read(lambda s: s.scalar(select(func.count()).select_from(OutboxRow))) == 0
    tx.engine.dispose()
