"""Batches and their sub-jobs: submit (with its outbox rows), read, page, cancel, apply render events,
find stalled sub-jobs. Every write is one transaction; the status rules are gateway/status.py's."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, and_, bindparam, delete, func, insert, literal, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway import status as st
from gateway.errors import (
    FailedPreconditionError,
    IdempotencyMismatchError,
    NotFoundError,
    QuotaExceededError,
)
from gateway.quotas import Limits
from gateway.status import EventUpdate
from gateway.store.paging import decode_token, encode_token
from gateway.store.schema import BatchRow, MediaRow, OutboxRow, SubJobRow, WebhookRow
from gateway.store.transactions import Transactions, is_id, shown, utcnow
from gateway.userdata import notify_address

CLIENT_TOKEN_TTL = timedelta(hours=24)

# Declarative types __table__ as FromClause; for a class mapped with __tablename__ it is a Table.
_batches = cast(Table, BatchRow.__table__)
_sub_jobs = cast(Table, SubJobRow.__table__)
_outbox = cast(Table, OutboxRow.__table__)
_TOKEN_LOOKUP = select(_batches.c.id, _batches.c.created_at, _batches.c.request_hash).where(
    _batches.c.tenant == bindparam("tenant"), _batches.c.client_token == bindparam("token")
)
_INSERT_BATCH, _INSERT_SUB_JOB, _INSERT_OUTBOX = insert(_batches), insert(_sub_jobs), insert(_outbox)
_UNFINISHED = (st.INIT, st.PROCESSING)
# A tenant's variants queued or rendering: the unfinished sub-jobs of its unfinished jobs (the index
# ix_batches_tenant_status_created finds those jobs, uq_sub_jobs_batch_idx their sub-jobs).
# Both counts stop at "cap" (the limit and one more is all a check needs to know), so that a check
# costs at most the limit's rows however far past it a tenant's history goes.
_QUEUED_VARIANTS = select(func.count()).select_from(
    select(literal(1))
    .select_from(_sub_jobs.join(_batches, _batches.c.id == _sub_jobs.c.batch_id))
    .where(_batches.c.tenant == bindparam("tenant"), _batches.c.status.in_(_UNFINISHED),
           _sub_jobs.c.status.in_(_UNFINISHED))
    .limit(bindparam("cap"))
    .subquery()
)  # fmt: skip
# The tenant's submits since a moment (ix_batches_tenant_created), and the time of the n-th of them.
_SUBMITS_SINCE = select(func.count()).select_from(
    select(literal(1))
    .where(_batches.c.tenant == bindparam("tenant"), _batches.c.created_at > bindparam("since"))
    .limit(bindparam("cap"))
    .subquery()
)
_NTH_SUBMIT_SINCE = (
    select(_batches.c.created_at)
    .where(_batches.c.tenant == bindparam("tenant"), _batches.c.created_at > bindparam("since"))
    .order_by(_batches.c.created_at)
    .offset(bindparam("nth"))
    .limit(1)
)
RATE_WINDOW = timedelta(minutes=1)
# The stored documents one List page carries at most (its MaxResults is an upper bound). An answer
# holds each document twice (ICE's JSON string and the typed object), so 1 MiB of them keeps it well
# inside the 4 MiB a gRPC client takes by default (a page of 100 large jobs was 16 MB and reached no
# client), and bounds a List's memory (issue 13: four List(100) of 458 KB jobs took 727 MiB). A page
# always holds at least one job.
PAGE_DOCUMENT_BYTES = 1 << 20
QUEUE_RETRY_S = 30.0  # a full queue empties as renders finish: a guess, said as RetryInfo


@dataclass(frozen=True)
class NewSubJob:
    id: str
    index: int


@dataclass(frozen=True)
class NewMessage:
    subject: str
    msg_id: str
    payload: bytes


@dataclass
class NewBatch:
    id: str
    tenant: str
    job_type: str
    client_token: str | None
    request_hash: str
    input_config: str
    editing_config: str
    output_config: str
    user_data: str
    seed: int | None
    sub_jobs: list[NewSubJob]
    messages: list[NewMessage]


@dataclass(frozen=True)
class SubmitResult:
    job_id: str
    created: bool


@dataclass(frozen=True)
class ListQuery:
    tenant: str
    job_id: str = ""
    job_type: str = ""
    status: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None
    ascending: bool = False
    limit: int = 10
    page_token: str = ""

    def fingerprint(self) -> str:
        return json.dumps(
            [
                self.job_id,
                self.job_type,
                self.status,
                str(self.start_time),
                str(self.end_time),
                self.ascending,
            ]
        )


@dataclass
class BatchWithSubJobs:
    batch: BatchRow
    sub_jobs: list[SubJobRow] = field(default_factory=list)
    cancelled_now: int = 0  # Cancel: sub-jobs it cancelled before any worker took them


def distinct_variants(plan_json: str) -> int:
    """How many pairwise distinct variants the pool allowed, as a variant's plan reports it."""
    try:
        value = json.loads(plan_json).get("DistinctVariants", 0)
    except (ValueError, AttributeError):
        return 0
    return value if isinstance(value, int) else 0


