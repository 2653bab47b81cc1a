"""The store on SQLite and PostgreSQL: one-transaction submit, idempotency, the event state machine."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, select, update
from sqlalchemy.orm import Session

from gateway import status as st
from gateway.errors import (
    DatabaseUnavailableError,
    IdempotencyMismatchError,
    NotFoundError,
    PageTokenError,
    SignatureError,
)
from gateway.status import EventUpdate
from gateway.store import migrate
from gateway.store.batches import Batches, ListQuery, NewBatch, NewMessage, NewSubJob, SubmitResult
from gateway.store.engine import make_engine
from gateway.store.media import MediaLibrary
from gateway.store.nonces import Nonces
from gateway.store.outbox import Outbox
from gateway.store.paging import decode_token
from gateway.store.schema import BatchRow, NonceRow, OutboxRow
from gateway.store.transactions import Transactions, utcnow


@dataclass(frozen=True)
class Store:
    engine: Engine
    batches: Batches
    outbox: Outbox


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    migrate.downgrade(db_url, "base") if _has_tables(db_url) else None
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    tx = Transactions(engine)
    yield Store(engine, Batches(tx), Outbox(tx))
    engine.dispose()


def _has_tables(url: str) -> bool:
    engine = make_engine(url)
    try:
        return "batches" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def new_batch(count: int = 2, token: str | None = None, request_hash: str = "h1") -> NewBatch:
    batch_id = uuid.uuid4().hex
    subs = [NewSubJob(uuid.uuid4().hex, i) for i in range(count)]
    return NewBatch(
        id=batch_id, tenant="t1", job_type="Script", client_token=token, request_hash=request_hash,
        input_config="{}", editing_config="{}", output_config="{}", user_data="", seed=2**64 - 1,
        sub_jobs=subs, messages=[NewMessage(f"render.cmd.t1.{s.id}", s.id, b"cmd") for s in subs],
    )  # fmt: skip


def event(batch: NewBatch, index: int, state: str, attempt: int = 1, **kw: object) -> EventUpdate:
    return EventUpdate(
        batch_id=batch.id, sub_job_id=batch.sub_jobs[index].id, attempt=attempt, state=state, **kw
    )


def test_submit_writes_batch_sub_jobs_and_outbox_together(store: Store) -> None:
    batch = new_batch(3)
    assert store.batches.submit(batch).created
    found = store.batches.get("t1", batch.id)
    assert found.batch.status == st.INIT and found.batch.seed == str(2**64 - 1)
    assert [s.idx for s in found.sub_jobs] == [0, 1, 2]
    pending = store.outbox.pending()
    assert [m.msg_id for m in pending] == [s.id for s in batch.sub_jobs]
    store.outbox.mark_published([pending[0].id])
    assert store.outbox.backlog().count == 2
    with pytest.raises(NotFoundError):
        store.batches.get("another-tenant", batch.id)


def test_client_token_returns_the_first_job_or_refuses_another_request(store: Store) -> None:
    first = new_batch(token="tok")
    assert store.batches.submit(first).created
    again = store.batches.submit(new_batch(token="tok"))
    assert (again.job_id, again.created) == (first.id, False)
    with pytest.raises(IdempotencyMismatchError):
        store.batches.submit(new_batch(token="tok", request_hash="other"))
    assert len(store.batches.page(ListQuery(tenant="t1"))[0]) == 1


def test_an_expired_client_token_may_be_used_again(store: Store) -> None:
    first = new_batch(token="tok")
    store.batches.submit(first)
    with store.engine.begin() as conn:  # a day and a bit later
        conn.execute(
            update(BatchRow).where(BatchRow.id == first.id).values(created_at=utcnow() - timedelta(hours=25))
        )
    second = new_batch(token="tok", request_hash="other")
    assert store.batches.submit(second) == SubmitResult(second.id, created=True)
    assert store.batches.get("t1", first.id).batch.client_token is None
    assert store.batches.get("t1", second.id).batch.client_token == "tok"
    assert store.batches.submit(new_batch(token="tok", request_hash="other")).job_id == second.id


def test_events_move_forward_only_and_settle_the_batch(store: Store) -> None:
    b = store.batches
    batch = new_batch(2)
    b.submit(batch)
    assert b.apply_event(event(batch, 0, st.PROCESSING, progress=0.5, plan='{"DistinctVariants": 4}'))
    assert b.get("t1", batch.id).batch.status == st.PROCESSING
    assert not b.apply_event(event(batch, 0, st.PROCESSING, progress=0.5))  # duplicate
    assert b.apply_event(event(batch, 0, st.PROCESSING, attempt=2, progress=0.1))  # redelivery
    assert not b.apply_event(event(batch, 0, st.PROCESSING, attempt=1, progress=0.9))  # stale attempt
    assert b.apply_event(event(batch, 0, st.SUCCESS, attempt=2, media_url="file:///o/0.mp4", duration_s=6.0))
    assert not b.apply_event(event(batch, 0, st.SUCCESS, attempt=2))  # duplicate terminal
    assert not b.apply_event(event(batch, 0, st.PROCESSING, attempt=3))  # never backwards
    rev = b.revision("t1", batch.id)
    assert b.apply_event(event(batch, 1, st.FAILED, error_code="InvalidMaterial.Unreadable"))
    found = b.get("t1", batch.id)
    assert b.revision("t1", batch.id) > rev
    assert found.batch.status == st.FINISHED and found.batch.completed_at is not None
    sub0, sub1 = found.sub_jobs
    assert (sub0.status, sub0.attempt, sub0.progress, sub0.plan) == (
        st.SUCCESS,
        2,
        1.0,
        '{"DistinctVariants": 4}',
    )
    assert found.batch.distinct_variants == 4  # shown as Extend.DistinctVariants
    assert (sub1.status, sub1.error_code) == (st.FAILED, "InvalidMaterial.Unreadable")


def test_a_batch_without_any_success_fails(store: Store) -> None:
    batch = new_batch(2)
    store.batches.submit(batch)
    for i in range(2):
        store.batches.apply_event(event(batch, i, st.FAILED, error_code="Internal", error_message="boom"))
    found = store.batches.get("t1", batch.id).batch
    assert found.status == st.FAILED and found.error_code == "AllSubJobsFailed"
    assert "Internal: boom" in found.error_message


def test_cancel_stops_what_has_not_started_and_waits_for_what_runs(store: Store) -> None:
    batch = new_batch(3)
    store.batches.submit(batch)
    store.outbox.mark_published([m.id for m in store.outbox.pending()[:1]])
    store.batches.apply_event(event(batch, 0, st.PROCESSING))
    marker = NewMessage(f"$KV.bucket.{batch.id}", f"cancel:{batch.id}", b"x")
    found = store.batches.cancel("t1", batch.id, marker)
    assert [s.status for s in found.sub_jobs] == [st.PROCESSING, st.CANCELLED, st.CANCELLED]
    assert found.batch.status == st.PROCESSING and found.batch.cancel_requested
    assert [m.msg_id for m in store.outbox.pending()] == [marker.msg_id]  # unsent commands dropped
    store.batches.cancel("t1", batch.id, marker)  # idempotent
    assert len(store.outbox.pending()) == 1
    store.batches.apply_event(event(batch, 0, st.CANCELLED))
    assert store.batches.get("t1", batch.id).batch.status == st.CANCELLED


def test_migrations_go_down_and_up_again(db_url: str, store: Store) -> None:
    migrate.downgrade(db_url, "base")
    assert not _has_tables(db_url)
    migrate.upgrade(db_url)
    assert _has_tables(db_url)


@pytest.mark.postgres
def test_unreachable_database_is_unavailable_and_writes_nothing() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:1/test")
    with pytest.raises(DatabaseUnavailableError):
        Batches(Transactions(engine)).submit(new_batch())
    engine.dispose()


def test_migrations_match_the_tables_the_code_declares(db_url: str, store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from gateway.store.schema import Base

    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_a_nonce_is_taken_once_within_its_window(db_url: str, store: Store) -> None:
    nonces = Nonces(Transactions(store.engine), keep=timedelta(minutes=30))
    now = utcnow()
    nonces.take("AK", "n1", now)
    nonces.take("BK", "n1", now)  # another key may use the same nonce
    with pytest.raises(SignatureError) as e:
        nonces.take("AK", "n1", now + timedelta(minutes=29))
    assert e.value.reason == "SignatureNonceUsed"
    # past the window a replay fails on its date anyway: the nonce is forgotten, the table stays small
    nonces.take("AK", "n2", now + timedelta(minutes=31))
    with store.engine.connect() as conn:
        left = conn.execute(select(NonceRow.access_key_id, NonceRow.nonce).order_by(NonceRow.nonce)).all()
    assert [tuple(r) for r in left] == [("AK", "n2")]


def test_a_finished_variant_enters_the_media_library_under_its_sub_job_id(store: Store) -> None:
    batch = new_batch(1)
    store.batches.submit(batch)
    plan = '{"Output": {"Width": 720, "Height": 1280}}'
    store.batches.apply_event(event(batch, 0, st.PROCESSING, plan=plan))
    store.batches.apply_event(event(batch, 0, st.SUCCESS, media_url="file:///o/0.mp4", duration_s=6.5))
    library = MediaLibrary(Transactions(store.engine))
    media = library.get("t1", batch.sub_jobs[0].id)
    assert (media.input_url, media.media_type, media.duration_s, media.width, media.height) == (
        "file:///o/0.mp4", "video", 6.5, 720, 1280)  # fmt: skip
    with pytest.raises(NotFoundError):
        library.get("another-tenant", batch.sub_jobs[0].id)


@pytest.mark.parametrize("job_id", ["\x00", "a\x00" * 16, "x" * 100_000, "0" * 31])
def test_ids_that_cannot_be_ours_are_not_found_on_any_database(store: Store, job_id: str) -> None:
    """Issue 13: a NUL in an id made PostgreSQL fail (UNAVAILABLE); a megabyte id came back whole."""
    for call in (lambda: store.batches.get("t", job_id), lambda: store.batches.revision("t", job_id)):
        with pytest.raises(NotFoundError) as e:
            call()
        assert len(str(e.value)) < 200


@pytest.mark.parametrize(
    "raw",
    [
        {"t": "0001-01-01T00:00:00+00:00", "i": "0" * 32, "f": "x"},
        {"t": "2026-01-01T00:00:00", "i": "0" * 32, "f": "x"},  # no time zone
        {"t": "2026-01-01T00:00:00+00:00", "i": "\x00", "f": "x"},
        ["not", "an", "object"],
    ],
)
def test_forged_page_tokens_are_invalid_arguments(raw: object) -> None:
    token = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")
    with pytest.raises(PageTokenError):
        decode_token(token, "x")


@pytest.mark.postgres
def test_postgres_connections_give_up_on_a_dead_network(pg_url: str) -> None:
    """Issue 13: pooled connections had no timeout, so a partition (packets dropped, not refused) held
    every call for the kernel's many minutes of retransmissions."""
    from sqlalchemy import text

    from gateway.store.engine import POSTGRES_CONNECT_ARGS

    assert POSTGRES_CONNECT_ARGS["tcp_user_timeout"] <= 15_000 and POSTGRES_CONNECT_ARGS["keepalives"] == 1
    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "30s"
            raw = conn.connection.dbapi_connection
            parameters = raw.info.get_parameters()  # type: ignore[attr-defined]  # a psycopg connection
            assert parameters["keepalives"] == "1" and parameters["tcp_user_timeout"] == "10000"
    finally:
        engine.dispose()


