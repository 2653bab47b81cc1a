"""Transactions on the gateway's database: every store runs its reads and writes through one of these.

A driver error enters here and leaves as DatabaseUnavailableError: the transaction never committed,
so nothing was written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.errors import DatabaseUnavailableError, GatewayError
from gateway.store.engine import READ_ONLY

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Transactions:
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
            raise DatabaseUnavailableError(f"database unavailable: {e.orig or e}") from e

    def run(self, fn: Callable[[Session], T]) -> T:
        """`fn` in one read-write transaction, committed when it returns."""
        with self._tx() as s:
            return fn(s)

    def read(self, fn: Callable[[Session], T]) -> T:
        """`fn` in one read-only transaction."""
        with self._tx(read_only=True) as s:
            return fn(s)


class Owned(Protocol):
    tenant: str


Row = TypeVar("Row", bound=Owned)


# Every id reelmill hands out (jobs, sub-jobs, templates, media) is 32 lowercase hex digits (uuid4().hex).
_ID = re.compile(r"[0-9a-f]{32}")


def is_id(key: str) -> bool:
    """Whether `key` can be an id of ours; anything else (a NUL, a megabyte) never reaches the database,
    where PostgreSQL would refuse it with an error that reads as an outage."""
    return _ID.fullmatch(key) is not None


def shown(key: str) -> str:
    """An id as error messages quote it: clipped, so a huge one does not come back whole."""
    return key if len(key) <= 64 else key[:64] + "…"


def owned(s: Session, model: type[Row], key: str, tenant: str, missing: GatewayError) -> Row:
    """The row `key` of `model` if it is `tenant`'s; else `missing` (another tenant's rows do not
    exist for it)."""
    if not is_id(key):
        raise missing
    row = s.get(model, key)
    if row is None or row.tenant != tenant:
        raise missing
    return row