@dataclass(frozen=True)
class StalledSubJob:
    id: str
    batch_id: str
    tenant: str
    subject: str  # its render command's subject (tenant and priority: the queue it waits in)


def output_media(batch: BatchRow, sub: SubJobRow, now: datetime) -> MediaRow:
    """A finished variant in its tenant's media library, as ICE registers its outputs: its MediaId is
    the sub-job's id, its size the plan's."""
    try:
        output = json.loads(sub.plan).get("Output", {}) if sub.plan else {}
    except (ValueError, AttributeError):
        output = {}
    width, height = (v if isinstance(v := output.get(k), int) else 0 for k in ("Width", "Height"))
    return MediaRow(id=sub.id, tenant=batch.tenant, input_url=sub.media_url, media_type="video",
                    title=f"{batch.id} variant {sub.idx}", status="Normal", duration_s=sub.duration_s,
                    width=width, height=height, has_audio=True, created_at=now)  # fmt: skip


def _state_of(sub: SubJobRow) -> st.SubJobState:
    return st.SubJobState(
        status=sub.status, attempt=sub.attempt, progress=sub.progress, media_url=sub.media_url,
        duration_s=sub.duration_s, error_code=sub.error_code, error_message=sub.error_message, plan=sub.plan,
        qc=sub.qc,
    )  # fmt: skip