def test_a_list_page_carries_bounded_documents_and_the_rest_follow(store: Store) -> None:
    """Issue 13: one List costs bounded memory however large the jobs; MaxResults is an upper bound."""
    from dataclasses import replace

    big = [replace(new_batch(1), input_config=json.dumps({"x": "a" * 3_000_000})) for _ in range(5)]
    small = [new_batch(1) for _ in range(3)]
    for b in big + small:
        store.batches.submit(b)
    seen: list[str] = []
    pages = []
    token = ""
    while True:
        rows, token = store.batches.page(
            ListQuery(tenant="t1", limit=100, page_token=token), max_bytes=8 << 20
        )
        pages.append(len(rows))
        assert rows, "a page holds at least one job"
        assert sum(len(r.input_config) for r in rows) <= (8 << 20) or len(rows) == 1
        seen += [r.id for r in rows]
        if not token:
            break
    assert sorted(seen) == sorted(b.id for b in big + small) and len(seen) == len(set(seen))
    assert pages == [5, 2, 1]  # the 3 small ones (newest) and 2 large ones fit first, then 2, then 1
    # A single job over the budget still comes, alone.
    rows, token = store.batches.page(ListQuery(tenant="t1", limit=100), max_bytes=10)
    assert len(rows) == 1 and token


