"""Reads and writes of batches, sub-jobs and the outbox. Every write is one transaction."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import Engine, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway import status as st
from gateway.errors import (
    DatabaseUnavailableError,
    FailedPreconditionError,
    IdempotencyMismatchError,
    NotFoundError,
    PageTokenError,
)
from gateway.store.engine import READ_ONLY
from gateway.store.schema import BatchRow, OutboxRow, SubJobRow, TemplateRow, WebhookRow

CLIENT_TOKEN_TTL = timedelta(hours=24)

_batches, _sub_jobs, _outbox = BatchRow.__table__, SubJobRow.__table__, OutboxRow.__table__
_TOKEN_LOOKUP = select(_batches.c.id, _batches.c.created_at, _batches.c.request_hash).where(
    _batches.c.tenant == bindparam("tenant"), _batches.c.client_token == bindparam("token")
)
_INSERT_BATCH, _INSERT_SUB_JOB, _INSERT_OUTBOX = insert(_batches), insert(_sub_jobs), insert(_outbox)
# The relay's two statements, built once (it runs them for every few submits under load).
_PENDING = (
    select(_outbox.c.id, _outbox.c.subject, _outbox.c.msg_id, _outbox.c.payload)
    .where(_outbox.c.published_at.is_(None))
    .order_by(_outbox.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_MARK_PUBLISHED = (
    update(_outbox)
    .where(_outbox.c.id.in_(bindparam("ids", expanding=True)))
    .values(published_at=bindparam("now"))
)
T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


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


@dataclass(frozen=True)
class EventUpdate:
    """A render event as the store applies it."""

    batch_id: str
    sub_job_id: str
    attempt: int
    state: str  # one of the sub-job statuses
    progress: float = 0.0
    media_url: str = ""
    duration_s: float = 0.0
    error_code: str = ""
    error_message: str = ""
    plan: str = ""


@dataclass
class BatchWithSubJobs:
    batch: BatchRow
    sub_jobs: list[SubJobRow] = field(default_factory=list)


@dataclass(frozen=True)
class DueWebhook:
    id: int
    webhook_id: str
    batch_id: str
    tenant: str
    url: str
    attempts: int
    created_at: datetime


def distinct_variants(plan_json: str) -> int:
    """How many pairwise distinct variants the pool allowed, as a variant's plan reports it."""
    try:
        value = json.loads(plan_json).get("DistinctVariants", 0)
    except (ValueError, AttributeError):
        return 0
    return value if isinstance(value, int) else 0


def notify_address(user_data: str) -> str:
    """UserData.NotifyAddress, if the batch has one."""
    try:
        doc = json.loads(user_data) if user_data else {}
    except ValueError:
        return ""
    value = doc.get("NotifyAddress") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class StalledSubJob:
    id: str
    batch_id: str
    tenant: str


@dataclass(frozen=True)
class PendingMessage:
    id: int
    subject: str
    msg_id: str
    payload: bytes


class JobStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def _tx(self, read_only: bool = False) -> Iterator[Session]:
        try:
            with self._sessions.begin() as session:
                if read_only:
                    session.connection(execution_options={READ_ONLY: True})
                yield session
        except IntegrityError:
            raise
        except DBAPIError as e:
            # Errors of the database driver enter here and leave as ours: the transaction never
            # committed, so nothing was written.
            raise DatabaseUnavailableError(f"database unavailable: {e.orig or e}") from e

    def _run(self, fn: Callable[[Session], T]) -> T:
        with self._tx() as s:
            return fn(s)

    def _read(self, fn: Callable[[Session], T]) -> T:
        with self._tx(read_only=True) as s:
            return fn(s)

    # -- submit -------------------------------------------------------------------------------

    def submit(self, new: NewBatch) -> SubmitResult:
        try:
            return self._run(lambda s: self._submit(s, new))
        except IntegrityError:
            # A concurrent submit with the same ClientToken won the race: answer with its job.
            if new.client_token is None:
                raise
            return self._run(lambda s: self._submit(s, new))

    def _submit(self, s: Session, new: NewBatch) -> SubmitResult:
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
             "media_url": "", "duration_s": 0.0, "error_code": "", "error_message": "", "plan": "",
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
            batch = s.get(BatchRow, job_id)
            if batch is None or batch.tenant != tenant:
                raise NotFoundError(f"job {job_id} not found")
            subs = s.scalars(select(SubJobRow).where(SubJobRow.batch_id == job_id).order_by(SubJobRow.idx))
            return BatchWithSubJobs(batch, list(subs))

        return self._read(read)

    def revision(self, tenant: str, job_id: str) -> int:
        def read(s: Session) -> int:
            rev = s.scalar(select(BatchRow.revision).where(BatchRow.id == job_id, BatchRow.tenant == tenant))
            if rev is None:
                raise NotFoundError(f"job {job_id} not found")
            return int(rev)

        return self._read(read)

    def list(self, q: ListQuery) -> tuple[list[BatchRow], str]:
        def read(s: Session) -> tuple[list[BatchRow], str]:
            stmt = select(BatchRow).where(BatchRow.tenant == q.tenant)
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
                after_time, after_id = _decode_token(q.page_token, q.fingerprint())
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
            rows = list(s.scalars(stmt.order_by(*order).limit(q.limit + 1)))
            token = ""
            if len(rows) > q.limit:
                rows = rows[: q.limit]
                token = _encode_token(rows[-1].created_at, rows[-1].id, q.fingerprint())
            return rows, token

        return self._read(read)

    # -- cancel -------------------------------------------------------------------------------

    def cancel(self, tenant: str, job_id: str, cancel_message: NewMessage) -> BatchWithSubJobs:
        def write(s: Session) -> None:
            batch = s.get(BatchRow, job_id)
            if batch is None or batch.tenant != tenant:
                raise NotFoundError(f"job {job_id} not found")
            if batch.status == st.CANCELLED or batch.cancel_requested:
                return  # idempotent
            if batch.status in st.BATCH_TERMINAL:
                raise FailedPreconditionError(f"job {job_id} is already {batch.status}")
            now = utcnow()
            batch.cancel_requested = True
            s.execute(
                update(SubJobRow)
                .where(SubJobRow.batch_id == job_id, SubJobRow.status == st.INIT)
                .values(status=st.CANCELLED, modified_at=now)
            )
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

        self._run(write)
        return self.get(tenant, job_id)

    # -- events -------------------------------------------------------------------------------

    def apply_event(self, ev: EventUpdate) -> bool:
        """Applies a render event; False when it changes nothing (duplicate, stale or late)."""
        return self._run(lambda s: self._apply_event(s, ev))

    def _apply_event(self, s: Session, ev: EventUpdate) -> bool:
        sub = s.get(SubJobRow, ev.sub_job_id)
        if sub is None or sub.batch_id != ev.batch_id or sub.status in st.SUB_JOB_TERMINAL:
            return False
        if ev.state == st.PROCESSING:
            if ev.attempt < sub.attempt:
                return False  # a late event of an earlier delivery
            changed = (
                sub.status != st.PROCESSING
                or ev.attempt != sub.attempt
                or ev.progress != sub.progress
                or (ev.plan and ev.plan != sub.plan)
            )
            if not changed:
                return False
            sub.progress = ev.progress if ev.attempt > sub.attempt else max(sub.progress, ev.progress)
            sub.status, sub.attempt = st.PROCESSING, ev.attempt
        elif ev.state == st.SUCCESS:
            sub.status, sub.progress = st.SUCCESS, 1.0
            sub.media_url, sub.duration_s = ev.media_url, ev.duration_s
        elif ev.state in (st.FAILED, st.CANCELLED):
            sub.status = ev.state
            sub.error_code, sub.error_message = ev.error_code, ev.error_message
        else:
            return False
        if ev.plan:
            sub.plan = ev.plan
        sub.attempt = max(sub.attempt, ev.attempt)
        now = utcnow()
        sub.modified_at = now
        batch = s.get(BatchRow, ev.batch_id)
        assert batch is not None
        if ev.plan:
            batch.distinct_variants = max(batch.distinct_variants, distinct_variants(ev.plan))
        if batch.status == st.INIT:
            batch.status = st.PROCESSING
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
        final = st.settled_batch_status((r.status for r in rows), batch.cancel_requested)
        if final is None:
            return
        batch.status, batch.completed_at = final, now
        notify = notify_address(batch.user_data)
        if notify:
            s.add(WebhookRow(webhook_id=f"msg_{batch.id}", batch_id=batch.id, tenant=batch.tenant, url=notify,
                             created_at=now, next_attempt_at=now, attempts=0, last_error=""))  # fmt: skip
        if final == st.FAILED:
            first = next((r for r in rows if r.status == st.FAILED), None)
            batch.error_code = "AllSubJobsFailed"
            batch.error_message = f"all {len(rows)} sub-jobs failed" + (
                f"; first: {first.error_code}: {first.error_message}" if first else ""
            )

    # -- stalls -------------------------------------------------------------------------------

    def stalled_sub_jobs(self, unchanged_since: datetime) -> list[StalledSubJob]:
        """Sub-jobs not finished, unchanged since then, whose command was published."""

        def read(s: Session) -> list[StalledSubJob]:
            published = (
                select(OutboxRow.id)
                .where(OutboxRow.msg_id == SubJobRow.id, OutboxRow.published_at.is_not(None))
                .exists()
            )
            rows = s.execute(
                select(SubJobRow.id, SubJobRow.batch_id, BatchRow.tenant)
                .join(BatchRow, BatchRow.id == SubJobRow.batch_id)
                .where(
                    SubJobRow.status.in_((st.INIT, st.PROCESSING)), SubJobRow.modified_at < unchanged_since
                )
                .where(published)
                .order_by(SubJobRow.modified_at)
                .limit(500)
            ).all()
            return [StalledSubJob(r.id, r.batch_id, r.tenant) for r in rows]

        return self._read(read)

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

        self._run(write)

    # -- templates ----------------------------------------------------------------------------

    def add_template(self, tenant: str, template_id: str, name: str, config: str) -> TemplateRow:
        row = TemplateRow(id=template_id, tenant=tenant, name=name, config=config, created_at=utcnow())
        self._run(lambda s: s.add(row))
        return row

    def template(self, tenant: str, template_id: str) -> TemplateRow:
        def read(s: Session) -> TemplateRow:
            row = s.get(TemplateRow, template_id)
            if row is None or row.tenant != tenant:
                raise NotFoundError(f"template {template_id} not found")
            return row

        return self._read(read)

    def templates(self, tenant: str, ids: Sequence[str]) -> list[TemplateRow]:
        """The named templates of a tenant, in the order asked; NotFoundError names the first missing."""

        def read(s: Session) -> list[TemplateRow]:
            stmt = select(TemplateRow).where(TemplateRow.tenant == tenant, TemplateRow.id.in_(list(ids)))
            rows = {r.id: r for r in s.scalars(stmt)}
            missing = [i for i in ids if i not in rows]
            if missing:
                raise NotFoundError(f"template {missing[0]} not found")
            return [rows[i] for i in ids]

        return self._read(read)

    def list_templates(self, tenant: str, limit: int, page_token: str) -> tuple[list[TemplateRow], str]:
        def read(s: Session) -> tuple[list[TemplateRow], str]:
            stmt = select(TemplateRow).where(TemplateRow.tenant == tenant)
            if page_token:
                after_time, after_id = _decode_token(page_token, "templates")
                same_time = and_(TemplateRow.created_at == after_time, TemplateRow.id < after_id)
                stmt = stmt.where(or_(TemplateRow.created_at < after_time, same_time))
            rows = list(s.scalars(stmt.order_by(TemplateRow.created_at.desc(), TemplateRow.id.desc())
                                  .limit(limit + 1)))  # fmt: skip
            token = ""
            if len(rows) > limit:
                rows = rows[:limit]
                token = _encode_token(rows[-1].created_at, rows[-1].id, "templates")
            return rows, token

        return self._read(read)

    def delete_template(self, tenant: str, template_id: str) -> None:
        def write(s: Session) -> None:
            row = s.get(TemplateRow, template_id)
            if row is None or row.tenant != tenant:
                raise NotFoundError(f"template {template_id} not found")
            s.delete(row)

        self._run(write)

    # -- webhooks -----------------------------------------------------------------------------

    def claim_webhooks(self, lease_s: float, limit: int = 16) -> list[DueWebhook]:
        """Due deliveries, each leased for lease_s so that no other gateway sends it meanwhile."""

        def write(s: Session) -> list[DueWebhook]:
            now = utcnow()
            rows = list(s.scalars(
                select(WebhookRow)
                .where(WebhookRow.delivered_at.is_(None), WebhookRow.gave_up_at.is_(None),
                       WebhookRow.next_attempt_at <= now)
                .order_by(WebhookRow.next_attempt_at).limit(limit).with_for_update(skip_locked=True)
            ))  # fmt: skip
            for row in rows:
                row.next_attempt_at = now + timedelta(seconds=lease_s)
            return [DueWebhook(r.id, r.webhook_id, r.batch_id, r.tenant, r.url, r.attempts, r.created_at)
                    for r in rows]  # fmt: skip

        return self._run(write)

    def webhook_delivered(self, row_id: int) -> None:
        self._run(lambda s: s.execute(update(WebhookRow).where(WebhookRow.id == row_id).values(
            delivered_at=utcnow(), attempts=WebhookRow.attempts + 1, last_error="")))  # fmt: skip

    def webhook_failed(self, row_id: int, error: str, retry_at: datetime | None) -> None:
        """A failed attempt: try again at retry_at, or give up when it is None."""
        values: dict[str, object] = {"attempts": WebhookRow.attempts + 1, "last_error": error[:1000]}
        if retry_at is None:
            values["gave_up_at"] = utcnow()
        else:
            values["next_attempt_at"] = retry_at
        self._run(lambda s: s.execute(update(WebhookRow).where(WebhookRow.id == row_id).values(**values)))

    def webhooks_of(self, batch_id: str) -> list[WebhookRow]:
        return self._read(
            lambda s: list(s.scalars(select(WebhookRow).where(WebhookRow.batch_id == batch_id)))
        )

    # -- outbox -------------------------------------------------------------------------------

    def pending_messages(self, limit: int = 100) -> list[PendingMessage]:
        def read(s: Session) -> list[PendingMessage]:
            rows = s.execute(_PENDING, {"limit": limit})
            return [PendingMessage(r.id, r.subject, r.msg_id, r.payload) for r in rows]

        return self._run(read)

    def mark_published(self, ids: Sequence[int]) -> None:
        if ids:
            self._run(lambda s: s.execute(_MARK_PUBLISHED, {"ids": list(ids), "now": utcnow()}))

    def mark_publish_failed(self, msg_id: int, error: str) -> None:
        self._run(
            lambda s: s.execute(
                update(OutboxRow)
                .where(OutboxRow.id == msg_id)
                .values(attempts=OutboxRow.attempts + 1, last_error=error[:1000])
            )
        )

    def outbox_backlog(self) -> int:
        return int(
            self._run(
                lambda s: s.scalar(
                    select(func.count()).select_from(OutboxRow).where(OutboxRow.published_at.is_(None))
                )
            )
            or 0
        )


def _encode_token(created_at: datetime, job_id: str, fingerprint: str) -> str:
    raw = json.dumps({"t": created_at.isoformat(), "i": job_id, "f": fingerprint}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, fingerprint: str) -> tuple[datetime, str]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        created_at, job_id = datetime.fromisoformat(raw["t"]), str(raw["i"])
    except (ValueError, KeyError, TypeError) as e:
        raise PageTokenError("NextToken is not a token this service issued") from e
    if raw.get("f") != fingerprint:
        raise PageTokenError("NextToken belongs to a query with other filters or sort order")
    return created_at, job_id