class Batches:
    def __init__(self, tx: Transactions) -> None:
        self._tx = tx

    # -- submit -------------------------------------------------------------------------------

    def submit(self, new: NewBatch, limits: Limits | None = None) -> SubmitResult:
        """Stores a new batch with its commands, or answers the one its ClientToken made. QuotaExceeded
        when the tenant's limits (checked in the same transaction) would be passed."""
        try:
            return self._tx.run(lambda s: self._submit(s, new, limits))
        except IntegrityError:
            # A concurrent submit with the same ClientToken won the race: answer with its job.
            if new.client_token is None:
                raise
            return self._tx.run(lambda s: self._submit(s, new, limits))

    def _check_limits(self, s: Session, new: NewBatch, limits: Limits, now: datetime) -> None:
        """The tenant's queued variants and submits per minute, counted in the submit's transaction.
        On PostgreSQL a lock per tenant (for this transaction) serialises the tenant's submits, so
        that two at once cannot both pass the last free place; SQLite's writes are serial anyway."""
        if not (limits.queued_variants or limits.submits_per_minute):
            return
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                      {"key": f"reelmill.quota.{new.tenant}"})  # fmt: skip
        tenant = new.tenant
        if limits.submits_per_minute:
            since = now - RATE_WINDOW
            cap = limits.submits_per_minute + 1
            recent = s.execute(_SUBMITS_SINCE, {"tenant": tenant, "since": since, "cap": cap}).scalar_one()
            if recent >= limits.submits_per_minute:
                # When the window will have room: once the (recent - limit + 1)-th oldest left it.
                nth = recent - limits.submits_per_minute
                oldest = s.execute(_NTH_SUBMIT_SINCE, {"tenant": tenant, "since": since, "nth": nth}).scalar()
                wait = ((oldest or now) + RATE_WINDOW - now).total_seconds()
                raise QuotaExceededError(
                    tenant, "submits_per_minute",
                    f"tenant {tenant} submitted {recent} jobs in the last minute; its limit is "
                    f"{limits.submits_per_minute} per minute (retry in {max(wait, 0.001):.1f} s)",
                    max(wait, 0.001),
                )  # fmt: skip
        if limits.queued_variants:
            cap = limits.queued_variants + 1
            queued = s.execute(_QUEUED_VARIANTS, {"tenant": tenant, "cap": cap}).scalar_one()
            if queued + len(new.sub_jobs) > limits.queued_variants:
                raise QuotaExceededError(
                    tenant, "queued_variants",
                    f"tenant {tenant} has {queued} variants queued or rendering and asks for "
                    f"{len(new.sub_jobs)} more; its limit is {limits.queued_variants} "
                    f"(retry once some have finished)",
                    QUEUE_RETRY_S,
                )  # fmt: skip

    def _submit(self, s: Session, new: NewBatch, limits: Limits | None = None) -> SubmitResult:
        now = utcnow()
        if new.client_token is not None:
            existing = s.execute(_TOKEN_LOOKUP, {"tenant": new.tenant, "token": new.client_token}).first()
            if existing is not None:
                if existing.created_at > now - CLIENT_TOKEN_TTL:
                    if existing.request_hash != new.request_hash:
                        raise IdempotencyMismatchError(
                            f"ClientToken {new.client_token!r} was used for a different request"
                        )
                    return SubmitResult(existing.id, created=False)
                # expired: the token may be used again
                s.execute(update(BatchRow).where(BatchRow.id == existing.id).values(client_token=None))
        if limits is not None:  # after the token: a retried submit is answered, never refused
            self._check_limits(s, new, limits, now)
        # Core statements compiled once, with plain parameters: a submit is the gateway's hottest write,
        # and building ORM or per-call statements cost more CPU than the database round trips.
        s.execute(_INSERT_BATCH, {
            "id": new.id, "tenant": new.tenant, "job_type": new.job_type, "status": st.INIT,
            "client_token": new.client_token, "request_hash": new.request_hash,
            "input_config": new.input_config, "editing_config": new.editing_config,
            "output_config": new.output_config, "user_data": new.user_data,
            "seed": None if new.seed is None else str(new.seed), "sub_job_count": len(new.sub_jobs),
            "cancel_requested": False, "error_code": "", "error_message": "", "distinct_variants": 0,
            "revision": 1, "created_at": now, "modified_at": now,
        })  # fmt: skip
        s.execute(_INSERT_SUB_JOB, [
            {"id": j.id, "batch_id": new.id, "idx": j.index, "status": st.INIT, "attempt": 0, "progress": 0.0,
             "media_url": "", "duration_s": 0.0, "error_code": "", "error_message": "", "plan": "", "qc": "",
             "modified_at": now}
            for j in new.sub_jobs
        ])  # fmt: skip
        s.execute(_INSERT_OUTBOX, [
            {"batch_id": new.id, "subject": m.subject, "msg_id": m.msg_id, "payload": m.payload,
             "created_at": now, "attempts": 0, "last_error": ""}
            for m in new.messages
        ])  # fmt: skip
        return SubmitResult(new.id, created=True)

    # -- reads --------------------------------------------------------------------------------

    def get(self, tenant: str, job_id: str) -> BatchWithSubJobs:
        def read(s: Session) -> BatchWithSubJobs:
            batch = s.get(BatchRow, job_id) if is_id(job_id) else None
            if batch is None or batch.tenant != tenant:
                raise NotFoundError(f"job {shown(job_id)} not found")
            subs = s.scalars(select(SubJobRow).where(SubJobRow.batch_id == job_id).order_by(SubJobRow.idx))
            return BatchWithSubJobs(batch, list(subs))

        return self._tx.read(read)

    def revision(self, tenant: str, job_id: str) -> int:
        def read(s: Session) -> int:
            if not is_id(job_id):
                raise NotFoundError(f"job {shown(job_id)} not found")
            rev = s.scalar(select(BatchRow.revision).where(BatchRow.id == job_id, BatchRow.tenant == tenant))
            if rev is None:
                raise NotFoundError(f"job {job_id} not found")
            return int(rev)

        return self._tx.read(read)

    def page(self, q: ListQuery, max_bytes: int = PAGE_DOCUMENT_BYTES) -> tuple[list[BatchRow], str]:
        """A page of the tenant's jobs, newest (or oldest) first: at most q.limit of them, and fewer where
        their stored documents would pass `max_bytes` together (at least one job), so that one List
        costs bounded memory however large the jobs: the rest follow with the page token. The ids and
        sizes are read first; only the page's rows are loaded whole."""

        def read(s: Session) -> tuple[list[BatchRow], str]:
            size = (
                func.length(BatchRow.input_config) + func.length(BatchRow.editing_config)
                + func.length(BatchRow.output_config) + func.length(BatchRow.user_data)
            )  # fmt: skip
            stmt = select(BatchRow.id, BatchRow.created_at, size).where(BatchRow.tenant == q.tenant)
            if q.job_id:
                stmt = stmt.where(BatchRow.id == q.job_id)
            if q.job_type:
                stmt = stmt.where(BatchRow.job_type == q.job_type)
            if q.status:
                stmt = stmt.where(BatchRow.status == q.status)
            if q.start_time is not None:
                stmt = stmt.where(BatchRow.created_at >= q.start_time)
            if q.end_time is not None:
                stmt = stmt.where(BatchRow.created_at < q.end_time)
            if q.page_token:
                after_time, after_id = decode_token(q.page_token, q.fingerprint())
                if q.ascending:
                    stmt = stmt.where(
                        or_(
                            BatchRow.created_at > after_time,
                            and_(BatchRow.created_at == after_time, BatchRow.id > after_id),
                        )
                    )
                else:
                    stmt = stmt.where(
                        or_(
                            BatchRow.created_at < after_time,
                            and_(BatchRow.created_at == after_time, BatchRow.id < after_id),
                        )
                    )
            order = (
                (BatchRow.created_at.asc(), BatchRow.id.asc())
                if q.ascending
                else (BatchRow.created_at.desc(), BatchRow.id.desc())
            )
            found = s.execute(stmt.order_by(*order).limit(q.limit + 1)).all()
            kept: list[tuple[str, datetime]] = []
            total = 0
            for row in found[: q.limit]:
                total += int(row[2] or 0)
                if kept and total > max_bytes:
                    break
                kept.append((str(row[0]), cast(datetime, row[1])))
            token = ""
            if len(kept) < len(found):
                token = encode_token(kept[-1][1], kept[-1][0], q.fingerprint())
            by_id = {
                r.id: r for r in s.scalars(select(BatchRow).where(BatchRow.id.in_([k[0] for k in kept])))
            }
            return [by_id[job_id] for job_id, _ in kept], token

        return self._tx.read(read)

    # -- cancel -------------------------------------------------------------------------------

    def cancel(self, tenant: str, job_id: str, cancel_message: NewMessage) -> BatchWithSubJobs:
        cancelled = 0

        def write(s: Session) -> None:
            nonlocal cancelled
            batch = s.get(BatchRow, job_id) if is_id(job_id) else None
            if batch is None or batch.tenant != tenant:
                raise NotFoundError(f"job {shown(job_id)} not found")
            if batch.status == st.CANCELLED or batch.cancel_requested:
                return  # idempotent
            if batch.status in st.BATCH_TERMINAL:
                raise FailedPreconditionError(f"job {job_id} is already {batch.status}")
            now = utcnow()
            batch.cancel_requested = True
            result = s.execute(
                update(SubJobRow)
                .where(SubJobRow.batch_id == job_id, SubJobRow.status == st.INIT)
                .values(status=st.CANCELLED, modified_at=now)
            )
            cancelled = result.rowcount  # type: ignore[attr-defined]  # an UPDATE's CursorResult has it
            # Commands of sub-jobs that never left the outbox need not be published at all.
            s.execute(delete(OutboxRow).where(OutboxRow.batch_id == job_id, OutboxRow.published_at.is_(None)))
            s.add(
                OutboxRow(
                    batch_id=job_id,
                    subject=cancel_message.subject,
                    msg_id=cancel_message.msg_id,
                    payload=cancel_message.payload,
                    created_at=now,
                    attempts=0,
                    last_error="",
                )
            )
            self._settle(s, batch, now)

        self._tx.run(write)
        found = self.get(tenant, job_id)
        found.cancelled_now = cancelled
        return found

    # -- events -------------------------------------------------------------------------------

    def apply_event(self, ev: EventUpdate) -> bool:
        """Applies a render event; False when it changes nothing (duplicate, stale or late)."""
        return self._tx.run(lambda s: self._apply_event(s, ev))

    def _apply_event(self, s: Session, ev: EventUpdate) -> bool:
        sub = s.get(SubJobRow, ev.sub_job_id)
        if sub is None or sub.batch_id != ev.batch_id:
            return False
        after = st.next_sub_job(_state_of(sub), ev)
        if after is None:
            return False
        for name, value in asdict(after).items():
            setattr(sub, name, value)
        now = utcnow()
        sub.modified_at = now
        batch = s.get(BatchRow, ev.batch_id)
        assert batch is not None
        if ev.plan:
            batch.distinct_variants = max(batch.distinct_variants, distinct_variants(ev.plan))
        if batch.status == st.INIT:
            batch.status = st.PROCESSING
        if after.status == st.SUCCESS and s.get(MediaRow, sub.id) is None:
            s.add(output_media(batch, sub, now))
        self._settle(s, batch, now)
        return True

    def _settle(self, s: Session, batch: BatchRow, now: datetime) -> None:
        """Bumps the batch's revision and makes it terminal when no sub-job can change any more."""
        s.flush()
        batch.revision += 1
        batch.modified_at = now
        if batch.status in st.BATCH_TERMINAL:
            return
        rows = s.execute(
            select(SubJobRow.status, SubJobRow.error_code, SubJobRow.error_message)
            .where(SubJobRow.batch_id == batch.id)
            .order_by(SubJobRow.idx)
        ).all()
        settled = st.settle([st.SubJobOutcome(r.status, r.error_code, r.error_message) for r in rows],
                            batch.cancel_requested)  # fmt: skip
        if settled is None:
            return
        batch.status, batch.completed_at = settled.status, now
        batch.error_code, batch.error_message = settled.error_code, settled.error_message
        notify = notify_address(batch.user_data)
        if notify:
            s.add(WebhookRow(webhook_id=f"msg_{batch.id}", batch_id=batch.id, tenant=batch.tenant, url=notify,
                             created_at=now, next_attempt_at=now, attempts=0, last_error=""))  # fmt: skip

    # -- stalls -------------------------------------------------------------------------------

    def stalled_sub_jobs(self, unchanged_since: datetime) -> list[StalledSubJob]:
        """Sub-jobs not finished, unchanged since then, whose command was published."""

        def read(s: Session) -> list[StalledSubJob]:
            published = (
                select(OutboxRow.id)
                .where(OutboxRow.msg_id == SubJobRow.id, OutboxRow.published_at.is_not(None))
                .exists()
            )
            subject = (
                select(OutboxRow.subject).where(OutboxRow.msg_id == SubJobRow.id).limit(1).scalar_subquery()
            )
            rows = s.execute(
                select(SubJobRow.id, SubJobRow.batch_id, BatchRow.tenant, subject.label("subject"))
                .join(BatchRow, BatchRow.id == SubJobRow.batch_id)
                .where(
                    SubJobRow.status.in_((st.INIT, st.PROCESSING)), SubJobRow.modified_at < unchanged_since
                )
                .where(published)
                .order_by(SubJobRow.modified_at)
                .limit(500)
            ).all()
            return [StalledSubJob(r.id, r.batch_id, r.tenant, r.subject) for r in rows]

        return self._tx.read(read)

    def give_up_command(self, outbox_id: int, batch_id: str, sub_job_id: str, error: str) -> None:
        """A render command the bus will not take: its outbox row leaves the queue of the relay and its
        sub-job fails with `error`, in one transaction (so it is neither retried for ever nor, once
        given up, swept and published again)."""

        def write(s: Session) -> None:
            row = update(OutboxRow).where(OutboxRow.id == outbox_id)
            s.execute(row.values(published_at=utcnow(), last_error=error[:1000]))
            failed = EventUpdate(batch_id=batch_id, sub_job_id=sub_job_id, attempt=0, state=st.FAILED,
                                 error_code="Internal", error_message=error)  # fmt: skip
            self._apply_event(s, failed)

        self._tx.run(write)

    def republish(self, sub_job_id: str) -> None:
        """Queues a sub-job's command again under a fresh message id (the old one may be remembered by
        the stream's duplicate window), and marks the sub-job as seen so it is not swept again at once."""

        def write(s: Session) -> None:
            row = s.scalars(select(OutboxRow).where(OutboxRow.msg_id.like(f"{sub_job_id}%"))
                            .order_by(OutboxRow.id.desc())).first()  # fmt: skip
            if row is None:
                return
            now = utcnow()
            msg_id = f"{sub_job_id}:{now.timestamp():.0f}"
            s.add(OutboxRow(batch_id=row.batch_id, subject=row.subject, msg_id=msg_id, payload=row.payload,
                            created_at=now, attempts=0, last_error=""))  # fmt: skip
            s.execute(update(SubJobRow).where(SubJobRow.id == sub_job_id).values(modified_at=now))

        self._tx.run(write)
