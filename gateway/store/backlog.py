"""How far the outbox relay is behind: unpublished messages and the age of the oldest (for metrics)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError

from gateway.errors import DatabaseUnavailableError
from gateway.store.engine import READ_ONLY
from gateway.store.schema import OutboxRow


@dataclass(frozen=True)
class Backlog:
    count: int
    oldest_created_at: datetime | None


def outbox_backlog(engine: Engine) -> Backlog:
    stmt = select(func.count(), func.min(OutboxRow.created_at)).where(OutboxRow.published_at.is_(None))
    try:
        with engine.connect().execution_options(**{READ_ONLY: True}) as conn, conn.begin():
            count, oldest = conn.execute(stmt).one()
    except DBAPIError as e:
        raise DatabaseUnavailableError(f"database unavailable: {e.orig or e}") from e
    return Backlog(int(count or 0), oldest)
