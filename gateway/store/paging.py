"""Page tokens: where the last page ended (created_at, id) and for which query, opaque to clients."""

from __future__ import annotations

import base64
import json
from datetime import datetime

from gateway.errors import PageTokenError


def encode_token(created_at: datetime, job_id: str, fingerprint: str) -> str:
    raw = json.dumps({"t": created_at.isoformat(), "i": job_id, "f": fingerprint}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, fingerprint: str) -> tuple[datetime, str]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        created_at, job_id = datetime.fromisoformat(raw["t"]), str(raw["i"])
    except (ValueError, KeyError, TypeError) as e:
        raise PageTokenError("NextToken is not a token this service issued") from e
    if raw.get("f") != fingerprint:
        raise PageTokenError("NextToken belongs to a query with other filters or sort order")
    return created_at, job_id
