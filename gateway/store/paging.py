"""Page tokens: where the last page ended (created_at, id) and for which query, opaque to clients."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from gateway.errors import PageTokenError
from gateway.store.transactions import is_id

R = TypeVar("R")


def encode_token(created_at: datetime, job_id: str, fingerprint: str) -> str:
    raw = json.dumps({"t": created_at.isoformat(), "i": job_id, "f": fingerprint}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, fingerprint: str) -> tuple[datetime, str]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        created_at, job_id = datetime.fromisoformat(raw["t"]), str(raw["i"])
        # What this service writes: a UTC time in a sane range and an id. A forged year 1 or 9999, a
        # naive time or a NUL would otherwise reach the database and fail there as INTERNAL.
        utc = created_at.utcoffset() == timedelta(0)
        if not utc or not 2000 <= created_at.year <= 9000 or not is_id(job_id):
            raise ValueError("not a token of ours")
    except (ValueError, KeyError, TypeError, RecursionError) as e:
        raise PageTokenError("NextToken is not a token this service issued") from e
    if raw.get("f") != fingerprint:
        raise PageTokenError("NextToken belongs to a query with other filters or sort order")
    return created_at, job_id


def newest_first(
    s: Session, stmt: Select[R], created: InstrumentedAttribute[Any], ident: InstrumentedAttribute[Any],
    limit: int, token: str, kind: str,
) -> tuple[list[R], str]:  # fmt: skip
    """A page of `stmt`'s rows, newest first (ties by id), after `token`, and the token of the next."""
    if token:
        after_time, after_id = decode_token(token, kind)
        stmt = stmt.where(or_(created < after_time, and_(created == after_time, ident < after_id)))
    rows = list(s.scalars(stmt.order_by(created.desc(), ident.desc()).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, ""
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_token(getattr(last, created.key), getattr(last, ident.key), kind)