def test_a_stalled_sub_job_names_its_commands_subject_with_its_priority(store: Store) -> None:
    """The sweeper looks for a stalled sub-job's command by the subject it was published with: a
    priority-5 job's is render.cmd.t1.p5.<id>, not the default priority's (it would republish it)."""
    from dataclasses import replace

    from reelmill import topology

    batch = new_batch(1)
    sub_id = batch.sub_jobs[0].id
    subject = topology.command_subject("t1", sub_id, priority=5)
    store.batches.submit(replace(batch, messages=[NewMessage(subject, sub_id, b"cmd")]))
    store.outbox.mark_published([m.id for m in store.outbox.pending()])
    stalled = store.batches.stalled_sub_jobs(utcnow() + timedelta(seconds=1))
    assert [(s.id, s.subject) for s in stalled] == [(sub_id, subject)]


def test_published_commands_of_settled_jobs_are_pruned_and_nothing_else(store: Store) -> None:
    done, running, cancelled = new_batch(2), new_batch(2), new_batch(3)
    for batch in (done, running, cancelled):
        store.batches.submit(batch)
    store.outbox.mark_published([m.id for m in store.outbox.pending()])
    for i in range(2):
        store.batches.apply_event(event(done, i, st.SUCCESS, media_url=f"file:///o/{i}.mp4", duration_s=6.0))
    store.batches.apply_event(event(running, 0, st.SUCCESS, media_url="file:///o/r.mp4", duration_s=6.0))
    marker = NewMessage(f"$KV.bucket.{cancelled.id}", f"cancel:{cancelled.id}", b"x")
    store.batches.cancel("t1", cancelled.id, marker)  # settles at once: nothing of it had started
    assert store.batches.get("t1", cancelled.id).batch.status == st.CANCELLED

    def rows() -> dict[str, list[str]]:
        with Session(store.engine) as s:
            found = s.execute(select(OutboxRow.batch_id, OutboxRow.msg_id).order_by(OutboxRow.id)).all()
        by_batch: dict[str, list[str]] = {}
        for batch_id, msg_id in found:
            by_batch.setdefault(batch_id, []).append(msg_id)
        return by_batch

    # A chunk at a time, each starting after the last id the one before deleted.
    deleted, last = store.outbox.prune(limit=2)
    assert deleted == 2
    assert store.outbox.prune(limit=10, after=last)[0] == 3  # the finished job's two, the cancelled's three
    assert store.outbox.prune(limit=10, after=10**9) == (0, 10**9)  # past the end: nothing, and says so
    left = rows()
    # The running job keeps its commands (the sweeper may publish one again); the cancel marker waits
    # for the relay, and goes at the next prune once it is published.
    assert left == {running.id: [s.id for s in running.sub_jobs], cancelled.id: [marker.msg_id]}
    assert store.outbox.prune()[0] == 0
    store.outbox.mark_published([m.id for m in store.outbox.pending()])
    assert store.outbox.prune()[0] == 1
    assert rows() == {running.id: [s.id for s in running.sub_jobs]}
    store.batches.apply_event(event(running, 1, st.FAILED, error_code="InvalidMaterial.Unreadable"))
    assert store.outbox.prune()[0] == 2 and rows() == {}
