"""The outbox: messages committed with the rows they belong to, published by the relay (gateway/outbox.py)
and marked; and how far behind it is (for metrics)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from gateway.status import BATCH_TERMINAL
from gateway.store.schema import BatchRow, OutboxRow
from gateway.store.transactions import Transactions, utcnow

# Declarative types __table__ as FromClause; for a class mapped with __tablename__ it is a Table.
_outbox = cast(Table, OutboxRow.__table__)
# The relay's two statements, built once (it runs them for every few submits under load).
_PENDING = (
    select(
        _outbox.c.id,
        _outbox.c.subject,
        _outbox.c.msg_id,
        _outbox.c.payload,
        _outbox.c.batch_id,
        _outbox.c.attempts,
    )  # fmt: skip
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
_BACKLOG = select(func.count(), func.min(OutboxRow.created_at)).where(OutboxRow.published_at.is_(None))
# A published row is kept while its job runs: the sweeper publishes a lost command again from it. Once
# the job has settled, no one reads it again, and each render command carries the whole job's documents
# (a 20-variant job of 458 KB left 9 MB here), so the outbox would be the largest table by far.
_batches = cast(Table, BatchRow.__table__)
# In id order from where the last chunk ended, so that a chunk never walks over the rows deleted before.
_SETTLED = (
    select(_outbox.c.id)
    .join(_batches, _batches.c.id == _outbox.c.batch_id)
    .where(_outbox.c.id > bindparam("after"), _outbox.c.published_at.is_not(None),
           _batches.c.status.in_(sorted(BATCH_TERMINAL)))
    .order_by(_outbox.c.id)
    .limit(bindparam("limit"))
)  # fmt: skip


# Rows deleted in one prune transaction: small, so that the relay's publishing, which shares the
# database, never waits behind a long delete.
PRUNE_CHUNK = 200


@dataclass(frozen=True)
class PendingMessage:
    id: int
    subject: str
    msg_id: str
    payload: bytes
    batch_id: str = ""
    attempts: int = 0  # publications that failed while others went through

    @property
    def sub_job_id(self) -> str:
        """The sub-job of a render command (its msg_id is the sub-job id, or id:time when republished)."""
        return self.msg_id.split(":", 1)[0]


class Outbox:
    def __init__(self, tx: Transactions) -> None:
        self._tx = tx

    def pending(self, limit: int = 100) -> list[PendingMessage]:
        def read(s: Session) -> list[PendingMessage]:
            rows = s.execute(_PENDING, {"limit": limit})
            return [
                PendingMessage(r.id, r.subject, r.msg_id, r.payload, r.batch_id, r.attempts) for r in rows
            ]

        return self._tx.run(read)

    def mark_published(self, ids: Sequence[int]) -> None:
        if ids:
            self._tx.run(lambda s: s.execute(_MARK_PUBLISHED, {"ids": list(ids), "now": utcnow()}))

    def mark_publish_failed(self, msg_id: int, error: str) -> None:
        self._tx.run(
            lambda s: s.execute(
                update(OutboxRow)
                .where(OutboxRow.id == msg_id)
                .values(attempts=OutboxRow.attempts + 1, last_error=error[:1000])
            )
        )

    def prune(self, limit: int = PRUNE_CHUNK, after: int = 0) -> tuple[int, int]:
        """Deletes up to `limit` published rows of settled jobs, with ids above `after`; returns how many,
        and the last id deleted (`after` when none: the end was reached)."""

        def write(s: Session) -> tuple[int, int]:
            ids: list[int] = list(s.scalars(_SETTLED, {"after": after, "limit": limit}))
            if ids:
                s.execute(delete(_outbox).where(_outbox.c.id.in_(ids)))
            return len(ids), ids[-1] if ids else after

        return self._tx.run(write)

    def backlog(self) -> Backlog:
        """Unpublished messages and the age of the oldest (for metrics)."""
        count, oldest = self._tx.read(lambda s: s.execute(_BACKLOG).one())
        return Backlog(int(count or 0), oldest)


@dataclass(frozen=True)
class Backlog:
    count: int
    oldest_created_at: datetime | None
