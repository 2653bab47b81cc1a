"""Signed-in browsers: a random session id in an HTTP-only cookie, the API key kept here (never sent to
the browser), and a CSRF token per session that every change must carry. In memory: a console replica
keeps its own sessions (run one, or route a browser to the same replica)."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

COOKIE = "reelmill_console"


@dataclass
class Session:
    key: str  # the API key the console calls the gateway with ("" for an open gateway)
    expires: float
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def csrf_ok(self, token: str) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf, token)


class Sessions:
    def __init__(self, lifetime_s: float) -> None:
        self.lifetime_s = lifetime_s
        self._by_id: dict[str, Session] = {}

    def start(self, key: str) -> tuple[str, Session]:
        self._forget_expired()
        sid = secrets.token_urlsafe(32)
        session = Session(key, time.time() + self.lifetime_s)
        self._by_id[sid] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        session = self._by_id.get(sid or "")
        if session is None or session.expires < time.time():
            return None
        return session

    def end(self, sid: str | None) -> None:
        self._by_id.pop(sid or "", None)

    def _forget_expired(self) -> None:
        now = time.time()
        for sid in [s for s, v in self._by_id.items() if v.expires < now]:
            del self._by_id[sid]
